package main

import (
	"io/fs"
	"syscall"
)

// statOwner returns the uid and gid of a host file.
func statOwner(fi fs.FileInfo) ([2]uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint32{}, false
	}
	return [2]uint32{st.Uid, st.Gid}, true
}
