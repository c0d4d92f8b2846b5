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
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/gateway/internal/tokens"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/rpcerror"
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

// acsPost is what the ACS handler passes on of a post that passed its own checks.
type acsPost struct {
	connectionID, samlResponse, relayState, binding string
	// stopping reports whether the edge has begun to shut down.
	stopping func() bool
}

// complete validates an IdP's answer, provisions the user and issues a one-time code bound to the
// start's PKCE challenge, or to the browser when the start had none. Once the answer is validated it
// tells the assertion service how the sign-in ended — a code, or the refusal that came after
// validation — so that the sign-in log calls it a sign-in only when the person got a code.
func (f *Flow) complete(ctx context.Context, post acsPost) (completed, error) {
	validated, err := f.Assertion.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{
		ConnectionId: post.connectionID, SamlResponse: post.samlResponse, RelayState: post.relayState, BrowserBinding: post.binding,
	})
	if err != nil {
		return completed{}, err // the assertion service recorded the failure
	}
	done, step, err := f.finish(ctx, validated, post.binding)
	f.reportOutcome(ctx, validated, step, err, post.stopping)
	return done, err
}

// step is the part of a validated sign-in that refused it, as the sign-in log names it.
type step struct {
	check string
	fixBy assertionv1.FixBy
}

var (
	stepFlowData     = step{"flow data of the sign-in", assertionv1.FixBy_FIX_BY_IECHOR}
	stepReturnTo     = step{"return address of the sign-in", assertionv1.FixBy_FIX_BY_IECHOR}
	stepEmailLimit   = step{"sign-ins of this person per minute", assertionv1.FixBy_FIX_BY_USER}
	stepProvisioning = step{"provisioning of the user", assertionv1.FixBy_FIX_BY_IECHOR}
	stepCode         = step{"one-time code of the sign-in", assertionv1.FixBy_FIX_BY_IECHOR}
)

// finish provisions the validated person and issues the code; on failure it names the step.
func (f *Flow) finish(ctx context.Context, validated *assertionv1.ValidateSamlResponseResponse, binding string) (completed, step, error) {
	var in intent
	if err := json.Unmarshal(validated.GetFlowData(), &in); err != nil || in.ReturnTo == "" {
		return completed{}, stepFlowData, errors.New("flow data of a validated sign-in is unreadable")
	}
	// The return address was checked at the start; check again, so that a change of the allow-list
	// in between is honoured.
	if !f.Policy.returnToAllowed(in.ReturnTo) {
		return completed{}, stepReturnTo, ErrReturnToNotAllowed
	}
	id := validated.GetIdentity()
	// The email is known only once the response is validated: a flood of sign-ins of one person,
	// from however many addresses, stops here, before provisioning.
	if err := f.limit(ctx, "acs-email", strings.ToLower(id.GetEmail()), f.Limits.ACSPerEmail); err != nil {
		return completed{}, stepEmailLimit, err
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
		return completed{}, stepProvisioning, err
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
		return completed{}, stepCode, err
	}
	dest, err := url.Parse(in.ReturnTo)
	if err != nil {
		return completed{}, stepReturnTo, ErrReturnToNotAllowed
	}
	code := opaque.Token(32)
	if err := f.Store.Set(ctx, codeKey(code), b, f.Policy.CodeTTL); err != nil {
		return completed{}, stepCode, storeError(err)
	}
	q := dest.Query()
	q.Set("code", code)
	dest.RawQuery = q.Encode()
	return completed{redirect: dest.String(), identity: id, testMode: validated.GetTestMode()}, step{}, nil
}

// outcomeTimeout bounds the report of an outcome, which outlives the request: a sign-in cut short
// because the browser left or the edge is stopping is still recorded.
const outcomeTimeout = 5 * time.Second

// reportOutcome tells the assertion service how a validated sign-in ended. A report that fails
// leaves the attempt unfinished in the log (never a sign-in) and is logged here.
func (f *Flow) reportOutcome(ctx context.Context, validated *assertionv1.ValidateSamlResponseResponse, at step, failed error, stopping func() bool) {
	req := &assertionv1.ReportLoginOutcomeRequest{
		AttemptId: validated.GetAttemptId(), Connection: validated.GetIdentity().GetConnection(),
		Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN,
	}
	if failed != nil {
		req.Outcome, req.Check, req.FixBy = assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED, at.check, at.fixBy
		req.Reason, req.Got = refusalOf(ctx, failed, stopping)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	if _, err := f.Assertion.ReportLoginOutcome(rctx, req); err != nil {
		f.Log.ErrorContext(ctx, "the outcome of a sign-in could not be recorded", "attempt", req.GetAttemptId(),
			"connection", req.GetConnection(), "outcome", req.GetOutcome().String(), "reason", req.GetReason(), "err", err)
	}
}

// refusalOf names a refusal after validation for the sign-in log: the typed reason and message of
// our services, or what became of the request when the error is not one of ours.
func refusalOf(ctx context.Context, err error, stopping func() bool) (reason, got string) {
	code, reason, _ := rpcerror.Info(err)
	switch {
	case ctx.Err() != nil && stopping != nil && stopping():
		return "SHUTTING_DOWN", "the edge was shutting down before the sign-in finished"
	case ctx.Err() != nil || code == codes.Canceled:
		return "REQUEST_CANCELED", "the browser left before the sign-in finished"
	case reason != "":
		return reason, bounded(status.Convert(err).Message())
	case code == codes.Unavailable:
		return "SERVICE_UNAVAILABLE", "a service behind the edge could not be reached"
	case code == codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED", "a service behind the edge did not answer in time"
	}
	return "INTERNAL", "an unexpected error; the request id locates it in the edge's log"
}

// bounded is s as the sign-in log takes it: valid UTF-8, at most 256 bytes.
func bounded(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= 256 {
		return s
	}
	s = s[:256]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
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
