package audit

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/imgprep/imgprep/pkg/batch"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// Kind is a kind of identity.
type Kind string

// Kinds of identity.
const (
	MachineID        Kind = "machine-id"
	NetdataGUID      Kind = "netdata-guid"
	NetdataClaimedID Kind = "netdata-claimed-id"
	SSHHostKey       Kind = "ssh-host-key"
	FilesystemUUID   Kind = "filesystem-uuid"
	// LVMVGUUID is an LVM2 volume group's UUID (a PV's is a
	// filesystem-uuid, as blkid shows it); of the same severity.
	LVMVGUUID Kind = "lvm-vg-uuid"
	Hostname  Kind = "hostname"
)

// Severity of a shared identity.
type Severity string

// Severities.
const (
	// Error: the clones will collide (monitoring, DHCP, SSH trust, …).
	Error Severity = "error"
	// Warning: confusing, not harmful by itself.
	Warning Severity = "warning"
)

// Options configure Run.
type Options struct {
	// Inspect opens the images (format, backing policy, backend).
	Inspect sysprep.Options
	// Jobs, Observer: as batch.Options.
	Jobs     int
	Observer batch.Observer
	// FilesystemUUIDWarning reports shared filesystem UUIDs as warnings:
	// clones of one template keep its filesystem UUIDs, which collide
	// only when their disks meet on one host.
	FilesystemUUIDWarning bool
}

// Holder is where one image holds an identity.
type Holder struct {
	Image string `json:"image"`
	Where string `json:"where"` // "/etc/machine-id on ext4 on partition 2"
}

// Group is one identity shared by several images.
type Group struct {
	Kind     Kind     `json:"kind"`
	Value    string   `json:"value"`
	Severity Severity `json:"severity"`
	Holders  []Holder `json:"holders"`
	Images   int      `json:"images"` // distinct images among Holders
}

// Cluster is a set of images tied together by shared identities (error
// severity): copies of one unprepared template form one cluster.
type Cluster struct {
	Images []string `json:"images"`
	Kinds  []Kind   `json:"kinds"`
}

// Note is something an image could not show the audit: identities on a
// filesystem imgprep cannot read, an fstab entry whose disk is missing,
// no operating system, another process writing the image. The audit
// compares what could be read; a note does not fail it.
type Note struct {
	Image string `json:"image"`
	Note  string `json:"note"`
}

// Report is the result of an audit.
type Report struct {
	Images    int             `json:"images"`
	Inspected int             `json:"inspected"`
	Groups    []Group         `json:"groups"`
	Clusters  []Cluster       `json:"clusters"`
	Failures  []batch.Failure `json:"failures"`
	Notes     []Note          `json:"notes,omitempty"`
	// Identities, from RunDigests only: every identity each image
	// holds, as a keyed digest.
	Identities []Identity `json:"identities,omitempty"`
	// Shared counts the groups of error severity, Warnings the others.
	Shared   int `json:"shared"`
	Warnings int `json:"warnings"`
}

// Clean reports whether every image was read and none shares an
// identity of error severity.
func (r *Report) Clean() bool { return r.Shared == 0 && len(r.Failures) == 0 }

// Run inspects every image read-only, in parallel, and groups the
// identities they share. An image that cannot be read is a failure of
// the report, not of the run. Backing files may live in the directory
// tree of any image audited (sysprep.ImageDirs), besides
// opts.Inspect.AllowBacking: a linked clone is audited with its template.
func Run(ctx context.Context, images []string, opts Options) *Report {
	return run(ctx, images, opts, nil)
}

// run is Run, which also stores the inspections read in *read when read
// is not nil.
func run(ctx context.Context, images []string, opts Options, read *[]*sysprep.Inspection) *Report {
	opts.Inspect.AllowBacking = append(append([]string(nil), opts.Inspect.AllowBacking...), sysprep.ImageDirs(images)...)
	ins := make([]*sysprep.Inspection, len(images))
	var mu sync.Mutex
	sum := batch.Run(ctx, images, batch.Options{Jobs: opts.Jobs, Observer: opts.Observer}, func(ctx context.Context, s batch.Slot) error {
		in, err := sysprep.Inspect(ctx, s.Item, opts.Inspect)
		if err != nil {
			return err
		}
		mu.Lock()
		ins[s.Index] = in
		mu.Unlock()
		return nil
	})
	var got []*sysprep.Inspection
	for _, in := range ins {
		if in != nil {
			got = append(got, in)
		}
	}
	if read != nil {
		*read = got
	}
	rep := Analyze(got, opts.FilesystemUUIDWarning)
	rep.Images = len(images)
	rep.Failures = sum.Failures
	return rep
}

// key is one identity value.
type key struct {
	kind  Kind
	value string
}

// Analyze groups the identities the inspections share.
func Analyze(ins []*sysprep.Inspection, fsUUIDWarning bool) *Report {
	holders := map[key][]Holder{}
	each(ins, func(k Kind, value, image, where string) {
		kk := key{k, value}
		holders[kk] = append(holders[kk], Holder{Image: image, Where: where})
	})
	rep := group(holders, fsUUIDWarning)
	rep.Inspected = len(ins)
	rep.Notes = notes(ins)
	return rep
}

// each calls add with every non-empty identity the inspections hold.
func each(ins []*sysprep.Inspection, add0 func(k Kind, value, image, where string)) {
	add := func(k Kind, value, image, where string) {
		if value = strings.TrimSpace(value); value != "" {
			add0(k, value, image, where)
		}
	}
	for _, in := range ins {
		for _, f := range in.Info.Filesystems {
			add(FilesystemUUID, strings.ToLower(f.UUID), in.Image, f.Desc)
		}
		for _, vg := range in.Info.VolumeGroups {
			add(LVMVGUUID, vg.UUID, in.Image, "LVM2 VG "+vg.Name)
		}
		for _, g := range in.Guests {
			on := " on " + g.Root
			if g.MachineID.State == "set" {
				add(MachineID, g.MachineID.Value, in.Image, "/etc/machine-id"+on)
			}
			if g.DbusID.State == "set" {
				add(MachineID, g.DbusID.Value, in.Image, "/var/lib/dbus/machine-id"+on)
			}
			add(NetdataGUID, strings.ToLower(g.Netdata.GUID), in.Image, "netdata registry"+on)
			add(NetdataClaimedID, strings.ToLower(g.Netdata.ClaimedID), in.Image, "netdata cloud.d/claimed_id"+on)
			for _, k := range g.SSHKeys {
				add(SSHHostKey, k.Type+" "+k.Fingerprint, in.Image, k.Path+on)
			}
			add(Hostname, g.Hostname, in.Image, "/etc/hostname"+on)
		}
	}
}

// group makes the report of the identities held by several images.
func group(holders map[key][]Holder, fsUUIDWarning bool) *Report {
	rep := &Report{Groups: []Group{}, Clusters: []Cluster{}, Failures: []batch.Failure{}}
	uf := newUnion()
	for k, hs := range holders {
		imgs := map[string]bool{}
		for _, h := range hs {
			imgs[h.Image] = true
		}
		if len(imgs) < 2 {
			continue // one image holding an ID twice (its D-Bus copy) shares nothing
		}
		sev := Error
		if k.kind == Hostname || ((k.kind == FilesystemUUID || k.kind == LVMVGUUID) && fsUUIDWarning) {
			sev = Warning
		}
		sort.Slice(hs, func(a, b int) bool {
			if hs[a].Image != hs[b].Image {
				return hs[a].Image < hs[b].Image
			}
			return hs[a].Where < hs[b].Where
		})
		rep.Groups = append(rep.Groups, Group{Kind: k.kind, Value: k.value, Severity: sev, Holders: hs, Images: len(imgs)})
		if sev == Error {
			rep.Shared++
			for _, h := range hs {
				uf.union(hs[0].Image, h.Image, k.kind)
			}
		} else {
			rep.Warnings++
		}
	}
	sort.Slice(rep.Groups, func(a, b int) bool {
		ga, gb := rep.Groups[a], rep.Groups[b]
		if ga.Severity != gb.Severity {
			return ga.Severity == Error
		}
		if ga.Kind != gb.Kind {
			return kindOrder(ga.Kind) < kindOrder(gb.Kind)
		}
		return ga.Value < gb.Value
	})
	rep.Clusters = uf.clusters()
	return rep
}

// notes gathers the inspections' notes, image by image, a guest's
// prefixed by its root.
func notes(ins []*sysprep.Inspection) []Note {
	var out []Note
	for _, in := range ins {
		for _, n := range in.Notes {
			out = append(out, Note{Image: in.Image, Note: n})
		}
		for _, f := range in.Info.Filesystems {
			if f.Note != "" {
				out = append(out, Note{Image: in.Image, Note: f.Desc + ": " + f.Note})
			}
		}
		for _, g := range in.Guests {
			for _, n := range g.Notes {
				out = append(out, Note{Image: in.Image, Note: "guest on " + g.Root + ": " + n})
			}
		}
	}
	return out
}

func kindOrder(k Kind) int {
	for i, o := range []Kind{MachineID, NetdataGUID, NetdataClaimedID, SSHHostKey, FilesystemUUID, LVMVGUUID, Hostname} {
		if o == k {
			return i
		}
	}
	return 99
}

// union is a union-find over image names, remembering the kinds that
// joined each set.
type union struct {
	parent map[string]string
	kinds  map[string]map[Kind]bool
}

func newUnion() *union { return &union{parent: map[string]string{}, kinds: map[string]map[Kind]bool{}} }

func (u *union) find(x string) string {
	if _, ok := u.parent[x]; !ok {
		u.parent[x] = x
	}
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *union) union(a, b string, k Kind) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		if rb < ra {
			ra, rb = rb, ra
		}
		u.parent[rb] = ra
		for kk := range u.kinds[rb] {
			u.mark(ra, kk)
		}
		delete(u.kinds, rb)
	}
	u.mark(ra, k)
}

func (u *union) mark(root string, k Kind) {
	if u.kinds[root] == nil {
		u.kinds[root] = map[Kind]bool{}
	}
	u.kinds[root][k] = true
}

func (u *union) clusters() []Cluster {
	byRoot := map[string][]string{}
	for x := range u.parent {
		r := u.find(x)
		byRoot[r] = append(byRoot[r], x)
	}
	var out []Cluster
	for r, imgs := range byRoot {
		if len(imgs) < 2 {
			continue
		}
		sort.Strings(imgs)
		c := Cluster{Images: imgs}
		for k := range u.kinds[r] {
			c.Kinds = append(c.Kinds, k)
		}
		sort.Slice(c.Kinds, func(a, b int) bool { return kindOrder(c.Kinds[a]) < kindOrder(c.Kinds[b]) })
		out = append(out, c)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Images[0] < out[b].Images[0] })
	if out == nil {
		out = []Cluster{}
	}
	return out
}
