package connection_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// createActive makes an active SAML connection of owner on domains.
func (e *env) createActive(owner, display string, enforce bool, state connectionv1.ConnectionState, domains ...string) string {
	e.t.Helper()
	c := samlFromMetadata(e.t, "internal/metadata/testdata/okta.xml", domains...)
	c.DisplayName, c.EnforceSso, c.State = display, enforce, state
	if owner != "companies/acme" {
		c.Organizations = nil
	}
	r, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: owner, Connection: c})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.GetConnection().GetName()
}

const (
	active = connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE
	draft  = connectionv1.ConnectionState_CONNECTION_STATE_DRAFT
)

func TestResolutionAndSignInPolicyOverGRPC(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := newEnv(t, b)
		for _, d := range []string{"enforced.example", "optional.example", "drafts.example"} {
			e.verify("companies/acme", d)
		}
		e.verify("organizations/solo", "solo.example")
		enforcing := e.createActive("companies/acme", "Okta (enforcing)", true, active, "enforced.example")
		optional := e.createActive("companies/acme", "Okta", false, active, "optional.example", "enforced.example")
		testing1 := e.createActive("companies/acme", "Okta (test)", true, draft, "drafts.example")
		solo := e.createActive("organizations/solo", "Solo", false, active, "solo.example")

		t.Run("resolution", func(t *testing.T) {
			for _, tc := range []struct {
				name, email string
				drafts      bool
				want        []string
			}{
				{"an email on a domain of two active connections resolves to both", "jane@enforced.example", false, []string{enforcing, optional}},
				{"the domain is matched case-insensitively", "Jane@ENFORCED.Example", false, []string{enforcing, optional}},
				{"a draft is not resolved for a normal sign-in", "jane@drafts.example", false, nil},
				{"a draft is resolved for a test sign-in", "jane@drafts.example", true, []string{testing1}},
				{"an organization's connection resolves", "bob@solo.example", false, []string{solo}},
				{"a guest resolves to nothing", "guest@elsewhere.example", false, nil},
				{"a free email address resolves to nothing", "someone@gmail.com", false, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r, err := e.internal.ResolveConnections(ctx, &connectionv1.ResolveConnectionsRequest{Email: tc.email, IncludeDrafts: tc.drafts})
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, c := range r.GetConnections() {
						got = append(got, c.GetName())
						if c.GetOwner() == "" || c.GetDisplayName() == "" || c.GetType() != connectionv1.ConnectionType_CONNECTION_TYPE_SAML {
							t.Fatalf("resolved %v", c)
						}
					}
					slices.Sort(got)
					want := slices.Clone(tc.want)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Fatalf("resolved %v, want %v", got, want)
					}
				})
			}
			_, err := e.internal.ResolveConnections(ctx, &connectionv1.ResolveConnectionsRequest{Email: "not an email"})
			wantReason(t, err, codes.InvalidArgument, "INVALID_EMAIL", "email")
		})

		t.Run("sign-in policy", func(t *testing.T) {
			const (
				pw   = connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD
				sso  = connectionv1.SignInMethod_SIGN_IN_METHOD_SSO
				pat  = connectionv1.SignInMethod_SIGN_IN_METHOD_PAT
				hub  = connectionv1.ClientType_CLIENT_TYPE_HUB
				desk = connectionv1.ClientType_CLIENT_TYPE_DESKTOP
				cli  = connectionv1.ClientType_CLIENT_TYPE_CLI
			)
			for _, tc := range []struct {
				name     string
				email    string
				method   connectionv1.SignInMethod
				client   connectionv1.ClientType
				allowed  bool
				reason   string
				enforced bool
				message  string
			}{
				{"password on Hub is refused where SSO is enforced", "jane@enforced.example", pw, hub, false, "SSO_ENFORCED", true, ""},
				{"password on Desktop is refused where SSO is enforced", "jane@enforced.example", pw, desk, false, "SSO_ENFORCED", true, ""},
				{"password on the CLI is refused with the token advice", "jane@enforced.example", pw, cli, false, "USE_PERSONAL_ACCESS_TOKEN", true,
					"unauthorized: please use personal access token to login when SSO is enforced"},
				{"a token on the CLI is allowed where SSO is enforced", "jane@enforced.example", pat, cli, true, "PERSONAL_ACCESS_TOKEN_ALLOWED", true, ""},
				{"SSO is allowed where SSO is enforced", "jane@enforced.example", sso, hub, true, "SSO_AVAILABLE", true, ""},
				{"password is allowed where SSO is optional", "jane@optional.example", pw, hub, true, "SSO_NOT_ENFORCED", false, ""},
				{"an enforcing draft does not refuse passwords", "jane@drafts.example", pw, cli, true, "NO_SSO_CONNECTION", false, ""},
				{"a guest signs in with a password everywhere", "guest@elsewhere.example", pw, cli, true, "NO_SSO_CONNECTION", false, ""},
				{"a guest has no SSO", "guest@elsewhere.example", sso, hub, false, "NO_SSO_CONNECTION", false, ""},
				{"a free email address signs in with a password", "someone@gmail.com", pw, hub, true, "NO_SSO_CONNECTION", false, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p, err := e.internal.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{Email: tc.email, Method: tc.method, Client: tc.client})
					if err != nil {
						t.Fatal(err)
					}
					if p.GetAllowed() != tc.allowed || p.GetReason() != tc.reason || p.GetSsoEnforced() != tc.enforced || (tc.message != "" && p.GetMessage() != tc.message) {
						t.Fatalf("policy %v", p)
					}
				})
			}
			_, err := e.internal.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{Email: "jane@enforced.example"})
			wantReason(t, err, codes.InvalidArgument, "INVALID_SIGN_IN_METHOD", "method")
			_, err = e.internal.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{Email: "jane", Method: pw})
			wantReason(t, err, codes.InvalidArgument, "INVALID_EMAIL", "email")
		})

		t.Run("a change on one replica reaches the policy and the watchers of another", func(t *testing.T) {
			other := e.startReplica(t)
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := other.runtime.WatchConnections(wctx, &connectionv1.WatchConnectionsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Header(); err != nil {
				t.Fatal(err)
			}
			ask := func() *connectionv1.GetSignInPolicyResponse {
				p, err := other.internal.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{Email: "jane@optional.example", Method: connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			if !ask().GetAllowed() {
				t.Fatal("password refused before enforcement")
			}
			if _, err := e.client.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{
				Connection: &connectionv1.Connection{Name: optional, EnforceSso: true}, UpdateMask: mask("enforce_sso"),
			}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, func() error {
				if p := ask(); p.GetAllowed() {
					return fmt.Errorf("the other replica still allows passwords: %v", p)
				}
				return nil
			})
			msg, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			id := optional[strings.LastIndexByte(optional, '/')+1:]
			if !slices.Equal(msg.GetNames(), []string{optional}) || !slices.Equal(msg.GetConnectionIds(), []string{id}) {
				t.Fatalf("watch sent %v", msg)
			}
			if _, err := e.client.DeleteConnection(ctx, &connectionv1.DeleteConnectionRequest{Name: solo}); err != nil {
				t.Fatal(err)
			}
			msg, err = stream.Recv()
			if err != nil || !slices.Equal(msg.GetNames(), []string{solo}) {
				t.Fatalf("watch after a delete: %v, %v", msg, err)
			}
		})
	})
}
