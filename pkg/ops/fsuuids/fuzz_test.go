package fsuuids_test

import (
	"bytes"
	"testing"

	"github.com/imgprep/imgprep/pkg/ops/fsuuids"
)

// FuzzReplace: Replace reads guest files. It never panics, keeps the
// length (blkid's forms of old and new UUIDs have the same length),
// changes nothing when it finds nothing, and leaves no whole-token
// mention of an old UUID behind. Seeds: testdata/fuzz/FuzzReplace.
func FuzzReplace(f *testing.F) {
	f.Add([]byte("UUID=0c0c0c0c-0000-4000-8000-000000000001 / ext4 defaults 0 1\n"))
	renames := []fsuuids.Rename{
		{Old: "0c0c0c0c-0000-4000-8000-000000000001", New: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"},
		{Old: "0C0C-0C0C", New: "1A2B-3C4D"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, n := fsuuids.Replace(data, renames)
		if len(out) != len(data) {
			t.Fatalf("length %d, then %d", len(data), len(out))
		}
		if n == 0 && !bytes.Equal(out, data) {
			t.Fatalf("nothing found, yet %q became %q", data, out)
		}
		if _, again := fsuuids.Replace(out, renames); again != 0 {
			t.Fatalf("%q still mentions an old UUID %d times", out, again)
		}
	})
}
