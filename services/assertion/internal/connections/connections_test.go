package connections_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/assertion/internal/connections"
	"github.com/iechor/sso/services/assertion/internal/connections/connectiontest"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/logging"
)

func TestConvert(t *testing.T) {
	t.Parallel()
	now := fixtures.Now
	for _, tc := range []struct {
		name   string
		change func(rc *connectionv1.RuntimeConnection)
		check  func(t *testing.T, c *connections.Connection, err error)
	}{
		{"the fixture connection converts whole", func(*connectionv1.RuntimeConnection) {}, func(t *testing.T, c *connections.Connection, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != fixtures.ConnectionID || c.SAML.Name != fixtures.ConnectionName || !c.SAML.Active || len(c.SAML.IdPCertificates) != 3 ||
				len(c.SAML.DecryptionKeys) != 2 || c.SigningKey == nil || c.SAML.ClockSkew != 90*time.Second ||
				c.SAML.Mapping.Email[1] != "NameID" || c.IdPSSOURL != "https://idp.example.test/sso" {
				t.Fatalf("%+v", c)
			}
		}},
		{"a connection's skew overrides the default within 180 seconds", func(rc *connectionv1.RuntimeConnection) { rc.ClockSkewSeconds = 600 },
			func(t *testing.T, c *connections.Connection, err error) {
				if err != nil || c.SAML.ClockSkew != 180*time.Second {
					t.Fatalf("skew %v, %v", c.SAML.ClockSkew, err)
				}
			}},
		{"a retired SP key no longer decrypts", func(rc *connectionv1.RuntimeConnection) {
			rc.SpKeys[1].RetireTime = timestamppb.New(now.Add(-time.Second))
		},
			func(t *testing.T, c *connections.Connection, err error) {
				if err != nil || len(c.SAML.DecryptionKeys) != 1 {
					t.Fatalf("%d keys, %v", len(c.SAML.DecryptionKeys), err)
				}
			}},
		{"a key that retires later still decrypts", func(rc *connectionv1.RuntimeConnection) {
			rc.SpKeys[1].RetireTime = timestamppb.New(now.Add(time.Hour))
		},
			func(t *testing.T, c *connections.Connection, err error) {
				if err != nil || len(c.SAML.DecryptionKeys) != 2 {
					t.Fatalf("%d keys, %v", len(c.SAML.DecryptionKeys), err)
				}
			}},
		{"a draft connection is not active", func(rc *connectionv1.RuntimeConnection) {
			rc.State = connectionv1.ConnectionState_CONNECTION_STATE_DRAFT
		},
			func(t *testing.T, c *connections.Connection, err error) {
				if err != nil || c.SAML.Active {
					t.Fatalf("%+v, %v", c, err)
				}
			}},
		{"an unsigned connection has no signing key", func(rc *connectionv1.RuntimeConnection) { rc.SignRequests = false },
			func(t *testing.T, c *connections.Connection, err error) {
				if err != nil || c.SigningKey != nil {
					t.Fatalf("%+v, %v", c, err)
				}
			}},
		{"a certificate given as bare base64 DER is read", func(rc *connectionv1.RuntimeConnection) {
			rc.IdpCertificates = []string{"\n" + pemBody(fixtures.CertificatePEM(t, "idp")) + "\n"}
		}, func(t *testing.T, c *connections.Connection, err error) {
			if err != nil || len(c.SAML.IdPCertificates) != 1 {
				t.Fatalf("%v", err)
			}
		}},
		{"a certificate that does not parse is a misconfiguration naming the field", func(rc *connectionv1.RuntimeConnection) {
			rc.IdpCertificates = append(rc.IdpCertificates, "not a certificate")
		}, func(t *testing.T, c *connections.Connection, err error) {
			var m *connections.MisconfiguredError
			if !errors.As(err, &m) || m.Field != "idp_certificates[3]" {
				t.Fatalf("%v", err)
			}
		}},
		{"signing requests without an active key is a misconfiguration", func(rc *connectionv1.RuntimeConnection) { rc.SpKeys[0].Active = false },
			func(t *testing.T, c *connections.Connection, err error) {
				var m *connections.MisconfiguredError
				if !errors.As(err, &m) || m.Field != "sp_keys" {
					t.Fatalf("%v", err)
				}
			}},
		{"a connection without our entity id is a misconfiguration", func(rc *connectionv1.RuntimeConnection) { rc.SpEntityId = "" },
			func(t *testing.T, c *connections.Connection, err error) {
				var m *connections.MisconfiguredError
				if !errors.As(err, &m) || m.Field != "sp_entity_id" {
					t.Fatalf("%v", err)
				}
			}},
		{"an OIDC connection is not converted", func(rc *connectionv1.RuntimeConnection) { rc.Type = connectionv1.ConnectionType_CONNECTION_TYPE_OIDC },
			func(t *testing.T, c *connections.Connection, err error) {
				if !errors.Is(err, connections.ErrNotSAML) {
					t.Fatalf("%v", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := connectiontest.Fixture(t)
			tc.change(rc)
			c, err := connections.Convert(rc, 90*time.Second, now)
			tc.check(t, c, err)
		})
	}
}

func pemBody(p string) string {
	var body string
	for _, line := range splitLines(p) {
		if len(line) > 0 && line[0] != '-' {
			body += line
		}
	}
	return body
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range s {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func newCache(t *testing.T, srv *connectiontest.Server, ttl time.Duration) *connections.Cache {
	return newCacheWithClock(t, srv, ttl, time.Now)
}

func newCacheWithClock(t *testing.T, srv *connectiontest.Server, ttl time.Duration, now func() time.Time) *connections.Cache {
	conn, err := grpcclient.Dial(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return connections.NewCache(connectionv1.NewConnectionInternalServiceClient(conn), ttl, 90*time.Second, now, logging.Discard())
}

func TestTheCacheAsksOnceWithinItsTTL(t *testing.T) {
	t.Parallel()
	srv := connectiontest.Start(t)
	srv.Put(connectiontest.Fixture(t))
	c := newCache(t, srv, time.Hour)
	ctx := context.Background()
	for range 5 {
		got, err := c.Get(ctx, fixtures.ConnectionID)
		if err != nil || got.SAML.Name != fixtures.ConnectionName {
			t.Fatalf("%+v, %v", got, err)
		}
	}
	if n := srv.Calls(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	if _, err := c.Get(ctx, "conn_missing"); !errors.Is(err, connections.ErrNotFound) {
		t.Fatalf("missing connection: %v", err)
	}
}

func TestTheCacheForgetsAfterItsTTL(t *testing.T) {
	t.Parallel()
	srv := connectiontest.Start(t)
	srv.Put(connectiontest.Fixture(t))
	now := time.Now()
	c := newCacheWithClock(t, srv, time.Minute, func() time.Time { return now })
	ctx := context.Background()
	for _, step := range []struct {
		after time.Duration // since the previous lookup
		calls int           // calls to the connection service so far
	}{{0, 1}, {59 * time.Second, 1}, {time.Second, 2}} {
		now = now.Add(step.after)
		if _, err := c.Get(ctx, fixtures.ConnectionID); err != nil {
			t.Fatal(err)
		}
		if n := srv.Calls(); n != step.calls {
			t.Fatalf("%d calls after %v, want %d", n, step.after, step.calls)
		}
	}
}

func TestAChangeReportedByTheWatchIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	srv := connectiontest.Start(t)
	srv.Put(connectiontest.Fixture(t))
	c := newCache(t, srv, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Watch(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Watchers() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.Get(ctx, fixtures.ConnectionID); err != nil {
		t.Fatal(err)
	}
	changed := connectiontest.Fixture(t)
	changed.DisplayName = "Renamed"
	srv.Put(changed)
	for time.Now().Before(deadline) {
		got, err := c.Get(ctx, fixtures.ConnectionID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SAML.DisplayName == "Renamed" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the change never reached the cache")
}

func TestAnUnreachableConnectionServiceIsUnavailable(t *testing.T) {
	t.Parallel()
	conn, err := grpcclient.Dial("127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := connections.NewCache(connectionv1.NewConnectionInternalServiceClient(conn), time.Second, 90*time.Second, time.Now, logging.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, fixtures.ConnectionID); !errors.Is(err, connections.ErrUnavailable) {
		t.Fatalf("error %v", err)
	}
}
