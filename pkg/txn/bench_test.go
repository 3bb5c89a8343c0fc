package txn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgprep/imgprep/pkg/storage"
)

// benchImage is a sparse 64 MiB host file, opened for writing.
func benchImage(b *testing.B) *storage.OSFile {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(p, 64<<20); err != nil {
		b.Fatal(err)
	}
	f, err := storage.OpenFile(p, storage.OpenOptions{Write: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// benchWrites is a sysprep-sized change: 64 scattered 4 KiB blocks
// (inodes, bitmaps, directory blocks, descriptors, superblock).
func benchWrites() []step {
	blk := make([]byte, 4096)
	for i := range blk {
		blk[i] = byte(i)
	}
	var s []step
	for i := range 64 {
		s = append(s, step{off: int64(i) * 997 * 1024, data: blk})
	}
	return s
}

// BenchmarkCommit: staging plus an atomic commit (journal, 3 fsyncs of
// files, 2 of the directory) of 64 scattered 4 KiB writes.
func BenchmarkCommit(b *testing.B) {
	f := benchImage(b)
	steps := benchWrites()
	b.SetBytes(64 * 4096)
	for b.Loop() {
		tx, err := Begin(f, Options{})
		if err != nil {
			b.Fatal(err)
		}
		stage(b, tx, steps)
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectWrites is the peer of BenchmarkCommit: the same writes
// straight to the file and one fsync, with no atomicity.
func BenchmarkDirectWrites(b *testing.B) {
	f := benchImage(b)
	steps := benchWrites()
	b.SetBytes(64 * 4096)
	for b.Loop() {
		for _, s := range steps {
			if _, err := f.WriteAt(s.data, s.off); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStageSequential stages 16 MiB in 4 KiB writes, as a large file
// write does, and reads it back.
func BenchmarkStageSequential(b *testing.B) {
	f := benchImage(b)
	blk := make([]byte, 4096)
	b.SetBytes(16 << 20)
	for b.Loop() {
		tx, err := Begin(f, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < 16<<20; off += 4096 {
			if _, err := tx.WriteAt(blk, off); err != nil {
				b.Fatal(err)
			}
		}
		for off := int64(0); off < 16<<20; off += 4096 {
			if _, err := tx.ReadAt(blk, off); err != nil {
				b.Fatal(err)
			}
		}
		tx.Discard()
	}
}
