// Package killtest holds what the crash tests share (the fault matrix of
// pkg/sysprep and the kill -9 test of cmd/imgprep): laying a pristine
// image down as a sparse file, and comparing an image file with the bytes
// it should hold without reading its holes, which on a sparse 64 MiB
// image costs more than the imgprep run under test.
//
// There is no on-disk format here.
package killtest
