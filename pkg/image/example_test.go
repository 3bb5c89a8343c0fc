package image_test

import (
	"fmt"
	"log"

	"github.com/imgprep/imgprep/pkg/image"
)

// A dry run: stage writes exactly as a real run would, report the file
// regions they would touch, and leave the image untouched.
func ExampleOpen_dryRun() {
	h, err := image.Open("disk.qcow2", image.OpenOptions{DryRun: true})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if _, err := h.WriteAt([]byte("new"), 1<<20); err != nil {
		log.Fatal(err)
	}
	var n int64
	for _, r := range h.Staged() {
		n += r.Length
	}
	fmt.Printf("%s: %d bytes would be written\n", h.Format(), n)
	h.Discard()
}

// A real run: writes are staged, then committed atomically.
func ExampleHandle_Commit() {
	h, err := image.Open("disk.qcow2", image.OpenOptions{Write: true, AllowBacking: []string{"/var/lib/images"}})
	if err != nil {
		log.Fatal(err) // storage.ErrInUse for a running VM, image.ErrBacking* for a refused backing file
	}
	defer h.Close()
	if _, err := h.WriteAt([]byte("new"), 1<<20); err != nil {
		log.Fatal(err)
	}
	if err := h.Commit(); err != nil {
		log.Fatal(err)
	}
}
