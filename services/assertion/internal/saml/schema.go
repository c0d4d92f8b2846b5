package saml

import (
	"strings"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/samlsig"
)

// The content models of the two elements whose children the engine reads, as the SAML 2.0 schemas
// define them: ResponseType (saml-schema-protocol-2.0.xsd) and AssertionType
// (saml-schema-assertion-2.0.xsd). They are checked on the message as posted, before any signature
// is verified, so a check here can only refuse: it reads no value, only which elements stand where.
//
// Elements are told apart by namespace URI and local name, never by prefix: a saml prefix bound to
// another namespace names another element. What the schema leaves open below these two levels
// (the content of Extensions, Advice, a statement) is not checked here; the checks that read it
// do so from the verified element.

// particle is one place of a sequence: one element, or a choice of several (the statements).
type particle struct {
	ns       string
	locals   []string
	optional bool // minOccurs="0"
	repeated bool // maxOccurs="unbounded"
}

func (p particle) matches(el *etree.Element, ns string) bool {
	if ns != p.ns {
		return false
	}
	for _, l := range p.locals {
		if el.Tag == l {
			return true
		}
	}
	return false
}

func (p particle) String() string {
	prefix := prefixOf[p.ns] + ":"
	return prefix + strings.Join(p.locals, " or "+prefix)
}

// contentModel is the sequence of an element's children.
type contentModel struct {
	owner     string // "Response", "Assertion"
	particles []particle
	// wanted and signatureAt say the model in an admin's words.
	wanted, signatureAt string
	// issuerOptional: without an Issuer, the signature is the first child.
	issuerOptional bool
}

// Exactly one assertion is required of a Response, and counted by checkStructure; the model is the
// schema's, which allows any number.
var responseContent = &contentModel{
	owner: "Response",
	particles: []particle{
		{ns: assertionNS, locals: []string{"Issuer"}, optional: true},
		{ns: samlsig.Namespace, locals: []string{"Signature"}, optional: true},
		{ns: protocolNS, locals: []string{"Extensions"}, optional: true},
		{ns: protocolNS, locals: []string{"Status"}},
		{ns: assertionNS, locals: []string{"Assertion", "EncryptedAssertion"}, optional: true, repeated: true},
	},
	wanted:         "saml:Issuer?, ds:Signature?, samlp:Extensions?, samlp:Status, then saml:Assertion or saml:EncryptedAssertion",
	signatureAt:    "right after the saml:Issuer of the Response (first, when it has none)",
	issuerOptional: true,
}

var assertionContent = &contentModel{
	owner: "Assertion",
	particles: []particle{
		{ns: assertionNS, locals: []string{"Issuer"}},
		{ns: samlsig.Namespace, locals: []string{"Signature"}, optional: true},
		{ns: assertionNS, locals: []string{"Subject"}, optional: true},
		{ns: assertionNS, locals: []string{"Conditions"}, optional: true},
		{ns: assertionNS, locals: []string{"Advice"}, optional: true},
		{ns: assertionNS, locals: []string{"Statement", "AuthnStatement", "AuthzDecisionStatement", "AttributeStatement"}, optional: true, repeated: true},
	},
	wanted: "saml:Issuer, ds:Signature?, saml:Subject?, saml:Conditions?, saml:Advice?, " +
		"then any saml:AuthnStatement, saml:AttributeStatement, saml:AuthzDecisionStatement or saml:Statement",
	signatureAt: "right after the saml:Issuer of the Assertion",
}

// check refuses el unless its children follow m: no text, no element that m does not list, in m's
// order, each as often as m allows; and a ds:Signature right after the Issuer.
func (m *contentModel) check(el *etree.Element) error {
	if err := m.checkSignaturePlace(el); err != nil {
		return err
	}
	var prev *etree.Element
	p, n := 0, 0 // the particle reached, and how many children it has matched
	for _, tok := range el.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			if cd, ok := tok.(*etree.CharData); ok && strings.Trim(cd.Data, " \t\r\n") != "" {
				return failure.New(failure.MalformedXML, failure.IdPAdmin, "text in the "+m.owner, "elements only", strings.TrimSpace(cd.Data))
			}
			continue
		}
		ns := c.NamespaceURI()
		q := -1
		for i := p; i < len(m.particles); i++ {
			if m.particles[i].matches(c, ns) {
				q = i
				break
			}
		}
		if q == p && n > 0 && !m.particles[p].repeated {
			q = -1 // a second one of an element that stands once
		}
		if q < 0 {
			got := describe(c) + " as the first child"
			if prev != nil {
				got = describe(c) + " after " + describe(prev)
			}
			return failure.New(failure.MalformedXML, failure.IdPAdmin, "children of the "+m.owner, m.wanted, got)
		}
		if err := m.skip(p, n, q, c); err != nil {
			return err
		}
		if q != p {
			p, n = q, 0
		}
		n++
		prev = c
	}
	return m.skip(p, n, len(m.particles), nil)
}

// skip refuses to leave particles p (matched n times) up to q behind when one of them is required
// and unmatched; next is the child that stands where they should have been, nil at the end.
func (m *contentModel) skip(p, n, q int, next *etree.Element) error {
	for i := p; i < q; i++ {
		if m.particles[i].optional || (i == p && n > 0) {
			continue
		}
		got := "no " + m.particles[i].String()
		if next != nil {
			got += " before " + describe(next)
		}
		return failure.New(failure.MalformedXML, failure.IdPAdmin, "children of the "+m.owner, m.wanted, got)
	}
	return nil
}

// checkSignaturePlace refuses a ds:Signature child of el that does not stand right after el's
// Issuer (or first, in a Response without one), as the schema puts it.
func (m *contentModel) checkSignaturePlace(el *etree.Element) error {
	var prev *etree.Element
	i := 0
	for _, tok := range el.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		if samlsig.IsDS(c, "Signature") {
			afterIssuer := i == 1 && is(prev, assertionNS, "Issuer")
			firstWithoutIssuer := i == 0 && m.issuerOptional && firstChild(el, assertionNS, "Issuer") == nil
			if !afterIssuer && !firstWithoutIssuer {
				got := "as the first child"
				if prev != nil {
					got = "after " + describe(prev)
				}
				return failure.New(failure.BadSignature, failure.IdPAdmin, "place of the ds:Signature in the "+m.owner, m.signatureAt, got)
			}
		}
		prev = c
		i++
	}
	return nil
}

// prefixOf is the usual prefix of each namespace the engine reads, as admins read them in the specs.
var prefixOf = map[string]string{protocolNS: "samlp", assertionNS: "saml", samlsig.Namespace: "ds"}

// describe names an element so that an admin can act on it: with the usual prefix of its namespace
// when that is one the engine reads, otherwise by its local name and namespace URI, whatever prefix
// the message used.
func describe(el *etree.Element) string {
	ns := el.NamespaceURI()
	switch prefix, known := prefixOf[ns]; {
	case known:
		return prefix + ":" + el.Tag
	case ns == "":
		return el.Tag + " in no namespace"
	default:
		return el.Tag + " in namespace " + ns
	}
}
