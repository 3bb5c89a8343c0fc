package guest

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Mount is one filesystem of a guest and where the guest mounts it.
type Mount struct {
	Point string      // "/", "/var", "/boot/efi"
	FS    *Filesystem // never nil
	Spec  string      // the fstab source that named it ("UUID=…"); "" for a root fstab does not name
	// Root is the directory of FS that appears at Point: "/" for a
	// filesystem, the source's directory for a bind mount.
	Root string
	// Bind is the canonical guest path a bind mount (fstab option bind
	// or rbind) shows at Point; "" for a filesystem.
	Bind string
	line int // the fstab line; 0 for the root
}

// Unmounted is an fstab entry the guest does not mount at boot: a
// noauto filesystem (without x-systemd.automount), or a bind mount whose
// source is missing. Paths under Point are those of the filesystem below.
type Unmounted struct {
	Point  string
	Spec   string
	Reason string // "noauto: not mounted at boot"
}

// Unresolved is an fstab entry whose source names no filesystem on this
// disk (another disk, LVM, a missing partition). Paths under Point fail
// with ErrUnresolvedMount.
type Unresolved struct {
	Point  string
	Spec   string
	Type   string // fs_vfstype
	Reason string // "no filesystem with UUID=…", "2 filesystems have LABEL=data"
}

// Guest is one guest operating system on the disk: a root filesystem and
// the filesystems its /etc/fstab mounts. Its methods address guest paths
// and implement ops.Guest. It is not safe for concurrent use (the
// filesystem engines are not), and every change to its filesystems must
// go through it.
type Guest struct {
	// Tree gives the path operations (fs.ReadTree, fs.WriteTree) on guest
	// paths, resolved by the walker of pkg/fs across the mounts.
	fs.Tree

	root       *Filesystem
	mounts     []Mount // resolved, root first, by depth then point
	unresolved []Unresolved
	unmounted  []Unmounted
	fstab      *Fstab
	osRelease  map[string]string
	layout     *Layout
}

// Root returns the root filesystem.
func (g *Guest) Root() *Filesystem { return g.root }

// Mounts returns the guest's mounted filesystems, root first, sorted by
// depth (then by mount point).
func (g *Guest) Mounts() []Mount { return append([]Mount(nil), g.mounts...) }

// Unresolved returns the fstab entries naming nothing on this disk.
func (g *Guest) Unresolved() []Unresolved { return append([]Unresolved(nil), g.unresolved...) }

// Unmounted returns the fstab entries the guest does not mount at boot.
func (g *Guest) Unmounted() []Unmounted { return append([]Unmounted(nil), g.unmounted...) }

// Fstab returns the guest's parsed /etc/fstab.
func (g *Guest) Fstab() *Fstab { return g.fstab }

// OSRelease returns the guest's os-release fields (ID, VERSION_ID, ...).
func (g *Guest) OSRelease() map[string]string {
	m := make(map[string]string, len(g.osRelease))
	for k, v := range g.osRelease {
		m[k] = v
	}
	return m
}

// Sync writes every pending change of every writable filesystem the guest
// mounts, and returns the first error.
func (g *Guest) Sync() error {
	var first error
	seen := map[*Filesystem]bool{}
	for _, m := range g.mounts {
		if seen[m.FS] || !m.FS.Writable {
			continue
		}
		seen[m.FS] = true
		w, ok := m.FS.FS.(fs.WritableFS)
		if !ok {
			continue
		}
		if err := w.Sync(); err != nil && first == nil {
			first = fmt.Errorf("syncing %s (%s): %w", m.FS.Desc(), m.Point, err)
		}
	}
	return first
}

// Guests finds every guest root on the disk (a filesystem holding
// /etc/fstab and, through the assembled guest, an os-release) and
// assembles each from its fstab. It fails with ErrNoGuest when there is
// none, naming what was found instead.
func (l *Layout) Guests() ([]*Guest, error) {
	var guests []*Guest
	var why []string
	for _, f := range l.Filesystems {
		if f.FS == nil {
			if f.Type != "" {
				r := f.Why
				if f.Err != nil {
					r = f.Err.Error()
				}
				why = append(why, f.Desc()+" ("+r+")")
			}
			continue
		}
		for _, root := range l.rootCandidates(f) {
			g, err := l.assemble(root)
			if err != nil {
				if errors.Is(err, errNotRoot) {
					why = append(why, root.Desc()+" ("+err.Error()+")")
					continue
				}
				return nil, err
			}
			guests = append(guests, g)
		}
	}
	if len(guests) == 0 {
		if len(why) == 0 {
			return nil, fmt.Errorf("%w: no filesystem found", ErrNoGuest)
		}
		return nil, fmt.Errorf("%w (a filesystem with /etc/fstab and an os-release); found %s", ErrNoGuest, strings.Join(why, "; "))
	}
	return guests, nil
}

var errNotRoot = errors.New("not a guest root")

// assemble builds the guest whose root is root.
func (l *Layout) assemble(root *Filesystem) (*Guest, error) {
	data, err := readConfig(root.FS, "/etc/fstab")
	if missing(err) {
		return nil, fmt.Errorf("%w: no /etc/fstab", errNotRoot)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root.Desc(), err)
	}
	tab, err := ParseFstab(data)
	if err != nil {
		return nil, fmt.Errorf("%s: /etc/fstab: %w", root.Desc(), err)
	}
	g := &Guest{root: root, fstab: tab, layout: l}
	g.initTree()
	points := map[string]int{} // mount point -> index in g.mounts or ^index in g.unresolved
	g.mounts = append(g.mounts, Mount{Point: "/", FS: root, Root: "/"})
	points["/"] = 0
	var binds []FstabEntry
	for _, e := range tab.Entries {
		if isBind(e) {
			binds = append(binds, e)
			continue
		}
		if skipFstabEntry(e) {
			continue
		}
		point := path.Clean(e.File)
		if point == "/" {
			if !l.rootSubvolMatches(root, e) {
				return nil, fmt.Errorf("%w: its /etc/fstab mounts / from another btrfs subvolume (%s)", errNotRoot, e.MntOps)
			}
			g.mounts[0].Spec = e.Spec
			continue
		}
		if notAtBoot(e) {
			g.unmounted = append(g.unmounted, Unmounted{Point: point, Spec: e.Spec, Reason: noautoReason})
			continue
		}
		f, reason := l.resolveSpec(e.Spec)
		if f != nil && f.Type == TypeBtrfs {
			f, reason = l.btrfsSubvol(f, e)
		}
		if i, ok := points[point]; ok { // a later entry mounts over an earlier one
			if i >= 0 {
				g.mounts = append(g.mounts[:i], g.mounts[i+1:]...)
			} else {
				g.unresolved = append(g.unresolved[:^i], g.unresolved[^i+1:]...)
			}
			points = reindex(g)
		}
		if f == nil {
			g.unresolved = append(g.unresolved, Unresolved{Point: point, Spec: e.Spec, Type: e.VFSType, Reason: reason})
			points[point] = ^(len(g.unresolved) - 1)
			continue
		}
		g.mounts = append(g.mounts, Mount{Point: point, FS: f, Spec: e.Spec, Root: "/", line: e.Line})
		points[point] = len(g.mounts) - 1
	}
	sortMounts(g.mounts)
	g.canonicalizeMountPoints()
	for _, e := range binds {
		g.bind(e)
	}
	for _, p := range osReleasePaths {
		data, err := readConfig(g, p)
		if missing(err) {
			continue
		}
		if errors.Is(err, ErrUnsupportedFS) || errors.Is(err, ErrUnresolvedMount) {
			// os-release lies on a filesystem imgprep cannot read (an xfs
			// /usr): still a guest, of unknown release.
			g.osRelease = map[string]string{}
			return g, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", root.Desc(), err)
		}
		g.osRelease, err = ParseOSRelease(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", root.Desc(), p, err)
		}
		return g, nil
	}
	return nil, fmt.Errorf("%w: /etc/fstab but no os-release", errNotRoot)
}

// sortMounts orders mounts root first, then by depth and mount point;
// entries for the same point keep their fstab order.
func sortMounts(ms []Mount) {
	sort.SliceStable(ms, func(i, j int) bool {
		di, dj := depth(ms[i].Point), depth(ms[j].Point)
		if di != dj {
			return di < dj
		}
		return ms[i].Point < ms[j].Point
	})
}

// canonicalizeMountPoints resolves each mount point inside the guest
// assembled from the mounts above it, as mount(8) canonicalizes its
// target: a mount on /var/run, where /var/run -> /run, lands on /run. A
// point that does not resolve (a missing directory, an unsupported
// filesystem on the way) is kept as written. When two mounts end on the
// same point, the later one in fstab order hides the earlier.
func (g *Guest) canonicalizeMountPoints() {
	full := g.mounts
	for i := 1; i < len(full); i++ {
		g.mounts = full[:i]
		if t, err := g.resolve(full[i].Point, true); err == nil && t.guestPath != "/" {
			full[i].Point = t.guestPath
		}
	}
	last := map[string]int{}
	for i, m := range full {
		last[m.Point] = i
	}
	kept := full[:0]
	for i, m := range full {
		if last[m.Point] == i {
			kept = append(kept, m)
		}
	}
	g.mounts = kept
	sortMounts(g.mounts)
}

// readConfig reads a small configuration file, refusing one larger than
// MaxConfigSize before reading it.
func readConfig(t fs.ReadTree, p string) ([]byte, error) {
	f, err := t.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Size() > MaxConfigSize {
		return nil, fmt.Errorf("%s: %w: %d bytes (at most %d)", p, ErrTooLarge, f.Size(), MaxConfigSize)
	}
	b := make([]byte, f.Size())
	if n, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

// missing reports errors meaning a configuration file is not there (or
// not a file): it does not exist, a directory on the way is not one, a
// symlink loops, or it is a directory.
func missing(err error) bool {
	return fs.IsAbsent(err) || errors.Is(err, fs.ErrIsDir)
}

func reindex(g *Guest) map[string]int {
	m := map[string]int{}
	for i, mt := range g.mounts {
		m[mt.Point] = i
	}
	for i, u := range g.unresolved {
		m[u.Point] = ^i
	}
	return m
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// Filesystem types that live in memory or on the network: an fstab line
// with one of them mounts nothing from this disk.
var skippedVFSTypes = map[string]bool{
	"swap": true, "none": true, "ignore": true,
	"proc": true, "sysfs": true, "tmpfs": true, "devtmpfs": true, "devpts": true, "ramfs": true,
	"cgroup": true, "cgroup2": true, "securityfs": true, "debugfs": true, "tracefs": true,
	"configfs": true, "pstore": true, "efivarfs": true, "mqueue": true, "hugetlbfs": true,
	"binfmt_misc": true, "autofs": true, "fusectl": true, "bpf": true, "rpc_pipefs": true,
	"nfsd": true, "usbfs": true, "overlay": true, "squashfs": true, "iso9660": true, "udf": true,
	"nfs": true, "nfs4": true, "cifs": true, "smbfs": true, "smb3": true, "ncpfs": true,
	"sshfs": true, "fuse.sshfs": true, "glusterfs": true, "ceph": true, "9p": true,
	"davfs": true, "fuse.s3fs": true, "virtiofs": true, "afs": true, "lustre": true,
}

// skipFstabEntry reports whether an fstab entry mounts no filesystem from
// this disk: swap, bind mounts (assemble takes those apart, see bind),
// pseudo and network filesystems, and entries whose mount point is not an
// absolute path ("none", "swap").
func skipFstabEntry(e FstabEntry) bool {
	if !strings.HasPrefix(e.File, "/") || skippedVFSTypes[e.VFSType] {
		return true
	}
	if e.HasOption("bind") || e.HasOption("rbind") {
		return true
	}
	// "server:/export" and "//server/share" are network sources whatever
	// the type says.
	_, _, tagged := splitTag(e.Spec)
	if strings.HasPrefix(e.Spec, "//") || (!tagged && strings.Contains(e.Spec, ":") && !strings.HasPrefix(e.Spec, "/")) {
		return true
	}
	return false
}
