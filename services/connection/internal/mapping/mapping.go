// Package mapping decides which SAML attribute or OIDC claim carries each value a sign-in needs
// (email, names, groups, and the iechor* provisioning attributes), with defaults that work out of the
// box for Okta, Entra ID, Google Workspace, OneLogin and JumpCloud. It only names attributes; it never
// reads an assertion.
package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NameID stands for the SAML subject's NameID in a resolved list; the assertion service takes it for
// the email only when it is an email address.
const NameID = "NameID"

// MaxNameLength bounds an attribute name; the longest standard claim URIs are under 100 characters.
const MaxNameLength = 256

// Mapping is what an admin set; empty fields take the defaults.
type Mapping struct {
	Email                string `json:"email,omitempty"`
	FullName             string `json:"full_name,omitempty"`
	GivenName            string `json:"given_name,omitempty"`
	Surname              string `json:"surname,omitempty"`
	Groups               string `json:"groups,omitempty"`
	IechorOrg            string `json:"iechor_org,omitempty"`
	IechorTeam           string `json:"iechor_team,omitempty"`
	IechorRole           string `json:"iechor_role,omitempty"`
	IechorSessionMinutes string `json:"iechor_session_minutes,omitempty"`
}

// Fields are the field names of a mapping, as the API spells them (attribute_mapping.<field>).
var Fields = []string{"email", "full_name", "given_name", "surname", "groups", "iechor_org", "iechor_team", "iechor_role", "iechor_session_minutes"}

// Field returns a pointer to the field named name (one of Fields), or nil.
func (m *Mapping) Field(name string) *string {
	switch name {
	case "email":
		return &m.Email
	case "full_name":
		return &m.FullName
	case "given_name":
		return &m.GivenName
	case "surname":
		return &m.Surname
	case "groups":
		return &m.Groups
	case "iechor_org":
		return &m.IechorOrg
	case "iechor_team":
		return &m.IechorTeam
	case "iechor_role":
		return &m.IechorRole
	case "iechor_session_minutes":
		return &m.IechorSessionMinutes
	}
	return nil
}

// ErrInvalidName means an attribute name is too long or holds control characters.
var ErrInvalidName = errors.New("an attribute name must be 1 to 256 printable characters")

// FieldError names the mapping field at fault.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks every field that is set.
func (m Mapping) Validate() error {
	for _, f := range Fields {
		v := *m.Field(f)
		if v == "" {
			continue
		}
		if len(v) > MaxNameLength || !utf8.ValidString(v) || strings.TrimSpace(v) != v || strings.ContainsFunc(v, unicode.IsControl) {
			return &FieldError{Field: f, Err: ErrInvalidName}
		}
	}
	return nil
}

// Protocol is the kind of connection, whose attributes are named differently.
type Protocol int

const (
	SAML Protocol = iota
	OIDC
)

// Resolved is the list of attribute names tried in order for each value.
type Resolved struct {
	Email                []string
	FullName             []string
	GivenName            []string
	Surname              []string
	Groups               []string
	IechorOrg            []string
	IechorTeam           []string
	IechorRole           []string
	IechorSessionMinutes []string
}

// The claim URIs of WS-Federation, which Entra ID and ADFS send, and the OIDs of the LDAP attributes,
// which Shibboleth-style IdPs send.
const (
	claimEmail       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	claimUPN         = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimDisplayName = "http://schemas.microsoft.com/identity/claims/displayname"
	claimGivenName   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	claimSurname     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	claimGroups      = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	claimGroup       = "http://schemas.xmlsoap.org/claims/Group"
	oidMail          = "urn:oid:0.9.2342.19200300.100.1.3"
	oidDisplayName   = "urn:oid:2.16.840.1.113730.3.1.241"
	oidGivenName     = "urn:oid:2.5.4.42"
	oidSurname       = "urn:oid:2.5.4.4"
)

// samlDefaults: NameID first for the email (Okta, Google Workspace and JumpCloud send the email
// there), then the claim URIs of Entra ID and ADFS, then the plain names OneLogin and JumpCloud use.
// The display name claim comes before the name claim, which Entra ID fills with the UPN.
var samlDefaults = Resolved{
	Email:                []string{NameID, claimEmail, claimUPN, "email", "Email", "mail", oidMail, "User.email"},
	FullName:             []string{claimDisplayName, claimName, "name", "displayName", oidDisplayName},
	GivenName:            []string{claimGivenName, "givenName", "firstName", "first_name", "User.FirstName", oidGivenName},
	Surname:              []string{claimSurname, "surname", "sn", "lastName", "last_name", "User.LastName", oidSurname},
	Groups:               []string{claimGroups, claimGroup, "groups", "Groups"},
	IechorOrg:            []string{"iechorOrg"},
	IechorTeam:           []string{"iechorTeam"},
	IechorRole:           []string{"iechorRole"},
	IechorSessionMinutes: []string{"iechorSessionMinutes"},
}

// oidcDefaults are the standard claims; Entra ID puts the address in upn or preferred_username when
// the email claim is not configured.
var oidcDefaults = Resolved{
	Email:                []string{"email", "upn", "preferred_username"},
	FullName:             []string{"name"},
	GivenName:            []string{"given_name"},
	Surname:              []string{"family_name"},
	Groups:               []string{"groups", "Groups"},
	IechorOrg:            []string{"iechorOrg"},
	IechorTeam:           []string{"iechorTeam"},
	IechorRole:           []string{"iechorRole"},
	IechorSessionMinutes: []string{"iechorSessionMinutes"},
}

// Resolve applies the defaults: a field the admin set is the only name tried for that value; an
// empty field takes the default list. When no full name attribute is present, the assertion service
// joins given name and surname.
func Resolve(m Mapping, p Protocol) Resolved {
	d := samlDefaults
	if p == OIDC {
		d = oidcDefaults
	}
	pick := func(set string, def []string) []string {
		if set != "" {
			return []string{set}
		}
		return slices.Clone(def)
	}
	return Resolved{
		Email:                pick(m.Email, d.Email),
		FullName:             pick(m.FullName, d.FullName),
		GivenName:            pick(m.GivenName, d.GivenName),
		Surname:              pick(m.Surname, d.Surname),
		Groups:               pick(m.Groups, d.Groups),
		IechorOrg:            pick(m.IechorOrg, d.IechorOrg),
		IechorTeam:           pick(m.IechorTeam, d.IechorTeam),
		IechorRole:           pick(m.IechorRole, d.IechorRole),
		IechorSessionMinutes: pick(m.IechorSessionMinutes, d.IechorSessionMinutes),
	}
}

// NameIDFormatEmail is the SAML NameID format of an email address.
const NameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"

// AdvertisesEmail reports whether IdP metadata promises an email where the mapping looks for it:
// a NameID in emailAddress format (when NameID is tried), or an advertised attribute that the email
// list names.
func AdvertisesEmail(email []string, nameIDFormats, attributes []string) bool {
	if slices.Contains(email, NameID) && slices.Contains(nameIDFormats, NameIDFormatEmail) {
		return true
	}
	for _, a := range attributes {
		for _, e := range email {
			if strings.EqualFold(a, e) {
				return true
			}
		}
	}
	return false
}
