// Package resourcename parses the resource names the suite's APIs use, in the style of Google's API
// Improvement Proposals: companies/acme, organizations/eng, companies/acme/domains/example.com.
//
// Every refusal is an *Error that wraps ErrInvalid and says, in a sentence of ours, what is wrong;
// it quotes at most a short, escaped prefix of what was given, so that a hostile name (a NUL byte,
// invalid UTF-8, a megabyte of text) never travels back whole in a message.
package resourcename

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Owner kinds: a company, or an organization (which may stand alone on the business plan).
const (
	Companies     = "companies"
	Organizations = "organizations"
)

// ErrInvalid means a name does not have the expected form.
var ErrInvalid = errors.New("invalid resource name")

// MaxChildLength caps the last segment of a child name (a domain name is at most 253 bytes).
const MaxChildLength = 255

// Error is a malformed resource name: what was given and what is wrong with it.
type Error struct {
	Name    string // as given
	Problem string // a sentence of ours
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s is not a valid resource name: %s", Quote(e.Name), e.Problem)
}

// Unwrap makes every *Error match ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

func invalid(name, problem string) error { return &Error{Name: name, Problem: problem} }

// quoteMax is how much of a refused name a message repeats.
const quoteMax = 80

// Quote returns s quoted for a message: escaped (invalid UTF-8 and control characters included)
// and cut to a short prefix on a character boundary.
func Quote(s string) string {
	if len(s) <= quoteMax {
		return fmt.Sprintf("%q", s)
	}
	cut := quoteMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

const idRule = "an id is 1 to 63 lower-case letters, digits, hyphens and underscores, starting and ending with a letter or digit"

// Owner is companies/{id} or organizations/{id}: who owns domains and connections.
type Owner struct {
	Kind string // Companies or Organizations
	ID   string
}

func (o Owner) String() string { return o.Kind + "/" + o.ID }

// IsZero reports whether o is the zero Owner.
func (o Owner) IsZero() bool { return o.Kind == "" && o.ID == "" }

// ValidID reports whether id is a valid identifier segment: 1 to 63 lower-case letters, digits,
// hyphens and underscores, starting and ending with a letter or digit (acme, eng-team, conn_3x7k...).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(id)-1:
		case c == '_' && i > 0 && i < len(id)-1:
		default:
			return false
		}
	}
	return true
}

// ParseOwner parses companies/{id} or organizations/{id}.
func ParseOwner(name string) (Owner, error) {
	kind, id, ok := strings.Cut(name, "/")
	switch {
	case !ok || (kind != Companies && kind != Organizations):
		return Owner{}, invalid(name, "an owner is companies/{id} or organizations/{id}")
	case !ValidID(id):
		return Owner{}, invalid(name, idRule)
	}
	return Owner{Kind: kind, ID: id}, nil
}

// OwnerOf returns the owner at the root of any name of the suite: companies/acme for companies/acme,
// companies/acme/domains/example.com or companies/acme/connections/conn_1. It checks the owner's
// two segments only; the rest of the name is the owning service's to check.
func OwnerOf(name string) (Owner, error) {
	kind, rest, _ := strings.Cut(name, "/")
	id, _, _ := strings.Cut(rest, "/")
	return ParseOwner(kind + "/" + id)
}

// ParseChild parses {owner}/{collection}/{child}, such as companies/acme/domains/example.com, and
// returns the owner and the child segment. The child is checked only for what no child may hold
// (nothing, invalid UTF-8, control characters, more than MaxChildLength bytes); the caller checks
// its form.
func ParseChild(name, collection string) (Owner, string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[2] != collection {
		return Owner{}, "", invalid(name, "the name must be {owner}/"+collection+"/{id}")
	}
	o, err := ParseOwner(parts[0] + "/" + parts[1])
	if err != nil {
		return Owner{}, "", invalid(name, idRule)
	}
	child := parts[3]
	switch {
	case child == "":
		return Owner{}, "", invalid(name, "the last segment is empty")
	case len(child) > MaxChildLength:
		return Owner{}, "", invalid(name, fmt.Sprintf("the last segment is longer than %d bytes", MaxChildLength))
	case !utf8.ValidString(child):
		return Owner{}, "", invalid(name, "the last segment is not valid UTF-8")
	case strings.IndexFunc(child, unicode.IsControl) >= 0:
		return Owner{}, "", invalid(name, "the last segment holds a control character")
	}
	return o, child, nil
}

// Child returns {owner}/{collection}/{child}.
func Child(o Owner, collection, child string) string {
	return o.String() + "/" + collection + "/" + child
}
