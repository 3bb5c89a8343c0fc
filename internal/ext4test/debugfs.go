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
// "stat" (fast) or "cat" (slow and inline), xattrs from "ea_list" and
// "ea_get -f". Anything debugfs complains about fails the test.
//
// Regular files larger than DefaultMaxRead are not read (see Options):
// their SHA256 is NotRead and their block map is recorded instead.
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

	// Requests go out in rounds, one debugfs -f process per round; a
	// handler may queue requests for the next round. A directory listed in
	// round k has its entries' stat, xattr names and contents fetched in
	// round k+1, along with the listings of its subdirectories.
	type request struct {
		cmd    string
		handle func(out string)
	}
	var queue []request
	ask := func(cmd string, handle func(string)) { queue = append(queue, request{cmd, handle}) }

	names := map[string]uint64{}  // path -> inode
	inodes := map[uint64]*Entry{} // one record per inode, shared by its names
	var fetch func(e *Entry)      // queues stat, xattrs and contents of a new inode
	var list func(ino uint64, dir string)
	list = func(ino uint64, dir string) {
		ask(fmt.Sprintf("ls -p <%d>", ino), func(out string) {
			for _, line := range strings.Split(out, "\n") {
				de, ok := parseLsP(line)
				if !ok || de.name == ".." {
					continue
				}
				if de.name == "." {
					if dir == "/" {
						r := inodes[2]
						r.Mode, r.UID, r.GID = de.mode, de.uid, de.gid
					}
					continue
				}
				p := join(dir, de.name)
				names[p] = de.ino
				if _, seen := inodes[de.ino]; seen {
					continue
				}
				e := &Entry{Ino: de.ino, Mode: de.mode, UID: de.uid, GID: de.gid, Size: de.size}
				inodes[de.ino] = e
				fetch(e)
				if de.mode&fs.ModeTypeMask == fs.ModeDir {
					list(de.ino, p)
				}
			}
		})
	}
	fetch = func(e *Entry) {
		ask(fmt.Sprintf("stat <%d>", e.Ino), func(out string) {
			lsSize := e.Size
			if err := parseStat(e, out); err != nil {
				tb.Fatalf("debugfs stat <%d> on %s: %v\n%s", e.Ino, dev, err, out)
			}
			if e.Type == fs.TypeRegular && e.Size != lsSize {
				tb.Fatalf("debugfs on %s: inode %d has size %d in ls -p, %d in stat", dev, e.Ino, lsSize, e.Size)
			}
			if e.Type == fs.TypeSymlink && e.Target == "" && e.Size > 0 {
				ask(fmt.Sprintf("cat <%d>", e.Ino), func(out string) { e.Target = catBytes(tb, dev, e, out) })
			}
		})
		ask(fmt.Sprintf("ea_list <%d>", e.Ino), func(out string) {
			for i, m := range eaName.FindAllStringSubmatch(out, -1) {
				name := m[1]
				if name == "system.data" {
					continue
				}
				f := filepath.Join(tmp, fmt.Sprintf("xattr-%d-%d", e.Ino, i))
				ask(fmt.Sprintf("ea_get -f %s <%d> %s", f, e.Ino, name), func(string) {
					v, err := os.ReadFile(f)
					if err != nil {
						tb.Fatalf("debugfs ea_get <%d> %s on %s: %v", e.Ino, name, dev, err)
					}
					os.Remove(f)
					e.Xattrs[name] = string(v)
				})
			}
		})
		e.Xattrs = map[string]string{}
		if e.Mode&fs.ModeTypeMask != fs.ModeRegular {
			return
		}
		switch {
		case e.Size == 0:
			e.SHA256 = hex.EncodeToString(sha256.New().Sum(nil))
		case e.Size > maxRead:
			e.SHA256 = NotRead
		default:
			ask(fmt.Sprintf("cat <%d>", e.Ino), func(out string) {
				sum := sha256.Sum256([]byte(catBytes(tb, dev, e, out)))
				e.SHA256 = hex.EncodeToString(sum[:])
			})
		}
	}

	inodes[2] = &Entry{Ino: 2, Mode: fs.ModeDir}
	names["/"] = 2
	list(2, "/")
	fetch(inodes[2])
	for len(queue) > 0 {
		round := queue
		queue = nil
		cmds := make([]string, len(round))
		for i, r := range round {
			cmds[i] = r.cmd
		}
		outs := batch(tb, dev, cmds, tmp)
		for i, r := range round {
			r.handle(outs[i])
		}
	}

	t := Tree{}
	for p, ino := range names {
		e := *inodes[ino]
		e.Path = p
		t[p] = e
	}
	return t
}

// catBytes returns what debugfs cat printed for e, checked against and
// cut to stat's size: debugfs 1.47.0 prints 60 bytes for some inline-data
// files.
func catBytes(tb testing.TB, dev string, e *Entry, out string) string {
	tb.Helper()
	if int64(len(out)) < e.Size {
		tb.Fatalf("debugfs cat <%d> on %s: %d bytes, stat says %d", e.Ino, dev, len(out), e.Size)
	}
	return out[:e.Size]
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
	size           int64 // 0 for directories
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
	size, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	return lsEntry{ino: ino, mode: uint32(mode), uid: uint32(uid), gid: uint32(gid), name: name, size: size}, true
}

var (
	statLinks = regexp.MustCompile(`(?m)^Links: (\d+)`)
	statSize  = regexp.MustCompile(`(?m)^User:.*\sSize: (\d+)`)
	statTime  = regexp.MustCompile(`(?m)^\s*(a|c|m|cr)time: 0x([0-9a-f]+)(?::([0-9a-f]+))?`)
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
		case "cr":
			e.Crtime = t
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
