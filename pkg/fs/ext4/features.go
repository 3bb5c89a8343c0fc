package ext4

import (
	"fmt"
	"strings"
)

// Feature bits (s_feature_compat, s_feature_incompat, s_feature_ro_compat)
// from ext2_fs.h.
const (
	compatDirPrealloc   = 0x1
	compatImagicInodes  = 0x2
	compatHasJournal    = 0x4
	compatExtAttr       = 0x8
	compatResizeInode   = 0x10
	compatDirIndex      = 0x20
	compatLazyBG        = 0x40
	compatExcludeBitmap = 0x100
	compatSparseSuper2  = 0x200
	compatFastCommit    = 0x400
	compatStableInodes  = 0x800
	compatOrphanFile    = 0x1000

	roCompatSparseSuper   = 0x1
	roCompatLargeFile     = 0x2
	roCompatBtreeDir      = 0x4
	roCompatHugeFile      = 0x8
	roCompatGDTCsum       = 0x10
	roCompatDirNlink      = 0x20
	roCompatExtraIsize    = 0x40
	roCompatHasSnapshot   = 0x80
	roCompatQuota         = 0x100
	roCompatBigalloc      = 0x200
	roCompatMetadataCsum  = 0x400
	roCompatReplica       = 0x800
	roCompatReadonly      = 0x1000
	roCompatProject       = 0x2000
	roCompatSharedBlocks  = 0x4000
	roCompatVerity        = 0x8000
	roCompatOrphanPresent = 0x10000

	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirdata     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargedir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	knownIncompat = incompatCompression | incompatFiletype | incompatRecover | incompatJournalDev |
		incompatMetaBG | incompatExtents | incompat64bit | incompatMMP | incompatFlexBG |
		incompatEAInode | incompatDirdata | incompatCsumSeed | incompatLargedir |
		incompatInlineData | incompatEncrypt | incompatCasefold
	knownROCompat = 0x1FFFF

	// Incompat features this package cannot read at all.
	unreadableIncompat = incompatCompression | incompatJournalDev | incompatDirdata
)

// featureNames maps the feature bits of word w (0 compat, 1 incompat, 2
// ro_compat) to their e2fsprogs names.
func featureNames(w int) map[uint32]string {
	return [3]map[uint32]string{
		{compatDirPrealloc: "dir_prealloc", compatImagicInodes: "imagic_inodes", compatHasJournal: "has_journal",
			compatExtAttr: "ext_attr", compatResizeInode: "resize_inode", compatDirIndex: "dir_index",
			compatLazyBG: "lazy_bg", compatExcludeBitmap: "snapshot_bitmap", compatSparseSuper2: "sparse_super2",
			compatFastCommit: "fast_commit", compatStableInodes: "stable_inodes", compatOrphanFile: "orphan_file"},
		{incompatCompression: "compression", incompatFiletype: "filetype", incompatRecover: "needs_recovery",
			incompatJournalDev: "journal_dev", incompatMetaBG: "meta_bg", incompatExtents: "extent",
			incompat64bit: "64bit", incompatMMP: "mmp", incompatFlexBG: "flex_bg", incompatEAInode: "ea_inode",
			incompatDirdata: "dirdata", incompatCsumSeed: "metadata_csum_seed", incompatLargedir: "large_dir",
			incompatInlineData: "inline_data", incompatEncrypt: "encrypt", incompatCasefold: "casefold"},
		{roCompatSparseSuper: "sparse_super", roCompatLargeFile: "large_file", roCompatBtreeDir: "btree_dir",
			roCompatHugeFile: "huge_file", roCompatGDTCsum: "uninit_bg", roCompatDirNlink: "dir_nlink",
			roCompatExtraIsize: "extra_isize", roCompatHasSnapshot: "snapshot", roCompatQuota: "quota",
			roCompatBigalloc: "bigalloc", roCompatMetadataCsum: "metadata_csum", roCompatReplica: "replica",
			roCompatReadonly: "read-only", roCompatProject: "project", roCompatSharedBlocks: "shared_blocks",
			roCompatVerity: "verity", roCompatOrphanPresent: "orphan_present"},
	}[w]
}

// featureList names the set bits of word w (0 compat, 1 incompat, 2
// ro_compat), unknown ones as FEATURE_I17 style, as e2fsprogs prints them.
func featureList(w int, bits uint32) string {
	prefix := [3]string{"FEATURE_C", "FEATURE_I", "FEATURE_R"}[w]
	known := featureNames(w)
	var names []string
	for i := 0; i < 32; i++ {
		bit := uint32(1) << i
		if bits&bit == 0 {
			continue
		}
		if n, ok := known[bit]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("%s%d", prefix, i))
		}
	}
	return strings.Join(names, ",")
}

// fsType names the filesystem as mount(8) would, from its features.
func fsType(sb *Superblock) string {
	const ext4Incompat = incompatExtents | incompat64bit | incompatFlexBG | incompatMMP |
		incompatEAInode | incompatCsumSeed | incompatLargedir | incompatInlineData |
		incompatEncrypt | incompatCasefold | incompatMetaBG
	const ext4ROCompat = roCompatHugeFile | roCompatGDTCsum | roCompatDirNlink | roCompatExtraIsize |
		roCompatQuota | roCompatBigalloc | roCompatMetadataCsum | roCompatProject | roCompatVerity
	switch {
	case sb.FeatureIncompat&ext4Incompat != 0 || sb.FeatureROCompat&ext4ROCompat != 0:
		return "ext4"
	case sb.FeatureCompat&compatHasJournal != 0:
		return "ext3"
	}
	return "ext2"
}

// writeRefusal returns why writing this filesystem is unsafe, as an error
// wrapping the matching sentinel, or nil.
func writeRefusal(sb *Superblock) error {
	if u := sb.FeatureIncompat &^ knownIncompat; u != 0 {
		return fmt.Errorf("%w: incompat %s", ErrUnknownFeature, featureList(1, u))
	}
	if u := sb.FeatureROCompat &^ knownROCompat; u != 0 {
		return fmt.Errorf("%w: ro_compat %s", ErrUnknownFeature, featureList(2, u))
	}
	if sb.FeatureIncompat&incompatRecover != 0 {
		return ErrNeedsRecovery
	}
	if sb.State&stateError != 0 {
		return ErrErrorState
	}
	if sb.State&stateValid == 0 {
		return ErrNotClean
	}
	if sb.LastOrphan != 0 || sb.FeatureROCompat&roCompatOrphanPresent != 0 {
		return ErrOrphansPresent
	}
	// Known features whose invariants this package does not maintain.
	const badIncompat = incompatMMP | incompatEAInode | incompatEncrypt | incompatCasefold |
		unreadableIncompat
	const badROCompat = roCompatBigalloc | roCompatQuota | roCompatHasSnapshot | roCompatReplica |
		roCompatReadonly | roCompatSharedBlocks | roCompatVerity
	if b := sb.FeatureIncompat & badIncompat; b != 0 {
		return fmt.Errorf("%w: %s", ErrUnsupportedFeature, featureList(1, b))
	}
	if b := sb.FeatureROCompat & badROCompat; b != 0 {
		return fmt.Errorf("%w: %s", ErrUnsupportedFeature, featureList(2, b))
	}
	if b := sb.FeatureCompat & (compatExcludeBitmap | compatLazyBG); b != 0 {
		return fmt.Errorf("%w: %s", ErrUnsupportedFeature, featureList(0, b))
	}
	if sb.FeatureCompat&compatHasJournal != 0 && sb.JournalInum == 0 {
		return fmt.Errorf("%w: external journal device", ErrUnsupportedFeature)
	}
	return nil
}

const (
	stateValid = 0x1
	stateError = 0x2
)
