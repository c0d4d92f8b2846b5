package saml_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/assertion/internal/saml"
	"github.com/iechor/sso/services/platform/ephemeral"
)

// FuzzValidateSAMLResponse mutates responses, signed ones among them, and holds the engine to two
// things: it never panics, and whatever it accepts asserts exactly what the identity provider signed
// (no mutation of a signed response can change who signs in). Seeds: testdata/fuzz and every signed
// fixture.
func FuzzValidateSAMLResponse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Dir(), "signed", "*.xml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	conn := fixtures.Connection(f)
	conn.Domains = append(conn.Domains, "elsewhere.test", "example.com.evil.test", "example.test", "evil.example.test")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, doc []byte) {
		eph := ephemeral.NewMemory()
		defer eph.Close()
		relay := relaystate.New(eph)
		handle, err := relay.Save(ctx, relaystate.State{RequestID: fixtures.RequestID, Connection: conn.Name,
			BrowserHash: relaystate.HashBinding(browser), Created: fixtures.RequestedAt})
		if err != nil {
			t.Fatal(err)
		}
		v := &saml.Validator{Relay: relay, Replay: replay.New(eph), Now: func() time.Time { return fixtures.Now }}
		out, err := v.Validate(ctx, saml.Input{Connection: conn, SAMLResponse: base64.StdEncoding.EncodeToString(doc), RelayState: handle, BrowserBinding: browser})
		if err != nil {
			return
		}
		id := out.Identity
		signed := map[string]bool{"jane.doe@example.com": true, "admin@example.com.evil.test": true, "jane.doe@elsewhere.test": true, "jdoe": true}
		if !signed[id.Email] || !signed[id.Subject] || id.Issuer != fixtures.IdPEntityID {
			t.Fatalf("accepted an identity nobody signed: %+v", id)
		}
	})
}
