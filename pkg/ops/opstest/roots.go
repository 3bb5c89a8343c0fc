package opstest

import (
	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

// Root is a named guest tree to run an operation on. New returns a fresh
// copy each time it is called.
type Root struct {
	Name string
	New  func() *memfs.FS
}

// machineID is the ID the populated guest carries.
const machineID = "4c4c4544003957108052b4c04f384833\n"

// Populated returns a small but realistic Linux guest carrying every
// identity file imgprep's operations know about, plus unrelated files
// that must survive.
func Populated() *memfs.FS {
	f := memfs.New()
	f.Name = "ext4 on partition 1"
	f.AddFile("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", 0o644).
		AddFile("/etc/hostname", "template\n", 0o644).
		AddFile("/etc/fstab", "UUID=0b4e7f3a-2b1e-4c55-9d39-3f6a1e2c9a10 / ext4 defaults 0 1\n", 0o644).
		AddFile("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nnetdata:x:998:997::/var/lib/netdata:/usr/sbin/nologin\n", 0o644).
		AddFile("/etc/group", "root:x:0:\nadm:x:4:\nnetdata:x:997:\n", 0o644).
		AddFile("/etc/machine-id", machineID, 0o444).
		SetXattr("/etc/machine-id", "security.selinux", []byte("system_u:object_r:machineid_t:s0\x00")).
		AddFile("/var/lib/dbus/machine-id", machineID, 0o444).
		AddFile("/etc/netdata/netdata.conf", "[global]\n    run as user = netdata\n", 0o644).
		AddFile("/etc/netdata/claim.conf", "[global]\n    url = https://app.netdata.cloud\n    token = SECRET-TOKEN\n    rooms = r1\n", 0o640).
		SetOwner("/etc/netdata/claim.conf", fs.Owner{GID: 997}).
		AddFile("/var/lib/netdata/registry/netdata.public.unique.id", "a1b2c3d4-0000-4000-8000-00000000abcd", 0o644).
		AddFile("/var/lib/netdata/registry/registry.db", "keep", 0o644).
		AddFile("/var/lib/netdata/status-netdata.json", `{"agent":{"id":"a1b2c3d4"}}`, 0o644).
		AddFile("/var/cache/netdata/status-netdata.json", `{"agent":{"id":"a1b2c3d4"}}`, 0o644).
		AddFile("/tmp/status-netdata.json", `{"agent":{"id":"a1b2c3d4"}}`, 0o644).
		AddFile("/run/status-netdata.json", `{"agent":{"id":"a1b2c3d4"}}`, 0o644).
		AddSymlink("/var/run", "../run").
		AddFile("/var/lib/netdata/cloud.d/cloud.conf", "[global]\n  enabled = yes\n", 0o640).
		AddFile("/var/lib/netdata/cloud.d/claimed_id", "c0ffee00-0000-4000-8000-000000000001\n", 0o640).
		AddFile("/var/lib/netdata/cloud.d/private.pem", "-----BEGIN RSA PRIVATE KEY-----\n", 0o600).
		AddFile("/var/lib/netdata/cloud.d/public.pem", "-----BEGIN PUBLIC KEY-----\n", 0o644).
		AddFile("/var/lib/netdata/cloud.d/token", "SECRET-TOKEN", 0o600).
		AddFile("/var/lib/netdata/cloud.d/rooms", "r1", 0o600).
		AddFile("/var/cache/netdata/netdata-meta.db", "SQLite format 3\x00", 0o644).
		AddFile("/var/cache/netdata/netdata-meta.db-wal", "wal", 0o644).
		AddFile("/var/cache/netdata/netdata-meta.db-shm", "shm", 0o644).
		AddFile("/var/cache/netdata/context-meta.db", "SQLite format 3\x00", 0o644).
		AddFile("/var/cache/netdata/dbengine/datafile-1-0000000001.ndf", "keep", 0o644).
		AddFile("/var/cache/netdata/.netdata-meta.db", "dotfile, not a match", 0o644).
		AddFile("/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0o600).
		AddFile("/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFjRa7YbKn9yA8s5qUpxWQ8yG8KH2cXyS3D0nX8t9n0K root@template\n", 0o644).
		AddFile("/home/user/notes.txt", "keep me", 0o600).
		SetOwner("/home/user/notes.txt", fs.Owner{UID: 1000, GID: 1000}).
		AddHardLink("/home/user/notes.txt", "/home/user/notes-link.txt")
	return f
}

// Roots returns the populated guest and hostile variants of it: symlinks
// out of the paths the operations target, loops, files where directories
// are expected. An operation must change only what it reports on each.
func Roots() []Root {
	mod := func(name string, edit func(f *memfs.FS)) Root {
		return Root{Name: name, New: func() *memfs.FS {
			f := Populated()
			edit(f)
			return f
		}}
	}
	return []Root{
		{Name: "populated", New: Populated},
		mod("var-run-is-a-directory", func(f *memfs.FS) {
			mustRemoveAll(f, "/var/run")
			f.AddFile("/var/run/status-netdata.json", "{}", 0o644)
		}),
		mod("cloud.d-links-to-etc", func(f *memfs.FS) {
			mustRemoveAll(f, "/var/lib/netdata/cloud.d")
			f.AddSymlink("/var/lib/netdata/cloud.d", "/etc")
		}),
		mod("var-lib-netdata-climbs-out", func(f *memfs.FS) {
			mustRemoveAll(f, "/var/lib/netdata")
			f.AddSymlink("/var/lib/netdata", "../../../../..")
		}),
		mod("symlink-loops", func(f *memfs.FS) {
			mustRemoveAll(f, "/var/lib/dbus")
			f.AddSymlink("/var/lib/dbus", "/var/lib/dbus")
			mustRemoveAll(f, "/var/cache/netdata")
			f.AddSymlink("/var/cache/netdata", "/var/cache/loop2").AddSymlink("/var/cache/loop2", "/var/cache/netdata")
		}),
		mod("run-is-a-file", func(f *memfs.FS) {
			mustRemoveAll(f, "/run")
			f.AddFile("/run", "not a directory", 0o644)
		}),
		mod("identity-files-are-symlinks", func(f *memfs.FS) {
			mustRemoveAll(f, "/etc/machine-id")
			f.AddSymlink("/etc/machine-id", "/etc/passwd")
			mustRemoveAll(f, "/var/lib/dbus/machine-id")
			f.AddSymlink("/var/lib/dbus/machine-id", "/etc/machine-id")
			mustRemoveAll(f, "/var/lib/netdata/registry/netdata.public.unique.id")
			f.AddSymlink("/var/lib/netdata/registry/netdata.public.unique.id", "/etc/hostname")
			mustRemoveAll(f, "/var/cache/netdata/context-meta.db")
			f.AddSymlink("/var/cache/netdata/context-meta.db", "/home/user/notes.txt")
		}),
		mod("etc-machine-id-links-to-the-dbus-file", func(f *memfs.FS) {
			mustRemoveAll(f, "/etc/machine-id")
			f.AddSymlink("/etc/machine-id", "../var/lib/dbus/machine-id")
		}),
		mod("dbus-directory-links-to-etc", func(f *memfs.FS) {
			mustRemoveAll(f, "/var/lib/dbus")
			f.AddSymlink("/var/lib/dbus", "/etc")
		}),
		mod("machine-id-already-empty-and-no-netdata", func(f *memfs.FS) {
			f.AddFile("/etc/machine-id", "", 0o444)
			mustRemoveAll(f, "/var/lib/dbus")
			mustRemoveAll(f, "/var/lib/netdata")
			mustRemoveAll(f, "/var/cache/netdata")
			mustRemoveAll(f, "/etc/netdata")
			for _, p := range []string{"/tmp", "/run"} {
				mustRemoveAll(f, p+"/status-netdata.json")
			}
		}),
	}
}

func mustRemoveAll(f *memfs.FS, p string) {
	ro := f.ReadOnly
	f.ReadOnly = false
	defer func() { f.ReadOnly = ro }()
	if err := f.RemoveAll(p); err != nil {
		panic("opstest: " + err.Error())
	}
}
