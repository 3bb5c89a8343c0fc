package accounts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/imgprep/imgprep/pkg/fs"
	"github.com/imgprep/imgprep/pkg/fs/memfs"
	"github.com/imgprep/imgprep/pkg/ops/accounts"
)

// FuzzUserAccount runs user-account over arbitrary passwd, group and
// login.defs files: it never panics, fails only with fs.ErrInvalid (a
// malformed login.defs), and a second run changes nothing.
func FuzzUserAccount(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n", "alice:x:1000:\nusers:x:100:alice,bob\n", "UID_MIN 1000\nUID_MAX 60000\n")
	f.Add("bob:x:1001:1001::/:/bin/sh\n", "", "UID_MIN x\n")
	f.Add("a:x:5:5::/home/a:/bin/sh", "a:x:5:", "UID_MIN 0\nUID_MAX 10")
	f.Fuzz(func(t *testing.T, passwd, group, defs string) {
		g := memfs.New().AddFile("/etc/passwd", passwd, 0o644).AddFile("/etc/group", group, 0o644).
			AddFile("/etc/shadow", passwd, 0o640).AddFile("/etc/gshadow", group, 0o640).
			AddFile("/etc/login.defs", defs, 0o644).AddFile("/home/a/x", "x", 0o644)
		op := accounts.NewUserAccount(accounts.Options{})
		if _, err := op.Apply(context.Background(), g); err != nil {
			if !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		again, err := op.Apply(context.Background(), g)
		if err != nil || len(again) != 0 {
			t.Fatalf("second run: %v, %v", again, err)
		}
	})
}
