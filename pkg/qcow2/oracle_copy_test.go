package qcow2_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/qcow2"
	"github.com/imgprep/imgprep/pkg/storage"
)

// A qcow2 image can serve as another's backing file.
var _ qcow2.Backing = (*qcow2.Image)(nil)

// TestCopyOfEveryFixtureJudgedByQemu: image.Copy into a new qcow2 image
// (through qcow2.Create) of every readable fixture, chains flattened, with
// 512-byte, 64 KiB and 2 MiB clusters: qemu-img check finds the copy
// clean, qemu-img compare finds it equal to the source, and it has no
// backing file.
func TestCopyOfEveryFixtureJudgedByQemu(t *testing.T) {
	oracle.Require(t, "qemu-img")
	for i, fx := range readFixtures {
		cluster := []int{512, 65536, 2 << 20}[i%3]
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, _ := fx.place(t, dir)
			src := openRO(t, path)
			dst := filepath.Join(t.TempDir(), "copy.qcow2")
			f, err := storage.CreateFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := image.Copy(context.Background(), f, src, image.CopyOptions{Format: "qcow2", ClusterSize: cluster}); err != nil {
				f.Close()
				t.Fatalf("image.Copy with %d-byte clusters: %v", cluster, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			waitUnlocked(t, dst)
			oracle.QemuImgCheck(t, dst, false)
			oracle.QemuImgCompare(t, path, dst)
			cp := openRO(t, dst)
			if info := cp.Info(); info.BackingFile != "" || info.ClusterSize != cluster {
				t.Errorf("copy: backing file %q, cluster size %d; want none and %d", info.BackingFile, info.ClusterSize, cluster)
			}
		})
	}
}
