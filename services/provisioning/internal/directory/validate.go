package directory

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/email"
	"github.com/iechor/sso/services/provisioning/internal/store"
	"github.com/iechor/sso/services/provisioning/internal/username"
)

// Limits on free text, in characters.
const (
	MaxDisplayName = 100
	MaxFullName    = 256
	MaxDescription = 1000
)

// CheckID validates an admin-chosen id (company, organization, team).
func CheckID(field, id string) error {
	if id == "" {
		return Field(field, ErrRequired)
	}
	if !resourcename.ValidID(id) {
		return Field(field, ErrInvalidID)
	}
	return nil
}

// CheckText validates free text: valid UTF-8, no control characters, at most max characters.
func CheckText(field, s string, max int) error {
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return Field(field, ErrInvalidText)
	}
	if utf8.RuneCountInString(s) > max {
		return Field(field, ErrTooLong)
	}
	return nil
}

// CheckEmail parses an email address.
func CheckEmail(field, s string) (email.Address, error) {
	if s == "" {
		return email.Address{}, Field(field, ErrRequired)
	}
	a, err := email.Parse(s)
	if err != nil {
		return email.Address{}, Field(field, ErrInvalidEmail)
	}
	return a, nil
}

// CheckUsername validates a username chosen by an admin.
func CheckUsername(field, s string) error {
	if !username.Valid(s) {
		return Field(field, ErrInvalidUsername)
	}
	return nil
}

// ParseRole reads a role as an identity provider or an API caller writes it, in any case; "" is no
// role.
func ParseRole(s string) (store.Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "member":
		return store.RoleMember, nil
	case "editor":
		return store.RoleEditor, nil
	case "owner":
		return store.RoleOwner, nil
	}
	return "", ErrInvalidRole
}

// CheckPlan validates a plan.
func CheckPlan(field string, p store.Plan) error {
	switch p {
	case store.PlanFree, store.PlanTeam, store.PlanBusiness:
		return nil
	}
	return Field(field, ErrInvalidPlan)
}

// MaxSeatLimit bounds seat limits to what fits every backend's integer column.
const MaxSeatLimit = 1_000_000

// CheckSeatLimit validates a seat limit; 0 means no limit.
func CheckSeatLimit(field string, n int) error {
	if n < 0 || n > MaxSeatLimit {
		return Field(field, ErrInvalidSeatLimit)
	}
	return nil
}

// Slug turns a name into an id: lower-case, every run of other characters than letters and digits
// becomes one hyphen, no hyphen at either end, at most 63 characters. "Acme Corp." becomes
// "acme-corp".
func Slug(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
			continue
		}
		hyphen = true
	}
	s := b.String()
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}
