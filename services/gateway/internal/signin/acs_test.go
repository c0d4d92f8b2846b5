package signin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// peers stands in for the assertion and provisioning services behind the edge: a real gRPC server
// on loopback that answers as they would and keeps what the edge told them.
type peers struct {
	assertionv1.UnimplementedAssertionInternalServiceServer
	provisioningv1.UnimplementedProvisioningInternalServiceServer

	mu        sync.Mutex
	refused   []*assertionv1.RecordRefusedSamlPostRequest
	validated []*assertionv1.ValidateSamlResponseRequest
	outcomes  []*assertionv1.ReportLoginOutcomeRequest
	// outcomeCtxErr is the error of each report's context as it arrived.
	outcomeCtxErr []error

	// refusedAnswer answers RecordRefusedSamlPost; validate and provision answer the others.
	refusedAnswer func(*assertionv1.RecordRefusedSamlPostRequest) (*assertionv1.RecordRefusedSamlPostResponse, error)
	validate      func(*assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error)
	provision     func(ctx context.Context) (*provisioningv1.ProvisionUserResponse, error)
	reported      chan struct{}
}

func (p *peers) RecordRefusedSamlPost(_ context.Context, req *assertionv1.RecordRefusedSamlPostRequest) (*assertionv1.RecordRefusedSamlPostResponse, error) {
	p.mu.Lock()
	p.refused = append(p.refused, req)
	p.mu.Unlock()
	if p.refusedAnswer != nil {
		return p.refusedAnswer(req)
	}
	return &assertionv1.RecordRefusedSamlPostResponse{AttemptId: "att_1"}, nil
}

func (p *peers) ValidateSamlResponse(_ context.Context, req *assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error) {
	p.mu.Lock()
	p.validated = append(p.validated, req)
	p.mu.Unlock()
	return p.validate(req)
}

func (p *peers) ReportLoginOutcome(ctx context.Context, req *assertionv1.ReportLoginOutcomeRequest) (*assertionv1.ReportLoginOutcomeResponse, error) {
	p.mu.Lock()
	p.outcomes = append(p.outcomes, req)
	p.outcomeCtxErr = append(p.outcomeCtxErr, ctx.Err())
	p.mu.Unlock()
	if p.reported != nil {
		p.reported <- struct{}{}
	}
	return &assertionv1.ReportLoginOutcomeResponse{}, nil
}

func (p *peers) ProvisionUser(ctx context.Context, _ *provisioningv1.ProvisionUserRequest) (*provisioningv1.ProvisionUserResponse, error) {
	return p.provision(ctx)
}

const (
	testConnection = "companies/acme/connections/conn_a"
	testBinding    = "b-01234567890123456789012345678901234567890"
	returnTo       = "https://hub.example/callback"
)

// validResponse is the assertion service's answer to a response that passed every check.
func validResponse(*assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error) {
	flow, _ := json.Marshal(intent{Connection: testConnection, ReturnTo: returnTo, Client: clientHub})
	return &assertionv1.ValidateSamlResponseResponse{
		Identity:           &assertionv1.ValidatedIdentity{Connection: testConnection, Subject: "jane@acme.example", Email: "jane@acme.example"},
		FlowData:           flow,
		AttemptId:          "att_validated",
		ConnectionSettings: &assertionv1.ConnectionSettings{JitEnabled: true, Owner: "companies/acme"},
	}, nil
}

func provisioned(context.Context) (*provisioningv1.ProvisionUserResponse, error) {
	return &provisioningv1.ProvisionUserResponse{User: &provisioningv1.User{Name: "users/u1", Email: "jane@acme.example"}}, nil
}

// acsEdge is the edge's browser endpoints in front of p, served by a real HTTP server.
type acsEdge struct {
	p   *peers
	srv *httptest.Server
}

func startACS(t *testing.T, p *peers) *acsEdge {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	assertionv1.RegisterAssertionInternalServiceServer(g, p)
	provisioningv1.RegisterProvisioningInternalServiceServer(g, p)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	mem := ephemeral.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	b := &Browser{
		Flow: &Flow{
			Policy:       Policy{ReturnToOrigins: []string{"https://hub.example"}, CodeTTL: time.Minute, IntentTTL: time.Minute},
			Assertion:    assertionv1.NewAssertionInternalServiceClient(conn),
			Provisioning: provisioningv1.NewProvisioningInternalServiceClient(conn),
			Store:        mem,
			Log:          logging.Discard(),
		},
		ClientIP:    func(*http.Request) string { return "192.0.2.1" },
		MaxACSBytes: testCap,
	}
	mux := http.NewServeMux()
	b.Register(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), "req-42")))
	}))
	t.Cleanup(srv.Close)
	return &acsEdge{p: p, srv: srv}
}

type answer struct {
	status   int
	location string
	page     string
}

var reasonOnPage = regexp.MustCompile(`<code id="reason">([A-Z_]+)</code>`)

func (a answer) reason() string {
	if m := reasonOnPage.FindStringSubmatch(a.page); m != nil {
		return m[1]
	}
	return ""
}

func (e *acsEdge) post(t *testing.T, path, contentType, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.AddCookie(&http.Cookie{Name: "iechor-sso-binding", Value: testBinding})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), page: b.String()}
}

const form = "application/x-www-form-urlencoded"

func TestEveryRefusalAtTheACSIsTypedRecordedAndSpendsItsRelayState(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("A", testCap)
	for _, tc := range []struct {
		name, path, contentType, body string
		status                        int
		reason, check, got, relay     string
	}{
		{"a body over the cap", "/saml/conn_a/acs", form, "SAMLResponse=" + big + "&RelayState=relay-1",
			http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "size of the posted form", "4128 bytes", "relay-1"},
		{"a body far over the cap, with its relay state first", "/saml/conn_a/acs", form, "RelayState=relay-1&SAMLResponse=" + strings.Repeat(big, 9),
			http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "size of the posted form", "more than 32768 bytes", "relay-1"},
		{"a field other than the two", "/saml/conn_a/acs", form, "SAMLResponse=x&RelayState=relay-1&debug=1",
			http.StatusBadRequest, "ACS_UNKNOWN_FIELD", "fields of the posted form", `a field named "debug"`, "relay-1"},
		{"a field twice", "/saml/conn_a/acs", form, "SAMLResponse=x&RelayState=relay-1&SAMLResponse=y",
			http.StatusBadRequest, "ACS_DUPLICATE_FIELD", "fields of the posted form", `"SAMLResponse" more than once`, "relay-1"},
		{"a query string", "/saml/conn_a/acs?SAMLResponse=x", form, "SAMLResponse=x&RelayState=relay-1",
			http.StatusBadRequest, "ACS_QUERY_STRING", "address of the post", "a query string of 14 bytes", "relay-1"},
		{"a form that is not URL encoding", "/saml/conn_a/acs", form, "SAMLResponse=%zz&RelayState=relay-1",
			http.StatusBadRequest, "ACS_MALFORMED_FORM", "encoding of the posted form", "a field that is not", "relay-1"},
		{"no SAMLResponse", "/saml/conn_a/acs", form, "RelayState=relay-1",
			http.StatusBadRequest, "ACS_MISSING_SAML_RESPONSE", "fields of the posted form", "none", "relay-1"},
		{"a body that is not a form", "/saml/conn_a/acs", "application/json", `{"SAMLResponse":"x"}`,
			http.StatusUnsupportedMediaType, "ACS_UNSUPPORTED_MEDIA_TYPE", "Content-Type of the post", `"application/json"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startACS(t, &peers{})
			a := e.post(t, tc.path, tc.contentType, tc.body)
			if a.status != tc.status || a.reason() != tc.reason || !strings.Contains(a.page, `<code id="reference">req-42</code>`) ||
				!strings.Contains(a.page, "Contact your company administrator") {
				t.Fatalf("%d %s\n%s", a.status, a.reason(), a.page)
			}
			if len(e.p.refused) != 1 || len(e.p.validated) != 0 {
				t.Fatalf("%d refusals recorded, %d validations", len(e.p.refused), len(e.p.validated))
			}
			r := e.p.refused[0]
			if r.GetConnectionId() != "conn_a" || r.GetReason() != tc.reason || r.GetCheck() != tc.check || r.GetGot() != tc.got ||
				r.GetRelayState() != tc.relay || r.GetBrowserBinding() != testBinding || r.GetFixBy() != assertionv1.FixBy_FIX_BY_IDP_ADMIN {
				t.Fatalf("recorded %v", r)
			}
		})
	}
}

func TestARefusedTestSignInShowsTheCheckToTheAdmin(t *testing.T) {
	t.Parallel()
	e := startACS(t, &peers{refusedAnswer: func(*assertionv1.RecordRefusedSamlPostRequest) (*assertionv1.RecordRefusedSamlPostResponse, error) {
		return &assertionv1.RecordRefusedSamlPostResponse{AttemptId: "att_1", RelayStateConsumed: true, TestMode: true}, nil
	}})
	a := e.post(t, "/saml/conn_a/acs", form, "SAMLResponse=x&RelayState=r&extra=1")
	if a.status != http.StatusBadRequest || !strings.Contains(a.page, "fields of the posted form") || !strings.Contains(a.page, "a field named &#34;extra&#34;") {
		t.Fatalf("%d\n%s", a.status, a.page)
	}
}

func TestAPostToAConnectionThatDoesNotExistIsStillRefusedAsItWas(t *testing.T) {
	t.Parallel()
	e := startACS(t, &peers{refusedAnswer: func(*assertionv1.RecordRefusedSamlPostRequest) (*assertionv1.RecordRefusedSamlPostResponse, error) {
		return nil, rpcerror.New(codes.NotFound, "CONNECTION_NOT_FOUND", "No such connection.")
	}})
	if a := e.post(t, "/saml/conn_nope/acs", form, "SAMLResponse=x&extra=1"); a.status != http.StatusBadRequest || a.reason() != "ACS_UNKNOWN_FIELD" {
		t.Fatalf("%d %s", a.status, a.reason())
	}
}

func TestAPostToAPathThatCannotNameAConnectionIsRefusedWithoutAskingAnyone(t *testing.T) {
	t.Parallel()
	e := startACS(t, &peers{})
	for _, path := range []string{"/saml/nothing/acs", "/saml/conn_%FF/acs", "/saml/conn_" + strings.Repeat("a", 100) + "/acs"} {
		if a := e.post(t, path, form, "SAMLResponse=x&extra=1"); a.status != http.StatusBadRequest || a.reason() != "ACS_UNKNOWN_FIELD" {
			t.Fatalf("%s: %d %s", path, a.status, a.reason())
		}
	}
	if len(e.p.refused) != 0 {
		t.Fatalf("recorded %v", e.p.refused)
	}
}

func TestAResponseThatIsNotBase64IsRefusedByTheAssertionServiceWithItsReason(t *testing.T) {
	t.Parallel()
	e := startACS(t, &peers{validate: func(*assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error) {
		return nil, rpcerror.New(codes.InvalidArgument, "MALFORMED_XML", "Sign-in failed. Give your company administrator this reference: att_9.").
			With("attempt_id", "att_9")
	}})
	a := e.post(t, "/saml/conn_a/acs", form, "SAMLResponse=%21%21not-base64&RelayState=relay-1")
	if a.status != http.StatusBadRequest || a.reason() != "MALFORMED_XML" || !strings.Contains(a.page, "req-42") {
		t.Fatalf("%d %s\n%s", a.status, a.reason(), a.page)
	}
	if len(e.p.validated) != 1 || e.p.validated[0].GetSamlResponse() != "!!not-base64" || e.p.validated[0].GetRelayState() != "relay-1" || len(e.p.refused) != 0 {
		t.Fatalf("validated %v, refused %v", e.p.validated, e.p.refused)
	}
}

func TestTheEdgeReportsHowAValidatedSignInEnded(t *testing.T) {
	t.Parallel()
	unavailable := status.Error(codes.Unavailable, "connection refused")
	for _, tc := range []struct {
		name      string
		provision func(context.Context) (*provisioningv1.ProvisionUserResponse, error)
		status    int
		want      *assertionv1.ReportLoginOutcomeRequest
	}{
		{"a code issued is a sign-in", provisioned, http.StatusFound, &assertionv1.ReportLoginOutcomeRequest{
			Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN}},
		{"no seats is a refusal with its reason and the step", func(context.Context) (*provisioningv1.ProvisionUserResponse, error) {
			return nil, rpcerror.New(codes.FailedPrecondition, "NO_SEATS", "Not enough seats in the organization.")
		}, http.StatusBadRequest, &assertionv1.ReportLoginOutcomeRequest{Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED,
			Reason: "NO_SEATS", Check: "provisioning of the user", Got: "Not enough seats in the organization.", FixBy: assertionv1.FixBy_FIX_BY_IECHOR}},
		{"a person not assigned is a refusal", func(context.Context) (*provisioningv1.ProvisionUserResponse, error) {
			return nil, rpcerror.New(codes.PermissionDenied, "USER_NOT_ASSIGNED", "User 'Jane' is not assigned to this SSO organization.")
		}, http.StatusForbidden, &assertionv1.ReportLoginOutcomeRequest{Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED,
			Reason: "USER_NOT_ASSIGNED", Check: "provisioning of the user", Got: "User 'Jane' is not assigned to this SSO organization.",
			FixBy: assertionv1.FixBy_FIX_BY_IECHOR}},
		{"provisioning unavailable is a refusal that names no library", func(context.Context) (*provisioningv1.ProvisionUserResponse, error) {
			return nil, unavailable
		}, http.StatusServiceUnavailable, &assertionv1.ReportLoginOutcomeRequest{Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED,
			Reason: "SERVICE_UNAVAILABLE", Check: "provisioning of the user", Got: "a service behind the edge could not be reached",
			FixBy: assertionv1.FixBy_FIX_BY_IECHOR}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startACS(t, &peers{validate: validResponse, provision: tc.provision})
			a := e.post(t, "/saml/conn_a/acs", form, "SAMLResponse=x&RelayState=relay-1")
			if a.status != tc.status {
				t.Fatalf("%d\n%s", a.status, a.page)
			}
			if tc.status == http.StatusFound && !strings.HasPrefix(a.location, returnTo+"?code=") {
				t.Fatalf("redirected to %q", a.location)
			}
			tc.want.AttemptId, tc.want.Connection = "att_validated", testConnection
			if len(e.p.outcomes) != 1 || !proto.Equal(e.p.outcomes[0], tc.want) {
				t.Fatalf("reported %v, want %v", e.p.outcomes, tc.want)
			}
		})
	}
	t.Run("a return address taken off the allow-list since the start is a refusal", func(t *testing.T) {
		e := startACS(t, &peers{validate: func(r *assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error) {
			resp, _ := validResponse(r)
			resp.FlowData, _ = json.Marshal(intent{Connection: testConnection, ReturnTo: "https://old-hub.example/", Client: clientHub})
			return resp, nil
		}, provision: provisioned})
		e.post(t, "/saml/conn_a/acs", form, "SAMLResponse=x&RelayState=relay-1")
		if len(e.p.outcomes) != 1 || e.p.outcomes[0].GetReason() != "RETURN_TO_NOT_ALLOWED" || e.p.outcomes[0].GetCheck() != "return address of the sign-in" {
			t.Fatalf("reported %v", e.p.outcomes)
		}
	})
	t.Run("a failed validation is not reported again: the assertion service recorded it", func(t *testing.T) {
		e := startACS(t, &peers{validate: func(*assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error) {
			return nil, rpcerror.New(codes.PermissionDenied, "BAD_AUDIENCE", "Sign-in failed.")
		}})
		if a := e.post(t, "/saml/conn_a/acs", form, "SAMLResponse=x&RelayState=relay-1"); a.status != http.StatusForbidden || a.reason() != "BAD_AUDIENCE" {
			t.Fatalf("%d %s", a.status, a.reason())
		}
		if len(e.p.outcomes) != 0 {
			t.Fatalf("reported %v", e.p.outcomes)
		}
	})
}

// postQuietly posts a sign-in whose answer nobody waits for.
func postQuietly(ctx context.Context, base string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/saml/conn_a/acs",
		strings.NewReader(url.Values{"SAMLResponse": {"x"}}.Encode()))
	req.Header.Set("Content-Type", form)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// blockedProvisioning is a provisioning that answers only when the edge gives up on it.
func blockedProvisioning(started chan<- struct{}) func(ctx context.Context) (*provisioningv1.ProvisionUserResponse, error) {
	return func(ctx context.Context) (*provisioningv1.ProvisionUserResponse, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, status.Error(codes.Canceled, "canceled")
	}
}

func TestASignInCutShortIsStillRecordedWithWhatCutItShort(t *testing.T) {
	t.Parallel()
	t.Run("by the edge shutting down", func(t *testing.T) {
		started := make(chan struct{}, 1)
		p := &peers{validate: validResponse, provision: blockedProvisioning(started), reported: make(chan struct{}, 1)}
		e := startACS(t, p)
		go postQuietly(context.Background(), e.srv.URL)
		<-started
		// The edge stops: its grace runs out before the sign-in finishes, and the connection is cut.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_ = e.srv.Config.Shutdown(ctx)
		e.srv.CloseClientConnections()
		select {
		case <-p.reported:
		case <-time.After(10 * time.Second):
			t.Fatal("nothing reported")
		}
		if o := p.outcomes[0]; o.GetReason() != "SHUTTING_DOWN" || o.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED ||
			o.GetCheck() != "provisioning of the user" || p.outcomeCtxErr[0] != nil {
			t.Fatalf("reported %v (context %v)", o, p.outcomeCtxErr[0])
		}
	})
	t.Run("by the browser going away", func(t *testing.T) {
		started := make(chan struct{}, 1)
		p := &peers{validate: validResponse, provision: blockedProvisioning(started), reported: make(chan struct{}, 1)}
		e := startACS(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		go postQuietly(ctx, e.srv.URL)
		<-started
		cancel()
		select {
		case <-p.reported:
		case <-time.After(10 * time.Second):
			t.Fatal("nothing reported")
		}
		if o := p.outcomes[0]; o.GetReason() != "REQUEST_CANCELED" || p.outcomeCtxErr[0] != nil {
			t.Fatalf("reported %v (context %v)", o, p.outcomeCtxErr[0])
		}
	})
}

func TestEveryFailurePageNamesItsTypedReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
	}{
		{errACSTooLarge, http.StatusRequestEntityTooLarge},
		{errACSMediaType, http.StatusUnsupportedMediaType},
		{errACSUnknown, http.StatusBadRequest},
		{rpcerror.New(codes.PermissionDenied, "BAD_AUDIENCE", "Sign-in failed."), http.StatusForbidden},
		{rpcerror.New(codes.Unavailable, "EPHEMERAL_STORE_UNAVAILABLE", "down"), http.StatusServiceUnavailable},
	} {
		_, reason, _ := rpcerror.Info(tc.err)
		t.Run(reason, func(t *testing.T) {
			status, body := renderedPage(t, tc.err)
			if status != tc.status || !strings.Contains(body, `<code id="reason">`+reason+`</code>`) || !strings.Contains(body, "req-7") {
				t.Fatalf("%d\n%s", status, body)
			}
		})
	}
}

func TestAPostWhoseBrowserLeftMidBodyIsStillRecordedAndSpendsItsRelayState(t *testing.T) {
	t.Parallel()
	p := &peers{}
	e := startACS(t, p)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := "RelayState=relay-1&SAMLResponse=PHNhbWw"
	// The browser announces more than it sends, then goes away.
	_, _ = conn.Write([]byte("POST /saml/conn_a/acs HTTP/1.1\r\nHost: x\r\nContent-Type: " + form +
		"\r\nCookie: iechor-sso-binding=" + testBinding + "\r\nContent-Length: 1000\r\n\r\n" + body))
	_ = conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.refused)
		p.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused post was not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.refused[0]; r.GetReason() != "ACS_BODY_UNREADABLE" || r.GetRelayState() != "relay-1" || r.GetBrowserBinding() != testBinding ||
		r.GetGot() != "39 bytes, then the connection failed" {
		t.Fatalf("recorded %v", r)
	}
}
