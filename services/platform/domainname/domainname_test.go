package domainname

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeAcceptsAndCanonicalizes(t *testing.T) {
	for _, tc := range []struct{ in, ascii, display string }{
		{"example.com", "example.com", "example.com"},
		{"  Example.COM.  ", "example.com", "example.com"},
		{"eng.example.co.uk", "eng.example.co.uk", "eng.example.co.uk"},
		{"example.co.uk", "example.co.uk", "example.co.uk"},
		{"bücher.example", "xn--bcher-kva.example", "bücher.example"},
		{"BÜCHER.example", "xn--bcher-kva.example", "bücher.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"},
		{"my-company.io", "my-company.io", "my-company.io"},
		{"wwwexample.com", "wwwexample.com", "wwwexample.com"},
	} {
		ascii, display, err := Normalize(tc.in)
		if err != nil || ascii != tc.ascii || display != tc.display {
			t.Errorf("Normalize(%q) = %q, %q, %v; want %q, %q", tc.in, ascii, display, err, tc.ascii, tc.display)
		}
	}
}

func TestNormalizeRefusesWhatCannotBeACompanyDomain(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "  ", ErrEmpty},
		{"a URL with a scheme", "https://example.com", ErrHasScheme},
		{"a mailto link", "mailto:bob@example.com", ErrHasScheme},
		{"a path", "example.com/login", ErrHasPath},
		{"a query", "example.com?x=1", ErrHasPath},
		{"a port", "example.com:443", ErrHasPath},
		{"an email address", "bob@example.com", ErrHasPath},
		{"a www prefix", "www.example.com", ErrWWWPrefix},
		{"a www prefix in capitals", "WWW.Example.com", ErrWWWPrefix},
		{"an IPv4 address", "192.168.1.10", ErrIPAddress},
		{"an IPv4 address with a trailing dot", "10.0.0.1.", ErrIPAddress},
		{"an IPv6 address", "[2001:db8::1]", ErrIPAddress},
		{"a bare IPv6 address", "2001:db8::1", ErrIPAddress},
		{"a single label", "localhost", ErrSingleLabel},
		{"a top-level domain", "com", ErrSingleLabel},
		{"an ICANN public suffix", "co.uk", ErrPublicSuffix},
		{"a private public suffix", "github.io", ErrPublicSuffix},
		{"gmail", "gmail.com", ErrFreeEmailProvider},
		{"outlook", "Outlook.com", ErrFreeEmailProvider},
		{"hotmail", "hotmail.com", ErrFreeEmailProvider},
		{"yahoo", "yahoo.com", ErrFreeEmailProvider},
		{"icloud", "icloud.com", ErrFreeEmailProvider},
		{"proton", "proton.me", ErrFreeEmailProvider},
		{"an empty label", "example..com", ErrMalformed},
		{"a leading dot", ".example.com", ErrMalformed},
		{"two trailing dots", "example.com..", ErrMalformed},
		{"a label starting with a hyphen", "-bad.example.com", ErrMalformed},
		{"an underscore", "under_score.example.com", ErrMalformed},
		{"a space inside", "exa mple.com", ErrMalformed},
		{"a label over 63 characters", strings.Repeat("a", 64) + ".com", ErrMalformed},
		{"a name over 253 characters", strings.Repeat("abcdefghi.", 26) + "com", ErrMalformed},
		{"a numeric top-level label", "example.123", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Normalize(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Normalize(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestFromEmailTakesTheDomainAfterTheLastAt(t *testing.T) {
	d, err := FromEmail("Jane.Doe@Example.COM")
	if err != nil || d != "example.com" {
		t.Fatalf("FromEmail = %q, %v", d, err)
	}
	for _, bad := range []string{"no-at-sign", "@example.com", "bob@", "bob@gmail.com"} {
		if _, err := FromEmail(bad); err == nil {
			t.Errorf("FromEmail(%q) accepted", bad)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"example.com", "bücher.example", "https://x.y/z", "1.2.3.4", "www.a.b", "co.uk", "a..b", "xn--bcher-kva.example", "ex\u200dample.com", "ＥＸＡＭＰＬＥ.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ascii, display, err := Normalize(in)
		if err != nil {
			return
		}
		if ascii != strings.ToLower(ascii) || strings.HasSuffix(ascii, ".") || len(ascii) > MaxLength || !validLDH(ascii) {
			t.Fatalf("Normalize(%q) = %q: not canonical", in, ascii)
		}
		again, _, err := Normalize(ascii)
		if err != nil || again != ascii {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q, %v", in, ascii, again, err)
		}
		fromDisplay, _, err := Normalize(display)
		if err != nil || fromDisplay != ascii {
			t.Fatalf("display form %q of %q normalizes to %q, %v", display, ascii, fromDisplay, err)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Normalize("Eng.Example.COM."); err != nil {
			b.Fatal(err)
		}
	}
}
