package ssod_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/provisioning"
)

// A PostgreSQL database that refuses connections and ends those it has is an outage: every call
// that needs it answers 503 UNAVAILABLE with the reason STORE_UNAVAILABLE and Retry-After, writes
// nothing, and works again as soon as the database does, without a restart.
func TestADatabaseOutageIsUnavailableAndRecoversWithoutARestart(t *testing.T) {
	t.Parallel()
	domainDB := sqlstoretest.PostgresDatabase(t) // the domain service's own store
	restDB := sqlstoretest.PostgresDatabase(t)   // provisioning, connection and assertion
	s := startSuite(t, map[string]string{
		"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dnstest.Start(t).Addr(), "DATABASE_URL": restDB.DSN,
		"DOMAIN_DATABASE_URL": domainDB.DSN, "DOMAIN_RECHECK_INTERVAL": "1h",
	})
	_, token := s.bootstrap(t, provisioning.BootstrapRequest{Company: "acme", OwnerEmail: "owner@acme.example"})
	start := fmt.Sprintf(`{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q}`,
		s.base+"/callback", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	unavailable := func(t *testing.T, what, token, method, path, body string) {
		t.Helper()
		r, h := s.callWithHeaders(t, token, method, path, body)
		if r.status != http.StatusServiceUnavailable || r.reason() != "STORE_UNAVAILABLE" || h.Get("Retry-After") == "" {
			t.Fatalf("%s during the outage: %d %s (Retry-After %q)", what, r.status, r.raw, h.Get("Retry-After"))
		}
		if code, _ := r.body["code"].(float64); code != 14 {
			t.Fatalf("%s: code %v, want 14 (UNAVAILABLE): %s", what, r.body["code"], r.raw)
		}
	}
	// eventually polls until ok says the suite has recovered, for at most five seconds: the pool
	// drops its dead connections and opens new ones on the next calls.
	eventually := func(t *testing.T, what string, ok func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			good, got := ok()
			if good {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not recover within 5 s of the database: %s", what, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("the domain store down: its calls are unavailable, nothing is written, and they recover", func(t *testing.T) {
		domainDB.Stop(t)
		unavailable(t, "creating a domain", token, "POST", "/v1/companies/acme/domains", `{"domainName":"outage.example"}`)
		unavailable(t, "listing domains", token, "GET", "/v1/companies/acme/domains", "")
		domainDB.Start(t)
		eventually(t, "listing domains", func() (bool, string) {
			r := s.call(t, token, "GET", "/v1/companies/acme/domains", "")
			// No partial write: the domain refused during the outage is not there.
			return r.status == http.StatusOK && !strings.Contains(r.raw, "outage.example"), r.raw
		})
		if r := s.call(t, token, "POST", "/v1/companies/acme/domains", `{"domainName":"outage.example"}`); r.status != http.StatusOK {
			t.Fatalf("creating the domain after the outage: %d %s", r.status, r.raw)
		}
	})

	t.Run("the directory and connection stores down: sign-ins and admin calls are unavailable, and recover", func(t *testing.T) {
		restDB.Stop(t)
		unavailable(t, "login:start", "", "POST", "/v1/login:start", start)
		unavailable(t, "an admin call (its access check)", token, "GET", "/v1/companies/acme/connections", "")
		unavailable(t, "creating an organization", token, "POST", "/v1/organizations",
			`{"organizationId":"outage","organization":{"displayName":"Outage","company":"companies/acme"}}`)
		restDB.Start(t)
		eventually(t, "login:start", func() (bool, string) {
			r := s.call(t, "", "POST", "/v1/login:start", start)
			return r.status == http.StatusNotFound && r.reason() == "NO_SSO_CONNECTION", r.raw
		})
		eventually(t, "an admin call", func() (bool, string) {
			r := s.call(t, token, "GET", "/v1/companies/acme/organizations", "")
			return r.status == http.StatusOK && !strings.Contains(r.raw, "organizations/outage"), r.raw
		})
	})
}
