// Package opstest is the conformance checker every operation in pkg/ops
// must pass (see the ops.Operation contract in pkg/ops): it runs an
// operation over in-memory guests (pkg/fs/memfs) and checks that an empty
// root yields no change, that every reported change really happened and
// nothing else changed, that a second run changes nothing, that a
// read-only guest fails cleanly with fs.ErrReadOnly and no report, that a
// cancelled context is honoured, and that hostile symlinks never lead an
// operation outside the paths it reports.
package opstest
