package oracle

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DirtyJournal leaves a committed, unreplayed transaction in the journal
// of the ext4 filesystem at byte offset off of the image img, as a VM
// killed after a synced write does: debugfs's journal commands (jo, jw,
// jc) write a descriptor, the new contents of the first block of the
// regular file at path (content, zero-padded to the block), and a commit
// block, and set needs_recovery. The file's on-disk block is unchanged:
// only a journal replay shows content. It returns that block's number.
func DirtyJournal(tb testing.TB, img string, off int64, path string, content []byte) uint64 {
	tb.Helper()
	dev := Device(img, off)
	blk, err := strconv.ParseUint(strings.TrimSpace(Debugfs(tb, dev, "bmap \""+path+"\" 0")), 10, 64)
	if err != nil || blk == 0 {
		tb.Fatalf("debugfs bmap %s: block %d (%v)", path, blk, err)
	}
	var bs int
	for _, l := range strings.Split(Debugfs(tb, dev, "stats"), "\n") {
		if v, ok := strings.CutPrefix(l, "Block size:"); ok {
			bs, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if bs == 0 || len(content) > bs {
		tb.Fatalf("block size %d for %d bytes", bs, len(content))
	}
	dir := tb.TempDir()
	data := filepath.Join(dir, "block")
	if err := os.WriteFile(data, append(append([]byte(nil), content...), make([]byte, bs-len(content))...), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmds := filepath.Join(dir, "cmds")
	if err := os.WriteFile(cmds, []byte("jo\njw -b "+strconv.FormatUint(blk, 10)+" "+data+"\njc\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	_, errOut, code := Run(tb, "debugfs", "-w", "-f", cmds, dev)
	for _, l := range strings.Split(errOut, "\n") {
		if l != "" && !strings.HasPrefix(l, "debugfs ") {
			tb.Fatalf("debugfs journal commands: %s", errOut)
		}
	}
	if code != 0 {
		tb.Fatalf("debugfs journal commands: exit %d: %s", code, errOut)
	}
	if !strings.Contains(Debugfs(tb, dev, "stats"), "needs_recovery") {
		tb.Fatal("debugfs left needs_recovery clear")
	}
	return blk
}
