// Package clone makes clones of a template image and gives each its own
// identity: linked clones (new qcow2 overlays whose backing file is the
// template, as qemu-img create -b makes them) and full clones (independent
// sparse copies, qcow2 or raw). Each clone is then prepared with
// pkg/sysprep, in the clone only: the template is only ever opened
// read-only and stays bit-identical.
//
// Specifications: the qcow2 header's backing file name and backing format
// extension (QEMU docs/interop/qcow2.rst, "Header" and "Header
// extensions"); /etc/machine-id (machine-id(5): 32 lower-case hexadecimal
// characters and a newline, a v4 UUID's 128 bits); host names as RFC 1123
// section 2.1 allows them, at most 64 bytes (Linux's HOST_NAME_MAX),
// written as virt-customize --hostname writes them (pkg/customize:
// /etc/hostname and the 127.0.1.1 line of /etc/hosts).
//
// It also names the template protection of pkg/image (Index is
// image.CloneIndex): Dependents finds the qcow2 images of a directory
// whose backing file is a given image, reading only their headers, so
// that sysprep.Run refuses by default to write a template under linked
// clones. Its on-disk reading is pkg/qcow2's; byte order there is
// big-endian.
package clone
