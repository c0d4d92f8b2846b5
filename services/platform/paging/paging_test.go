package paging

import (
	"errors"
	"testing"
)

func TestTokensRoundTripAndAreBoundToTheirQuery(t *testing.T) {
	fp := Fingerprint("companies/acme", "verified")
	tok := Encode("example.com", fp)
	after, err := Decode(tok, fp)
	if err != nil || after != "example.com" {
		t.Fatalf("Decode = %q, %v", after, err)
	}
	if _, err := Decode(tok, Fingerprint("companies/other", "verified")); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a token was accepted for another query: %v", err)
	}
	for _, bad := range []string{"%%%", "bm90IGpzb24", Encode("x", "other")} {
		if _, err := Decode(bad, fp); !errors.Is(err, ErrBadToken) {
			t.Errorf("Decode(%q) = %v", bad, err)
		}
	}
	if after, err := Decode("", fp); err != nil || after != "" {
		t.Fatal("an empty token must mean the first page")
	}
}

func TestSizeBoundsPageSizes(t *testing.T) {
	for _, tc := range []struct {
		in   int32
		want int
	}{{0, DefaultSize}, {10, 10}, {MaxSize + 1, MaxSize}} {
		if got, err := Size(tc.in); err != nil || got != tc.want {
			t.Errorf("Size(%d) = %d, %v", tc.in, got, err)
		}
	}
	if _, err := Size(-1); !errors.Is(err, ErrBadSize) {
		t.Fatal("a negative size was accepted")
	}
}
