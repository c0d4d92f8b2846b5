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
	"github.com/iechor/sso/services/assertion/internal/authnrequest"
	"github.com/iechor/sso/services/assertion/internal/connections"
	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/assertion/internal/saml"
	"github.com/iechor/sso/services/assertion/internal/store"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// server implements AssertionInternalService, for the gateway's sign-in pages and ACS: it parses
// requests, fetches the connection, calls the engine and records the attempt, and records what the
// edge reports (posts it refused before validation, how validated sign-ins ended); the rules live in
// saml, samlsig, xmlenc, xmlgate, relaystate and replay.
type server struct {
	assertionv1.UnimplementedAssertionInternalServiceServer
	conns       *connections.Cache
	relay       *relaystate.Store
	validator   *saml.Validator
	store       store.Store
	attempts    *attemptLog
	now         func() time.Time
	retention   time.Duration
	log         *slog.Logger
	validations *prometheus.CounterVec
	outcomes    *prometheus.CounterVec
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
		Time:       s.stamp(),
		Result:     store.Validated,
		Subject:    out.Subject,
		Email:      out.Email,
		TestMode:   out.TestMode,
	}
	if verr != nil {
		attempt.Result = store.Refused
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
	s.countValidation(attempt)
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

// stamp is the time of a record: the attempt clock, to the microsecond the store keeps.
func (s *server) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *server) countValidation(a store.Attempt) {
	if s.validations == nil {
		return
	}
	outcome := "success"
	if a.Result == store.Refused {
		outcome = "failure"
	}
	s.validations.WithLabelValues(outcome, a.Reason).Inc()
}

// record keeps the attempt for the admin's log, in the background: a store that fails delays the
// record, never the sign-in (see attemptLog).
func (s *server) record(ctx context.Context, a store.Attempt) {
	s.attempts.Add(a)
	s.log.InfoContext(ctx, "sign-in attempt", "connection", a.Connection, "attempt", a.ID, "result", a.Result,
		"reason", a.Reason, "check", a.Check, "test_mode", a.TestMode)
}

// Bounds of what the edge reports in words; longer values are refused, not cut. (gRPC itself
// refuses strings that are not UTF-8.)
const (
	maxReason = 64
	maxText   = 256
)

// checkReport validates the typed reason and the words of a refusal the edge reports.
func checkReport(reason string, texts map[string]string) error {
	if !validReason(reason) {
		return ErrInvalidField.With("field", "reason")
	}
	for field, v := range texts {
		if len(v) > maxText {
			return ErrInvalidField.With("field", field)
		}
	}
	return nil
}

// validReason accepts UPPER_SNAKE_CASE reasons, as every ErrorInfo reason of the suite is.
func validReason(r string) bool {
	if r == "" || len(r) > maxReason || r[0] < 'A' || r[0] > 'Z' {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validAttemptID accepts what newAttemptID makes: att_ and lower-case hex and letters.
func validAttemptID(id string) bool {
	rest, ok := strings.CutPrefix(id, "att_")
	if !ok || rest == "" || len(rest) > 60 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (s *server) RecordRefusedSamlPost(ctx context.Context, req *assertionv1.RecordRefusedSamlPostRequest) (*assertionv1.RecordRefusedSamlPostResponse, error) {
	if req.GetConnectionId() == "" {
		return nil, ErrMissingField.With("field", "connection_id")
	}
	if req.GetCheck() == "" {
		return nil, ErrMissingField.With("field", "check")
	}
	if err := checkReport(req.GetReason(), map[string]string{"check": req.GetCheck(), "wanted": req.GetWanted(), "got": req.GetGot()}); err != nil {
		return nil, err
	}
	fixBy := req.GetFixBy()
	if fixBy == assertionv1.FixBy_FIX_BY_UNSPECIFIED {
		fixBy = assertionv1.FixBy_FIX_BY_IDP_ADMIN
	}
	conn, err := s.conns.Get(ctx, req.GetConnectionId())
	if err != nil {
		return nil, toStatus(err, "connection_id", nil)
	}
	attempt := store.Attempt{
		ID: newAttemptID(), Connection: conn.SAML.Name, Time: s.stamp(), Result: store.Refused,
		Reason: req.GetReason(), Check: req.GetCheck(), Wanted: req.GetWanted(), Got: req.GetGot(), FixBy: fixBy.String(),
	}
	resp := &assertionv1.RecordRefusedSamlPostResponse{AttemptId: attempt.ID}
	if req.GetRelayState() != "" {
		// As any failed post does, this one spends its relay state, when its browser started it.
		st, err := s.relay.Consume(ctx, req.GetRelayState(), req.GetBrowserBinding())
		switch {
		case err == nil:
			resp.RelayStateConsumed, resp.TestMode = true, st.TestMode
			attempt.TestMode = st.TestMode
		case errors.Is(err, relaystate.ErrUnknown), errors.Is(err, relaystate.ErrBrowserMismatch):
		default:
			// Nothing is accepted here, so nothing fails closed: the refusal is still recorded.
			s.log.WarnContext(ctx, "the relay state of a refused post could not be consumed", "connection", conn.SAML.Name, "err", err)
		}
	}
	s.countOutcome(store.Refused, attempt.Reason)
	s.record(ctx, attempt)
	return resp, nil
}

func (s *server) ReportLoginOutcome(ctx context.Context, req *assertionv1.ReportLoginOutcomeRequest) (*assertionv1.ReportLoginOutcomeResponse, error) {
	switch {
	case req.GetAttemptId() == "":
		return nil, ErrMissingField.With("field", "attempt_id")
	case !validAttemptID(req.GetAttemptId()):
		return nil, ErrInvalidField.With("field", "attempt_id")
	case req.GetConnection() == "":
		return nil, ErrMissingField.With("field", "connection")
	}
	owner, id, err := resourcename.ParseChild(req.GetConnection(), "connections")
	if err != nil || !resourcename.ValidID(id) {
		return nil, ErrInvalidName.With("field", "connection")
	}
	o := store.Outcome{AttemptID: req.GetAttemptId(), Connection: resourcename.Child(owner, "connections", id), Time: s.stamp()}
	switch req.GetOutcome() {
	case assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN:
		if req.GetReason() != "" || req.GetCheck() != "" || req.GetGot() != "" {
			return nil, ErrInvalidField.With("field", "reason")
		}
		o.Result = store.SignedIn
	case assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED:
		if req.GetCheck() == "" {
			return nil, ErrMissingField.With("field", "check")
		}
		if err := checkReport(req.GetReason(), map[string]string{"check": req.GetCheck(), "got": req.GetGot()}); err != nil {
			return nil, err
		}
		fixBy := req.GetFixBy()
		if fixBy == assertionv1.FixBy_FIX_BY_UNSPECIFIED {
			fixBy = assertionv1.FixBy_FIX_BY_IECHOR
		}
		o.Result, o.Reason, o.Check, o.Got, o.FixBy = store.Refused, req.GetReason(), req.GetCheck(), req.GetGot(), fixBy.String()
	default:
		return nil, ErrInvalidField.With("field", "outcome")
	}
	s.countOutcome(o.Result, o.Reason)
	s.attempts.AddOutcome(o)
	s.log.InfoContext(ctx, "sign-in outcome", "connection", o.Connection, "attempt", o.AttemptID, "result", o.Result,
		"reason", o.Reason, "check", o.Check)
	return &assertionv1.ReportLoginOutcomeResponse{}, nil
}

func (s *server) countOutcome(r store.Result, reason string) {
	if s.outcomes != nil {
		s.outcomes.WithLabelValues(strings.ToLower(string(r)), reason).Inc()
	}
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

// logServer implements AssertionService, the admin's sign-in log behind the REST edge, on the same
// store as server.
type logServer struct {
	assertionv1.UnimplementedAssertionServiceServer
	*server
}

func (s *logServer) ListLoginAttempts(ctx context.Context, req *assertionv1.ListLoginAttemptsRequest) (*assertionv1.ListLoginAttemptsResponse, error) {
	owner, id, err := resourcename.ParseChild(req.GetParent(), "connections")
	if err == nil && !resourcename.ValidID(id) {
		err = resourcename.ErrInvalid
	}
	if err != nil {
		return nil, toStatus(err, "parent", nil)
	}
	parent := resourcename.Child(owner, "connections", id)
	// The log of a connection that is not under this owner does not exist, as the connection does
	// not; a connection that cannot run a sign-in still has its log.
	switch _, err := s.conns.Get(ctx, parent); {
	case errors.Is(err, connections.ErrNotFound):
		return nil, ErrConnectionNotFound.With("field", "parent")
	case errors.Is(err, connections.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, toStatus(err, "parent", nil)
	}
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
	// What this replica has queued is written first, for a while at most: a store that is down
	// answers the query below with its error rather than keep the caller waiting.
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	s.attempts.Flush(fctx)
	cancel()
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
		resp.LoginAttempts = append(resp.LoginAttempts, attemptToProto(parent, a))
	}
	return resp, nil
}

// attemptToProto says plainly how an attempt ended: a validated attempt is a sign-in only once the
// edge reported a code, and a refusal after validation shows the refusal's reason and check.
func attemptToProto(parent string, a store.Attempt) *assertionv1.LoginAttempt {
	p := &assertionv1.LoginAttempt{
		Name:        parent + "/" + attemptsCollection + "/" + a.ID,
		AttemptTime: timestamppb.New(a.Time),
		Outcome:     assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED,
		Reason:      a.Reason,
		Check:       a.Check,
		Wanted:      a.Wanted,
		Got:         a.Got,
		FixBy:       assertionv1.FixBy(assertionv1.FixBy_value[a.FixBy]),
		Subject:     a.Subject,
		Email:       a.Email,
		TestMode:    a.TestMode,
	}
	switch {
	case a.Result != store.Validated:
	case a.Finished == nil:
		p.Outcome = assertionv1.LoginOutcome_LOGIN_OUTCOME_UNFINISHED
	case a.Finished.Result == store.SignedIn:
		p.Outcome, p.FinishTime = assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN, timestamppb.New(a.Finished.Time)
	default:
		f := a.Finished
		p.FinishTime = timestamppb.New(f.Time)
		p.Reason, p.Check, p.Got, p.FixBy = f.Reason, f.Check, f.Got, assertionv1.FixBy(assertionv1.FixBy_value[f.FixBy])
	}
	return p
}
