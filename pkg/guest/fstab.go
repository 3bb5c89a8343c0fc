package guest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// MaxConfigSize bounds the size of /etc/fstab and os-release that the
// parsers accept; real ones are a few KiB.
const MaxConfigSize = 1 << 20

// FstabEntry is one line of /etc/fstab (fstab(5)), with octal escapes
// (\040 for a space) decoded.
type FstabEntry struct {
	Line    int    // 1-based line number
	Spec    string // fs_spec: "UUID=…", "/dev/sda1", "proc"
	File    string // fs_file: the mount point, or "none"/"swap"
	VFSType string // fs_vfstype, "" when the line has only two fields
	MntOps  string // fs_mntops, "defaults" when absent
	Freq    int    // fs_freq
	PassNo  int    // fs_passno
}

// Options returns MntOps split at commas.
func (e FstabEntry) Options() []string { return strings.Split(e.MntOps, ",") }

// HasOption reports whether MntOps holds opt, alone or as opt=value.
func (e FstabEntry) HasOption(opt string) bool {
	for _, o := range e.Options() {
		if o == opt || strings.HasPrefix(o, opt+"=") {
			return true
		}
	}
	return false
}

// FstabError is a line of /etc/fstab that could not be parsed.
type FstabError struct {
	Line   int
	Reason string
}

func (e *FstabError) Error() string {
	return fmt.Sprintf("fstab line %d: %s", e.Line, e.Reason)
}

// Fstab is a parsed /etc/fstab. Lines that cannot be parsed are not
// fatal, as for mount(8): they are kept in Invalid and skipped.
type Fstab struct {
	Entries []FstabEntry
	Invalid []*FstabError
}

// ParseFstab parses the contents of /etc/fstab. It fails only when data is
// larger than MaxConfigSize.
func ParseFstab(data []byte) (*Fstab, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%w: fstab of %d bytes (at most %d)", ErrTooLarge, len(data), MaxConfigSize)
	}
	t := &Fstab{}
	for n, line := range bytes.Split(data, []byte("\n")) {
		e, err := parseFstabLine(string(line), n+1)
		if err != nil {
			t.Invalid = append(t.Invalid, err)
			continue
		}
		if e != nil {
			t.Entries = append(t.Entries, *e)
		}
	}
	return t, nil
}

// parseFstabLine returns nil, nil for a blank or comment line.
func parseFstabLine(line string, n int) (*FstabEntry, *FstabError) {
	fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return nil, nil
	}
	if len(fields) < 2 {
		return nil, &FstabError{Line: n, Reason: "fewer than two fields"}
	}
	if len(fields) > 6 {
		return nil, &FstabError{Line: n, Reason: fmt.Sprintf("%d fields (at most 6)", len(fields))}
	}
	e := &FstabEntry{Line: n, MntOps: "defaults"}
	for i, f := range fields {
		v := unescapeOctal(f)
		switch i {
		case 0:
			e.Spec = v
		case 1:
			e.File = v
		case 2:
			e.VFSType = v
		case 3:
			e.MntOps = v
		case 4, 5:
			num, err := strconv.Atoi(v)
			if err != nil || num < 0 {
				return nil, &FstabError{Line: n, Reason: fmt.Sprintf("field %d is not a number: %q", i+1, v)}
			}
			if i == 4 {
				e.Freq = num
			} else {
				e.PassNo = num
			}
		}
	}
	return e, nil
}

// unescapeOctal decodes libmount's \NNN octal escapes (\040 space, \011
// tab, \012 newline, \134 backslash); any other backslash is kept.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] <= '3' && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// unescapeUdev decodes udev's \xHH escapes in /dev/disk/by-label and
// by-partlabel names ("my\x2flabel" is "my/label").
func unescapeUdev(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
