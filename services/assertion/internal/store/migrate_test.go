package store

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// firstMigrationOnly is the store as it was before outcomes: 0001 of each dialect.
func firstMigrationOnly(t *testing.T) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	for _, d := range []string{"postgres", "sqlite"} {
		b, err := migrations.ReadFile("migrations/" + d + "/0001_login_attempts.sql")
		if err != nil {
			t.Fatal(err)
		}
		out[d+"/0001_login_attempts.sql"] = &fstest.MapFile{Data: b}
	}
	return out
}

func TestAttemptsRecordedAsSuccessesBeforeOutcomesAreListedAsValidated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := b.Open(t)
		if err := db.Migrate(ctx, "assertion", firstMigrationOnly(t)); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		for i, success := range []bool{true, false} {
			if _, err := db.ExecContext(ctx, `INSERT INTO login_attempts (id, connection, attempt_time_us, success, reason, check_name,
				wanted, got, fix_by, subject, email, test_mode) VALUES ($1, 'companies/acme/connections/conn_a', $2, $3, '', '', '', '', '', '', '', false)`,
				[]string{"att_ok", "att_refused"}[i], sqlstore.Micros(at.Add(time.Duration(i)*time.Second)), success); err != nil {
				t.Fatal(err)
			}
		}
		s, err := NewSQL(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ListAttempts(ctx, ListQuery{Connection: "companies/acme/connections/conn_a", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		// Nobody reported whether those sign-ins gave a code: validated, not signed in.
		if len(got) != 2 || got[0].ID != "att_refused" || got[0].Result != Refused || got[1].Result != Validated || got[1].Finished != nil {
			t.Fatalf("after the migration: %+v", got)
		}
	})
}
