package authnrequest_test

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/assertion/internal/authnrequest"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
)

func request() authnrequest.Request {
	return authnrequest.Request{ID: authnrequest.NewID(), IssueInstant: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		Destination: "https://idp.example.test/sso?tenant=a&x=1", ACSURL: "https://sso.iechor.test/saml/conn_a/acs",
		Issuer: "https://sso.iechor.test/saml/conn_a/metadata"}
}

type authnRequest struct {
	XMLName         xml.Name `xml:"urn:oasis:names:tc:SAML:2.0:protocol AuthnRequest"`
	ID              string   `xml:",attr"`
	Version         string   `xml:",attr"`
	IssueInstant    string   `xml:",attr"`
	Destination     string   `xml:",attr"`
	ACS             string   `xml:"AssertionConsumerServiceURL,attr"`
	ProtocolBinding string   `xml:",attr"`
	Issuer          string   `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	NameIDPolicy    struct {
		Format string `xml:",attr"`
	} `xml:"NameIDPolicy"`
}

// decode undoes the HTTP-Redirect binding as an IdP does: URL-decode, base64, inflate, parse.
func decode(t *testing.T, samlRequest string) authnRequest {
	t.Helper()
	compressed, err := base64.StdEncoding.DecodeString(samlRequest)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	if err != nil {
		t.Fatal(err)
	}
	var r authnRequest
	if err := xml.Unmarshal(doc, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTheRedirectCarriesTheRequestAndTheRelayState(t *testing.T) {
	req := request()
	u, err := authnrequest.RedirectURL(req, "relay-handle", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	if q.Get("tenant") != "a" || q.Get("RelayState") != "relay-handle" || q.Has("SigAlg") || q.Has("Signature") {
		t.Fatalf("query %v", q)
	}
	r := decode(t, q.Get("SAMLRequest"))
	if r.ID != req.ID || r.Version != "2.0" || r.IssueInstant != "2026-11-01T12:00:00.000Z" || r.Destination != req.Destination ||
		r.ACS != req.ACSURL || r.ProtocolBinding != "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" || r.Issuer != req.Issuer ||
		r.NameIDPolicy.Format != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" {
		t.Fatalf("request %+v", r)
	}
	if !strings.HasPrefix(req.ID, "id-") || len(req.ID) != 43 || req.ID == authnrequest.NewID() {
		t.Fatalf("id %q", req.ID)
	}
}

func TestASignedRedirectVerifiesWithTheSPCertificate(t *testing.T) {
	u, err := authnrequest.RedirectURL(request(), "relay-handle", fixtures.PrivateKey(t, "sp"))
	if err != nil {
		t.Fatal(err)
	}
	raw := u[strings.Index(u, "SAMLRequest="):]
	signed, sigPart, ok := strings.Cut(raw, "&Signature=")
	if !ok || !strings.HasSuffix(signed, "&SigAlg="+url.QueryEscape(authnrequest.SigAlgRSASHA256)) || !strings.Contains(signed, "&RelayState=relay-handle&") {
		t.Fatalf("query %q", raw)
	}
	sigText, _ := url.QueryUnescape(sigPart)
	sig, _ := base64.StdEncoding.DecodeString(sigText)
	sum := sha256.Sum256([]byte(signed))
	pub := fixtures.Certificate(t, "sp").PublicKey.(*rsa.PublicKey)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	other := fixtures.Certificate(t, "sp-old").PublicKey.(*rsa.PublicKey)
	if rsa.VerifyPKCS1v15(other, crypto.SHA256, sum[:], sig) == nil {
		t.Fatal("another key verifies the signature")
	}
}

func TestSpecialCharactersAreEscaped(t *testing.T) {
	req := request()
	req.Issuer = `https://sp/?a=1&b="2"<x>`
	u, err := authnrequest.RedirectURL(req, "r", nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	if r := decode(t, parsed.Query().Get("SAMLRequest")); r.Issuer != req.Issuer {
		t.Fatalf("issuer %q", r.Issuer)
	}
}

func TestADestinationThatIsNotAnHTTPURLIsRefused(t *testing.T) {
	for _, d := range []string{"", "javascript:alert(1)", "ftp://idp/sso", "/relative", "https://"} {
		req := request()
		req.Destination = d
		if _, err := authnrequest.RedirectURL(req, "r", nil); !errors.Is(err, authnrequest.ErrBadDestination) {
			t.Fatalf("destination %q: %v", d, err)
		}
	}
}
