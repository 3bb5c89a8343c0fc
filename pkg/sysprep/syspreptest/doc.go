// Package syspreptest provides an in-memory sysprep.Backend: images whose
// guests are memfs trees (pkg/fs/memfs), with every Open recorded and
// commits and discards counted, so that the pipeline of pkg/sysprep and
// the CLI can be tested without the disk layers. Each Open works on clones
// of the committed trees, so a dry run or a failed run leaves them as they
// were, as the real transaction does.
package syspreptest
