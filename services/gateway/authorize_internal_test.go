package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/gateway/internal/tokens"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// directory answers CheckAccess as told and records what it was asked. It stands in for the
// provisioning service, whose own CheckAccess is tested there: here only the edge's reading of the
// answer is at stake.
type directory struct {
	provisioningv1.ProvisioningInternalServiceClient
	allowed bool
	err     error
	asked   []string
}

func (d *directory) CheckAccess(_ context.Context, req *provisioningv1.CheckAccessRequest, _ ...grpc.CallOption) (*provisioningv1.CheckAccessResponse, error) {
	d.asked = append(d.asked, req.GetResource())
	if d.err != nil {
		return nil, d.err
	}
	return &provisioningv1.CheckAccessResponse{Allowed: d.allowed}, nil
}

func authorizer(t *testing.T, dir *directory, log *bytes.Buffer) (*BearerAuthorizer, string) {
	t.Helper()
	pemKey, err := tokens.NewKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.ParseKeySet(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	is := tokens.Issuer{Keys: keys, Issuer: "https://sso.example", Audience: Audience}
	now := time.Now()
	tok, err := is.Issue(tokens.Claims{Subject: "users/usr_1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return &BearerAuthorizer{Tokens: is, Directory: dir, MaxBody: 1 << 20, Now: time.Now,
		Log: slog.New(slog.NewJSONHandler(log, nil))}, tok
}

func TestOnlyADirectoryThatIsDownMakesTheEdgeUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		status int
		reason string
	}{
		{"a request the directory calls malformed is the caller's mistake",
			rpcerror.FieldViolation("INVALID_NAME", "resource", "The resource name is not valid.").GRPCStatus().Err(), 400, "INVALID_NAME"},
		{"a directory whose store is down says so",
			rpcerror.StoreUnavailable.GRPCStatus().Err(), 503, "STORE_UNAVAILABLE"},
		{"a directory that cannot be reached is unavailable",
			status.Error(codes.Unavailable, "connection error: desc = transport: dial tcp 10.1.2.3:9102: connect: connection refused"), 503, "SERVICE_UNAVAILABLE"},
		{"a directory out of time is unavailable",
			status.Error(codes.DeadlineExceeded, "context deadline exceeded"), 503, "SERVICE_UNAVAILABLE"},
		{"a directory that does not know the resource hides it",
			status.Error(codes.NotFound, "no such company"), 404, "NOT_FOUND"},
		{"a directory that fails otherwise is a bug",
			status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8"), 500, "INTERNAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			a, tok := authorizer(t, &directory{err: tc.err}, &log)
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/v1/companies/acme/domains", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			withAuthorization(a, http.NotFoundHandler()).ServeHTTP(rec, r)
			if rec.Code != tc.status || reasonIn(rec.Body.String()) != tc.reason {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body, tc.status, tc.reason)
			}
			for _, leak := range []string{"10.1.2.3", "grpc:", "transport", "deadline exceeded"} {
				if strings.Contains(rec.Body.String(), leak) {
					t.Fatalf("the answer repeats the cause: %s", rec.Body)
				}
			}
		})
	}
}

func TestTheOwnerCheckedIsTheOwnerThePathNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		asked                    string
	}{
		{"an owner's domains", "GET", "/v1/companies/acme/domains", "", 200, "companies/acme"},
		{"a custom method on a child", "POST", "/v1/organizations/eng/domains/a.example:verify", "", 200, "organizations/eng"},
		{"an upper-case id", "GET", "/v1/companies/ACME/domains", "", 400, ""},
		{"a NUL byte", "GET", "/v1/companies/acme%00/domains", "", 400, ""},
		{"a 70-character id", "GET", "/v1/companies/" + strings.Repeat("a", 70) + "/domains", "", 400, ""},
		{"an escaped slash that would climb to another tenant", "GET", "/v1/companies/acme%2F..%2Frival/domains", "", 400, ""},
		{"an empty id", "GET", "/v1/companies//domains", "", 400, ""},
		{"another user", "GET", "/v1/users/usr_2", "", 404, ""},
		{"a malformed user", "GET", "/v1/users/USR", "", 400, ""},
		{"oneself", "GET", "/v1/users/usr_1", "", 200, ""},
		{"a new organization in a company", "POST", "/v1/organizations", `{"organizationId":"x","organization":{"company":"companies/acme"}}`, 200, "companies/acme"},
		{"a new organization in a malformed company", "POST", "/v1/organizations", `{"organizationId":"x","organization":{"company":"companies/ACME"}}`, 400, ""},
		{"a new organization in something else", "POST", "/v1/organizations", `{"organizationId":"x","organization":{"company":"organizations/eng"}}`, 400, ""},
		{"a new organization without a company", "POST", "/v1/organizations", `{"organizationId":"x","organization":{}}`, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := &directory{allowed: true}
			a, tok := authorizer(t, dir, new(bytes.Buffer))
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			r.Header.Set("Authorization", "Bearer "+tok)
			withAuthorization(a, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})).ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			if tc.status == 400 && reasonIn(rec.Body.String()) != "INVALID_NAME" {
				t.Fatalf("%s, want INVALID_NAME", rec.Body)
			}
			if got := strings.Join(dir.asked, ","); got != tc.asked {
				t.Fatalf("the directory was asked about %q, want %q", got, tc.asked)
			}
		})
	}
}

func TestARefusedTokenIsLoggedWithItsProblem(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	a, tok := authorizer(t, &directory{allowed: true}, &log)
	parts := strings.Split(tok, ".")
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/v1/companies/acme/domains", nil)
	r.Header.Set("Authorization", "Bearer "+parts[0]+"."+parts[1]+".AAAA")
	withAuthorization(a, http.NotFoundHandler()).ServeHTTP(rec, r)
	if reason, md := infoIn(rec.Body.String()); rec.Code != 401 || reason != "INVALID_TOKEN" || md["problem"] != "bad_signature" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(log.String(), `"problem":"bad_signature"`) {
		t.Fatalf("the log does not say why: %s", log.String())
	}
}

// infoIn returns the ErrorInfo reason and metadata of a google.rpc.Status body.
func infoIn(body string) (string, map[string]string) {
	var st struct {
		Details []struct {
			Reason   string            `json:"reason"`
			Metadata map[string]string `json:"metadata"`
		} `json:"details"`
	}
	if json.Unmarshal([]byte(body), &st) != nil || len(st.Details) == 0 {
		return "", nil
	}
	return st.Details[0].Reason, st.Details[0].Metadata
}

func reasonIn(body string) string {
	r, _ := infoIn(body)
	return r
}
