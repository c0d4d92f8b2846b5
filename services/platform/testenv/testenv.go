// Package testenv tells tests where the real PostgreSQL and Redis are, and what to do when one cannot
// be reached: skip with a record on a laptop, fail under CI (SSO_REQUIRE_BACKENDS=1).
package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// PostgresURL is the server that PostgreSQL suites use: TEST_DATABASE_URL, else the local default.
// Each test gets its own schema on it.
func PostgresURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisURL is the server that Redis suites use: TEST_REDIS_URL, else the local default. Each test
// gets its own key prefix on it.
func RedisURL() string {
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

// Required reports whether suites that need PostgreSQL or Redis must run (CI sets it).
func Required() bool { return os.Getenv("SSO_REQUIRE_BACKENDS") == "1" }

var reportMu sync.Mutex

// Unavailable handles a backend that cannot be reached: under SSO_REQUIRE_BACKENDS=1 the test fails;
// otherwise the test is skipped and a line is added to the file named by SSO_SKIP_REPORT, which
// `make test` prints at the end so that nobody mistakes a partial run for a whole one.
func Unavailable(t testing.TB, backend string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (SSO_REQUIRE_BACKENDS=1) but cannot be reached: %v", backend, err)
	}
	if path := os.Getenv("SSO_SKIP_REPORT"); path != "" {
		reportMu.Lock()
		if f, ferr := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); ferr == nil {
			fmt.Fprintf(f, "%s unavailable: %s\n", backend, t.Name())
			_ = f.Close()
		}
		reportMu.Unlock()
	}
	t.Skipf("%s unavailable, suite not run: %v", backend, err)
}
