package ssod_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/platform/testenv"
	"github.com/iechor/sso/services/provisioning"
	"github.com/iechor/sso/services/ssod"
)

// childEnv, set to "serve", makes the test binary run what the ssod binary's main runs instead of
// the tests: the shutdown tests send real signals to a real process.
const childEnv = "SSOD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "serve" {
		process.Main(func(ctx context.Context) error {
			return ssod.Command(ctx, nil, os.LookupEnv, os.Stdout, os.Stderr)
		})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ssodProcess is ssod running in a process of its own.
type ssodProcess struct {
	cmd    *exec.Cmd
	base   string
	logs   *lockedBuffer
	exited chan struct{}
	exitAt time.Time // set before exited closes
}

// startProcess runs ssod with env on top of the test's environment. The REST edge listens on
// GATEWAY_LISTEN_ADDR, which env must set; the gRPC services take free ports unless env says.
func startProcess(t testing.TB, env map[string]string) *ssodProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	// Under -race the child would sleep a second at exit by default: the timing measured here is
	// the shutdown's, not the race detector's.
	cmd.Env = append(os.Environ(), childEnv+"=serve", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	full := map[string]string{
		"DOMAIN_LISTEN_ADDR": "127.0.0.1:0", "PROVISIONING_LISTEN_ADDR": "127.0.0.1:0",
		"CONNECTION_LISTEN_ADDR": "127.0.0.1:0", "ASSERTION_LISTEN_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		full[k] = v
	}
	for k, v := range full {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &ssodProcess{cmd: cmd, base: "http://" + full["GATEWAY_LISTEN_ADDR"], logs: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		p.exitAt = time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("ssod's output, the end of it:\n%s", p.logs.tail(16<<10))
		}
	})
	return p
}

// waitReady polls /readyz until the process answers 200.
func (p *ssodProcess) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if status, _ := getStatus(p.base + "/readyz"); status == http.StatusOK {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("ssod exited before it was ready: %v", p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ssod did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *ssodProcess) terminate(t testing.TB) time.Time {
	t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return at
}

// waitExit waits up to limit for the process to exit and reports whether it exited with status 0.
func (p *ssodProcess) waitExit(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("ssod did not exit within %v", limit)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("ssod exited with status %d, want 0", code)
	}
}

func getStatus(u string) (int, string) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAddr returns a loopback address that was free a moment ago: the edge of a process that
// restarts keeps its address, as a replica behind a load balancer does.
func freeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// acsOutcome is what one ACS post came to, as the browser saw it.
type acsOutcome int

const (
	notPosted acsOutcome = iota // the balancer had taken the edge out, or nothing listened any more
	signedIn                    // a redirect to return_to with a code
	refused                     // a failure page with a reference: a typed refusal
	broken                      // anything else: a reset, a 5xx without the page, no answer
)

func (o acsOutcome) String() string {
	return [...]string{"not posted", "signed in", "refused", "broken"}[o]
}

// acsResult keeps, per post, what the client saw: the sign-in log's entry for the post can be
// matched by the request id (every response carries it) or the page's reference.
type acsResult struct {
	outcome        acsOutcome
	status         int
	code           string // the login code of a sign-in
	requestID      string // X-Request-Id of the answer
	reference      string // the failure page's reference
	message        string // the failure page's message, or the transport error
	sent, answered time.Time
}

var (
	pageReference = regexp.MustCompile(`<code id="reference">([^<]+)</code>`)
	pageMessage   = regexp.MustCompile(`<p id="message">([^<]*)</p>`)
)

// postToACS posts one prepared answer of the IdP as a browser would.
func postToACS(c *http.Client, p prepared) acsResult {
	form := url.Values{"SAMLResponse": {p.post.samlResponse}, "RelayState": {p.post.relayState}}
	req, _ := http.NewRequest(http.MethodPost, p.post.acs, bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: p.post.binding.Name, Value: p.post.binding.Value})
	r := acsResult{sent: time.Now()}
	resp, err := c.Do(req)
	r.answered = time.Now()
	if err != nil {
		r.message = err.Error()
		r.outcome = broken
		if errors.Is(err, syscall.ECONNREFUSED) {
			// Refused at connect: the post never reached a server, so nothing of it was accepted.
			r.outcome = notPosted
		}
		return r
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r.status, r.requestID = resp.StatusCode, resp.Header.Get("X-Request-Id")
	if m := pageReference.FindSubmatch(body); m != nil {
		r.reference = string(m[1])
	}
	if m := pageMessage.FindSubmatch(body); m != nil {
		r.message = html.UnescapeString(string(m[1]))
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	switch {
	case resp.StatusCode == http.StatusFound && loc != nil && loc.Query().Get("code") != "":
		r.outcome, r.code = signedIn, loc.Query().Get("code")
	case r.reference != "" && (resp.StatusCode/100 == 4 || resp.StatusCode == http.StatusServiceUnavailable):
		r.outcome = refused
	default:
		r.outcome = broken
		if r.message == "" {
			r.message = fmt.Sprintf("%.200s", body)
		}
	}
	return r
}

// prepareSignIns starts n sign-ins of new users and has the IdP answer each, as load_test does.
func prepareSignIns(t testing.TB, w *world, n int) []prepared {
	t.Helper()
	run := opaque.LowerToken(4)
	jar := noRedirects(nil)
	out := make([]prepared, n)
	for i := range out {
		verifier, challenge := pkce()
		email := fmt.Sprintf("term-%s-%d@acme.example", run, i)
		started := w.start(t, email, challenge)
		redirectURL, _ := started.body["redirectUrl"].(string)
		if started.status != 200 || redirectURL == "" {
			t.Fatalf("login:start: %d %s", started.status, started.raw)
		}
		resp, err := jar.Get(redirectURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var binding *http.Cookie
		for _, c := range resp.Cookies() {
			binding = c
		}
		samlResponse, relayState, acs := signedByIdP(t, w.idp, resp.Header.Get("Location"), email, false)
		out[i] = prepared{post: posted{acs: acs, samlResponse: samlResponse, relayState: relayState, binding: binding}, verifier: verifier, email: email}
	}
	return out
}

// TestSIGTERMUnderLoadDropsNoSignIn sends SIGTERM to a real ssod process while browsers post
// sign-ins to its ACS, behind a balancer that polls /readyz as a load balancer does. Every post
// must come to a sign-in whose code redeems (on the replica that takes over: the same stores, the
// same address) or a typed refusal page; none may be reset or answered with a bare 5xx; and the
// process must exit 0 within the drain and the grace.
func TestSIGTERMUnderLoadDropsNoSignIn(t *testing.T) {
	// Not in parallel with the package's other tests: the balancer's probe must see the drain
	// begin well inside it, and the load is this test's own.
	const (
		drain = 2 * time.Second
		grace = 10 * time.Second // SHUTDOWN_GRACE's default
		// The balancer polls /readyz every probe: well inside the drain, as a load balancer's
		// probe period must be.
		probe   = 250 * time.Millisecond
		workers = 8
		warmUp  = 16 // sign-ins before SIGTERM
		signIns = 160
	)
	edge := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL": sqlstoretest.PostgresDSN(t), "REDIS_URL": testenv.RedisURL(), "DATA_DIR": t.TempDir(),
		"REDIS_KEY_PREFIX":    "shutdown:" + opaque.LowerToken(8) + ":",
		"GATEWAY_LISTEN_ADDR": edge, "PUBLIC_BASE_URL": "http://" + edge,
		"GATEWAY_RATE_LIMIT_START_IP": "0", "GATEWAY_RATE_LIMIT_START_EMAIL": "0", "GATEWAY_RATE_LIMIT_ACS_IP": "0",
		"GATEWAY_RATE_LIMIT_ACS_EMAIL": "0", "GATEWAY_RATE_LIMIT_REDEEM_IP": "0",
	}
	// The company, its domain, the IdP and the connection are set up in process; then the same
	// configuration serves from a process of its own.
	w := setUpWorld(t, env)
	w.s.stop()
	procEnv := map[string]string{"SHUTDOWN_DRAIN": drain.String(), "LOG_LEVEL": "info"}
	for k, v := range env {
		procEnv[k] = v
	}
	child := startProcess(t, procEnv)
	child.waitReady(t)
	prepared := prepareSignIns(t, w, signIns)

	var out atomic.Bool // the balancer has taken the edge out of its rotation
	var answered atomic.Int64
	results := make([]acsResult, len(prepared))
	var next atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if status, _ := getStatus(child.base + "/readyz"); status != http.StatusOK {
				out.Store(true)
				return
			}
			time.Sleep(probe)
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !out.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(prepared) {
					return
				}
				results[i] = postToACS(client, prepared[i])
				answered.Add(1)
			}
		}()
	}
	for answered.Load() < warmUp {
		time.Sleep(5 * time.Millisecond)
	}
	sigterm := child.terminate(t)
	wg.Wait()
	child.waitExit(t, drain+grace)
	exitAfter := child.exitAt.Sub(sigterm)

	count := map[acsOutcome]int{}
	inFlight, inFlightDropped := 0, 0
	for _, r := range results {
		if r.sent.IsZero() {
			continue
		}
		count[r.outcome]++
		if r.sent.Before(sigterm) && r.answered.After(sigterm) {
			inFlight++
			if r.outcome != signedIn {
				inFlightDropped++
			}
		}
	}
	t.Logf("SIGTERM to exit: %v (drain %v); posts: %d signed in, %d refused, %d broken, %d not posted; "+
		"%d in flight at SIGTERM, %d of them not signed in",
		exitAfter.Round(time.Millisecond), drain, count[signedIn], count[refused], count[broken], count[notPosted], inFlight, inFlightDropped)
	if inFlight == 0 {
		t.Error("no post was in flight at SIGTERM: the test proved nothing")
	}
	for i, r := range results {
		switch r.outcome {
		case broken:
			t.Errorf("post %d: no typed answer: status %d, %s", i, r.status, r.message)
		case refused:
			// Every prepared sign-in is valid: a refusal here is the shutdown dropping it.
			t.Errorf("post %d: a valid sign-in was refused during the shutdown: %d %q (reference %s)", i, r.status, r.message, r.reference)
		}
	}
	if exitAfter < drain {
		t.Errorf("ssod exited %v after SIGTERM, before its %v drain was over", exitAfter, drain)
	}

	// The replica that takes over redeems every code: each user was provisioned.
	again := startSuite(t, env)
	for i, r := range results {
		if r.outcome != signedIn {
			continue
		}
		body := fmt.Sprintf(`{"code":%q,"codeVerifier":%q}`, r.code, prepared[i].verifier)
		if got := again.call(t, "", "POST", "/v1/login:redeem", body); got.status != 200 || got.body["accessToken"] == nil {
			t.Errorf("post %d signed in (request %s), but its code does not redeem: %d %s", i, r.requestID, got.status, got.raw)
		}
	}

	// The sign-in log says what each person saw: a post that signed in is listed as signed in,
	// a post refused as refused with a reason, and a post that never reached the edge not at all.
	// Nothing is left unfinished: the edge reported every validated sign-in before it stopped.
	logged := map[string]map[string]any{}
	for _, a := range allLoginAttempts(t, again, w.ownerToken, w.connection) {
		email, _ := a["email"].(string)
		if _, twice := logged[email]; twice {
			t.Errorf("two attempts of %s: %v", email, a)
		}
		logged[email] = a
	}
	for i, r := range results {
		a, listed := logged[prepared[i].email]
		switch {
		case r.outcome == notPosted || r.sent.IsZero():
			if listed {
				t.Errorf("post %d never reached the edge, yet the log lists it: %v", i, a)
			}
		case !listed:
			t.Errorf("post %d (%v, request %s) is missing from the sign-in log", i, r.outcome, r.requestID)
		case r.outcome == signedIn && a["outcome"] != "LOGIN_OUTCOME_SIGNED_IN":
			t.Errorf("post %d signed in, but the log says %v", i, a)
		case r.outcome == refused && (a["outcome"] != "LOGIN_OUTCOME_REFUSED" || a["reason"] == nil):
			t.Errorf("post %d was refused, but the log says %v", i, a)
		}
	}
}

// allLoginAttempts lists a connection's whole sign-in log, page by page, as its owner sees it.
func allLoginAttempts(t testing.TB, s *running, token, connection string) []map[string]any {
	t.Helper()
	var out []map[string]any
	page := ""
	for range 100 {
		r := s.call(t, token, "GET", "/v1/"+connection+"/loginAttempts?pageSize=100&pageToken="+url.QueryEscape(page), "")
		if r.status != 200 {
			t.Fatalf("loginAttempts: %d %s", r.status, r.raw)
		}
		list, _ := r.body["loginAttempts"].([]any)
		for _, a := range list {
			out = append(out, a.(map[string]any))
		}
		if page, _ = r.body["nextPageToken"].(string); page == "" {
			return out
		}
	}
	t.Fatal("the sign-in log did not end after 100 pages")
	return nil
}

// TestASecondSIGTERMCutsTheDrainShort: the first SIGTERM turns readiness off at once while the edge
// keeps serving, closing each connection after its answer; a second one ends the drain, and the
// process exits 0 long before the drain would have ended.
func TestASecondSIGTERMCutsTheDrainShort(t *testing.T) {
	// Not in parallel with the package's other tests: readiness must turn within a second.
	edge := freeAddr(t)
	child := startProcess(t, map[string]string{
		"DATA_DIR": t.TempDir(), "GATEWAY_LISTEN_ADDR": edge, "SHUTDOWN_DRAIN": "1m", "LOG_LEVEL": "info",
	})
	child.waitReady(t)
	first := child.terminate(t)
	for {
		status, body := getStatus(child.base + "/readyz")
		if status == http.StatusServiceUnavailable {
			break
		}
		// Readiness turns at once; a second on a loaded machine is plenty.
		if time.Since(first) > time.Second {
			t.Fatalf("/readyz %d %q a second after SIGTERM, want 503", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(child.base + "/healthz")
	if err != nil {
		t.Fatalf("the edge stopped serving at the first SIGTERM: %v", err)
	}
	resp.Body.Close()
	// Keep-alive clients are sent back through the balancer: each answer closes its connection.
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("/healthz during the drain: %d, Connection %q", resp.StatusCode, resp.Header.Get("Connection"))
	}
	second := child.terminate(t)
	child.waitExit(t, 15*time.Second)
	t.Logf("exited %v after the second SIGTERM (drain 1m)", child.exitAt.Sub(second).Round(time.Millisecond))
}

// TestASignInInFlightWhenTheSuiteStopsIsCompleted holds a sign-in between its validation and its
// provisioning — the assertion service waits for the connection service, which waits for a lock on
// its table — while the suite stops. The edge finishes it before any service stops, so it reaches
// provisioning and gets its code; with every service stopping at once, provisioning would be gone
// by then and the validated sign-in lost.
func TestASignInInFlightWhenTheSuiteStopsIsCompleted(t *testing.T) {
	t.Parallel()
	dsn := sqlstoretest.PostgresDSN(t)
	env := map[string]string{
		"DATABASE_URL": dsn, "REDIS_URL": testenv.RedisURL(), "DATA_DIR": t.TempDir(),
		"REDIS_KEY_PREFIX": "inflight:" + opaque.LowerToken(8) + ":",
		// The connection's configuration is fetched again for the post, not served from the cache.
		"ASSERTION_CONNECTION_CACHE_TTL": "100ms",
	}
	w := setUpWorld(t, env)
	p := prepareSignIns(t, w, 1)[0]
	time.Sleep(300 * time.Millisecond) // three cache lifetimes

	db, lock := lockTable(t, dsn, "connections")
	answer := make(chan acsResult, 1)
	go func() { answer <- postToACS(noRedirects(nil), p) }()
	// The post is in flight once the connection service waits for the lock.
	waitForLockWaiter(t, db, "connections")
	stopped := make(chan struct{})
	go func() { w.s.stop(); close(stopped) }()
	// Time enough for a suite that stops everything at once to have stopped provisioning, which has
	// no call in flight; the suite that stops in order is still waiting for its edge.
	time.Sleep(300 * time.Millisecond)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	r := <-answer
	<-stopped
	if r.outcome != signedIn {
		t.Fatalf("the sign-in in flight came to %v: %d %q (reference %s)", r.outcome, r.status, r.message, r.reference)
	}
	again := startSuite(t, env)
	body := fmt.Sprintf(`{"code":%q,"codeVerifier":%q}`, r.code, p.verifier)
	if got := again.call(t, "", "POST", "/v1/login:redeem", body); got.status != 200 {
		t.Fatalf("its code does not redeem: %d %s", got.status, got.raw)
	}
}

// waitForLockWaiter returns once a backend of the database waits for a lock on table.
// lockTable holds an exclusive lock on table until the test ends or the transaction is rolled back:
// whatever needs the table waits. It returns the database to watch the waiters on, and the lock.
func lockTable(t testing.TB, dsn, table string) (*sql.DB, *sql.Tx) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	lock, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Rollback() })
	if _, err := lock.Exec("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return db, lock
}

func waitForLockWaiter(t testing.TB, db *sql.DB, table string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass`, table).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing waited for the lock on %s", table)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTheAuditEventOfAChangeFinishedDuringTheStopReachesProvisioning runs the connection service
// alone and holds a change in flight (on a lock of its table) while the service stops. The change
// commits during the graceful stop, with its audit event in the outbox; the relay must still run
// then and hand the event to provisioning before the service is gone.
func TestTheAuditEventOfAChangeFinishedDuringTheStopReachesProvisioning(t *testing.T) {
	t.Parallel()
	dsn := sqlstoretest.PostgresDSN(t)
	w := setUpWorld(t, map[string]string{"DATABASE_URL": dsn, "DATA_DIR": t.TempDir()})
	w.s.stop()
	log := logging.Discard()

	// Provisioning, to receive the events; the admin (the gateway) reads them.
	provCtx, stopProv := context.WithCancel(context.Background())
	defer stopProv()
	provCfg := w.s.cfg.Provisioning
	provCfg.TLS = w.s.ca.Identity("provisioning")
	prov, err := provisioning.New(provCtx, provCfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	provConn := grpcservertest.Serve(t, prov.Serve, w.s.ca.Identity("gateway"))

	// The connection service alone, as its binary runs it.
	cfg := w.s.cfg.Connection
	cfg.TLS = w.s.ca.Identity("connection")
	cfg.ListenAddr, cfg.ProvisioningAddr, cfg.DomainAddr = freeAddr(t), provConn.Target(), freeAddr(t)
	cfg.Shutdown.Drain = 0
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	stopped := make(chan error, 1)
	go func() { stopped <- connection.Run(ctx, cfg, log, nil) }()
	connections := connectionv1.NewConnectionServiceClient(w.s.ca.Dial(cfg.ListenAddr, "gateway"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := connections.GetConnection(context.Background(), &connectionv1.GetConnectionRequest{Name: w.connection}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection service never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}

	db, lock := lockTable(t, dsn, "connections")
	updated := make(chan error, 1)
	go func() {
		_, err := connections.UpdateConnection(callmeta.WithActor(context.Background(), "users/renamer"), &connectionv1.UpdateConnectionRequest{
			Connection: &connectionv1.Connection{Name: w.connection, DisplayName: "Renamed during the stop"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		})
		updated <- err
	}()
	waitForLockWaiter(t, db, "connections")
	sigterm()
	// Time enough for a relay that stops with the server's context to have stopped.
	time.Sleep(300 * time.Millisecond)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatalf("the change in flight at the stop failed: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}

	events, err := provisioningv1.NewDirectoryServiceClient(provConn).ListAuditEvents(context.Background(), &provisioningv1.ListAuditEventsRequest{Parent: "companies/acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.GetAuditEvents() {
		if e.GetAction() == "connection.update" && e.GetActor() == "users/renamer" {
			return
		}
	}
	t.Fatalf("the change's audit event did not reach provisioning before the connection service stopped; it has %d events", len(events.GetAuditEvents()))
}
