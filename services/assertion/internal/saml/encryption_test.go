package saml_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
)

// encryptedResponse replaces the signed assertion of a fixture by an EncryptedAssertion made with e.
// The assertion's saml: prefix is declared on the Response only, so the plaintext must be read in
// the context of the EncryptedAssertion, as XML Encryption says.
func encryptedResponse(t testing.TB, fixture string, e fixtures.Encryption) string {
	t.Helper()
	return encryptedResponseTo(t, fixture, e, "sp")
}

// encryptedResponseTo is encryptedResponse with the content key encrypted to the certificate cert.
func encryptedResponseTo(t testing.TB, fixture string, e fixtures.Encryption, cert string) string {
	t.Helper()
	raw := string(fixtures.Document(t, fixture))
	start, end := strings.Index(raw, "<saml:Assertion "), strings.Index(raw, "</saml:Assertion>")+len("</saml:Assertion>")
	plain := raw[start:end]
	enc := fixtures.Encrypt(t, []byte(plain), fixtures.Certificate(t, cert), e)
	doc := raw[:start] + "<saml:EncryptedAssertion>" + enc + "</saml:EncryptedAssertion>" + raw[end:]
	return base64.StdEncoding.EncodeToString([]byte(doc))
}

const (
	oaepMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	oaep11    = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	sha256URI = "http://www.w3.org/2001/04/xmlenc#sha256"
	gcm256    = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	gcm192    = "http://www.w3.org/2009/xmlenc11#aes192-gcm"
	cbc192    = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
)

func TestKeyTransportAndCiphers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		enc    fixtures.Encryption
		reason failure.Reason
	}{
		{"RSA-OAEP (XML Encryption 1.1) with a SHA-256 digest is accepted", fixtures.Encryption{KeyTransport: oaep11, OAEPDigest: sha256URI, Cipher: gcm256, KeySize: 32}, ""},
		{"RSA-OAEP-MGF1P with a SHA-256 digest is accepted", fixtures.Encryption{KeyTransport: oaepMGF1P, OAEPDigest: sha256URI, Cipher: gcm256, KeySize: 32}, ""},
		{"RSA-OAEP-MGF1P with the default SHA-1 digest and AES-192-GCM is accepted", fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: gcm192, KeySize: 24}, ""},
		{"RSA PKCS#1 v1.5 key transport is refused", fixtures.Encryption{KeyTransport: "http://www.w3.org/2001/04/xmlenc#rsa-1_5", Cipher: gcm256, KeySize: 32}, failure.WeakAlgorithm},
		{"AES-192-CBC in an unsigned response is refused", fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: cbc192, KeySize: 24}, failure.WeakAlgorithm},
		{"a content key of the wrong size gives the one decryption error", fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: gcm256, KeySize: 16}, failure.DecryptionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			out, err := h.validate(t, encryptedResponse(t, "assertion-signed", tc.enc))
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Identity.Email != "jane.doe@example.com" {
					t.Fatalf("identity %+v", out.Identity)
				}
				return
			}
			wantReason(t, err, tc.reason)
		})
	}
}

func TestADecryptedAssertionPassesTheGateAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	raw := string(fixtures.Document(t, "assertion-signed"))
	start := strings.Index(raw, "<saml:Assertion ")
	end := strings.Index(raw, "</saml:Assertion>") + len("</saml:Assertion>")
	plain := `<!DOCTYPE x [<!ENTITY e "x">]>` + raw[start:end]
	enc := fixtures.Encrypt(t, []byte(plain), fixtures.Certificate(t, "sp"), fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: gcm256, KeySize: 32})
	doc := raw[:start] + "<saml:EncryptedAssertion>" + enc + "</saml:EncryptedAssertion>" + raw[end:]
	_, err := h.validate(t, base64.StdEncoding.EncodeToString([]byte(doc)))
	wantReason(t, err, failure.MalformedXML)

	// Something other than an assertion inside is refused too.
	enc = fixtures.Encrypt(t, []byte(`<saml:Subject/>`), fixtures.Certificate(t, "sp"), fixtures.Encryption{KeyTransport: oaepMGF1P, Cipher: gcm256, KeySize: 32})
	doc = raw[:start] + "<saml:EncryptedAssertion>" + enc + "</saml:EncryptedAssertion>" + raw[end:]
	_, err = h.validate(t, base64.StdEncoding.EncodeToString([]byte(doc)))
	wantReason(t, err, failure.NoAssertion)
}
