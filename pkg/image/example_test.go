package image_test

import (
	"fmt"
	"log"
	"os"

	"github.com/imgprep/imgprep/internal/fixture"
	"github.com/imgprep/imgprep/pkg/image"
)

// Open a qcow2 image read-only and read its virtual disk like a file: here
// the GPT header in the disk's second sector.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "imgprep-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path, err := fixture.Extract("disk-gpt.qcow2", dir)
	if err != nil {
		log.Fatal(err)
	}

	img, err := image.Open(path, image.OpenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close()
	fmt.Println("format:", img.Format())
	fmt.Println("virtual size:", img.Size()>>20, "MiB")
	sig := make([]byte, 8)
	if _, err := img.ReadAt(sig, 512); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LBA 1: %q\n", sig)
	// Output:
	// format: qcow2
	// virtual size: 64 MiB
	// LBA 1: "EFI PART"
}
