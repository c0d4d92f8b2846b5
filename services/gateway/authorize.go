package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/gateway/tokens"
)

// Authorizer decides whether a call to the admin API may go on. It is the one place where admin
// authentication happens at the edge.
type Authorizer interface {
	// Authorize returns the request to forward (carrying the principal), or a refusal to send as is.
	Authorize(r *http.Request) (*http.Request, *Refusal)
}

// Refusal is an admin call turned away at the edge.
type Refusal struct {
	Status  int
	Reason  string
	Message string
}

type principalKey struct{}

// Principal returns the authenticated user of a request's context (users/{id}), or "".
func Principal(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// WithPrincipal returns a context carrying an authenticated user.
func WithPrincipal(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// refusals of the admin API.
var (
	refuseNoToken = &Refusal{http.StatusUnauthorized, "UNAUTHENTICATED",
		"Sign in and send the access token as Authorization: Bearer <token>."}
	refuseBadToken     = &Refusal{http.StatusUnauthorized, "INVALID_TOKEN", "The access token is not valid."}
	refuseExpiredToken = &Refusal{http.StatusUnauthorized, "TOKEN_EXPIRED", "The access token has expired; sign in again."}
	// Another tenant's resources are indistinguishable from missing ones.
	refuseNotFound = &Refusal{http.StatusNotFound, "NOT_FOUND", "No such resource."}
	refuseOperator = &Refusal{http.StatusForbidden, "OPERATOR_ONLY",
		"Companies are created by an operator with `ssod bootstrap`."}
	refuseStandaloneOrganization = &Refusal{http.StatusForbidden, "ORGANIZATION_NEEDS_COMPANY",
		"Create organizations in a company you own (organization.company); organizations of their own are created by an operator with `ssod bootstrap`."}
	refuseDirectoryDown = &Refusal{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
		"A service behind the edge is unavailable; try again shortly."}
)

// BearerAuthorizer admits calls that carry a valid access token of a user who may manage the
// company or organization the path names: its owners (and, for an organization in a company, the
// company's owners), as the directory's CheckAccess decides.
type BearerAuthorizer struct {
	Tokens    tokens.Issuer
	Directory provisioningv1.DirectoryServiceClient
	MaxBody   int64
	Now       func() time.Time
	Log       *slog.Logger
}

// bearerToken returns the token of an "Authorization: Bearer ..." header, or "".
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

func (a *BearerAuthorizer) Authorize(r *http.Request) (*http.Request, *Refusal) {
	tok := bearerToken(r)
	if tok == "" {
		return nil, refuseNoToken
	}
	claims, err := a.Tokens.Verify(tok, a.Now())
	if errors.Is(err, tokens.ErrExpiredToken) {
		return nil, refuseExpiredToken
	}
	if err != nil {
		return nil, refuseBadToken
	}
	principal := claims.Subject
	resource, refusal := a.resourceOf(r, principal)
	if refusal != nil {
		return nil, refusal
	}
	if resource != "" {
		resp, err := a.Directory.CheckAccess(r.Context(), &provisioningv1.CheckAccessRequest{
			Principal: principal, Resource: resource, Action: provisioningv1.Action_ACTION_MANAGE_SSO,
		})
		if err != nil {
			a.Log.WarnContext(r.Context(), "access check failed", "err", err)
			return nil, refuseDirectoryDown
		}
		if !resp.GetAllowed() {
			return nil, refuseNotFound
		}
	}
	return r.WithContext(WithPrincipal(r.Context(), principal)), nil
}

// resourceOf returns the company or organization a call acts on, whose management the caller must
// be allowed; "" when the call is about the caller alone.
func (a *BearerAuthorizer) resourceOf(r *http.Request, principal string) (string, *Refusal) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/")
	segs := strings.Split(rest, "/")
	id := func() string {
		if len(segs) < 2 {
			return ""
		}
		s, _, _ := strings.Cut(segs[1], ":")
		return s
	}
	switch segs[0] {
	case "companies":
		if len(segs) == 1 {
			return "", refuseOperator
		}
		return "companies/" + id(), nil
	case "organizations":
		if len(segs) > 1 {
			return "organizations/" + id(), nil
		}
		if r.Method != http.MethodPost {
			return "", refuseNotFound
		}
		company, err := a.companyOfNewOrganization(r)
		if err != nil || company == "" {
			return "", refuseStandaloneOrganization
		}
		return company, nil
	case "users":
		if len(segs) > 1 && "users/"+id() == principal {
			return "", nil
		}
	}
	return "", refuseNotFound
}

// companyOfNewOrganization reads organization.company from a CreateOrganization body and puts the
// body back for the handler.
func (a *BearerAuthorizer) companyOfNewOrganization(r *http.Request) (string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, a.MaxBody+1))
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Organization struct {
			Company string `json:"company"`
		} `json:"organization"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "", err
	}
	if !strings.HasPrefix(req.Organization.Company, "companies/") {
		return "", nil
	}
	return req.Organization.Company, nil
}

func withAuthorization(a Authorizer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed, ref := a.Authorize(r)
		if ref != nil {
			if ref.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="iechor-sso"`)
			}
			writeError(w, r, ref.Status, ref.Reason, ref.Message)
			return
		}
		next.ServeHTTP(w, authed)
	})
}
