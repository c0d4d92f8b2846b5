package connection_test

import (
	"context"
	"testing"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/platform/tracing"
)

// tracedAsDeployed traces the service as its binary does without OTEL_* variables: trace ids on
// every call, nothing exported.
func tracedAsDeployed(b *testing.B) setup {
	cfg, err := tracing.LoadConfig(config.NewReader(config.MapLookup(nil)))
	if err != nil {
		b.Fatal(err)
	}
	tr, err := tracing.New(context.Background(), cfg, logging.Discard())
	if err != nil {
		b.Fatal(err)
	}
	return func(_ *connection.Config, o *connection.Options) { o.Tracing = tr.Component("connection") }
}

// BenchmarkGetSignInPolicy measures the question every password sign-in asks, over real gRPC on
// loopback, against SQLite and PostgreSQL: for a domain where SSO is enforced and for a guest's
// domain, both served from the in-process cache once warm; traced as the service is deployed.
func BenchmarkGetSignInPolicy(b *testing.B) {
	for _, backend := range sqlstoretest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			e := newEnv(b, backend, tracedAsDeployed(b))
			e.verify("companies/acme", "example.com")
			e.createActive("companies/acme", "Okta", true, active, "example.com")
			for _, tc := range []struct{ name, email string }{
				{"enforced", "jane@example.com"},
				{"guest", "guest@elsewhere.example"},
			} {
				b.Run(tc.name, func(b *testing.B) {
					req := &connectionv1.GetSignInPolicyRequest{Email: tc.email, Method: connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD, Client: connectionv1.ClientType_CLIENT_TYPE_CLI}
					if _, err := e.internal.GetSignInPolicy(ctx, req); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						if _, err := e.internal.GetSignInPolicy(ctx, req); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
