// Package sysprep is imgprep's per-image pipeline, used by the CLI and by
// batches: open the image (for writing, or for a dry run whose writes are
// staged and discarded), find its guests, run the selected operations on
// each, sync the filesystems and commit the transaction, or leave the image
// byte-identical when anything fails. It also inspects an image read-only
// (Inspect).
//
// The lower layers are reached through the Backend interface; the real one
// (Stack) is pkg/image under pkg/guest, and tests substitute in-memory
// guests (pkg/fs/memfs). The yardstick is virt-sysprep(1)
// (https://libguestfs.org/virt-sysprep.1.html): the same operations model,
// without booting an appliance.
package sysprep
