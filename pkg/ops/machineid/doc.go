// Package machineid implements the machine-id operation: it empties the
// guest's /etc/machine-id so that every clone gets its own ID on first
// boot, and empties the stale D-Bus copy systemd would otherwise fall back
// to.
//
// Spec: systemd's machine-id(5),
// https://www.freedesktop.org/software/systemd/man/latest/machine-id.html:
// an empty /etc/machine-id makes systemd generate a new ID at boot (kept in
// /run until the root is writable); a file holding "uninitialized\n" also
// marks a first boot (presets apply, ConditionFirstBoot units run); when
// /etc/machine-id is empty systemd reads /var/lib/dbus/machine-id unless it
// is a symlink.
//
// Unlike virt-sysprep's machine-id operation, which writes a fresh ID into
// the template so that every clone then shares it, this operation never
// writes an ID.
package machineid
