package lvm

import (
	"encoding/binary"
	"testing"
)

// TestStructSizes pins the on-disk structs to lvm2's sizes.
func TestStructSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		want int
	}{
		{"label_header", LabelHeader{}, 32},
		{"pv_header (fixed part)", PVHeader{}, 40},
		{"disk_locn", DiskLocn{}, 16},
		{"mda_header (fixed part)", MDAHeader{}, 40},
		{"raw_locn", RawLocn{}, 24},
	} {
		if got := binary.Size(c.v); got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, got, c.want)
		}
	}
}
