package assertion_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/ephemeral/ephemeraltest"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// memoryEnv is the service on SQLite and the in-process ephemeral store.
func memoryEnv(t *testing.T) (*env, ephemeral.Store) {
	t.Helper()
	mem := ephemeral.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	return start(t, sqlstoretest.SQLiteDSN(t), mem), mem
}

// attempts lists every attempt of the fixture connection, newest first.
func (e *env) attempts(t testing.TB) []*assertionv1.LoginAttempt {
	t.Helper()
	var out []*assertionv1.LoginAttempt
	token := ""
	for {
		page, err := e.log.ListLoginAttempts(context.Background(), &assertionv1.ListLoginAttemptsRequest{
			Parent: fixtures.ConnectionName, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.GetLoginAttempts()...)
		if token = page.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func (e *env) attempt(t testing.TB, id string) *assertionv1.LoginAttempt {
	t.Helper()
	for _, a := range e.attempts(t) {
		if strings.HasSuffix(a.GetName(), "/loginAttempts/"+id) {
			return a
		}
	}
	t.Fatalf("attempt %s is not listed", id)
	return nil
}

func (e *env) report(t testing.TB, req *assertionv1.ReportLoginOutcomeRequest) {
	t.Helper()
	if _, err := e.client.ReportLoginOutcome(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// noSeats is the edge's report of a provisioning refused for want of seats.
func noSeats(attemptID string) *assertionv1.ReportLoginOutcomeRequest {
	return &assertionv1.ReportLoginOutcomeRequest{AttemptId: attemptID, Connection: fixtures.ConnectionName,
		Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED, Reason: "NO_SEATS", Check: "provisioning of the user",
		Got: "Not enough seats in the organization.", FixBy: assertionv1.FixBy_FIX_BY_IECHOR}
}

func TestTheSignInLogCallsASignInSuccessfulOnlyWhenThePersonGotACode(t *testing.T) {
	t.Parallel()
	e, mem := memoryEnv(t)
	ctx := context.Background()
	validate := func(t *testing.T) string {
		t.Helper()
		resp, err := e.post(t, "assertion-signed", e.begin(t, false))
		if err != nil {
			t.Fatal(err)
		}
		// The same signed fixture again: forget its replay entry.
		if _, err := mem.GetDelete(ctx, replay.Key(fixtures.IdPEntityID, "_assertion-assertion-signed")); err != nil {
			t.Fatal(err)
		}
		return resp.GetAttemptId()
	}

	t.Run("a validated sign-in nobody reported on is unfinished", func(t *testing.T) {
		a := e.attempt(t, validate(t))
		if a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_UNFINISHED || a.GetReason() != "" || a.GetFinishTime() != nil {
			t.Fatalf("attempt %v", a)
		}
	})
	t.Run("a code issued makes it a sign-in", func(t *testing.T) {
		id := validate(t)
		e.report(t, &assertionv1.ReportLoginOutcomeRequest{AttemptId: id, Connection: fixtures.ConnectionName,
			Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN})
		a := e.attempt(t, id)
		if a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN || a.GetFinishTime() == nil || a.GetEmail() != "jane.doe@example.com" {
			t.Fatalf("attempt %v", a)
		}
	})
	t.Run("a refusal after validation is listed as refused with its reason and check", func(t *testing.T) {
		id := validate(t)
		e.report(t, noSeats(id))
		a := e.attempt(t, id)
		if a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED || a.GetReason() != "NO_SEATS" ||
			a.GetCheck() != "provisioning of the user" || a.GetGot() != "Not enough seats in the organization." ||
			a.GetFixBy() != assertionv1.FixBy_FIX_BY_IECHOR || a.GetEmail() != "jane.doe@example.com" || a.GetFinishTime() == nil {
			t.Fatalf("attempt %v", a)
		}
		// A later report does not rewrite what happened.
		e.report(t, &assertionv1.ReportLoginOutcomeRequest{AttemptId: id, Connection: fixtures.ConnectionName,
			Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN})
		if a := e.attempt(t, id); a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED {
			t.Fatalf("a second report changed the outcome: %v", a)
		}
	})
	t.Run("no report turns a refused attempt into a sign-in", func(t *testing.T) {
		_, err := e.post(t, "bad-audience", e.begin(t, false))
		md := wantReason(t, err, codes.PermissionDenied, "BAD_AUDIENCE")
		e.report(t, &assertionv1.ReportLoginOutcomeRequest{AttemptId: md["attempt_id"], Connection: fixtures.ConnectionName,
			Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN})
		if a := e.attempt(t, md["attempt_id"]); a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED || a.GetReason() != "BAD_AUDIENCE" {
			t.Fatalf("attempt %v", a)
		}
	})
}

func TestReportLoginOutcomeRefusesBadInputAndRecordsNothing(t *testing.T) {
	t.Parallel()
	e, _ := memoryEnv(t)
	ok := func() *assertionv1.ReportLoginOutcomeRequest { return noSeats("att_0123456789abcdefghij") }
	for _, tc := range []struct {
		name   string
		change func(r *assertionv1.ReportLoginOutcomeRequest)
		reason string
		field  string
	}{
		{"without an attempt id", func(r *assertionv1.ReportLoginOutcomeRequest) { r.AttemptId = "" }, "MISSING_FIELD", "attempt_id"},
		{"with an attempt id we never make", func(r *assertionv1.ReportLoginOutcomeRequest) { r.AttemptId = "att_../x" }, "INVALID_FIELD", "attempt_id"},
		{"without a connection", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Connection = "" }, "MISSING_FIELD", "connection"},
		{"with a connection that is not a name", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Connection = "conn_a" }, "INVALID_NAME", "connection"},
		{"without an outcome", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Outcome = 0 }, "INVALID_FIELD", "outcome"},
		{"as unfinished", func(r *assertionv1.ReportLoginOutcomeRequest) {
			r.Outcome = assertionv1.LoginOutcome_LOGIN_OUTCOME_UNFINISHED
		}, "INVALID_FIELD", "outcome"},
		{"a refusal without a reason", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Reason = "" }, "INVALID_FIELD", "reason"},
		{"a refusal whose reason is not UPPER_SNAKE_CASE", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Reason = "no seats" }, "INVALID_FIELD", "reason"},
		{"a refusal without a check", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Check = "" }, "MISSING_FIELD", "check"},
		{"a refusal whose words are too long", func(r *assertionv1.ReportLoginOutcomeRequest) { r.Check = strings.Repeat("c", 257) }, "INVALID_FIELD", "check"},
		{"a sign-in with a reason", func(r *assertionv1.ReportLoginOutcomeRequest) {
			r.Outcome = assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN
		}, "INVALID_FIELD", "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok()
			tc.change(r)
			_, err := e.client.ReportLoginOutcome(context.Background(), r)
			if md := wantReason(t, err, codes.InvalidArgument, tc.reason); md["field"] != tc.field {
				t.Fatalf("metadata %v, want field %s", md, tc.field)
			}
		})
	}
	if n := len(e.attempts(t)); n != 0 {
		t.Fatalf("%d attempts after refused reports", n)
	}
}

func TestARefusedPostIsRecordedAndSpendsTheRelayStateOfItsBrowserOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redis, _ := ephemeraltest.Redis(t)
	e := start(t, sqlstoretest.SQLiteDSN(t), redis)
	refused := func(relay, binding string) *assertionv1.RecordRefusedSamlPostRequest {
		return &assertionv1.RecordRefusedSamlPostRequest{ConnectionId: fixtures.ConnectionID, RelayState: relay, BrowserBinding: binding,
			Reason: "BODY_TOO_LARGE", Check: "size of the posted form", Wanted: "at most 524288 bytes", Got: "more than 524288 bytes"}
	}

	t.Run("the genuine browser's refused post is recorded and spends its relay state", func(t *testing.T) {
		relay := e.begin(t, true)
		resp, err := e.client.RecordRefusedSamlPost(ctx, refused(relay, browser))
		if err != nil || !resp.GetRelayStateConsumed() || !resp.GetTestMode() || resp.GetAttemptId() == "" {
			t.Fatalf("%v, %v", resp, err)
		}
		a := e.attempt(t, resp.GetAttemptId())
		if a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED || a.GetReason() != "BODY_TOO_LARGE" || a.GetCheck() != "size of the posted form" ||
			a.GetWanted() != "at most 524288 bytes" || a.GetGot() != "more than 524288 bytes" || a.GetFixBy() != assertionv1.FixBy_FIX_BY_IDP_ADMIN ||
			!a.GetTestMode() || a.GetEmail() != "" {
			t.Fatalf("attempt %v", a)
		}
		_, err = e.post(t, "assertion-signed", relay)
		wantReason(t, err, codes.PermissionDenied, "RELAY_STATE_UNKNOWN")
	})
	t.Run("another browser's refused post is recorded and leaves the relay state", func(t *testing.T) {
		relay := e.begin(t, false)
		resp, err := e.client.RecordRefusedSamlPost(ctx, refused(relay, "attacker-cookie"))
		if err != nil || resp.GetRelayStateConsumed() || resp.GetTestMode() {
			t.Fatalf("%v, %v", resp, err)
		}
		if _, err := e.post(t, "assertion-signed", relay); err != nil {
			t.Fatalf("the genuine browser could not finish: %v", err)
		}
	})
	t.Run("a refused post without a relay state is recorded", func(t *testing.T) {
		resp, err := e.client.RecordRefusedSamlPost(ctx, refused("", browser))
		if err != nil || resp.GetRelayStateConsumed() {
			t.Fatalf("%v, %v", resp, err)
		}
		e.attempt(t, resp.GetAttemptId())
	})
	t.Run("a post to a connection that does not exist is neither recorded nor spends anything", func(t *testing.T) {
		before := len(e.attempts(t))
		relay := e.begin(t, false)
		req := refused(relay, browser)
		req.ConnectionId = "conn_nope"
		_, err := e.client.RecordRefusedSamlPost(ctx, req)
		wantReason(t, err, codes.NotFound, "CONNECTION_NOT_FOUND")
		if _, err := e.relay.Consume(ctx, relay, browser); err != nil {
			t.Fatalf("the relay state was spent: %v", err)
		}
		if after := len(e.attempts(t)); after != before {
			t.Fatalf("%d attempts, want %d", after, before)
		}
	})
	t.Run("bad input is refused with the field at fault", func(t *testing.T) {
		for _, tc := range []struct {
			change func(r *assertionv1.RecordRefusedSamlPostRequest)
			reason string
			field  string
		}{
			{func(r *assertionv1.RecordRefusedSamlPostRequest) { r.ConnectionId = "" }, "MISSING_FIELD", "connection_id"},
			{func(r *assertionv1.RecordRefusedSamlPostRequest) { r.Reason = "" }, "INVALID_FIELD", "reason"},
			{func(r *assertionv1.RecordRefusedSamlPostRequest) { r.Reason = strings.Repeat("A", 65) }, "INVALID_FIELD", "reason"},
			{func(r *assertionv1.RecordRefusedSamlPostRequest) { r.Check = "" }, "MISSING_FIELD", "check"},
			{func(r *assertionv1.RecordRefusedSamlPostRequest) { r.Got = strings.Repeat("g", 257) }, "INVALID_FIELD", "got"},
		} {
			r := refused("", browser)
			tc.change(r)
			_, err := e.client.RecordRefusedSamlPost(ctx, r)
			if md := wantReason(t, err, codes.InvalidArgument, tc.reason); md["field"] != tc.field {
				t.Fatalf("%v: metadata %v, want field %s", r, md, tc.field)
			}
		}
	})
}

func TestAPostFromAnotherBrowserDoesNotSpendTheGenuineSignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redis, _ := ephemeraltest.Redis(t)
	e := start(t, sqlstoretest.SQLiteDSN(t), redis)
	relay := e.begin(t, false)
	for _, other := range []string{"attacker-cookie", ""} {
		_, err := e.client.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{ConnectionId: fixtures.ConnectionID,
			SamlResponse: fixtures.Encoded(t, "assertion-signed"), RelayState: relay, BrowserBinding: other})
		wantReason(t, err, codes.PermissionDenied, "BROWSER_MISMATCH")
	}
	// Two posts of the genuine browser, and more of the other one, all at once: one sign-in.
	results := race(t, 6, func(i int) error {
		binding := browser
		if i%2 == 1 {
			binding = "attacker-cookie"
		}
		_, err := e.client.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{ConnectionId: fixtures.ConnectionID,
			SamlResponse: fixtures.Encoded(t, "assertion-signed"), RelayState: relay, BrowserBinding: binding})
		if err == nil && binding != browser {
			return errors.New("another browser signed in")
		}
		return err
	})
	if results[""] != 1 || results["RELAY_STATE_UNKNOWN"]+results["BROWSER_MISMATCH"] != 5 {
		t.Fatalf("outcomes %v", results)
	}
}

func TestTheLogOfAConnectionOfAnotherOwnerIsNotFound(t *testing.T) {
	t.Parallel()
	e, _ := memoryEnv(t)
	if _, err := e.client.RecordRefusedSamlPost(context.Background(), &assertionv1.RecordRefusedSamlPostRequest{
		ConnectionId: fixtures.ConnectionID, Reason: "ACS_QUERY_STRING", Check: "address of the post"}); err != nil {
		t.Fatal(err)
	}
	id := fixtures.ConnectionName[strings.LastIndexByte(fixtures.ConnectionName, '/')+1:]
	for _, parent := range []string{"companies/rival/connections/" + id, "organizations/acme/connections/" + id, "companies/acme/connections/conn_nope"} {
		_, err := e.log.ListLoginAttempts(context.Background(), &assertionv1.ListLoginAttemptsRequest{Parent: parent})
		if md := wantReason(t, err, codes.NotFound, "CONNECTION_NOT_FOUND"); md["field"] != "parent" {
			t.Fatalf("%s: metadata %v", parent, md)
		}
	}
	if n := len(e.attempts(t)); n != 1 {
		t.Fatalf("the owner's own log lists %d attempts, want 1", n)
	}
}

// TestAOneMinuteDatabaseOutageLosesNoAttempt takes the service's PostgreSQL database away for a
// minute while sign-ins go on at a steady pace — validated ones with their reported outcome, failed
// ones, posts refused at the edge — and counts every record once the database is back.
func TestAOneMinuteDatabaseOutageLosesNoAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqlstoretest.PostgresDatabase(t)
	mem := ephemeral.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	e := start(t, db.DSN, mem)
	replayKey := replay.Key(fixtures.IdPEntityID, "_assertion-assertion-signed")

	var mu sync.Mutex
	var signedIn, refused []string
	tick := func() error {
		resp, err := e.post(t, "assertion-signed", e.begin(t, false))
		if err != nil {
			return err
		}
		if _, err := mem.GetDelete(ctx, replayKey); err != nil {
			return err
		}
		if _, err := e.client.ReportLoginOutcome(ctx, &assertionv1.ReportLoginOutcomeRequest{AttemptId: resp.GetAttemptId(),
			Connection: fixtures.ConnectionName, Outcome: assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN}); err != nil {
			return err
		}
		_, err = e.post(t, "bad-audience", e.begin(t, false))
		if _, reason, _ := rpcerror.Info(err); reason != "BAD_AUDIENCE" {
			return fmt.Errorf("bad-audience: %v", err)
		}
		_, _, md := rpcerror.Info(err)
		post, err := e.client.RecordRefusedSamlPost(ctx, &assertionv1.RecordRefusedSamlPostRequest{ConnectionId: fixtures.ConnectionID,
			Reason: "ACS_UNKNOWN_FIELD", Check: "fields of the posted form"})
		if err != nil {
			return err
		}
		mu.Lock()
		signedIn = append(signedIn, resp.GetAttemptId())
		refused = append(refused, md["attempt_id"], post.GetAttemptId())
		mu.Unlock()
		return nil
	}
	// A steady pace: ten sign-ins a second, three records and an outcome each.
	load := func(d time.Duration) {
		t.Helper()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if err := tick(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	load(2 * time.Second)
	db.Stop(t)
	load(time.Minute)
	db.Start(t)
	load(2 * time.Second)

	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName, PageSize: 1})
		if err == nil && len(list.GetLoginAttempts()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log did not come back after the outage: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	byID := map[string]*assertionv1.LoginAttempt{}
	for _, a := range e.attempts(t) {
		byID[a.GetName()[strings.LastIndexByte(a.GetName(), '/')+1:]] = a
	}
	missing := 0
	for _, id := range signedIn {
		if a := byID[id]; a == nil || a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_SIGNED_IN {
			missing++
		}
	}
	for _, id := range refused {
		if a := byID[id]; a == nil || a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED {
			missing++
		}
	}
	t.Logf("%d sign-ins and %d refusals made over the outage, %d listed", len(signedIn), len(refused), len(byID))
	if missing != 0 || len(byID) != len(signedIn)+len(refused) || len(signedIn) < 300 {
		t.Fatalf("%d of %d records missing or wrong; %d listed", missing, len(signedIn)+len(refused), len(byID))
	}
}
