// Package metadata reads identity provider metadata and writes our own service provider metadata,
// both SAML 2.0 EntityDescriptor documents, with etree.
//
// IdP metadata comes from admins (pasted, or fetched from a URL they give), so it is hostile until
// proven otherwise: documents with a DTD or entity declarations are refused before and while parsing,
// as are oversized and non-UTF-8 documents. Nothing here trusts a signature on the metadata: trust
// comes from the admin who gave it, over an authenticated channel. Nothing here reads assertions.
package metadata

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/secureurl"
)

// SAML names.
const (
	NSMetadata        = "urn:oasis:names:tc:SAML:2.0:metadata"
	NSAssertion       = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig            = "http://www.w3.org/2000/09/xmldsig#"
	ProtocolSAML2     = "urn:oasis:names:tc:SAML:2.0:protocol"
	BindingRedirect   = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOST       = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	NameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
)

// DefaultMaxBytes caps an IdP metadata document. Real ones are a few KiB; ADFS with several
// certificates and claim lists stays under 100 KiB.
const DefaultMaxBytes = 1 << 20

// maxDepth bounds element nesting: metadata is shallow, and a deep document is an attack on the parser.
const maxDepth = 48

// maxEntities bounds how many EntityDescriptors of an aggregate are looked at.
const maxEntities = 1000

// The reasons a document is refused.
var (
	ErrTooLarge          = errors.New("the metadata document is larger than the limit")
	ErrNotUTF8           = errors.New("the metadata document is not UTF-8")
	ErrDTD               = errors.New("the metadata document has a DTD or entity declarations, which are refused")
	ErrMalformed         = errors.New("the metadata document is not well-formed XML")
	ErrNotMetadata       = errors.New("the document is not SAML metadata: its root is not an EntityDescriptor or EntitiesDescriptor")
	ErrNoIDPDescriptor   = errors.New("the metadata has no SAML 2.0 IDPSSODescriptor: it does not describe an identity provider")
	ErrMultipleIdPs      = errors.New("the metadata describes several identity providers; give the metadata of the one to use")
	ErrNoEntityID        = errors.New("the identity provider has no entityID")
	ErrNoRedirectBinding = errors.New("the identity provider has no SingleSignOnService with the HTTP-Redirect binding")
	ErrInsecureSSOURL    = errors.New("the identity provider's HTTP-Redirect sign-in URL is not https")
	ErrNoSigningKey      = errors.New("the identity provider publishes no signing certificate")
	ErrBadCertificate    = errors.New("a signing certificate in the metadata is not valid")
)

// MultipleIdPsError lists the identity providers of an aggregate, so that the admin can pick one.
type MultipleIdPsError struct{ EntityIDs []string }

func (e *MultipleIdPsError) Error() string {
	return fmt.Sprintf("%v: %s", ErrMultipleIdPs, strings.Join(e.EntityIDs, ", "))
}
func (e *MultipleIdPsError) Unwrap() error { return ErrMultipleIdPs }

// IdP is what the metadata tells us about an identity provider.
type IdP struct {
	EntityID string
	// SSOURL is the Location of the HTTP-Redirect SingleSignOnService.
	SSOURL string
	// Certificates are the signing certificates (KeyDescriptor use="signing" or without use), in
	// document order without duplicates.
	Certificates []*x509.Certificate
	// NameIDFormats are the formats the IdP can send.
	NameIDFormats []string
	// Attributes are the names (and friendly names) of the attributes the IdP advertises.
	Attributes []string
}

// Parse reads an IdP metadata document of at most maxBytes (0: DefaultMaxBytes).
//
// An EntitiesDescriptor is accepted when exactly one of its entities is an identity provider, which
// is then taken; with several, the error lists their entity ids and the admin gives the metadata of
// the one to use.
func Parse(data []byte, maxBytes int) (*IdP, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if len(data) > maxBytes {
		return nil, ErrTooLarge
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return nil, ErrNotUTF8
	}
	if hasDeclarations(data) {
		return nil, ErrDTD
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{CharsetReader: utf8Only, MaxDepth: maxDepth}
	if err := doc.ReadFromBytes(data); err != nil {
		if errors.Is(err, ErrNotUTF8) {
			return nil, ErrNotUTF8
		}
		return nil, ErrMalformed
	}
	// The raw check above should have caught every declaration; the parser's view is checked too, so
	// that no spelling the raw check missed gets through.
	if hasDirective(&doc.Element) {
		return nil, ErrDTD
	}
	root := doc.Root()
	if root == nil {
		return nil, ErrMalformed
	}
	var entities []*etree.Element
	switch {
	case is(root, NSMetadata, "EntityDescriptor"):
		entities = []*etree.Element{root}
	case is(root, NSMetadata, "EntitiesDescriptor"):
		entities = collectEntities(root, nil)
	default:
		return nil, ErrNotMetadata
	}
	var idps []*etree.Element
	var descs []*etree.Element
	for _, e := range entities {
		if d := idpDescriptor(e); d != nil {
			idps = append(idps, e)
			descs = append(descs, d)
		}
	}
	switch len(idps) {
	case 0:
		return nil, ErrNoIDPDescriptor
	case 1:
	default:
		ids := make([]string, 0, len(idps))
		for _, e := range idps {
			ids = append(ids, strings.TrimSpace(attr(e, "entityID")))
		}
		return nil, &MultipleIdPsError{EntityIDs: ids}
	}
	return readIdP(idps[0], descs[0])
}

func readIdP(entity, desc *etree.Element) (*IdP, error) {
	p := &IdP{EntityID: strings.TrimSpace(attr(entity, "entityID"))}
	if p.EntityID == "" {
		return nil, ErrNoEntityID
	}
	for _, sso := range children(desc, NSMetadata, "SingleSignOnService") {
		if strings.TrimSpace(attr(sso, "Binding")) == BindingRedirect {
			p.SSOURL = strings.TrimSpace(attr(sso, "Location"))
			break
		}
	}
	if p.SSOURL == "" {
		return nil, ErrNoRedirectBinding
	}
	if _, err := secureurl.Check(p.SSOURL); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInsecureSSOURL, err)
	}
	seen := map[string]bool{}
	for _, kd := range children(desc, NSMetadata, "KeyDescriptor") {
		if use := strings.TrimSpace(attr(kd, "use")); use != "" && use != "signing" {
			continue
		}
		for _, ki := range children(kd, NSDSig, "KeyInfo") {
			for _, xd := range children(ki, NSDSig, "X509Data") {
				for _, xc := range children(xd, NSDSig, "X509Certificate") {
					c, err := certs.Parse(xc.Text())
					if err != nil {
						return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
					}
					if fp := certs.Fingerprint(c); !seen[fp] {
						seen[fp] = true
						p.Certificates = append(p.Certificates, c)
					}
				}
			}
		}
	}
	if len(p.Certificates) == 0 {
		return nil, ErrNoSigningKey
	}
	for _, f := range children(desc, NSMetadata, "NameIDFormat") {
		if v := strings.TrimSpace(f.Text()); v != "" {
			p.NameIDFormats = append(p.NameIDFormats, v)
		}
	}
	for _, a := range children(desc, NSAssertion, "Attribute") {
		for _, key := range []string{"Name", "FriendlyName"} {
			if v := strings.TrimSpace(attr(a, key)); v != "" {
				p.Attributes = append(p.Attributes, v)
			}
		}
	}
	return p, nil
}

// hasDeclarations reports whether the raw bytes hold any markup declaration: "<!" followed by
// anything but a comment or a CDATA section. That covers DOCTYPE, ENTITY, ELEMENT and ATTLIST in
// any letter case, before a parser sees them.
func hasDeclarations(data []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("<!"))
		if j < 0 {
			return false
		}
		rest := data[i+j+2:]
		if !bytes.HasPrefix(rest, []byte("--")) && !bytes.HasPrefix(rest, []byte("[CDATA[")) {
			return true
		}
		i += j + 2
	}
}

func hasDirective(e *etree.Element) bool {
	for _, t := range e.Child {
		switch c := t.(type) {
		case *etree.Directive:
			return true
		case *etree.Element:
			if hasDirective(c) {
				return true
			}
		}
	}
	return false
}

func utf8Only(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8":
		return input, nil
	}
	return nil, ErrNotUTF8
}

func collectEntities(e *etree.Element, out []*etree.Element) []*etree.Element {
	for _, c := range e.ChildElements() {
		if len(out) >= maxEntities {
			return out
		}
		switch {
		case is(c, NSMetadata, "EntityDescriptor"):
			out = append(out, c)
		case is(c, NSMetadata, "EntitiesDescriptor"):
			out = collectEntities(c, out)
		}
	}
	return out
}

// idpDescriptor returns the entity's IDPSSODescriptor that supports SAML 2.0, or nil.
func idpDescriptor(entity *etree.Element) *etree.Element {
	for _, d := range children(entity, NSMetadata, "IDPSSODescriptor") {
		for _, p := range strings.Fields(attr(d, "protocolSupportEnumeration")) {
			if p == ProtocolSAML2 {
				return d
			}
		}
	}
	return nil
}

func is(e *etree.Element, ns, local string) bool {
	return e.Tag == local && e.NamespaceURI() == ns
}

func children(e *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// attr returns the value of an attribute without a namespace prefix.
func attr(e *etree.Element, key string) string {
	for _, a := range e.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value
		}
	}
	return ""
}
