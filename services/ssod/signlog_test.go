package ssod_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/provisioning"
)

// loginAttempts lists the connection's sign-in log as its owner sees it, newest first.
func (w *world) loginAttempts(t *testing.T) []map[string]any {
	t.Helper()
	r := w.s.call(t, w.ownerToken, "GET", "/v1/"+w.connection+"/loginAttempts?pageSize=100", "")
	if r.status != 200 {
		t.Fatalf("loginAttempts: %d %s", r.status, r.raw)
	}
	list, _ := r.body["loginAttempts"].([]any)
	var out []map[string]any
	for _, a := range list {
		out = append(out, a.(map[string]any))
	}
	return out
}

// startAtIdP runs a sign-in of user up to the IdP's answer, without posting it.
func (w *world) startAtIdP(t *testing.T, email, user, password string) posted {
	t.Helper()
	_, challenge := pkce()
	started := w.start(t, email, challenge)
	if started.status != 200 {
		t.Fatalf("login:start: %d %s", started.status, started.raw)
	}
	return signInAtIdP(t, started.body["redirectUrl"].(string), user, password)
}

const sessionLostPage = "We couldn&#39;t find your session"

func TestTheSignInLogSaysWhatHappenedToEachPerson(t *testing.T) {
	t.Parallel()
	w := setUpWorld(t, map[string]string{"GATEWAY_MAX_ACS_BYTES": "65536"})

	t.Run("a sign-in is listed as signed in once the person got a code", func(t *testing.T) {
		p := w.startAtIdP(t, "jane@acme.example", "jane", "jane-password")
		if status, loc, page := postACS(t, p, p.binding); status != http.StatusFound || !strings.Contains(loc, "code=") {
			t.Fatalf("%d %s\n%s", status, loc, page)
		}
		a := w.loginAttempts(t)[0]
		if a["outcome"] != "LOGIN_OUTCOME_SIGNED_IN" || a["email"] != "jane@acme.example" || a["finishTime"] == nil || a["reason"] != nil {
			t.Fatalf("attempt %v", a)
		}
	})

	t.Run("NO_SEATS after a valid response is listed as refused with its reason", func(t *testing.T) {
		org := w.s.call(t, w.ownerToken, "GET", "/v1/organizations/eng", "")
		used, _ := field(org.body, "organization", "seatsUsed").(float64)
		if org.status != 200 || used < 1 {
			t.Fatalf("eng: %d %s", org.status, org.raw)
		}
		if r := w.s.call(t, w.ownerToken, "PATCH", "/v1/organizations/eng?updateMask=seat_limit", fmt.Sprintf(`{"seatLimit":%d}`, int(used))); r.status != 200 {
			t.Fatalf("seat limit: %d %s", r.status, r.raw)
		}
		defer w.s.call(t, w.ownerToken, "PATCH", "/v1/organizations/eng?updateMask=seat_limit", `{"seatLimit":0}`)
		p := w.startAtIdP(t, "admin@acme.example", "ada", "ada-password")
		status, _, page := postACS(t, p, p.binding)
		if status != http.StatusBadRequest || !strings.Contains(page, `<code id="reason">NO_SEATS</code>`) {
			t.Fatalf("%d\n%s", status, page)
		}
		a := w.loginAttempts(t)[0]
		if a["outcome"] != "LOGIN_OUTCOME_REFUSED" || a["reason"] != "NO_SEATS" || a["check"] != "provisioning of the user" ||
			a["email"] != "admin@acme.example" || a["fixBy"] != "FIX_BY_IECHOR" || a["finishTime"] == nil {
			t.Fatalf("attempt %v", a)
		}
	})

	t.Run("a post from another browser does not spend the genuine browser's relay state", func(t *testing.T) {
		p := w.startAtIdP(t, "jane@acme.example", "jane", "jane-password")
		other := &http.Cookie{Name: p.binding.Name, Value: opaque.Token(32)}
		status, _, page := postACS(t, p, other)
		if status != http.StatusForbidden || !strings.Contains(page, sessionLostPage) || !strings.Contains(page, `<code id="reason">BROWSER_MISMATCH</code>`) {
			t.Fatalf("the other browser's post: %d\n%s", status, page)
		}
		if status, loc, page := postACS(t, p, p.binding); status != http.StatusFound || !strings.Contains(loc, "code=") {
			t.Fatalf("the genuine browser could not finish: %d %s\n%s", status, loc, page)
		}
		log := w.loginAttempts(t)
		if log[0]["outcome"] != "LOGIN_OUTCOME_SIGNED_IN" || log[1]["reason"] != "BROWSER_MISMATCH" {
			t.Fatalf("log %v", log[:2])
		}
	})

	t.Run("a body over the cap is 413, logged, and spends the relay state of the browser that started", func(t *testing.T) {
		p := w.startAtIdP(t, "jane@acme.example", "jane", "jane-password")
		oversized := url.Values{"SAMLResponse": {strings.Repeat("A", 70_000)}, "RelayState": {p.relayState}}.Encode()
		post := func(cookie *http.Cookie) (int, string) {
			req, _ := http.NewRequest(http.MethodPost, p.acs, strings.NewReader(oversized))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
			resp, err := noRedirects(nil).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, readAll(t, resp)
		}
		// Another browser's oversized post leaves the relay state; the genuine one's spends it.
		if status, page := post(&http.Cookie{Name: p.binding.Name, Value: opaque.Token(32)}); status != http.StatusRequestEntityTooLarge ||
			!strings.Contains(page, `<code id="reason">BODY_TOO_LARGE</code>`) {
			t.Fatalf("%d\n%s", status, page)
		}
		if status, page := post(p.binding); status != http.StatusRequestEntityTooLarge || !strings.Contains(page, "Reference:") {
			t.Fatalf("%d\n%s", status, page)
		}
		if status, _, page := postACS(t, p, p.binding); status != http.StatusForbidden || !strings.Contains(page, `<code id="reason">RELAY_STATE_UNKNOWN</code>`) {
			t.Fatalf("the relay state was not spent by the refused post: %d\n%s", status, page)
		}
		log := w.loginAttempts(t)
		if log[1]["reason"] != "BODY_TOO_LARGE" || log[1]["check"] != "size of the posted form" || log[1]["outcome"] != "LOGIN_OUTCOME_REFUSED" ||
			log[2]["reason"] != "BODY_TOO_LARGE" {
			t.Fatalf("log %v", log[:3])
		}
	})

	t.Run("another owner asking for this connection's log under its own name is not found", func(t *testing.T) {
		_, rival := w.s.bootstrap(t, provisioning.BootstrapRequest{Company: "Rival", OwnerEmail: "boss@rival.example"})
		id := w.connection[strings.LastIndex(w.connection, "/")+1:]
		r := w.s.call(t, rival, "GET", "/v1/companies/rival/connections/"+id+"/loginAttempts", "")
		if r.status != http.StatusNotFound || r.reason() != "CONNECTION_NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}
