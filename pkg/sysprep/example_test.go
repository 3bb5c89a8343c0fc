package sysprep_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/ops"
	"github.com/imgprep/imgprep/pkg/ops/catalog"
	"github.com/imgprep/imgprep/pkg/ops/machineid"
	"github.com/imgprep/imgprep/pkg/sysprep"
)

// Run prepares an image in one transaction: here two operations on a GPT
// qcow2 image with an ext4 root, a separate ext4 /var and an ESP.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "imgprep-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path, err := fixture.Extract("disk-gpt.qcow2", dir)
	if err != nil {
		log.Fatal(err)
	}

	// machine-id with its options; ssh-hostkeys, a row of the path-only
	// operations' table, chosen by name from the catalog.
	chosen, err := catalog.Select(catalog.All(catalog.Config{}), []string{"ssh-hostkeys"}, "")
	if err != nil {
		log.Fatal(err)
	}
	rep, err := sysprep.Run(context.Background(), path, sysprep.Options{
		Operations: append([]ops.Operation{machineid.New(machineid.Options{})}, chosen...),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", rep.Committed)
	for _, g := range rep.Guests {
		fmt.Println("guest:", g.OS)
		for _, c := range g.Changes {
			fmt.Println(c.Operation, c.Action, c.Path, "on", c.Filesystem)
		}
	}
	// Output:
	// committed: true
	// guest: Debian GNU/Linux 12 (bookworm)
	// machine-id truncated /etc/machine-id on ext4 on partition 2 (/)
	// machine-id truncated /var/lib/dbus/machine-id on ext4 on partition 3 (/var)
	// ssh-hostkeys removed /etc/ssh/ssh_host_ed25519_key on ext4 on partition 2 (/)
	// ssh-hostkeys removed /etc/ssh/ssh_host_ed25519_key.pub on ext4 on partition 2 (/)
	// ssh-hostkeys removed /etc/ssh/ssh_host_rsa_key on ext4 on partition 2 (/)
	// ssh-hostkeys removed /etc/ssh/ssh_host_rsa_key.pub on ext4 on partition 2 (/)
}
