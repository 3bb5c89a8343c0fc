// Package catalogtest gives tests of pkg/ops and pkg/customize the
// realistic catalog fixture (testdata/images/catalog-disk.raw, made by
// testdata/images/gen.d/catalog.sh) as a writable guest on a private copy,
// its oracles (e2fsck -fn on each ext4 filesystem, fsck.fat -n on the
// ESP), and an in-memory copy of any guest tree for opstest.Conformance.
package catalogtest
