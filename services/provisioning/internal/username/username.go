// Package username makes and checks usernames: 4 to 30 lower-case ASCII letters and digits. It
// derives a readable base from an email or a full name; choosing a free one (digits appended on
// collision) is the caller's job, because only the store knows which are taken. Nothing here may
// produce a value that Valid refuses.
package username

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

const (
	MinLength = 4
	MaxLength = 30
)

// Valid reports whether s is a well-formed username.
func Valid(s string) bool {
	if len(s) < MinLength || len(s) > MaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// alnum lower-cases s, strips accents (é becomes e) and drops everything that is not an ASCII
// letter or digit.
func alnum(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		r = unicode.ToLower(r)
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Base returns the username to try first for a person: the email's local part, else the full name
// when the local part gives too few characters, padded with zeros to the minimum length and cut to
// the maximum.
func Base(localPart, fullName string) string {
	base := alnum(localPart)
	if len(base) < MinLength {
		if fromName := alnum(fullName); len(fromName) > len(base) {
			base = fromName
		}
	}
	if base == "" {
		base = "user"
	}
	for len(base) < MinLength {
		base += "0"
	}
	if len(base) > MaxLength {
		base = base[:MaxLength]
	}
	return base
}

// WithSuffix returns base with n appended, cutting base so that the result stays within MaxLength.
func WithSuffix(base string, n int) string {
	suffix := strconv.Itoa(n)
	if len(base)+len(suffix) > MaxLength {
		base = base[:MaxLength-len(suffix)]
	}
	return base + suffix
}
