//go:build fuzzseeds

package xfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
)

// TestWriteFuzzSeeds regenerates the committed seed corpora from the
// structures of every xfs fixture:
//
//	go test -tags fuzzseeds -run TestWriteFuzzSeeds ./pkg/fs/xfs
func TestWriteFuzzSeeds(t *testing.T) {
	write := func(target, name string, b []byte) {
		t.Helper()
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range xfsFixtures {
		img, err := os.ReadFile(fixture.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := indexFuzzBase(img)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		write("FuzzSuperblock", name, img[:fb.sect])
		ag1 := int64(fb.f.g.agBlocks) * fb.bsize
		write("FuzzAGHeaders", name, img[ag1+fb.sect:ag1+4*fb.sect])
		isz := int64(fb.f.g.inodeSize)
		for _, p := range []string{"/", "/big", "/abs", "/etc/machine-id", "/blockdir", "/nodedir"} {
			off, _ := fb.f.inodeOffset(fb.inos[p])
			write("FuzzInode", name+"-"+filepath.Base(filepath.Clean("/root"+p)), img[off:off+isz])
		}
		var a agf
		binary.Decode(img[fb.sect:], binary.BigEndian, &a)
		var ai agi
		binary.Decode(img[2*fb.sect:], binary.BigEndian, &ai)
		for k, r := range []uint32{a.Roots[0], a.Roots[1], ai.Root, ai.FreeRoot, a.RefcountRoot} {
			if r != 0 {
				write("FuzzAGBtreeBlock", name+"-"+strconv.Itoa(k), append([]byte{byte(k)}, img[int64(r)*fb.bsize:int64(r+1)*fb.bsize]...))
			}
		}
		_, _, _, seed := bmbtSetup(fb)
		write("FuzzBmbtBlock", name, seed)
		for i, k := range []string{"block", "leaf-data", "leaf1", "node-data", "danode", "free", "attr-leaf", "attr-rmt"} {
			loc := fb.blocks[k]
			write("FuzzDirBlock", name+"-"+k, append([]byte{byte(i)}, img[loc[0]:loc[0]+fb.bsize]...))
		}
	}
}
