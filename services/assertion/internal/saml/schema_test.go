package saml_test

import (
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
)

// element parses one self-contained element, as an attacker would write it into a response.
func element(t testing.TB, xml string) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

// move takes the element at path out of the tree and puts it before the element at before, or last
// in the parent of before when before names that parent with a trailing "/".
func move(t testing.TB, root *etree.Element, path, before string) {
	t.Helper()
	el := find(t, root, path)
	el.Parent().RemoveChild(el)
	if parent, ok := strings.CutSuffix(before, "/"); ok {
		find(t, root, parent).AddChild(el)
		return
	}
	b := find(t, root, before)
	b.Parent().InsertChildAt(b.Index(), el)
}

// schemaCase is a response that breaks a rule of the schema, and the refusal it must meet.
type schemaCase struct {
	name    string
	encoded func(t testing.TB) string
	reason  failure.Reason
	// check and got are parts of the failure's Check and Got that name what was wrong.
	check, got string
}

func fixture(name string) func(t testing.TB) string {
	return func(t testing.TB) string { return fixtures.Encoded(t, name) }
}

func editOf(name string, fn func(t testing.TB, root *etree.Element)) func(t testing.TB) string {
	return func(t testing.TB) string { return edit(t, name, fn) }
}

// runSchemaCases validates each case and holds the refusal to its reason, to the IdP admin as the
// one who must fix it, and to the words an admin reads in test mode. The schema is checked on the
// message as posted, before any signature is verified, so no refusal names anyone.
func runSchemaCases(t *testing.T, cases []schemaCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			out, err := h.validate(t, tc.encoded(t))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Identity.Email != "jane.doe@example.com" {
					t.Fatalf("identity %+v", out.Identity)
				}
				return
			}
			f := wantReason(t, err, tc.reason)
			if f.FixBy != failure.IdPAdmin || !strings.Contains(f.Check, tc.check) || !strings.Contains(f.Got, tc.got) {
				t.Fatalf("failure %+v: want fix by the IdP admin, a check naming %q and a got naming %q", f, tc.check, tc.got)
			}
			if out.Identity != nil || out.Verified || out.Subject != "" || out.Email != "" {
				t.Fatalf("a message refused for its structure was read: %+v", out)
			}
		})
	}
}

func TestASignatureStandsRightAfterTheIssuerOfWhatItSigns(t *testing.T) {
	t.Parallel()
	runSchemaCases(t, []schemaCase{
		{"an assertion signature as the assertion's last child is refused, although it verifies",
			fixture("signature-last-in-assertion"), failure.BadSignature, "place of the ds:Signature in the Assertion", "after saml:AttributeStatement"},
		{"an assertion signature inside the Subject is refused, although it verifies",
			fixture("signature-in-subject"), failure.BadSignature, "place of a ds:Signature", "saml:Subject"},
		{"a response signature as the response's last child is refused, although it verifies",
			fixture("response-signature-last"), failure.BadSignature, "place of the ds:Signature in the Response", "after saml:Assertion"},
		{"an assertion signature before the Issuer is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Assertion/Signature", "Assertion/Issuer") }),
			failure.BadSignature, "place of the ds:Signature in the Assertion", "first"},
		{"an assertion signature after the Subject is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Assertion/Signature", "Assertion/Conditions") }),
			failure.BadSignature, "place of the ds:Signature in the Assertion", "after saml:Subject"},
		{"a response signature after the Status is refused",
			editOf("response-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Signature", "Assertion") }),
			failure.BadSignature, "place of the ds:Signature in the Response", "after samlp:Status"},
		{"a response signature before the Issuer is refused",
			editOf("response-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Signature", "Issuer") }),
			failure.BadSignature, "place of the ds:Signature in the Response", "first"},
		{"a second signature right after the first is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				sig := find(t, r, "Assertion/Signature")
				sig.Parent().InsertChildAt(sig.Index()+1, sig.Copy())
			}),
			failure.BadSignature, "place of the ds:Signature in the Assertion", "after ds:Signature"},
	})
}

func TestTheResponseHoldsOnlyWhatTheSchemaAllows(t *testing.T) {
	t.Parallel()
	runSchemaCases(t, []schemaCase{
		{"an element of another namespace in a signed response is refused, although the signature verifies",
			fixture("response-foreign-child"), failure.MalformedXML, "children of the Response", "Note in namespace urn:example:ext"},
		{"an Assertion whose saml prefix is bound to another namespace in a signed response is refused",
			fixture("response-rebound-saml-prefix"), failure.MalformedXML, "children of the Response", "Assertion in namespace urn:example:not-saml"},
		{"an element named Assertion in a foreign namespace after the signed assertion is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				r.AddChild(element(t, `<evil:Assertion xmlns:evil="urn:example:evil" ID="_evil"><evil:NameID>ceo@example.com</evil:NameID></evil:Assertion>`))
			}),
			failure.MalformedXML, "children of the Response", "Assertion in namespace urn:example:evil after saml:Assertion"},
		{"an Assertion with the saml prefix rebound before the signed assertion is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				r.InsertChildAt(a.Index(), element(t, `<saml:Assertion xmlns:saml="urn:example:evil" ID="_evil"/>`))
			}),
			failure.MalformedXML, "children of the Response", "Assertion in namespace urn:example:evil after samlp:Status"},
		{"an element in no namespace is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { r.AddChild(element(t, `<Assertion/>`)) }),
			failure.MalformedXML, "children of the Response", "Assertion in no namespace"},
		{"a protocol element that a Response does not hold is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				r.InsertChildAt(find(t, r, "Assertion").Index(), etree.NewElement("samlp:Artifact"))
			}),
			failure.MalformedXML, "children of the Response", "samlp:Artifact after samlp:Status"},
		{"an Extensions after the Status is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				r.InsertChildAt(find(t, r, "Assertion").Index(), etree.NewElement("samlp:Extensions"))
			}),
			failure.MalformedXML, "children of the Response", "samlp:Extensions after samlp:Status"},
		{"a Status before the Issuer is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Status", "Issuer") }),
			failure.MalformedXML, "children of the Response", "saml:Issuer after samlp:Status"},
		{"a second Issuer is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				iss := find(t, r, "Issuer")
				r.InsertChildAt(iss.Index(), iss.Copy())
			}),
			failure.MalformedXML, "children of the Response", "saml:Issuer after saml:Issuer"},
		{"a response without a Status is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { r.RemoveChild(find(t, r, "Status")) }),
			failure.MalformedXML, "children of the Response", "no samlp:Status before saml:Assertion"},
		{"text among the response's children is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				r.InsertChildAt(find(t, r, "Assertion").Index(), etree.NewText("ceo@example.com"))
			}),
			failure.MalformedXML, "text in the Response", "ceo@example.com"},
		{"an Extensions between the Issuer and the Status is accepted, as the schema allows",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(element(t, `<ext:Hint xmlns:ext="urn:example:ext">kept for the IdP's own use</ext:Hint>`))
				r.InsertChildAt(find(t, r, "Status").Index(), ext)
			}),
			"", "", ""},
	})
}

func TestTheAssertionHoldsOnlyWhatTheSchemaAllows(t *testing.T) {
	t.Parallel()
	gcm := fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: gcm256, KeySize: 32}
	runSchemaCases(t, []schemaCase{
		{"an element of another namespace in a signed assertion is refused, although the signature verifies",
			fixture("assertion-foreign-child"), failure.MalformedXML, "children of the Assertion", "Note in namespace urn:example:ext after saml:AttributeStatement"},
		{"an element of another namespace in an encrypted assertion is refused once decrypted",
			func(t testing.TB) string { return encryptedResponse(t, "assertion-foreign-child", gcm) },
			failure.MalformedXML, "children of the Assertion", "Note in namespace urn:example:ext"},
		{"Conditions before the Subject are refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Assertion/Conditions", "Assertion/Subject") }),
			failure.MalformedXML, "children of the Assertion", "saml:Subject after saml:Conditions"},
		{"an assertion that does not begin with its Issuer is refused",
			editOf("unsigned", func(t testing.TB, r *etree.Element) { move(t, r, "Assertion/Issuer", "Assertion/Conditions") }),
			failure.MalformedXML, "children of the Assertion", "no saml:Issuer before saml:Subject"},
		{"a signature before an Issuer that stands later is refused as misplaced",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) { move(t, r, "Assertion/Issuer", "Assertion/Conditions") }),
			failure.BadSignature, "place of the ds:Signature in the Assertion", "as the first child"},
		{"a second Subject is refused",
			editOf("assertion-signed", func(t testing.TB, r *etree.Element) {
				s := find(t, r, "Assertion/Subject")
				s.Parent().InsertChildAt(s.Index(), s.Copy())
			}),
			failure.MalformedXML, "children of the Assertion", "saml:Subject after saml:Subject"},
	})
}
