package accounts_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
)

func TestUserAccountHomes(t *testing.T) {
	tests := []struct {
		name   string
		passwd string
		want   []string
	}{
		{"a home of a removed user goes with it",
			"alice:x:1000:1000::/home/alice:/bin/sh\n", []string{"edited /etc/passwd", "removed /home/alice"}},
		{"a top-level home is never removed (/srv)",
			"svc:x:1001:1001::/srv:/bin/sh\n", []string{"edited /etc/passwd"}},
		{"the root directory is never removed",
			"odd:x:1002:1002::/:/bin/sh\n", []string{"edited /etc/passwd"}},
		{"a home holding a kept user's home stays",
			"boss:x:1003:1003::/home/team:/bin/sh\nroot:x:0:0::/home/team/root:/bin/sh\n", []string{"edited /etc/passwd"}},
		{"a home shared with a kept user stays",
			"a:x:1004:1004::/home/shared:/bin/sh\nsys:x:10:10::/home/shared:/bin/sh\n", []string{"edited /etc/passwd"}},
		{"UID_MIN and UID_MAX bound the range; system users stay",
			"daemon:x:1:1::/home/daemon:/bin/sh\nnobody:x:65534:65534::/home/nobody:/bin/sh\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := memfs.New().AddFile("/etc/passwd", tc.passwd, 0o644).
				AddFile("/etc/login.defs", "UID_MIN 1000\nUID_MAX 60000\n", 0o644)
			for _, d := range []string{"/home/alice/x", "/srv/data", "/home/team/root/x", "/home/shared/x", "/home/daemon/x", "/home/nobody/x"} {
				g.AddFile(d, "x", 0o644)
			}
			ch, err := accounts.NewUserAccount(accounts.Options{}).Apply(context.Background(), g)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range ch {
				got = append(got, string(c.Action)+" "+c.Path)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("changes %q, want %q", got, tc.want)
			}
		})
	}
}
