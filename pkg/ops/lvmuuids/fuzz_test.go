package lvmuuids_test

import (
	"bytes"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops/lvmuuids"
)

// FuzzReplace: Replace reads guest files. It never panics, keeps the
// length (old and new UUIDs have the same length in either form),
// changes nothing when it finds nothing, and leaves no mention of an old
// UUID behind. Seeds: testdata/fuzz/FuzzReplace.
func FuzzReplace(f *testing.F) {
	f.Add([]byte("IDTYPE=devname IDNAME=/dev/vda3 DEVNAME=/dev/vda3 PVID=UbuPV000004000800000000000000001 PART=3\n"))
	renames := []lvmuuids.Rename{
		{Old: "Ubuvg000004000800000000000000001", New: "NEWvg0aaaa4aaa8aaaaaaaaaaaaaaaa1", VG: true},
		{Old: "UbuPV000004000800000000000000001", New: "NEWpv0bbbb4bbb8bbbbbbbbbbbbbbbb2"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, n := lvmuuids.Replace(data, renames)
		if len(out) != len(data) {
			t.Fatalf("length %d, then %d", len(data), len(out))
		}
		if n == 0 && !bytes.Equal(out, data) {
			t.Fatalf("nothing found, yet %q became %q", data, out)
		}
		if _, again := lvmuuids.Replace(out, renames); again != 0 {
			t.Fatalf("%q still mentions an old UUID %d times", out, again)
		}
	})
}
