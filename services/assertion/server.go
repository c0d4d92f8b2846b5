package assertion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	"github.com/iechor/sso/services/assertion/authnrequest"
	"github.com/iechor/sso/services/assertion/connections"
	"github.com/iechor/sso/services/assertion/failure"
	"github.com/iechor/sso/services/assertion/relaystate"
	"github.com/iechor/sso/services/assertion/saml"
	"github.com/iechor/sso/services/assertion/store"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// server implements AssertionService: it parses requests, fetches the connection, calls the engine
// and records the attempt; the rules live in saml, samlsig, xmlenc, xmlgate, relaystate and replay.
type server struct {
	assertionv1.UnimplementedAssertionServiceServer
	conns       *connections.Cache
	relay       *relaystate.Store
	validator   *saml.Validator
	store       store.Store
	attempts    *attemptLog
	now         func() time.Time
	retention   time.Duration
	log         *slog.Logger
	validations *prometheus.CounterVec
}

func (s *server) BeginSamlLogin(ctx context.Context, req *assertionv1.BeginSamlLoginRequest) (*assertionv1.BeginSamlLoginResponse, error) {
	switch {
	case req.GetConnection() == "":
		return nil, ErrMissingField.With("field", "connection")
	case req.GetBrowserBinding() == "":
		return nil, ErrMissingField.With("field", "browser_binding")
	case len(req.GetFlowData()) > relaystate.MaxFlowData:
		return nil, toStatus(relaystate.ErrFlowDataTooLarge, "flow_data", nil)
	}
	conn, err := s.conns.Get(ctx, req.GetConnection())
	if err != nil {
		return nil, toStatus(err, "connection", nil)
	}
	if !conn.SAML.Active && !req.GetTestMode() {
		return nil, ErrConnectionInactive.With("field", "connection")
	}
	now := s.now()
	r := authnrequest.Request{
		ID:           authnrequest.NewID(),
		IssueInstant: now,
		Destination:  conn.IdPSSOURL,
		ACSURL:       conn.SAML.ACSURL,
		Issuer:       conn.SAML.SPEntityID,
	}
	// The destination is checked before a relay state is stored for a request that cannot be sent.
	if _, err := authnrequest.RedirectURL(r, "", nil); err != nil {
		return nil, toStatus(err, "connection", nil)
	}
	handle, err := s.relay.Save(ctx, relaystate.State{
		RequestID:   r.ID,
		Connection:  conn.SAML.Name,
		BrowserHash: relaystate.HashBinding(req.GetBrowserBinding()),
		FlowData:    req.GetFlowData(),
		TestMode:    req.GetTestMode(),
		Created:     now,
	})
	if err != nil {
		return nil, toStatus(err, "", nil)
	}
	redirect, err := authnrequest.RedirectURL(r, handle, conn.SigningKey)
	if err != nil {
		return nil, toStatus(err, "connection", nil)
	}
	return &assertionv1.BeginSamlLoginResponse{
		RedirectUrl: redirect,
		RelayState:  handle,
		RequestId:   r.ID,
		ExpireTime:  timestamppb.New(now.Add(relaystate.TTL)),
	}, nil
}

func (s *server) ValidateSamlResponse(ctx context.Context, req *assertionv1.ValidateSamlResponseRequest) (*assertionv1.ValidateSamlResponseResponse, error) {
	switch {
	case req.GetConnectionId() == "":
		return nil, ErrMissingField.With("field", "connection_id")
	case req.GetSamlResponse() == "":
		return nil, ErrMissingField.With("field", "saml_response")
	}
	conn, err := s.conns.Get(ctx, req.GetConnectionId())
	if err != nil {
		return nil, toStatus(err, "connection_id", nil)
	}
	out, verr := s.validator.Validate(ctx, saml.Input{
		Connection:     &conn.SAML,
		SAMLResponse:   req.GetSamlResponse(),
		RelayState:     req.GetRelayState(),
		BrowserBinding: req.GetBrowserBinding(),
	})
	attempt := store.Attempt{
		ID:         newAttemptID(),
		Connection: conn.SAML.Name,
		Time:       s.now().UTC().Truncate(time.Microsecond),
		Success:    verr == nil,
		Subject:    out.Subject,
		Email:      out.Email,
		TestMode:   out.TestMode,
	}
	var f *failure.Error
	switch {
	case errors.As(verr, &f):
		attempt.Reason, attempt.Check, attempt.Wanted, attempt.Got, attempt.FixBy = string(f.Reason), f.Check, f.Wanted, f.Got, fixByProto[f.FixBy].String()
	case verr != nil:
		// Not a check that failed but a service that could not answer: recorded for the admin too.
		st := toStatus(verr, "", nil)
		attempt.Reason, attempt.Check, attempt.FixBy = reasonOf(st), "availability of the sign-in service", assertionv1.FixBy_FIX_BY_IECHOR.String()
		s.log.WarnContext(ctx, "sign-in failed closed", "connection", conn.SAML.Name, "err", verr)
	}
	s.record(ctx, attempt)
	if verr != nil {
		return nil, toStatus(verr, "saml_response", &attemptInfo{id: attempt.ID, testMode: out.TestMode})
	}
	return &assertionv1.ValidateSamlResponseResponse{
		Identity:           identityToProto(conn.SAML.Name, out.Identity),
		FlowData:           out.FlowData,
		TestMode:           out.TestMode,
		AttemptId:          attempt.ID,
		ConnectionSettings: conn.Settings,
	}, nil
}

// newAttemptID returns an attempt id that sorts by creation time (the wall clock's microseconds in
// hex) and cannot be guessed (a random suffix), so that attempts recorded in the same microsecond of
// the attempt clock still list in the order they happened.
func newAttemptID() string {
	return fmt.Sprintf("att_%013x%s", time.Now().UnixMicro(), opaque.LowerToken(10))
}

func reasonOf(err error) string {
	if r := rpcerror.Reason(err); r != "" {
		return r
	}
	return "UNAVAILABLE"
}

// record keeps the attempt for the admin's log. A store failure does not change the sign-in's
// outcome: it is logged.
func (s *server) record(ctx context.Context, a store.Attempt) {
	outcome := "success"
	if !a.Success {
		outcome = "failure"
	}
	if s.validations != nil {
		s.validations.WithLabelValues(outcome, a.Reason).Inc()
	}
	s.attempts.Add(a)
	s.log.InfoContext(ctx, "sign-in attempt", "connection", a.Connection, "attempt", a.ID, "outcome", outcome,
		"reason", a.Reason, "check", a.Check, "test_mode", a.TestMode)
}

func identityToProto(conn string, id *saml.Identity) *assertionv1.ValidatedIdentity {
	p := &assertionv1.ValidatedIdentity{
		Connection:           conn,
		Subject:              id.Subject,
		NameIdFormat:         id.NameIDFormat,
		Email:                id.Email,
		FullName:             id.FullName,
		Groups:               id.Groups,
		IechorOrg:            id.IEchorOrg,
		IechorTeam:           id.IEchorTeam,
		IechorRole:           id.IEchorRole,
		IechorSessionMinutes: int32(id.SessionMinutes),
		SessionIndex:         id.SessionIndex,
		Issuer:               id.Issuer,
		AssertionId:          id.AssertionID,
	}
	if !id.AuthnInstant.IsZero() {
		p.AuthnInstant = timestamppb.New(id.AuthnInstant)
	}
	return p
}

const attemptsCollection = "loginAttempts"

func (s *server) ListLoginAttempts(ctx context.Context, req *assertionv1.ListLoginAttemptsRequest) (*assertionv1.ListLoginAttemptsResponse, error) {
	owner, id, err := resourcename.ParseChild(req.GetParent(), "connections")
	if err == nil && !resourcename.ValidID(id) {
		err = resourcename.ErrInvalid
	}
	if err != nil {
		return nil, toStatus(err, "parent", nil)
	}
	parent := resourcename.Child(owner, "connections", id)
	size, err := paging.Size(req.GetPageSize())
	if err != nil {
		return nil, toStatus(err, "page_size", nil)
	}
	fp := paging.Fingerprint(parent)
	after, err := paging.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, toStatus(err, "page_token", nil)
	}
	q := store.ListQuery{Connection: parent, Since: s.now().Add(-s.retention), Limit: size + 1}
	if after != "" {
		us, attemptID, ok := strings.Cut(after, "/")
		n, perr := strconv.ParseInt(us, 10, 64)
		if !ok || perr != nil {
			return nil, toStatus(paging.ErrBadToken, "page_token", nil)
		}
		q.After = &store.Cursor{Time: time.UnixMicro(n).UTC(), ID: attemptID}
	}
	s.attempts.Flush(ctx)
	attempts, err := s.store.ListAttempts(ctx, q)
	if err != nil {
		return nil, err
	}
	resp := &assertionv1.ListLoginAttemptsResponse{}
	if len(attempts) > size {
		attempts = attempts[:size]
		last := attempts[size-1]
		resp.NextPageToken = paging.Encode(strconv.FormatInt(last.Time.UnixMicro(), 10)+"/"+last.ID, fp)
	}
	for _, a := range attempts {
		resp.LoginAttempts = append(resp.LoginAttempts, &assertionv1.LoginAttempt{
			Name:        parent + "/" + attemptsCollection + "/" + a.ID,
			AttemptTime: timestamppb.New(a.Time),
			Success:     a.Success,
			Reason:      a.Reason,
			Check:       a.Check,
			Wanted:      a.Wanted,
			Got:         a.Got,
			FixBy:       assertionv1.FixBy(assertionv1.FixBy_value[a.FixBy]),
			Subject:     a.Subject,
			Email:       a.Email,
			TestMode:    a.TestMode,
		})
	}
	return resp, nil
}
