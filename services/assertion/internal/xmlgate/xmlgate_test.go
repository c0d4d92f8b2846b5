package xmlgate_test

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

func reasonOf(t *testing.T, err error) failure.Reason {
	t.Helper()
	var f *failure.Error
	if !errors.As(err, &f) {
		t.Fatalf("error %v is not a failure", err)
	}
	if f.Check == "" || f.FixBy != failure.IdPAdmin {
		t.Fatalf("failure %+v does not name its check and who fixes it", f)
	}
	return f.Reason
}

func TestTheGateRefuses(t *testing.T) {
	t.Parallel()
	small := xmlgate.Limits{MaxEncoded: 1 << 20, MaxDecoded: 1 << 20, MaxDepth: 4, MaxElements: 10, MaxAttributes: 4}
	for _, tc := range []struct {
		name   string
		doc    string
		reason failure.Reason
	}{
		{"a DOCTYPE", `<!DOCTYPE r><r/>`, failure.MalformedXML},
		{"an entity declaration", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>`, failure.MalformedXML},
		{"a billion-laughs document", `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>`, failure.MalformedXML},
		{"an external entity", `<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>`, failure.MalformedXML},
		{"an undeclared entity reference", `<r>&nbsp;</r>`, failure.MalformedXML},
		{"a processing instruction", `<?xml-stylesheet href="x"?><r/>`, failure.MalformedXML},
		{"a processing instruction inside the root", `<r><?php echo 1 ?></r>`, failure.MalformedXML},
		{"a processing instruction after the root", `<r/><?pi x?>`, failure.MalformedXML},
		{"a markup declaration inside the root", `<r><!ELEMENT r ANY></r>`, failure.MalformedXML},
		{"XML 1.1", `<?xml version="1.1"?><r/>`, failure.MalformedXML},
		{"an encoding other than UTF-8", `<?xml version="1.0" encoding="ISO-8859-1"?><r/>`, failure.MalformedXML},
		{"bytes that are not UTF-8", "<r>\xff\xfe</r>", failure.MalformedXML},
		{"a UTF-16 document", "\xff\xfe<\x00r\x00/\x00>\x00", failure.MalformedXML},
		{"a control character", "<r>\x01</r>", failure.MalformedXML},
		{"a reference to a character XML forbids", `<r>&#0;</r>`, failure.MalformedXML},
		{"a reference to a surrogate", `<r>&#xD800;</r>`, failure.MalformedXML},
		{"a duplicate attribute", `<r a="1" a="2"/>`, failure.MalformedXML},
		{"a duplicate attribute under two prefixes of one namespace", `<r xmlns:p="urn:x" xmlns:q="urn:x" p:a="1" q:a="2"/>`, failure.MalformedXML},
		{"one local name qualified and unqualified on one element", `<r xmlns:x="urn:x" x:ID="1" ID="2"/>`, failure.MalformedXML},
		{"one local name unqualified after qualified", `<r xmlns:x="urn:x" ID="2" x:ID="1"/>`, failure.MalformedXML},
		{"an undeclared element prefix", `<p:r/>`, failure.MalformedXML},
		{"an undeclared attribute prefix", `<r p:a="1"/>`, failure.MalformedXML},
		{"the xml prefix bound elsewhere", `<r xmlns:xml="urn:x"/>`, failure.MalformedXML},
		{"white space in a namespace name", "<r xmlns:p=\"urn:a\nb\"/>", failure.MalformedXML},
		{"white space in the default namespace name", `<r xmlns=" urn:a"/>`, failure.MalformedXML},
		{"the xmlns prefix declared", `<r xmlns:xmlns="urn:x"/>`, failure.MalformedXML},
		{"an end tag that does not match", `<r><a></b></r>`, failure.MalformedXML},
		{"an unclosed element", `<r><a></r>`, failure.MalformedXML},
		{"an unterminated document", `<r><a>`, failure.MalformedXML},
		{"text after the root", `<r/>text`, failure.MalformedXML},
		{"two roots", `<r/><r/>`, failure.MalformedXML},
		{"no root", `  `, failure.MalformedXML},
		{"]]> in text", `<r>a]]>b</r>`, failure.MalformedXML},
		{"-- in a comment", `<r><!-- a -- b --></r>`, failure.MalformedXML},
		{"an unquoted attribute", `<r a=1/>`, failure.MalformedXML},
		{"< in an attribute value", `<r a="<"/>`, failure.MalformedXML},
		{"attributes without white space between them", `<r a="1"b="2"/>`, failure.MalformedXML},
		{"an element name starting with a digit", `<1r/>`, failure.MalformedXML},
		{"nesting deeper than the cap", `<a><b><c><d><e/></d></c></b></a>`, failure.ResponseTooLarge},
		{"more elements than the cap", `<r>` + strings.Repeat(`<a/>`, 10) + `</r>`, failure.ResponseTooLarge},
		{"more attributes than the cap", `<r a="1" b="2" c="3" d="4" e="5"/>`, failure.ResponseTooLarge},
	} {
		t.Run("the gate refuses "+tc.name, func(t *testing.T) {
			_, err := xmlgate.Parse([]byte(tc.doc), small)
			if got := reasonOf(t, err); got != tc.reason {
				t.Fatalf("reason %s, want %s (%v)", got, tc.reason, err)
			}
		})
	}
}

func TestTheGateAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		check     func(t *testing.T, root *etree.Element)
	}{
		{"a declaration, a BOM and a self-closing root", "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n<r a='1'/>",
			func(t *testing.T, r *etree.Element) {
				if r.Tag != "r" || r.SelectAttrValue("a", "") != "1" {
					t.Fatalf("root %v", r)
				}
			}},
		{"references, CDATA and comments, read as one run of text", `<r>a&lt;b&#x41;&#66;<![CDATA[<c>]]><!-- x -->d</r>`,
			func(t *testing.T, r *etree.Element) {
				if len(r.Child) != 1 || r.Text() != "a<bAB<c>d" {
					t.Fatalf("text %q in %d tokens", r.Text(), len(r.Child))
				}
			}},
		{"line ends normalized in text and white space in attribute values", "<r a=\"x\r\ny\tz&#10;\">1\r\n2\r3</r>",
			func(t *testing.T, r *etree.Element) {
				if r.Text() != "1\n2\n3" || r.SelectAttrValue("a", "") != "x y z\n" {
					t.Fatalf("text %q, attribute %q", r.Text(), r.SelectAttrValue("a", ""))
				}
			}},
		{"namespaces by prefix and by default", `<p:r xmlns:p="urn:p" xmlns="urn:d"><c p:a="1"/></p:r>`,
			func(t *testing.T, r *etree.Element) {
				c := r.ChildElements()[0]
				if r.NamespaceURI() != "urn:p" || c.NamespaceURI() != "urn:d" || c.Attr[0].NamespaceURI() != "urn:p" {
					t.Fatalf("namespaces %q %q", r.NamespaceURI(), c.NamespaceURI())
				}
			}},
	} {
		t.Run("the gate accepts "+tc.name, func(t *testing.T) {
			doc, err := xmlgate.Parse([]byte(tc.doc), xmlgate.Default)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, doc.Root())
		})
	}
}

func TestEveryFixtureParsesAsEncodingXMLDoes(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(fixtures.Dir(), "signed", "*.xml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("fixtures: %v, %d files", err, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameAsEncodingXML(b); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
	}
}

func TestPostedDataIsDecodedNeverInflated(t *testing.T) {
	t.Parallel()
	doc := fixtures.Document(t, "assertion-signed")
	for _, tc := range []struct {
		name    string
		encoded string
		reason  failure.Reason
	}{
		{"padded base64", base64.StdEncoding.EncodeToString(doc), ""},
		{"unpadded base64", base64.RawStdEncoding.EncodeToString(doc), ""},
		{"base64 wrapped at 76 columns with CRLF and spaces", wrap(base64.StdEncoding.EncodeToString(doc)), ""},
		{"DEFLATE data, which the POST binding never sends", base64.StdEncoding.EncodeToString(deflate(doc)), failure.MalformedXML},
		{"text that is not base64", "<samlp:Response>", failure.MalformedXML},
		{"an encoded form over the cap", strings.Repeat("A", xmlgate.Default.MaxEncoded+1), failure.ResponseTooLarge},
		{"a decoded form over the cap", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(" "), xmlgate.Default.MaxDecoded+1)), failure.ResponseTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := xmlgate.DecodeBase64(tc.encoded, xmlgate.Default)
			if tc.reason == "" {
				if err != nil || !bytes.Equal(got, doc) {
					t.Fatalf("decoded %d bytes, %v", len(got), err)
				}
				return
			}
			if r := reasonOf(t, err); r != tc.reason {
				t.Fatalf("reason %s, want %s", r, tc.reason)
			}
			// What the admin's test mode shows is ours, never the decoder's wording.
			var f *failure.Error
			if errors.As(err, &f) && strings.Contains(f.Got, "illegal") {
				t.Fatalf("got %q carries the base64 decoder's wording", f.Got)
			}
		})
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n ")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

func TestAttrReadsOnlyTheUnqualifiedAttribute(t *testing.T) {
	t.Parallel()
	doc, err := xmlgate.Parse([]byte(`<r xmlns:x="urn:x" x:Recipient="https://ours.example/acs" x:ID="a" xmlns:y="urn:y" y:ID="b"/>`), xmlgate.Default)
	if err != nil {
		t.Fatal(err)
	}
	if a := xmlgate.Attr(doc.Root(), "Recipient"); a != nil {
		t.Fatalf("a namespaced Recipient was read as SAML's: %q", a.Value)
	}
	doc, err = xmlgate.Parse([]byte(`<r xmlns:x="urn:x" x:Other="1" Recipient="https://ours.example/acs"/>`), xmlgate.Default)
	if err != nil {
		t.Fatal(err)
	}
	if got := xmlgate.AttrValue(doc.Root(), "Recipient"); got != "https://ours.example/acs" {
		t.Fatalf("AttrValue(Recipient) = %q", got)
	}
	if got := xmlgate.AttrValue(doc.Root(), "Missing"); got != "" {
		t.Fatalf("AttrValue of a missing attribute = %q", got)
	}
}
