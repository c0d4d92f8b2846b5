// Package xmlenc decrypts a SAML EncryptedAssertion (rule 7 of the assertion service): the content
// key is unwrapped with RSA-OAEP (MGF1 with SHA-1, digest SHA-1 or SHA-256) by one of the
// connection's SP private keys, and the assertion is decrypted with AES-GCM, or with AES-CBC when the
// caller says that the enclosing Response's signature was verified (CBC has no integrity of its own).
//
// Every failure after the algorithms are chosen is the same error, whatever went wrong, so that the
// answer is no oracle for an attacker's ciphertexts. The plaintext is returned to be checked like any
// other XML; nothing here parses or trusts it.
package xmlenc

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	_ "crypto/sha1" // registers SHA-1 for OAEP
	_ "crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

// Namespaces and algorithms.
const (
	Namespace   = "http://www.w3.org/2001/04/xmlenc#"
	Namespace11 = "http://www.w3.org/2009/xmlenc11#"
	dsNamespace = "http://www.w3.org/2000/09/xmldsig#"

	AES128CBC = Namespace + "aes128-cbc"
	AES192CBC = Namespace + "aes192-cbc"
	AES256CBC = Namespace + "aes256-cbc"
	AES128GCM = Namespace11 + "aes128-gcm"
	AES192GCM = Namespace11 + "aes192-gcm"
	AES256GCM = Namespace11 + "aes256-gcm"

	RSAOAEPMGF1P = Namespace + "rsa-oaep-mgf1p"
	RSAOAEP11    = Namespace11 + "rsa-oaep"
	MGF1SHA1     = Namespace11 + "mgf1sha1"

	DigestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

	elementType = Namespace + "Element"
)

type blockCipher struct {
	keySize int
	gcm     bool
}

var blockCiphers = map[string]blockCipher{
	AES128GCM: {16, true}, AES192GCM: {24, true}, AES256GCM: {32, true},
	AES128CBC: {16, false}, AES192CBC: {24, false}, AES256CBC: {32, false},
}

// Options say how an EncryptedAssertion may be decrypted.
type Options struct {
	// Keys are the connection's SP private keys that may decrypt: every published key, the active one
	// and those not yet retired.
	Keys []*rsa.PrivateKey
	// AllowCBC accepts AES-CBC: only when the enclosing Response's signature has been verified.
	AllowCBC bool
}

// ErrDecryption is the one error of every decryption failure.
var ErrDecryption = failure.New(failure.DecryptionFailed, failure.IdPAdmin, "decryption of the EncryptedAssertion",
	"an assertion encrypted to one of the connection's SP certificates", "a ciphertext that could not be decrypted")

func is(el *etree.Element, ns, tag string) bool { return el.Tag == tag && el.NamespaceURI() == ns }

func child(el *etree.Element, ns, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if is(c, ns, tag) {
			return c
		}
	}
	return nil
}

func cipherValue(el *etree.Element) ([]byte, bool) {
	cd := child(el, Namespace, "CipherData")
	if cd == nil {
		return nil, false
	}
	cv := child(cd, Namespace, "CipherValue")
	if cv == nil {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cv.Text()), ""))
	return b, err == nil
}

// Decrypt returns the plaintext of the EncryptedData in encryptedAssertion.
func Decrypt(encryptedAssertion *etree.Element, opts Options) ([]byte, error) {
	var data *etree.Element
	var siblingKeys []*etree.Element
	for _, c := range encryptedAssertion.ChildElements() {
		switch {
		case is(c, Namespace, "EncryptedData") && data == nil:
			data = c
		case is(c, Namespace, "EncryptedKey"):
			siblingKeys = append(siblingKeys, c)
		default:
			return nil, failure.New(failure.DecryptionFailed, failure.IdPAdmin, "structure of the EncryptedAssertion",
				"one xenc:EncryptedData and its xenc:EncryptedKey", c.FullTag())
		}
	}
	if data == nil {
		return nil, failure.New(failure.DecryptionFailed, failure.IdPAdmin, "structure of the EncryptedAssertion", "an xenc:EncryptedData", "none")
	}
	if t := xmlgate.Attr(data, "Type"); t != nil && t.Value != elementType {
		return nil, failure.New(failure.DecryptionFailed, failure.IdPAdmin, "type of the EncryptedData", elementType, t.Value)
	}
	method := child(data, Namespace, "EncryptionMethod")
	alg := ""
	if method != nil {
		alg = xmlgate.AttrValue(method, "Algorithm")
	}
	bc, known := blockCiphers[alg]
	switch {
	case !known:
		return nil, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "block cipher of the EncryptedAssertion", "AES-GCM (or AES-CBC in a signed Response)", alg)
	case !bc.gcm && !opts.AllowCBC:
		return nil, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "block cipher of the EncryptedAssertion",
			"AES-GCM, or AES-CBC only inside a signed Response", alg+" in a Response without a verified signature")
	}
	keys := siblingKeys
	if ki := child(data, dsNamespace, "KeyInfo"); ki != nil {
		if ek := child(ki, Namespace, "EncryptedKey"); ek != nil {
			keys = append([]*etree.Element{ek}, keys...)
		}
	}
	if len(keys) == 0 {
		return nil, ErrDecryption
	}
	ciphertext, ok := cipherValue(data)
	if !ok {
		return nil, ErrDecryption
	}
	for _, ek := range keys {
		unwrap, err := keyTransport(ek)
		if err != nil {
			return nil, err
		}
		wrapped, ok := cipherValue(ek)
		if !ok {
			continue
		}
		for _, k := range opts.Keys {
			key, err := unwrap(k, wrapped)
			if err != nil || len(key) != bc.keySize {
				continue
			}
			if plain, ok := decryptBlock(bc, key, ciphertext); ok {
				return plain, nil
			}
		}
	}
	return nil, ErrDecryption
}

type unwrapFunc func(k *rsa.PrivateKey, wrapped []byte) ([]byte, error)

// keyTransport reads the EncryptedKey's method: RSA-OAEP with MGF1-SHA-1, digest SHA-1 or SHA-256.
// RSA PKCS#1 v1.5 is refused: its padding is an oracle.
func keyTransport(ek *etree.Element) (unwrapFunc, error) {
	method := child(ek, Namespace, "EncryptionMethod")
	alg := ""
	if method != nil {
		alg = xmlgate.AttrValue(method, "Algorithm")
	}
	if alg != RSAOAEPMGF1P && alg != RSAOAEP11 {
		return nil, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "key transport of the EncryptedAssertion", "RSA-OAEP", alg)
	}
	digest := DigestSHA1
	if dm := child(method, dsNamespace, "DigestMethod"); dm != nil {
		digest = xmlgate.AttrValue(dm, "Algorithm")
	}
	var oaepHash crypto.Hash
	switch digest {
	case DigestSHA1:
		oaepHash = crypto.SHA1
	case DigestSHA256:
		oaepHash = crypto.SHA256
	default:
		return nil, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "digest of the RSA-OAEP key transport", "SHA-1 or SHA-256", digest)
	}
	if mgf := child(method, Namespace11, "MGF"); mgf != nil {
		if m := xmlgate.AttrValue(mgf, "Algorithm"); m != MGF1SHA1 {
			return nil, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "mask generation of the RSA-OAEP key transport", "MGF1 with SHA-1", m)
		}
	}
	var label []byte
	if p := child(method, Namespace, "OAEPparams"); p != nil {
		l, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.Text()))
		if err != nil {
			return nil, ErrDecryption
		}
		label = l
	}
	return func(k *rsa.PrivateKey, wrapped []byte) ([]byte, error) {
		// MGF1 always uses SHA-1 here; the digest only sets the OAEP hash.
		return k.Decrypt(nil, wrapped, &rsa.OAEPOptions{Hash: oaepHash, MGFHash: crypto.SHA1, Label: label})
	}, nil
}

func decryptBlock(bc blockCipher, key, ciphertext []byte) ([]byte, bool) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	if bc.gcm {
		aead, err := cipher.NewGCM(block)
		if err != nil || len(ciphertext) < aead.NonceSize()+aead.Overhead() {
			return nil, false
		}
		plain, err := aead.Open(nil, ciphertext[:aead.NonceSize()], ciphertext[aead.NonceSize():], nil)
		return plain, err == nil
	}
	if len(ciphertext) < 2*aes.BlockSize || len(ciphertext)%aes.BlockSize != 0 {
		return nil, false
	}
	plain := make([]byte, len(ciphertext)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, ciphertext[:aes.BlockSize]).CryptBlocks(plain, ciphertext[aes.BlockSize:])
	// XML Encryption pads with arbitrary bytes and puts the pad length last.
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, false
	}
	return plain[:len(plain)-pad], true
}
