package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/gateway/internal/tokens"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// Authorizer decides whether a call to the admin API may go on. It is the one place where admin
// authentication happens at the edge.
type Authorizer interface {
	// Authorize returns the request to forward (carrying the principal), or a refusal to send as is.
	Authorize(r *http.Request) (*http.Request, *Refusal)
}

// Refusal is an admin call turned away at the edge.
type Refusal struct {
	Status   int
	Reason   string
	Message  string
	Metadata map[string]string
}

// withMessage returns a copy of f with another message.
func (f *Refusal) withMessage(m string) *Refusal {
	c := *f
	c.Message = m
	return &c
}

// with returns a copy of f with a metadata key set.
func (f *Refusal) with(key, value string) *Refusal {
	c := *f
	c.Metadata = map[string]string{key: value}
	for k, v := range f.Metadata {
		if k != key {
			c.Metadata[k] = v
		}
	}
	return &c
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
	refuseNoToken = &Refusal{Status: http.StatusUnauthorized, Reason: "UNAUTHENTICATED",
		Message: "Sign in and send the access token as Authorization: Bearer <token>."}
	refuseBadToken     = &Refusal{Status: http.StatusUnauthorized, Reason: "INVALID_TOKEN", Message: "The access token is not valid."}
	refuseExpiredToken = &Refusal{Status: http.StatusUnauthorized, Reason: "TOKEN_EXPIRED", Message: "The access token has expired; sign in again."}
	// A malformed name says nothing about what exists, so it is refused as what it is.
	refuseInvalidName = &Refusal{Status: http.StatusBadRequest, Reason: "INVALID_NAME", Message: "The resource name in the path is not valid."}
	// Another tenant's resources are indistinguishable from missing ones.
	refuseNotFound = &Refusal{Status: http.StatusNotFound, Reason: "NOT_FOUND", Message: "No such resource."}
	refuseOperator = &Refusal{Status: http.StatusForbidden, Reason: "OPERATOR_ONLY",
		Message: "Companies are created by an operator with `ssod bootstrap`."}
	refuseStandaloneOrganization = &Refusal{Status: http.StatusForbidden, Reason: "ORGANIZATION_NEEDS_COMPANY",
		Message: "Create organizations in a company you own (organization.company); organizations of their own are created by an operator with `ssod bootstrap`."}
	refuseBadBody       = &Refusal{Status: http.StatusBadRequest, Reason: "INVALID_REQUEST_BODY", Message: "The request body is not valid for this call."}
	refuseDirectoryDown = &Refusal{Status: http.StatusServiceUnavailable, Reason: "SERVICE_UNAVAILABLE",
		Message: "A service behind the edge is unavailable; try again shortly."}
	refuseInternal = &Refusal{Status: http.StatusInternalServerError, Reason: rpcerror.Internal.Reason, Message: rpcerror.Internal.Message}
)

// BearerAuthorizer admits calls that carry a valid access token of a user who may manage the
// company or organization the path names: its owners (and, for an organization in a company, the
// company's owners), as the directory's CheckAccess decides.
type BearerAuthorizer struct {
	Tokens    tokens.Issuer
	Directory provisioningv1.ProvisioningInternalServiceClient
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
	ctx := r.Context()
	tok := bearerToken(r)
	if tok == "" {
		return nil, refuseNoToken
	}
	claims, err := a.Tokens.Verify(tok, a.Now())
	if err != nil {
		problem := string(tokens.ProblemOf(err))
		a.Log.InfoContext(ctx, "access token refused", "problem", problem)
		if errors.Is(err, tokens.ErrExpiredToken) {
			return nil, refuseExpiredToken.with("problem", problem)
		}
		return nil, refuseBadToken.with("problem", problem)
	}
	principal := claims.Subject
	resource, refusal := a.resourceOf(r, principal)
	if refusal != nil {
		return nil, refusal
	}
	if resource != "" {
		resp, err := a.Directory.CheckAccess(ctx, &provisioningv1.CheckAccessRequest{
			Principal: principal, Resource: resource, Action: provisioningv1.Action_ACTION_MANAGE_SSO,
		})
		if err != nil {
			return nil, a.checkFailed(r, err)
		}
		if !resp.GetAllowed() {
			return nil, refuseNotFound
		}
	}
	return r.WithContext(WithPrincipal(ctx, principal)), nil
}

// checkFailed is the refusal for a CheckAccess that did not answer, by the class of its error: only
// a directory that is down or out of time makes the edge unavailable; a request it calls malformed
// is the caller's mistake; anything else is a bug.
func (a *BearerAuthorizer) checkFailed(r *http.Request, err error) *Refusal {
	code, reason, md := rpcerror.Info(err)
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded:
		a.Log.WarnContext(r.Context(), "access check unavailable", "code", code.String(), "reason", reason, "err", err)
		if reason != "" && code == codes.Unavailable {
			// The directory's own account of its outage (STORE_UNAVAILABLE...) is ours to pass on.
			return &Refusal{Status: http.StatusServiceUnavailable, Reason: reason, Message: grpcstatus.Convert(err).Message()}
		}
		return refuseDirectoryDown
	case codes.InvalidArgument:
		a.Log.InfoContext(r.Context(), "access check refused the request", "reason", reason, "field", md["field"])
		return refuseInvalidName
	case codes.NotFound, codes.PermissionDenied:
		return refuseNotFound
	}
	a.Log.ErrorContext(r.Context(), "access check failed", "code", code.String(), "reason", reason, "err", err)
	return refuseInternal
}

// resourceOf returns the company or organization a call acts on, whose management the caller must
// be allowed; "" when the call is about the caller alone. It reads the path as the router does,
// segment by segment before unescaping, so that an escaped slash cannot make the owner checked
// here differ from the one the call acts on; a malformed owner is refused with INVALID_NAME.
func (a *BearerAuthorizer) resourceOf(r *http.Request, principal string) (string, *Refusal) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/v1/")
	segs := strings.Split(rest, "/")
	kind := segs[0]
	owner := func() (string, *Refusal) {
		id, _, _ := strings.Cut(segs[1], ":") // a custom method on the owner itself
		id, err := url.PathUnescape(id)
		if err != nil {
			return "", refuseInvalidName.with("field", "path")
		}
		name := kind + "/" + id
		var o resourcename.Owner
		if kind == "users" {
			if !resourcename.ValidID(id) {
				err = &resourcename.Error{Name: name, Problem: "a user is users/{id}, where an id is 1 to 63 lower-case letters, digits, hyphens and underscores"}
			}
		} else if o, err = resourcename.ParseOwner(name); err == nil {
			name = o.String()
		}
		if err != nil {
			return "", refuseInvalidName.with("field", "path").withMessage(err.Error())
		}
		return name, nil
	}
	switch kind {
	case resourcename.Companies:
		if len(segs) == 1 {
			return "", refuseOperator
		}
		return owner()
	case resourcename.Organizations:
		if len(segs) > 1 {
			return owner()
		}
		if r.Method != http.MethodPost {
			return "", refuseNotFound
		}
		return a.companyOfNewOrganization(r)
	case "users":
		if len(segs) < 2 {
			return "", refuseNotFound
		}
		name, refusal := owner()
		if refusal != nil {
			return "", refusal
		}
		if name == principal {
			return "", nil
		}
	}
	return "", refuseNotFound
}

// companyOfNewOrganization reads organization.company from a CreateOrganization body, exactly as
// the handler will (protojson, the same message), and puts the body back for the handler. The body
// has passed the request checks; one that still does not decode is refused, never let through.
func (a *BearerAuthorizer) companyOfNewOrganization(r *http.Request) (string, *Refusal) {
	body, err := io.ReadAll(io.LimitReader(r.Body, a.MaxBody+1))
	if err != nil {
		return "", refuseBadBody
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req provisioningv1.CreateOrganizationRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := protojson.Unmarshal(body, &req); err != nil {
			return "", refuseBadBody
		}
	}
	company := req.GetOrganization().GetCompany()
	if company == "" {
		return "", refuseStandaloneOrganization
	}
	o, err := resourcename.ParseOwner(company)
	if err != nil || o.Kind != resourcename.Companies {
		problem := "an organization's company is companies/{id}"
		if err != nil {
			problem = err.Error()
		}
		return "", refuseInvalidName.with("field", "organization.company").withMessage(problem)
	}
	return o.String(), nil
}

func withAuthorization(a Authorizer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed, ref := a.Authorize(r)
		if ref != nil {
			if ref.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="iechor-sso"`)
			}
			e := rpcerror.New(codeOf(ref.Status), ref.Reason, ref.Message)
			for k, v := range ref.Metadata {
				e = e.With(k, v)
			}
			writeStatus(w, r, ref.Status, e)
			return
		}
		next.ServeHTTP(w, authed)
	})
}
