package directory_test

import (
	"strings"
	"testing"

	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/directory"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Acme Corp":               "acme-corp",
		"  Acme -- Corp.  ":       "acme-corp",
		"ACME":                    "acme",
		"Platform Team":           "platform-team",
		"!!!":                     "",
		"Zürich Office":           "z-rich-office",
		strings.Repeat("ab-", 40): strings.TrimRight(strings.Repeat("ab-", 21), "-"),
	} {
		if got := directory.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSlug(f *testing.F) {
	for _, s := range []string{"Acme Corp", "a", "-", "é", strings.Repeat("x ", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := directory.Slug(s); got != "" && !resourcename.ValidID(got) {
			t.Fatalf("Slug(%q) = %q is not a valid id", s, got)
		}
	})
}

func TestParseActor(t *testing.T) {
	for in, ok := range map[string]bool{
		"": true, "system": true, "users/usr_abc": true, "service:gateway": true,
		"users/": false, "service:": false, "root": false, "users/a/b": false, "service:Gate Way": false,
	} {
		_, err := directory.ParseActor(in)
		if (err == nil) != ok {
			t.Errorf("ParseActor(%q) = %v", in, err)
		}
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]string{"": "", "member": "member", "Editor": "editor", " OWNER ": "owner"} {
		got, err := directory.ParseRole(in)
		if err != nil || string(got) != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := directory.ParseRole("admin"); err == nil {
		t.Error("admin was accepted as a role")
	}
}
