package main

import "testing"

// TestUnstampedVersionIsDev: a build without make's -ldflags -X (go test,
// go run, go install) says "dev"; make build stamps git describe's output
// (internal/dist checks that).
func TestUnstampedVersionIsDev(t *testing.T) {
	if version != "dev" {
		t.Fatalf("version = %q in an unstamped build, want %q", version, "dev")
	}
}
