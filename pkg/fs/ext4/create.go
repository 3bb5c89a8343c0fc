package ext4

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgprep/imgprep/pkg/fs"
)

// The create side of fs.WriteTree: WriteFile, Mkdir, Symlink, Mknod and
// Link here, Rename in rename.go, Chmod/Chown/Utimes in attr_write.go.
// Each checks everything it can (the name, the parent, free inodes and
// blocks, every directory block it will search) before it changes
// anything.
//
// Primitives the create side adds to those of write.go:
//
//	allocRuns(allocRequest) []blockRun    blocks near a goal, one run preferred (alloc_extend.go)
//	buildExtentTree(in, exts, goal)       i_block root, or leaf/index blocks (any depth)
//	newIndirectMap(in, goal).set/flush    ext2/3 block maps up to triple indirect
//	writeNewData(in, data)                blocks + map + i_blocks + i_size for a file with none
//	appendBlock(in, l) pblk               map one more block at the end (directories)
//	addDirent(dir, name, ino, ft)         first gap, htree leaf by hash (split), or a new block
//	setDirent(dir, e, loc, ino, ft)       retarget an entry in place (rename over a name)
//	dropIndex(dir)                        htree to linear directory (dirent_add.go)
//	removeIbodyXattr(in, index, name)     drop an in-inode xattr (inline data to blocks)

// linkMax is EXT4_LINK_MAX: the most links an inode may have; a directory
// on a dir_nlink filesystem goes past it by setting its count to 1.
const linkMax = 65000

// dirGrowthBlocks is the room kept for a directory to grow by one block
// (the block plus a rebuilt extent tree or new indirect blocks).
const dirGrowthBlocks = 8

// checkName applies the rules for a new name: not empty, not "." or "..",
// no "/" or NUL, at most 255 bytes.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w: name %q", fs.ErrInvalid, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: name %q contains '/' or NUL", fs.ErrInvalid, name)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: %d bytes", fs.ErrNameTooLong, len(name))
	}
	return nil
}

// createTarget reads directory dir and checks that name is valid and
// free in it.
func (f *FS) createTarget(dirIno fs.Ino, name string) (*inode, error) {
	dir, err := f.dirInode(dirIno)
	if err != nil {
		return nil, err
	}
	return dir, f.checkNewName(dir, name)
}

// checkNewName checks that name is valid and free in directory dir.
func (f *FS) checkNewName(dir *inode, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := f.checkDirWritable(dir); err != nil {
		return err
	}
	if _, _, err := f.lookup(dir, name); err == nil {
		return fs.ErrExist
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkSpace refuses, before any change, an operation needing one new
// inode (when inodes is true) and blocks new blocks.
func (f *FS) checkSpace(inodes bool, blocks uint64) error {
	if inodes && f.sb.FreeInodesCount == 0 {
		return fmt.Errorf("%s: no free inode: %w", f.name, fs.ErrNoSpace)
	}
	if f.freeBlocks() < blocks {
		return fmt.Errorf("%s: %d blocks needed, %d free: %w", f.name, blocks, f.freeBlocks(), fs.ErrNoSpace)
	}
	return nil
}

// checkCreateSpace is checkSpace for an operation that also links name
// into dir: when no gap of dir holds the name, room for the directory to
// grow (a block, a leaf split, a rebuilt map) is needed too.
func (f *FS) checkCreateSpace(dir *inode, name string, inodes bool, blocks uint64) error {
	fits, err := f.direntFits(dir, name)
	if err != nil {
		return err
	}
	if !fits {
		blocks += dirGrowthBlocks
	}
	return f.checkSpace(inodes, blocks)
}

// newChild allocates and initialises (in memory) a new inode of mode for
// parent dir: owner, one link, times now.
func (f *FS) newChild(dir *inode, mode uint16, owner fs.Owner) (*inode, error) {
	ino, err := f.allocInode(dir.ino, mode&0xF000 == 0x4000)
	if err != nil {
		return nil, err
	}
	in := f.newInode(ino, mode)
	in.setOwner(owner)
	in.d.LinksCount = 1
	return in, nil
}

func (in *inode) setOwner(o fs.Owner) {
	in.d.UID, in.d.UIDHigh = uint16(o.UID), uint16(o.UID>>16)
	in.d.GID, in.d.GIDHigh = uint16(o.GID), uint16(o.GID>>16)
}

// linkChild writes the new inode in, links it as name in dir and writes
// dir with fresh times.
func (f *FS) linkChild(dir *inode, name string, in *inode) error {
	if err := f.writeInode(in); err != nil {
		return err
	}
	if err := f.addDirent(dir, name, in.ino, modeFileType(in.d.Mode)); err != nil {
		return err
	}
	return f.touchDir(dir)
}

// touchDir sets a changed directory's mtime and ctime and writes it.
func (f *FS) touchDir(dir *inode) error {
	now := f.now()
	dir.setMtime(now)
	dir.setCtime(now)
	return f.writeInode(dir)
}

// modeFileType is the directory entry file type of an inode mode.
func modeFileType(mode uint16) uint8 {
	switch uint32(mode) & fs.ModeTypeMask {
	case fs.ModeRegular:
		return ftRegular
	case fs.ModeDir:
		return ftDir
	case fs.ModeChar:
		return ftChr
	case fs.ModeBlock:
		return ftBlk
	case fs.ModeFIFO:
		return ftFifo
	case fs.ModeSocket:
		return ftSock
	case fs.ModeSymlink:
		return ftSymlink
	}
	return ftUnknown
}

// writeFile creates the regular file name in dir with data, or
// overwrites the existing one in place (see fs.WriteOptions).
func (f *FS) writeFile(dirIno fs.Ino, name string, data []byte, opts fs.WriteOptions) error {
	dir, err := f.dirInode(dirIno)
	if err != nil {
		return err
	}
	e, _, err := f.lookup(dir, name)
	if err == nil {
		in, err := f.readInode(e.ino)
		if err == nil {
			err = checkRegular(in)
		}
		if err != nil {
			return err
		}
		return f.overwrite(in, data, opts.Times)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if err := f.checkDirWritable(dir); err != nil {
		return err
	}
	n := uint64((int64(len(data)) + f.blockSize - 1) / f.blockSize)
	probe := &inode{}
	if f.sb.FeatureIncompat&incompatExtents != 0 {
		probe.d.Flags = inodeFlagExtents
	}
	if err := f.checkFileSize(probe, int64(len(data))); err != nil {
		return err
	}
	if err := f.checkCreateSpace(dir, name, true, n+f.metaBlocksFor(probe, n)); err != nil {
		return err
	}
	in, err := f.newChild(dir, 0x8000|uint16(opts.Perm&fs.ModePermMask), opts.Owner)
	if err != nil {
		return err
	}
	f.applyTimes(in, opts.Times, true)
	if err := f.writeNewData(in, data); err != nil {
		return err
	}
	return f.linkChild(dir, name, in)
}

// applyTimes stores t in in: atime and mtime when set (ctime follows the
// mtime given, as for a file being restored); created says whether in is
// new.
func (f *FS) applyTimes(in *inode, t fs.Times, created bool) {
	now := f.now()
	mt := now
	if !t.Mtime.IsZero() {
		mt = t.Mtime
	}
	in.setMtime(mt)
	in.setCtime(mt)
	if !t.Atime.IsZero() {
		in.setAtime(t.Atime)
	} else if created {
		in.setAtime(now)
	}
}

// overwrite replaces the contents of regular file in with data, keeping
// its inode number, mode, owner and xattrs.
func (f *FS) overwrite(in *inode, data []byte, t fs.Times) error {
	if err := checkRegular(in); err != nil {
		return err
	}
	if in.flag(inodeFlagVerity) || in.flag(inodeFlagEncrypt) {
		return fmt.Errorf("%w: verity or encrypted file", ErrUnsupportedFeature)
	}
	size := int64(len(data))
	if in.flag(inodeFlagInlineData) {
		done, err := f.overwriteInline(in, data)
		if err != nil || done {
			if err == nil {
				f.applyTimes(in, t, false)
				err = f.writeInode(in)
			}
			return err
		}
		// Move to blocks: from here it is an empty extent file, and the
		// checks below (size, space) run before anything is written.
		if err := f.removeIbodyXattr(in, 7, "data"); err != nil {
			return err
		}
		in.d.Flags &^= inodeFlagInlineData
		in.d.Block = [15]uint32{}
		clear(in.iblock())
		in.setSize(0)
		if f.sb.FeatureIncompat&incompatExtents != 0 {
			if _, err := f.buildExtentTree(in, nil, 0); err != nil {
				return err
			}
		}
	}
	if err := f.checkFileSize(in, size); err != nil {
		return err
	}
	tr, err := f.planTruncate(in, 0)
	if err != nil {
		return err
	}
	n := uint64((size + f.blockSize - 1) / f.blockSize)
	if need := n + f.metaBlocksFor(in, n); f.freeBlocks()+tr.freed < need {
		return fmt.Errorf("%s: %d blocks needed, %d free: %w", f.name, need, f.freeBlocks()+tr.freed, fs.ErrNoSpace)
	}
	if err := f.applyTruncate(in, tr); err != nil {
		return err
	}
	if in.flag(inodeFlagExtents) {
		if _, err := f.buildExtentTree(in, nil, 0); err != nil { // an empty depth-0 root
			return err
		}
	} else {
		in.d.Block = [15]uint32{}
	}
	if err := f.writeNewData(in, data); err != nil {
		return err
	}
	f.applyTimes(in, t, false)
	return f.writeInode(in)
}

// overwriteInline rewrites an inline-data file in place when data fits
// the room it has (i_block and the system.data value); it reports false,
// changing nothing, when it does not.
func (f *FS) overwriteInline(in *inode, data []byte) (bool, error) {
	ib, extra, x, err := f.inlineData(in)
	if err != nil {
		return false, err
	}
	if len(data) > len(ib)+len(extra) {
		return false, nil
	}
	n := copy(ib, data)
	clear(ib[n:])
	if len(extra) > 0 {
		m := copy(extra, data[n:])
		clear(extra[m:])
		f.rehashIbodyEntry(in, x, extra)
	}
	in.syncBlockFromRaw()
	in.setSize(int64(len(data)))
	return true, nil
}

// mkdir creates the directory name in dir with perm and owner: a block
// holding "." and "..", links 2, and one more link on the parent (a
// parent past 65000 links on a dir_nlink filesystem gets the count 1).
func (f *FS) mkdir(dirIno fs.Ino, name string, perm uint32, owner fs.Owner) error {
	dir, err := f.createTarget(dirIno, name)
	if err != nil {
		return err
	}
	if err := f.checkDirLinks(dir); err != nil {
		return err
	}
	if err := f.checkCreateSpace(dir, name, true, 1); err != nil {
		return err
	}
	in, err := f.newChild(dir, 0x4000|uint16(perm&fs.ModePermMask), owner)
	if err != nil {
		return err
	}
	in.d.LinksCount = 2
	pblk, err := f.appendBlock(in, 0)
	if err != nil {
		return err
	}
	b := make([]byte, f.blockSize)
	f.putDirent(b, dirent{ino: in.ino, recLen: 12, name: ".", ftype: ftDir})
	f.putDirent(b, dirent{off: 12, ino: dir.ino, recLen: f.leafSpace() - 12, name: "..", ftype: ftDir})
	if f.metadataCsum {
		setDirTail(b)
	}
	in.setSize(f.blockSize)
	if err := f.writeDirBlock(in, pblk, b); err != nil {
		return err
	}
	f.incDirLinks(dir)
	return f.linkChild(dir, name, in)
}

// checkDirLinks refuses a new subdirectory in dir when its link count
// is at the limit and the filesystem lacks dir_nlink.
func (f *FS) checkDirLinks(dir *inode) error {
	if !f.dirNlink && dir.d.LinksCount >= linkMax {
		return fmt.Errorf("%w: directory inode %d has %d links", fs.ErrInvalid, dir.ino, dir.d.LinksCount)
	}
	return nil
}

// incDirLinks counts a new subdirectory's ".." in dir, as the kernel's
// ext4_inc_count: past EXT4_LINK_MAX (or already overflowed) the count is
// 1, meaning "many".
func (f *FS) incDirLinks(dir *inode) {
	switch {
	case dir.d.LinksCount == 1 && f.dirNlink:
	case dir.d.LinksCount >= linkMax:
		dir.d.LinksCount = 1
	default:
		dir.d.LinksCount++
	}
}

// symlink creates the symlink name in dir pointing to target: a fast
// symlink (in i_block) for targets under 60 bytes, else one data block.
func (f *FS) symlink(dirIno fs.Ino, name, target string, owner fs.Owner) error {
	switch {
	case target == "" || strings.IndexByte(target, 0) >= 0:
		return fmt.Errorf("%w: symlink target %q", fs.ErrInvalid, target)
	case int64(len(target)) >= f.blockSize || len(target) >= 4096:
		return fmt.Errorf("%w: symlink target of %d bytes", fs.ErrNameTooLong, len(target))
	}
	dir, err := f.createTarget(dirIno, name)
	if err != nil {
		return err
	}
	blocks := uint64(0)
	if len(target) >= inodeBlockLen {
		blocks = 1
	}
	if err := f.checkCreateSpace(dir, name, true, blocks); err != nil {
		return err
	}
	in, err := f.newChild(dir, 0xA000|0o777, owner)
	if err != nil {
		return err
	}
	if len(target) < inodeBlockLen {
		in.d.Flags &^= inodeFlagExtents
		var b [inodeBlockLen]byte
		copy(b[:], target)
		for i := range in.d.Block {
			in.d.Block[i] = le.Uint32(b[4*i:])
		}
		in.setSize(int64(len(target)))
	} else if err := f.writeNewData(in, []byte(target)); err != nil {
		return err
	}
	return f.linkChild(dir, name, in)
}

// mknod creates a character or block device (rdev in Linux's
// new_encode_dev form), a fifo or a socket as name in dir. mode holds the
// type bits and the permissions.
func (f *FS) mknod(dirIno fs.Ino, name string, mode uint32, rdev uint32, owner fs.Owner) error {
	typ := mode & fs.ModeTypeMask
	switch typ {
	case fs.ModeChar, fs.ModeBlock, fs.ModeFIFO, fs.ModeSocket:
	default:
		return fmt.Errorf("%w: mknod of mode %#o", fs.ErrInvalid, mode)
	}
	dir, err := f.createTarget(dirIno, name)
	if err != nil {
		return err
	}
	if err := f.checkCreateSpace(dir, name, true, 0); err != nil {
		return err
	}
	in, err := f.newChild(dir, uint16(typ|mode&fs.ModePermMask), owner)
	if err != nil {
		return err
	}
	in.d.Flags &^= inodeFlagExtents
	in.d.Block = [15]uint32{}
	if typ == fs.ModeChar || typ == fs.ModeBlock {
		setRdev(in, rdev)
	}
	return f.linkChild(dir, name, in)
}

// setRdev stores a device number as the kernel's ext4_write_inode: the
// old 16-bit form in i_block[0] when major and minor are below 256, else
// the new form in i_block[1].
func setRdev(in *inode, rdev uint32) {
	major := (rdev & 0xfff00) >> 8
	minor := rdev&0xff | (rdev>>12)&0xfff00
	if major < 256 && minor < 256 {
		in.d.Block[0] = major<<8 | minor
		return
	}
	in.d.Block[1] = rdev
}

// link makes name in dir another name of the existing non-directory ino
// (a symlink is linked itself, as link(2)).
func (f *FS) link(ino, dirIno fs.Ino, name string) error {
	in, err := f.inodeOf(ino)
	if err != nil {
		return err
	}
	if in.isDir() {
		return fs.ErrIsDir
	}
	if in.d.LinksCount >= linkMax {
		return fmt.Errorf("%w: inode %d has %d links", fs.ErrInvalid, in.ino, in.d.LinksCount)
	}
	dir, err := f.createTarget(dirIno, name)
	if err != nil {
		return err
	}
	if err := f.checkCreateSpace(dir, name, false, 0); err != nil {
		return err
	}
	in.d.LinksCount++
	in.setCtime(f.now())
	return f.linkChild(dir, name, in)
}
