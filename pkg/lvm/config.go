package lvm

import (
	"bytes"
	"fmt"
	"strconv"
)

// Bounds on the metadata text Parse accepts.
const (
	// MaxDepth bounds section nesting: lvm2's metadata nests VG,
	// logical_volumes, LV and segment, four deep.
	MaxDepth = 16
	// MaxNodes bounds the keys, sections and list items of one text.
	MaxNodes = 200000
	// MaxListLen bounds one list's items.
	MaxListLen = 65536
	// MaxStringLen bounds one string value or key.
	MaxStringLen = 4096
)

// Kind is the kind of a Node.
type Kind int

// Node kinds.
const (
	KindSection Kind = iota // name { ... }
	KindInt                 // 42, -1
	KindFloat               // 1.5 (kept as text)
	KindString              // "text"
	KindList                // [ item, ... ] of ints, floats and strings
)

// Node is one element of lvm2's configuration syntax: a section with
// children, or a key with a value. Start and End locate the value (for a
// section, from its '{' through its '}') in the parsed text.
type Node struct {
	Key      string
	Kind     Kind
	Int      int64
	Str      string  // KindString's value; KindFloat's text
	List     []*Node // KindList's items (no keys)
	Children []*Node // KindSection's children, in text order
	Start    int
	End      int
}

// Child returns the child of a section named key, or nil.
func (n *Node) Child(key string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Key == key {
			return c
		}
	}
	return nil
}

// Parse parses metadata text in lvm2's configuration syntax (lib/config):
//
//	file    = { item }
//	item    = key "=" value | key "{" { item } "}"
//	value   = int | float | string | "[" [ scalar { "," scalar } ] "]"
//
// with '#' comments to the end of the line. Trailing NUL bytes (lvm2
// stores the text with its terminator) are ignored. It rejects duplicate
// keys in a section and anything beyond MaxDepth, MaxNodes, MaxListLen
// and MaxStringLen; it never recurses deeper than MaxDepth.
func Parse(text []byte) (*Node, error) {
	if len(text) > MaxMetadataSize {
		return nil, fmt.Errorf("%w: %d bytes of metadata text", ErrLimit, len(text))
	}
	text = bytes.TrimRight(text, "\x00")
	p := &parser{s: text}
	root := &Node{Kind: KindSection, Start: 0, End: len(text)}
	children, err := p.items(0)
	if err != nil {
		return nil, err
	}
	root.Children = children
	return root, nil
}

type parser struct {
	s     []byte
	pos   int
	nodes int
}

func (p *parser) errorf(format string, args ...any) error {
	line := 1 + bytes.Count(p.s[:min(p.pos, len(p.s))], []byte("\n"))
	return fmt.Errorf("%w: line %d: %s", ErrSyntax, line, fmt.Sprintf(format, args...))
}

func (p *parser) count() error {
	p.nodes++
	if p.nodes > MaxNodes {
		return fmt.Errorf("%w: more than %d nodes", ErrLimit, MaxNodes)
	}
	return nil
}

// skip passes white space and comments.
func (p *parser) skip() {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#':
			for p.pos < len(p.s) && p.s[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

// items parses a section's items up to its '}' (depth > 0) or the end of
// the text (depth 0).
func (p *parser) items(depth int) ([]*Node, error) {
	var out []*Node
	seen := map[string]bool{}
	for {
		p.skip()
		if p.pos == len(p.s) {
			if depth > 0 {
				return nil, p.errorf("section not closed")
			}
			return out, nil
		}
		if p.s[p.pos] == '}' {
			if depth == 0 {
				return nil, p.errorf("unexpected '}'")
			}
			return out, nil
		}
		key, err := p.ident()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, p.errorf("duplicate key %q", key)
		}
		seen[key] = true
		if err := p.count(); err != nil {
			return nil, err
		}
		p.skip()
		if p.pos == len(p.s) {
			return nil, p.errorf("%q has no value", key)
		}
		switch p.s[p.pos] {
		case '=':
			p.pos++
			p.skip()
			n, err := p.value(true)
			if err != nil {
				return nil, err
			}
			n.Key = key
			out = append(out, n)
		case '{':
			if depth+1 >= MaxDepth {
				return nil, fmt.Errorf("%w: sections nested deeper than %d", ErrLimit, MaxDepth)
			}
			n := &Node{Key: key, Kind: KindSection, Start: p.pos}
			p.pos++
			if n.Children, err = p.items(depth + 1); err != nil {
				return nil, err
			}
			p.pos++ // '}'
			n.End = p.pos
			out = append(out, n)
		default:
			return nil, p.errorf("expected '=' or '{' after %q", key)
		}
	}
}

// identChar reports whether c may appear in a key: lvm2's names use
// letters, digits and "+_.-".
func identChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '+'
}

func (p *parser) ident() (string, error) {
	start := p.pos
	for p.pos < len(p.s) && identChar(p.s[p.pos]) {
		p.pos++
		if p.pos-start > MaxStringLen {
			return "", fmt.Errorf("%w: a key longer than %d bytes", ErrLimit, MaxStringLen)
		}
	}
	if p.pos == start {
		return "", p.errorf("expected a key, found %q", p.s[p.pos])
	}
	return string(p.s[start:p.pos]), nil
}

// value parses a scalar, or a list when allowed (lists do not nest).
func (p *parser) value(list bool) (*Node, error) {
	if p.pos == len(p.s) {
		return nil, p.errorf("missing value")
	}
	start := p.pos
	switch c := p.s[p.pos]; {
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &Node{Kind: KindString, Str: s, Start: start, End: p.pos}, nil
	case c == '[' && list:
		return p.list()
	case c == '-' || c == '+' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, p.errorf("unexpected %q where a value belongs", p.s[p.pos])
}

func (p *parser) list() (*Node, error) {
	n := &Node{Kind: KindList, Start: p.pos}
	p.pos++ // '['
	for {
		p.skip()
		if p.pos == len(p.s) {
			return nil, p.errorf("list not closed")
		}
		if p.s[p.pos] == ']' {
			p.pos++
			n.End = p.pos
			return n, nil
		}
		if len(n.List) > 0 {
			if p.s[p.pos] != ',' {
				return nil, p.errorf("expected ',' or ']' in a list")
			}
			p.pos++
			p.skip()
		}
		if len(n.List) == MaxListLen {
			return nil, fmt.Errorf("%w: a list of more than %d items", ErrLimit, MaxListLen)
		}
		if err := p.count(); err != nil {
			return nil, err
		}
		item, err := p.value(false)
		if err != nil {
			return nil, err
		}
		n.List = append(n.List, item)
	}
}

func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	var b []byte
	for {
		if p.pos == len(p.s) {
			return "", p.errorf("string not closed")
		}
		c := p.s[p.pos]
		p.pos++
		switch c {
		case '"':
			return string(b), nil
		case '\\':
			if p.pos == len(p.s) {
				return "", p.errorf("string not closed")
			}
			c = p.s[p.pos]
			p.pos++
		}
		if len(b) == MaxStringLen {
			return "", fmt.Errorf("%w: a string longer than %d bytes", ErrLimit, MaxStringLen)
		}
		b = append(b, c)
	}
}

func (p *parser) number() (*Node, error) {
	start := p.pos
	if p.s[p.pos] == '-' || p.s[p.pos] == '+' {
		p.pos++
	}
	float := false
	for p.pos < len(p.s) && (p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '.') {
		if p.s[p.pos] == '.' {
			if float {
				return nil, p.errorf("bad number %q", p.s[start:p.pos+1])
			}
			float = true
		}
		p.pos++
		if p.pos-start > 64 {
			return nil, p.errorf("number too long")
		}
	}
	lit := string(p.s[start:p.pos])
	if float {
		if _, err := strconv.ParseFloat(lit, 64); err != nil {
			return nil, p.errorf("bad number %q", lit)
		}
		return &Node{Kind: KindFloat, Str: lit, Start: start, End: p.pos}, nil
	}
	v, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return nil, p.errorf("bad number %q", lit)
	}
	return &Node{Kind: KindInt, Int: v, Start: start, End: p.pos}, nil
}
