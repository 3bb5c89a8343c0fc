package batch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bounds of ReadList: Linux's PATH_MAX, and a list far longer than any
// fleet one machine prepares.
const (
	MaxPathLen   = 4096
	MaxPaths     = 1 << 20
	MaxListBytes = 64 << 20 // of paths kept
)

// ListError reports a bad line of a list.
type ListError struct {
	Line int   // 1-based
	Err  error // a sentinel above
}

func (e *ListError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ListError) Unwrap() error { return e.Err }

// ReadList reads image paths one per line, as find(1) prints them: a
// trailing "\r" and surrounding blanks are dropped, and empty lines and
// lines starting with '#' are skipped. A line over MaxPathLen bytes, a
// NUL byte, more than MaxPaths paths or MaxListBytes of them is an error
// naming the line.
func ReadList(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxPathLen+2)
	var out []string
	line, total := 0, 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if len(s) > MaxPathLen {
			return nil, &ListError{Line: line, Err: ErrLineTooLong}
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, &ListError{Line: line, Err: ErrNulInPath}
		}
		if len(out) >= MaxPaths {
			return nil, &ListError{Line: line, Err: ErrTooMany}
		}
		if total += len(s); total > MaxListBytes {
			return nil, &ListError{Line: line, Err: ErrTooLarge}
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ListError{Line: line + 1, Err: ErrLineTooLong}
		}
		return nil, err
	}
	return out, nil
}
