// Package dist holds the tests of imgprep's distribution: that make build
// gives a static binary with its version stamped, that make release packs
// the platforms' tarballs with their checksums, and that the Dockerfile
// ships that binary FROM scratch. It has no code of its own.
package dist
