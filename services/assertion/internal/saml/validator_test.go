package saml_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/assertion/internal/saml"
	"github.com/iechor/sso/services/platform/ephemeral"
)

const browser = "browser-binding-1"

// harness validates against an in-process ephemeral store and the pinned clock.
type harness struct {
	v     *saml.Validator
	relay *relaystate.Store
	eph   ephemeral.Store
	conn  *saml.Connection
	now   time.Time
	// requestID is the AuthnRequest ID the relay states name, and started the time it was made.
	requestID string
	started   time.Time
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	eph := ephemeral.NewMemory()
	t.Cleanup(func() { _ = eph.Close() })
	return newHarnessOn(t, eph)
}

func newHarnessOn(t testing.TB, eph ephemeral.Store) *harness {
	h := &harness{relay: relaystate.New(eph), eph: eph, conn: fixtures.Connection(t), now: fixtures.Now,
		requestID: fixtures.RequestID, started: fixtures.RequestedAt}
	h.v = &saml.Validator{Relay: h.relay, Replay: replay.New(eph), Now: func() time.Time { return h.now }}
	return h
}

// begin stores a relay state as BeginSamlLogin would for the fixtures' AuthnRequest.
func (h *harness) begin(t testing.TB, mutate ...func(*relaystate.State)) string {
	t.Helper()
	st := relaystate.State{RequestID: h.requestID, Connection: h.conn.Name, BrowserHash: relaystate.HashBinding(browser),
		FlowData: []byte("flow"), Created: h.started}
	for _, m := range mutate {
		m(&st)
	}
	handle, err := h.relay.Save(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return handle
}

func (h *harness) validate(t testing.TB, encoded string) (saml.Outcome, error) {
	t.Helper()
	return h.v.Validate(context.Background(), saml.Input{Connection: h.conn, SAMLResponse: encoded, RelayState: h.begin(t), BrowserBinding: browser})
}

func wantReason(t testing.TB, err error, reason failure.Reason) *failure.Error {
	t.Helper()
	var f *failure.Error
	if !errors.As(err, &f) {
		t.Fatalf("error %v, want failure %s", err, reason)
	}
	if f.Reason != reason {
		t.Fatalf("failure %v, want %s", f, reason)
	}
	return f
}

// edit parses a signed fixture, lets fn rearrange it as an attacker would, and returns it encoded.
func edit(t testing.TB, name string, fn func(t testing.TB, root *etree.Element)) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(fixtures.Document(t, name)); err != nil {
		t.Fatal(err)
	}
	fn(t, doc.Root())
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func find(t testing.TB, el *etree.Element, path string) *etree.Element {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s in the fixture", path)
	}
	return e
}

func TestValidResponsesGiveTheAssertedIdentity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fixture string
	}{
		{"an assertion signed with RSA-SHA256", "assertion-signed"},
		{"a response signed, its assertion covered by that signature", "response-signed"},
		{"both response and assertion signed", "both-signed"},
		{"a signature by the second configured certificate, as during a rotation", "signed-by-next-certificate"},
		{"an ECDSA P-256 signature in the standard r||s form", "ecdsa-signed"},
		{"a response without an Issuer of its own", "no-response-issuer"},
		{"an assertion whose conditions are OneTimeUse and ProxyRestriction besides the audience", "conditions-understood"},
		{"an assertion encrypted with AES-256-GCM", "encrypted-gcm"},
		{"an assertion encrypted with AES-128-GCM", "encrypted-gcm128"},
		{"an assertion encrypted to the previous SP certificate, still published", "encrypted-gcm-old-key"},
		{"an assertion encrypted with AES-256-CBC inside a signed response", "encrypted-cbc-signed-response"},
		{"an assertion encrypted with AES-128-CBC inside a signed response", "encrypted-cbc128-signed-response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			out, err := h.validate(t, fixtures.Encoded(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			id := out.Identity
			if id.Email != "jane.doe@example.com" || id.Subject != "jane.doe@example.com" || id.FullName != "Jane Q. Doe" ||
				strings.Join(id.Groups, ",") != "engineering,platform-admins,all-staff" || id.Issuer != fixtures.IdPEntityID ||
				id.AssertionID != "_assertion-"+tc.fixture || id.SessionIndex != "_session-"+tc.fixture ||
				!id.AuthnInstant.Equal(time.Date(2026, 11, 1, 11, 59, 58, 0, time.UTC)) ||
				id.NameIDFormat != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" {
				t.Fatalf("identity %+v", id)
			}
			if string(out.FlowData) != "flow" || out.TestMode || !out.Verified {
				t.Fatalf("outcome %+v", out)
			}
		})
	}
}

func TestSignatureRules(t *testing.T) {
	t.Parallel()
	withCert := func(name string) func(t testing.TB, c *saml.Connection) {
		return func(t testing.TB, c *saml.Connection) {
			c.IdPCertificates = append(c.IdPCertificates, fixtures.Certificate(t, name))
		}
	}
	for _, tc := range []struct {
		name    string
		encoded func(t testing.TB) string
		conn    func(t testing.TB, c *saml.Connection)
		reason  failure.Reason
	}{
		{"an unsigned response and assertion are refused",
			func(t testing.TB) string { return fixtures.Encoded(t, "unsigned") }, nil, failure.BadSignature},
		{"a signature removed after signing is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					a := find(t, r, "Assertion")
					a.RemoveChild(find(t, a, "Signature"))
				})
			}, nil, failure.BadSignature},
		{"content changed after signing is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/AttributeStatement/Attribute/AttributeValue").SetText("ceo@example.com")
				})
			}, nil, failure.BadSignature},
		{"a signature by another key with that key's certificate in KeyInfo is refused",
			func(t testing.TB) string { return fixtures.Encoded(t, "signed-by-attacker") }, nil, failure.UnknownSigningKey},
		{"a signature by another key without KeyInfo is refused",
			func(t testing.TB) string {
				return edit(t, "signed-by-attacker", func(t testing.TB, r *etree.Element) {
					s := find(t, r, "Assertion/Signature")
					s.RemoveChild(find(t, s, "KeyInfo"))
				})
			}, nil, failure.BadSignature},
		{"a signature by another key that names the configured certificate in KeyInfo is refused",
			func(t testing.TB) string {
				legit := etree.NewDocument()
				_ = legit.ReadFromBytes(fixtures.Document(t, "assertion-signed"))
				cert := legit.Root().FindElement("Assertion/Signature/KeyInfo/X509Data/X509Certificate").Text()
				return edit(t, "signed-by-attacker", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/KeyInfo/X509Data/X509Certificate").SetText(cert)
				})
			}, nil, failure.BadSignature},
		{"a signature by a certificate outside its validity is refused",
			func(t testing.TB) string { return fixtures.Encoded(t, "signed-by-expired-certificate") }, withCert("idp-expired"), failure.IdPCertificateExpired},
		{"RSA-SHA1 is refused without the connection's opt-in",
			func(t testing.TB) string { return fixtures.Encoded(t, "sha1-signed") }, nil, failure.WeakAlgorithm},
		{"RSA-SHA1 is accepted with the connection's opt-in",
			func(t testing.TB) string { return fixtures.Encoded(t, "sha1-signed") },
			func(t testing.TB, c *saml.Connection) { c.AllowSHA1 = true }, ""},
		{"a SHA-1 digest is refused without the connection's opt-in",
			func(t testing.TB) string { return fixtures.Encoded(t, "sha1-digest") }, nil, failure.WeakAlgorithm},
		{"a SHA-1 digest is accepted with the connection's opt-in",
			func(t testing.TB) string { return fixtures.Encoded(t, "sha1-digest") },
			func(t testing.TB, c *saml.Connection) { c.AllowSHA1 = true }, ""},
		{"a signature whose certificate is no longer configured is refused",
			func(t testing.TB) string { return fixtures.Encoded(t, "signed-by-next-certificate") },
			func(t testing.TB, c *saml.Connection) { c.IdPCertificates = c.IdPCertificates[:1] }, failure.UnknownSigningKey},
		{"a connection without certificates verifies nothing",
			func(t testing.TB) string { return fixtures.Encoded(t, "assertion-signed") },
			func(t testing.TB, c *saml.Connection) { c.IdPCertificates = nil }, failure.UnknownSigningKey},
		{"a Reference to the whole document instead of the assertion is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignedInfo/Reference").CreateAttr("URI", "")
				})
			}, nil, failure.BadSignature},
		{"a second Reference is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					si := find(t, r, "Assertion/Signature/SignedInfo")
					si.AddChild(find(t, si, "Reference").Copy())
				})
			}, nil, failure.BadSignature},
		{"a transform other than enveloped-signature and exclusive c14n is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignedInfo/Reference/Transforms/Transform[2]").
						CreateAttr("Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments")
				})
			}, nil, failure.BadSignature},
		{"a missing enveloped-signature transform is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					ts := find(t, r, "Assertion/Signature/SignedInfo/Reference/Transforms")
					ts.RemoveChild(find(t, ts, "Transform"))
				})
			}, nil, failure.BadSignature},
		{"an XPath transform is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignedInfo/Reference/Transforms/Transform").
						CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
				})
			}, nil, failure.BadSignature},
		{"an unknown signature algorithm is refused as weak",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignedInfo/SignatureMethod").
						CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5")
				})
			}, nil, failure.WeakAlgorithm},
		{"an HMAC signature is refused as weak",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignedInfo/SignatureMethod").
						CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
				})
			}, nil, failure.WeakAlgorithm},
		{"inclusive canonicalization of SignedInfo is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignedInfo/CanonicalizationMethod").
						CreateAttr("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
				})
			}, nil, failure.BadSignature},
		{"a ds:Object in the signature is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature").CreateElement("ds:Object")
				})
			}, nil, failure.BadSignature},
		{"a second signature on the assertion is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					a := find(t, r, "Assertion")
					a.AddChild(find(t, a, "Signature").Copy())
				})
			}, nil, failure.BadSignature},
		{"a signature deeper in the document is refused",
			func(t testing.TB) string {
				return edit(t, "assertion-signed", func(t testing.TB, r *etree.Element) {
					a := find(t, r, "Assertion")
					find(t, a, "Subject").AddChild(find(t, a, "Signature").Copy())
				})
			}, nil, failure.BadSignature},
		{"a wrong signature on the response is refused even though the assertion's verifies",
			func(t testing.TB) string {
				return edit(t, "both-signed", func(t testing.TB, r *etree.Element) {
					r.CreateAttr("IssueInstant", "2026-11-01T12:00:01Z")
				})
			}, nil, failure.BadSignature},
		{"a wrong signature on the assertion is refused even though the response's verifies",
			func(t testing.TB) string {
				doc := etree.NewDocument()
				_ = doc.ReadFromBytes(fixtures.Document(t, "both-signed"))
				// Replace the assertion's SignatureValue by the response's: the response's digest then
				// no longer matches, so this must fail at the response.
				return edit(t, "both-signed", func(t testing.TB, r *etree.Element) {
					find(t, r, "Assertion/Signature/SignatureValue").SetText(find(t, doc.Root(), "Signature/SignatureValue").Text())
				})
			}, nil, failure.BadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.conn != nil {
				tc.conn(t, h.conn)
			}
			out, err := h.validate(t, tc.encoded(t))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, tc.reason)
			if out.Verified || out.Subject != "" || out.Email != "" {
				t.Fatalf("an unverified message named someone: %+v", out)
			}
		})
	}
}

// The eight signature-wrapping attacks of Somorovsky et al., "On Breaking SAML: Be Whoever You Want
// to Be" (2012), built from validly signed responses as their descriptions say. Each replaces the
// identity with ceo@example.com while a valid signature stays somewhere in the document.
func TestSignatureWrappingIsRefused(t *testing.T) {
	t.Parallel()
	evil := func(t testing.TB, a *etree.Element, id string) *etree.Element {
		e := a.Copy()
		e.CreateAttr("ID", id)
		if s := e.FindElement("Signature"); s != nil {
			e.RemoveChild(s)
		}
		e.FindElement("Subject/NameID").SetText("ceo@example.com")
		e.FindElement("AttributeStatement/Attribute/AttributeValue").SetText("ceo@example.com")
		return e
	}
	for _, tc := range []struct {
		name    string
		fixture string
		wrap    func(t testing.TB, r *etree.Element)
		reason  failure.Reason
	}{
		{"XSW1: the signed response is moved into its own signature and a forged response takes its place", "response-signed",
			func(t testing.TB, r *etree.Element) {
				original := r.Copy()
				original.RemoveChild(original.FindElement("Signature"))
				r.CreateAttr("ID", "_evil-response")
				a := find(t, r, "Assertion")
				r.RemoveChild(a)
				r.AddChild(evil(t, a, "_evil-assertion"))
				find(t, r, "Signature").AddChild(original)
			}, failure.MultipleAssertions},
		{"XSW2: the signed response is put before its signature, detached, and a forged response takes its place", "response-signed",
			func(t testing.TB, r *etree.Element) {
				original := r.Copy()
				original.RemoveChild(original.FindElement("Signature"))
				r.CreateAttr("ID", "_evil-response")
				a := find(t, r, "Assertion")
				r.RemoveChild(a)
				r.AddChild(evil(t, a, "_evil-assertion"))
				sig := find(t, r, "Signature")
				r.InsertChildAt(sig.Index(), original)
			}, failure.MultipleAssertions},
		{"XSW3: a forged assertion is put before the signed one", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				r.InsertChildAt(a.Index(), evil(t, a, "_evil"))
			}, failure.MultipleAssertions},
		{"XSW3 with the same ID: a forged assertion carries the signed one's ID", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				r.InsertChildAt(a.Index(), evil(t, a, a.SelectAttrValue("ID", "")))
			}, failure.MultipleAssertions},
		{"XSW4: the signed assertion is moved inside a forged one", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				e := evil(t, a, "_evil")
				r.RemoveChild(a)
				e.AddChild(a)
				r.AddChild(e)
			}, failure.MultipleAssertions},
		{"XSW5: a forged assertion carries the signature and the signed one goes last", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				e := evil(t, a, a.SelectAttrValue("ID", ""))
				e.InsertChildAt(1, find(t, a, "Signature").Copy())
				r.InsertChildAt(a.Index(), e)
				r.RemoveChild(a)
				a.CreateAttr("ID", "_moved")
				r.AddChild(a)
			}, failure.MultipleAssertions},
		{"XSW6: a forged assertion carries the signature, with the signed one inside it", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				e := evil(t, a, a.SelectAttrValue("ID", ""))
				sig := find(t, a, "Signature").Copy()
				e.InsertChildAt(1, sig)
				r.RemoveChild(a)
				a.CreateAttr("ID", "_moved")
				sig.AddChild(a)
				r.AddChild(e)
			}, failure.MultipleAssertions},
		{"XSW7: the signed assertion is hidden in an Extensions element and a forged one takes its place", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				ext := etree.NewElement("samlp:Extensions")
				r.InsertChildAt(a.Index(), ext)
				r.RemoveChild(a)
				ext.AddChild(a)
				r.AddChild(evil(t, a, "_evil"))
			}, failure.MultipleAssertions},
		{"XSW8: a forged assertion carries the signature, with the signed one in a ds:Object inside it", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				e := evil(t, a, a.SelectAttrValue("ID", ""))
				sig := find(t, a, "Signature").Copy()
				e.InsertChildAt(1, sig)
				obj := sig.CreateElement("ds:Object")
				r.RemoveChild(a)
				a.RemoveChild(a.FindElement("Signature"))
				a.CreateAttr("ID", "_moved")
				obj.AddChild(a)
				r.AddChild(e)
			}, failure.MultipleAssertions},
		{"a forged assertion alone with a copied signature does not verify", "assertion-signed",
			func(t testing.TB, r *etree.Element) {
				a := find(t, r, "Assertion")
				e := evil(t, a, a.SelectAttrValue("ID", ""))
				e.InsertChildAt(1, find(t, a, "Signature").Copy())
				r.InsertChildAt(a.Index(), e)
				r.RemoveChild(a)
			}, failure.BadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			out, err := h.validate(t, edit(t, tc.fixture, tc.wrap))
			wantReason(t, err, tc.reason)
			if out.Identity != nil {
				t.Fatalf("a wrapped response signed someone in: %+v", out.Identity)
			}
		})
	}
}

func TestAssertionCountAndPlace(t *testing.T) {
	t.Parallel()
	signedAssertion := func(t testing.TB, name string) *etree.Element {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(fixtures.Document(t, name)); err != nil {
			t.Fatal(err)
		}
		return find(t, doc.Root(), "Assertion")
	}
	for _, tc := range []struct {
		name    string
		fixture string
		fn      func(t testing.TB, r *etree.Element)
		reason  failure.Reason
	}{
		{"two validly signed assertions are refused", "assertion-signed", func(t testing.TB, r *etree.Element) {
			r.AddChild(signedAssertion(t, "signed-by-next-certificate"))
		}, failure.MultipleAssertions},
		{"a response without an assertion is refused", "unsigned", func(t testing.TB, r *etree.Element) {
			r.RemoveChild(find(t, r, "Assertion"))
		}, failure.NoAssertion},
		{"a signed assertion nested below the response is refused", "unsigned", func(t testing.TB, r *etree.Element) {
			r.RemoveChild(find(t, r, "Assertion"))
			ext := r.CreateElement("samlp:Extensions")
			ext.AddChild(signedAssertion(t, "assertion-signed"))
		}, failure.NoAssertion},
		{"a signed error response with a signed assertion smuggled into its status is refused", "idp-error-status", func(t testing.TB, r *etree.Element) {
			detail := find(t, r, "Status").CreateElement("samlp:StatusDetail")
			detail.AddChild(signedAssertion(t, "assertion-signed"))
		}, failure.MultipleAssertions},
		{"an ID used twice in the document is refused", "assertion-signed", func(t testing.TB, r *etree.Element) {
			r.CreateAttr("ID", find(t, r, "Assertion").SelectAttrValue("ID", ""))
		}, failure.DuplicateID},
		{"a signature inside the subject is refused", "unsigned", func(t testing.TB, r *etree.Element) {
			doc := etree.NewDocument()
			_ = doc.ReadFromBytes(fixtures.Document(t, "assertion-signed"))
			find(t, r, "Assertion/Subject").AddChild(find(t, doc.Root(), "Assertion/Signature"))
		}, failure.BadSignature},
		{"a signed error response is refused with the IdP's status", "idp-error-status", func(t testing.TB, r *etree.Element) {}, failure.IdPErrorStatus},
		{"a document that is not a Response is refused", "assertion-signed", func(t testing.TB, r *etree.Element) {
			r.Tag = "LogoutResponse"
		}, failure.MalformedXML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.validate(t, edit(t, tc.fixture, tc.fn))
			wantReason(t, err, tc.reason)
		})
	}
}

func TestCommentInNameIDIsReadWholeAsSigned(t *testing.T) {
	t.Parallel()
	raw := string(fixtures.Document(t, "comment-in-nameid"))
	if !strings.Contains(raw, "admin@example.com<!---->.evil.test") {
		t.Fatal("the fixture lost its injected comment")
	}
	t.Run("the connection's domains do not include the real domain, so the sign-in fails", func(t *testing.T) {
		h := newHarness(t)
		out, err := h.validate(t, fixtures.Encoded(t, "comment-in-nameid"))
		f := wantReason(t, err, failure.EmailOutsideDomains)
		if f.Got != "example.com.evil.test" || out.Subject != "admin@example.com.evil.test" || out.Email != "admin@example.com.evil.test" {
			t.Fatalf("failure %v, outcome %+v: the NameID was not read whole", f, out)
		}
	})
	t.Run("with the real domain verified, the identity is the whole value, never a truncation", func(t *testing.T) {
		h := newHarness(t)
		h.conn.Domains = []string{"example.com", "example.com.evil.test"}
		out, err := h.validate(t, fixtures.Encoded(t, "comment-in-nameid"))
		if err != nil {
			t.Fatal(err)
		}
		if out.Identity.Subject != "admin@example.com.evil.test" || out.Identity.Email != "admin@example.com.evil.test" {
			t.Fatalf("identity %+v", out.Identity)
		}
	})
}

func TestProtocolConditions(t *testing.T) {
	t.Parallel()
	at := func(d time.Duration) func(h *harness) { return func(h *harness) { h.now = fixtures.Now.Add(d) } }
	for _, tc := range []struct {
		name    string
		fixture string
		setup   func(h *harness)
		reason  failure.Reason
		fixBy   failure.FixBy
	}{
		{"a response Version other than 2.0 is refused", "bad-version", nil, failure.BadVersion, failure.IdPAdmin},
		{"an assertion Version other than 2.0 is refused", "bad-assertion-version", nil, failure.BadVersion, failure.IdPAdmin},
		{"a status other than Success is refused", "idp-error-status", nil, failure.IdPErrorStatus, failure.IdPAdmin},
		{"another issuer on the response is refused", "bad-response-issuer", nil, failure.BadIssuer, failure.IdPAdmin},
		{"another issuer on the assertion is refused", "bad-assertion-issuer", nil, failure.BadIssuer, failure.IdPAdmin},
		{"a connection without an IdP entity id accepts no issuer", "assertion-signed",
			func(h *harness) { h.conn.IdPEntityID = "" }, failure.BadIssuer, failure.IEchor},
		{"an issuer the connection does not expect is refused", "assertion-signed",
			func(h *harness) { h.conn.IdPEntityID = "https://other-idp.example.test" }, failure.BadIssuer, failure.IdPAdmin},
		{"another Destination is refused", "bad-destination", nil, failure.BadDestination, failure.IdPAdmin},
		{"an unsigned response without a Destination is refused", "no-destination", nil, failure.BadDestination, failure.IdPAdmin},
		{"a signed response without a Destination is refused", "response-signed-no-destination", nil, failure.BadDestination, failure.IdPAdmin},
		{"another Recipient is refused", "bad-recipient", nil, failure.BadRecipient, failure.IdPAdmin},
		{"an InResponseTo on the response for another request is refused", "response-in-response-to-mismatch", nil, failure.InResponseToMismatch, failure.User},
		{"an InResponseTo on the confirmation for another request is refused", "confirmation-in-response-to-mismatch", nil, failure.InResponseToMismatch, failure.User},
		{"a response to a request other than the relay state's is refused", "assertion-signed",
			func(h *harness) { h.requestID = "id-request-0002" }, failure.InResponseToMismatch, failure.User},
		{"an unsolicited response is refused", "unsolicited", nil, failure.UnsolicitedResponse, failure.IdPAdmin},
		{"a confirmation method other than bearer is refused", "not-bearer", nil, failure.BadSubjectConfirm, failure.IdPAdmin},
		{"a bearer confirmation with a NotBefore is refused, as the Web Browser SSO profile says", "confirmation-not-before", nil, failure.BadSubjectConfirm, failure.IdPAdmin},
		{"a second bearer confirmation with a NotBefore is refused although the first passes", "second-confirmation-not-before", nil, failure.BadSubjectConfirm, failure.IdPAdmin},
		{"an expired subject confirmation is refused", "confirmation-expired", nil, failure.Expired, failure.User},
		{"expired conditions are refused", "conditions-expired", nil, failure.Expired, failure.User},
		{"conditions not yet valid are refused", "not-yet-valid", nil, failure.NotYetValid, failure.IdPAdmin},
		{"an authentication session that has ended is refused", "session-expired", nil, failure.Expired, failure.User},
		{"an assertion without an AudienceRestriction is refused", "no-audience-restriction", nil, failure.BadAudience, failure.IdPAdmin},
		{"an audience other than our entity id is refused", "bad-audience", nil, failure.BadAudience, failure.IdPAdmin},
		{"an assertion for another SP entity id of ours is refused", "assertion-signed",
			func(h *harness) { h.conn.SPEntityID = "https://sso.iechor.test/saml/conn_other/metadata" }, failure.BadAudience, failure.IdPAdmin},
		{"a response posted to another connection's ACS URL is refused", "assertion-signed",
			func(h *harness) { h.conn.ACSURL = "https://sso.iechor.test/saml/conn_other/acs" }, failure.BadDestination, failure.IdPAdmin},
		{"just before NotOnOrAfter plus the skew the assertion is valid", "assertion-signed", at(5*time.Minute - 30*time.Second + 89*time.Second), "", 0},
		{"at NotOnOrAfter plus the skew the assertion has expired", "assertion-signed", at(5*time.Minute - 30*time.Second + 90*time.Second), failure.Expired, failure.User},
		{"a connection's larger skew is honoured", "assertion-signed",
			func(h *harness) { h.now = fixtures.Now.Add(6 * time.Minute); h.conn.ClockSkew = 180 * time.Second }, "", 0},
		{"at NotBefore minus the skew the assertion is valid", "assertion-signed", at(-90*time.Second - 30*time.Second + 60*time.Second), "", 0},
		{"before NotBefore minus the skew the assertion is not yet valid", "assertion-signed",
			func(h *harness) { h.now = time.Date(2026, 11, 1, 11, 59, 0, 0, time.UTC).Add(-91 * time.Second) }, failure.NotYetValid, failure.IdPAdmin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			out, err := h.validate(t, fixtures.Encoded(t, tc.fixture))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			f := wantReason(t, err, tc.reason)
			if f.FixBy != tc.fixBy || f.Check == "" {
				t.Fatalf("failure %+v: want fix by %v and a named check", f, tc.fixBy)
			}
			if out.Identity != nil {
				t.Fatal("a failed check returned an identity")
			}
		})
	}
}

func TestConditionsWeDoNotUnderstandInvalidateTheAssertion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fixture string
		reason        failure.Reason
		got           string
	}{
		{"a saml:Condition of an xsi:type we do not know is refused", "condition-of-unknown-type", failure.UnknownCondition,
			"saml:Condition of xsi:type ext:DeviceCondition"},
		{"a condition of another namespace is refused", "condition-in-another-namespace", failure.UnknownCondition,
			"NetworkCondition in namespace urn:example:ext"},
		{"OneTimeUse and ProxyRestriction are understood", "conditions-understood", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			out, err := h.validate(t, fixtures.Encoded(t, tc.fixture))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			f := wantReason(t, err, tc.reason)
			if f.FixBy != failure.IdPAdmin || f.Check != "Conditions of the Assertion" || f.Got != tc.got {
				t.Fatalf("failure %+v", f)
			}
			// Conditions are read from the verified assertion only: the admin's log names who it was.
			if out.Identity != nil || !out.Verified || out.Email != "jane.doe@example.com" {
				t.Fatalf("outcome %+v", out)
			}
		})
	}
}

func TestIssueInstantsBelongToTheSignInTheyAnswer(t *testing.T) {
	t.Parallel()
	at := func(clock string) time.Time {
		v, err := time.Parse(time.RFC3339, "2026-11-01T"+clock+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// started sets when the AuthnRequest was made and when the response is posted.
	started := func(request, post string) func(h *harness) {
		return func(h *harness) { h.started, h.now = at(request), at(post) }
	}
	for _, tc := range []struct {
		name    string
		encoded func(t testing.TB) string
		setup   func(h *harness)
		reason  failure.Reason
		fixBy   failure.FixBy
		check   string
	}{
		{"a response issued before its AuthnRequest, by more than the skew, is refused", fixture("response-issued-before-request"), nil,
			failure.Expired, failure.IdPAdmin, "IssueInstant of the Response"},
		{"an assertion issued before its AuthnRequest, by more than the skew, is refused", fixture("assertion-issued-before-request"), nil,
			failure.Expired, failure.IdPAdmin, "IssueInstant of the Assertion"},
		{"a response issued the skew before its AuthnRequest is accepted", fixture("assertion-signed"), started("12:01:30", "12:01:30"), "", 0, ""},
		{"a response issued a second more than the skew before its AuthnRequest is refused", fixture("assertion-signed"), started("12:01:31", "12:01:31"),
			failure.Expired, failure.IdPAdmin, "IssueInstant of the Response"},
		{"a response older than the relay state's lifetime plus the skew is refused, whatever the relay state says", fixture("assertion-signed"),
			started("11:40:00", "12:11:31"), failure.Expired, failure.User, "IssueInstant of the Response"},
		{"a response issued later than now plus the skew is refused", fixture("assertion-signed"), started("11:57:00", "11:58:29"),
			failure.NotYetValid, failure.IdPAdmin, "IssueInstant of the Response"},
		{"an assertion issued later than now plus the skew is refused", fixture("assertion-issued-in-the-future"), nil,
			failure.NotYetValid, failure.IdPAdmin, "IssueInstant of the Assertion"},
		{"an assertion older than the relay state's lifetime plus the skew is refused, whatever the relay state says", fixture("assertion-issued-before-request"),
			started("11:40:00", "12:09:31"), failure.Expired, failure.User, "IssueInstant of the Assertion"},
		{"a response without an IssueInstant is refused", editOf("assertion-signed", func(t testing.TB, r *etree.Element) { r.RemoveAttr("IssueInstant") }), nil,
			failure.MalformedXML, failure.IdPAdmin, "IssueInstant of the Response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			out, err := h.validate(t, tc.encoded(t))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			f := wantReason(t, err, tc.reason)
			if f.FixBy != tc.fixBy || f.Check != tc.check || f.Wanted == "" || f.Got == "" {
				t.Fatalf("failure %+v: want %s, fix by %v", f, tc.check, tc.fixBy)
			}
			if out.Identity != nil {
				t.Fatal("a failed check returned an identity")
			}
		})
	}
}

func TestUnsolicitedResponsesAreRefusedWithTheProductWording(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, relay := range []string{"", "a-relay-state-we-never-issued"} {
		_, err := h.v.Validate(context.Background(), saml.Input{Connection: h.conn, SAMLResponse: fixtures.Encoded(t, "unsolicited"), RelayState: relay, BrowserBinding: browser})
		f := wantReason(t, err, failure.UnsolicitedResponse)
		if f.Message != "IdP-Initiated sign in is not enabled for connection 'Acme Okta'." {
			t.Fatalf("message %q", f.Message)
		}
	}
}

func TestRelayStateRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	encoded := fixtures.Encoded(t, "assertion-signed")
	input := func(h *harness, relay, binding string) saml.Input {
		return saml.Input{Connection: h.conn, SAMLResponse: encoded, RelayState: relay, BrowserBinding: binding}
	}
	t.Run("a relay state we never issued is refused", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.v.Validate(ctx, input(h, "bm90LWlzc3VlZA", browser))
		wantReason(t, err, failure.RelayStateUnknown)
	})
	t.Run("a missing relay state is refused for a solicited response", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.v.Validate(ctx, input(h, "", browser))
		wantReason(t, err, failure.RelayStateUnknown)
	})
	t.Run("an over-long relay state is refused without a lookup", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.v.Validate(ctx, input(h, strings.Repeat("a", 81), browser))
		wantReason(t, err, failure.RelayStateUnknown)
	})
	t.Run("a relay state is consumed by the first post, even a failed one", func(t *testing.T) {
		h := newHarness(t)
		relay := h.begin(t)
		_, err := h.v.Validate(ctx, saml.Input{Connection: h.conn, SAMLResponse: fixtures.Encoded(t, "bad-audience"), RelayState: relay, BrowserBinding: browser})
		wantReason(t, err, failure.BadAudience)
		_, err = h.v.Validate(ctx, input(h, relay, browser))
		wantReason(t, err, failure.RelayStateUnknown)
	})
	t.Run("a relay state of another connection is refused", func(t *testing.T) {
		h := newHarness(t)
		relay := h.begin(t, func(s *relaystate.State) { s.Connection = "companies/acme/connections/conn_other" })
		_, err := h.v.Validate(ctx, input(h, relay, browser))
		f := wantReason(t, err, failure.WrongConnection)
		if f.FixBy != failure.User {
			t.Fatalf("fix by %v", f.FixBy)
		}
	})
	t.Run("a post from another browser is refused and leaves the relay state to the browser that started", func(t *testing.T) {
		h := newHarness(t)
		relay := h.begin(t)
		for _, other := range []string{"another-browser", ""} {
			_, err := h.v.Validate(ctx, input(h, relay, other))
			wantReason(t, err, failure.BrowserMismatch)
		}
		if _, err := h.v.Validate(ctx, input(h, relay, browser)); err != nil {
			t.Fatalf("the genuine browser could not finish after another browser's posts: %v", err)
		}
	})
	t.Run("a relay state of another connection posted by another browser is not spent either", func(t *testing.T) {
		h := newHarness(t)
		other := *h.conn
		other.Name = "companies/acme/connections/conn_other"
		relay := h.begin(t, func(s *relaystate.State) { s.Connection = other.Name })
		_, err := h.v.Validate(ctx, saml.Input{Connection: h.conn, SAMLResponse: encoded, RelayState: relay, BrowserBinding: "another-browser"})
		wantReason(t, err, failure.BrowserMismatch)
		// The same IdP settings under the relay state's own connection: the genuine post still finishes.
		if _, err := h.v.Validate(ctx, saml.Input{Connection: &other, SAMLResponse: encoded, RelayState: relay, BrowserBinding: browser}); err != nil {
			t.Fatalf("the genuine browser could not finish: %v", err)
		}
	})
	t.Run("a draft connection refuses a sign-in that is not a test", func(t *testing.T) {
		h := newHarness(t)
		h.conn.Active = false
		_, err := h.v.Validate(ctx, input(h, h.begin(t), browser))
		wantReason(t, err, failure.ConnectionInactive)
	})
	t.Run("a draft connection serves a test sign-in and says so", func(t *testing.T) {
		h := newHarness(t)
		h.conn.Active = false
		out, err := h.v.Validate(ctx, input(h, h.begin(t, func(s *relaystate.State) { s.TestMode = true }), browser))
		if err != nil {
			t.Fatal(err)
		}
		if !out.TestMode {
			t.Fatal("test mode lost")
		}
	})
}

func TestReplayIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	encoded := fixtures.Encoded(t, "assertion-signed")
	if _, err := h.validate(t, encoded); err != nil {
		t.Fatal(err)
	}
	out, err := h.validate(t, encoded)
	wantReason(t, err, failure.AssertionReplayed)
	if !out.Verified || out.Email != "jane.doe@example.com" {
		t.Fatalf("a replay after verification names the subject for the admin: %+v", out)
	}
}

type downStore struct{ ephemeral.Store }

func (downStore) SetIfAbsent(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, ephemeral.ErrUnavailable
}

func TestReplayCacheUnreachableFailsClosed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.v.Replay = replay.New(downStore{h.eph})
	out, err := h.validate(t, fixtures.Encoded(t, "assertion-signed"))
	if !errors.Is(err, ephemeral.ErrUnavailable) || out.Identity != nil {
		t.Fatalf("err %v, identity %+v: want unavailable and nothing accepted", err, out.Identity)
	}
}

func TestAttributeMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		fixture string
		mapping saml.AttributeMapping
		reason  failure.Reason
		message string
		check   func(t *testing.T, id *saml.Identity)
	}{
		{"the defaults find the email, names and groups of common IdPs", "assertion-signed", saml.AttributeMapping{}, "", "",
			func(t *testing.T, id *saml.Identity) {
				if id.Email != "jane.doe@example.com" || id.FullName != "Jane Q. Doe" || len(id.Groups) != 3 {
					t.Fatalf("%+v", id)
				}
			}},
		{"attributes are matched by FriendlyName", "assertion-signed",
			saml.AttributeMapping{Email: []string{"email"}, FullName: []string{"none"}, GivenName: []string{"givenName"}, Surname: []string{"sn"}, Groups: []string{"groups"}}, "", "",
			func(t *testing.T, id *saml.Identity) {
				if id.FullName != "Jane Doe" || id.Groups[1] != "platform-admins" {
					t.Fatalf("%+v", id)
				}
			}},
		{"attributes are matched by Name, in the mapping's order", "assertion-signed",
			saml.AttributeMapping{Email: []string{"missing", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"}, IEchorRole: []string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"}}, "", "",
			func(t *testing.T, id *saml.Identity) {
				if id.Email != "jane.doe@example.com" || id.IEchorRole != "Doe" {
					t.Fatalf("%+v", id)
				}
			}},
		{"the NameID can be the email", "assertion-signed", saml.AttributeMapping{Email: []string{saml.NameID}}, "", "",
			func(t *testing.T, id *saml.Identity) {
				if id.Email != "jane.doe@example.com" {
					t.Fatalf("%+v", id)
				}
			}},
		{"a NameID that is not an email is refused when the email comes from it", "nameid-not-email",
			saml.AttributeMapping{Email: []string{saml.NameID}}, failure.NameIDNotEmail,
			"The name ID sent by the identity provider is not an email address. Contact your company administrator.", nil},
		{"a missing email attribute is refused", "assertion-signed", saml.AttributeMapping{Email: []string{"mail"}}, failure.EmailMissing, "", nil},
		{"an email attribute that is not an address is refused", "assertion-signed", saml.AttributeMapping{Email: []string{"givenName"}}, failure.EmailInvalid, "", nil},
		{"an email outside the connection's verified domains is refused", "email-outside-domains", saml.AttributeMapping{}, failure.EmailOutsideDomains,
			"Domain 'elsewhere.test' is not verified for your SSO connection. Contact your company administrator.", nil},
		{"a session length that is not a number of minutes is refused", "assertion-signed",
			saml.AttributeMapping{IEchorSessionMinutes: []string{"givenName"}}, failure.BadAttributeValue, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.conn.Mapping = tc.mapping
			out, err := h.validate(t, fixtures.Encoded(t, tc.fixture))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, out.Identity)
				return
			}
			f := wantReason(t, err, tc.reason)
			if tc.message != "" && f.Message != tc.message {
				t.Fatalf("message %q, want %q", f.Message, tc.message)
			}
		})
	}
}

func TestEncryptedAssertionRules(t *testing.T) {
	t.Parallel()
	t.Run("AES-CBC is refused when the response is not signed", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.validate(t, fixtures.Encoded(t, "encrypted-cbc-unsigned-response"))
		wantReason(t, err, failure.WeakAlgorithm)
	})
	t.Run("an assertion encrypted to a key the connection no longer has is refused", func(t *testing.T) {
		h := newHarness(t)
		h.conn.DecryptionKeys = h.conn.DecryptionKeys[:1]
		_, err := h.validate(t, fixtures.Encoded(t, "encrypted-gcm-old-key"))
		wantReason(t, err, failure.DecryptionFailed)
	})
	t.Run("a changed ciphertext gives the same error as a wrong key", func(t *testing.T) {
		h := newHarness(t)
		encoded := edit(t, "encrypted-gcm", func(t testing.TB, r *etree.Element) {
			cv := find(t, r, "EncryptedAssertion/EncryptedData/CipherData/CipherValue")
			b, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cv.Text()), ""))
			b[len(b)-20] ^= 1
			cv.SetText(base64.StdEncoding.EncodeToString(b))
		})
		_, err := h.validate(t, encoded)
		f := wantReason(t, err, failure.DecryptionFailed)
		h2 := newHarness(t)
		h2.conn.DecryptionKeys = h2.conn.DecryptionKeys[1:]
		_, err = h2.validate(t, fixtures.Encoded(t, "encrypted-gcm"))
		if f2 := wantReason(t, err, failure.DecryptionFailed); *f2 != *f {
			t.Fatalf("two decryption failures differ: %+v and %+v", f, f2)
		}
	})
	t.Run("the decrypted assertion is checked like any other", func(t *testing.T) {
		h := newHarness(t)
		h.conn.SPEntityID = "https://sso.iechor.test/saml/conn_other/metadata"
		_, err := h.validate(t, fixtures.Encoded(t, "encrypted-gcm"))
		wantReason(t, err, failure.BadAudience)
	})
	t.Run("a decrypted assertion without its own signature in an unsigned response is refused", func(t *testing.T) {
		h := newHarness(t)
		h.conn.IdPCertificates = nil
		_, err := h.validate(t, fixtures.Encoded(t, "encrypted-gcm"))
		wantReason(t, err, failure.UnknownSigningKey)
	})
}

func TestTheXMLGateRunsBeforeAnythingIsRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := strings.Replace(string(fixtures.Document(t, "assertion-signed")), "<samlp:Response",
		`<!DOCTYPE r [<!ENTITY x "jane.doe@example.com">]><samlp:Response`, 1)
	_, err := h.validate(t, base64.StdEncoding.EncodeToString([]byte(doc)))
	wantReason(t, err, failure.MalformedXML)
	_, err = h.validate(t, base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", 300<<10)+"<a/>")))
	wantReason(t, err, failure.ResponseTooLarge)
}
