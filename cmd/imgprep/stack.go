package main

import "github.com/imgprep/imgprep/pkg/sysprep"

// stackBackend is the real disk stack (pkg/image under pkg/guest).
func stackBackend() sysprep.Backend { return nil }

// stackRecover rolls back an interrupted run (image.Recover).
var stackRecover func(path string) (bool, error)

// hintLower gives hints for errors of the disk layers.
func hintLower(err error) string { return "" }
