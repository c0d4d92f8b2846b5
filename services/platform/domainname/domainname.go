// Package domainname turns what an admin types into the one canonical form of an email domain, and
// refuses what cannot be a company's email domain: URLs, IP addresses, single labels, public
// suffixes and the domains of free email providers.
package domainname

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// The reasons a domain is refused. Each is a distinct sentinel so that the service can name it.
var (
	ErrEmpty             = errors.New("the domain is empty")
	ErrHasScheme         = errors.New("the domain has a scheme such as https://; give the bare domain, such as example.com")
	ErrHasPath           = errors.New("the domain has a path, query, port or email part; give the bare domain, such as example.com")
	ErrWWWPrefix         = errors.New(`the domain starts with "www."; give the email domain, such as example.com`)
	ErrIPAddress         = errors.New("an IP address is not a domain")
	ErrSingleLabel       = errors.New("the domain has a single label; give a full domain such as example.com")
	ErrPublicSuffix      = errors.New("the domain is a public suffix that nobody can own, such as co.uk")
	ErrFreeEmailProvider = errors.New("the domain belongs to a free email provider and cannot be verified by a company")
	ErrMalformed         = errors.New("the domain is not a valid DNS name")
)

// MaxLength is the longest domain name DNS allows, in ASCII form without the trailing dot.
const MaxLength = 253

var profile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.Transitional(false),
)

// Normalize returns the canonical ASCII (punycode) form of a domain — lower case, without a trailing
// dot — and its Unicode form for display, or one of the errors above.
func Normalize(input string) (ascii, display string, err error) {
	s := strings.TrimSpace(input)
	// No valid name is longer than this in any form; refusing early keeps IDNA processing bounded.
	if len(s) > 4*MaxLength || !utf8.ValidString(s) {
		return "", "", ErrMalformed
	}
	if s == "" {
		return "", "", ErrEmpty
	}
	if strings.Contains(s, "://") || strings.HasPrefix(strings.ToLower(s), "mailto:") {
		return "", "", ErrHasScheme
	}
	if ip := strings.Trim(s, "[]"); isIP(ip) || isIP(strings.TrimSuffix(ip, ".")) {
		return "", "", ErrIPAddress
	}
	if strings.ContainsAny(s, "/?#@:\\") {
		return "", "", ErrHasPath
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || strings.HasSuffix(s, ".") || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return "", "", ErrMalformed
	}
	ascii, err = profile.ToASCII(s)
	if err != nil {
		return "", "", ErrMalformed
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > MaxLength || !validLDH(ascii) {
		return "", "", ErrMalformed
	}
	if isIP(ascii) {
		return "", "", ErrIPAddress
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", "", ErrSingleLabel
	}
	if allDigits(labels[len(labels)-1]) {
		return "", "", ErrMalformed
	}
	if labels[0] == "www" {
		return "", "", ErrWWWPrefix
	}
	if suffix, _ := publicsuffix.PublicSuffix(ascii); suffix == ascii {
		return "", "", ErrPublicSuffix
	}
	if IsFreeEmailProvider(ascii) {
		return "", "", ErrFreeEmailProvider
	}
	// A name that does not survive the way back (a label that decodes to a disallowed character)
	// is not one that DNS or people can use.
	display, err = profile.ToUnicode(ascii)
	if err != nil {
		return "", "", ErrMalformed
	}
	if back, err := profile.ToASCII(display); err != nil || strings.ToLower(back) != ascii {
		return "", "", ErrMalformed
	}
	return ascii, display, nil
}

// FromEmail returns the normalized domain of an email address (the part after the last @).
func FromEmail(email string) (string, error) {
	i := strings.LastIndexByte(email, '@')
	if i <= 0 || i == len(email)-1 {
		return "", ErrMalformed
	}
	d, _, err := Normalize(email[i+1:])
	return d, err
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validLDH checks the letters-digits-hyphen rule on every label of an ASCII name.
func validLDH(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
