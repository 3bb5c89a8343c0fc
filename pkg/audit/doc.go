// Package audit finds the images of a fleet that share an identity they
// should each own: the same non-empty machine ID (machine-id(5), /etc or
// D-Bus copy), the same Netdata machine GUID or claimed_id (Netdata's
// "VM templates and clones" guide), the same SSH host key (by its SHA256
// fingerprint, as ssh-keygen -l prints it), the same filesystem UUID, and,
// as a warning, the same host name. It reads every image read-only
// through sysprep.Inspect, in parallel with pkg/batch.
//
// It parses no on-disk structure of its own; the layers below do.
package audit
