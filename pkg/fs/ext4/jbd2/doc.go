// Package jbd2 reads and replays a jbd2 journal (the journal of ext3 and
// ext4) as the kernel and e2fsck do, in pure Go.
//
// Open parses the journal superblock of a journal given as an
// io.ReaderAt over the journal's own blocks (the journal inode's
// contents, block 0 being the journal superblock). Recover then runs the
// three passes of the kernel's fs/jbd2/recovery.c and e2fsprogs'
// e2fsck/recovery.c:
//
//  1. scan: walk the log from s_start, transaction by transaction, to
//     find the last one whose commit block is in place (and, with
//     checksums, valid);
//  2. revoke: collect the revoke records of those transactions;
//  3. replay: for every block a descriptor tags, in log order, keep the
//     journal copy unless a revoke record of the same or a later
//     transaction cancels it.
//
// The result is a *Replay: which filesystem block gets which journal
// block (escaped blocks get the magic number back), read on demand, so
// memory stays proportional to the number of distinct blocks, never to
// their contents. The caller writes them (ext4's write path, inside the
// imgprep transaction) or lays them over the device in memory (the
// read-only path), then resets the journal superblock with
// ResetSuperblock: s_start 0 and s_sequence one past the last transaction
// replayed, as e2fsck does.
//
// Supported: v1 and v2 journal superblocks, revoke blocks, 64-bit block
// numbers (journal_64bit), checksums v1 (journal_checksum, crc32_be over
// the transaction), v2 and v3 (crc32c per block), async_commit,
// descriptor block tails, escaped blocks (JBD2_FLAG_ESCAPE) and the
// wrap-around of the circular log. Refused by name: fast commits
// (fast_commit), journals shared by several filesystems, unknown journal
// features. Every field the journal claims is checked against the
// journal's own size before use, and the walk is bounded by the log's
// length, so a hostile journal gets an error, never a loop or an
// allocation it chose.
package jbd2
