package qcow2

import "bytes"

func byteReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
