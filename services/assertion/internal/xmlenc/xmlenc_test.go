package xmlenc_test

import (
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/xmlenc"
)

const plaintext = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"/>`

func encryptedAssertion(t *testing.T, e fixtures.Encryption, edit func(string) string) *etree.Element {
	t.Helper()
	data := fixtures.Encrypt(t, []byte(plaintext), fixtures.Certificate(t, "sp"), e)
	if edit != nil {
		data = edit(data)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(`<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` + data + `</saml:EncryptedAssertion>`); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

var (
	gcm = fixtures.Encryption{KeyTransport: xmlenc.RSAOAEPMGF1P, Cipher: xmlenc.AES256GCM, KeySize: 32}
	cbc = fixtures.Encryption{KeyTransport: xmlenc.RSAOAEPMGF1P, Cipher: xmlenc.AES128CBC, KeySize: 16}
)

func reason(t *testing.T, err error) failure.Reason {
	t.Helper()
	var f *failure.Error
	if !errors.As(err, &f) {
		t.Fatalf("error %v", err)
	}
	return f.Reason
}

func TestDecrypt(t *testing.T) {
	keys := func(t *testing.T, names ...string) []*rsa.PrivateKey {
		var out []*rsa.PrivateKey
		for _, n := range names {
			out = append(out, fixtures.PrivateKey(t, n))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		el     func(t *testing.T) *etree.Element
		opts   func(t *testing.T) xmlenc.Options
		reason failure.Reason
	}{
		{"AES-GCM decrypts with the right key among several", func(t *testing.T) *etree.Element { return encryptedAssertion(t, gcm, nil) },
			func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp-old", "sp")} }, ""},
		{"AES-CBC decrypts when allowed", func(t *testing.T) *etree.Element { return encryptedAssertion(t, cbc, nil) },
			func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp"), AllowCBC: true} }, ""},
		{"AES-CBC is refused when not allowed", func(t *testing.T) *etree.Element { return encryptedAssertion(t, cbc, nil) },
			func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp")} }, failure.WeakAlgorithm},
		{"an EncryptedKey beside the EncryptedData is found", func(t *testing.T) *etree.Element {
			el := encryptedAssertion(t, gcm, nil)
			data := el.ChildElements()[0]
			ki := data.FindElement("KeyInfo")
			ek := ki.FindElement("EncryptedKey")
			ki.RemoveChild(ek)
			data.RemoveChild(ki)
			ek.CreateAttr("xmlns:xenc", xmlenc.Namespace)
			el.AddChild(ek)
			return el
		}, func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp")} }, ""},
		{"no key that decrypts gives the one decryption error", func(t *testing.T) *etree.Element { return encryptedAssertion(t, gcm, nil) },
			func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp-old")} }, failure.DecryptionFailed},
		{"an unknown block cipher is refused", func(t *testing.T) *etree.Element {
			return encryptedAssertion(t, gcm, func(s string) string {
				return strings.Replace(s, xmlenc.AES256GCM, "http://www.w3.org/2001/04/xmlenc#tripledes-cbc", 1)
			})
		}, func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp")} }, failure.WeakAlgorithm},
		{"content that is not an element is refused", func(t *testing.T) *etree.Element {
			return encryptedAssertion(t, gcm, func(s string) string {
				return strings.Replace(s, "xmlenc#Element", "xmlenc#Content", 1)
			})
		}, func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp")} }, failure.DecryptionFailed},
		{"an EncryptedAssertion without EncryptedData is refused", func(t *testing.T) *etree.Element {
			el := encryptedAssertion(t, gcm, nil)
			el.RemoveChild(el.ChildElements()[0])
			return el
		}, func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp")} }, failure.DecryptionFailed},
		{"anything else inside an EncryptedAssertion is refused", func(t *testing.T) *etree.Element {
			el := encryptedAssertion(t, gcm, nil)
			el.CreateElement("saml:Assertion")
			return el
		}, func(t *testing.T) xmlenc.Options { return xmlenc.Options{Keys: keys(t, "sp")} }, failure.DecryptionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := xmlenc.Decrypt(tc.el(t), tc.opts(t))
			if tc.reason == "" {
				if err != nil || string(plain) != plaintext {
					t.Fatalf("plaintext %q, %v", plain, err)
				}
				return
			}
			if r := reason(t, err); r != tc.reason {
				t.Fatalf("reason %s, want %s (%v)", r, tc.reason, err)
			}
		})
	}
}
