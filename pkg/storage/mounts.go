package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrMounted means the image, or a partition of it, or a loop device
// backed by it, is mounted on this host: writing it under the kernel's
// feet would corrupt the filesystem.
var ErrMounted = errors.New("storage: image is mounted on this host")

// Mount is one mount of a block device, from /proc/self/mountinfo.
type Mount struct {
	Device string // the mounted device: "/dev/loop0p1" (the mount source) or "259:1"
	Dir    string // where it is mounted
}

// MountError names where an image is mounted. It matches ErrMounted.
type MountError struct {
	Name   string
	Mounts []Mount
}

func (e *MountError) Error() string {
	var parts []string
	for _, m := range e.Mounts {
		parts = append(parts, m.Device+" at "+m.Dir)
	}
	return "refusing to write " + e.Name + ": it is mounted on this host (" + strings.Join(parts, ", ") + "); unmount it first"
}

// Unwrap returns ErrMounted.
func (e *MountError) Unwrap() error { return ErrMounted }

// sysfs and procfs roots; a field of a value type (no global state) would
// be overkill: these are the kernel's fixed paths.
const (
	mountInfoPath = "/proc/self/mountinfo"
	sysDevBlock   = "/sys/dev/block"
	sysBlock      = "/sys/block"
)

// MountsOf returns the mounts of the open file: for a block device, of
// the device and of its partitions; for a regular file, of every loop
// device backed by it and of their partitions. Nothing mounted is an
// empty list.
func (o *OSFile) MountsOf() ([]Mount, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(o.f.Fd()), &st); err != nil {
		return nil, err
	}
	return mountsOfStat(&st)
}

// MountsOfPath is MountsOf for the file at path, without opening it.
func MountsOfPath(path string) ([]Mount, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, err
	}
	return mountsOfStat(&st)
}

func mountsOfStat(st *unix.Stat_t) ([]Mount, error) {
	var devs []uint64
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		devs = withPartitions(uint64(st.Rdev))
	case unix.S_IFREG:
		for _, d := range loopsBackedBy(st) {
			devs = append(devs, withPartitions(d)...)
		}
	}
	if len(devs) == 0 {
		return nil, nil
	}
	return mountsOfDevs(devs)
}

// checkMounted returns a *MountError when the file is mounted.
func (o *OSFile) checkMounted() error {
	ms, err := o.MountsOf()
	if err != nil {
		return &PathError{Op: "check mounts of", Name: o.name, Err: err}
	}
	if len(ms) > 0 {
		return &MountError{Name: o.name, Mounts: ms}
	}
	return nil
}

func devName(d uint64) string {
	return strconv.FormatUint(uint64(unix.Major(d)), 10) + ":" + strconv.FormatUint(uint64(unix.Minor(d)), 10)
}

// withPartitions returns d and the device numbers of its partitions, as
// sysfs lists them (/sys/dev/block/M:m/<part>/dev).
func withPartitions(d uint64) []uint64 {
	out := []uint64{d}
	dir := filepath.Join(sysDevBlock, devName(d))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "dev"))
		if err != nil {
			continue
		}
		var maj, mnr uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &maj, &mnr); err == nil {
			out = append(out, unix.Mkdev(maj, mnr))
		}
	}
	return out
}

// loopsBackedBy returns the loop devices whose backing file is the file
// st describes (same device and inode).
func loopsBackedBy(st *unix.Stat_t) []uint64 {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "loop", "backing_file"))
		if err != nil {
			continue
		}
		var bst unix.Stat_t
		if unix.Stat(strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)"), &bst) != nil || bst.Dev != st.Dev || bst.Ino != st.Ino {
			continue
		}
		db, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "dev"))
		if err != nil {
			continue
		}
		var maj, mnr uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(db)), "%d:%d", &maj, &mnr); err == nil {
			out = append(out, unix.Mkdev(maj, mnr))
		}
	}
	return out
}

// mountsOfDevs reads /proc/self/mountinfo for mounts of any of devs.
func mountsOfDevs(devs []uint64) ([]Mount, error) {
	b, err := os.ReadFile(mountInfoPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, d := range devs {
		want[devName(d)] = true
	}
	return parseMountInfo(b, want), nil
}

// parseMountInfo returns the mounts in mountinfo text b whose major:minor
// is in want. Lines it cannot read are skipped.
func parseMountInfo(b []byte, want map[string]bool) []Mount {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		f := strings.Fields(sc.Text())
		if len(f) < 10 || !want[f[2]] {
			continue
		}
		m := Mount{Device: f[2], Dir: unescapeMount(f[4])}
		for i := 6; i+2 < len(f); i++ {
			if f[i] == "-" {
				m.Device = unescapeMount(f[i+2])
				break
			}
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
