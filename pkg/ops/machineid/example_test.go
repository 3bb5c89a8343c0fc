package machineid_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
)

// An operation works on any guest tree: here an in-memory one. The
// machine-id operation empties /etc/machine-id (or writes
// "uninitialized"), keeping the inode, and empties D-Bus's stale copy.
func ExampleOp_Apply() {
	guest := memfs.New().
		AddFile("/etc/machine-id", "4f1c0b6e2d8a4b7f9c3e5a1d2b6c8e0f\n", 0o444).
		AddFile("/var/lib/dbus/machine-id", "4f1c0b6e2d8a4b7f9c3e5a1d2b6c8e0f\n", 0o444)

	op := machineid.New(machineid.Options{Mode: machineid.ModeUninitialized})
	changes, err := op.Apply(context.Background(), guest)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		fmt.Println(c.Action, c.Path)
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := guest.ReadFile(p)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %q\n", p, b)
	}
	// Output:
	// written /etc/machine-id
	// truncated /var/lib/dbus/machine-id
	// /etc/machine-id: "uninitialized\n"
	// /var/lib/dbus/machine-id: ""
}
