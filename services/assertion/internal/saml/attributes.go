package saml

import (
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

type attribute struct {
	name, friendly string
	values         []string
}

// attributesOf reads every Attribute of the assertion's AttributeStatements.
func attributesOf(assertion *etree.Element) []attribute {
	var out []attribute
	for _, st := range children(assertion, assertionNS, "AttributeStatement") {
		for _, a := range children(st, assertionNS, "Attribute") {
			attr := attribute{name: xmlgate.AttrValue(a, "Name"), friendly: xmlgate.AttrValue(a, "FriendlyName")}
			for _, v := range children(a, assertionNS, "AttributeValue") {
				// A value with elements inside (a NameID in eduPersonTargetedID, say) is not a
				// string that any mapping reads; taking the text before its first element would
				// read a part of it as the whole.
				if len(v.ChildElements()) == 0 {
					attr.values = append(attr.values, strings.TrimSpace(v.Text()))
				}
			}
			out = append(out, attr)
		}
	}
	return out
}

// lookup returns the values of the first name in names that the assertion carries, and that name.
func lookup(names []string, attrs []attribute, nameID string) ([]string, string) {
	for _, n := range names {
		if n == NameID {
			if nameID != "" {
				return []string{nameID}, NameID
			}
			continue
		}
		for _, a := range attrs {
			if strings.EqualFold(a.name, n) || (a.friendly != "" && strings.EqualFold(a.friendly, n)) {
				return a.values, n
			}
		}
	}
	return nil, ""
}

func first(values []string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// namedBy returns the NameID and, when the mapping finds one, the email address of a verified
// assertion, for the record of a sign-in that fails later.
func namedBy(assertion *etree.Element, conn *Connection) (subject, email string) {
	if sub := firstChild(assertion, assertionNS, "Subject"); sub != nil {
		if n := firstChild(sub, assertionNS, "NameID"); n != nil {
			subject, _ = simpleText(n, "NameID")
		}
	}
	values, _ := lookup(conn.Mapping.WithDefaults().Email, attributesOf(assertion), subject)
	if e := first(values); isEmail(e) {
		email = strings.ToLower(e)
	}
	return subject, email
}

// maxSessionMinutes bounds the session length an identity provider may ask for: thirty days.
const maxSessionMinutes = 30 * 24 * 60

// mapAttributes fills id from the assertion's attributes by the connection's mapping (rule 8): the
// email is required, must be an address, and must be on one of the connection's verified domains.
func mapAttributes(id *Identity, assertion *etree.Element, conn *Connection) error {
	m := conn.Mapping.WithDefaults()
	attrs := attributesOf(assertion)

	values, source := lookup(m.Email, attrs, id.Subject)
	email := first(values)
	switch {
	case email == "":
		return failure.New(failure.EmailMissing, failure.IdPAdmin, "email attribute", "one of "+strings.Join(m.Email, ", "), "none")
	case !isEmail(email) && source == NameID:
		return failure.New(failure.NameIDNotEmail, failure.IdPAdmin, "NameID used as the email", "an email address", email).
			WithMessage("The name ID sent by the identity provider is not an email address. Contact your company administrator.")
	case !isEmail(email):
		return failure.New(failure.EmailInvalid, failure.IdPAdmin, "email attribute "+source, "an email address", email)
	}
	id.Email = strings.ToLower(email)
	domain := id.Email[strings.LastIndexByte(id.Email, '@')+1:]
	verified := false
	for _, d := range conn.Domains {
		if strings.EqualFold(d, domain) {
			verified = true
			break
		}
	}
	if !verified {
		return failure.New(failure.EmailOutsideDomains, failure.IEchor, "domain of the email", strings.Join(conn.Domains, " or "), domain).
			WithMessage("Domain '%s' is not verified for your SSO connection. Contact your company administrator.", domain)
	}

	lookupOne := func(names []string) string {
		v, _ := lookup(names, attrs, id.Subject)
		return first(v)
	}
	id.FullName = lookupOne(m.FullName)
	if id.FullName == "" {
		id.FullName = strings.TrimSpace(lookupOne(m.GivenName) + " " + lookupOne(m.Surname))
	}
	groups, _ := lookup(m.Groups, attrs, id.Subject)
	seen := map[string]bool{}
	for _, g := range groups {
		if g != "" && !seen[g] {
			seen[g] = true
			id.Groups = append(id.Groups, g)
		}
	}
	id.IEchorOrg = lookupOne(m.IEchorOrg)
	id.IEchorTeam = lookupOne(m.IEchorTeam)
	id.IEchorRole = lookupOne(m.IEchorRole)
	if v, name := lookup(m.IEchorSessionMinutes, attrs, id.Subject); first(v) != "" {
		n, err := strconv.Atoi(first(v))
		if err != nil || n <= 0 || n > maxSessionMinutes {
			return failure.New(failure.BadAttributeValue, failure.IdPAdmin, "attribute "+name,
				"a whole number of minutes from 1 to "+strconv.Itoa(maxSessionMinutes), first(v))
		}
		id.SessionMinutes = n
	}
	return nil
}

// isEmail accepts local@domain with a dotted domain of letters, digits and hyphens: what a work
// email looks like, and what the domain check can rely on.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 1 || at != strings.LastIndexByte(s, '@') || at > 64 || len(s) > 254 {
		return false
	}
	for _, r := range s[:at] {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return false
		}
	}
	labels := strings.Split(s[at+1:], ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
