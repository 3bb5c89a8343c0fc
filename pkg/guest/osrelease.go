package guest

import (
	"bytes"
	"fmt"
	"strings"
)

// OS release files, in the order os-release(5) says to read them.
var osReleasePaths = [...]string{"/etc/os-release", "/usr/lib/os-release"}

// ParseOSRelease parses an os-release(5) file: newline-separated
// KEY=VALUE assignments with shell quoting (double quotes with \" \\ \$ \`
// escapes, single quotes literal, backslash escapes outside quotes).
// Blank lines, comments and lines that are not an assignment to a valid
// name are skipped, as systemd does. It fails only when data is larger
// than MaxConfigSize.
func ParseOSRelease(data []byte) (map[string]string, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%w: os-release of %d bytes (at most %d)", ErrTooLarge, len(data), MaxConfigSize)
	}
	m := map[string]string{}
	for _, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || !validEnvName(key) {
			continue
		}
		v, ok := shellUnquote(value)
		if !ok {
			continue
		}
		m[key] = v
	}
	return m, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// shellUnquote decodes one shell word. Unquoted whitespace ends it (what
// follows, such as a comment, is ignored); an unterminated quote makes
// the line invalid.
func shellUnquote(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", false
			}
		case c == '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case c == ' ' || c == '\t':
			return b.String(), true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
