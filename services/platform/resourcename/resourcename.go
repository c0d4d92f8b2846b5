// Package resourcename parses the resource names the suite's APIs use, in the style of Google's API
// Improvement Proposals: companies/acme, organizations/eng, companies/acme/domains/example.com.
package resourcename

import (
	"errors"
	"fmt"
	"strings"
)

// Owner kinds: a company, or an organization (which may stand alone on the business plan).
const (
	Companies     = "companies"
	Organizations = "organizations"
)

// ErrInvalid means a name does not have the expected form.
var ErrInvalid = errors.New("invalid resource name")

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
	if !ok || (kind != Companies && kind != Organizations) || !ValidID(id) {
		return Owner{}, fmt.Errorf("%w: %q is not companies/{id} or organizations/{id}", ErrInvalid, name)
	}
	return Owner{Kind: kind, ID: id}, nil
}

// ParseChild parses {owner}/{collection}/{child}, such as companies/acme/domains/example.com, and
// returns the owner and the child segment, which the caller validates.
func ParseChild(name, collection string) (Owner, string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[2] != collection || parts[3] == "" {
		return Owner{}, "", fmt.Errorf("%w: %q is not {owner}/%s/{id}", ErrInvalid, name, collection)
	}
	o, err := ParseOwner(parts[0] + "/" + parts[1])
	if err != nil {
		return Owner{}, "", err
	}
	return o, parts[3], nil
}

// Child returns {owner}/{collection}/{child}.
func Child(o Owner, collection, child string) string {
	return o.String() + "/" + collection + "/" + child
}
