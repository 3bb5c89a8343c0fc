package proxmox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrRunning: the VM is running, or locked by a Proxmox task.
	ErrRunning = errors.New("proxmox: VM is in use")
	// ErrConfig: a configuration file is missing, too large or malformed.
	ErrConfig = errors.New("proxmox: bad configuration")
	// ErrStorage: a disk's storage is unknown or of a type imgprep cannot
	// reach as a host file.
	ErrStorage = errors.New("proxmox: unsupported storage")
	// ErrNoDisks: the VM has no disk.
	ErrNoDisks = errors.New("proxmox: VM has no disk")
)

// MaxConfig bounds each configuration file read.
const MaxConfig = 4 << 20

// Options say where the Proxmox files are.
type Options struct {
	// Root is the directory holding etc/pve, run/qemu-server and the
	// /dev paths of volumes; "/" when empty.
	Root string
}

// Disk is one disk of a VM.
type Disk struct {
	Key     string // "scsi0"
	Storage string // "local-lvm"
	Volume  string // "vm-100-disk-0"
	Type    string // the storage's type: "dir", "lvmthin", ...
	Path    string // the host file or block device, under Root
	Format  string // "qcow2", "raw", "vmdk"
}

// VM is a stopped VM and its disks.
type VM struct {
	ID       string
	Name     string
	Template bool
	Disks    []Disk
}

var vmidRE = regexp.MustCompile(`^[1-9][0-9]{2,8}$`)

// Open reads VM vmid's configuration and resolves its disks.
func Open(vmid string, opts Options) (*VM, error) {
	if !vmidRE.MatchString(vmid) {
		return nil, fmt.Errorf("proxmox VM %q: %w: a VMID is a number from 100", vmid, ErrConfig)
	}
	root := opts.Root
	if root == "" {
		root = "/"
	}
	confPath := filepath.Join(root, "etc/pve/qemu-server", vmid+".conf")
	conf, err := readConfig(confPath)
	if err != nil {
		return nil, fmt.Errorf("proxmox VM %s: %w", vmid, err)
	}
	if lock := conf.get("lock"); lock != "" {
		return nil, fmt.Errorf("proxmox VM %s is locked (%s): %w; wait for the task or run qm unlock %s", vmid, lock, ErrRunning, vmid)
	}
	if pid, ok := running(root, vmid); ok {
		return nil, fmt.Errorf("proxmox VM %s is running (qemu pid %d): %w; shut it down first (qm shutdown %s)", vmid, pid, ErrRunning, vmid)
	}
	stores, err := readStorage(filepath.Join(root, "etc/pve/storage.cfg"))
	if err != nil {
		return nil, fmt.Errorf("proxmox VM %s: %w", vmid, err)
	}
	vm := &VM{ID: vmid, Name: conf.get("name"), Template: conf.get("template") == "1"}
	for _, kv := range conf.pairs {
		if !diskKeyRE.MatchString(kv[0]) {
			continue
		}
		d, skip, err := resolve(root, kv[0], kv[1], stores)
		if err != nil {
			return nil, fmt.Errorf("proxmox VM %s: %s: %w", vmid, kv[0], err)
		}
		if !skip {
			vm.Disks = append(vm.Disks, d)
		}
	}
	if len(vm.Disks) == 0 {
		return nil, fmt.Errorf("proxmox VM %s: %w", vmid, ErrNoDisks)
	}
	return vm, nil
}

var diskKeyRE = regexp.MustCompile(`^(scsi|virtio|sata|ide)[0-9]{1,2}$`)

// running reports whether root's qemu-server pid file for vmid names a
// live process.
func running(root, vmid string) (int, bool) {
	for _, dir := range []string{"run/qemu-server", "var/run/qemu-server"} {
		b, err := os.ReadFile(filepath.Join(root, dir, vmid+".pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			return pid, true
		}
	}
	return 0, false
}

// config is a VM configuration's current section.
type config struct{ pairs [][2]string }

func (c config) get(key string) string {
	for _, kv := range c.pairs {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, p, err)
	}
	if len(b) > MaxConfig {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrConfig, p, MaxConfig)
	}
	return b, nil
}

func readConfig(p string) (config, error) {
	b, err := readBounded(p)
	if err != nil {
		return config{}, err
	}
	return parseConfig(string(b)), nil
}

// parseConfig reads "key: value" lines up to the first [section].
func parseConfig(s string) config {
	var c config
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, MaxConfig+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			break // snapshots and pending changes follow
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		c.pairs = append(c.pairs, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return c
}

// store is one storage.cfg entry.
type store struct {
	typ  string
	opts map[string]string
}

func readStorage(p string) (map[string]store, error) {
	b, err := readBounded(p)
	if err != nil {
		return nil, err
	}
	return parseStorage(string(b)), nil
}

// parseStorage reads "TYPE: ID" headers, each followed by indented
// "key value" lines.
func parseStorage(s string) map[string]store {
	out := map[string]store{}
	var cur *store
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, MaxConfig+1)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if raw[0] != ' ' && raw[0] != '\t' {
			typ, id, ok := strings.Cut(line, ":")
			if !ok {
				cur = nil
				continue
			}
			st := store{typ: strings.TrimSpace(typ), opts: map[string]string{}}
			out[strings.TrimSpace(id)] = st
			cur = &st
			continue
		}
		if cur == nil {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		cur.opts[k] = strings.TrimSpace(v)
	}
	return out
}

// resolve makes the Disk of one "key: value" line; skip says it is no
// disk to prepare (a CD-ROM, none).
func resolve(root, key, value string, stores map[string]store) (Disk, bool, error) {
	fields := strings.Split(value, ",")
	vol := fields[0]
	for _, f := range fields[1:] {
		if f == "media=cdrom" {
			return Disk{}, true, nil
		}
	}
	if vol == "none" || vol == "cdrom" {
		return Disk{}, true, nil
	}
	d := Disk{Key: key}
	if strings.HasPrefix(vol, "/") { // a host device passed through
		if path.Clean(vol) == "/" {
			return Disk{}, false, fmt.Errorf("%w: volume %q names the root directory, not a disk", ErrConfig, vol)
		}
		d.Path, d.Format, d.Type = under(root, vol), "raw", "path"
		return d, false, nil
	}
	sid, name, ok := strings.Cut(vol, ":")
	if !ok || sid == "" || name == "" {
		return Disk{}, false, fmt.Errorf("%w: volume %q is not STORAGE:VOLUME", ErrConfig, vol)
	}
	st, ok := stores[sid]
	if !ok {
		return Disk{}, false, fmt.Errorf("%w: storage %q is not in storage.cfg", ErrStorage, sid)
	}
	d.Storage, d.Type = sid, st.typ
	parts := strings.Split(name, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return Disk{}, false, fmt.Errorf("%w: volume %q", ErrConfig, vol)
		}
	}
	switch st.typ {
	case "dir", "nfs", "cifs", "cephfs", "glusterfs":
		// VMID/NAME, or BASEVMID/BASE/VMID/NAME for a linked clone.
		if len(parts) == 4 {
			parts = parts[2:]
		}
		if len(parts) != 2 || st.opts["path"] == "" {
			return Disk{}, false, fmt.Errorf("%w: volume %q on %s storage %s", ErrConfig, vol, st.typ, sid)
		}
		d.Volume = path.Join(parts...)
		d.Path = under(root, path.Join(st.opts["path"], "images", parts[0], parts[1]))
		switch ext := path.Ext(parts[1]); ext {
		case ".qcow2", ".raw", ".vmdk":
			d.Format = ext[1:]
		default:
			return Disk{}, false, fmt.Errorf("%w: volume %q: unknown format %q", ErrStorage, vol, ext)
		}
	case "lvm", "lvmthin":
		d.Volume, d.Format = parts[len(parts)-1], "raw"
		if st.opts["vgname"] == "" {
			return Disk{}, false, fmt.Errorf("%w: %s storage %s has no vgname", ErrConfig, st.typ, sid)
		}
		d.Path = under(root, path.Join("/dev", st.opts["vgname"], d.Volume))
	case "zfspool":
		d.Volume, d.Format = parts[len(parts)-1], "raw"
		if st.opts["pool"] == "" {
			return Disk{}, false, fmt.Errorf("%w: zfspool storage %s has no pool", ErrConfig, sid)
		}
		d.Path = under(root, path.Join("/dev/zvol", st.opts["pool"], d.Volume))
	case "rbd":
		pool := st.opts["pool"]
		if pool == "" {
			pool = "rbd"
		}
		return Disk{}, false, fmt.Errorf("%w: %s is an RBD volume (Ceph pool %s): map it with rbd map first (rbd map %s/%s) and give the /dev/rbdN device",
			ErrStorage, vol, pool, pool, parts[len(parts)-1])
	default:
		return Disk{}, false, fmt.Errorf("%w: %s is on %s storage %s, which imgprep cannot open as a host file", ErrStorage, vol, st.typ, sid)
	}
	return d, false, nil
}

// under is the host path p inside root: ".." stops at root.
func under(root, p string) string {
	return filepath.Join(root, path.Clean("/"+p))
}
