package netdata

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// Paths the operation touches.
const (
	GUIDPath   = "/var/lib/netdata/registry/netdata.public.unique.id"
	CloudDir   = "/var/lib/netdata/cloud.d"
	ClaimPath  = "/etc/netdata/claim.conf"
	StatusName = "status-netdata.json"
	// DefaultURL is Netdata Cloud's claim URL.
	DefaultURL = "https://app.netdata.cloud"
)

// StatusDirs are the directories holding status-netdata.json, in the
// order they are cleaned.
var StatusDirs = [...]string{"/var/lib/netdata", "/var/cache/netdata", "/tmp", "/run", "/var/run"}

// DBGlobs are the node database files.
var DBGlobs = [...]string{"/var/cache/netdata/netdata-meta.db*", "/var/cache/netdata/context-meta.db*"}

// Claim is what claim.conf says. Token is a secret: it never appears in a
// report or an error.
type Claim struct {
	Token    string
	Rooms    string // comma-separated room IDs
	URL      string // DefaultURL when empty
	Proxy    string
	Insecure bool
}

// Options configure the operation.
type Options struct {
	// Claim, when set, makes the operation write /etc/netdata/claim.conf.
	Claim *Claim
}

// ErrBadClaim is returned for a claim that cannot be written.
var ErrBadClaim = errors.New("netdata: invalid claim")

// Validate checks that a claim can be written as an INI value.
func (c *Claim) Validate() error {
	if c.Token == "" {
		return fmt.Errorf("%w: a claim token is required", ErrBadClaim)
	}
	fields := []struct{ name, value string }{{"token", c.Token}, {"rooms", c.Rooms}, {"url", c.URL}, {"proxy", c.Proxy}}
	for _, f := range fields {
		if strings.ContainsAny(f.value, "\n\r") {
			return fmt.Errorf("%w: the %s holds a line break", ErrBadClaim, f.name)
		}
	}
	return nil
}

// Conf renders claim.conf.
func (c *Claim) Conf() []byte {
	url := c.URL
	if url == "" {
		url = DefaultURL
	}
	insecure := "no"
	if c.Insecure {
		insecure = "yes"
	}
	var b bytes.Buffer
	b.WriteString("[global]\n")
	fmt.Fprintf(&b, "    url = %s\n", url)
	fmt.Fprintf(&b, "    token = %s\n", c.Token)
	fmt.Fprintf(&b, "    rooms = %s\n", c.Rooms)
	fmt.Fprintf(&b, "    proxy = %s\n", c.Proxy)
	fmt.Fprintf(&b, "    insecure = %s\n", insecure)
	return b.Bytes()
}

// Op is the netdata operation.
type Op struct {
	opts Options
}

// New returns the operation.
func New(opts Options) *Op { return &Op{opts: opts} }

var _ ops.Operation = (*Op)(nil)

// Name implements ops.Operation.
func (*Op) Name() string { return "netdata" }

// Description implements ops.Operation.
func (*Op) Description() string {
	return "Remove Netdata's machine GUID, status files, cloud link and node database; keep claim.conf"
}

// Default implements ops.Operation.
func (*Op) Default() bool { return true }

// Apply implements ops.Operation.
func (o *Op) Apply(ctx context.Context, g ops.Guest) ([]ops.Change, error) {
	if o.opts.Claim != nil {
		if err := o.opts.Claim.Validate(); err != nil {
			return nil, err
		}
	}
	var changes []ops.Change
	add := func(c *ops.Change, err error) error {
		if err != nil {
			return err
		}
		if c != nil {
			changes = append(changes, *c)
		}
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := add(remove(g, GUIDPath)); err != nil {
		return nil, err
	}
	// With /var/run -> /run the same file is reached twice; once it is
	// gone the second path no longer exists, so it is reported once.
	for _, dir := range StatusDirs {
		if err := add(remove(g, path.Join(dir, StatusName))); err != nil {
			return nil, err
		}
	}
	if err := add(remove(g, CloudDir)); err != nil {
		return nil, err
	}
	for _, pattern := range DBGlobs {
		matches, err := fs.Glob(g, pattern)
		if err != nil {
			return nil, fmt.Errorf("netdata: %w", err)
		}
		for _, m := range matches {
			if err := add(remove(g, m)); err != nil {
				return nil, err
			}
		}
	}
	if o.opts.Claim != nil {
		c, err := writeClaim(g, o.opts.Claim)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c...)
	}
	return changes, nil
}

// remove removes p without following a final symlink: a symlink goes, not
// what it points to; a directory goes with its contents.
func remove(g ops.Guest, p string) (*ops.Change, error) {
	a, err := g.Lstat(p)
	if err != nil {
		if fs.IsAbsent(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("netdata: %s: %w", p, err)
	}
	where, err := g.Where(p)
	if err != nil {
		return nil, fmt.Errorf("netdata: %s: %w", p, err)
	}
	c := &ops.Change{Path: p, Action: ops.Removed, Filesystem: where}
	if a.Type() == fs.TypeDir {
		n, err := countEntries(g, p)
		if err != nil {
			return nil, fmt.Errorf("netdata: %s: %w", p, err)
		}
		c.Detail = plural(n, "entry", "entries")
		if err := g.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("netdata: removing %s: %w", p, err)
		}
		return c, nil
	}
	if a.Type() == fs.TypeSymlink {
		c.Detail = "symlink"
	}
	if err := g.Remove(p); err != nil {
		return nil, fmt.Errorf("netdata: removing %s: %w", p, err)
	}
	return c, nil
}

// maxCount bounds the directory walk of countEntries.
const maxCount = 1 << 20

// countEntries counts everything below directory p, not following
// symlinks.
func countEntries(g fs.ReadTree, p string) (int, error) {
	n := 0
	todo := []string{p}
	for len(todo) > 0 && n < maxCount {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		ents, err := g.ReadDir(d)
		if err != nil {
			return 0, err
		}
		for _, e := range ents {
			n++
			if e.Type == fs.TypeDir {
				todo = append(todo, path.Join(d, e.Name))
			}
		}
	}
	return n, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// writeClaim writes claim.conf, mode 0640, root and the guest's netdata
// group, creating /etc/netdata when missing. A tree without /etc is not a
// guest root and gets nothing.
func writeClaim(g ops.Guest, c *Claim) ([]ops.Change, error) {
	var changes []ops.Change
	// Only a tree with /etc is a guest root; /etc itself is never made.
	if a, err := g.Stat("/etc"); err != nil || a.Type() != fs.TypeDir {
		return nil, nil
	}
	dir := path.Dir(ClaimPath)
	a, err := g.Stat(dir)
	switch {
	case err == nil && a.Type() != fs.TypeDir:
		return nil, fmt.Errorf("netdata: %s is not a directory: %w", dir, fs.ErrNotDir)
	case err != nil && errors.Is(err, fs.ErrNotExist):
		if err := g.Mkdir(dir, 0o755, fs.Owner{}); err != nil {
			return nil, fmt.Errorf("netdata: creating %s: %w", dir, err)
		}
		where, err := g.Where(dir)
		if err != nil {
			return nil, fmt.Errorf("netdata: %s: %w", dir, err)
		}
		changes = append(changes, ops.Change{Path: dir, Action: ops.Created, Filesystem: where})
	case err != nil:
		return nil, fmt.Errorf("netdata: %s: %w", dir, err)
	}
	gid, err := groupID(g, "netdata")
	if err != nil {
		return nil, err
	}
	want := c.Conf()
	owner := fs.Owner{UID: 0, GID: gid}
	const perm = 0o640
	action := ops.Created
	a, err = g.Lstat(ClaimPath)
	switch {
	case err == nil && a.Type() != fs.TypeRegular:
		return nil, fmt.Errorf("netdata: %s exists and is not a regular file", ClaimPath)
	case err == nil:
		cur, err := g.ReadFile(ClaimPath)
		if err != nil {
			return nil, fmt.Errorf("netdata: reading %s: %w", ClaimPath, err)
		}
		if bytes.Equal(cur, want) && a.Perm() == perm && a.UID == owner.UID && a.GID == owner.GID {
			return changes, nil
		}
		action = ops.Written
	case !fs.IsAbsent(err):
		return nil, fmt.Errorf("netdata: %s: %w", ClaimPath, err)
	}
	if err := g.WriteFile(ClaimPath, want, fs.WriteOptions{Perm: perm, Owner: owner}); err != nil {
		return nil, fmt.Errorf("netdata: writing %s: %w", ClaimPath, err)
	}
	if err := g.Chmod(ClaimPath, perm); err != nil {
		return nil, fmt.Errorf("netdata: chmod %s: %w", ClaimPath, err)
	}
	if err := g.Chown(ClaimPath, owner); err != nil {
		return nil, fmt.Errorf("netdata: chown %s: %w", ClaimPath, err)
	}
	where, err := g.Where(ClaimPath)
	if err != nil {
		return nil, fmt.Errorf("netdata: %s: %w", ClaimPath, err)
	}
	url := c.URL
	if url == "" {
		url = DefaultURL
	}
	return append(changes, ops.Change{Path: ClaimPath, Action: action, Filesystem: where,
		Detail: "claim for " + url + ", token masked"}), nil
}

// maxGroupFile bounds the /etc/group read.
const maxGroupFile = 4 << 20

// groupID returns the gid of group name in the guest's /etc/group, or 0
// (root) when the file or the group is missing.
func groupID(g fs.ReadTree, name string) (uint32, error) {
	a, err := g.Stat("/etc/group")
	if err != nil {
		if fs.IsAbsent(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("netdata: /etc/group: %w", err)
	}
	if a.Type() != fs.TypeRegular || a.Size > maxGroupFile {
		return 0, nil
	}
	data, err := g.ReadFile("/etc/group")
	if err != nil {
		return 0, fmt.Errorf("netdata: reading /etc/group: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxGroupFile)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[0] == name {
			id, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				return 0, nil
			}
			return uint32(id), nil
		}
	}
	return 0, nil
}
