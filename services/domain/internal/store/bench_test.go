package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/iechor/sso/services/domain/internal/store"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func BenchmarkVerifiedOwner(b *testing.B) {
	for _, backend := range sqlstoretest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ctx := context.Background()
			s, err := store.NewSQL(ctx, backend.Open(b))
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			if err := s.Create(ctx, store.Domain{Owner: "companies/acme", Name: "example.com", DisplayName: "example.com", Token: "t",
				State: store.Pending, CreateTime: now, CheckUntil: now.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			if _, err := s.MarkVerified(ctx, store.Attempt{Owner: "companies/acme", Name: "example.com", Time: now, Outcome: store.OutcomeVerified}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.VerifiedOwner(ctx, "example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
