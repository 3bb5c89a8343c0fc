package customize

import (
	"fmt"
	"path"
	"regexp"
	"strconv"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/ops"
)

// The firstboot layout of virt-customize (libguestfs-common
// mlcustomize/firstboot.ml), so that scripts installed by either tool run
// in one sequence: numbered scripts in FirstbootScripts, run once by the
// driver FirstbootDriver from the systemd unit FirstbootUnit, which
// FirstbootWants enables.
const (
	FirstbootDir     = "/usr/lib/virt-sysprep"
	FirstbootScripts = FirstbootDir + "/scripts"
	FirstbootDriver  = FirstbootDir + "/firstboot.sh"
	FirstbootService = "guestfs-firstboot.service"
	FirstbootUnit    = "/usr/lib/systemd/system/" + FirstbootService
	FirstbootTarget  = "multi-user.target"
	FirstbootWants   = "/etc/systemd/system/" + FirstbootTarget + ".wants/" + FirstbootService
	// firstbootPrio is virt-customize's default priority, the first
	// number of a script's name.
	firstbootPrio = 5000
)

// FirstbootDriverScript is the driver: it runs each executable script of
// FirstbootScripts once, in name order, after moving it to scripts-done,
// logs to ~root/virt-sysprep-firstboot.log and the console, then empties
// scripts-done and disables its own service.
const FirstbootDriverScript = `#!/bin/sh -
# Installed by imgprep in virt-customize's firstboot layout: runs each
# script of $d once, at the next boot, then disables this service.
# Output and errors go to ~root/virt-sysprep-firstboot.log.

dir=` + FirstbootDir + `
d=$dir/scripts
d_done=$dir/scripts-done
logfile=~root/virt-sysprep-firstboot.log

if test "$1" = "start"
then
  mkdir -p "$d_done"
  for f in "$d"/* ; do
    if test -x "$f"
    then
      # Moved first, so that a script that reboots the guest is not run
      # again at the next boot.
      mv "$f" "$d_done"/
      echo "=== Running $f ===" 2>&1 | tee -a "$logfile"
      "$d_done/${f##*/}" 2>&1 | tee -a "$logfile"
    fi
  done
  rm -f "$d_done"/*
  systemctl disable ` + FirstbootService + ` 2>&1 | tee -a "$logfile"
fi
`

// FirstbootUnitFile is the systemd unit that runs the driver once.
const FirstbootUnitFile = `[Unit]
Description=firstboot scripts (imgprep, virt-customize layout)
After=network.target
Before=prefdm.service

[Service]
Type=oneshot
ExecStart=` + FirstbootDriver + ` start
RemainAfterExit=yes
StandardOutput=journal+console
StandardError=inherit

[Install]
WantedBy=` + FirstbootTarget + `
`

var (
	unsafeNameRE = regexp.MustCompile(`[^A-Za-z0-9_]`)
	scriptNameRE = regexp.MustCompile(`^[0-9]{4}-([0-9]{4,})-`)
)

// ScriptName is a firstboot script's file name, as virt-customize makes
// it: priority, sequence number and the name with every character but
// letters, digits and '_' made '-', cut at 60.
func ScriptName(seq int, name string) string {
	n := unsafeNameRE.ReplaceAllString(name, "-")
	if len(n) > 60 {
		n = n[:60]
	}
	return fmt.Sprintf("%04d-%04d-%s", firstbootPrio, seq, n)
}

// firstboot installs the service (driver, unit, enabling symlink) and
// adds the step's script after the scripts already waiting.
func (r *run) firstboot() error {
	for _, d := range []string{FirstbootScripts, path.Dir(FirstbootUnit), path.Dir(FirstbootWants)} {
		if err := r.mkdirAll(d); err != nil {
			return err
		}
	}
	if err := r.writeMode(FirstbootDriver, []byte(FirstbootDriverScript), 0o755); err != nil {
		return err
	}
	if err := r.writeMode(FirstbootUnit, []byte(FirstbootUnitFile), 0o644); err != nil {
		return err
	}
	if err := r.symlink(FirstbootUnit, FirstbootWants); err != nil {
		return err
	}
	ents, err := r.g.ReadDir(FirstbootScripts)
	if err != nil {
		return fmt.Errorf("reading %s: %w", FirstbootScripts, err)
	}
	seq := 0
	for _, e := range ents {
		if m := scriptNameRE.FindStringSubmatch(e.Name); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > seq && n < 1e8 {
				seq = n
			}
		}
	}
	p := path.Join(FirstbootScripts, ScriptName(seq+1, r.step.target))
	if err := r.g.WriteFile(p, r.step.data, fs.WriteOptions{Perm: 0o755}); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return r.record(p, ops.Created, pluralBytes(len(r.step.data)))
}

// writeMode is write, then perm on a file that existed with another.
func (r *run) writeMode(p string, data []byte, perm uint32) error {
	if err := r.write(p, data, perm); err != nil {
		return err
	}
	a, err := r.g.Lstat(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if a.Perm() == perm {
		return nil
	}
	if err := r.g.Chmod(p, perm); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	for _, c := range r.changes {
		if c.Path == p {
			return nil // already reported
		}
	}
	return r.record(p, ops.Edited, fmt.Sprintf("mode %04o", perm))
}
