// Package libvirt finds the disks of a libvirt domain, as virt-sysprep's
// -d DOMAIN and -c URI do: it asks virsh(1) for the domain's state
// (domstate) and its XML (dumpxml), and reads each <disk device="disk">:
// the source file or block device, the format of <driver type>, and the
// <backingStore> chain libvirt reports (https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms).
// A domain that is not shut off (running, paused, ...) is refused: its
// disks are in use.
//
// It parses the domain XML with encoding/xml into the few elements it
// needs, bounded by MaxXML bytes.
package libvirt
