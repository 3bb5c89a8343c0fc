package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/clone"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
)

// TestAuditLinkedCloneInSubdirectory: a linked clone made in a
// subdirectory of its template's directory records the template's
// absolute path; audited with its template it is read without
// --allow-backing, and the prepared clone shares no identity with it.
// Alone, its backing file is refused, with the path said once.
func TestAuditLinkedCloneInSubdirectory(t *testing.T) {
	dir := t.TempDir()
	golden := fixture.PathIn(t, "disk-gpt.qcow2", dir)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "sub", "clone.qcow2")
	res, err := clone.Clone(context.Background(), golden, dest, clone.Options{Mode: clone.Linked,
		Operations: catalog.Defaults(catalog.All(catalog.Config{}))})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(res.BackingFile) {
		t.Fatalf("the clone records %q, want the template's absolute path", res.BackingFile)
	}
	rep := Run(context.Background(), []string{golden, dest}, Options{FilesystemUUIDWarning: true})
	if !rep.Clean() || rep.Inspected != 2 {
		t.Fatalf("audit of the template and its clone: clean %v, %d read, failures %+v, groups %+v", rep.Clean(), rep.Inspected, rep.Failures, rep.Groups)
	}
	if rep.Warnings == 0 {
		t.Errorf("the clone keeps the template's filesystem UUIDs: want warnings, got %+v", rep.Groups)
	}
	alone := Run(context.Background(), []string{dest}, Options{})
	if len(alone.Failures) != 1 {
		t.Fatalf("the clone alone: failures %+v, want its backing file refused", alone.Failures)
	}
	msg := alone.Failures[0].Error
	if strings.Count(msg, golden) != 1 || strings.Count(msg, dest) != 1 || !strings.Contains(msg, "outside the directory trees allowed for backing files") {
		t.Fatalf("error %q: want the clone and its backing file named once each, and the reason", msg)
	}
}
