// Package samlsig verifies the XML signature of a SAML Response or Assertion (rule 3 of the assertion
// service) with goxmldsig, against the connection's configured certificates only, and returns the
// element exactly as the signature covers it (rule 4): the caller reads identity from that element
// and from nothing else.
//
// goxmldsig leaves several checks to its callers, and this package makes them before goxmldsig runs:
// the signature is a direct child of the signed element, stands where the SAML schemas put it (right
// after the element's Issuer, or first in a Response without one), and is the only signature that
// references it;
// it has exactly one Reference, whose URI is "#" + the element's ID; the transforms are exactly
// enveloped-signature then exclusive c14n (without comments); SignedInfo is canonicalized with
// exclusive c14n; the signature and digest algorithms are on an allow-list (SHA-1 only when the
// connection opts in); there is no Object or Manifest. A certificate carried in KeyInfo is never
// trusted: it is compared with the configured ones, and removed before goxmldsig runs, so that
// goxmldsig verifies with one configured certificate at a time and never with a certificate from the
// message.
//
// Nothing here reads the content of the signed element, and nothing here is left changed in the
// caller's tree.
package samlsig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

// Algorithm identifiers.
const (
	ExcC14N     = "http://www.w3.org/2001/10/xml-exc-c14n#"
	Enveloped   = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	RSASHA1     = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	RSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	ECDSASHA1   = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
	ECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
	SHA1        = "http://www.w3.org/2000/09/xmldsig#sha1"
	SHA256      = "http://www.w3.org/2001/04/xmlenc#sha256"
	SHA384      = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	SHA512      = "http://www.w3.org/2001/04/xmlenc#sha512"

	excC14NNamespace = "http://www.w3.org/2001/10/xml-exc-c14n#"
)

// signatureMethods maps each accepted SignatureMethod to whether it is SHA-1 based and whether it is
// ECDSA.
var signatureMethods = map[string]struct{ sha1, ecdsa bool }{
	RSASHA256: {}, RSASHA384: {}, RSASHA512: {},
	ECDSASHA256: {ecdsa: true}, ECDSASHA384: {ecdsa: true}, ECDSASHA512: {ecdsa: true},
	RSASHA1: {sha1: true}, ECDSASHA1: {sha1: true, ecdsa: true},
}

var digestMethods = map[string]bool{SHA256: false, SHA384: false, SHA512: false, SHA1: true}

// MinRSABits is the smallest RSA key accepted for IdP signatures.
const MinRSABits = 2048

// Policy is what a signature is verified against.
type Policy struct {
	// Certificates are the connection's configured IdP certificates, the only ones trusted.
	Certificates []*x509.Certificate
	// AllowSHA1 accepts SHA-1 signature and digest methods.
	AllowSHA1 bool
	// Now is the time at which the certificates must be valid.
	Now time.Time
}

// Namespace is the XML-DSig namespace.
const Namespace = dsig.Namespace

// IsDS reports whether el is the XML-DSig element tag.
func IsDS(el *etree.Element, tag string) bool {
	return el.Tag == tag && el.NamespaceURI() == dsig.Namespace
}

// SignatureOf returns the ds:Signature that is a direct child of el, nil when there is none, and an
// error when there are several.
func SignatureOf(el *etree.Element) (*etree.Element, error) {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if IsDS(c, "Signature") {
			if found != nil {
				return nil, failure.New(failure.BadSignature, failure.IdPAdmin, "signatures of "+el.Tag, "one ds:Signature", "several")
			}
			found = c
		}
	}
	return found, nil
}

func bad(check, wanted, got string) *failure.Error {
	return failure.New(failure.BadSignature, failure.IdPAdmin, check, wanted, got)
}

// shape is what checkShape found in a signature.
type shape struct {
	method   string
	keyInfo  *etree.Element
	sigValue *etree.Element
}

// children returns the element children of el and refuses any non-white-space text among them.
func children(el *etree.Element) ([]*etree.Element, error) {
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok && strings.TrimSpace(cd.Data) != "" {
			return nil, bad("structure of "+el.Tag, "elements only", "text")
		}
	}
	return el.ChildElements(), nil
}

// expect checks that els are exactly the ds: elements tags, in order.
func expect(parent string, els []*etree.Element, tags ...string) error {
	got := make([]string, len(els))
	ok := len(els) == len(tags)
	for i, e := range els {
		got[i] = e.FullTag()
		if ok && !IsDS(e, tags[i]) {
			ok = false
		}
	}
	if !ok {
		return bad("children of "+parent, strings.Join(tags, ", "), strings.Join(got, ", "))
	}
	return nil
}

func checkShape(sig *etree.Element, id string, allowSHA1 bool) (shape, error) {
	var s shape
	kids, err := children(sig)
	if err != nil {
		return s, err
	}
	switch len(kids) {
	case 2:
		err = expect("ds:Signature", kids, "SignedInfo", "SignatureValue")
	case 3:
		err = expect("ds:Signature", kids, "SignedInfo", "SignatureValue", "KeyInfo")
		s.keyInfo = kids[2]
	default:
		err = expect("ds:Signature", kids, "SignedInfo", "SignatureValue", "KeyInfo")
	}
	if err != nil {
		return s, err
	}
	s.sigValue = kids[1]
	info, err := children(kids[0])
	if err != nil {
		return s, err
	}
	if err := expect("ds:SignedInfo", info, "CanonicalizationMethod", "SignatureMethod", "Reference"); err != nil {
		return s, err
	}
	c14n, method, ref := info[0], info[1], info[2]
	if alg := xmlgate.AttrValue(c14n, "Algorithm"); alg != ExcC14N || len(c14n.ChildElements()) != 0 {
		return s, bad("canonicalization of SignedInfo", ExcC14N, alg)
	}
	s.method = xmlgate.AttrValue(method, "Algorithm")
	m, known := signatureMethods[s.method]
	switch {
	case !known || len(method.ChildElements()) != 0:
		return s, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "signature algorithm", "RSA-SHA256/384/512 or ECDSA-SHA256/384/512", s.method)
	case m.sha1 && !allowSHA1:
		return s, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "signature algorithm",
			"RSA-SHA256 or better (SHA-1 is accepted only when the connection allows it)", s.method)
	}
	if uri := xmlgate.AttrValue(ref, "URI"); uri != "#"+id {
		return s, bad("Reference URI of the signature", "#"+id, uri)
	}
	parts, err := children(ref)
	if err != nil {
		return s, err
	}
	if err := expect("ds:Reference", parts, "Transforms", "DigestMethod", "DigestValue"); err != nil {
		return s, err
	}
	transforms, err := children(parts[0])
	if err != nil {
		return s, err
	}
	if err := expect("ds:Transforms", transforms, "Transform", "Transform"); err != nil {
		return s, err
	}
	first, second := xmlgate.AttrValue(transforms[0], "Algorithm"), xmlgate.AttrValue(transforms[1], "Algorithm")
	if first != Enveloped || second != ExcC14N || len(transforms[0].ChildElements()) != 0 || !inclusiveNamespacesOnly(transforms[1]) {
		return s, bad("transforms of the signature", "enveloped-signature, then exclusive c14n without comments", first+", "+second)
	}
	digest := xmlgate.AttrValue(parts[1], "Algorithm")
	sha1, known := digestMethods[digest]
	switch {
	case !known || len(parts[1].ChildElements()) != 0:
		return s, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "digest algorithm", "SHA-256, SHA-384 or SHA-512", digest)
	case sha1 && !allowSHA1:
		return s, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "digest algorithm",
			"SHA-256 or better (SHA-1 is accepted only when the connection allows it)", digest)
	}
	return s, nil
}

// inclusiveNamespacesOnly reports whether the exclusive c14n transform has no child other than one
// ec:InclusiveNamespaces, which some IdPs send with a PrefixList.
func inclusiveNamespacesOnly(t *etree.Element) bool {
	kids := t.ChildElements()
	switch len(kids) {
	case 0:
		return true
	case 1:
		return kids[0].Tag == "InclusiveNamespaces" && kids[0].NamespaceURI() == excC14NNamespace && len(kids[0].ChildElements()) == 0
	}
	return false
}

// Fingerprint is the hex SHA-256 of a certificate, as admins compare them.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func fingerprints(certs []*x509.Certificate) string {
	fs := make([]string, len(certs))
	for i, c := range certs {
		fs[i] = "SHA-256 " + Fingerprint(c.Raw)
	}
	return strings.Join(fs, " or ")
}

// candidates returns the configured certificates to try: the one KeyInfo names when it carries a
// certificate (which must be configured), otherwise all; expired and weak ones are left out.
func (p Policy) candidates(keyInfo *etree.Element) ([]*x509.Certificate, error) {
	if len(p.Certificates) == 0 {
		return nil, failure.New(failure.UnknownSigningKey, failure.IEchor, "IdP certificates of the connection", "at least one", "none configured")
	}
	certs := p.Certificates
	if der, ok := keyInfoCertificate(keyInfo); ok {
		certs = nil
		for _, c := range p.Certificates {
			if bytes.Equal(c.Raw, der) {
				certs = []*x509.Certificate{c}
				break
			}
		}
		if certs == nil {
			got := "SHA-256 " + Fingerprint(der)
			if c, err := x509.ParseCertificate(der); err == nil {
				got = c.Subject.String() + ", " + got
			}
			return nil, failure.New(failure.UnknownSigningKey, failure.IdPAdmin, "certificate in the signature's KeyInfo",
				fingerprints(p.Certificates), got)
		}
	}
	var usable []*x509.Certificate
	var expired, weak *x509.Certificate
	for _, c := range certs {
		switch {
		case p.Now.Before(c.NotBefore) || p.Now.After(c.NotAfter):
			expired = c
		case isWeak(c):
			weak = c
		default:
			usable = append(usable, c)
		}
	}
	if len(usable) > 0 {
		return usable, nil
	}
	if expired != nil {
		return nil, failure.New(failure.IdPCertificateExpired, failure.IdPAdmin, "validity of the IdP certificate",
			"valid at "+p.Now.UTC().Format(time.RFC3339),
			"valid from "+expired.NotBefore.UTC().Format(time.RFC3339)+" to "+expired.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil, failure.New(failure.WeakAlgorithm, failure.IdPAdmin, "IdP signing key size", "RSA of at least 2048 bits", describeKey(weak))
}

func isWeak(c *x509.Certificate) bool {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok {
		return k.N.BitLen() < MinRSABits
	}
	return false
}

func describeKey(c *x509.Certificate) string {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok {
		return "RSA " + strconv.Itoa(k.N.BitLen()) + " bits"
	}
	return c.PublicKeyAlgorithm.String()
}

// keyInfoCertificate returns the DER of the first X509Certificate in KeyInfo, the one goxmldsig
// would use.
func keyInfoCertificate(keyInfo *etree.Element) ([]byte, bool) {
	if keyInfo == nil {
		return nil, false
	}
	for _, data := range keyInfo.ChildElements() {
		if !IsDS(data, "X509Data") {
			continue
		}
		for _, c := range data.ChildElements() {
			if IsDS(c, "X509Certificate") {
				der, err := base64.StdEncoding.DecodeString(stripSpace(c.Text()))
				if err != nil {
					return []byte(c.Text()), true
				}
				return der, true
			}
		}
	}
	return nil, false
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// Verify checks the signature that is a direct child of el and returns el as the signature covers
// it, parsed from the canonical bytes whose digest was verified.
func Verify(el *etree.Element, p Policy) (*etree.Element, error) {
	id := xmlgate.AttrValue(el, "ID")
	if id == "" {
		return nil, bad("ID of the signed "+el.Tag, "an ID", "none")
	}
	sig, err := SignatureOf(el)
	if err != nil {
		return nil, err
	}
	if sig == nil {
		return nil, bad("signature of "+el.Tag, "a ds:Signature", "none")
	}
	if err := placed(el, sig); err != nil {
		return nil, err
	}
	if err := onlySignatureFor(el, sig, "#"+id); err != nil {
		return nil, err
	}
	s, err := checkShape(sig, id, p.AllowSHA1)
	if err != nil {
		return nil, err
	}
	certs, err := p.candidates(s.keyInfo)
	if err != nil {
		return nil, err
	}
	defer prepare(el, sig, s.keyInfo)()

	var lastErr error
	for _, cert := range certs {
		restoreValue, err := ecdsaToDER(s, cert)
		if err != nil {
			lastErr = err
			continue
		}
		vc := &dsig.ValidationContext{
			CertificateStore: &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}},
			IdAttribute:      "ID",
			Clock:            dsig.NewFakeClockAt(p.Now),
		}
		verified, err := vc.Validate(el)
		restoreValue()
		if err == nil {
			return verified, nil
		}
		lastErr = err
	}
	return nil, classify(lastErr, p.Certificates)
}

func classify(err error, certs []*x509.Certificate) error {
	var f *failure.Error
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, rsa.ErrVerification), err != nil && strings.Contains(err.Error(), "ECDSA verification failure"):
		return bad("signature value", "a signature by "+fingerprints(certs), "a signature that none of the configured certificates verifies")
	case err != nil && err.Error() == "Signature could not be verified":
		return bad("digest of the signed content", "the digest that was signed", "a different digest: the content was changed after signing")
	case err != nil:
		return bad("signature", "a valid signature", err.Error())
	}
	return bad("signature", "a valid signature", "none")
}

// assertionNS is the SAML assertion namespace, of the Issuer.
const assertionNS = "urn:oasis:names:tc:SAML:2.0:assertion"

// placed refuses a signature that does not stand where the SAML schemas put it: right after the
// signed element's saml:Issuer, or first when the element has no Issuer (only a Response may lack
// one). The saml package names a misplaced signature for the admin before it gets here; this keeps
// the promise for every caller.
func placed(el, sig *etree.Element) error {
	isIssuer := func(c *etree.Element) bool { return c.Tag == "Issuer" && c.NamespaceURI() == assertionNS }
	kids := el.ChildElements()
	at := slices.Index(kids, sig)
	if (at == 1 && isIssuer(kids[0])) || (at == 0 && !slices.ContainsFunc(kids, isIssuer)) {
		return nil
	}
	got := "first, before the saml:Issuer"
	if at > 0 {
		got = "after " + kids[at-1].FullTag()
	}
	return bad("place of the ds:Signature in "+el.Tag, "right after the saml:Issuer of "+el.Tag, got)
}

// onlySignatureFor refuses any other ds:Signature below el that references el: goxmldsig takes the
// first one it meets, which must be the one checked here.
func onlySignatureFor(el, sig *etree.Element, ref string) error {
	stack := []*etree.Element{el}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range e.Child {
			c, ok := t.(*etree.Element)
			if !ok {
				continue
			}
			if c != sig && IsDS(c, "Signature") {
				for _, r := range c.FindElements(".//Reference") {
					if uri := xmlgate.AttrValue(r, "URI"); uri == ref || uri == "" {
						return bad("signatures of "+el.Tag, "one signature referencing "+ref, "several")
					}
				}
			}
			stack = append(stack, c)
		}
	}
	return nil
}

// prepare makes el ready for goxmldsig, which copies el before it reads it: the namespace
// declarations in scope from el's ancestors are put on el (the copy has no ancestors), and KeyInfo
// is taken out, so that goxmldsig verifies with the configured certificate alone. KeyInfo is not
// covered by any digest (the enveloped-signature transform removes the whole signature, and only
// SignedInfo is signed). It returns the function that puts everything back.
func prepare(el, sig, keyInfo *etree.Element) func() {
	attrs := len(el.Attr)
	declared := map[string]bool{}
	for _, a := range el.Attr {
		if a.Space == "xmlns" {
			declared[a.Key] = true
		} else if a.Space == "" && a.Key == "xmlns" {
			declared[""] = true
		}
	}
	for anc := el.Parent(); anc != nil; anc = anc.Parent() {
		for _, a := range anc.Attr {
			switch {
			case a.Space == "xmlns" && !declared[a.Key]:
				declared[a.Key] = true
				el.CreateAttr("xmlns:"+a.Key, a.Value)
			case a.Space == "" && a.Key == "xmlns" && !declared[""]:
				declared[""] = true
				el.CreateAttr("xmlns", a.Value)
			}
		}
	}
	at := -1
	if keyInfo != nil {
		at = keyInfo.Index()
		sig.RemoveChildAt(at)
	}
	return func() {
		if at >= 0 {
			sig.InsertChildAt(at, keyInfo)
		}
		el.Attr = el.Attr[:attrs]
	}
}

// ecdsaToDER rewrites an ECDSA SignatureValue from the r||s form of the XML-DSig standard to the DER
// form that goxmldsig verifies, for cert's curve. The value is not covered by any digest.
func ecdsaToDER(s shape, cert *x509.Certificate) (func(), error) {
	if !signatureMethods[s.method].ecdsa {
		return func() {}, nil
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, bad("signature algorithm", "one that matches the certificate's "+cert.PublicKeyAlgorithm.String()+" key", s.method)
	}
	original := s.sigValue.Text()
	raw, err := base64.StdEncoding.DecodeString(stripSpace(original))
	size := (key.Curve.Params().BitSize + 7) / 8
	if err != nil || len(raw) != 2*size {
		return func() {}, nil // not r||s: left as it is, for goxmldsig to judge
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])})
	if err != nil {
		return nil, err
	}
	s.sigValue.SetText(base64.StdEncoding.EncodeToString(der))
	return func() { s.sigValue.SetText(original) }, nil
}
