package guest

import (
	"errors"
	"path"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// Reasons an fstab entry is not mounted at boot.
const (
	noautoReason     = "noauto: not mounted at boot"
	bindMissingWhy   = "bind source missing: the guest's mount fails at boot"
	bindRelativeWhy  = "bind source is not an absolute path"
	automountOption  = "x-systemd.automount"
	bindOption       = "bind"
	recursiveBindOpt = "rbind"
)

// isBind reports whether an fstab entry is a bind mount (mount(8)'s
// bind or rbind option), whatever its type field says ("none", "auto").
func isBind(e FstabEntry) bool {
	return strings.HasPrefix(e.File, "/") && (e.HasOption(bindOption) || e.HasOption(recursiveBindOpt))
}

// notAtBoot reports whether systemd leaves an entry unmounted at boot:
// noauto, unless x-systemd.automount mounts it at first access. Other
// x-systemd.* options (timeouts, dependencies, growfs...) do not change
// what is mounted and are ignored.
func notAtBoot(e FstabEntry) bool {
	return e.HasOption("noauto") && !e.HasOption(automountOption)
}

// bind adds the bind mount of fstab entry e, as systemd mounts it: its
// source resolved in the guest as mounted so far (systemd orders a bind
// after the mounts of its source, RequiresMountsFor=), over whatever an
// earlier fstab line mounted at the same point. A source on a filesystem
// imgprep cannot read, or not on this disk, makes the point unreadable
// likewise; a missing source leaves the point unmounted, as the guest's
// failed mount would.
func (g *Guest) bind(e FstabEntry) {
	point := path.Clean(e.File)
	if notAtBoot(e) {
		g.unmounted = append(g.unmounted, Unmounted{Point: point, Spec: e.Spec, Reason: noautoReason})
		return
	}
	if !strings.HasPrefix(e.Spec, "/") {
		g.unmounted = append(g.unmounted, Unmounted{Point: point, Spec: e.Spec, Reason: bindRelativeWhy})
		return
	}
	if t, err := g.resolve(point, true); err == nil {
		point = t.guestPath
	}
	src, err := g.resolve(path.Clean(e.Spec), true)
	var ue *UnsupportedError
	var re *UnresolvedError
	switch {
	case err == nil && src.offDisk != nil:
		g.replaceMount(point, e.Line)
		u := *src.offDisk
		u.Point, u.Spec = point, e.Spec
		u.Reason = "bind of " + src.guestPath + ", " + u.Reason
		g.unresolved = append(g.unresolved, u)
		return
	case errors.As(err, &re):
		g.replaceMount(point, e.Line)
		u := re.Unresolved
		u.Point, u.Spec = point, e.Spec
		u.Reason = "bind of " + path.Clean(e.Spec) + ", " + u.Reason
		g.unresolved = append(g.unresolved, u)
		return
	case errors.As(err, &ue):
		m, _ := g.mountAt(path.Clean(e.Spec))
		g.replaceMount(point, e.Line)
		g.mounts = append(g.mounts, Mount{Point: point, FS: m.FS, Spec: e.Spec, Root: "/", Bind: path.Clean(e.Spec), line: e.Line})
		sortMounts(g.mounts)
		return
	case err != nil:
		g.unmounted = append(g.unmounted, Unmounted{Point: point, Spec: e.Spec, Reason: "bind source: " + err.Error()})
		return
	}
	if _, lerr := src.fs.FS.Lstat(src.inner); errors.Is(lerr, fs.ErrNotExist) {
		g.unmounted = append(g.unmounted, Unmounted{Point: point, Spec: e.Spec, Reason: bindMissingWhy})
		return
	}
	if !g.replaceMount(point, e.Line) {
		return // a later fstab line mounts a filesystem there
	}
	added := []Mount{{Point: point, FS: src.fs, Spec: e.Spec, Root: src.inner, Bind: src.guestPath, line: e.Line}}
	if e.HasOption(recursiveBindOpt) {
		// rbind brings the mounts below the source along.
		for _, m := range g.mounts {
			if m.Point != src.guestPath && m.Point != "/" && under(m.Point, src.guestPath) {
				m.Point = joinPath(point, strings.TrimPrefix(m.Point, src.guestPath+"/"))
				m.line = e.Line
				added = append(added, m)
			}
		}
	}
	g.mounts = append(g.mounts, added...)
	sortMounts(g.mounts)
}

// replaceMount drops what is mounted at point by an fstab line before
// line, and reports whether the point is free for line: false when a
// later line mounts there (the later line wins, as for two filesystems).
func (g *Guest) replaceMount(point string, line int) bool {
	kept := g.mounts[:0]
	free := true
	for _, m := range g.mounts {
		if m.Point == point && m.Point != "/" {
			if m.line > line {
				free = false
			} else {
				continue
			}
		}
		kept = append(kept, m)
	}
	g.mounts = kept
	if !free {
		return false
	}
	ukept := g.unresolved[:0]
	for _, u := range g.unresolved {
		if u.Point != point {
			ukept = append(ukept, u)
		}
	}
	g.unresolved = ukept
	return true
}
