package ssod_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/platform/testenv"
	"github.com/iechor/sso/services/platform/tracing"
	"github.com/iechor/sso/services/provisioning"
)

// receiver is the return_to page: a loopback server that receives the one-time codes, as Desktop's
// loopback redirect or the Hub's callback page would.
type receiver struct {
	url   string
	codes chan string
}

func startReceiver(t testing.TB) *receiver {
	r := &receiver{codes: make(chan string, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if code := req.URL.Query().Get("code"); code != "" {
			r.codes <- code
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Signed in</title><p id="done">Signed in</p>`)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/callback"
	return r
}

func (r *receiver) code(t testing.TB) string {
	t.Helper()
	select {
	case c := <-r.codes:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no code arrived at return_to")
		return ""
	}
}

// world is a running suite on PostgreSQL and Redis with a company, a verified domain, an
// organization with a team, a real IdP and a connection to it.
type world struct {
	s          *running
	idp        *testIdP
	rt         *receiver
	ownerToken string
	connection string // companies/acme/connections/conn_...
}

func setUpWorld(t testing.TB, extraEnv map[string]string, opts ...gateway.Options) *world {
	t.Helper()
	var gw gateway.Options
	if len(opts) > 0 {
		gw = opts[0]
	}
	return setUpWorldWith(t, extraEnv, logging.Discard(), nil, gw)
}

// setUpWorldWith is setUpWorld with the suite logging to log and traced by tr, and gw the edge's
// options (see startSuiteWith).
func setUpWorldWith(t testing.TB, extraEnv map[string]string, log *slog.Logger, tr *tracing.Tracing, gw gateway.Options) *world {
	t.Helper()
	dsn := sqlstoretest.PostgresDSN(t)
	redisURL := testenv.RedisURL()
	probe, err := ephemeral.NewRedis(ephemeral.RedisOptions{URL: redisURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := probe.Ping(context.Background()); err != nil {
		_ = probe.Close()
		testenv.Unavailable(t, "redis", err)
	}
	_ = probe.Close()
	dns := dnstest.Start(t)
	env := map[string]string{
		"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dns.Addr(), "DATABASE_URL": dsn,
		"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": "e2e:" + opaque.LowerToken(8) + ":",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	s := startSuiteWith(t, env, log, tr, gw)
	_, owner := s.bootstrap(t, provisioning.BootstrapRequest{Company: "Acme", OwnerEmail: "admin@acme.example", OwnerName: "Ada Admin"})

	must := func(r reply, what string) reply {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.raw)
		}
		return r
	}
	must(s.call(t, owner, "POST", "/v1/organizations",
		`{"organizationId":"eng","organization":{"displayName":"Engineering","company":"companies/acme","plan":"PLAN_BUSINESS"}}`), "create organization")
	must(s.call(t, owner, "POST", "/v1/organizations/eng/teams", `{"teamId":"devs","team":{"displayName":"Developers"}}`), "create team")
	d := must(s.call(t, owner, "POST", "/v1/companies/acme/domains", `{"domainName":"acme.example"}`), "add domain")
	dns.SetTXT("acme.example", field(d.body, "domain", "txtRecord", "value").(string))
	must(s.call(t, owner, "POST", "/v1/companies/acme/domains/acme.example:verify", `{}`), "verify domain")

	idp := startIdP(t)
	idp.addUser(t, "ada", "ada-password", "admin@acme.example", "Ada Admin")
	idp.addUser(t, "jane", "jane-password", "jane@acme.example", "Jane Doe", "eng:devs", "staff")
	// samlidp's login form posts the AuthnRequest back to itself without the query-string signature
	// of the HTTP-Redirect binding, and then refuses it as unsigned: the connection to it does not
	// sign requests. Signed requests are proven in the assertion service's tests.
	body := fmt.Sprintf(`{"connection":{"displayName":"Acme IdP","type":"CONNECTION_TYPE_SAML","state":"CONNECTION_STATE_ACTIVE",
		"domains":["acme.example"],"organizations":["organizations/eng"],"defaultOrganization":"organizations/eng",
		"defaultTeam":"organizations/eng/teams/devs",
		"saml":{"idpMetadataXml":%q,"signRequests":false},"attributeMapping":{"fullName":"cn","groups":"eduPersonAffiliation"}}}`, idp.metadata(t))
	c := must(s.call(t, owner, "POST", "/v1/companies/acme/connections", body), "create connection")
	name := field(c.body, "connection", "name").(string)
	metadataURL := field(c.body, "connection", "serviceProvider", "metadataUrl").(string)
	resp, err := http.Get(metadataURL)
	if err != nil {
		t.Fatal(err)
	}
	spMetadata, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("SP metadata: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	idp.addServiceProvider(t, "iechor", spMetadata)
	return &world{s: s, idp: idp, rt: startReceiver(t), ownerToken: owner, connection: name}
}

// start calls login:start for a Hub sign-in returning to the receiver.
func (w *world) start(t testing.TB, email, challenge string) reply {
	t.Helper()
	return w.s.call(t, "", "POST", "/v1/login:start", fmt.Sprintf(
		`{"email":%q,"client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q}`, email, w.rt.url, challenge))
}

func (w *world) redeem(t testing.TB, code, verifier string) reply {
	t.Helper()
	return w.s.call(t, "", "POST", "/v1/login:redeem", fmt.Sprintf(`{"code":%q,"codeVerifier":%q}`, code, verifier))
}

// expireCodeNow checks that the edge keeps code in Redis for the configured GATEWAY_CODE_TTL, then
// makes Redis expire it at once, as its lifetime running out would. The edge keeps a code under
// the SHA-256 of the code, behind the key prefix (gateway/internal/signin, codeKey).
func expireCodeNow(t *testing.T, w *world, code string) {
	t.Helper()
	opts, err := redis.ParseURL(w.s.cfg.Gateway.Ephemeral.RedisURL.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(code))
	key := w.s.cfg.Gateway.Ephemeral.Prefix + "code:" + hex.EncodeToString(sum[:])
	lifetime := w.s.cfg.Gateway.CodeTTL
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil || ttl <= lifetime-10*time.Second || ttl > lifetime {
		t.Fatalf("the code is kept for %v (%v), want the configured %v", ttl, err, lifetime)
	}
	if err := rdb.PExpire(ctx, key, time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Exists(ctx, key).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not expire the code")
		}
		time.Sleep(time.Millisecond)
	}
}

// chromium finds the browser; the Makefile installs Debian's chromium when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: `make test` installs Debian's chromium package")
	return ""
}

func TestSignInThroughARealIdentityProviderInAHeadlessBrowser(t *testing.T) {
	t.Parallel()
	w := setUpWorld(t, nil)
	verifier, challenge := pkce()
	started := w.start(t, "admin@acme.example", challenge)
	redirectURL, _ := started.body["redirectUrl"].(string)
	if started.status != 200 || redirectURL == "" || field(started.body, "connection", "id") != w.connection[strings.LastIndex(w.connection, "/")+1:] {
		t.Fatalf("login:start: %d %s", started.status, started.raw)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// Hub opens redirect_url; our edge binds the browser and sends it to the IdP's own login form;
	// the person logs in; the IdP's page posts to our ACS; we send the browser to return_to.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(redirectURL),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "ada-password"),
		chromedp.Click(chromedp.CSS(`input[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#done`)),
	); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`html`)))
		t.Fatalf("browser sign-in: %v (at %s)\n%s", err, loc, page)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loc, w.rt.url+"?code=") {
		t.Fatalf("the browser ended at %s (%v), want return_to with a code", loc, err)
	}
	code := w.rt.code(t)

	redeemed := w.redeem(t, code, verifier)
	token, _ := redeemed.body["accessToken"].(string)
	if redeemed.status != 200 || token == "" || field(redeemed.body, "user", "email") != "admin@acme.example" ||
		redeemed.body["tokenType"] != "Bearer" {
		t.Fatalf("redeem: %d %s", redeemed.status, redeemed.raw)
	}
	expires, _ := time.Parse(time.RFC3339, redeemed.body["expireTime"].(string))
	if d := time.Until(expires); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("a Hub session lasts %v, want 24 hours", d)
	}
	userName := field(redeemed.body, "user", "name").(string)

	// The token of the SSO sign-in manages the company's SSO.
	conns := w.s.call(t, token, "GET", "/v1/companies/acme/connections", "")
	if conns.status != 200 || !strings.Contains(conns.raw, w.connection) {
		t.Fatalf("admin call with the SSO token: %d %s", conns.status, conns.raw)
	}
	// The directory shows the identity link, the membership granted just in time and the audit.
	links := w.s.call(t, token, "GET", "/v1/"+userName+"/identityLinks", "")
	if links.status != 200 || !strings.Contains(links.raw, w.connection) || !strings.Contains(links.raw, "admin@acme.example") {
		t.Fatalf("identity links: %d %s", links.status, links.raw)
	}
	members := w.s.call(t, token, "GET", "/v1/organizations/eng/members", "")
	if members.status != 200 || !strings.Contains(members.raw, "admin@acme.example") {
		t.Fatalf("members of eng: %d %s", members.status, members.raw)
	}
	team := w.s.call(t, token, "GET", "/v1/organizations/eng/teams/devs/members", "")
	if team.status != 200 || !strings.Contains(team.raw, "admin@acme.example") {
		t.Fatalf("members of the default team: %d %s", team.status, team.raw)
	}
	audit := w.s.call(t, token, "GET", "/v1/companies/acme/auditEvents?pageSize=100", "")
	if audit.status != 200 || !strings.Contains(audit.raw, `"user.provision"`) || !strings.Contains(audit.raw, `"connection.create"`) {
		t.Fatalf("audit events: %d %s", audit.status, audit.raw)
	}
}

func TestSignInRefusesWhatItMustRefuse(t *testing.T) {
	t.Parallel()
	// A code lifetime other than the default, to see that the configured one is the one applied.
	w := setUpWorld(t, map[string]string{"GATEWAY_CODE_TTL": "45s"})
	sessionLost := "We couldn&#39;t find your session"

	// signIn runs a whole sign-in of jane up to the post to our ACS, without posting it.
	signIn := func(t *testing.T) (posted, string) {
		verifier, challenge := pkce()
		started := w.start(t, "jane@acme.example", challenge)
		if started.status != 200 {
			t.Fatalf("login:start: %d %s", started.status, started.raw)
		}
		return signInAtIdP(t, started.body["redirectUrl"].(string), "jane", "jane-password"), verifier
	}
	codeOf := func(t *testing.T, location string) string {
		u, err := url.Parse(location)
		if err != nil || !strings.HasPrefix(location, w.rt.url+"?") || u.Query().Get("code") == "" {
			t.Fatalf("redirected to %q, want return_to with a code", location)
		}
		return u.Query().Get("code")
	}

	t.Run("the same SAMLResponse posted twice signs in once", func(t *testing.T) {
		p, _ := signIn(t)
		status, loc, _ := postACS(t, p, p.binding)
		if status != http.StatusFound {
			t.Fatalf("first post: %d", status)
		}
		codeOf(t, loc)
		status, _, page := postACS(t, p, p.binding)
		if status == http.StatusFound || !strings.Contains(page, sessionLost) || !strings.Contains(page, "Reference:") {
			t.Fatalf("second post: %d\n%s", status, page)
		}
	})
	t.Run("a tampered RelayState finds no session", func(t *testing.T) {
		p, _ := signIn(t)
		p.relayState += "x"
		status, _, page := postACS(t, p, p.binding)
		if status == http.StatusFound || !strings.Contains(page, sessionLost) {
			t.Fatalf("%d\n%s", status, page)
		}
	})
	t.Run("a post without the binding cookie is refused", func(t *testing.T) {
		p, _ := signIn(t)
		status, _, page := postACS(t, p, nil)
		if status == http.StatusFound || !strings.Contains(page, sessionLost) {
			t.Fatalf("%d\n%s", status, page)
		}
	})
	t.Run("a post with another browser's cookie is refused", func(t *testing.T) {
		p, _ := signIn(t)
		other := &http.Cookie{Name: p.binding.Name, Value: opaque.Token(32)}
		status, _, page := postACS(t, p, other)
		if status == http.StatusFound || !strings.Contains(page, sessionLost) {
			t.Fatalf("%d\n%s", status, page)
		}
	})
	t.Run("a return address on another origin is refused at the start", func(t *testing.T) {
		_, challenge := pkce()
		r := w.s.call(t, "", "POST", "/v1/login:start", fmt.Sprintf(
			`{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":"https://evil.example/steal","codeChallenge":%q}`, challenge))
		if r.status != 400 || r.reason() != "RETURN_TO_NOT_ALLOWED" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	// A member's sign-in, for the cases about codes and tokens.
	p, verifier := signIn(t)
	_, loc, _ := postACS(t, p, p.binding)
	code := codeOf(t, loc)

	t.Run("a wrong code verifier is refused and spends the code", func(t *testing.T) {
		other, _ := pkce()
		if r := w.redeem(t, code, other); r.status != 400 || r.reason() != "CODE_VERIFIER_MISMATCH" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := w.redeem(t, code, verifier); r.status != 400 || r.reason() != "CODE_INVALID" {
			t.Fatalf("the code still worked after a wrong verifier: %d %s", r.status, r.raw)
		}
	})

	var memberToken string
	t.Run("a code works once", func(t *testing.T) {
		p, verifier := signIn(t)
		_, loc, _ := postACS(t, p, p.binding)
		code := codeOf(t, loc)
		r := w.redeem(t, code, verifier)
		memberToken, _ = r.body["accessToken"].(string)
		if r.status != 200 || memberToken == "" {
			t.Fatalf("first redeem: %d %s", r.status, r.raw)
		}
		if again := w.redeem(t, code, verifier); again.status != 400 || again.reason() != "CODE_INVALID" {
			t.Fatalf("second redeem: %d %s", again.status, again.raw)
		}
	})
	t.Run("an expired code is refused", func(t *testing.T) {
		p, verifier := signIn(t)
		_, loc, _ := postACS(t, p, p.binding)
		code := codeOf(t, loc)
		// Redis expires the code: rather than wait out its lifetime, the test checks that the code
		// was stored for GATEWAY_CODE_TTL and then moves its expiry to now.
		expireCodeNow(t, w, code)
		if r := w.redeem(t, code, verifier); r.status != 400 || r.reason() != "CODE_INVALID" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("the member was provisioned into the organization and team her groups name", func(t *testing.T) {
		team := w.s.call(t, w.ownerToken, "GET", "/v1/organizations/eng/teams/devs/members", "")
		if team.status != 200 || !strings.Contains(team.raw, "jane@acme.example") {
			t.Fatalf("%d %s", team.status, team.raw)
		}
	})
	t.Run("the admin API wants a token", func(t *testing.T) {
		if r := w.s.call(t, "", "GET", "/v1/companies/acme/connections", ""); r.status != 401 || r.reason() != "UNAUTHENTICATED" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("a member who is not an owner cannot manage SSO", func(t *testing.T) {
		if memberToken == "" {
			t.Fatal("no member token")
		}
		r := w.s.call(t, memberToken, "GET", "/v1/companies/acme/connections", "")
		if r.status != 404 || r.reason() != "NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("another tenant's connection answers not found", func(t *testing.T) {
		_, rival := w.s.bootstrap(t, provisioning.BootstrapRequest{Company: "Rival", OwnerEmail: "boss@rival.example"})
		r := w.s.call(t, rival, "GET", "/v1/"+w.connection, "")
		if r.status != 404 || r.reason() != "NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		own := w.s.call(t, rival, "GET", "/v1/companies/rival/connections", "")
		if own.status != 200 || strings.Contains(own.raw, w.connection) {
			t.Fatalf("the rival's own list: %d %s", own.status, own.raw)
		}
	})
}
