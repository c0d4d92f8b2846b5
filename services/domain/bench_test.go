package domain_test

import (
	"context"
	"testing"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// BenchmarkLookupDomain measures the question every sign-in asks (which owner verified this email's
// domain?) over real gRPC on loopback, against SQLite and PostgreSQL.
func BenchmarkLookupDomain(b *testing.B) {
	for _, backend := range sqlstoretest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			e := start(b, backend)
			c, dnsSrv := e.domains, e.dns
			ctx := context.Background()
			created, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: "companies/acme", DomainName: "example.com"})
			if err != nil {
				b.Fatal(err)
			}
			dnsSrv.SetTXT("example.com", created.GetDomain().GetTxtRecord().GetValue())
			if _, err := c.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: created.GetDomain().GetName()}); err != nil {
				b.Fatal(err)
			}
			req := &domainv1.LookupDomainRequest{Query: &domainv1.LookupDomainRequest_Email{Email: "jane@example.com"}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.lookup.LookupDomain(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
