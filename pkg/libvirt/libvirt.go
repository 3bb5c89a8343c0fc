package libvirt

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrActive: the domain is running, paused or otherwise not shut off.
	ErrActive = errors.New("libvirt: domain is not shut off")
	// ErrVirsh: virsh failed (no such domain, no connection).
	ErrVirsh = errors.New("libvirt: virsh failed")
	// ErrXML: the domain XML is malformed or too large.
	ErrXML = errors.New("libvirt: bad domain XML")
	// ErrDisk: a disk imgprep cannot open from the host (a network disk).
	ErrDisk = errors.New("libvirt: unsupported disk")
	// ErrNoDisks: the domain has no disk.
	ErrNoDisks = errors.New("libvirt: domain has no disk")
)

// MaxXML bounds the domain XML read.
const MaxXML = 16 << 20

// maxChain bounds the backing chain followed in the XML.
const maxChain = 64

// Options say how to reach libvirt.
type Options struct {
	// URI is virsh's -c; empty means virsh's default (LIBVIRT_DEFAULT_URI).
	URI string
	// Virsh is the program; "virsh" from PATH when empty.
	Virsh string
}

// Disk is one disk of a domain.
type Disk struct {
	Target string // "vda"
	Path   string // the host file or block device
	Format string // "qcow2", "raw", ... ("" when the XML names none)
	// Backing is the backing chain libvirt reports, nearest first.
	Backing []string
	// ReadOnly: <readonly/> in the XML.
	ReadOnly bool
	// Network names a network disk ("rbd pool/image"), Pool and Volume a
	// storage pool volume: disks with no host path of their own.
	Network      string
	Pool, Volume string
}

// Domain is a shut-off domain and its disks.
type Domain struct {
	Name  string
	State string
	Disks []Disk
}

// Open returns the disks of the shut-off domain name. A domain in any
// other state is ErrActive, naming it and its state.
func Open(ctx context.Context, name string, opts Options) (*Domain, error) {
	out, err := virsh(ctx, opts, "domstate", "--domain", name)
	if err != nil {
		return nil, err
	}
	state := strings.TrimSpace(string(out))
	if state != "shut off" {
		return nil, fmt.Errorf("libvirt domain %s is %s: %w; shut it down first (virsh shutdown %s)", name, state, ErrActive, name)
	}
	x, err := virsh(ctx, opts, "dumpxml", "--inactive", "--domain", name)
	if err != nil {
		return nil, err
	}
	d, err := Parse(x)
	if err != nil {
		return nil, fmt.Errorf("libvirt domain %s: %w", name, err)
	}
	d.State = state
	for i := range d.Disks {
		disk := &d.Disks[i]
		switch {
		case disk.Path != "":
		case disk.Pool != "" && disk.Volume != "":
			p, err := virsh(ctx, opts, "vol-path", "--pool", disk.Pool, "--vol", disk.Volume)
			if err != nil {
				return nil, fmt.Errorf("libvirt domain %s: disk %s: %w", name, disk.Target, err)
			}
			disk.Path = strings.TrimSpace(string(p))
		case disk.Network != "":
			return nil, fmt.Errorf("libvirt domain %s: disk %s is a network disk (%s): %w; map it on this host (rbd map, qemu-nbd) and give the device", name, disk.Target, disk.Network, ErrDisk)
		default:
			return nil, fmt.Errorf("libvirt domain %s: disk %s has no source: %w", name, disk.Target, ErrDisk)
		}
	}
	return d, nil
}

func virsh(ctx context.Context, opts Options, args ...string) ([]byte, error) {
	prog := opts.Virsh
	if prog == "" {
		prog = "virsh"
	}
	if opts.URI != "" {
		args = append([]string{"-c", opts.URI}, args...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = &limited{b: &stdout}, &limited{b: &stderr}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "error: "))
		msg = strings.ReplaceAll(msg, "\nerror: ", "; ")
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("virsh %s: %s: %w", strings.Join(args, " "), msg, ErrVirsh)
	}
	if stdout.Len() > MaxXML {
		return nil, fmt.Errorf("virsh %s: output over %d bytes: %w", strings.Join(args, " "), MaxXML, ErrXML)
	}
	return stdout.Bytes(), nil
}

// limited keeps at most MaxXML+1 bytes, discarding the rest.
type limited struct{ b *bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := MaxXML + 1 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// The elements of the domain XML read.
type xmlDomain struct {
	Name  string    `xml:"name"`
	Disks []xmlDisk `xml:"devices>disk"`
}

type xmlDisk struct {
	Type     string      `xml:"type,attr"`
	Device   string      `xml:"device,attr"`
	Driver   xmlDriver   `xml:"driver"`
	Source   xmlSource   `xml:"source"`
	Target   xmlTarget   `xml:"target"`
	ReadOnly *struct{}   `xml:"readonly"`
	Backing  *xmlBacking `xml:"backingStore"`
}

type xmlDriver struct {
	Type string `xml:"type,attr"`
}

type xmlSource struct {
	File     string `xml:"file,attr"`
	Dev      string `xml:"dev,attr"`
	Protocol string `xml:"protocol,attr"`
	Name     string `xml:"name,attr"`
	Pool     string `xml:"pool,attr"`
	Volume   string `xml:"volume,attr"`
}

type xmlTarget struct {
	Dev string `xml:"dev,attr"`
}

type xmlBacking struct {
	Type    string      `xml:"type,attr"`
	Format  xmlDriver   `xml:"format"`
	Source  xmlSource   `xml:"source"`
	Backing *xmlBacking `xml:"backingStore"`
}

// Parse reads a domain's disks from its XML. A disk with no host path
// (a network or pool volume) has an empty Path; Open refuses it.
func Parse(x []byte) (*Domain, error) {
	if len(x) > MaxXML {
		return nil, fmt.Errorf("%w: over %d bytes", ErrXML, MaxXML)
	}
	var d xmlDomain
	if err := xml.Unmarshal(x, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrXML, err)
	}
	dom := &Domain{Name: d.Name}
	for _, xd := range d.Disks {
		if xd.Device != "" && xd.Device != "disk" {
			continue // cdrom, floppy, lun
		}
		disk := Disk{Target: xd.Target.Dev, Format: xd.Driver.Type, ReadOnly: xd.ReadOnly != nil}
		switch xd.Type {
		case "file", "":
			disk.Path = xd.Source.File
		case "block":
			disk.Path = xd.Source.Dev
		case "volume":
			disk.Pool, disk.Volume = xd.Source.Pool, xd.Source.Volume
		case "network":
			disk.Network = strings.TrimSpace(xd.Source.Protocol + " " + xd.Source.Name)
		}
		b := xd.Backing
		for n := 0; b != nil && n < maxChain; n++ {
			if p := b.Source.File + b.Source.Dev; p != "" {
				disk.Backing = append(disk.Backing, p)
			}
			b = b.Backing
		}
		dom.Disks = append(dom.Disks, disk)
	}
	if len(dom.Disks) == 0 {
		return nil, fmt.Errorf("%s: %w", d.Name, ErrNoDisks)
	}
	return dom, nil
}
