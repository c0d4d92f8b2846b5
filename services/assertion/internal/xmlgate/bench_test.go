package xmlgate_test

import (
	"testing"

	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

// BenchmarkParse is the gate on the 5.9 KB assertion-signed fixture.
func BenchmarkParse(b *testing.B) {
	doc := fixtures.Document(b, "assertion-signed")
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := xmlgate.Parse(doc, xmlgate.Default); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBase64 is the posted form's decoding.
func BenchmarkDecodeBase64(b *testing.B) {
	enc := fixtures.Encoded(b, "assertion-signed")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xmlgate.DecodeBase64(enc, xmlgate.Default); err != nil {
			b.Fatal(err)
		}
	}
}
