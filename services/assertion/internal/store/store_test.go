package store_test

import (
	"context"
	"testing"

	"github.com/iechor/sso/services/assertion/internal/store"
	"github.com/iechor/sso/services/assertion/internal/store/storetest"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func TestSQLStoreConformance(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := store.NewSQL(context.Background(), b.Open(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}
