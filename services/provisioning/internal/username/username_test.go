package username_test

import (
	"strings"
	"testing"

	"github.com/iechor/sso/services/provisioning/internal/username"
)

func TestBase(t *testing.T) {
	for _, c := range []struct {
		name, local, fullName, want string
	}{
		{"the local part without its punctuation, lower-cased", "Jane.Doe-42", "", "janedoe42"},
		{"accents are stripped, not dropped", "José", "", "jose"},
		{"a local part too short for a username gives way to the full name", "jo", "Joséphine Durand", "josephinedurand"},
		{"a short result is padded with zeros", "al", "", "al00"},
		{"the full name is used only when it gives more", "ab", "X", "ab00"},
		{"nothing usable gives a padded placeholder", "+++", "", "user"},
		{"a long local part is cut to 30 characters", strings.Repeat("a", 40), "", strings.Repeat("a", 30)},
		{"letters outside ASCII without a base letter are dropped", "名前bob", "", "bob0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := username.Base(c.local, c.fullName); got != c.want {
				t.Fatalf("Base(%q, %q) = %q, want %q", c.local, c.fullName, got, c.want)
			}
		})
	}
}

func TestWithSuffixStaysWithinTheLimit(t *testing.T) {
	base := strings.Repeat("a", 30)
	if got := username.WithSuffix(base, 123); got != strings.Repeat("a", 27)+"123" || !username.Valid(got) {
		t.Fatalf("WithSuffix = %q", got)
	}
	if got := username.WithSuffix("jane", 2); got != "jane2" {
		t.Fatalf("WithSuffix = %q", got)
	}
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{"jane": true, "jan": false, "Jane": false, "jane_doe": false, strings.Repeat("a", 30): true, strings.Repeat("a", 31): false, "1234": true} {
		if username.Valid(s) != want {
			t.Errorf("Valid(%q) = %v", s, !want)
		}
	}
}

func FuzzBase(f *testing.F) {
	f.Add("jane.doe", "Jane Doe")
	f.Add("", "")
	f.Add("é", "ß")
	f.Fuzz(func(t *testing.T, local, fullName string) {
		base := username.Base(local, fullName)
		if !username.Valid(base) {
			t.Fatalf("Base(%q, %q) = %q is not a valid username", local, fullName, base)
		}
		for _, n := range []int{1, 99, 123456} {
			if s := username.WithSuffix(base, n); !username.Valid(s) {
				t.Fatalf("WithSuffix(%q, %d) = %q is not a valid username", base, n, s)
			}
		}
	})
}
