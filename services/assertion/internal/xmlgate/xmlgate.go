// Package xmlgate is the first thing a SAML message meets (rule 1 of the assertion service). It
// decodes the posted base64, enforces caps on the encoded and decoded size, the nesting depth, the
// element count and the attributes per element, accepts UTF-8 only, refuses a DOCTYPE, any entity
// declaration or reference other than the five predefined entities and character references, any
// processing instruction other than the XML declaration, duplicate attributes (by name and by
// namespace), undeclared namespace prefixes and anything else that is not well-formed, and only then
// hands on an etree document.
//
// It must never inflate POST data, never expand a user-defined entity, and never hand on a document
// it has not checked whole. Comments are dropped while parsing: signatures use exclusive
// canonicalization without comments, so a comment can never be signed content, and text that a
// comment splits (<NameID>admin@example.com<!---->.evil.com</NameID>) is kept as one run of text,
// exactly as the signature covers it.
//
// The gate parses by itself rather than through encoding/xml: encoding/xml and etree together cost
// more than the whole validation budget of the service (see the README's performance table). The
// fuzz test holds this parser against encoding/xml: whatever the gate accepts, encoding/xml must
// parse to the same tree.
package xmlgate

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
)

// Limits bound what the gate accepts.
type Limits struct {
	// MaxEncoded bounds the base64 form as posted, in bytes.
	MaxEncoded int
	// MaxDecoded bounds the XML document, in bytes.
	MaxDecoded int
	// MaxDepth bounds element nesting.
	MaxDepth int
	// MaxElements bounds the number of elements. goxmldsig refuses to traverse more than 1000
	// elements below a signed element, so more could never verify anyway.
	MaxElements int
	// MaxAttributes bounds the attributes of one element, namespace declarations included.
	MaxAttributes int
}

// Default are the limits of the service: a response with a thousand group values fits.
var Default = Limits{MaxEncoded: 400 << 10, MaxDecoded: 256 << 10, MaxDepth: 32, MaxElements: 1000, MaxAttributes: 32}

// Namespaces that are bound without a declaration, or never bindable.
const (
	xmlNamespace   = "http://www.w3.org/XML/1998/namespace"
	xmlnsNamespace = "http://www.w3.org/2000/xmlns/"
)

func malformed(check, got string) *failure.Error {
	return failure.New(failure.MalformedXML, failure.IdPAdmin, check, "well-formed XML", got)
}

func tooLarge(check string, limit, got int) *failure.Error {
	return failure.New(failure.ResponseTooLarge, failure.IdPAdmin, check, "at most "+strconv.Itoa(limit), strconv.Itoa(got))
}

// DecodeBase64 decodes a posted SAMLResponse: base64 with or without padding and line breaks. It never
// inflates: the HTTP-POST binding sends the XML itself.
func DecodeBase64(encoded string, lim Limits) ([]byte, error) {
	if len(encoded) > lim.MaxEncoded {
		return nil, tooLarge("size of the posted SAMLResponse in bytes", lim.MaxEncoded, len(encoded))
	}
	// The decoder skips line breaks itself; other white space (rare) needs a cleaned copy.
	body := encoded
	if strings.IndexByte(body, ' ') >= 0 || strings.IndexByte(body, '\t') >= 0 {
		body = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
	}
	body = strings.TrimRight(body, "=\r\n")
	out, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil {
		got := "not base64"
		var at base64.CorruptInputError
		if errors.As(err, &at) {
			got = fmt.Sprintf("a character that is not base64 near byte %d", int64(at))
		}
		return nil, malformed("base64 encoding of the SAMLResponse", got)
	}
	n := len(out)
	if n > lim.MaxDecoded {
		return nil, tooLarge("size of the decoded SAMLResponse in bytes", lim.MaxDecoded, n)
	}
	if first := bytes.TrimLeft(bytes.TrimPrefix(out, bom), " \t\r\n"); len(first) == 0 || first[0] != '<' {
		return nil, malformed("content of the SAMLResponse", "not an XML document (POST data is never inflated)")
	}
	return out, nil
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// Parse checks doc against every rule of the gate and returns it as an etree document.
func Parse(doc []byte, lim Limits) (*etree.Document, error) {
	return ParseIn(doc, lim, nil)
}

// ParseIn is Parse for a fragment whose namespace prefixes were declared by its context, such as a
// decrypted assertion: inScope maps prefixes ("" for the default namespace) to namespaces. The root
// element receives the declarations it uses, so that it stands alone.
func ParseIn(doc []byte, lim Limits, inScope map[string]string) (*etree.Document, error) {
	if len(doc) > lim.MaxDecoded {
		return nil, tooLarge("size of the XML document in bytes", lim.MaxDecoded, len(doc))
	}
	doc = bytes.TrimPrefix(doc, bom)
	if err := checkChars(doc); err != nil {
		return nil, err
	}
	p := &parser{b: doc, lim: lim, out: etree.NewDocument()}
	p.scopes = append(p.scopes, scope{})
	for prefix, ns := range inScope {
		p.scopes[0].bind(prefix, ns)
	}
	p.inherited = inScope
	if err := p.document(); err != nil {
		return nil, err
	}
	return p.out, nil
}

// checkChars refuses bytes that are not XML characters: invalid UTF-8, C0 controls other than tab,
// line feed and carriage return, and U+FFFE and U+FFFF.
func checkChars(b []byte) error {
	if !utf8.Valid(b) {
		return malformed("character encoding", "not UTF-8")
	}
	for i, c := range b {
		if c >= 0x20 && c != 0xEF {
			continue
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return malformed("characters", fmt.Sprintf("control character 0x%02x at byte %d", c, i))
		}
		if c == 0xEF && i+2 < len(b) && b[i+1] == 0xBF && (b[i+2] == 0xBE || b[i+2] == 0xBF) {
			return malformed("characters", fmt.Sprintf("non-character U+FFF%X at byte %d", b[i+2]&0x0F, i))
		}
	}
	return nil
}

// scope holds the namespace bindings that one element declares.
type scope struct {
	prefixes []string
	uris     []string
}

func (s *scope) bind(prefix, uri string) {
	s.prefixes = append(s.prefixes, prefix)
	s.uris = append(s.uris, uri)
}

type parser struct {
	b         []byte
	pos       int
	lim       Limits
	out       *etree.Document
	stack     []*etree.Element
	names     []string // raw qualified names of the open elements
	scopes    []scope  // scopes[0] is the context; scopes[i+1] belongs to stack[i]
	inherited map[string]string
	elements  int
	text      []byte // text of the current element not yet added, across dropped comments
	hasText   bool
	attrs     []rawAttr // scratch
}

type rawAttr struct {
	name, prefix, local, value string
}

func (p *parser) errAt(check, what string) *failure.Error {
	return malformed(check, fmt.Sprintf("%s at byte %d", what, p.pos))
}

func (p *parser) document() error {
	if bytes.HasPrefix(p.b, []byte("<?xml")) && len(p.b) > 5 && isSpace(p.b[5]) {
		if err := p.xmlDecl(); err != nil {
			return err
		}
	}
	root := false
	for {
		p.skipSpace()
		if p.pos >= len(p.b) {
			break
		}
		switch {
		case p.has("<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case p.has("<?"):
			return p.errAt("processing instructions", "a processing instruction")
		case p.has("<!DOCTYPE"):
			return p.errAt("document type declaration", "a DOCTYPE")
		case p.has("<!"):
			return p.errAt("markup declarations", "a markup declaration")
		case p.b[p.pos] == '<' && !root:
			if err := p.element(); err != nil {
				return err
			}
			root = true
		default:
			return p.errAt("content outside the root element", "unexpected content")
		}
	}
	if !root {
		return malformed("root element", "none")
	}
	return nil
}

func (p *parser) has(s string) bool { return bytes.HasPrefix(p.b[p.pos:], []byte(s)) }

func (p *parser) skipSpace() {
	for p.pos < len(p.b) && isSpace(p.b[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// xmlDecl reads <?xml version="1.0" encoding="UTF-8" standalone="yes"?>.
func (p *parser) xmlDecl() error {
	end := bytes.Index(p.b, []byte("?>"))
	if end < 0 {
		return p.errAt("XML declaration", "an unterminated XML declaration")
	}
	decl := string(p.b[5:end])
	p.pos = end + 2
	fields := map[string]string{}
	order := []string{}
	rest := strings.TrimSpace(decl)
	for rest != "" {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return malformed("XML declaration", decl)
		}
		name = strings.TrimSpace(name)
		after = strings.TrimLeft(after, " \t\r\n")
		if after == "" || (after[0] != '"' && after[0] != '\'') {
			return malformed("XML declaration", decl)
		}
		q := after[0]
		closing := strings.IndexByte(after[1:], q)
		if closing < 0 {
			return malformed("XML declaration", decl)
		}
		if _, dup := fields[name]; dup {
			return malformed("XML declaration", decl)
		}
		fields[name] = after[1 : 1+closing]
		order = append(order, name)
		rest = strings.TrimLeft(after[2+closing:], " \t\r\n")
	}
	if len(order) == 0 || order[0] != "version" || fields["version"] != "1.0" {
		return malformed("XML version", "version "+fields["version"])
	}
	for _, name := range order[1:] {
		switch name {
		case "encoding":
			if !strings.EqualFold(fields[name], "UTF-8") {
				return failure.New(failure.MalformedXML, failure.IdPAdmin, "character encoding", "UTF-8", fields[name])
			}
		case "standalone":
			if v := fields[name]; v != "yes" && v != "no" {
				return malformed("XML declaration", decl)
			}
		default:
			return malformed("XML declaration", decl)
		}
	}
	return nil
}

// comment skips <!-- ... -->, which must not contain "--".
func (p *parser) comment() error {
	start := p.pos + 4
	end := bytes.Index(p.b[start:], []byte("--"))
	if end < 0 || start+end+2 >= len(p.b) || p.b[start+end+2] != '>' {
		return p.errAt("comment", "an unterminated comment or -- inside a comment")
	}
	p.pos = start + end + 3
	return nil
}

// name reads an ASCII qualified name, NCName or NCName:NCName, and returns it whole with the index
// of its colon (-1 when it has none).
func (p *parser) name() (string, int, bool) {
	start := p.pos
	colon := -1
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch nameChars[c] {
		case nameStart:
		case nameRest:
			if p.pos == start || p.pos == start+colon+1 {
				return "", 0, false
			}
		case nameColon:
			if colon >= 0 || p.pos == start {
				return "", 0, false
			}
			colon = p.pos - start
		default:
			goto done
		}
		p.pos++
	}
done:
	if p.pos == start || p.pos == start+colon+1 {
		return "", 0, false
	}
	return intern(p.b[start:p.pos]), colon, true
}

// The classes of the ASCII characters that names may use.
const (
	nameNone = iota
	nameStart
	nameRest
	nameColon
)

var nameChars = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = nameStart, nameStart
	}
	t['_'] = nameStart
	for c := '0'; c <= '9'; c++ {
		t[c] = nameRest
	}
	t['-'], t['.'], t[':'] = nameRest, nameRest, nameColon
	return t
}()

// split returns the prefix and local part of a qualified name.
func split(q string, colon int) (string, string) {
	if colon < 0 {
		return "", q
	}
	return q[:colon], q[colon+1:]
}

func qname(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// lookup resolves a prefix in the open scopes; "xml" is always bound.
func (p *parser) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return xmlNamespace, true
	}
	for i := len(p.scopes) - 1; i >= 0; i-- {
		s := &p.scopes[i]
		for j := len(s.prefixes) - 1; j >= 0; j-- {
			if s.prefixes[j] == prefix {
				return s.uris[j], true
			}
		}
	}
	if prefix == "" {
		return "", true
	}
	return "", false
}

// element parses the root element and everything in it, without recursion.
func (p *parser) element() error {
	for {
		if p.pos >= len(p.b) {
			return p.errAt("end of the document", "unclosed elements")
		}
		if p.b[p.pos] != '<' {
			if err := p.charData(); err != nil {
				return err
			}
			continue
		}
		switch {
		case p.has("</"):
			done, err := p.endTag()
			if err != nil || done {
				return err
			}
		case p.has("<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case p.has("<![CDATA["):
			start := p.pos + 9
			end := bytes.Index(p.b[start:], []byte("]]>"))
			if end < 0 {
				return p.errAt("CDATA section", "an unterminated CDATA section")
			}
			p.appendText(p.b[start : start+end])
			p.pos = start + end + 3
		case p.has("<?"):
			return p.errAt("processing instructions", "a processing instruction")
		case p.has("<!"):
			return p.errAt("markup declarations", "a markup declaration")
		default:
			if err := p.startTag(); err == errRootClosed {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
}

func (p *parser) startTag() error {
	p.pos++ // '<'
	elName, elColon, ok := p.name()
	if !ok {
		return p.errAt("element name", "an invalid element name")
	}
	prefix, local := split(elName, elColon)
	p.elements++
	if p.elements > p.lim.MaxElements {
		return tooLarge("number of elements", p.lim.MaxElements, p.elements)
	}
	if len(p.stack)+1 > p.lim.MaxDepth {
		return tooLarge("element nesting depth", p.lim.MaxDepth, len(p.stack)+1)
	}
	p.attrs = p.attrs[:0]
	var sc scope
	selfClosing := false
	for {
		hadSpace := p.pos < len(p.b) && isSpace(p.b[p.pos])
		p.skipSpace()
		if p.pos >= len(p.b) {
			return p.errAt("start tag", "an unterminated start tag")
		}
		if p.b[p.pos] == '>' {
			p.pos++
			break
		}
		if p.has("/>") {
			p.pos += 2
			selfClosing = true
			break
		}
		if !hadSpace {
			return p.errAt("attributes", "attributes not separated by white space")
		}
		an, colon, ok := p.name()
		if !ok {
			return p.errAt("attribute name", "an invalid attribute name")
		}
		ap, al := split(an, colon)
		p.skipSpace()
		if p.pos >= len(p.b) || p.b[p.pos] != '=' {
			return p.errAt("attribute", "an attribute without a value")
		}
		p.pos++
		p.skipSpace()
		value, err := p.attrValue()
		if err != nil {
			return err
		}
		if len(p.attrs) >= p.lim.MaxAttributes {
			return tooLarge("attributes of one element", p.lim.MaxAttributes, len(p.attrs)+1)
		}
		for _, a := range p.attrs {
			if a.prefix == ap && a.local == al {
				return failure.New(failure.MalformedXML, failure.IdPAdmin, "duplicate attributes", "each attribute once",
					qname(ap, al)+" twice on "+qname(prefix, local))
			}
		}
		p.attrs = append(p.attrs, rawAttr{name: an, prefix: ap, local: al, value: value})
		switch {
		case ap == "xmlns":
			if err := checkBinding(al, value); err != nil {
				return err
			}
			sc.bind(al, value)
		case ap == "" && al == "xmlns":
			if value == xmlNamespace || value == xmlnsNamespace || strings.ContainsAny(value, " \t\r\n") {
				return malformed("namespace declaration", "the default namespace bound to "+value)
			}
			sc.bind("", value)
		}
	}
	p.scopes = append(p.scopes, sc)
	if _, ok := p.lookup(prefix); !ok {
		return malformed("namespace prefixes", "undeclared prefix "+prefix+" on "+qname(prefix, local))
	}
	// Attributes whose expanded names collide (two prefixes of one namespace) are duplicates too.
	// And one local name stands once per element, qualified or not: the engine reads SAML's
	// unqualified attributes only (see Attr), while goxmldsig finds the signed element's ID by local
	// name alone, so ID="a" beside x:ID="b" would let the two read different IDs.
	for i, a := range p.attrs {
		if a.prefix == "xmlns" || (a.prefix == "" && a.local == "xmlns") {
			continue
		}
		for _, b := range p.attrs[:i] {
			if b.local == a.local && b.prefix != "xmlns" && (a.prefix == "") != (b.prefix == "") {
				return failure.New(failure.MalformedXML, failure.IdPAdmin, "duplicate attributes", "each attribute name once",
					qname(b.prefix, b.local)+" and "+qname(a.prefix, a.local)+" on "+qname(prefix, local))
			}
		}
		if a.prefix == "" {
			continue
		}
		ns, ok := p.lookup(a.prefix)
		if !ok {
			return malformed("namespace prefixes", "undeclared prefix "+a.prefix+" on attribute "+qname(a.prefix, a.local))
		}
		for _, b := range p.attrs[:i] {
			if b.local != a.local || b.prefix == "" || b.prefix == "xmlns" {
				continue
			}
			if other, _ := p.lookup(b.prefix); other == ns {
				return failure.New(failure.MalformedXML, failure.IdPAdmin, "duplicate attributes", "each attribute once",
					"{"+ns+"}"+a.local+" twice on "+qname(prefix, local))
			}
		}
	}

	p.flushText()
	var el *etree.Element
	if len(p.stack) == 0 {
		el = p.out.CreateElement(elName)
	} else {
		el = p.stack[len(p.stack)-1].CreateElement(elName)
	}
	if len(p.attrs) > 0 {
		el.Attr = make([]etree.Attr, 0, len(p.attrs))
	}
	for _, a := range p.attrs {
		el.CreateAttr(a.name, a.value)
	}
	if len(p.stack) == 0 && p.inherited != nil {
		p.declareInherited(el)
	}
	if selfClosing {
		p.scopes = p.scopes[:len(p.scopes)-1]
		if len(p.stack) == 0 {
			return errRootClosed
		}
		return nil
	}
	p.stack = append(p.stack, el)
	p.names = append(p.names, elName)
	return nil
}

// declareInherited puts on the root of a fragment the context's declarations it does not make
// itself, so that the fragment reads the same once detached from its context.
func (p *parser) declareInherited(el *etree.Element) {
	own := p.scopes[len(p.scopes)-1]
	for prefix, ns := range p.inherited {
		declared := false
		for _, q := range own.prefixes {
			if q == prefix {
				declared = true
				break
			}
		}
		if declared {
			continue
		}
		if prefix == "" {
			el.CreateAttr("xmlns", ns)
		} else {
			el.CreateAttr("xmlns:"+prefix, ns)
		}
	}
}

// errRootClosed ends parsing at a self-closing root element; element turns it into success.
var errRootClosed = errors.New("root element closed")

func checkBinding(prefix, ns string) error {
	switch {
	case strings.ContainsAny(ns, " \t\r\n"):
		// A namespace name is a URI, which has no white space; refusing it also spares the question
		// of how a parser normalizes it.
		return malformed("namespace declaration", "white space in the namespace name of prefix "+prefix)
	case prefix == "xmlns":
		return malformed("namespace declaration", "the xmlns prefix declared")
	case prefix == "xml" && ns != xmlNamespace:
		return malformed("namespace declaration", "the xml prefix bound to "+ns)
	case prefix != "xml" && (ns == xmlNamespace || ns == xmlnsNamespace):
		return malformed("namespace declaration", "prefix "+prefix+" bound to "+ns)
	case ns == "":
		return malformed("namespace declaration", "prefix "+prefix+" undeclared")
	}
	return nil
}

func (p *parser) endTag() (done bool, err error) {
	p.pos += 2
	if n := len(p.names); n > 0 {
		// The usual case: the end tag names the open element, followed by '>'.
		top := p.names[n-1]
		if end := p.pos + len(top); end < len(p.b) && p.b[end] == '>' && string(p.b[p.pos:end]) == top {
			p.pos = end + 1
			p.flushText()
			p.stack = p.stack[:n-1]
			p.names = p.names[:n-1]
			p.scopes = p.scopes[:len(p.scopes)-1]
			return n == 1, nil
		}
	}
	name, _, ok := p.name()
	if !ok {
		return false, p.errAt("end tag", "an invalid end tag")
	}
	p.skipSpace()
	if p.pos >= len(p.b) || p.b[p.pos] != '>' {
		return false, p.errAt("end tag", "an unterminated end tag")
	}
	p.pos++
	if len(p.names) == 0 || p.names[len(p.names)-1] != name {
		return false, p.errAt("end tag", "</"+name+"> that closes no open element")
	}
	p.flushText()
	p.stack = p.stack[:len(p.stack)-1]
	p.names = p.names[:len(p.names)-1]
	p.scopes = p.scopes[:len(p.scopes)-1]
	return len(p.stack) == 0, nil
}

// charData reads text up to the next '<', decoding references and normalizing line ends.
func (p *parser) charData() error {
	if len(p.stack) == 0 {
		return p.errAt("content outside the root element", "text")
	}
	start := p.pos
	end := bytes.IndexByte(p.b[start:], '<')
	if end < 0 {
		end = len(p.b)
	} else {
		end += start
	}
	raw := p.b[start:end]
	if bytes.Contains(raw, []byte("]]>")) {
		return p.errAt("text", "]]> outside a CDATA section")
	}
	p.pos = end
	if bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		p.appendText(raw)
		return nil
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '&':
			n, r, err := p.reference(raw[i:], start+i)
			if err != nil {
				return err
			}
			p.text = utf8.AppendRune(p.text, r)
			i += n - 1
		case '\r':
			p.text = append(p.text, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		default:
			p.text = append(p.text, c)
		}
	}
	p.hasText = true
	return nil
}

func (p *parser) appendText(b []byte) {
	if bytes.IndexByte(b, '\r') >= 0 {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	}
	p.text = append(p.text, b...)
	p.hasText = true
}

func (p *parser) flushText() {
	if !p.hasText || len(p.stack) == 0 {
		p.text, p.hasText = p.text[:0], false
		return
	}
	if len(p.text) > 0 {
		p.stack[len(p.stack)-1].CreateText(internSpace(p.text))
	}
	p.text, p.hasText = p.text[:0], false
}

// attrValue reads a quoted attribute value, decoding references and normalizing white space as XML
// 1.0 requires (each literal tab, line end or carriage return becomes a space).
func (p *parser) attrValue() (string, error) {
	if p.pos >= len(p.b) || (p.b[p.pos] != '"' && p.b[p.pos] != '\'') {
		return "", p.errAt("attribute value", "an unquoted attribute value")
	}
	q := p.b[p.pos]
	start := p.pos + 1
	end := bytes.IndexByte(p.b[start:], q)
	if end < 0 {
		return "", p.errAt("attribute value", "an unterminated attribute value")
	}
	raw := p.b[start : start+end]
	p.pos = start + end + 1
	if bytes.IndexByte(raw, '<') >= 0 {
		return "", malformed("attribute value", fmt.Sprintf("< in an attribute value at byte %d", start))
	}
	if bytes.IndexByte(raw, '&') < 0 && bytes.IndexAny(raw, "\t\r\n") < 0 {
		return string(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '&':
			n, r, err := p.reference(raw[i:], start+i)
			if err != nil {
				return "", err
			}
			out = utf8.AppendRune(out, r)
			i += n - 1
		case '\r':
			out = append(out, ' ')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case '\t', '\n':
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

// reference decodes the reference at the start of b: one of the five predefined entities or a
// character reference. It returns the bytes consumed.
func (p *parser) reference(b []byte, at int) (int, rune, error) {
	semi := bytes.IndexByte(b, ';')
	if semi < 2 || semi > 12 {
		return 0, 0, malformed("entity references", fmt.Sprintf("an unterminated reference at byte %d", at))
	}
	ref := string(b[1:semi])
	switch ref {
	case "lt":
		return semi + 1, '<', nil
	case "gt":
		return semi + 1, '>', nil
	case "amp":
		return semi + 1, '&', nil
	case "apos":
		return semi + 1, '\'', nil
	case "quot":
		return semi + 1, '"', nil
	}
	if ref[0] != '#' {
		return 0, 0, malformed("entity references", "the undeclared entity &"+ref+"; (entities are never expanded)")
	}
	var n uint64
	var err error
	if strings.HasPrefix(ref, "#x") {
		n, err = strconv.ParseUint(ref[2:], 16, 32)
	} else {
		n, err = strconv.ParseUint(ref[1:], 10, 32)
	}
	r := rune(n)
	if err != nil || !isXMLChar(r) || strings.ContainsAny(ref[1:], "+-") {
		return 0, 0, malformed("character references", "&"+ref+"; is not a character")
	}
	return semi + 1, r, nil
}

func isXMLChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// Attr returns el's attribute name in no namespace, or nil. The SAML, XML-DSig and XML-Enc schemas
// define their attributes unqualified; etree's SelectAttr also matches a namespaced attribute of the
// same local name (ext:Recipient for Recipient), which is another attribute altogether.
func Attr(el *etree.Element, name string) *etree.Attr {
	for i := range el.Attr {
		if a := &el.Attr[i]; a.Space == "" && a.Key == name {
			return a
		}
	}
	return nil
}

// AttrValue is Attr's value, or "" when el has no such attribute.
func AttrValue(el *etree.Element, name string) string {
	if a := Attr(el, name); a != nil {
		return a.Value
	}
	return ""
}
