package ext4_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/ext4test"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/ext4"
)

const (
	fMode   = ext4test.FieldMode
	fUID    = ext4test.FieldUID
	fGID    = ext4test.FieldGID
	fSize   = ext4test.FieldSize
	fNlink  = ext4test.FieldNlink
	fAtime  = ext4test.FieldAtime
	fMtime  = ext4test.FieldMtime
	fData   = ext4test.FieldData
	fIno    = ext4test.FieldIno
	fXattrs = ext4test.FieldXattrs
)

// removeOp removes each path in turn with Remove.
func removeOp(name string, paths ...string) writeOp {
	return writeOp{
		name: name,
		do: func(f *ext4.FS) error {
			for _, p := range paths {
				if err := f.Remove(p); err != nil {
					return err
				}
			}
			return nil
		},
		expect: func(b ext4test.Tree) ext4test.Expect { return expectRemoved(b, paths...) },
	}
}

// removeAllOp removes p and everything below it with RemoveAll.
func removeAllOp(name, p string) writeOp {
	return writeOp{
		name:   name,
		do:     func(f *ext4.FS) error { return f.RemoveAll(p) },
		expect: func(b ext4test.Tree) ext4test.Expect { return expectRemoved(b, p) },
	}
}

// truncateOp truncates p to size; the file must then hold want(before).
func truncateOp(name, p string, size int64, want func() []byte) writeOp {
	return writeOp{
		name: name,
		do:   func(f *ext4.FS) error { return f.Truncate(p, size) },
		expect: func(b ext4test.Tree) ext4test.Expect {
			e := expectInode(b, p, fSize, fData, fMtime)
			return e
		},
		verify: func(t *testing.T, img string, _, a ext4test.Tree) {
			checkContent(t, img, a, p, want())
		},
	}
}

// overwriteOp overwrites the existing file p with data: the inode number,
// xattrs, mode and ownership stay; size, contents and mtime change.
func overwriteOp(name, p string, data []byte) writeOp {
	return writeOp{
		name: name,
		do: func(f *ext4.FS) error {
			return f.WriteFile(p, data, fs.WriteOptions{Perm: 0o600, Owner: fs.Owner{UID: 4242, GID: 4242}})
		},
		expect: func(b ext4test.Tree) ext4test.Expect {
			fields := []string{fData, fMtime}
			if b[p].Size != int64(len(data)) {
				fields = append(fields, fSize)
			}
			return expectInode(b, p, fields...)
		},
		verify: func(t *testing.T, img string, b, a ext4test.Tree) {
			checkContent(t, img, a, p, data)
			if !a[p].Mtime.Equal(now) {
				t.Errorf("%s: mtime %v after an overwrite without Times, want the clock's %v", p, a[p].Mtime, now)
			}
		},
	}
}

// createOp creates the new file p with data, mode 0640, owner 1000:1000
// and explicit times.
func createOp(name, p string, data []byte) writeOp {
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	return writeOp{
		name: name,
		do: func(f *ext4.FS) error {
			return f.WriteFile(p, data, fs.WriteOptions{Perm: 0o640, Owner: fs.Owner{UID: 1000, GID: 1000},
				Times: fs.Times{Atime: mt, Mtime: mt}})
		},
		expect: func(b ext4test.Tree) ext4test.Expect {
			e := ext4test.Expect{Added: []string{p}}
			parentTouched(&e, p)
			return e
		},
		verify: func(t *testing.T, img string, _, a ext4test.Tree) {
			checkContent(t, img, a, p, data)
			e := a[p]
			if e.Mode != fs.ModeRegular|0o640 || e.UID != 1000 || e.GID != 1000 || e.Nlink != 1 || !e.Mtime.Equal(mt) || len(e.Xattrs) != 0 {
				t.Errorf("%s created as %+v, want mode 0100640, owner 1000:1000, nlink 1, mtime %v, no xattrs", p, e, mt)
			}
		},
	}
}

// checkContent checks the contents of p in tr (debugfs's view of img),
// reading a file too large for the snapshot with debugfs cat.
func checkContent(t *testing.T, img string, tr ext4test.Tree, p string, want []byte) {
	t.Helper()
	e, ok := tr[p]
	if !ok {
		t.Fatalf("%s is gone", p)
	}
	if e.SHA256 == ext4test.NotRead {
		b, _ := oracle.DebugfsCat(t, img, p)
		e.SHA256 = shaOf(b)
	}
	if e.Size != int64(len(want)) || e.SHA256 != shaOf(want) {
		t.Errorf("%s: %d bytes (sha256 %.12s), want %d bytes (sha256 %.12s)", p, e.Size, e.SHA256, len(want), shaOf(want))
	}
}

// renameOp renames from to to. A replaced file's inode loses a name; the
// moved inode keeps its number and xattrs.
func renameOp(name, from, to string) writeOp {
	return writeOp{
		name: name,
		do:   func(f *ext4.FS) error { return f.Rename(from, to) },
		expect: func(b ext4test.Tree) ext4test.Expect {
			var e ext4test.Expect
			for _, q := range b.Below(from) {
				e.Removed = append(e.Removed, q)
				nq := to + q[len(from):]
				if _, exists := b[nq]; exists {
					// The target name now names another inode.
					changed(&e, nq, ext4test.Compare(b[nq], b[q])...)
					may(&e, nq, ext4test.FieldCtime, fAtime, fMtime, fMode, fUID, fGID, fNlink)
					for _, other := range namesOf(b, nq) {
						if other != nq {
							changed(&e, other, fNlink)
						}
					}
				} else {
					e.Added = append(e.Added, nq)
				}
			}
			parentTouched(&e, from, to)
			if b[from].Type == fs.TypeDir && pathDir(from) != pathDir(to) {
				changed(&e, pathDir(from), fNlink)
				changed(&e, pathDir(to), fNlink)
			}
			return e
		},
		verify: func(t *testing.T, img string, b, a ext4test.Tree) {
			if a[to].Ino != b[from].Ino || !sameMap(a[to].Xattrs, b[from].Xattrs) {
				t.Errorf("%s: inode %d with xattrs %v, want the renamed inode %d with %v", to, a[to].Ino, a[to].Xattrs, b[from].Ino, b[from].Xattrs)
			}
		},
	}
}

func pathDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// failOp must fail with want and leave the tree as it was.
func failOp(name string, want error, do func(f *ext4.FS) error) writeOp {
	return writeOp{name: name, do: do, wantErr: want}
}

const longTarget = "/usr/share/zoneinfo/../zoneinfo/../zoneinfo/../zoneinfo/Europe/../Europe/../Europe/Amsterdam"

// commonOps are the write operations run on every flavour of the common
// tree (see testdata/images/gen.d/ext4.sh).
func commonOps() []writeOp {
	mib := gen(1 << 20)
	return []writeOp{
		removeOp("Remove/a regular file: its entry goes, its inode and blocks are freed", "/data/many"),
		removeOp("Remove/a file mapped through double-indirect blocks (1 KiB) or extents", "/data/mib"),
		removeOp("Remove/an empty file", "/data/empty"),
		removeOp("Remove/a name with a space", "/data/with space"),
		removeOp("Remove/a fast symlink (target in i_block)", "/links/fast"),
		removeOp("Remove/a slow symlink (target in a data block)", "/links/slow"),
		removeOp("Remove/a character device node", "/dev/null"),
		removeOp("Remove/a block device node and a fifo", "/dev/loop0", "/dev/fifo"),
		removeOp("Remove/one name of a hard link: links_count drops, the inode stays", "/links/hl1"),
		removeOp("Remove/the last link of an inode (nlink 2 across directories)", "/links/pair", "/dir/a/pair2"),
		removeOp("Remove/a file whose xattrs live in an xattr block (refcount dropped, block freed)", "/data/xattr-block"),
		removeOp("Remove/a file with a security.selinux xattr in the inode", "/etc/machine-id"),
		removeOp("Remove/an empty directory: the parent loses the link of its '..'", "/dir/x"),
		failOp("Remove/a non-empty directory fails with ErrNotEmpty", fs.ErrNotEmpty,
			func(f *ext4.FS) error { return f.Remove("/dir/a") }),
		failOp("Remove/a missing path fails with ErrNotExist", fs.ErrNotExist,
			func(f *ext4.FS) error { return f.Remove("/data/nope") }),
		removeAllOp("RemoveAll/a directory tree with a hard link leaving it", "/dir"),
		removeAllOp("RemoveAll/a small directory tree (Netdata's state)", "/var/lib/netdata"),
		removeAllOp("RemoveAll/a single file", "/etc/ssh/ssh_host_ed25519_key"),
		{name: "RemoveAll/a missing path is not an error", do: func(f *ext4.FS) error { return f.RemoveAll("/no/such/path") }},

		truncateOp("Truncate/to 0 frees every block", "/data/many", 0, func() []byte { return nil }),
		truncateOp("Truncate/to a smaller size in the middle of a block (double-indirect range at 1 KiB)",
			"/data/mib", 300001, func() []byte { return mib[:300001] }),
		truncateOp("Truncate/to the end of the direct blocks frees the indirect blocks",
			"/data/mib", 12*1024+5, func() []byte { return mib[:12*1024+5] }),
		truncateOp("Truncate/to one byte", "/data/block4k", 1, func() []byte { return gen(1) }),
		truncateOp("Truncate/a sparse file to inside its first block run", "/data/sparse", 5000,
			func() []byte { return append(gen(4096), make([]byte, 904)...) }),
		truncateOp("Truncate/growing a file leaves a hole that reads as zeros", "/data/one", 10000,
			func() []byte { return append([]byte("x"), make([]byte, 9999)...) }),
		failOp("Truncate/a directory fails with ErrIsDir", fs.ErrIsDir,
			func(f *ext4.FS) error { return f.Truncate("/dir", 0) }),

		createOp("WriteFile/creates a new file with the given mode, owner and times", "/etc/new-file", gen(5000)),
		createOp("WriteFile/creates an empty file", "/etc/empty-new", nil),
		createOp("WriteFile/creates a 300 KiB file", "/data/big-new", gen(300*1024)),
		overwriteOp("WriteFile/overwriting keeps the inode number, xattrs and ownership (empty machine-id)", "/etc/machine-id", nil),
		overwriteOp("WriteFile/overwriting with more data keeps the xattr block", "/data/xattr-block", gen(300*1024)),
		overwriteOp("WriteFile/overwriting with less data frees the surplus blocks", "/data/mib", gen(5000)),
		overwriteOp("WriteFile/overwriting a file owned by uid 999 keeps its owner", "/var/lib/netdata/registry/netdata.public.unique.id",
			[]byte("00000000-0000-0000-0000-000000000000")),
		failOp("WriteFile/onto a directory fails with ErrIsDir", fs.ErrIsDir,
			func(f *ext4.FS) error { return f.WriteFile("/etc", []byte("x"), fs.WriteOptions{Perm: 0o644}) }),

		{name: "Mkdir/creates a directory and bumps the parent's links_count",
			do: func(f *ext4.FS) error { return f.Mkdir("/etc/newdir", 0o750, fs.Owner{UID: 7, GID: 8}) },
			expect: func(b ext4test.Tree) ext4test.Expect {
				e := ext4test.Expect{Added: []string{"/etc/newdir"}}
				parentTouched(&e, "/etc/newdir")
				changed(&e, "/etc", fNlink)
				return e
			},
			verify: func(t *testing.T, img string, _, a ext4test.Tree) {
				e := a["/etc/newdir"]
				if e.Mode != fs.ModeDir|0o750 || e.Nlink != 2 || e.UID != 7 || e.GID != 8 {
					t.Errorf("/etc/newdir is %+v, want mode 040750, nlink 2, owner 7:8", e)
				}
			}},
		failOp("Mkdir/on an existing name fails with ErrExist", fs.ErrExist,
			func(f *ext4.FS) error { return f.Mkdir("/etc/hostname", 0o755, fs.Owner{}) }),
		symlinkOp("Symlink/a fast symlink (target < 60 bytes) lives in the inode", "/etc/fast-link", "machine-id"),
		symlinkOp("Symlink/a slow symlink (target > 60 bytes) gets a data block", "/etc/slow-link", longTarget),
		mknodOp("Mknod/a fifo", "/dev/newfifo", fs.ModeFIFO|0o644, 0),
		mknodOp("Mknod/a character device keeps its major and minor", "/dev/zero", fs.ModeChar|0o666, ext4test.EncodeDev(1, 5)),
		{name: "Link/a new hard link bumps links_count",
			do: func(f *ext4.FS) error { return f.Link("/etc/hostname", "/etc/hostname2") },
			expect: func(b ext4test.Tree) ext4test.Expect {
				e := ext4test.Expect{Added: []string{"/etc/hostname2"}}
				parentTouched(&e, "/etc/hostname2")
				changed(&e, "/etc/hostname", fNlink)
				return e
			},
			verify: func(t *testing.T, img string, _, a ext4test.Tree) {
				if a["/etc/hostname2"].Ino != a["/etc/hostname"].Ino || a["/etc/hostname"].Nlink != 2 {
					t.Errorf("hostname2 is inode %d, hostname inode %d with nlink %d", a["/etc/hostname2"].Ino, a["/etc/hostname"].Ino, a["/etc/hostname"].Nlink)
				}
			}},

		attrOp("Chmod/changes the permission bits only", "/etc/hostname",
			func(f *ext4.FS) error { return f.Chmod("/etc/hostname", 0o600) }, fMode),
		attrOp("Chmod/through one name changes every name of the inode", "/links/hl1",
			func(f *ext4.FS) error { return f.Chmod("/links/hl1", 0o4711) }, fMode),
		attrOp("Chmod/on a directory", "/dir/a",
			func(f *ext4.FS) error { return f.Chmod("/dir/a", 0o1700) }, fMode),
		attrOp("Chown/changes uid and gid, including the high 16 bits", "/etc/hostname",
			func(f *ext4.FS) error { return f.Chown("/etc/hostname", fs.Owner{UID: 70000, GID: 80000}) }, fUID, fGID),
		utimesOp(),

		renameOp("Rename/within the same directory keeps the inode", "/etc/hostname", "/etc/hostname.old"),
		renameOp("Rename/to another directory", "/data/one", "/tmp/one"),
		renameOp("Rename/a directory to another directory updates '..' and both parents' links_count", "/dir/x", "/tmp/x"),
		renameOp("Rename/a directory tree within its parent", "/dir/a", "/dir/renamed"),
		renameOp("Rename/replacing an existing file frees the replaced inode", "/etc/fstab", "/etc/hostname"),
		renameOp("Rename/replacing one name of a hard link", "/data/one", "/links/hl2"),
		failOp("Rename/a directory into itself fails with ErrInvalid", fs.ErrInvalid,
			func(f *ext4.FS) error { return f.Rename("/dir", "/dir/a/inside") }),
		failOp("Rename/a directory over a non-empty directory fails with ErrNotEmpty", fs.ErrNotEmpty,
			func(f *ext4.FS) error { return f.Rename("/dir/x", "/dir/a") }),
		failOp("Symlink/over an existing name fails with ErrExist", fs.ErrExist,
			func(f *ext4.FS) error { return f.Symlink("x", "/etc/hostname", fs.Owner{}) }),
		failOp("WriteFile/a name longer than 255 bytes fails with ErrNameTooLong", fs.ErrNameTooLong,
			func(f *ext4.FS) error {
				return f.WriteFile("/etc/"+strings.Repeat("n", 256), []byte("x"), fs.WriteOptions{Perm: 0o644})
			}),
		failOp("WriteFile/more data than the free space fails with ErrNoSpace and changes nothing", fs.ErrNoSpace,
			func(f *ext4.FS) error {
				return f.WriteFile("/data/too-big", make([]byte, 20<<20), fs.WriteOptions{Perm: 0o644})
			}),
		failOp("WriteFile/overwriting with more data than the free space fails with ErrNoSpace and keeps the old contents", fs.ErrNoSpace,
			func(f *ext4.FS) error {
				return f.WriteFile("/data/many", make([]byte, 20<<20), fs.WriteOptions{Perm: 0o644})
			}),
		sessionOp(),
		createManyOp("WriteFile/300 new files grow a directory past its first block", "/dir/x", "new-file-with-a-longish-name-", 300),
	}
}

// createManyOp creates n small files named dir/PREFIXnnnn, so the
// directory has to grow (new blocks, htree leaf splits).
func createManyOp(name, dir, prefix string, n int) writeOp {
	path := func(i int) string { return fmt.Sprintf("%s/%s%04d", dir, prefix, i) }
	return writeOp{
		name: name,
		do: func(f *ext4.FS) error {
			for i := 0; i < n; i++ {
				if err := f.WriteFile(path(i), []byte(path(i)), fs.WriteOptions{Perm: 0o644}); err != nil {
					return fmt.Errorf("file %d: %w", i, err)
				}
			}
			return nil
		},
		expect: func(b ext4test.Tree) ext4test.Expect {
			var e ext4test.Expect
			for i := 0; i < n; i++ {
				e.Added = append(e.Added, path(i))
			}
			parentTouched(&e, path(0))
			return e
		},
		verify: func(t *testing.T, img string, _, a ext4test.Tree) {
			for i := 0; i < n; i += n / 10 {
				checkContent(t, img, a, path(i), []byte(path(i)))
			}
		},
	}
}

// sessionOp is what one imgprep run does to a template: several calls on
// one open filesystem, then a second open doing more, each Synced.
func sessionOp() writeOp {
	keys := []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub"}
	newKey := gen(3000)
	return writeOp{
		name: "Session/a sysprep-like sequence of calls, then a second session on the same image",
		do: func(f *ext4.FS) error {
			steps := []func() error{
				func() error { return f.WriteFile("/etc/machine-id", nil, fs.WriteOptions{}) },
				func() error { return f.Remove(keys[0]) },
				func() error { return f.Remove(keys[1]) },
				func() error { return f.RemoveAll("/var/lib/netdata") },
				func() error { return f.Remove("/var/lib/dbus/machine-id") },
				func() error { return f.Symlink("/etc/machine-id", "/var/lib/dbus/machine-id", fs.Owner{}) },
				func() error { return f.Mkdir("/etc/ssh/new", 0o700, fs.Owner{}) },
				func() error {
					return f.WriteFile("/etc/ssh/new/key", newKey, fs.WriteOptions{Perm: 0o600})
				},
				func() error { return f.Truncate("/data/mib", 5000) },
				f.Sync,
				// Space freed above is allocated again in the same session.
				func() error { return f.WriteFile("/data/refill", gen(400*1024), fs.WriteOptions{Perm: 0o644}) },
				func() error { return f.Remove("/data/refill") },
			}
			for i, step := range steps {
				if err := step(); err != nil {
					return fmt.Errorf("step %d: %w", i, err)
				}
			}
			return nil
		},
		expect: func(b ext4test.Tree) ext4test.Expect {
			e := expectRemoved(b, append([]string{"/var/lib/netdata"}, keys...)...)
			e.Added = append(e.Added, "/etc/ssh/new", "/etc/ssh/new/key")
			changed(&e, "/etc/machine-id", fSize, fData, fMtime)
			changed(&e, "/data/mib", fSize, fData, fMtime)
			changed(&e, "/etc/ssh", fNlink)
			changed(&e, "/var/lib/dbus/machine-id", fIno)
			may(&e, "/var/lib/dbus/machine-id", fAtime, fMtime, ext4test.FieldCtime, ext4test.FieldCrtime)
			parentTouched(&e, "/etc/ssh/new", "/data/refill", "/var/lib/dbus/machine-id")
			return e
		},
		verify: func(t *testing.T, img string, b, a ext4test.Tree) {
			checkContent(t, img, a, "/etc/ssh/new/key", newKey)
			checkContent(t, img, a, "/data/mib", gen(5000))
			if a["/var/lib/dbus/machine-id"].Target != "/etc/machine-id" {
				t.Errorf("/var/lib/dbus/machine-id -> %q", a["/var/lib/dbus/machine-id"].Target)
			}
			// Second session, an hour later: reopen and undo part of it.
			later := now.Add(time.Hour)
			f, done := openWriteAt(t, img, later)
			if err := f.RemoveAll("/etc/ssh/new"); err != nil {
				t.Errorf("second session: RemoveAll: %v", err)
			}
			if err := f.WriteFile("/etc/machine-id", []byte("uninitialized\n"), fs.WriteOptions{}); err != nil {
				t.Errorf("second session: WriteFile: %v", err)
			}
			done()
			oracle.E2fsckClean(t, img)
			a2 := ext4test.Snapshot(t, img)
			e := ext4test.Expect{Removed: []string{"/etc/ssh/new", "/etc/ssh/new/key"}}
			changed(&e, "/etc/machine-id", fSize, fData)
			changed(&e, "/etc/ssh", fNlink)
			// Overwriting /etc/machine-id leaves /etc alone.
			parentTouched(&e, "/etc/ssh/new")
			e.Now = later
			may(&e, "/etc/machine-id", fMtime)
			ext4test.DiffTrees(a, a2).Check(t, e)
		},
	}
}

func symlinkOp(name, p, target string) writeOp {
	return writeOp{
		name: name,
		do:   func(f *ext4.FS) error { return f.Symlink(target, p, fs.Owner{UID: 5, GID: 6}) },
		expect: func(b ext4test.Tree) ext4test.Expect {
			e := ext4test.Expect{Added: []string{p}}
			parentTouched(&e, p)
			return e
		},
		verify: func(t *testing.T, img string, _, a ext4test.Tree) {
			e := a[p]
			if e.Type != fs.TypeSymlink || e.Target != target || e.Size != int64(len(target)) || e.UID != 5 || e.GID != 6 {
				t.Errorf("%s is %+v, want a symlink to %q owned by 5:6", p, e, target)
			}
		},
	}
}

func mknodOp(name, p string, mode, rdev uint32) writeOp {
	return writeOp{
		name: name,
		do:   func(f *ext4.FS) error { return f.Mknod(p, mode, rdev, fs.Owner{}) },
		expect: func(b ext4test.Tree) ext4test.Expect {
			e := ext4test.Expect{Added: []string{p}}
			parentTouched(&e, p)
			return e
		},
		verify: func(t *testing.T, img string, _, a ext4test.Tree) {
			if e := a[p]; e.Mode != mode || e.Rdev != rdev {
				t.Errorf("%s has mode %#o rdev %#x, want %#o %#x", p, e.Mode, e.Rdev, mode, rdev)
			}
		},
	}
}

// utimesOp sets atime and mtime; the nanoseconds survive only where the
// inode has extra time fields.
func utimesOp() writeOp {
	op := attrOp("Utimes/sets atime and mtime", "/etc/hostname",
		func(f *ext4.FS) error {
			return f.Utimes("/etc/hostname", fs.Times{Atime: time.Unix(1600000000, 0), Mtime: time.Unix(1650000000, 5000)})
		}, fAtime, fMtime)
	ctimeIsNow := op.verify
	op.verify = func(t *testing.T, img string, b, a ext4test.Tree) {
		ctimeIsNow(t, img, b, a)
		e := a["/etc/hostname"]
		// An inode with a crtime has the extra time fields.
		ns := 5000
		if e.Crtime.IsZero() {
			ns = 0
		}
		if e.Atime.Unix() != 1600000000 || e.Mtime.Unix() != 1650000000 || e.Mtime.Nanosecond() != ns {
			t.Errorf("atime %v, mtime %v; want 1600000000 and 1650000000 + %d ns", e.Atime, e.Mtime, ns)
		}
	}
	return op
}

// attrOp changes fields of the inode at p (every name shows it); the ctime
// must become the clock's time.
func attrOp(name, p string, do func(f *ext4.FS) error, fields ...string) writeOp {
	return writeOp{
		name:   name,
		do:     do,
		expect: func(b ext4test.Tree) ext4test.Expect { return expectInode(b, p, fields...) },
		verify: func(t *testing.T, img string, _, a ext4test.Tree) {
			if !a[p].Ctime.Equal(now) {
				t.Errorf("%s: ctime %v, want the clock's %v", p, a[p].Ctime, now)
			}
		},
	}
}
