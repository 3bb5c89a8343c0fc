package batch

import "errors"

// Sentinel errors; test them with errors.Is.
var (
	// ErrPanic marks a job that panicked; the panic is reported as that
	// item's failure and the other jobs go on.
	ErrPanic = errors.New("batch: job panicked")

	// Errors of ReadList, wrapped in a *ListError naming the line.
	ErrLineTooLong = errors.New("batch: line too long for a path")
	ErrTooMany     = errors.New("batch: too many paths in the list")
	ErrTooLarge    = errors.New("batch: list too large")
	ErrNulInPath   = errors.New("batch: NUL byte in a path")
)
