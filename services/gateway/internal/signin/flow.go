package signin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/gateway/internal/ratelimit"
	"github.com/iechor/sso/services/gateway/internal/tokens"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/opaque"
)

// Limits are the rate limits of the sign-in endpoints.
type Limits struct {
	StartPerIP    ratelimit.Limit
	StartPerEmail ratelimit.Limit
	ACSPerIP      ratelimit.Limit
	ACSPerEmail   ratelimit.Limit
	RedeemPerIP   ratelimit.Limit
}

// Flow is the sign-in machinery shared by the JSON API and the browser endpoints.
type Flow struct {
	Policy       Policy
	Connections  connectionv1.ConnectionInternalServiceClient
	Assertion    assertionv1.AssertionInternalServiceClient
	Provisioning provisioningv1.ProvisioningInternalServiceClient
	Store        ephemeral.Store
	Limiter      *ratelimit.Limiter
	Limits       Limits
	Tokens       tokens.Issuer
	Log          *slog.Logger
	Now          func() time.Time
}

func (f *Flow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Client kinds as they travel in an intent and a token.
const (
	clientHub     = "hub"
	clientDesktop = "desktop"
	clientCLI     = "cli"
)

// intent is a sign-in that has been started: it waits for its browser under a handle, then travels
// through the IdP as the assertion service's flow data, and comes back with the identity.
type intent struct {
	Connection string `json:"c"`
	ReturnTo   string `json:"r"`
	Challenge  string `json:"p,omitempty"`
	Client     string `json:"k"`
	Email      string `json:"e"`
	TestMode   bool   `json:"t,omitempty"`
}

// startRequest is a sign-in to start, from either kind of endpoint.
type startRequest struct {
	email            string
	client           string
	clientVersion    string
	returnTo         string
	challenge        string
	challengeMethod  string
	connection       string
	testMode         bool
	principal        string // the verified subject of the caller's bearer token, if any
	clientIP         string
	requireChallenge bool
}

// startResult is a started sign-in, or the connections to choose from.
type startResult struct {
	connection *connectionv1.ResolvedConnection
	choices    []*connectionv1.ResolvedConnection
	intent     intent
}

func (f *Flow) limit(ctx context.Context, scope, key string, l ratelimit.Limit) error {
	if f.Limiter == nil || key == "" {
		return nil
	}
	d, err := f.Limiter.Allow(ctx, scope, key, l)
	if err != nil {
		f.Log.ErrorContext(ctx, "rate limit store unavailable", "scope", scope, "err", err)
		return ErrStoreUnavailable
	}
	if !d.Allowed {
		secs := int(d.RetryAfter.Seconds() + 0.999)
		return ErrRateLimited.With("retry_after_seconds", strconv.Itoa(secs))
	}
	return nil
}

func normalizeEmail(raw string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(raw))
	if err != nil || a.Name != "" || len(a.Address) > 320 || !strings.Contains(a.Address, "@") {
		return "", ErrInvalidEmail
	}
	return strings.ToLower(a.Address), nil
}

// validChallenge checks the form of an S256 challenge: 32 bytes in unpadded base64url.
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

func (f *Flow) start(ctx context.Context, req startRequest) (startResult, error) {
	if err := f.limit(ctx, "start-ip", req.clientIP, f.Limits.StartPerIP); err != nil {
		return startResult{}, err
	}
	email, err := normalizeEmail(req.email)
	if err != nil {
		return startResult{}, err
	}
	if err := f.limit(ctx, "start-email", email, f.Limits.StartPerEmail); err != nil {
		return startResult{}, err
	}
	switch req.client {
	case clientHub, clientCLI:
	case clientDesktop:
		old, err := f.Policy.desktopTooOld(req.clientVersion)
		if err != nil {
			return startResult{}, ErrInvalidVersion.With("field", "client.version")
		}
		if old {
			return startResult{}, ErrDesktopTooOld.
				WithMessage("iEchor Desktop %s or later is required to sign in with SSO. Update iEchor Desktop and sign in again.", f.Policy.MinDesktopVersion).
				With("minimum_version", f.Policy.MinDesktopVersion)
		}
	default:
		return startResult{}, ErrInvalidClient.With("field", "client.type")
	}
	if !f.Policy.returnToAllowed(req.returnTo) {
		return startResult{}, ErrReturnToNotAllowed.With("field", "return_to")
	}
	if req.challengeMethod != "" && req.challengeMethod != "S256" {
		return startResult{}, ErrChallengeMethod.With("field", "code_challenge_method")
	}
	if (req.requireChallenge || req.challenge != "") && !validChallenge(req.challenge) {
		return startResult{}, ErrInvalidChallenge.With("field", "code_challenge")
	}

	resolved, err := f.Connections.ResolveConnections(ctx, &connectionv1.ResolveConnectionsRequest{Email: email, IncludeDrafts: true})
	if err != nil {
		return startResult{}, err
	}
	var candidates []*connectionv1.ResolvedConnection
	for _, c := range resolved.GetConnections() {
		// A choice comes back as the opaque id that the answer gave (the full name, which an admin
		// knows, is accepted too); either must be one of the email's connections.
		if req.connection != "" && connectionID(c.GetName()) != req.connection && c.GetName() != req.connection {
			continue
		}
		if c.GetState() != connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE && !req.testMode {
			if req.connection != "" {
				return startResult{}, ErrConnectionInactive
			}
			continue
		}
		candidates = append(candidates, c)
	}
	if len(candidates) == 0 {
		if req.connection != "" && len(resolved.GetConnections()) > 0 {
			return startResult{}, ErrConnectionNotFound.With("field", "connection")
		}
		return startResult{}, f.noConnection(ctx, email, req.client)
	}
	if req.client == clientCLI {
		return startResult{}, ErrUsePAT
	}
	if len(candidates) > 1 {
		return startResult{choices: candidates}, nil
	}
	chosen := candidates[0]
	if req.testMode {
		if req.principal == "" {
			return startResult{}, ErrTestModeForbidden
		}
		access, err := f.Provisioning.CheckAccess(ctx, &provisioningv1.CheckAccessRequest{
			Principal: req.principal, Resource: chosen.GetName(), Action: provisioningv1.Action_ACTION_MANAGE_SSO,
		})
		if err != nil {
			return startResult{}, err
		}
		if !access.GetAllowed() {
			return startResult{}, ErrTestModeForbidden
		}
	}
	return startResult{connection: chosen, intent: intent{
		Connection: chosen.GetName(), ReturnTo: req.returnTo, Challenge: req.challenge,
		Client: req.client, Email: email, TestMode: req.testMode,
	}}, nil
}

// noConnection is the refusal for an email without SSO; it says whether password sign-in remains.
func (f *Flow) noConnection(ctx context.Context, email, client string) error {
	policy, err := f.Connections.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{
		Email: email, Method: connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD, Client: clientTypeToConnection(client),
	})
	if err != nil {
		return err
	}
	allowed := "true"
	if !policy.GetAllowed() {
		allowed = "false"
	}
	return ErrNoConnection.With("password_allowed", allowed)
}

func clientTypeToConnection(c string) connectionv1.ClientType {
	switch c {
	case clientHub:
		return connectionv1.ClientType_CLIENT_TYPE_HUB
	case clientDesktop:
		return connectionv1.ClientType_CLIENT_TYPE_DESKTOP
	case clientCLI:
		return connectionv1.ClientType_CLIENT_TYPE_CLI
	}
	return connectionv1.ClientType_CLIENT_TYPE_UNSPECIFIED
}

// connectionID is the last segment of a connection name: the opaque conn_... id that anonymous
// callers see instead of the name, which would tell them the company or organization.
func connectionID(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// saveIntent keeps a started sign-in until its browser arrives, and returns the handle.
func (f *Flow) saveIntent(ctx context.Context, in intent) (string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	handle := opaque.Token(24)
	if err := f.Store.Set(ctx, "intent:"+handle, b, f.Policy.IntentTTL); err != nil {
		return "", storeError(err)
	}
	return handle, nil
}

// takeIntent consumes a started sign-in: a handle works once.
func (f *Flow) takeIntent(ctx context.Context, handle string) (intent, error) {
	if handle == "" || len(handle) > 64 {
		return intent{}, ErrIntentUnknown
	}
	b, err := f.Store.GetDelete(ctx, "intent:"+handle)
	if errors.Is(err, ephemeral.ErrNotFound) {
		return intent{}, ErrIntentUnknown
	}
	if err != nil {
		return intent{}, storeError(err)
	}
	var in intent
	if err := json.Unmarshal(b, &in); err != nil {
		return intent{}, ErrIntentUnknown
	}
	return in, nil
}

func storeError(err error) error {
	if errors.Is(err, ephemeral.ErrUnavailable) {
		return ErrStoreUnavailable
	}
	return err
}

// hashBinding is what is stored of a browser-binding value.
func hashBinding(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}
