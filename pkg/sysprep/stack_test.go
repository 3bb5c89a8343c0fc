package sysprep_test

import (
	"context"
	"testing"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/internal/oracle"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// TestStack runs the pipeline on the real stack (the default Backend):
// a dry run leaves the file byte-identical and reports what the real run
// then does; qemu-img check judges the result.
func TestStack(t *testing.T) {
	img := fixture.Path(t, "disk-gpt.qcow2")
	ops := catalog.Defaults(catalog.All(catalog.Config{}))
	sum := fixture.SHA256(t, img)
	dry, err := sysprep.Run(context.Background(), img, sysprep.Options{DryRun: true, Operations: ops})
	if err != nil {
		t.Fatal(err)
	}
	if fixture.SHA256(t, img) != sum {
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
