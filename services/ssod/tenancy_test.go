package ssod_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iechor/sso/services/provisioning"
)

// TestLoginStartTellsAnAnonymousCallerOnlyWhatTheSignInNeeds: display names and opaque connection
// ids, never the company or organization behind them, on the JSON answer and on the browser's
// choice page; the opaque id chooses.
func TestLoginStartTellsAnAnonymousCallerOnlyWhatTheSignInNeeds(t *testing.T) {
	t.Parallel()
	w := setUpWorld(t, nil)
	_, challenge := pkce()
	start := func(connection string) reply {
		return w.s.call(t, "", "POST", "/v1/login:start", fmt.Sprintf(
			`{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":%q,"codeChallenge":%q,"connection":%q}`, w.rt.url, challenge, connection))
	}
	tellsOfTheTenant := func(raw string) bool {
		return strings.Contains(raw, "companies/") || strings.Contains(raw, "organizations/") ||
			strings.Contains(raw, "companies%2F") || strings.Contains(raw, "organizations%2F")
	}
	firstID := w.connection[strings.LastIndex(w.connection, "/")+1:]

	t.Run("the one connection is named by its opaque id", func(t *testing.T) {
		r := start("")
		if r.status != 200 || field(r.body, "connection", "id") != firstID || field(r.body, "connection", "displayName") != "Acme IdP" ||
			field(r.body, "connection", "name") != nil || tellsOfTheTenant(r.raw) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	second := w.s.call(t, w.ownerToken, "POST", "/v1/companies/acme/connections", fmt.Sprintf(`{"connection":{"displayName":"Acme Backup IdP",
		"type":"CONNECTION_TYPE_SAML","state":"CONNECTION_STATE_ACTIVE","domains":["acme.example"],"organizations":["organizations/eng"],
		"defaultOrganization":"organizations/eng","saml":{"idpMetadataXml":%q,"signRequests":false}}}`, w.idp.metadata(t)))
	if second.status != 200 {
		t.Fatalf("second connection: %d %s", second.status, second.raw)
	}
	secondName := field(second.body, "connection", "name").(string)
	secondID := secondName[strings.LastIndex(secondName, "/")+1:]

	t.Run("several connections are offered by display name and opaque id", func(t *testing.T) {
		r := start("")
		list, _ := r.body["connections"].([]any)
		if r.status != 200 || r.body["redirectUrl"] != nil || len(list) != 2 || tellsOfTheTenant(r.raw) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		got := map[string]string{}
		for _, c := range list {
			m := c.(map[string]any)
			if len(m) != 2 {
				t.Fatalf("a choice carries more than an id and a display name: %v", m)
			}
			got[m["id"].(string)] = m["displayName"].(string)
		}
		if got[firstID] != "Acme IdP" || got[secondID] != "Acme Backup IdP" {
			t.Fatalf("choices %v", got)
		}
	})

	t.Run("the opaque id sent back chooses the connection", func(t *testing.T) {
		r := start(secondID)
		if r.status != 200 || r.body["redirectUrl"] == nil || field(r.body, "connection", "id") != secondID || tellsOfTheTenant(r.raw) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	t.Run("an id that is not one of the email's connections is refused", func(t *testing.T) {
		if r := start("conn_unknown"); r.status != 404 || r.reason() != "CONNECTION_NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	t.Run("the browser's choice page links by opaque id, and a link chooses", func(t *testing.T) {
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(w.s.base + "/sso/start?email=jane@acme.example&return_to=" + url.QueryEscape(w.rt.url))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		if resp.StatusCode != 200 || !strings.Contains(page, "Acme Backup IdP") || !strings.Contains(page, "connection="+secondID) || tellsOfTheTenant(page) {
			t.Fatalf("%d %s", resp.StatusCode, page)
		}
		resp, err = client.Get(w.s.base + "/sso/start?email=jane@acme.example&connection=" + secondID + "&return_to=" + url.QueryEscape(w.rt.url))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), w.idp.url) {
			t.Fatalf("chosen by link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestTenantsMeetOnlyThroughInvitations runs two companies through the REST edge: one owner cannot
// reach the other company's people by id, and brings one in by an invitation that the person accepts
// with their own token.
func TestTenantsMeetOnlyThroughInvitations(t *testing.T) {
	t.Parallel()
	w := setUpWorld(t, nil)
	globex, gus := w.s.bootstrap(t, provisioning.BootstrapRequest{Company: "Globex", OwnerEmail: "gus@globex.example", OwnerName: "Gus Globex"})
	// The error body minus what differs between any two requests.
	refusal := func(r reply) string {
		b, _ := json.Marshal(map[string]any{"code": r.body["code"], "message": r.body["message"], "details": r.body["details"]})
		return fmt.Sprintf("%d %s", r.status, b)
	}

	t.Run("another company's owner added by id answers as a user that does not exist", func(t *testing.T) {
		foreign := w.s.call(t, w.ownerToken, "POST", "/v1/companies/acme/owners", `{"user":"`+globex.Owner+`"}`)
		missing := w.s.call(t, w.ownerToken, "POST", "/v1/companies/acme/owners", `{"user":"users/usr_doesnotexist"}`)
		if foreign.status != 404 || foreign.reason() != "USER_NOT_FOUND" || refusal(foreign) != refusal(missing) || strings.Contains(foreign.raw, "globex") {
			t.Fatalf("foreign %s, missing %s", foreign.raw, missing.raw)
		}
		member := w.s.call(t, w.ownerToken, "POST", "/v1/organizations/eng/members", `{"user":"`+globex.Owner+`","role":"ROLE_OWNER"}`)
		if member.status != 404 || member.reason() != "USER_NOT_FOUND" || strings.Contains(member.raw, "globex") {
			t.Fatalf("member %d %s", member.status, member.raw)
		}
		owners := w.s.call(t, w.ownerToken, "GET", "/v1/companies/acme/owners", "")
		if owners.status != 200 || strings.Contains(owners.raw, "globex") {
			t.Fatalf("owners %s", owners.raw)
		}
	})

	t.Run("the person is invited by email and accepts with their own token", func(t *testing.T) {
		inv := w.s.call(t, w.ownerToken, "POST", "/v1/organizations/eng/invitations", `{"invitation":{"email":"gus@globex.example","role":"ROLE_EDITOR"}}`)
		if inv.status != 200 {
			t.Fatalf("invite %d %s", inv.status, inv.raw)
		}
		name := field(inv.body, "invitation", "name").(string)
		mine := w.s.call(t, gus, "GET", "/v1/"+globex.Owner+"/invitations", "")
		if mine.status != 200 || !strings.Contains(mine.raw, name) {
			t.Fatalf("the invitee's list %d %s", mine.status, mine.raw)
		}
		if other := w.s.call(t, w.ownerToken, "POST", "/v1/"+globex.Owner+":acceptInvitation", `{"invitation":"`+name+`"}`); other.status != 404 {
			t.Fatalf("accepted with the inviter's token: %d %s", other.status, other.raw)
		}
		accepted := w.s.call(t, gus, "POST", "/v1/"+globex.Owner+":acceptInvitation", `{"invitation":"`+name+`"}`)
		if accepted.status != 200 || field(accepted.body, "membership", "role") != "ROLE_EDITOR" ||
			field(accepted.body, "invitation", "state") != "INVITATION_STATE_ACCEPTED" {
			t.Fatalf("accept %d %s", accepted.status, accepted.raw)
		}
		if r := w.s.call(t, w.ownerToken, "POST", "/v1/companies/acme/owners", `{"user":"`+globex.Owner+`"}`); r.status != 200 ||
			field(r.body, "owner", "email") != "gus@globex.example" {
			t.Fatalf("a member of the company is added by id: %d %s", r.status, r.raw)
		}
	})
}
