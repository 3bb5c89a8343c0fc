package network_test

import (
	"bytes"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops/network"
)

// FuzzDropKeys: no KEY= line survives, every other line stays in order
// byte for byte, and a second pass changes nothing.
func FuzzDropKeys(f *testing.F) {
	f.Add([]byte("DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nONBOOT=yes\n"))
	f.Add([]byte("HOSTNAME=a\nDHCP_HOSTNAME=b"))
	f.Add([]byte("no newline HWADDR=x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _ := network.DropKeys(data, "HWADDR", "HOSTNAME", "DHCP_HOSTNAME")
		again, detail := network.DropKeys(out, "HWADDR", "HOSTNAME", "DHCP_HOSTNAME")
		if !bytes.Equal(again, out) || detail != "" {
			t.Fatalf("second pass changed %q to %q (%s)", out, again, detail)
		}
		var kept [][]byte
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			if !bytes.HasPrefix(l, []byte("HWADDR=")) && !bytes.HasPrefix(l, []byte("HOSTNAME=")) && !bytes.HasPrefix(l, []byte("DHCP_HOSTNAME=")) {
				kept = append(kept, l)
			}
		}
		if want := bytes.Join(kept, nil); !bytes.Equal(out, want) {
			t.Fatalf("DropKeys(%q) = %q, want %q", data, out, want)
		}
	})
}
