package samlsig_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/samlsig"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

func assertionOf(t *testing.T, name string) (*etree.Document, *etree.Element) {
	t.Helper()
	doc, err := xmlgate.Parse(fixtures.Document(t, name), xmlgate.Default)
	if err != nil {
		t.Fatal(err)
	}
	return doc, doc.Root().FindElement("Assertion")
}

func policy(t *testing.T, certs ...string) samlsig.Policy {
	p := samlsig.Policy{Now: fixtures.Now}
	for _, c := range certs {
		p.Certificates = append(p.Certificates, fixtures.Certificate(t, c))
	}
	return p
}

func TestVerifyReturnsTheSignedElementAndLeavesTheTreeAsItWas(t *testing.T) {
	doc, a := assertionOf(t, "assertion-signed")
	before, _ := doc.WriteToString()
	verified, err := samlsig.Verify(a, policy(t, "idp"))
	if err != nil {
		t.Fatal(err)
	}
	if verified.FindElement("Signature") != nil {
		t.Fatal("the verified element still holds its signature")
	}
	if got := verified.FindElement("Subject/NameID").Text(); got != "jane.doe@example.com" {
		t.Fatalf("NameID %q", got)
	}
	if verified.Parent() != nil && verified.Parent().Parent() != nil {
		t.Fatal("the verified element belongs to the caller's tree")
	}
	if after, _ := doc.WriteToString(); after != before {
		t.Fatal("Verify changed the caller's tree")
	}
}

func TestEveryConfiguredCertificateIsTriedWhenKeyInfoIsAbsent(t *testing.T) {
	_, a := assertionOf(t, "signed-by-next-certificate")
	sig := a.FindElement("Signature")
	sig.RemoveChild(sig.FindElement("KeyInfo"))
	if _, err := samlsig.Verify(a, policy(t, "idp", "idp-ec", "idp-next")); err != nil {
		t.Fatal(err)
	}
	if _, err := samlsig.Verify(a, policy(t, "idp", "idp-ec")); err == nil {
		t.Fatal("verified without the signing certificate")
	}
}

func TestECDSASignaturesVerifyInTheStandardForm(t *testing.T) {
	_, a := assertionOf(t, "ecdsa-signed")
	if _, err := samlsig.Verify(a, policy(t, "idp-ec")); err != nil {
		t.Fatal(err)
	}
	// An RSA certificate cannot verify an ECDSA signature method.
	sig := a.FindElement("Signature")
	sig.RemoveChild(sig.FindElement("KeyInfo"))
	var f *failure.Error
	if _, err := samlsig.Verify(a, policy(t, "idp")); !errors.As(err, &f) || f.Reason != failure.BadSignature {
		t.Fatalf("error %v", err)
	}
}

func TestCertificatesMustBeValidNowAndStrong(t *testing.T) {
	_, a := assertionOf(t, "assertion-signed")
	p := policy(t, "idp")
	p.Now = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	var f *failure.Error
	if _, err := samlsig.Verify(a, p); !errors.As(err, &f) || f.Reason != failure.IdPCertificateExpired {
		t.Fatalf("error %v", err)
	}

	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: fixtures.Now.Add(-time.Hour), NotAfter: fixtures.Now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	weak, _ := x509.ParseCertificate(der)
	sig := a.FindElement("Signature")
	sig.RemoveChild(sig.FindElement("KeyInfo"))
	if _, err := samlsig.Verify(a, samlsig.Policy{Certificates: []*x509.Certificate{weak}, Now: fixtures.Now}); !errors.As(err, &f) || f.Reason != failure.WeakAlgorithm {
		t.Fatalf("a 1024-bit key: %v", err)
	}
}

func TestASignatureVerifiesOnlyRightAfterTheIssuerOfWhatItSigns(t *testing.T) {
	responseOf := func(t *testing.T, name string) *etree.Element {
		doc, err := xmlgate.Parse(fixtures.Document(t, name), xmlgate.Default)
		if err != nil {
			t.Fatal(err)
		}
		return doc.Root()
	}
	for _, tc := range []struct {
		name   string
		signed func(t *testing.T) *etree.Element
		placed bool
	}{
		{"an assertion signature right after the Issuer verifies",
			func(t *testing.T) *etree.Element { _, a := assertionOf(t, "assertion-signed"); return a }, true},
		{"a response signature right after the Issuer verifies",
			func(t *testing.T) *etree.Element { return responseOf(t, "response-signed") }, true},
		{"a response signature first in a Response without an Issuer verifies",
			func(t *testing.T) *etree.Element { return responseOf(t, "response-signed-no-issuer") }, true},
		{"an assertion signature as the last child is refused, although its digest and value are right",
			func(t *testing.T) *etree.Element { _, a := assertionOf(t, "signature-last-in-assertion"); return a }, false},
		{"a response signature as the last child is refused, although its digest and value are right",
			func(t *testing.T) *etree.Element { return responseOf(t, "response-signature-last") }, false},
		{"an assertion signature moved before the Issuer is refused",
			func(t *testing.T) *etree.Element {
				_, a := assertionOf(t, "assertion-signed")
				sig := a.FindElement("Signature")
				a.RemoveChild(sig)
				a.InsertChildAt(0, sig)
				return a
			}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := samlsig.Verify(tc.signed(t), policy(t, "idp"))
			if tc.placed {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var f *failure.Error
			if !errors.As(err, &f) || f.Reason != failure.BadSignature || !strings.HasPrefix(f.Check, "place of the ds:Signature") {
				t.Fatalf("error %v, want BAD_SIGNATURE for the signature's place", err)
			}
		})
	}
}
