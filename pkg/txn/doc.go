// Package txn makes one imgprep run on one image atomic: every change
// lands, across every filesystem and partition of the image, or none
// does. It sits just above the host file (pkg/storage), below the image
// formats, so raw and qcow2 images are covered alike, metadata and data
// alike.
//
// # Staging
//
// Begin returns a *Tx, itself a storage.File: WriteAt and Truncate are
// staged in memory (a sorted map of disjoint dirty byte ranges), reads
// see the staged bytes over the file's, and Sync does nothing. Nothing
// reaches the file before Commit; Discard (a dry run) drops it all, and
// Stats and Regions describe it for a dry-run report.
//
// # The protocol (a rollback journal, as SQLite's)
//
// Commit, on a file F with journal J (F's path + "-imgprep-journal"):
//
//  1. create J (O_EXCL) and write: a header (magic, version, state
//     PENDING, F's original size, record count), one record per region
//     Commit will overwrite or cut (offset, length, the ORIGINAL bytes,
//     read from F), and a trailer holding a crc32c of everything before
//     it (the state field counted as zero);
//  2. fsync J, fsync J's directory — from here J is durable and valid;
//  3. apply the staged truncation, writes and extension to F; fsync F;
//  4. set J's state to COMMITTED (one aligned 4-byte write); fsync J —
//     this is the commit point;
//  5. remove J (the directory is not synced: if a crash brings J back,
//     it says COMMITTED and Recover just removes it).
//
// Recover, which must run before any other opening of F for writing,
// looks at J: absent, nothing to do; incomplete or with a bad checksum
// (the crash came before step 2 ended, F was never touched), removed;
// COMMITTED (the crash came after step 4), removed; PENDING and valid
// (the crash came during step 3 or 4, F may hold any mix), every original
// region and the original size are written back, F is synced, J removed.
// Restoring is idempotent, so a crash during Recover is recovered by the
// next Recover.
//
// # What a crash leaves
//
// At every instant the pair (F, J) is in one of these states, and
// Recover maps each to F as before or F as after the commit:
//
//	no J, F old                      before (crash before step 1 wrote)
//	J incomplete or bad, F old       before (J removed)
//	J pending, F any mix             before (rolled back)
//	J committed, F new               after  (J removed)
//	no J, F new                      after
//
// Errors follow the same rule: Commit returning nil means every change is
// in F and durable; an error means F is as before — restored at once from
// J when the failure came after F was touched, or, when even that failed
// (ErrRollbackFailed), restored by the next Recover from J, which is kept.
//
// # The journal format
//
// Every integer is little-endian; see layout.go. Header 64 bytes (magic
// "IMGPJRNL", version 1, header size, state, record count, original
// size, final size, journal size, data bytes, cut size); records of a
// 16-byte header (offset, length) and length bytes; trailer 16 bytes
// (magic "IMGPJEND", crc32c Castagnoli, reserved). ParseJournal checks
// every field against the journal's own size before trusting it.
//
// Costs: the journal holds the original bytes of every region changed,
// plus everything cut by a shrinking truncation; staging holds the new
// bytes in memory.
package txn
