package saml_test

import (
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/iechor/sso/services/assertion/internal/fixtures"
)

// crewjamResponse is a response made by github.com/crewjam/saml's identity provider (the IdP of the
// suite's end-to-end tests), for the fixture connection. With encrypt, the SP metadata publishes an
// encryption certificate, as ours does, and the IdP encrypts the assertion.
func crewjamResponse(t *testing.T, encrypt bool, methods ...string) string {
	t.Helper()
	metadata, _ := url.Parse(fixtures.IdPEntityID)
	sso, _ := url.Parse("https://idp.example.test/sso")
	idp := &crewjam.IdentityProvider{
		Key: fixtures.PrivateKey(t, "idp"), Certificate: fixtures.Certificate(t, "idp"),
		MetadataURL: *metadata, SSOURL: *sso, Clock: dsig.NewFakeClockAt(fixtures.Now),
	}
	sp := &crewjam.SPSSODescriptor{}
	if encrypt {
		kd := crewjam.KeyDescriptor{Use: "encryption", KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
			X509Certificates: []crewjam.X509Certificate{{Data: base64.StdEncoding.EncodeToString(fixtures.Certificate(t, "sp").Raw)}}}}}
		for _, m := range methods {
			kd.EncryptionMethods = append(kd.EncryptionMethods, crewjam.EncryptionMethod{Algorithm: m})
		}
		sp.KeyDescriptors = []crewjam.KeyDescriptor{kd}
	}
	req := &crewjam.IdpAuthnRequest{
		IDP:                     idp,
		HTTPRequest:             httptest.NewRequest("POST", "https://idp.example.test/sso", nil),
		Request:                 crewjam.AuthnRequest{ID: fixtures.RequestID, IssueInstant: fixtures.Now},
		ServiceProviderMetadata: &crewjam.EntityDescriptor{EntityID: fixtures.SPEntityID},
		SPSSODescriptor:         sp,
		ACSEndpoint:             &crewjam.IndexedEndpoint{Binding: crewjam.HTTPPostBinding, Location: fixtures.ACSURL},
		Now:                     fixtures.Now,
	}
	session := &crewjam.Session{ID: "s1", CreateTime: fixtures.Now, Index: "idx-1", NameID: "jane.doe@example.com",
		NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", UserName: "jane",
		UserEmail: "jane.doe@example.com", UserGivenName: "Jane", UserSurname: "Doe", Groups: []string{"staff", "admins"}}
	if err := (crewjam.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		t.Fatal(err)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The suite's end-to-end IdP signs the Response and the Assertion with RSA-SHA256 (exclusive c14n,
// SHA-256 digests) and, when the SP publishes an encryption certificate, encrypts the assertion
// with RSA-OAEP (MGF1, SHA-1 digest) and AES-128-CBC unless the SP lists AES-GCM.
func TestResponsesOfTheSuitesIdPValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		encrypt bool
		methods []string
		want    []string
	}{
		{"signed response and assertion", false, nil, []string{"xmldsig-more#rsa-sha256", "xmlenc#sha256", "xml-exc-c14n#"}},
		{"encrypted with its default AES-128-CBC inside the signed response", true, nil, []string{"xmlenc#aes128-cbc", "rsa-oaep-mgf1p"}},
		{"encrypted with AES-256-GCM when the SP lists it", true, []string{"http://www.w3.org/2009/xmlenc11#aes256-gcm"}, []string{"xmlenc11#aes256-gcm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := crewjamResponse(t, tc.encrypt, tc.methods...)
			for _, w := range tc.want {
				if !strings.Contains(doc, w) {
					t.Fatalf("the IdP's response does not use %s:\n%s", w, doc)
				}
			}
			h := newHarness(t)
			out, err := h.validate(t, base64.StdEncoding.EncodeToString([]byte(doc)))
			if err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			id := out.Identity
			if id.Email != "jane.doe@example.com" || id.Subject != "jane.doe@example.com" || strings.Join(id.Groups, ",") != "staff,admins" ||
				id.FullName != "Jane Doe" || id.SessionIndex != "idx-1" {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}
