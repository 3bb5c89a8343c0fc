package guest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseOSReleaseWithShellQuoting(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"Debian 12 as shipped", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
			map[string]string{"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Debian GNU/Linux", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm", "ID": "debian"}},
		{"single quotes are literal", "NAME='a \"b\" $c \\d'\n", map[string]string{"NAME": `a "b" $c \d`}},
		{"double quotes unescape \\\" \\\\ \\$ and \\`", `NAME="a \"b\" \\ \$x \` + "`" + `c\n"` + "\n", map[string]string{"NAME": "a \"b\" \\ $x `c\\n"}},
		{"an unquoted backslash escapes the next character", `NAME=a\ b` + "\n", map[string]string{"NAME": "a b"}},
		{"comments and blank lines are skipped", "# c\n\n  ID=fedora  \n", map[string]string{"ID": "fedora"}},
		{"an unterminated quote invalidates the line", "NAME=\"abc\nID=x\n", map[string]string{"ID": "x"}},
		{"an invalid name is skipped", "1ID=x\nA-B=y\nID_LIKE=\"rhel centos\"\n", map[string]string{"ID_LIKE": "rhel centos"}},
		{"a later assignment wins", "ID=a\nID=b\n", map[string]string{"ID": "b"}},
		{"an empty value", "VARIANT=\n", map[string]string{"VARIANT": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOSRelease([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseOSReleaseRefusesAHugeFile(t *testing.T) {
	if _, err := ParseOSRelease([]byte(strings.Repeat("x", MaxConfigSize+1))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func FuzzOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\nNAME='x y'\n"))
	f.Add([]byte(`A="\"\\\$` + "`" + `"` + "\nB=a\\ b # c\nC='unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseOSRelease(data)
		if err != nil {
			if len(data) <= MaxConfigSize {
				t.Fatalf("error on %d bytes: %v", len(data), err)
			}
			return
		}
		for k, v := range m {
			if !validEnvName(k) {
				t.Fatalf("invalid key %q", k)
			}
			if len(v) > len(data) {
				t.Fatalf("value longer than the input")
			}
		}
	})
}
