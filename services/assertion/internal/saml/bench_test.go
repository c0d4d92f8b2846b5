package saml_test

import (
	"context"
	"testing"

	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/assertion/internal/saml"
)

// BenchmarkValidateSAMLResponse measures the engine on the assertion-signed fixture (5.9 KB, five
// attributes, RSA-SHA256): relay-state consumption and the replay check on the in-process store,
// the XML gate, signature verification, every protocol check and the attribute mapping, with the
// connection parsed once (a warm cache) and the clock pinned. Redis round trips are not in it.
//
// Each iteration also stores the relay state it consumes, as BeginSamlLogin would, and afterwards
// takes the assertion's replay entry back out, so that the same signed fixture validates again;
// both are single in-process map operations.
func BenchmarkValidateSAMLResponse(b *testing.B) {
	h := newHarness(b)
	encoded := fixtures.Encoded(b, "assertion-signed")
	key := replay.Key(fixtures.IdPEntityID, "_assertion-assertion-signed")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := h.v.Validate(ctx, saml.Input{Connection: h.conn, SAMLResponse: encoded, RelayState: h.begin(b), BrowserBinding: browser})
		if err != nil || out.Identity.Email != "jane.doe@example.com" {
			b.Fatal(err)
		}
		if _, err := h.eph.GetDelete(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
