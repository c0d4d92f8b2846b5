// Package saml is the protocol engine of the assertion service: it takes a posted SAMLResponse and
// either returns the identity it asserts or a typed failure (failure.Error) naming the check.
//
// The order is fixed: the relay state is consumed first (rule 2); the message passes the XML gate
// (rule 1); its structure is the schema's, with exactly one Assertion or EncryptedAssertion as a
// direct child of the Response, nothing in the Response or the Assertion that the schema does not
// allow there, and each ds:Signature right after the Issuer of what it signs (rule 4, on the tree
// as posted: it can only refuse); signatures are verified (rule 3) and identity is read only from
// the element a verified signature covers (rule 4); an encrypted assertion is decrypted and its
// plaintext passes every rule again (rule 7); the protocol conditions hold (rule 5); attributes are
// mapped and the email checked (rule 8); and the assertion is recorded in the replay cache last
// (rule 6), so that nothing is accepted without its replay check.
//
// Content of a message that no verified signature covers (the Response of an assertion-signed
// message) is read only to refuse, never to grant: a wrong Destination, an error status or an
// IssueInstant older than the sign-in there ends the sign-in, but only the signed assertion can make
// one succeed.
package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"time"
)

// Connection is what the engine needs of a SAML connection, parsed and ready.
type Connection struct {
	// Name is the connection's full name, companies/{c}/connections/{id}.
	Name        string
	DisplayName string
	// Active is false for a draft connection, which serves test sign-ins only.
	Active bool
	// SPEntityID is our entity id: the audience assertions must name.
	SPEntityID string
	// ACSURL is our assertion consumer service URL: the Destination and Recipient.
	ACSURL string
	// IdPEntityID is the identity provider's entity id: the Issuer.
	IdPEntityID string
	// IdPCertificates are the only certificates whose signatures are trusted.
	IdPCertificates []*x509.Certificate
	// DecryptionKeys are the SP private keys that may decrypt an EncryptedAssertion.
	DecryptionKeys []*rsa.PrivateKey
	// AllowSHA1 accepts SHA-1 signatures from this identity provider.
	AllowSHA1 bool
	// ClockSkew is allowed on every time condition.
	ClockSkew time.Duration
	// Domains are the verified domains an email must be on.
	Domains []string
	// Mapping names the attributes each value is read from.
	Mapping AttributeMapping
}

// AttributeMapping lists, for each value, the attribute names tried in order; "NameID" means the
// subject's NameID. An empty list takes the defaults that work for common identity providers.
type AttributeMapping struct {
	Email, FullName, GivenName, Surname, Groups []string
	IEchorOrg, IEchorTeam, IEchorRole           []string
	IEchorSessionMinutes                        []string
}

// NameID is the mapping name that stands for the subject's NameID.
const NameID = "NameID"

// DefaultMapping is used for each value the connection leaves empty.
var DefaultMapping = AttributeMapping{
	Email: []string{"email", "mail", "emailAddress",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "urn:oid:0.9.2342.19200300.100.1.3", NameID},
	FullName: []string{"displayName", "http://schemas.microsoft.com/identity/claims/displayname", "cn",
		"urn:oid:2.16.840.1.113730.3.1.241"},
	GivenName: []string{"givenName", "firstName", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
		"urn:oid:2.5.4.42"},
	Surname: []string{"sn", "surname", "lastName", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
		"urn:oid:2.5.4.4"},
	Groups: []string{"groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "memberOf",
		"eduPersonAffiliation", "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"},
	IEchorOrg:            []string{"iechorOrg"},
	IEchorTeam:           []string{"iechorTeam"},
	IEchorRole:           []string{"iechorRole"},
	IEchorSessionMinutes: []string{"iechorSessionMinutes"},
}

func or(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	return a
}

// WithDefaults fills empty lists from DefaultMapping.
func (m AttributeMapping) WithDefaults() AttributeMapping {
	d := DefaultMapping
	return AttributeMapping{
		Email: or(m.Email, d.Email), FullName: or(m.FullName, d.FullName), GivenName: or(m.GivenName, d.GivenName),
		Surname: or(m.Surname, d.Surname), Groups: or(m.Groups, d.Groups), IEchorOrg: or(m.IEchorOrg, d.IEchorOrg),
		IEchorTeam: or(m.IEchorTeam, d.IEchorTeam), IEchorRole: or(m.IEchorRole, d.IEchorRole),
		IEchorSessionMinutes: or(m.IEchorSessionMinutes, d.IEchorSessionMinutes),
	}
}

// Identity is a person as a validated assertion asserts them.
type Identity struct {
	Subject, NameIDFormat string
	Email, FullName       string
	Groups                []string
	IEchorOrg, IEchorTeam string
	IEchorRole            string
	SessionMinutes        int
	SessionIndex          string
	AuthnInstant          time.Time
	Issuer, AssertionID   string
}
