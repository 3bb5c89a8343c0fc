//go:build fuzzseeds

package lvm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestGenerateFuzzSeeds rewrites the committed seed corpora from the
// fixtures lvm2 made (testdata/images/gen.d/lvm.sh):
//
//	go test -tags fuzzseeds -run TestGenerateFuzzSeeds ./pkg/lvm
func TestGenerateFuzzSeeds(t *testing.T) {
	sets := map[string][]string{"ubuntu": {"lvm-ubuntu.raw"}, "multi": {"lvm-multi.raw"}, "twodisks": {"lvm-disk-a.raw", "lvm-disk-b.raw"}}
	for name, set := range sets {
		for i, fp := range openPVs(t, set...) {
			pv := fp.pv
			head := make([]byte, 4*SectorSize)
			pv.Dev.ReadAt(head, 0)
			write(t, "FuzzLabel", fmt.Sprintf("%s-%d", name, i), head)
			m := pv.MDAs[0]
			write(t, "FuzzMetadata", fmt.Sprintf("%s-%d", name, i), m.Text)
			// The area moved to byte 0 of a fuzzArea-byte device, the text
			// right after the header, and once wrapping round its end.
			offs := []uint64{MDAHeaderSize}
			if len(m.Text) < fuzzArea/2 {
				offs = append(offs, fuzzArea-700)
			}
			for j, off := range offs {
				dev := make([]byte, fuzzArea)
				hdr := m.raw
				binary.LittleEndian.PutUint64(hdr[24:], 0)
				binary.LittleEndian.PutUint64(hdr[32:], fuzzArea)
				mm := &MDA{Area: DiskLocn{0, fuzzArea}, raw: hdr}
				mm.Header.Size = fuzzArea
				mm.Locn = m.Locn
				done := int64(0)
				for _, p := range mm.pieces(off, uint64(len(m.Text))) {
					copy(dev[p[0]:p[0]+p[1]], m.Text[done:done+p[1]])
					done += p[1]
				}
				h := mm.withText(off, uint64(len(m.Text)), m.Locn.Checksum)
				copy(dev, h[:])
				end := len(bytes.TrimRight(dev, "\x00"))
				write(t, "FuzzMDA", fmt.Sprintf("%s-%d-%d", name, i, j), dev[:end])
			}
		}
	}
	write(t, "FuzzMetadata", "hostile-deep", bytes.Repeat([]byte("a {\n"), 40))
	write(t, "FuzzMetadata", "hostile-list", []byte("a = [1, \"x\", -2, 1.5]\nb { c = [] }\n"))
}

func write(t *testing.T, target, name string, data []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
