package main

import (
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/imgprep/imgprep/pkg/ops/catalog"
)

// unknownOption finds the first option of argv that the command it was
// given to (or its parents) does not define, and words it with the
// nearest defined option: "unknown option --dryrn for sysprep; did you
// mean --dryrun?". ok is false when every option is defined.
func unknownOption(root *cli.Command, argv []string) (msg string, ok bool) {
	if len(argv) == 0 {
		return "", false
	}
	lineage := []*cli.Command{root}
	for i := 1; i < len(argv); i++ {
		t := argv[i]
		if t == "--" {
			return "", false
		}
		cur := lineage[len(lineage)-1]
		if !strings.HasPrefix(t, "-") || t == "-" {
			if sub := cur.Command(t); sub != nil {
				lineage = append(lineage, sub)
			}
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(t, "-"), "=")
		f := flagNamed(lineage, name)
		if f == nil {
			return unknownOptionMessage(t, name, lineage), true
		}
		if tv, ok := f.(interface{ TakesValue() bool }); ok && tv.TakesValue() && !hasValue {
			i++
		}
	}
	return "", false
}

// flagNamed is the flag called name of a command of lineage, or nil.
func flagNamed(lineage []*cli.Command, name string) cli.Flag {
	for _, c := range lineage {
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				if n == name {
					return f
				}
			}
		}
	}
	return nil
}

func unknownOptionMessage(token, name string, lineage []*cli.Command) string {
	var names []string
	for _, c := range lineage {
		for _, f := range c.Flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			for _, n := range f.Names() {
				if len(n) > 1 {
					names = append(names, n)
				}
			}
		}
	}
	where := ""
	if c := lineage[len(lineage)-1]; len(lineage) > 1 {
		where = " for " + strings.TrimPrefix(c.FullName(), "imgprep ")
	}
	shown, _, _ := strings.Cut(token, "=")
	msg := "unknown option " + escape(shown) + where
	if near, ok := catalog.Closest(name, names); ok && len(name) > 1 {
		msg += "; did you mean --" + near + "?"
	}
	return msg
}
