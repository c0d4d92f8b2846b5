package xmlgate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

// sameAsEncodingXML parses doc with the gate and, when the gate accepts it, with etree on
// encoding/xml, and reports any difference between the two trees: the gate may refuse more than
// encoding/xml, never accept something else.
func sameAsEncodingXML(doc []byte) error {
	ours, err := xmlgate.Parse(doc, xmlgate.Default)
	if err != nil {
		return nil
	}
	theirs := etree.NewDocument()
	if err := theirs.ReadFromBytes(doc); err != nil {
		return fmt.Errorf("the gate accepted what encoding/xml refuses: %v", err)
	}
	return sameElement(ours.Root(), theirs.Root())
}

// flatten normalizes white space the way attribute values are normalized, which encoding/xml skips.
func flatten(s string) string {
	return strings.NewReplacer("\r\n", " ", "\t", " ", "\n", " ", "\r", " ").Replace(s)
}

func sameElement(a, b *etree.Element) error {
	if b == nil || a.Space != b.Space || a.Tag != b.Tag || a.NamespaceURI() != b.NamespaceURI() {
		return fmt.Errorf("element %s against %v", a.FullTag(), b)
	}
	attrs := func(e *etree.Element) []string {
		var out []string
		for _, at := range e.Attr {
			out = append(out, at.FullKey()+"="+flatten(at.Value))
		}
		slices.Sort(out)
		return out
	}
	if x, y := attrs(a), attrs(b); !slices.Equal(x, y) {
		return fmt.Errorf("attributes of %s: %q against %q", a.FullTag(), x, y)
	}
	// Text between child elements, comments dropped.
	runs := func(e *etree.Element) ([]string, []*etree.Element) {
		var texts []string
		var kids []*etree.Element
		cur := ""
		for _, t := range e.Child {
			switch t := t.(type) {
			case *etree.CharData:
				cur += t.Data
			case *etree.Element:
				texts = append(texts, cur)
				cur = ""
				kids = append(kids, t)
			}
		}
		return append(texts, cur), kids
	}
	ta, ka := runs(a)
	tb, kb := runs(b)
	if !slices.Equal(ta, tb) || len(ka) != len(kb) {
		return fmt.Errorf("content of %s: %q against %q", a.FullTag(), ta, tb)
	}
	for i := range ka {
		if err := sameElement(ka[i], kb[i]); err != nil {
			return err
		}
	}
	return nil
}

// FuzzParse holds the gate against encoding/xml: whatever the gate accepts, encoding/xml parses to
// the same tree, and nothing panics. Seeds: testdata/fuzz/FuzzParse and every signed fixture.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Dir(), "signed", "*.xml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if err := sameAsEncodingXML(doc); err != nil {
			t.Fatal(err)
		}
	})
}
