// Command imgprep prepares VM disk images to be cloned: it opens qcow2 and
// raw images directly, finds their guests and removes the identity every
// clone would otherwise share. See README.md, and imgprep --help.
package main

import "os"

// version is stamped at build time: go build -ldflags "-X main.version=$(git describe)".
var version = "dev"

func main() {
	os.Exit(run(os.Args, env{stdout: os.Stdout, stderr: os.Stderr, backend: stackBackend(), recover: stackRecover, lookupEnv: os.LookupEnv, signals: true}))
}
