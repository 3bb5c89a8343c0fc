package ext4test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/fs"
)

// Snapshot returns the whole tree of the ext2/3/4 filesystem on dev (an
// oracle.Device name) as debugfs reads it: names and inode numbers from
// "ls -p", metadata from "stat", contents from "cat", symlink targets from
// "stat" (fast) or "dump" (slow and inline), xattrs from "ea_list" and
// "ea_get -f". Anything debugfs complains about fails the test.
//
// Regular files larger than DefaultMaxRead are not read (see Options):
// their SHA256 is NotRead(size) and their block map is recorded instead.
func Snapshot(tb testing.TB, dev string) Tree {
	tb.Helper()
	return SnapshotWith(tb, dev, Options{})
}

// SnapshotWith is Snapshot with options.
func SnapshotWith(tb testing.TB, dev string, opts Options) Tree {
	tb.Helper()
	maxRead := opts.maxRead()
	oracle.Require(tb, "debugfs")
	tmp := tb.TempDir()
	t := Tree{}
	type node struct {
		ino  uint64
		path string
	}
	inodes := map[uint64]*Entry{} // one record per inode, shared by its names
	var order []uint64

	// Names, level by level.
	level := []node{{2, "/"}}
	t["/"] = Entry{Path: "/", Ino: 2}
	for len(level) > 0 {
		cmds := make([]string, len(level))
		for i, n := range level {
			cmds[i] = fmt.Sprintf("ls -p <%d>", n.ino)
		}
		outs := batch(tb, dev, cmds, tmp)
		var next []node
		for i, n := range level {
			for _, line := range strings.Split(outs[i], "\n") {
				de, ok := parseLsP(line)
				if !ok {
					continue
				}
				if de.name == "." {
					if n.path == "/" {
						t["/"] = Entry{Path: "/", Ino: 2, Mode: de.mode, UID: de.uid, GID: de.gid}
					}
					continue
				}
				if de.name == ".." {
					continue
				}
				p := join(n.path, de.name)
				t[p] = Entry{Path: p, Ino: de.ino, Mode: de.mode, UID: de.uid, GID: de.gid}
				if de.mode&fs.ModeTypeMask == fs.ModeDir {
					next = append(next, node{de.ino, p})
				}
			}
		}
		level = next
	}
	for _, p := range t.Paths() {
		e := t[p]
		if _, ok := inodes[e.Ino]; !ok {
			c := e
			inodes[e.Ino] = &c
			order = append(order, e.Ino)
		}
	}

	// Metadata and xattr names of every inode.
	cmds := make([]string, 0, 2*len(order))
	for _, ino := range order {
		cmds = append(cmds, fmt.Sprintf("stat <%d>", ino), fmt.Sprintf("ea_list <%d>", ino))
	}
	outs := batch(tb, dev, cmds, tmp)
	xnames := map[uint64][]string{}
	for i, ino := range order {
		e := inodes[ino]
		if err := parseStat(e, outs[2*i]); err != nil {
			tb.Fatalf("debugfs stat <%d> (%s) on %s: %v\n%s", ino, e.Path, dev, err, outs[2*i])
		}
		for _, m := range eaName.FindAllStringSubmatch(outs[2*i+1], -1) {
			if m[1] != "system.data" {
				xnames[ino] = append(xnames[ino], m[1])
			}
		}
	}

	// Contents and slow symlink targets with "cat", which is much faster
	// than "dump" (one host file each); xattr values with "ea_get -f".
	cmds = cmds[:0]
	var cats []uint64
	for _, ino := range order {
		e := inodes[ino]
		if e.Type == fs.TypeRegular && e.Size == 0 {
			e.SHA256 = hex.EncodeToString(sha256.New().Sum(nil))
		} else if e.Type == fs.TypeRegular && e.Size > maxRead {
			e.SHA256 = NotRead(e.Size)
		} else if e.Type == fs.TypeRegular || (e.Type == fs.TypeSymlink && e.Target == "" && e.Size > 0) {
			cmds = append(cmds, fmt.Sprintf("cat <%d>", ino))
			cats = append(cats, ino)
		}
	}
	outs = batch(tb, dev, cmds, tmp)
	for i, ino := range cats {
		e := inodes[ino]
		// Take no more than stat's size: debugfs 1.47.0 prints 60 bytes
		// for some inline-data files.
		b := outs[i]
		if int64(len(b)) < e.Size {
			tb.Fatalf("debugfs cat <%d> (%s) on %s: %d bytes, stat says %d", ino, e.Path, dev, len(b), e.Size)
		}
		b = b[:e.Size]
		if e.Type == fs.TypeSymlink {
			e.Target = b
			continue
		}
		sum := sha256.Sum256([]byte(b))
		e.SHA256 = hex.EncodeToString(sum[:])
	}
	cmds = cmds[:0]
	type want struct {
		ino  uint64
		file string
		name string
	}
	var wants []want
	for _, ino := range order {
		for j, name := range xnames[ino] {
			f := filepath.Join(tmp, fmt.Sprintf("xattr-%d-%d", ino, j))
			cmds = append(cmds, fmt.Sprintf("ea_get -f %s <%d> %s", f, ino, name))
			wants = append(wants, want{ino, f, name})
		}
	}
	batch(tb, dev, cmds, tmp)
	for _, w := range wants {
		e := inodes[w.ino]
		v, err := os.ReadFile(w.file)
		if err != nil {
			tb.Fatalf("debugfs ea_get <%d> %s on %s: %v", w.ino, w.name, dev, err)
		}
		if e.Xattrs == nil {
			e.Xattrs = map[string]string{}
		}
		e.Xattrs[w.name] = string(v)
		os.Remove(w.file)
	}

	for p, e := range t {
		ie := *inodes[e.Ino]
		ie.Path = p
		ie.Mode, ie.UID, ie.GID = e.Mode, e.UID, e.GID
		if ie.Xattrs == nil {
			ie.Xattrs = map[string]string{}
		}
		t[p] = ie
	}
	return t
}

// batch runs cmds in one debugfs -f process (read-only) on dev and returns
// each request's output. Anything debugfs prints on stderr but its banner
// fails the test.
func batch(tb testing.TB, dev string, cmds []string, tmp string) []string {
	tb.Helper()
	outs := make([]string, len(cmds))
	if len(cmds) == 0 {
		return outs
	}
	f, err := os.CreateTemp(tmp, "cmds")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteString(strings.Join(cmds, "\n") + "\n"); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	defer os.Remove(f.Name())
	stdout, stderr, code := oracle.Run(tb, "debugfs", "-f", f.Name(), dev)
	if code != 0 {
		tb.Fatalf("debugfs -f on %s: exit %d: %s", dev, code, stderr)
	}
	var complaints []string
	for _, l := range strings.Split(stderr, "\n") {
		if l != "" && !strings.HasPrefix(l, "debugfs ") {
			complaints = append(complaints, l)
		}
	}
	if len(complaints) > 0 {
		tb.Fatalf("debugfs on %s complained:\n  %s", dev, strings.Join(complaints, "\n  "))
	}
	// debugfs -f echoes each request as "debugfs: REQUEST" before its output.
	pos := 0
	marks := make([]int, len(cmds))  // where each echo starts
	starts := make([]int, len(cmds)) // where each request's output starts
	for i, c := range cmds {
		marker := "debugfs: " + c + "\n"
		j := strings.Index(stdout[pos:], marker)
		if j < 0 {
			tb.Fatalf("debugfs on %s: no echo of request %q in its output", dev, c)
		}
		marks[i] = pos + j
		starts[i] = marks[i] + len(marker)
		pos = starts[i]
	}
	for i := range cmds {
		end := len(stdout)
		if i+1 < len(cmds) {
			end = marks[i+1]
		}
		outs[i] = stdout[starts[i]:end]
	}
	return outs
}

type lsEntry struct {
	ino            uint64
	mode, uid, gid uint32
	name           string
}

// parseLsP parses one line of "ls -p": /INO/MODE/UID/GID/NAME/SIZE/.
func parseLsP(line string) (lsEntry, bool) {
	if !strings.HasPrefix(line, "/") || !strings.HasSuffix(line, "/") {
		return lsEntry{}, false
	}
	f := strings.Split(line[1:len(line)-1], "/")
	if len(f) < 6 {
		return lsEntry{}, false
	}
	ino, err1 := strconv.ParseUint(f[0], 10, 64)
	mode, err2 := strconv.ParseUint(f[1], 8, 32)
	uid, err3 := strconv.ParseUint(f[2], 10, 32)
	gid, err4 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || ino == 0 {
		return lsEntry{}, false
	}
	name := strings.Join(f[4:len(f)-1], "/")
	return lsEntry{ino: ino, mode: uint32(mode), uid: uint32(uid), gid: uint32(gid), name: name}, true
}

var (
	statLinks = regexp.MustCompile(`(?m)^Links: (\d+)`)
	statSize  = regexp.MustCompile(`(?m)^User:.*\sSize: (\d+)`)
	statTime  = regexp.MustCompile(`(?m)^\s*(a|c|m)time: 0x([0-9a-f]+)(?::([0-9a-f]+))?`)
	statDev   = regexp.MustCompile(`(?m)^Device major/minor number: (\d+):(\d+)`)
	statFast  = regexp.MustCompile(`(?m)^Fast link dest: "(.*)"$`)
	statMap   = regexp.MustCompile(`(?m)^(BLOCKS|EXTENTS):`)
	eaName    = regexp.MustCompile(`(?m)^  (\S+) \((\d+)\)`)
)

// parseStat fills e from debugfs "stat" output. e.Mode must be set (from
// ls -p) for the type.
func parseStat(e *Entry, out string) error {
	e.Type = fs.TypeOfMode(e.Mode)
	m := statLinks.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no Links line")
	}
	n, _ := strconv.ParseUint(m[1], 10, 32)
	e.Nlink = uint32(n)
	if m = statSize.FindStringSubmatch(out); m == nil {
		return fmt.Errorf("no Size field")
	}
	e.Size, _ = strconv.ParseInt(m[1], 10, 64)
	for _, m := range statTime.FindAllStringSubmatch(out, -1) {
		sec, _ := strconv.ParseUint(m[2], 16, 32)
		var extra uint64
		if m[3] != "" {
			extra, _ = strconv.ParseUint(m[3], 16, 32)
		}
		t := DecodeTime(uint32(sec), uint32(extra))
		switch m[1] {
		case "a":
			e.Atime = t
		case "c":
			e.Ctime = t
		case "m":
			e.Mtime = t
		}
	}
	if e.Type == fs.TypeChar || e.Type == fs.TypeBlock {
		if m = statDev.FindStringSubmatch(out); m == nil {
			return fmt.Errorf("device node without a device number")
		}
		major, _ := strconv.ParseUint(m[1], 10, 32)
		minor, _ := strconv.ParseUint(m[2], 10, 32)
		e.Rdev = EncodeDev(uint32(major), uint32(minor))
	}
	if e.Type == fs.TypeSymlink {
		if m = statFast.FindStringSubmatch(out); m != nil {
			e.Target = m[1]
		}
	}
	if m := statMap.FindStringIndex(out); m != nil {
		e.BlockMap = strings.TrimSpace(out[m[0]:])
	}
	return nil
}

// DecodeTime turns an ext4 timestamp (32-bit seconds, and the extra field:
// two epoch bits and 30 bits of nanoseconds) into a time, as the kernel's
// ext4_decode_extra_time.
func DecodeTime(sec, extra uint32) time.Time {
	s := int64(int32(sec)) + int64(extra&3)<<32
	return time.Unix(s, int64(extra>>2)).UTC()
}

// EncodeDev is the kernel's new_encode_dev: the st_rdev value fs.Attr
// carries.
func EncodeDev(major, minor uint32) uint32 {
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}
