package sysprep_test

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

func fileSum(tb testing.TB, p string) [32]byte {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestStack runs the pipeline on the real stack (the default Backend):
// a dry run leaves the file byte-identical and reports what the real run
// then does; qemu-img check judges the result.
func TestStack(t *testing.T) {
	img := fixture.Path(t, "disk-gpt.qcow2")
	ops := catalog.Defaults(catalog.All(catalog.Config{}))
	sum := fileSum(t, img)
	dry, err := sysprep.Run(context.Background(), img, sysprep.Options{DryRun: true, Operations: ops})
	if err != nil {
		t.Fatal(err)
	}
	if fileSum(t, img) != sum {
		t.Fatal("dry run changed the image")
	}
	real, err := sysprep.Run(context.Background(), img, sysprep.Options{Operations: ops})
	if err != nil {
		t.Fatal(err)
	}
	if len(real.Changes()) == 0 || len(real.Changes()) != len(dry.Changes()) || !real.Committed || real.Format != "qcow2" {
		t.Fatalf("dry run %d changes, real run %d (committed %v, format %s)", len(dry.Changes()), len(real.Changes()), real.Committed, real.Format)
	}
	oracle.QemuImgCheck(t, img, false)
	in, err := sysprep.Inspect(context.Background(), img, sysprep.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Guests) != 1 || in.Guests[0].MachineID.State != "empty" || in.Guests[0].Netdata.GUID != "" {
		t.Fatalf("after sysprep, inspect says %+v", in.Guests)
	}
	if in.Info.Table != "gpt" || len(in.Info.Partitions) != 3 || len(in.Info.Chain) != 1 {
		t.Fatalf("image info %+v", in.Info)
	}
}
