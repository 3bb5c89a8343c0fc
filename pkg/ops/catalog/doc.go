// Package catalog is the explicit list of imgprep's operations (no init()
// registration) and the selection rules of virt-sysprep's --operations and
// --enable options (virt-sysprep(1), "OPERATIONS"):
//
//	--operations LIST   comma-separated, repeatable; starting from the empty
//	                    set, "defaults" adds the default operations, "all"
//	                    adds every operation, "name" adds one, "-name"
//	                    removes one
//	--enable LIST       exactly these operations
//
// With neither, the default operations run. Selected operations always run
// in catalog order (sorted by name).
package catalog
