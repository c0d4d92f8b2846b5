package assertion_test

import (
	"context"
	"testing"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// BenchmarkValidateSamlResponseOverGRPC is the whole RPC as the gateway calls it: loopback gRPC, the
// engine (see saml.BenchmarkValidateSAMLResponse), and the attempt recorded in SQLite, with the
// in-process ephemeral store and a warm connection cache. Each iteration stores its relay state
// first and removes the replay entry after, as the engine's benchmark does.
func BenchmarkValidateSamlResponseOverGRPC(b *testing.B) {
	mem := ephemeral.NewMemory()
	defer mem.Close()
	e := start(b, sqlstoretest.SQLiteDSN(b), mem)
	ctx := context.Background()
	req := &assertionv1.ValidateSamlResponseRequest{ConnectionId: fixtures.ConnectionID, SamlResponse: fixtures.Encoded(b, "assertion-signed"), BrowserBinding: browser}
	key := replay.Key(fixtures.IdPEntityID, "_assertion-assertion-signed")
	b.ReportAllocs()
	for b.Loop() {
		req.RelayState = e.begin(b, false)
		if _, err := e.client.ValidateSamlResponse(ctx, req); err != nil {
			b.Fatal(err)
		}
		if _, err := mem.GetDelete(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
