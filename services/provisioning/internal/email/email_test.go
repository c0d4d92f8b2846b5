package email_test

import (
	"strings"
	"testing"

	"github.com/iechor/sso/services/provisioning/internal/email"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name, in, display, key, domain string
	}{
		{"a plain address keeps its local part and lower-cases its domain", "Jane.Doe@Example.COM", "Jane.Doe@example.com", "jane.doe@example.com", "example.com"},
		{"plus addressing and atext characters are accepted", "a+b_c!#$%&'*/=?^`{|}~-d@x.example", "a+b_c!#$%&'*/=?^`{|}~-d@x.example", "a+b_c!#$%&'*/=?^`{|}~-d@x.example", "x.example"},
		{"an internationalized domain is stored in punycode", "jo@bücher.example", "jo@xn--bcher-kva.example", "jo@xn--bcher-kva.example", "xn--bcher-kva.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := email.Parse(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if a.Display != c.display || a.Key != c.key || a.Domain != c.domain {
				t.Fatalf("got %+v", a)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ name, in string }{
		{"an empty value", ""},
		{"no at sign", "jane.example.com"},
		{"nothing before the at sign", "@example.com"},
		{"nothing after the at sign", "jane@"},
		{"a single-label domain", "jane@localhost"},
		{"a numeric top-level label, as in an IP address", "jane@192.168.0.1"},
		{"a bracketed IP literal", "jane@[192.168.0.1]"},
		{"a leading dot in the local part", ".jane@example.com"},
		{"two dots in a row", "ja..ne@example.com"},
		{"a quoted local part", `"jane doe"@example.com`},
		{"a space", "jane doe@example.com"},
		{"a comment", "jane(x)@example.com"},
		{"a second at sign", "a@b@example.com"},
		{"a local part over 64 characters", strings.Repeat("a", 65) + "@example.com"},
		{"an address over 254 characters", "abc@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + ".example"},
		{"a label starting with a hyphen", "jane@-example.com"},
		{"an underscore in the domain", "jane@ex_ample.com"},
		{"a newline", "jane@example.com\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if a, err := email.Parse(c.in); err == nil {
				t.Fatalf("accepted %q as %+v", c.in, a)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"jane@example.com", "Jane.Doe@Example.COM", "jo@bücher.example", "a@b@c.d", "@", "x@y", "\"q\"@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := email.Parse(s)
		if err != nil {
			return
		}
		// What Parse accepts, it accepts again unchanged, and its key is the lower-cased form.
		again, err := email.Parse(a.Display)
		if err != nil || again != a {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", s, a, a.Display, again, err)
		}
		if a.Key != strings.ToLower(a.Display) || len(a.Display) > email.MaxLength || !strings.HasSuffix(a.Display, "@"+a.Domain) {
			t.Fatalf("Parse(%q) = %+v", s, a)
		}
	})
}
