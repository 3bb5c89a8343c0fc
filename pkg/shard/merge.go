package shard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/imgprep/imgprep/pkg/audit"
	"github.com/imgprep/imgprep/pkg/batch"
)

// MaxLine bounds one JSON line of a shard report.
const MaxLine = 64 << 20

// Input is one shard's report: JSON lines as sysprep --json, inspect
// --json and audit --json write them.
type Input struct {
	Name string // for errors: the file
	R    io.Reader
}

// MergeOptions configure Merge.
type MergeOptions struct {
	// FilesystemUUIDWarning: as audit.Options.
	FilesystemUUIDWarning bool
}

// Merged is the combined summary of a sharded run.
type Merged struct {
	Reports int    `json:"reports"` // inputs read
	Shards  []Spec `json:"shards"`  // the distinct shards that reported, in order
	// Count is the N the shards name (0 when none names one); Missing
	// the shards of 0..N-1 that sent no report.
	Count   int   `json:"count"`
	Missing []int `json:"missing"`
	// Images processed (sysprep, inspect), each counted once: Done when
	// any report of it succeeded (a retried shard), else Failed.
	Images   int             `json:"images"`
	Done     int             `json:"done"`
	Failed   int             `json:"failed"`
	Failures []batch.Failure `json:"failures"`
	// Repeated names the images reported more than once (counted once).
	Repeated []string `json:"repeated"`
	// Audit merges the audit shards' identity digests, when there are any.
	Audit *audit.Report `json:"audit,omitempty"`
}

// Clean reports whether every shard reported, every image succeeded and
// no audited identity is shared.
func (m *Merged) Clean() bool {
	return len(m.Missing) == 0 && m.Failed == 0 && (m.Audit == nil || m.Audit.Clean())
}

// line is any line a shard writes.
type line struct {
	Image   *string      `json:"image"`
	Error   string       `json:"error"`
	Summary *summaryLine `json:"summary"`
	// An audit report.
	Groups     json.RawMessage  `json:"groups"`
	Identities []audit.Identity `json:"identities"`
	Images     int              `json:"images"`
	Inspected  int              `json:"inspected"`
	Failures   []batch.Failure  `json:"failures"`
	Shard      *Spec            `json:"shard"`
}

type summaryLine struct {
	Shard *Spec `json:"shard"`
}

// merger accumulates the inputs.
type merger struct {
	m        *Merged
	count    int
	countBy  string
	shards   map[Spec]bool
	status   map[string]*imageStatus
	audited  bool
	ids      []audit.Identity
	auditRep audit.Report
}

type imageStatus struct {
	seen int
	done bool
	err  string
}

// Merge combines the shards' reports. A line that is no imgprep report,
// or shards naming different counts N, is an error naming the input.
func Merge(inputs []Input, opts MergeOptions) (*Merged, error) {
	g := &merger{m: &Merged{Shards: []Spec{}, Missing: []int{}, Failures: []batch.Failure{}, Repeated: []string{}},
		shards: map[Spec]bool{}, status: map[string]*imageStatus{}}
	for _, in := range inputs {
		if err := g.read(in); err != nil {
			return nil, err
		}
		g.m.Reports++
	}
	return g.finish(opts), nil
}

func (g *merger) read(in Input) error {
	sc := bufio.NewScanner(in.R)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("%s line %d: %w (%v)", in.Name, n, ErrReport, err)
		}
		if err := g.add(in.Name, &l); err != nil {
			return fmt.Errorf("%s line %d: %w", in.Name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s line %d: %w (a line over %d bytes)", in.Name, n+1, ErrReport, MaxLine)
		}
		return fmt.Errorf("%s: %w", in.Name, err)
	}
	return nil
}

func (g *merger) add(name string, l *line) error {
	switch {
	case l.Summary != nil:
		return g.shard(name, l.Summary.Shard)
	case l.Groups != nil:
		g.audited = true
		g.ids = append(g.ids, l.Identities...)
		g.auditRep.Images += l.Images
		g.auditRep.Inspected += l.Inspected
		g.auditRep.Failures = append(g.auditRep.Failures, l.Failures...)
		return g.shard(name, l.Shard)
	case l.Image != nil && *l.Image != "":
		st := g.status[*l.Image]
		if st == nil {
			st = &imageStatus{}
			g.status[*l.Image] = st
		}
		st.seen++
		if l.Error == "" {
			st.done = true
		} else if st.err == "" {
			st.err = l.Error
		}
		return nil
	}
	return ErrReport
}

// shard records that name is shard s (nil: an unsharded run).
func (g *merger) shard(name string, s *Spec) error {
	if s == nil {
		return nil
	}
	if !s.Valid() {
		return fmt.Errorf("shard %d/%d: %w", s.Index, s.Count, ErrReport)
	}
	if g.count != 0 && s.Count != g.count {
		return fmt.Errorf("shard %s, but %s is a shard of %d: %w", s, g.countBy, g.count, ErrReport)
	}
	g.count, g.countBy = s.Count, name
	g.shards[*s] = true
	return nil
}

func (g *merger) finish(opts MergeOptions) *Merged {
	m := g.m
	m.Count = g.count
	for s := range g.shards {
		m.Shards = append(m.Shards, s)
	}
	sort.Slice(m.Shards, func(a, b int) bool { return m.Shards[a].Index < m.Shards[b].Index })
	for k := 0; k < g.count; k++ {
		if !g.shards[Spec{Index: k, Count: g.count}] {
			m.Missing = append(m.Missing, k)
		}
	}
	names := make([]string, 0, len(g.status))
	for name := range g.status {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := g.status[name]
		m.Images++
		if st.seen > 1 {
			m.Repeated = append(m.Repeated, name)
		}
		if st.done {
			m.Done++
			continue
		}
		m.Failed++
		m.Failures = append(m.Failures, batch.Failure{Index: len(m.Failures), Item: name, Error: st.err})
	}
	if g.audited {
		rep := audit.MergeIdentities(g.ids, opts.FilesystemUUIDWarning)
		rep.Images, rep.Inspected = g.auditRep.Images, g.auditRep.Inspected
		rep.Failures = append([]batch.Failure{}, g.auditRep.Failures...)
		sort.SliceStable(rep.Failures, func(a, b int) bool { return rep.Failures[a].Item < rep.Failures[b].Item })
		m.Audit = rep
	}
	return m
}
