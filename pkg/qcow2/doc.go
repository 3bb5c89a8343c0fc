// Package qcow2 reads and writes QEMU's qcow2 disk image format, versions
// 2 and 3, with one model of the format shared by both directions.
//
// Specification: https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.rst
// All on-disk integers are big-endian; layout.go mirrors the structures
// field by field and layout_test.go asserts their sizes.
//
// # Reading
//
// Open and OpenFile read the header, its extensions, the active L1 table
// and the snapshot table (bounds only), nothing proportional to the data:
// L2 tables are read on demand into a bounded per-image LRU (4 MiB), and
// refcount blocks only when a write needs them. Cluster sizes 512 B to
// 2 MiB; standard, zero, unallocated and compressed (deflate or zstd)
// clusters; extended L2 entries with subclusters; backing files through
// Options.Backing. Images with an external data file or encryption are
// refused; images with the dirty or corrupt bit or persistent bitmaps can
// be read but not written.
//
// # Writing and crash consistency
//
// Writes go to the top image only. Every written guest cluster gets a new
// host cluster the first time it is written after a commit (filled with its
// old contents when the write is partial: decompressed, from the backing
// file, or zeros), so nothing a reader of the file can see changes until
// the commit. Later writes to the same guest cluster before the commit go
// to that new cluster in place. The new entries are staged in memory.
//
// Flush (and Close) commits them, in an order chosen so that the file,
// cut short after any write or sync, is either the old image or the new
// one, with at most leaked clusters (qemu-img check exit 0 or 3, never a
// referenced cluster with refcount 0):
//
//  1. the data clusters are already written (WriteAt);
//  2. every L2 table that changes is copied to a newly allocated cluster
//     with the new entries (copy-on-write; the old table stays intact);
//  3. the L1 table is copied, with the new L2 offsets, to newly allocated
//     clusters;
//  4. if new refcount blocks do not fit the refcount table, a bigger table
//     is allocated;
//  5. the refcount blocks are written: they only raise refcounts of
//     clusters nothing references yet; sync;
//  6. the refcount table entries of new blocks are written in place, or
//     the new table followed, after a sync, by one 12-byte header write of
//     refcount_table_offset and refcount_table_clusters; sync;
//  7. the switch: one 12-byte header write of l1_size and l1_table_offset
//     (offset 36); sync. Before it the old tree is visible, after it the
//     new one;
//  8. the references of the old tree are dropped: the old L1 table, the
//     old L2 tables, the data clusters the new entries replaced (and the
//     old refcount table); their refcount blocks are written; sync. A
//     crash here only leaks clusters. Freed clusters are reused only after
//     this step.
//
// This is QEMU's order (data, refcount increase, L2 entry, L1; free after
// dereferencing) applied to whole copy-on-write trees. Refcounts are never
// inconsistent on disk, so the dirty bit is never set, and refcounts of
// clusters shared with internal snapshots stay right: a copied L2 table
// keeps its entries' references (the old table loses one reference), and
// a replaced data cluster loses one reference. Memory between commits is
// one map entry per written guest cluster.
//
// # Damaged images
//
// A failed WriteAt or commit poisons the image: later writes, Flush and
// Close report the error and nothing more is committed, so the file stays
// at its last commit. Before the first write the metadata in use (header,
// L1 and L2 tables, refcount table and blocks, snapshot tables) is mapped
// by cluster; overlapping structures, or metadata with refcount 0, make
// every write fail with ErrCorrupt before anything is written. Each
// WriteAt checks, before writing, that the clusters it will replace
// decode, are not metadata and have a non-zero refcount; each commit
// checks that no refcount would drop below zero.
//
// New clusters come from past the end of the file as it was at the first
// write, or from clusters this Image freed itself: a hole below the end
// whose refcount says free could still be referenced by a damaged L2
// table, and proving otherwise would mean reading every L2 table. Holes
// left by earlier sessions are therefore not reused (QEMU reuses them);
// the file grows by what a session copies on write. Past the end of the
// file nothing is looked up: new runs are appended one after another
// from there, as QEMU appends, and whatever the refcounts said of those
// clusters (a leak: refcounts marking clusters past the end as used) is
// overwritten, so leaked refcounts up to the 2^56 limit cost no scan.
//
// CreateOptions.NoOrderingSync drops the ordering syncs (not the final
// one) for new images nobody reads before Close, such as copy
// destinations.
package qcow2
