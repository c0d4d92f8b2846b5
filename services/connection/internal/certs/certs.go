// Package certs reads the X.509 certificates that identity providers give us, describes them for
// admins, warns about the ones that will cause trouble, and makes the service provider's own key
// pairs.
//
// Admins paste certificates in every form their IdP's console offers: PEM with or without the
// BEGIN/END lines, or bare base64 DER, with any line breaks. Parse accepts them all and refuses
// anything else. Nothing here echoes what was pasted in an error: a private key pasted by mistake
// must not end up in a log or a response.
package certs

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Limits on what an admin may give.
const (
	// MaxCertificates is how many IdP certificates a connection keeps at once; two or three cover
	// any rotation.
	MaxCertificates = 10
	// maxInputLength bounds one pasted certificate; real ones are under 4 KiB.
	maxInputLength = 64 << 10
	// MinRSABits is the smallest RSA key that can verify a signature at all (Go refuses smaller).
	MinRSABits = 1024
	// StrongRSABits is the smallest RSA key that draws no warning.
	StrongRSABits = 2048
	// ExpiryWarning is how long before expiry a certificate draws a warning.
	ExpiryWarning = 30 * 24 * time.Hour
)

// Warning codes, as admins and clients see them.
const (
	CodeExpiring      = "CERTIFICATE_EXPIRING"
	CodeExpired       = "CERTIFICATE_EXPIRED"
	CodeNotYetValid   = "CERTIFICATE_NOT_YET_VALID"
	CodeWeakRSA       = "WEAK_RSA_KEY"
	CodeSHA1          = "SHA1_CERTIFICATE_SIGNATURE"
	CodeWeakSignature = "WEAK_CERTIFICATE_SIGNATURE"
)

var (
	// ErrInvalid means the text is not one X.509 certificate in a form we read.
	ErrInvalid = errors.New("not a valid X.509 certificate: give PEM, with or without the BEGIN/END lines, or base64 DER")
	// ErrUnsupportedKey means the certificate's key cannot verify SAML signatures.
	ErrUnsupportedKey = errors.New("the certificate's key is neither RSA of at least 1024 bits nor ECDSA on P-256, P-384 or P-521")
	// ErrAllExpired means every certificate given has expired: the connection could verify nothing.
	ErrAllExpired = errors.New("every certificate given has expired; add the identity provider's current certificate")
	// ErrTooMany means more than MaxCertificates were given.
	ErrTooMany = fmt.Errorf("at most %d certificates may be given", MaxCertificates)
)

// IndexError says which certificate of a list is at fault.
type IndexError struct {
	Index int
	Err   error
}

func (e *IndexError) Error() string { return fmt.Sprintf("certificate %d: %v", e.Index, e.Err) }
func (e *IndexError) Unwrap() error { return e.Err }

// Parse reads one certificate: PEM with or without its BEGIN/END lines, or base64 DER; whitespace
// anywhere is ignored, so that a certificate pasted on one line or wrapped at any width reads.
func Parse(text string) (*x509.Certificate, error) {
	if len(text) > maxInputLength {
		return nil, ErrInvalid
	}
	body := strings.TrimSpace(text)
	if strings.Contains(body, "-----") {
		inner, ok := strings.CutPrefix(body, pemBegin)
		if !ok {
			return nil, ErrInvalid
		}
		inner, ok = strings.CutSuffix(inner, pemEnd)
		if !ok || strings.Contains(inner, "-----") {
			return nil, ErrInvalid
		}
		body = inner
	}
	b64 := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, body)
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return nil, ErrInvalid
		}
	}
	return parseDER(der)
}

const (
	pemBegin = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
)

func parseDER(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, ErrInvalid
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, ErrUnsupportedKey
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256, 384, 521:
		default:
			return nil, ErrUnsupportedKey
		}
	default:
		return nil, ErrUnsupportedKey
	}
	return c, nil
}

// ParseSet reads a list of certificates as an admin gives them: each must parse, duplicates are
// dropped, and a list whose every certificate has expired is refused, since it could verify nothing.
func ParseSet(texts []string, now time.Time) ([]*x509.Certificate, error) {
	if len(texts) > MaxCertificates {
		return nil, &IndexError{Index: MaxCertificates, Err: ErrTooMany}
	}
	var out []*x509.Certificate
	seen := map[string]bool{}
	for i, t := range texts {
		c, err := Parse(t)
		if err != nil {
			return nil, &IndexError{Index: i, Err: err}
		}
		fp := Fingerprint(c)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		out = append(out, c)
	}
	if err := CheckNotAllExpired(out, now); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckNotAllExpired refuses a non-empty set whose every certificate has expired, naming the first.
func CheckNotAllExpired(cs []*x509.Certificate, now time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	for _, c := range cs {
		if now.Before(c.NotAfter) {
			return nil
		}
	}
	return &IndexError{Index: 0, Err: ErrAllExpired}
}

// PEM returns the certificate in PEM form.
func PEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// Base64 returns the DER in base64, as XML-DSig's X509Certificate element carries it.
func Base64(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

// Fingerprint returns the hex SHA-256 of the DER.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Info is what an admin needs to know about a certificate.
type Info struct {
	Subject            string
	Issuer             string
	NotBefore          time.Time
	NotAfter           time.Time
	SHA256Fingerprint  string
	KeyAlgorithm       string
	KeyBits            int
	SignatureAlgorithm string
}

// Describe returns the Info of a certificate.
func Describe(c *x509.Certificate) Info {
	info := Info{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		SHA256Fingerprint:  Fingerprint(c),
		KeyAlgorithm:       c.PublicKeyAlgorithm.String(),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		info.KeyBits = k.N.BitLen()
	case *ecdsa.PublicKey:
		info.KeyBits = k.Curve.Params().BitSize
	}
	return info
}

// Warning is something about a certificate that an admin should fix.
type Warning struct {
	Code    string
	Message string
}

// Warnings returns what is wrong with a certificate at time now. It is computed on every read, so
// that a certificate that was fine when it was added starts warning as its expiry nears.
func Warnings(c *x509.Certificate, now time.Time) []Warning {
	var ws []Warning
	switch {
	case !now.Before(c.NotAfter):
		ws = append(ws, Warning{CodeExpired, fmt.Sprintf("The certificate expired on %s; sign-ins signed with its key fail.", c.NotAfter.UTC().Format(time.DateOnly))})
	case c.NotAfter.Sub(now) < ExpiryWarning:
		ws = append(ws, Warning{CodeExpiring, fmt.Sprintf("The certificate expires on %s; add the identity provider's next certificate before then.", c.NotAfter.UTC().Format(time.DateOnly))})
	case now.Before(c.NotBefore):
		ws = append(ws, Warning{CodeNotYetValid, fmt.Sprintf("The certificate is valid only from %s.", c.NotBefore.UTC().Format(time.DateOnly))})
	}
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < StrongRSABits {
		ws = append(ws, Warning{CodeWeakRSA, fmt.Sprintf("The certificate's RSA key has %d bits; ask the identity provider for a key of at least %d bits.", k.N.BitLen(), StrongRSABits)})
	}
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		ws = append(ws, Warning{CodeSHA1, "The certificate is signed with SHA-1; ask the identity provider for a certificate signed with SHA-256."})
	case x509.MD5WithRSA, x509.MD2WithRSA:
		ws = append(ws, Warning{CodeWeakSignature, "The certificate is signed with MD5 or MD2; ask the identity provider for a certificate signed with SHA-256."})
	}
	return ws
}

// KeyPair is a service provider key and its self-signed certificate, both in PEM.
type KeyPair struct {
	PrivateKeyPEM  string
	CertificatePEM string
	Certificate    *x509.Certificate
}

// NewKeyPair makes an RSA key of bits (2048 or 3072) and a self-signed certificate for it, valid from
// an hour before now (for IdPs whose clocks run behind) for validity.
func NewKeyPair(bits int, commonName string, now time.Time, validity time.Duration) (KeyPair, error) {
	if bits != 2048 && bits != 3072 {
		return KeyPair{}, fmt.Errorf("SP keys are 2048 or 3072 bits, not %d", bits)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return KeyPair{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return KeyPair{}, err
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"iEchor SSO"}},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              now.Add(validity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return KeyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		PrivateKeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		CertificatePEM: PEM(cert),
		Certificate:    cert,
	}, nil
}
