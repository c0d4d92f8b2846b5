package ssod_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/iechor/sso/services/assertion"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/provisioning"
)

// TestEachServiceAloneDrainsBeforeItStops runs each binary's Run as Kubernetes runs it, one per pod,
// and ends its context as SIGTERM does: readiness must turn at once, the service must go on serving
// for its drain, and then stop.
func TestEachServiceAloneDrainsBeforeItStops(t *testing.T) {
	// Not in parallel with the package's other tests, whose sign-ins would eat into the quarter of
	// a second readiness has to turn; the five services, mostly waiting out drains, run side by side.
	const drain = 800 * time.Millisecond
	type run func(ctx context.Context, r *config.Reader, log *slog.Logger, reg *metrics.Registry) error
	grpcService := func(name string, load func(*config.Reader) (any, error), serve func(ctx context.Context, cfg any, log *slog.Logger, reg *metrics.Registry) error) run {
		return func(ctx context.Context, r *config.Reader, log *slog.Logger, reg *metrics.Registry) error {
			cfg, err := load(r)
			if err != nil {
				return err
			}
			return serve(ctx, cfg, log, reg)
		}
	}
	for _, tc := range []struct {
		name, listenVar string
		// health is the gRPC service whose health a balancer asks; "" for the REST edge.
		health string
		run    run
	}{
		{"domain", "DOMAIN_LISTEN_ADDR", "iechor.sso.domain.v1.DomainService", grpcService("domain",
			func(r *config.Reader) (any, error) { return domain.LoadConfig(r) },
			func(ctx context.Context, c any, log *slog.Logger, reg *metrics.Registry) error {
				return domain.Run(ctx, c.(domain.Config), log, reg)
			})},
		{"provisioning", "PROVISIONING_LISTEN_ADDR", "iechor.sso.provisioning.v1.DirectoryService", grpcService("provisioning",
			func(r *config.Reader) (any, error) { return provisioning.LoadConfig(r) },
			func(ctx context.Context, c any, log *slog.Logger, reg *metrics.Registry) error {
				return provisioning.Run(ctx, c.(provisioning.Config), log, reg)
			})},
		{"connection", "CONNECTION_LISTEN_ADDR", "iechor.sso.connection.v1.ConnectionService", grpcService("connection",
			func(r *config.Reader) (any, error) { return connection.LoadConfig(r) },
			func(ctx context.Context, c any, log *slog.Logger, reg *metrics.Registry) error {
				return connection.Run(ctx, c.(connection.Config), log, reg)
			})},
		{"assertion", "ASSERTION_LISTEN_ADDR", "iechor.sso.assertion.v1.AssertionService", grpcService("assertion",
			func(r *config.Reader) (any, error) { return assertion.LoadConfig(r) },
			func(ctx context.Context, c any, log *slog.Logger, reg *metrics.Registry) error {
				return assertion.Run(ctx, c.(assertion.Config), log, reg)
			})},
		{"the REST edge", "GATEWAY_LISTEN_ADDR", "", grpcService("gateway",
			func(r *config.Reader) (any, error) { return gateway.LoadConfig(r) },
			func(ctx context.Context, c any, log *slog.Logger, reg *metrics.Registry) error {
				return gateway.Run(ctx, c.(gateway.Config), log, reg, gateway.Options{})
			})},
	} {
		t.Run(tc.name+" reports not ready at once, serves through its drain, then stops", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			addr := freeAddr(t)
			keyFile := filepath.Join(dir, "encryption.key")
			if _, err := connection.EnsureDevelopmentKey(keyFile); err != nil {
				t.Fatal(err)
			}
			signingKeys := filepath.Join(dir, "signing-keys.pem")
			if err := gateway.EnsureSigningKeyFile(signingKeys); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{
				tc.listenVar: addr, "DATABASE_URL": "sqlite:" + filepath.Join(dir, "store.db"), "EPHEMERAL_STORE": "memory",
				"ENCRYPTION_KEY_FILE": keyFile, "GATEWAY_SIGNING_KEYS_FILE": signingKeys, "SHUTDOWN_DRAIN": drain.String(),
				// The other services are not running: nothing here calls them.
				"DOMAIN_ADDR": freeAddr(t), "PROVISIONING_ADDR": freeAddr(t), "CONNECTION_ADDR": freeAddr(t), "ASSERTION_ADDR": freeAddr(t),
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- tc.run(ctx, config.NewReader(config.MapLookup(env)), logging.Discard(), metrics.NewRegistry())
			}()

			// ready answers whether a balancer would send calls; serving, whether anything answers.
			var ready func() (ready, serving bool)
			if tc.health == "" {
				ready = func() (bool, bool) {
					// The edge's backends are not running: /readyz names them until the drain
					// begins, and says so once it has.
					status, body := getStatus("http://" + addr + "/readyz")
					return !strings.Contains(body, "shutting down"), status != 0
				}
			} else {
				conn, err := grpcclient.Dial(addr, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				ready = func() (bool, bool) {
					cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
					defer ccancel()
					resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: tc.health})
					return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING, err == nil
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for r, _ := ready(); !r; r, _ = ready() {
				if time.Now().After(deadline) {
					t.Fatal("never ready")
				}
				time.Sleep(20 * time.Millisecond)
			}

			sigterm := time.Now()
			cancel()
			for r, _ := ready(); r; r, _ = ready() {
				// At once: a quarter of a second is room for a loaded machine.
				if time.Since(sigterm) > 250*time.Millisecond {
					t.Fatal("still ready a quarter of a second after SIGTERM")
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(drain / 2)
			if _, serving := ready(); !serving {
				t.Fatalf("stopped serving %v into a %v drain", time.Since(sigterm), drain)
			}
			if tc.health == "" {
				if status, _ := getStatus("http://" + addr + "/healthz"); status != http.StatusOK {
					t.Fatalf("/healthz during the drain: %d", status)
				}
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(drain + 10*time.Second):
				t.Fatal("did not stop after its drain")
			}
			t.Logf("stopped %v after SIGTERM (drain %v)", time.Since(sigterm).Round(time.Millisecond), drain)
			if took := time.Since(sigterm); took < drain {
				t.Fatalf("stopped %v after SIGTERM, inside its %v drain", took, drain)
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Fatal("still listening after it stopped")
			}
		})
	}
}
