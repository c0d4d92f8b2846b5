package provisioning_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// TestDirectoryOverREST serves the generated REST mapping (the one the gateway mounts) in front of
// the real service, to prove the annotations reach the right methods, fields and masks.
func TestDirectoryOverREST(t *testing.T) {
	t.Parallel()
	e := start(t, sqlstoretest.Backends()[0])
	mux := runtime.NewServeMux()
	noErr(t, pb.RegisterDirectoryServiceHandlerClient(context.Background(), mux, e.dir))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	call := func(method, path, body string, wantStatus int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		noErr(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		noErr(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, wantStatus)
		}
		out := map[string]any{}
		noErr(t, json.Unmarshal(raw, &out))
		return out
	}

	company := call("POST", "/v1/companies", `{"companyId":"acme","company":{"displayName":"Acme"}}`, 200)
	if field(company, "company")["name"] != "companies/acme" {
		t.Fatalf("created %v", company)
	}
	call("POST", "/v1/organizations", `{"organizationId":"eng","organization":{"displayName":"Eng","company":"companies/acme","plan":"PLAN_BUSINESS","seatLimit":3}}`, 200)
	// PATCH with a partial body updates only the fields in it.
	org := field(call("PATCH", "/v1/organizations/eng", `{"seatLimit":10}`, 200), "organization")
	if org["seatLimit"] != float64(10) || org["displayName"] != "Eng" || org["plan"] != "PLAN_BUSINESS" {
		t.Fatalf("patched %v", org)
	}
	call("POST", "/v1/organizations/eng/teams", `{"teamId":"core","team":{"displayName":"Core"}}`, 200)
	teams := call("GET", "/v1/organizations/eng/teams", "", 200)
	if list, _ := teams["teams"].([]any); len(list) != 1 {
		t.Fatalf("teams %v", teams)
	}
	orgs := call("GET", "/v1/companies/acme/organizations", "", 200)
	if list, _ := orgs["organizations"].([]any); len(list) != 1 {
		t.Fatalf("organizations %v", orgs)
	}
	events := call("GET", "/v1/companies/acme/auditEvents?pageSize=2", "", 200)
	if list, _ := events["auditEvents"].([]any); len(list) != 2 || events["nextPageToken"] == "" {
		t.Fatalf("events %v", events)
	}
	call("GET", "/v1/organizations/eng/auditEvents", "", 200)
	missing := call("GET", "/v1/companies/ghost", "", 404)
	if details, _ := missing["details"].([]any); len(details) != 1 || !strings.Contains(toJSON(details[0]), "COMPANY_NOT_FOUND") {
		t.Fatalf("not found %v", missing)
	}
	call("DELETE", "/v1/companies/acme", "", 400)
}

func field(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
