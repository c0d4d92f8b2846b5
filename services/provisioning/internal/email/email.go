// Package email checks the email addresses that identify users and derives the lower-cased key under
// which an address is unique. It must never rewrite the part of an address before the '@' beyond
// case folding for the key: two different mailboxes must never share a key.
package email

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxLength is the longest address accepted, the limit of RFC 5321's forward path.
const MaxLength = 254

// maxLocal is the longest local part (RFC 5321, 4.5.3.1.1).
const maxLocal = 64

// ErrInvalid means the value is not an email address this service accepts.
var ErrInvalid = errors.New("not a valid email address")

// Address is a checked email address.
type Address struct {
	// Display is the address as given, with its domain in lower-case ASCII.
	Display string
	// Key is the address lower-cased: two addresses with one key are one user.
	Key string
	// Domain is the domain in lower-case ASCII (punycode for internationalized domains).
	Domain string
	// Local is the part before the '@', as given.
	Local string
}

var lookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(true))

// Parse checks s: a dot-atom local part (RFC 5322 without quoted strings or comments, which IdPs do
// not send and which only serve to smuggle look-alikes) and a domain of at least two DNS labels.
func Parse(s string) (Address, error) {
	if s == "" || len(s) > MaxLength || !utf8.ValidString(s) {
		return Address{}, ErrInvalid
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Address{}, ErrInvalid
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > maxLocal || !validLocal(local) {
		return Address{}, ErrInvalid
	}
	ascii, err := lookup.ToASCII(domain)
	if err != nil || !validDomain(ascii) {
		return Address{}, ErrInvalid
	}
	// The stored form must read back as itself: a punycode label that does not decode to what
	// encoded it would make two spellings of one domain.
	if again, err := lookup.ToASCII(ascii); err != nil || again != ascii {
		return Address{}, ErrInvalid
	}
	display := local + "@" + ascii
	if len(display) > MaxLength {
		return Address{}, ErrInvalid
	}
	return Address{Display: display, Key: strings.ToLower(display), Domain: ascii, Local: local}, nil
}

// atext is RFC 5322's set of characters allowed in an atom, besides letters and digits.
const atext = "!#$%&'*+-/=?^_`{|}~"

func validLocal(s string) bool {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte(atext, c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// A top-level label of digits only would make an IP address look like a domain.
	tld := labels[len(labels)-1]
	return strings.Trim(tld, "0123456789") != ""
}
