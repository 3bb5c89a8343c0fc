package jbd2

import (
	"fmt"
	"slices"
)

// Replay is the outcome of Recover: which filesystem block gets which
// journal block.
type Replay struct {
	j *Journal
	// Start is the first transaction replayed (s_sequence); End the first
	// one not replayed: transactions [Start, End) were replayed.
	Start, End uint32
	// NextSequence is the s_sequence of the reset journal (End+1 after a
	// replay, s_sequence+1 for an empty log), as e2fsck writes it.
	NextSequence uint32
	// Replays counts the block writes of the replay (a block written by
	// two transactions counts twice), RevokeHits those a revoke record
	// cancelled, Revokes the revoke records read.
	Replays, RevokeHits, Revokes int

	blocks map[uint64]source
}

// source is where a replayed block's final contents are in the log.
type source struct {
	log     uint64
	escaped bool
}

// Transactions returns the number of transactions replayed.
func (r *Replay) Transactions() int { return int(r.End - r.Start) }

// Blocks returns the filesystem blocks the replay writes, in increasing
// order.
func (r *Replay) Blocks() []uint64 {
	bs := make([]uint64, 0, len(r.blocks))
	for b := range r.blocks {
		bs = append(bs, b)
	}
	slices.Sort(bs)
	return bs
}

// Has reports whether the replay writes filesystem block blk.
func (r *Replay) Has(blk uint64) bool {
	_, ok := r.blocks[blk]
	return ok
}

// ReadBlock reads the replayed contents of filesystem block blk into p
// (one journal block) and reports whether the replay writes blk at all.
func (r *Replay) ReadBlock(blk uint64, p []byte) (bool, error) {
	s, ok := r.blocks[blk]
	if !ok {
		return false, nil
	}
	if len(p) != r.j.bs {
		return true, fmt.Errorf("jbd2: ReadBlock into %d bytes, the block size is %d", len(p), r.j.bs)
	}
	if err := r.j.readBlock(s.log, p); err != nil {
		return true, err
	}
	if s.escaped {
		be.PutUint32(p, Magic)
	}
	return true, nil
}

type passType int

const (
	passScan passType = iota
	passRevoke
	passReplay
)

// recovery carries what one pass tells the next (struct recovery_info).
type recovery struct {
	j            *Journal
	start, end   uint32
	failedCommit uint32
	revoked      map[uint64]uint32 // block -> latest transaction revoking it
	rp           *Replay
}

// Recover runs the scan, revoke and replay passes and returns what the
// replay writes. It writes nothing. An empty log (s_start 0) gives an
// empty Replay. A transaction whose commit fails its checksum ends the
// replay as in the kernel (with async_commit the scan goes on past it);
// Recover then returns the error, as e2fsck marks the journal corrupt.
func (j *Journal) Recover() (*Replay, error) {
	rp := &Replay{j: j, blocks: map[uint64]source{}, Start: j.sb.Sequence}
	if j.has(FeatureIncompatFastCommit) && j.sb.Start != 0 {
		return nil, unsupported("fast commits (fast_commit)")
	}
	if j.sb.Start == 0 {
		rp.End = j.sb.Sequence
		rp.NextSequence = j.sb.Sequence + 1
		return rp, nil
	}
	rc := &recovery{j: j, revoked: map[uint64]uint32{}, rp: rp}
	for _, p := range []passType{passScan, passRevoke, passReplay} {
		if err := rc.pass(p); err != nil {
			return nil, err
		}
	}
	if rc.failedCommit != 0 {
		return nil, corrupt(0, "log", "transaction %d is corrupt: its commit block checksum does not match, replay was aborted", rc.failedCommit)
	}
	rp.Start, rp.End = rc.start, rc.end
	rp.NextSequence = rc.end + 1
	return rp, nil
}

func tidGEQ(x, y uint32) bool { return int32(x-y) >= 0 }
func tidGT(x, y uint32) bool  { return int32(x-y) > 0 }

// pass is do_one_pass.
func (rc *recovery) pass(p passType) error {
	j := rc.j
	next := j.sb.Sequence
	blk := uint64(j.sb.Start)
	if p == passScan {
		rc.start = next
	}
	var (
		crcSum         = ^uint32(0)
		csumSize       int
		needCommitTime bool
		lastCommitTime uint64
		failure        error
		walked         uint64
		logLen         = uint64(j.last - j.sb.First)
		buf            = make([]byte, j.bs)
		data           = make([]byte, j.bs)
		tagBytes       = j.tagBytes()
		csumV23, async = j.csumV23(), j.has(FeatureIncompatAsyncCommit)
		wide           = j.has(FeatureIncompat64bit)
	)
loop:
	for {
		if p != passScan && tidGEQ(next, rc.end) {
			break
		}
		// The kernel has no bound here; a log that never ends is
		// hostile: no transaction is longer than the log.
		if walked > logLen+1 {
			return corrupt(uint32(blk), "log", "transaction %d runs past the whole %d-block log", next, logLen)
		}
		here := blk
		if err := j.readBlock(blk, buf); err != nil {
			return err
		}
		walked++
		blk = j.wrap(blk + 1)
		var h Header
		decode(buf, &h)
		if h.Magic != Magic || h.Sequence != next {
			break
		}
		switch h.BlockType {
		case BlockDescriptor:
			if csumV23 {
				csumSize = TailSize
			}
			if csumSize > 0 && !j.tailChecksumOK(buf) {
				// The scan can meet stale blocks of an older log:
				// the commit block's time decides.
				if p != passScan {
					return badChecksum(uint32(here), "descriptor block", "tail checksum mismatch in transaction %d", next)
				}
				needCommitTime = true
			}
			if p != passReplay {
				if p == passScan && j.v1 != nil && !needCommitTime && rc.end == 0 {
					crcSum = j.v1.update(crcSum, buf)
					n := countTags(buf, tagBytes, csumSize)
					for range n {
						io := blk
						blk = j.wrap(blk + 1)
						walked++
						if err := j.readBlock(io, data); err != nil {
							return err
						}
						crcSum = j.v1.update(crcSum, data)
					}
					continue
				}
				n := countTags(buf, tagBytes, csumSize)
				walked += uint64(n)
				blk = j.wrap(blk + uint64(n))
				continue
			}
			for off := HeaderSize; off+tagBytes <= j.bs-csumSize; {
				tag := buf[off:]
				flags := be.Uint16(tag[6:])
				io := blk
				blk = j.wrap(blk + 1)
				walked++
				if err := j.readBlock(io, data); err != nil {
					return err
				}
				nr := uint64(be.Uint32(tag))
				if wide {
					nr |= uint64(be.Uint32(tag[8:])) << 32
				}
				switch {
				case rc.isRevoked(nr, next):
					rc.rp.RevokeHits++
				case !j.tagChecksumOK(tag, data, h.Sequence):
					failure = badChecksum(uint32(io), "data block", "checksum mismatch for filesystem block %d in transaction %d", nr, next)
				default:
					rc.rp.blocks[nr] = source{log: io, escaped: flags&FlagEscape != 0}
					rc.rp.Replays++
				}
				off += tagBytes
				if flags&FlagSameUUID == 0 {
					off += 16
				}
				if flags&FlagLastTag != 0 {
					break
				}
			}
			continue

		case BlockCommit:
			var ch CommitHeader
			decode(buf, &ch)
			if needCommitTime {
				if ch.CommitSec >= lastCommitTime {
					return badChecksum(uint32(here), "log", "invalid checksum found in transaction %d", next)
				}
				break loop // stale blocks of an older log: the log ends here
			}
			bad := false
			if p == passScan && j.v1 != nil {
				if rc.end != 0 {
					rc.failedCommit = rc.end
					continue
				}
				found := ch.Checksum[0]
				if !(crcSum == found && ch.ChecksumType == ChecksumCRC32 && ch.ChecksumSize == 4 ||
					ch.ChecksumType == 0 && ch.ChecksumSize == 0 && found == 0) {
					bad = true
				}
				crcSum = ^uint32(0)
			}
			if bad || p == passScan && !j.commitChecksumOK(buf) {
				if ch.CommitSec < lastCommitTime {
					break loop
				}
				rc.end = next
				if !async {
					rc.failedCommit = next
					continue
				}
			}
			if p == passScan {
				lastCommitTime = ch.CommitSec
			}
			next++
			continue

		case BlockRevoke:
			if p == passScan && !j.tailChecksumOK(buf) {
				needCommitTime = true
			}
			if p != passRevoke {
				continue
			}
			if err := rc.scanRevoke(buf, here, next); err != nil {
				return err
			}
			continue

		default:
			break loop
		}
	}
	if p == passScan {
		if rc.end == 0 {
			rc.end = next
		}
	} else if rc.end != next && failure == nil {
		failure = corrupt(uint32(blk), "log", "recovery pass %d ended at transaction %d, expected %d", p, next, rc.end)
	}
	return failure
}

// countTags counts the tags of a descriptor block (count_tags).
func countTags(b []byte, tagBytes, csumSize int) int {
	n := 0
	for off := HeaderSize; off+tagBytes <= len(b)-csumSize; {
		flags := be.Uint16(b[off+6:])
		n++
		off += tagBytes
		if flags&FlagSameUUID == 0 {
			off += 16
		}
		if flags&FlagLastTag != 0 {
			break
		}
	}
	return n
}

// scanRevoke records the revoke records of a revoke block of
// transaction seq (scan_revoke_records).
func (rc *recovery) scanRevoke(b []byte, here uint64, seq uint32) error {
	j := rc.j
	count := int64(be.Uint32(b[HeaderSize:]))
	csumSize := int64(0)
	if j.csumV23() {
		csumSize = TailSize
	}
	if count > int64(j.bs)-csumSize {
		return corrupt(uint32(here), "revoke block", "r_count %d beyond the block", count)
	}
	rec := int64(4)
	if j.has(FeatureIncompat64bit) {
		rec = 8
	}
	for off := int64(RevokeHeaderSize); off+rec <= count; off += rec {
		var nr uint64
		if rec == 4 {
			nr = uint64(be.Uint32(b[off:]))
		} else {
			nr = be.Uint64(b[off:])
		}
		if old, ok := rc.revoked[nr]; !ok || tidGT(seq, old) {
			rc.revoked[nr] = seq
		}
		rc.rp.Revokes++
	}
	return nil
}

// isRevoked is jbd2_journal_test_revoke: a block of transaction seq is
// not replayed when a transaction from seq on revoked it.
func (rc *recovery) isRevoked(blk uint64, seq uint32) bool {
	r, ok := rc.revoked[blk]
	return ok && !tidGT(seq, r)
}
