package customize

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Guest paths of --hostname and --timezone.
const (
	HostnamePath  = "/etc/hostname"
	HostsPath     = "/etc/hosts"
	LocaltimePath = "/etc/localtime"
	ZoneinfoDir   = "/usr/share/zoneinfo"
)

func (r *run) hostname() error {
	name := r.step.Arg
	if err := r.write(HostnamePath, []byte(name+"\n"), 0o644); err != nil {
		return err
	}
	old, ok, err := r.readRegular(HostsPath)
	if err != nil || !ok {
		return err
	}
	want := "127.0.1.1\t" + name
	if short, _, dotted := strings.Cut(name, "."); dotted {
		want += " " + short
	}
	next, detail := SetLoopbackName(old, want)
	if bytes.Equal(old, next) {
		return nil
	}
	if err := r.g.WriteFile(HostsPath, next, fs.WriteOptions{}); err != nil {
		return fmt.Errorf("writing %s: %w", HostsPath, err)
	}
	return r.record(HostsPath, ops.Edited, detail)
}

// SetLoopbackName replaces the lines of an /etc/hosts whose address is
// 127.0.1.1 with line, or appends line when there is none.
func SetLoopbackName(hosts []byte, line string) (out []byte, detail string) {
	var b bytes.Buffer
	found := false
	for rest := hosts; len(rest) > 0; {
		l := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l = rest[:i+1]
		}
		rest = rest[len(l):]
		f := strings.Fields(string(l))
		if len(f) > 0 && f[0] == "127.0.1.1" {
			if !found {
				b.WriteString(line + "\n")
			}
			found = true
			continue
		}
		b.Write(l)
	}
	if found {
		return b.Bytes(), "127.0.1.1 line set"
	}
	if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	b.WriteString(line + "\n")
	return b.Bytes(), "127.0.1.1 line added"
}

func (r *run) upload() error {
	dst := r.step.path
	if a, err := r.g.Stat(dst); err == nil && a.Type() == fs.TypeDir {
		dst = path.Join(dst, path.Base(r.step.target))
	}
	return r.write(dst, r.step.data, r.step.mode)
}

func (r *run) delete() error {
	matches, err := fs.Glob(r.g, r.step.path)
	if err != nil {
		return err
	}
	for _, m := range matches {
		a, ok, err := r.lstat(m)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if m == "/" {
			return fmt.Errorf("refusing to delete the guest's root: %w", fs.ErrInvalid)
		}
		where, err := r.g.Where(m)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if a.Type() == fs.TypeDir {
			err = r.g.RemoveAll(m)
		} else {
			err = r.g.Remove(m)
		}
		if err != nil {
			return fmt.Errorf("removing %s: %w", m, err)
		}
		r.changes = append(r.changes, ops.Change{Path: m, Action: ops.Removed, Filesystem: where})
	}
	return nil
}

func (r *run) truncate() error {
	p := r.step.path
	a, ok, err := r.lstat(p)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%s: %w", p, ErrNotFound)
	case a.Type() == fs.TypeSymlink:
		return fmt.Errorf("%s: %w", p, ErrSymlink)
	case a.Type() != fs.TypeRegular:
		return fmt.Errorf("%s: %w", p, ErrNotRegular)
	}
	return r.truncateFile(p, a)
}

func (r *run) truncateFile(p string, a fs.Attr) error {
	if a.Size == 0 {
		return nil
	}
	if err := r.g.Truncate(p, 0); err != nil {
		return fmt.Errorf("truncating %s: %w", p, err)
	}
	return r.record(p, ops.Truncated, "")
}

func (r *run) truncateRecursive() error {
	root := r.step.path
	a, err := r.g.Stat(root)
	if err != nil {
		return fmt.Errorf("%s: %w", root, ErrNotFound)
	}
	if a.Type() == fs.TypeRegular {
		return r.truncateFile(root, a)
	}
	todo := []string{root}
	n := 0
	for len(todo) > 0 {
		d := todo[0]
		todo = todo[1:]
		ents, err := r.g.ReadDir(d)
		if err != nil {
			return fmt.Errorf("reading %s: %w", d, err)
		}
		for _, e := range ents {
			if n++; n > maxWalk {
				return fmt.Errorf("%s: over %d entries: %w", root, maxWalk, fs.ErrInvalid)
			}
			p := path.Join(d, e.Name)
			ea, err := r.g.Lstat(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			switch ea.Type() {
			case fs.TypeDir:
				todo = append(todo, p)
			case fs.TypeRegular:
				if err := r.truncateFile(p, ea); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (r *run) mkdir() error { return r.mkdirAll(r.step.path) }

// mkdirAll creates p and its missing parents (mode 0755, root's), as
// mkdir -p.
func (r *run) mkdirAll(p string) error {
	cur := "/"
	for _, c := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if c == "" {
			continue
		}
		cur = path.Join(cur, c)
		a, err := r.g.Stat(cur)
		if err == nil {
			if a.Type() != fs.TypeDir {
				return fmt.Errorf("%s: %w", cur, fs.ErrNotDir)
			}
			continue
		}
		if err := r.g.Mkdir(cur, 0o755, fs.Owner{}); err != nil {
			return fmt.Errorf("creating %s: %w", cur, err)
		}
		if err := r.record(cur, ops.Created, ""); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) chmod() error {
	p := r.step.path
	a, err := r.g.Stat(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if a.Perm() == r.step.mode {
		return nil
	}
	if err := r.g.Chmod(p, r.step.mode); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	return r.record(p, ops.Edited, fmt.Sprintf("mode %04o", r.step.mode))
}

// symlink makes link a symlink to target, replacing a non-directory there
// (ln -sf).
func (r *run) symlink(target, link string) error {
	a, ok, err := r.lstat(link)
	if err != nil {
		return err
	}
	action := ops.Created
	if ok {
		if a.Type() == fs.TypeDir {
			return fmt.Errorf("%s: %w", link, fs.ErrIsDir)
		}
		if a.Type() == fs.TypeSymlink {
			if cur, err := r.g.Readlink(link); err == nil && cur == target {
				return nil
			}
		}
		if err := r.g.Remove(link); err != nil {
			return fmt.Errorf("replacing %s: %w", link, err)
		}
		action = ops.Written
	} else if err := r.parentDir(link); err != nil {
		return err
	}
	if err := r.g.Symlink(target, link, fs.Owner{}); err != nil {
		return fmt.Errorf("symlink %s: %w", link, err)
	}
	return r.record(link, action, "-> "+target)
}

func (r *run) link() error {
	for _, l := range r.step.links {
		if err := r.symlink(r.step.target, path.Clean(l)); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) touch() error {
	p := r.step.path
	_, ok, err := r.lstat(p)
	if err != nil {
		return err
	}
	if !ok {
		if err := r.parentDir(p); err != nil {
			return err
		}
		if err := r.g.WriteFile(p, nil, fs.WriteOptions{Perm: 0o644}); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
		return r.record(p, ops.Created, "")
	}
	now := r.now()
	if err := r.g.Utimes(p, fs.Times{Atime: now, Mtime: now}); err != nil {
		return fmt.Errorf("touching %s: %w", p, err)
	}
	return r.record(p, ops.Edited, "times")
}

func (r *run) appendLine() error {
	p := r.step.path
	old, ok, err := r.readRegular(p)
	if err != nil {
		return err
	}
	if !ok {
		return r.write(p, []byte(r.step.content+"\n"), 0o644)
	}
	next := append([]byte(nil), old...)
	if len(next) > 0 && next[len(next)-1] != '\n' {
		next = append(next, '\n')
	}
	next = append(next, r.step.content+"\n"...)
	if err := r.g.WriteFile(p, next, fs.WriteOptions{}); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return r.record(p, ops.Edited, "line appended")
}

func (r *run) timezone() error {
	zone := path.Join(ZoneinfoDir, r.step.Arg)
	a, err := r.g.Stat(zone)
	if err != nil || a.Type() != fs.TypeRegular {
		return fmt.Errorf("%s: %w (is tzdata installed?)", zone, ErrNotFound)
	}
	return r.symlink(zone, LocaltimePath)
}
