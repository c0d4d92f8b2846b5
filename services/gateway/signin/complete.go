package signin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/gateway/tokens"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/opaque"
)

// loginCode is what a one-time code stands for. It is stored under the hash of the code, so that the
// store never holds a code that could be redeemed.
type loginCode struct {
	User           string `json:"u"`
	Email          string `json:"e"`
	Username       string `json:"n"`
	FullName       string `json:"f"`
	Connection     string `json:"c"`
	Client         string `json:"k"`
	ReturnTo       string `json:"r"`
	Challenge      string `json:"p,omitempty"`
	BindingHash    string `json:"b,omitempty"`
	SessionMinutes int    `json:"s"`
}

func codeKey(code string) string {
	sum := sha256.Sum256([]byte(code))
	return "code:" + hex.EncodeToString(sum[:])
}

// completed is a finished sign-in: where to send the browser, with what code.
type completed struct {
	redirect string
	identity *assertionv1.ValidatedIdentity
	testMode bool
}

// complete validates an IdP's answer, provisions the user and issues a one-time code bound to the
// start's PKCE challenge, or to the browser when the start had none.
func (f *Flow) complete(ctx context.Context, connectionID, samlResponse, relayState, binding, clientIP string) (completed, error) {
	if err := f.limit(ctx, "acs-ip", clientIP, f.Limits.ACSPerIP); err != nil {
		return completed{}, err
	}
	validated, err := f.Assertion.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{
		ConnectionId: connectionID, SamlResponse: samlResponse, RelayState: relayState, BrowserBinding: binding,
	})
	if err != nil {
		return completed{}, err
	}
	var in intent
	if err := json.Unmarshal(validated.GetFlowData(), &in); err != nil || in.ReturnTo == "" {
		return completed{}, errors.New("flow data of a validated sign-in is unreadable")
	}
	// The return address was checked at the start; check again, so that a change of the allow-list
	// in between is honoured.
	if !f.Policy.returnToAllowed(in.ReturnTo) {
		return completed{}, ErrReturnToNotAllowed
	}
	id := validated.GetIdentity()
	// The email is known only once the response is validated: a flood of sign-ins of one person,
	// from however many addresses, stops here, before provisioning.
	if err := f.limit(ctx, "acs-email", strings.ToLower(id.GetEmail()), f.Limits.ACSPerEmail); err != nil {
		return completed{}, err
	}
	// Provision by the same version of the connection that accepted the response.
	settings := validated.GetConnectionSettings()
	// The edge provisions on the person's behalf: the audit log names it as the actor.
	provisioned, err := f.Provisioning.ProvisionUser(callmeta.WithActor(ctx, "service:gateway"), &provisioningv1.ProvisionUserRequest{
		Identity: &provisioningv1.Identity{
			Connection: id.GetConnection(), Subject: id.GetSubject(), Email: id.GetEmail(), FullName: id.GetFullName(),
			Groups: id.GetGroups(), IechorOrg: id.GetIechorOrg(), IechorTeam: id.GetIechorTeam(), IechorRole: id.GetIechorRole(),
			IechorSessionMinutes: id.GetIechorSessionMinutes(),
		},
		Settings: &provisioningv1.ProvisioningSettings{
			JitEnabled: settings.GetJitEnabled(), Owner: settings.GetOwner(), Organizations: settings.GetOrganizations(),
			DefaultOrganization: settings.GetDefaultOrganization(), DefaultTeam: settings.GetDefaultTeam(), HonorIdpRoles: settings.GetHonorIdpRoles(),
		},
	})
	if err != nil {
		return completed{}, err
	}
	for _, w := range provisioned.GetWarnings() {
		f.Log.WarnContext(ctx, "provisioning warning", "connection", id.GetConnection(), "warning", w)
	}
	u := provisioned.GetUser()
	minutes := int(id.GetIechorSessionMinutes())
	if minutes <= 0 {
		minutes = int(settings.GetDefaultSessionMinutes())
	}
	rec := loginCode{
		User: u.GetName(), Email: u.GetEmail(), Username: u.GetUsername(), FullName: u.GetFullName(),
		Connection: id.GetConnection(), Client: in.Client, ReturnTo: in.ReturnTo, Challenge: in.Challenge, SessionMinutes: minutes,
	}
	if in.Challenge == "" {
		rec.BindingHash = hashBinding(binding)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return completed{}, err
	}
	code := opaque.Token(32)
	if err := f.Store.Set(ctx, codeKey(code), b, f.Policy.CodeTTL); err != nil {
		return completed{}, storeError(err)
	}
	dest, err := url.Parse(in.ReturnTo)
	if err != nil {
		return completed{}, ErrReturnToNotAllowed
	}
	q := dest.Query()
	q.Set("code", code)
	dest.RawQuery = q.Encode()
	return completed{redirect: dest.String(), identity: id, testMode: validated.GetTestMode()}, nil
}

// redeemed is an access token and whom it is for.
type redeemed struct {
	token   string
	expires time.Time
	code    loginCode
}

// redeem consumes a code — once, whatever happens next — and checks that the caller holds the
// start's PKCE verifier, or is the browser that signed in.
func (f *Flow) redeem(ctx context.Context, code, verifier, binding, clientIP string) (redeemed, error) {
	if err := f.limit(ctx, "redeem-ip", clientIP, f.Limits.RedeemPerIP); err != nil {
		return redeemed{}, err
	}
	if code == "" || len(code) > 128 {
		return redeemed{}, ErrCodeInvalid.With("field", "code")
	}
	b, err := f.Store.GetDelete(ctx, codeKey(code))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return redeemed{}, ErrCodeInvalid.With("field", "code")
	}
	if err != nil {
		return redeemed{}, storeError(err)
	}
	var rec loginCode
	if err := json.Unmarshal(b, &rec); err != nil {
		return redeemed{}, ErrCodeInvalid
	}
	switch {
	case rec.Challenge != "":
		sum := sha256.Sum256([]byte(verifier))
		got := base64.RawURLEncoding.EncodeToString(sum[:])
		if len(verifier) < 43 || len(verifier) > 128 || subtle.ConstantTimeCompare([]byte(got), []byte(rec.Challenge)) != 1 {
			return redeemed{}, ErrCodeVerifier.With("field", "code_verifier")
		}
	default:
		if binding == "" || subtle.ConstantTimeCompare([]byte(hashBinding(binding)), []byte(rec.BindingHash)) != 1 {
			return redeemed{}, ErrCodeBrowser
		}
	}
	now := f.now()
	var ttl time.Duration
	switch {
	case rec.SessionMinutes > 0:
		ttl = time.Duration(rec.SessionMinutes) * time.Minute
	case rec.Client == clientDesktop:
		ttl = f.Policy.DesktopSession
	default:
		ttl = f.Policy.HubSession
	}
	expires := now.Add(ttl).Truncate(time.Second)
	token, err := f.Tokens.Issue(tokens.Claims{
		Subject: rec.User, Email: rec.Email, Client: rec.Client, Connection: rec.Connection,
		IssuedAt: now, ExpiresAt: expires,
	})
	if err != nil {
		return redeemed{}, err
	}
	return redeemed{token: token, expires: expires, code: rec}, nil
}
