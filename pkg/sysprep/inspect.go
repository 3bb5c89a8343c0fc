package sysprep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/guest"
	"github.com/imgprep/imgprep/pkg/image"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/ops/netdata"
)

// Inspection describes an image and its guests, read-only. It never holds
// a secret: claim tokens and private keys are not read into it.
type Inspection struct {
	Image  string       `json:"image"`
	Info   ImageInfo    `json:"info"`
	Guests []GuestFacts `json:"guests"`
	// Notes say what could not be read or found, image-wide: no
	// operating system, another process writing the image. Each guest's
	// own are in its Notes.
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
}

// GuestFacts are the identity facts of one guest.
type GuestFacts struct {
	Root      string      `json:"root"`
	OS        string      `json:"os,omitempty"`
	OSID      string      `json:"os_id,omitempty"`
	Version   string      `json:"version_id,omitempty"`
	Hostname  string      `json:"hostname,omitempty"`
	Mounts    []MountInfo `json:"mounts"`
	MachineID IDFact      `json:"machine_id"`
	DbusID    IDFact      `json:"dbus_machine_id"`
	Netdata   NetdataFact `json:"netdata"`
	SSHKeys   []SSHKey    `json:"ssh_host_keys"`
	// Symlinks are the identity files (/etc/hostname, the Netdata GUID
	// and claimed_id, SSH host keys) that are symlinks: they are never
	// followed, since a link to /etc/shadow would print its first line.
	Symlinks []Symlink `json:"symlinks,omitempty"`
	// Notes say what of the guest could not be read (a file on a
	// filesystem imgprep has no engine for, an fstab entry whose disk is
	// missing); the facts above are what could.
	Notes []string `json:"notes,omitempty"`
}

// IDFact is the state of an ID file: "set", "empty", "uninitialized",
// "missing", "symlink", "invalid", or "unreadable" (it lies on a
// filesystem imgprep cannot read; see GuestFacts.Notes), and the ID when
// set. A symlink is not followed; Target is where it points.
type IDFact struct {
	State  string `json:"state"`
	Value  string `json:"value,omitempty"`
	Target string `json:"target,omitempty"`
}

// Symlink is an identity file that is a symlink, and its target as
// stored (not followed).
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// String says "symlink to TARGET", as inspect prints it.
func (l Symlink) String() string { return "symlink to " + l.Target }

// LinkAt returns the identity file at p if it is a symlink.
func (f GuestFacts) LinkAt(p string) (Symlink, bool) {
	for _, l := range f.Symlinks {
		if l.Path == p {
			return l, true
		}
	}
	return Symlink{}, false
}

// NetdataFact is what identifies a Netdata agent.
type NetdataFact struct {
	GUID      string `json:"guid,omitempty"`
	ClaimedID string `json:"claimed_id,omitempty"`
	// ClaimConf says whether /etc/netdata/claim.conf exists; its token is
	// never read out.
	ClaimConf bool `json:"claim_conf"`
}

// SSHKey is one SSH host public key.
type SSHKey struct {
	Path        string `json:"path"`
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint"` // "SHA256:…" as ssh-keygen -l
}

// Inspect opens the image read-only and describes it. It never fails
// because of what imgprep cannot read inside a readable image (an xfs
// /var, an fstab entry whose disk is missing, no operating system at
// all): it describes what it can and says the rest in Notes. An image
// another process is writing is read anyway, as qemu-img -U would, with a
// note.
func Inspect(ctx context.Context, path string, opts Options) (*Inspection, error) {
	if opts.Backend == nil {
		opts.Backend = Stack{}
	}
	format := opts.Format
	if format == "" {
		format = "auto"
	}
	img, err := opts.Backend.Open(ctx, path, OpenOptions{OpenOptions: image.OpenOptions{Format: format,
		AllowBacking: opts.AllowBacking, BackingFormat: opts.BackingFormat, ForceShare: true}, Disks: opts.Disks})
	if err != nil {
		return nil, named(path, err)
	}
	defer img.Close()
	in := &Inspection{Image: path, Info: img.Info(), Guests: []GuestFacts{}}
	in.Notes = append(in.Notes, in.Info.Notes...)
	for _, d := range in.Info.Disks {
		for _, n := range d.Notes {
			in.Notes = append(in.Notes, d.Chain[0].Path+": "+n)
		}
	}
	guests, err := img.Guests()
	if err != nil {
		return in, fmt.Errorf("%s: %w", path, err)
	}
	if len(guests) == 0 {
		in.Notes = append(in.Notes, noOS+unreadable(in.Info))
	}
	for _, g := range guests {
		f, err := guestFacts(g)
		if err != nil {
			return in, fmt.Errorf("%s: guest with root %s: %w", path, g.Root(), err)
		}
		in.Guests = append(in.Guests, f)
	}
	return in, nil
}

// maxSmallFile bounds the identity files Inspect reads.
const maxSmallFile = 64 << 10

// readSmall reads a regular file of at most maxSmallFile bytes, following
// symlinks within the guest. ok is false when it is missing or not a
// small regular file.
func readSmall(g fs.ReadTree, p string) (data []byte, ok bool, err error) {
	a, err := g.Stat(p)
	if err != nil {
		if fs.IsAbsent(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if a.Type() != fs.TypeRegular || a.Size > maxSmallFile {
		return nil, false, nil
	}
	data, err = g.ReadFile(p)
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func idFact(g fs.ReadTree, p string) (IDFact, error) {
	if a, err := g.Lstat(p); err == nil && a.Type() == fs.TypeSymlink {
		target, err := g.Readlink(p)
		if err != nil {
			return IDFact{State: "symlink"}, err
		}
		return IDFact{State: "symlink", Target: target}, nil
	}
	data, ok, err := readSmall(g, p)
	if err != nil || !ok {
		return IDFact{State: "missing"}, err
	}
	s := strings.TrimSpace(string(data))
	switch {
	case s == "":
		return IDFact{State: "empty"}, nil
	case string(data) == machineid.Uninitialized || s == "uninitialized":
		return IDFact{State: "uninitialized"}, nil
	case hex32.MatchString(s):
		return IDFact{State: "set", Value: s}, nil
	}
	return IDFact{State: "invalid"}, nil
}

func firstLine(data []byte) string {
	s, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(s)
}

// facts gathers one guest's facts. A read that fails because the file
// lies where imgprep cannot read (guest.ErrUnsupportedFS,
// guest.ErrUnresolvedMount) is noted, not fatal: skipped maps each reason
// to the paths it hid.
type facts struct {
	g       Guest
	skipped map[string][]string
	order   []string
	links   []Symlink
}

// soft reports whether err means "imgprep cannot read there" and notes
// p under its reason; other errors are the caller's.
func (c *facts) soft(p string, err error) bool {
	if !errors.Is(err, guest.ErrUnsupportedFS) && !errors.Is(err, guest.ErrUnresolvedMount) {
		return false
	}
	why := err.Error()
	var ue *guest.UnsupportedError
	var re *guest.UnresolvedError
	if errors.As(err, &ue) {
		why = ue.Type + " mounted at " + ue.Point + " (" + ue.Why + ")"
	} else if errors.As(err, &re) {
		why = "the filesystem fstab mounts at " + re.Point + " is missing"
	}
	if _, seen := c.skipped[why]; !seen {
		c.order = append(c.order, why)
	}
	c.skipped[why] = append(c.skipped[why], p)
	return true
}

// read reads a small identity file; ok is false when it is missing, is a
// symlink (recorded in links, never followed: the identity path is all
// inspect and audit read), or could not be read for a soft reason
// (noted).
func (c *facts) read(p string) ([]byte, bool, error) {
	if a, err := c.g.Lstat(p); err == nil && a.Type() == fs.TypeSymlink {
		target, err := c.g.Readlink(p)
		if err != nil {
			if c.soft(p, err) {
				return nil, false, nil
			}
			return nil, false, err
		}
		c.links = append(c.links, Symlink{Path: p, Target: target})
		return nil, false, nil
	}
	data, ok, err := readSmall(c.g, p)
	if err != nil && c.soft(p, err) {
		return nil, false, nil
	}
	return data, ok, err
}

func (c *facts) id(p string) (IDFact, error) {
	f, err := idFact(c.g, p)
	if err != nil && c.soft(p, err) {
		return IDFact{State: "unreadable"}, nil
	}
	return f, err
}

func (c *facts) notes() []string {
	var out []string
	for _, why := range c.order {
		out = append(out, "not read: "+strings.Join(c.skipped[why], ", ")+": "+why)
	}
	return out
}

func guestFacts(g Guest) (GuestFacts, error) {
	osr := g.OSRelease()
	f := GuestFacts{Root: g.Root(), OS: osr["PRETTY_NAME"], OSID: osr["ID"], Version: osr["VERSION_ID"],
		Mounts: g.Mounts(), SSHKeys: []SSHKey{}}
	if f.Mounts == nil {
		f.Mounts = []MountInfo{}
	}
	c := &facts{g: g, skipped: map[string][]string{}}
	var err error
	if data, ok, err := c.read("/etc/hostname"); err != nil {
		return f, err
	} else if ok {
		f.Hostname = firstLine(data)
	}
	if f.MachineID, err = c.id(machineid.EtcPath); err != nil {
		return f, err
	}
	if f.DbusID, err = c.id(machineid.DbusPath); err != nil {
		return f, err
	}
	if data, ok, err := c.read(netdata.GUIDPath); err != nil {
		return f, err
	} else if ok {
		f.Netdata.GUID = firstLine(data)
	}
	if data, ok, err := c.read(netdata.CloudDir + "/claimed_id"); err != nil {
		return f, err
	} else if ok {
		f.Netdata.ClaimedID = firstLine(data)
	}
	if _, err := g.Lstat(netdata.ClaimPath); err == nil {
		f.Netdata.ClaimConf = true
	} else {
		c.soft(netdata.ClaimPath, err)
	}
	const hostKeys = "/etc/ssh/ssh_host_*_key.pub"
	keys, err := fs.Glob(g, hostKeys)
	if err != nil && !c.soft(hostKeys, err) {
		return f, err
	}
	for _, p := range keys {
		data, ok, err := c.read(p)
		if err != nil {
			return f, err
		}
		if !ok {
			continue
		}
		if k, ok := Fingerprint(data); ok {
			k.Path = p
			f.SSHKeys = append(f.SSHKeys, k)
		}
	}
	f.Symlinks = c.links
	f.Notes = append(g.Warnings(), c.notes()...)
	return f, nil
}

// Fingerprint parses an OpenSSH public key line ("type base64 comment")
// and returns its type and SHA256 fingerprint as ssh-keygen -l prints it.
func Fingerprint(line []byte) (SSHKey, bool) {
	fields := strings.Fields(firstLine(bytes.TrimSpace(line)))
	if len(fields) < 2 {
		return SSHKey{}, false
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) == 0 {
		return SSHKey{}, false
	}
	sum := sha256.Sum256(blob)
	return SSHKey{Type: fields[0], Fingerprint: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])}, true
}
