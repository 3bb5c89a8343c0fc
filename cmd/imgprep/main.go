// Command imgprep prepares VM disk images to be cloned. See README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "imgprep: not built yet")
	os.Exit(2)
}
