package main

import (
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
)

// TestAcceptanceRefusedFilesystemIsOneLine: a root ext4 imgprep refuses
// to write (orphan inodes, which it does not process) fails sysprep with
// one line naming the image, the path, the filesystem and the reason,
// each once, and the image stays byte-identical.
func TestAcceptanceRefusedFilesystemIsOneLine(t *testing.T) {
	img := fixture.Path(t, "disk-gpt.raw")
	root := oracle.Partitions(t, img)[2].Start
	if _, errOut, code := oracle.Run(t, "debugfs", "-w", "-R", "ssv last_orphan 12", oracle.Device(img, root)); code != 0 {
		t.Fatalf("debugfs ssv: %s", errOut)
	}
	sum := fixture.SHA256(t, img)
	r := mustRun(t, 1, "sysprep", img)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	want := "imgprep: " + img + ": operation machine-id: /etc/machine-id: ext4 on partition 2 mounted at / has orphan inodes: imgprep does not write it (nothing was written)"
	if len(lines) == 0 || lines[0] != want {
		t.Errorf("stderr:\n%s\nwant its first line:\n%s", r.stderr, want)
	}
	if fixture.SHA256(t, img) != sum {
		t.Error("the refused run changed the image")
	}
}
