package ssod_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/gateway"
)

func TestStartingASignIn(t *testing.T) {
	t.Parallel()
	// The limits count per minute of the edge's clock: the test begins at the start of one.
	w := setUpWorld(t, map[string]string{"GATEWAY_RATE_LIMIT_START_EMAIL": "3/1m", "GATEWAY_RATE_LIMIT_ACS_EMAIL": "1/1m"},
		gateway.Options{Now: atTheStartOfAWindow(time.Minute)})
	_, challenge := pkce()
	start := func(body string) reply {
		return w.s.call(t, "", "POST", "/v1/login:start", body)
	}
	loginBody := func(email, client string) string {
		return fmt.Sprintf(`{"email":%q,"client":%s,"returnTo":%q,"codeChallenge":%q}`, email, client, w.rt.url, challenge)
	}

	for _, tc := range []struct {
		name, body, reason string
		status             int
	}{
		{"an email without SSO keeps password sign-in", loginBody("bob@elsewhere.example", `{"type":"CLIENT_TYPE_HUB"}`), "NO_SSO_CONNECTION", 404},
		{"Desktop older than 4.4.2 is told to update", loginBody("old@acme.example", `{"type":"CLIENT_TYPE_DESKTOP","version":"4.4.1"}`), "DESKTOP_TOO_OLD", 400},
		{"Desktop without a version is refused", loginBody("noversion@acme.example", `{"type":"CLIENT_TYPE_DESKTOP"}`), "INVALID_CLIENT_VERSION", 400},
		{"the CLI is told to use a personal access token", loginBody("cli@acme.example", `{"type":"CLIENT_TYPE_CLI"}`), "USE_PERSONAL_ACCESS_TOKEN", 400},
		{"a challenge that is not S256 is refused", fmt.Sprintf(`{"email":"plain@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":"plain"}`, w.rt.url), "INVALID_CODE_CHALLENGE", 400},
		{"a method other than S256 is refused", fmt.Sprintf(`{"email":"method@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q,"codeChallengeMethod":"plain"}`, w.rt.url, challenge), "CODE_CHALLENGE_METHOD_UNSUPPORTED", 400},
		{"test mode without an owner's token is refused", fmt.Sprintf(`{"email":"tester@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q,"testMode":true}`, w.rt.url, challenge), "TEST_MODE_FORBIDDEN", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(tc.body)
			if r.status != tc.status || r.reason() != tc.reason {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}

	t.Run("Desktop 4.4.2 or later signs in", func(t *testing.T) {
		r := start(loginBody("grace@acme.example", `{"type":"CLIENT_TYPE_DESKTOP","version":"4.4.2"}`))
		if r.status != 200 || r.body["redirectUrl"] == nil {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	t.Run("an owner tests a draft connection; nobody else is offered it", func(t *testing.T) {
		if r := w.s.call(t, w.ownerToken, "PATCH", "/v1/"+w.connection+"?updateMask=state", `{"state":"CONNECTION_STATE_DRAFT"}`); r.status != 200 {
			t.Fatalf("to draft: %d %s", r.status, r.raw)
		}
		defer w.s.call(t, w.ownerToken, "PATCH", "/v1/"+w.connection+"?updateMask=state", `{"state":"CONNECTION_STATE_ACTIVE"}`)
		if r := start(loginBody("linus@acme.example", `{"type":"CLIENT_TYPE_HUB"}`)); r.status != 404 || r.reason() != "NO_SSO_CONNECTION" {
			t.Fatalf("a draft offered outside test mode: %d %s", r.status, r.raw)
		}
		named := fmt.Sprintf(`{"email":"linus@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q,"connection":%q}`, w.rt.url, challenge, w.connection)
		if r := start(named); r.status != 400 || r.reason() != "CONNECTION_INACTIVE" {
			t.Fatalf("a draft named outside test mode: %d %s", r.status, r.raw)
		}
		test := fmt.Sprintf(`{"email":"linus@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q,"testMode":true}`, w.rt.url, challenge)
		if r := w.s.call(t, w.ownerToken, "POST", "/v1/login:start", test); r.status != 200 || r.body["redirectUrl"] == nil {
			t.Fatalf("the owner's test sign-in: %d %s", r.status, r.raw)
		}
	})

	t.Run("too many starts for one email are limited, with Retry-After", func(t *testing.T) {
		var last *http.Response
		for range 4 {
			req, _ := http.NewRequest("POST", w.s.base+"/v1/login:start", strings.NewReader(loginBody("rate@acme.example", `{"type":"CLIENT_TYPE_HUB"}`)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			last = resp
		}
		if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
			t.Fatalf("fourth start: %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
		}
	})

	t.Run("too many sign-ins of one person at the ACS are limited", func(t *testing.T) {
		for i := range 2 {
			_, challenge := pkce()
			started := start(fmt.Sprintf(`{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q}`, w.rt.url, challenge))
			if started.status != 200 {
				t.Fatalf("start %d: %d %s", i, started.status, started.raw)
			}
			p := signInAtIdP(t, started.body["redirectUrl"].(string), "jane", "jane-password")
			status, _, page := postACS(t, p, p.binding)
			switch {
			case i == 0 && status != http.StatusFound:
				t.Fatalf("first sign-in: %d\n%s", status, page)
			case i == 1 && (status != http.StatusTooManyRequests || !strings.Contains(page, "Too many sign-in attempts")):
				t.Fatalf("second sign-in within the minute: %d\n%s", status, page)
			}
		}
	})

	t.Run("a plain browser link starts the sign-in with a redirect and binds the browser", func(t *testing.T) {
		q := url.Values{"email": {"browser@acme.example"}, "return_to": {w.rt.url}}
		resp, err := noRedirects(nil).Get(w.s.base + "/sso/start?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), w.idp.url+"/sso?") || len(resp.Cookies()) != 1 ||
			resp.Cookies()[0].Name != "__Host-iechor-sso-binding" {
			t.Fatalf("%d to %s, cookies %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
		}
	})
	t.Run("the bookmarkable link of a connection goes straight to its IdP", func(t *testing.T) {
		id := w.connection[strings.LastIndex(w.connection, "/")+1:]
		resp, err := noRedirects(nil).Get(w.s.base + "/sso/c/" + id + "?return_to=" + url.QueryEscape(w.rt.url))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), w.idp.url+"/sso?") {
			t.Fatalf("%d to %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("a browser link for an email without SSO shows a page with a reference", func(t *testing.T) {
		resp, err := noRedirects(nil).Get(w.s.base + "/sso/start?email=bob%40elsewhere.example&return_to=" + url.QueryEscape(w.rt.url))
		if err != nil {
			t.Fatal(err)
		}
		page := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "There is no SSO connection") || !strings.Contains(page, resp.Header.Get("X-Request-Id")) {
			t.Fatalf("%d\n%s", resp.StatusCode, page)
		}
	})
	t.Run("a browser link never sends the browser to another origin", func(t *testing.T) {
		resp, err := noRedirects(nil).Get(w.s.base + "/sso/start?email=evil%40acme.example&return_to=" + url.QueryEscape("https://evil.example/"))
		if err != nil {
			t.Fatal(err)
		}
		page := readAll(t, resp)
		if resp.StatusCode == http.StatusFound || !strings.Contains(page, "return_to is not an allowed address") {
			t.Fatalf("%d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("the ACS refuses GET and extra fields", func(t *testing.T) {
		id := w.connection[strings.LastIndex(w.connection, "/")+1:]
		resp, err := http.Get(w.s.base + "/saml/" + id + "/acs")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
		resp, err = http.PostForm(w.s.base+"/saml/"+id+"/acs", url.Values{"SAMLResponse": {"x"}, "RelayState": {"y"}, "extra": {"z"}})
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Reference:") {
			t.Fatalf("extra field: %d\n%s", resp.StatusCode, page)
		}
	})
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
