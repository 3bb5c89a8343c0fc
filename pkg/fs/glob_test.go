package fs_test

import (
	"errors"
	"path"
	"reflect"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
)

func globTree(tb testing.TB) *memfs.FS {
	tb.Helper()
	return memfs.New().
		AddFile("/var/cache/netdata/netdata-meta.db", "db", 0o644).
		AddFile("/var/cache/netdata/netdata-meta.db-wal", "wal", 0o644).
		AddFile("/var/cache/netdata/netdata-meta.db-shm", "shm", 0o644).
		AddFile("/var/cache/netdata/context-meta.db", "ctx", 0o644).
		AddFile("/var/cache/netdata/.hidden-meta.db", "h", 0o644).
		AddSymlink("/var/cache/netdata/netdata-meta.db-link", "/etc/passwd").
		AddSymlink("/var/cache/netdata/netdata-meta.db-dangling", "/nowhere").
		AddFile("/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644).
		AddFile("/etc/ssh/ssh_host_rsa_key", "k", 0o600).
		AddFile("/etc/ssh/ssh_host_rsa_key.pub", "k", 0o644).
		AddFile("/etc/ssh/ssh_host_ed25519_key", "k", 0o600).
		AddFile("/home/a/.bash_history", "h", 0o600).
		AddFile("/home/b/.bash_history", "h", 0o600).
		AddFile("/home/b/notes", "n", 0o600).
		AddSymlink("/home/c", "/etc").
		AddSymlink("/home/loop", "/home/loop").
		AddFile("/home/file", "x", 0o644).
		AddFile("/lit/a*b", "star", 0o644).
		AddFile("/lit/axb", "x", 0o644)
}

func TestGlob(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"star matches within one component, sorted", "/var/cache/netdata/netdata-meta.db*", []string{
			"/var/cache/netdata/netdata-meta.db", "/var/cache/netdata/netdata-meta.db-dangling",
			"/var/cache/netdata/netdata-meta.db-link", "/var/cache/netdata/netdata-meta.db-shm",
			"/var/cache/netdata/netdata-meta.db-wal"}},
		{"a final symlink matches as itself, never followed", "/var/cache/netdata/*-link", []string{"/var/cache/netdata/netdata-meta.db-link"}},
		{"star does not match a leading period", "/var/cache/netdata/*meta.db", []string{
			"/var/cache/netdata/context-meta.db", "/var/cache/netdata/netdata-meta.db"}},
		{"a pattern starting with a period matches dotfiles", "/var/cache/netdata/.*", []string{"/var/cache/netdata/.hidden-meta.db"}},
		{"question mark matches one character", "/etc/ssh/ssh_host_???_key", []string{"/etc/ssh/ssh_host_rsa_key"}},
		{"bracket expression", "/etc/ssh/ssh_host_[er]*_key", []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"}},
		{"intermediate components are expanded and symlinked directories followed", "/home/*/.bash_history", []string{
			"/home/a/.bash_history", "/home/b/.bash_history"}},
		{"intermediate symlink to a directory is followed", "/home/*/passwd", []string{"/home/c/passwd"}},
		{"a literal path that exists", "/etc/passwd", []string{"/etc/passwd"}},
		{"a literal path that does not exist matches nothing", "/etc/shadow", nil},
		{"a dangling final symlink still matches", "/var/cache/netdata/netdata-meta.db-dangling", []string{"/var/cache/netdata/netdata-meta.db-dangling"}},
		{"missing directory matches nothing", "/nope/*", nil},
		{"a file as directory matches nothing", "/home/file/*", nil},
		{"a symlink loop as directory matches nothing", "/home/loop/*", nil},
		{"a backslash escapes a metacharacter", `/lit/a\*b`, []string{"/lit/a*b"}},
		{"the root", "/", []string{"/"}},
	}
	tr := globTree(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fs.Glob(tr, tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Glob(%q) = %q, want %q", tc.pattern, got, tc.want)
			}
		})
	}
}

func TestGlobErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    error
	}{
		{"a relative pattern is invalid", "etc/*", fs.ErrInvalid},
		{"a malformed bracket is a bad pattern", "/etc/[", path.ErrBadPattern},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fs.Glob(globTree(t), tc.pattern); !errors.Is(err, tc.want) {
				t.Fatalf("Glob(%q): err %v, want %v", tc.pattern, err, tc.want)
			}
		})
	}
}

func FuzzGlob(f *testing.F) {
	for _, s := range []string{"/var/cache/netdata/netdata-meta.db*", "/home/*/.bash_history", "/etc/[", `/lit/a\*b`, "/*/*/*", "/.*", "/home/loop/*"} {
		f.Add(s)
	}
	tr := globTree(f)
	f.Fuzz(func(t *testing.T, pattern string) {
		got, err := fs.Glob(tr, pattern)
		if err != nil {
			return
		}
		for i, p := range got {
			if !path.IsAbs(p) {
				t.Fatalf("Glob(%q) returned relative %q", pattern, p)
			}
			if i > 0 && got[i-1] >= p {
				t.Fatalf("Glob(%q) not sorted or has duplicates: %q", pattern, got)
			}
			if _, err := tr.Lstat(p); err != nil {
				t.Fatalf("Glob(%q) returned %q which does not exist: %v", pattern, p, err)
			}
		}
	})
}
