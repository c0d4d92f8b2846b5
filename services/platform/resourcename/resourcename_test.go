package resourcename

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Owner
		ok   bool
	}{
		{"companies/acme", Owner{Companies, "acme"}, true},
		{"organizations/eng-team", Owner{Organizations, "eng-team"}, true},
		{"organizations/a", Owner{Organizations, "a"}, true},
		{"companies/", Owner{}, false},
		{"companies/Acme", Owner{}, false},
		{"companies/-acme", Owner{}, false},
		{"companies/acme/", Owner{}, false},
		{"users/bob", Owner{}, false},
		{"acme", Owner{}, false},
		{"companies/" + string(make([]byte, 64)), Owner{}, false},
	} {
		got, err := ParseOwner(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseOwner(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseOwner(%q) error %v is not ErrInvalid", tc.in, err)
		}
	}
}

func TestParseChildRoundTrips(t *testing.T) {
	o, d, err := ParseChild("companies/acme/domains/example.com", "domains")
	if err != nil || o.String() != "companies/acme" || d != "example.com" {
		t.Fatalf("ParseChild = %v %q %v", o, d, err)
	}
	if Child(o, "domains", d) != "companies/acme/domains/example.com" {
		t.Fatal("Child does not rebuild the name")
	}
	for _, bad := range []string{"companies/acme/domains/", "companies/acme/teams/x", "companies/acme/domains/a/b", "companies/ACME/domains/x"} {
		if _, _, err := ParseChild(bad, "domains"); err == nil {
			t.Errorf("ParseChild(%q) accepted", bad)
		}
	}
}

func TestARefusedNameIsDescribedInABoundedMessageOfOurs(t *testing.T) {
	huge := "companies/" + strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name, in, problem string
	}{
		{"upper case", "companies/ACME", "an id is 1 to 63 lower-case"},
		{"a NUL byte", "companies/acme\x00", "an id is 1 to 63 lower-case"},
		{"invalid UTF-8", "companies/\xff\xfe", "an id is 1 to 63 lower-case"},
		{"a 70-character id", "companies/" + strings.Repeat("a", 70), "an id is 1 to 63 lower-case"},
		{"a megabyte of id", huge, "an id is 1 to 63 lower-case"},
		{"another kind", "users/bob", "companies/{id} or organizations/{id}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOwner(tc.in)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not a *Error wrapping ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.problem) || len(msg) > 400 || !utf8.ValidString(msg) || strings.ContainsRune(msg, 0) {
				t.Fatalf("message %q (%d bytes)", msg, len(msg))
			}
		})
	}
}

func TestTheOwnerOfAnyNameIsItsFirstTwoSegments(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Owner
		ok   bool
	}{
		{"companies/acme", Owner{Companies, "acme"}, true},
		{"companies/acme/domains/example.com", Owner{Companies, "acme"}, true},
		{"organizations/eng/connections/conn_1", Owner{Organizations, "eng"}, true},
		{"companies/ACME/domains/example.com", Owner{}, false},
		{"companies/acme\x00/domains", Owner{}, false},
		{"companies", Owner{}, false},
		{"", Owner{}, false},
		{"users/bob", Owner{}, false},
	} {
		got, err := OwnerOf(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("OwnerOf(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestAChildSegmentThatNoChildMayHoldIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, child string }{
		{"a NUL byte", "example.com\x00"},
		{"a line break", "exa\nmple.com"},
		{"invalid UTF-8", "ex\xffample.com"},
		{"an overlong segment", strings.Repeat("a", MaxChildLength+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseChild("companies/acme/domains/"+tc.child, "domains"); !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseChild accepted %q: %v", tc.child, err)
			}
		})
	}
	if _, c, err := ParseChild("companies/acme/domains/bücher.example", "domains"); err != nil || c != "bücher.example" {
		t.Fatalf("an internationalised domain was refused: %q %v", c, err)
	}
}
