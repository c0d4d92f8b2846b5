package resourcename

import (
	"errors"
	"testing"
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
