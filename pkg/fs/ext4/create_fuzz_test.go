package ext4

import (
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
)

// FuzzCreate: on any image (FuzzOpen's sparse encoding; its seeds are the
// tiny fixtures), the create side — WriteFile new and over existing
// files, Mkdir, Symlink, Mknod, Link, Rename, Chmod, Chown, Utimes — must
// not panic, hang or allocate what the image claims; it may only fail.
func FuzzCreate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		img := decodeSparse(data)
		w, err := OpenWritable(img, img.size, Options{})
		if err != nil {
			return
		}
		payload := make([]byte, 5000)
		w.WriteFile("/fz-new", payload, fs.WriteOptions{Perm: 0o644})
		w.Mkdir("/fz-dir", 0o755, fs.Owner{UID: 1})
		w.Symlink("fz-new", "/fz-fast", fs.Owner{})
		w.Symlink(string(payload[:100])+"x", "/fz-slow", fs.Owner{})
		w.Mknod("/fz-dev", fs.ModeChar|0o600, 0x105, fs.Owner{})
		ents, _ := w.ReadDir("/")
		for i, e := range ents {
			if i >= 8 {
				break
			}
			p := "/" + e.Name
			w.WriteFile(p, payload[:i*300], fs.WriteOptions{})
			w.WriteFile(p+"/fz-child", payload[:10], fs.WriteOptions{})
			w.Link(p, p+"-fz-link")
			w.Chmod(p, 0o700)
			w.Chown(p, fs.Owner{UID: 70000})
			w.Utimes(p, fs.Times{})
			w.Rename(p, "/fz-dir/"+e.Name)
			w.Rename("/fz-dir/"+e.Name, p+"-back")
		}
		w.Sync()
	})
}
