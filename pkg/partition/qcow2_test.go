package partition

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
)

// The tables read through a qcow2 image (pkg/image) are the raw ones, and
// a write through a Section of a qcow2 image lands in that partition as
// qemu-img reads it.
func TestReadAndWriteThroughQcow2(t *testing.T) {
	for _, tc := range fixtureTables {
		t.Run(tc.image, func(t *testing.T) {
			raw := fixture.Path(t, tc.image)
			qcow := filepath.Join(t.TempDir(), "disk.qcow2")
			if _, errOut, code := oracle.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow); code != 0 {
				t.Fatalf("qemu-img convert: %s", errOut)
			}
			h, err := image.Open(qcow, image.OpenOptions{Write: true})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			got, err := Read(h, h.Size())
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.want.Kind || len(got.Partitions) != len(tc.want.Partitions) {
				t.Fatalf("Read through qcow2 = %+v, want %+v", *got, tc.want)
			}
			if got.Kind == KindNone {
				return
			}
			p := got.Partitions[len(got.Partitions)-1]
			s := Section(h, p)
			mark := bytes.Repeat([]byte("imgprep!"), 512)
			if _, err := s.WriteAt(mark, s.Size()-int64(len(mark))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.WriteAt(mark, s.Size()-1); err == nil {
				t.Fatal("a write past the partition's end succeeded")
			}
			if err := h.Commit(); err != nil {
				t.Fatal(err)
			}
			h.Close()
			oracle.QemuImgCheck(t, qcow, false)
			out := filepath.Join(t.TempDir(), "out.raw")
			oracle.QemuImgConvertRaw(t, qcow, out)
			f, size := openPath(t, out)
			buf := make([]byte, len(mark)+1)
			if _, err := f.ReadAt(buf, p.End()-int64(len(mark))-1); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[1:], mark) {
				t.Fatal("the write is not at the partition's end")
			}
			if again, err := Read(f, size); err != nil || len(again.Partitions) != len(tc.want.Partitions) {
				t.Fatalf("table after the write: %+v, %v", again, err)
			}
		})
	}
}
