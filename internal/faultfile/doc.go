// Package faultfile simulates power loss and I/O errors under the storage
// layer, so that the layers above it (the transaction journal, the image
// formats, the filesystems) can be tested against every point at which a
// machine can lose power or a disk can fail.
//
// A Disk wraps any number of storage.File values and storage.Dir values.
// Every WriteAt, Truncate and Sync of a wrapped file, and every Create,
// Remove and SyncDir of a wrapped directory, is one operation, numbered
// from 0 in the order the calls arrive. From the operation numbered
// crashAt on, nothing persists: the calls report success but change
// nothing, as if the power had gone just before that operation reached
// the disk and the program had not noticed yet. Reads always see what
// persisted. FailAt makes a single operation fail with a chosen error
// (ENOSPC, EIO, ...) without persisting anything; later operations proceed.
//
// The model is that of an ordered disk: an operation that completed before
// the crash is durable, whether or not it was followed by a sync. This is
// the model the transaction layer's protocol is checked against; its fsync
// calls are what make the model true on a real disk. TornWrite refines the
// crashing operation: a WriteAt cut by the power loss can keep a prefix.
//
// LoseUnsynced switches to the harsher model of a disk with a volatile
// cache: a WriteAt or Truncate persists only at the next Sync of its
// file, a Create or Remove only at the next SyncDir of its directory, and
// at the power loss an arbitrary subset (chosen by the test) of what was
// still waiting persists. A protocol that passes under it has its fsync
// calls where they are needed.
//
// Mem is an in-memory storage.File and MemDir an in-memory storage.Dir,
// for tests that want neither the host filesystem nor its speed.
//
// There is no on-disk format here; the package implements the interfaces
// of github.com/imgprep/imgprep/pkg/storage.
package faultfile
