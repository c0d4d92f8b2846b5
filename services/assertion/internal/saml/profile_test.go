package saml_test

import (
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
)

// What the Web Browser SSO profile (SAML profiles 4.1.4.2) and SAML core require of the IdP's
// Response and assertion, beyond the conditions of TestProtocolConditions. Every refused document
// but two is validly signed, so only the rule under test can refuse it; the two others break a rule
// of the unsigned Response, which is read only to refuse.
func TestTheIdPIsHeldToTheWebBrowserSSOProfile(t *testing.T) {
	t.Parallel()
	gcm := fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: gcm256, KeySize: 32}
	for _, tc := range []struct {
		name    string
		encoded func(t testing.TB) string
		reason  failure.Reason
		// check is the failure's Check; got a part of its Got.
		check, got string
		// named: the refusal came from the verified assertion, so the admin's log names who it was.
		named bool
	}{
		{"a signed response without an Issuer is refused, although its signature verifies",
			fixture("response-signed-no-issuer"), failure.BadIssuer, "Issuer of the Response", "none", false},
		{"a response whose assertion is encrypted, without an Issuer, is refused",
			func(t testing.TB) string { return encryptedResponse(t, "no-response-issuer", gcm) },
			failure.BadIssuer, "Issuer of the Response", "none", false},
		{"a response whose assertion is encrypted, without an Issuer, is refused before anything is decrypted",
			// To a key we do not hold: decrypting first would fail as DECRYPTION_FAILED.
			func(t testing.TB) string { return encryptedResponseTo(t, "no-response-issuer", gcm, "attacker") },
			failure.BadIssuer, "Issuer of the Response", "none", false},
		{"an unsigned response without an Issuer, its assertion signed and in the clear, is accepted",
			fixture("no-response-issuer"), "", "", "", false},
		{"a response Issuer whose Format is not entity is refused",
			fixture("response-signed-issuer-format-not-entity"), failure.BadIssuer, "Format of the Issuer of the Response",
			"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", false},
		{"an assertion Issuer whose Format is not entity is refused",
			fixture("assertion-issuer-format-not-entity"), failure.BadIssuer, "Format of the Issuer of the Assertion",
			"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", true},
		{"Issuers without a Format are accepted: entity is the default",
			fixture("issuers-without-format"), "", "", "", false},
		{"a response without an ID is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { r.RemoveAttr("ID") }),
			failure.MalformedXML, "ID of the Response", "none", false},
		{"a response without InResponseTo whose assertion answers our AuthnRequest is refused",
			fixture("response-without-in-response-to"), failure.InResponseToMismatch, "InResponseTo of the Response", "none", true},
		{"Conditions whose NotBefore is not before their NotOnOrAfter are refused",
			fixture("conditions-window-empty"), failure.MalformedXML, "NotBefore and NotOnOrAfter of the Conditions",
			"NotBefore 2026-11-01T12:01:00Z, NotOnOrAfter 2026-11-01T12:01:00Z", true},
		{"a second OneTimeUse is refused",
			fixture("one-time-use-twice"), failure.MalformedXML, "Conditions of the Assertion", "a second saml:OneTimeUse", true},
		{"a second ProxyRestriction is refused",
			fixture("proxy-restriction-twice"), failure.MalformedXML, "Conditions of the Assertion", "a second saml:ProxyRestriction", true},
		{"an AudienceRestriction holding an element other than Audience is refused, although it names us",
			fixture("audience-restriction-foreign-child"), failure.MalformedXML, "children of an AudienceRestriction",
			"Audience in namespace urn:example:ext", true},
		{"an AudienceRestriction without an Audience is refused, although another names us",
			fixture("audience-restriction-empty"), failure.BadAudience, "Audience of the Assertion", "none", true},
		{"a bearer assertion without an AuthnStatement is refused",
			fixture("no-authn-statement"), failure.NoAuthnStatement, "AuthnStatement of the Assertion", "none", true},
		{"an AuthnStatement without an AuthnInstant is refused",
			fixture("authn-statement-without-instant"), failure.MalformedXML, "AuthnInstant of the AuthnStatement", "none", true},
		{"an Audience with an element inside is refused, although the text before the element names us",
			fixture("audience-with-element-inside"), failure.MalformedXML, "content of the Audience", "More in namespace urn:example:ext", true},
		{"a NameID with an element inside is refused, not read as the text before the element",
			fixture("nameid-with-element-inside"), failure.MalformedXML, "content of the NameID", "More in namespace urn:example:ext", true},
		{"a Recipient beside a namespaced attribute of the same local name is refused before the signature is read",
			fixture("recipient-beside-namespaced-recipient"), failure.MalformedXML, "duplicate attributes", "ext:Recipient and Recipient", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			out, err := h.validate(t, tc.encoded(t))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Identity.Email != "jane.doe@example.com" || out.Identity.Issuer != fixtures.IdPEntityID {
					t.Fatalf("identity %+v", out.Identity)
				}
				return
			}
			f := wantReason(t, err, tc.reason)
			if f.FixBy != failure.IdPAdmin || f.Check != tc.check || !strings.Contains(f.Got, tc.got) || f.Wanted == "" {
				t.Fatalf("failure %+v: want fix by the IdP admin, check %q and a got naming %q", f, tc.check, tc.got)
			}
			if out.Identity != nil {
				t.Fatal("a failed check returned an identity")
			}
			if named := out.Verified && out.Email == "jane.doe@example.com"; named != tc.named {
				t.Fatalf("outcome %+v: want the subject named %v", out, tc.named)
			}
		})
	}
}
