package catalog

import (
	"errors"
	"strings"
	"testing"
)

// TestSelectSuggestsTheNearestOperation: a misspelt operation is refused
// with the operation meant; a name near none is refused with a pointer to
// list-operations.
func TestSelectSuggestsTheNearestOperation(t *testing.T) {
	all := All(Config{})
	for _, tc := range []struct{ name, want string }{
		{"ssh-hostkey", "did you mean ssh-hostkeys?"},
		{"ssh-hotskeys", "did you mean ssh-hostkeys?"},
		{"machineid", "did you mean machine-id?"},
		{"-machine-ids", "did you mean machine-id?"},
		{"bogus", "(see imgprep list-operations)"},
		{"x", "(see imgprep list-operations)"},
	} {
		_, err := Select(all, []string{"defaults," + tc.name}, "")
		if !errors.Is(err, ErrUnknownOperation) {
			t.Fatalf("%s: %v, want ErrUnknownOperation", tc.name, err)
		}
		if !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s: %q, want it to end with %q", tc.name, err, tc.want)
		}
	}
}

func TestClosestNeedsToBeNear(t *testing.T) {
	names := []string{"ssh-hostkeys", "machine-id", "netdata"}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"netdta", "netdata", true},
		{"net", "", false},
		{"ssh-hostkeys", "ssh-hostkeys", true},
		{"zzzzzzzzzzzz", "", false},
	} {
		got, ok := Closest(tc.name, names)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
