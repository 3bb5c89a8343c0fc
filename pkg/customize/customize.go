package customize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Errors. Parse's are usage errors; Apply's name the path and the reason.
var (
	ErrSyntax     = errors.New("customize: invalid argument")
	ErrUnknown    = errors.New("customize: unknown customization")
	ErrNotFound   = errors.New("customize: no such file in the guest")
	ErrSymlink    = errors.New("customize: refusing to write through a symlink")
	ErrNotRegular = errors.New("customize: not a regular file")
	ErrNoGuestDir = errors.New("customize: the guest has no such directory")
	ErrNoUser     = errors.New("customize: no such user in the guest")
)

// Kinds, named after their options.
const (
	Hostname          = "hostname"
	Write             = "write"
	Upload            = "upload"
	Delete            = "delete"
	Truncate          = "truncate"
	TruncateRecursive = "truncate-recursive"
	Mkdir             = "mkdir"
	Chmod             = "chmod"
	Link              = "link"
	Touch             = "touch"
	AppendLine        = "append-line"
	Timezone          = "timezone"
	RootPassword      = "root-password"
	Password          = "password"
	SSHInject         = "ssh-inject"
	Firstboot         = "firstboot"
	FirstbootCommand  = "firstboot-command"
	// SELinuxRelabel takes no argument, so it is not in Kinds: see
	// Relabel and WithRelabel.
	SELinuxRelabel = "selinux-relabel"
)

// Kinds lists every customization that takes an argument, in
// virt-customize's documentation order.
var Kinds = []string{AppendLine, Chmod, Delete, Firstboot, FirstbootCommand, Hostname, Link, Mkdir, Password,
	RootPassword, SSHInject, Timezone, Touch, Truncate, TruncateRecursive, Upload, Write}

// MaxUpload bounds the host file --upload reads.
const MaxUpload = 256 << 20

// MaxEdit bounds a guest file --hostname and --append-line read.
const MaxEdit = 16 << 20

// maxWalk bounds --truncate-recursive.
const maxWalk = 1 << 20

// Step is one customization with its argument.
type Step struct {
	Kind string
	// Arg is the option's argument, as given. It may hold a secret (a
	// password, a key, file content): reports and errors use Shown.
	Arg string
	// Shown is Arg without its content: "/etc/motd:(5 bytes)",
	// "root:password", "alice:string:(80 bytes)".
	Shown string
	// parsed fields
	path, content, target string
	links                 []string
	mode                  uint32
	data                  []byte
	user                  string
	secret                secret   // --password, --root-password
	keys                  []string // --ssh-inject
	auto                  bool     // --selinux-relabel only when the guest uses SELinux
	// Now is the clock --touch uses; time.Now when nil.
	Now func() time.Time
}

var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	zoneRE     = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)
)

// Parse checks the argument of the customization kind and returns the
// step. --upload reads its host file now, so that a missing file is a
// usage error before any image is opened.
func Parse(kind, arg string) (Step, error) {
	s := Step{Kind: kind, Arg: arg, Shown: redact(kind, arg)}
	bad := func(why string) (Step, error) {
		return Step{}, fmt.Errorf("--%s %q: %w: %s", kind, s.Shown, ErrSyntax, why)
	}
	two := func(what string) (string, string, bool) {
		a, b, ok := strings.Cut(arg, ":")
		return a, b, ok && a != "" && (b != "" || what == "content")
	}
	switch kind {
	case Hostname:
		if len(arg) > 253 || !hostnameRE.MatchString(arg) {
			return bad("not a host name")
		}
	case Write:
		p, c, ok := two("content")
		if !ok {
			return bad("want PATH:CONTENT")
		}
		s.path, s.content = p, c
	case Upload:
		host, p, ok := two("")
		if !ok {
			return bad("want HOSTFILE:PATH")
		}
		st, err := os.Stat(host)
		if err != nil {
			return Step{}, fmt.Errorf("--upload %q: %w", arg, err)
		}
		if !st.Mode().IsRegular() || st.Size() > MaxUpload {
			return bad(fmt.Sprintf("%s is not a regular file of at most %d bytes", host, MaxUpload))
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return Step{}, fmt.Errorf("--upload %q: %w", arg, err)
		}
		s.target, s.path, s.data, s.mode = host, p, data, uint32(st.Mode().Perm())
	case Delete, Truncate, TruncateRecursive, Mkdir, Touch:
		s.path = arg
	case Chmod:
		m, p, ok := two("")
		if !ok {
			return bad("want MODE:PATH")
		}
		v, err := strconv.ParseUint(m, 8, 32)
		if err != nil || v > fs.ModePermMask {
			return bad("MODE is not an octal permission (0755)")
		}
		s.mode, s.path = uint32(v), p
	case Link:
		t, rest, ok := two("")
		if !ok {
			return bad("want TARGET:LINK[:LINK...]")
		}
		s.target, s.links = t, strings.Split(rest, ":")
		for _, l := range s.links {
			if !path.IsAbs(l) {
				return bad("LINK " + l + " is not an absolute path")
			}
		}
	case AppendLine:
		p, l, ok := two("content")
		if !ok {
			return bad("want PATH:LINE")
		}
		if strings.ContainsAny(l, "\n\r") {
			return bad("LINE holds a line break")
		}
		s.path, s.content = p, l
	case Timezone:
		if !zoneRE.MatchString(arg) || strings.Contains(arg, "..") {
			return bad("not a zone name (Europe/Paris)")
		}
	case RootPassword, Password:
		user, sel := "root", arg
		if kind == Password {
			u, rest, ok := two("")
			if !ok {
				return bad("want USER:SELECTOR")
			}
			user, sel = u, rest
		}
		if !validUser(user) {
			return bad("not a user name")
		}
		sec, err := parseSecret(sel)
		if err != nil {
			return Step{}, fmt.Errorf("--%s %q: %w", kind, s.Shown, err)
		}
		s.user, s.secret = user, sec
	case SSHInject:
		user, keys, err := parseSSHInject(arg)
		if err != nil {
			return Step{}, fmt.Errorf("--%s %q: %w", kind, s.Shown, err)
		}
		s.user, s.keys = user, keys
	case Firstboot:
		data, err := readHostFile(arg, MaxScript)
		if err != nil {
			return Step{}, fmt.Errorf("--%s %q: %w", kind, s.Shown, err)
		}
		s.target, s.data = path.Base(arg), data
	case FirstbootCommand:
		if strings.TrimSpace(arg) == "" || strings.ContainsRune(arg, 0) || len(arg) > MaxScript {
			return bad("want a shell command")
		}
		s.target, s.data = "command", []byte("#!/bin/sh\n"+arg+"\n")
	default:
		return Step{}, fmt.Errorf("%w %q", ErrUnknown, kind)
	}
	if s.path != "" && (!path.IsAbs(s.path) || strings.ContainsRune(s.path, 0)) {
		return bad("PATH " + s.path + " is not an absolute guest path")
	}
	if s.path != "" {
		s.path = path.Clean(s.path)
	}
	return s, nil
}

var _ ops.Operation = Step{}

// Name implements ops.Operation: the option's name.
func (s Step) Name() string { return s.Kind }

// Description implements ops.Operation: the option, its argument without
// content.
func (s Step) Description() string {
	if s.Shown == "" {
		return "--" + s.Kind
	}
	return "--" + s.Kind + " " + s.Shown
}

// Default implements ops.Operation; a customization runs when given.
func (s Step) Default() bool { return false }

// Apply implements ops.Operation.
func (s Step) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &run{g: g, step: s}
	var err error
	switch s.Kind {
	case Hostname:
		err = r.hostname()
	case Write:
		err = r.write(s.path, []byte(s.content), 0o644)
	case Upload:
		err = r.upload()
	case Delete:
		err = r.delete()
	case Truncate:
		err = r.truncate()
	case TruncateRecursive:
		err = r.truncateRecursive()
	case Mkdir:
		err = r.mkdir()
	case Chmod:
		err = r.chmod()
	case Link:
		err = r.link()
	case Touch:
		err = r.touch()
	case AppendLine:
		err = r.appendLine()
	case Timezone:
		err = r.timezone()
	case RootPassword, Password:
		err = r.password()
	case SSHInject:
		err = r.sshInject()
	case Firstboot, FirstbootCommand:
		err = r.firstboot()
	case SELinuxRelabel:
		err = r.relabel()
	default:
		err = fmt.Errorf("%w %q", ErrUnknown, s.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Description(), err)
	}
	return r.changes, nil
}

// run is one Apply.
type run struct {
	g       ops.Guest
	step    Step
	changes []ops.Change
}

func (r *run) record(p string, a ops.Action, detail string) error {
	where, err := r.g.Where(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	r.changes = append(r.changes, ops.Change{Path: p, Action: a, Filesystem: where, Detail: detail})
	return nil
}

// lstat returns p's attributes; ok is false when p does not exist.
func (r *run) lstat(p string) (fs.Attr, bool, error) {
	a, err := r.g.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fs.Attr{}, false, nil
	}
	if err != nil {
		return fs.Attr{}, false, fmt.Errorf("%s: %w", p, err)
	}
	return a, true, nil
}

// readRegular reads the regular file p; ok is false when it is missing.
func (r *run) readRegular(p string) ([]byte, bool, error) {
	a, ok, err := r.lstat(p)
	if err != nil || !ok {
		return nil, false, err
	}
	switch {
	case a.Type() == fs.TypeSymlink:
		return nil, false, fmt.Errorf("%s: %w", p, ErrSymlink)
	case a.Type() != fs.TypeRegular:
		return nil, false, fmt.Errorf("%s: %w", p, ErrNotRegular)
	case a.Size > MaxEdit:
		return nil, false, fmt.Errorf("%s: %d bytes, over %d: %w", p, a.Size, MaxEdit, fs.ErrInvalid)
	}
	b, err := r.g.ReadFile(p)
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, true, nil
}

// write creates or overwrites the regular file p (an existing file keeps
// its inode, mode and owner) unless it already holds data.
func (r *run) write(p string, data []byte, perm uint32) error {
	old, exists, err := r.readRegularAny(p)
	if err != nil {
		return err
	}
	if exists && bytes.Equal(old, data) {
		return nil
	}
	if !exists {
		if err := r.parentDir(p); err != nil {
			return err
		}
	}
	if err := r.g.WriteFile(p, data, fs.WriteOptions{Perm: perm}); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	action := ops.Written
	if !exists {
		action = ops.Created
	}
	return r.record(p, action, pluralBytes(len(data)))
}

// readRegularAny is readRegular without the size bound on what is
// compared (the file is being replaced).
func (r *run) readRegularAny(p string) ([]byte, bool, error) {
	a, ok, err := r.lstat(p)
	if err != nil || !ok {
		return nil, false, err
	}
	switch a.Type() {
	case fs.TypeSymlink:
		return nil, false, fmt.Errorf("%s: %w", p, ErrSymlink)
	case fs.TypeRegular:
	default:
		return nil, false, fmt.Errorf("%s: %w", p, ErrNotRegular)
	}
	if a.Size > MaxUpload {
		return nil, true, nil
	}
	b, err := r.g.ReadFile(p)
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, true, nil
}

func (r *run) parentDir(p string) error {
	dir := path.Dir(p)
	a, err := r.g.Stat(dir)
	if err != nil || a.Type() != fs.TypeDir {
		return fmt.Errorf("%s: %w", dir, ErrNoGuestDir)
	}
	return nil
}

func pluralBytes(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.Itoa(n) + " bytes"
}

func (r *run) now() time.Time {
	if r.step.Now != nil {
		return r.step.Now()
	}
	return time.Now()
}
