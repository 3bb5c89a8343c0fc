// Package memfile is an in-memory storage.File (pkg/storage) for the
// qcow2 tests: a growable byte slice that counts writes and syncs. It has
// no on-disk format of its own.
package memfile
