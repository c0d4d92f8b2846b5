package signin

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// Browser serves the endpoints a browser visits: sign-in links, the hop that binds a started
// sign-in to the browser, the ACS, and our SAML metadata.
type Browser struct {
	Flow *Flow
	// ClientIP returns the address to rate-limit a request by.
	ClientIP func(*http.Request) string
	// MaxACSBytes caps the body of a POST to the ACS.
	MaxACSBytes int64
}

// Register adds the browser endpoints to mux.
func (b *Browser) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /sso/start", b.startByEmail)
	mux.HandleFunc("GET /sso/c/{connection}", b.startByConnection)
	mux.HandleFunc("GET /sso/begin/{handle}", b.beginIntent)
	mux.HandleFunc("POST /saml/{connection}/acs", b.acs)
	mux.HandleFunc("/saml/{connection}/acs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		renderPage(w, http.StatusMethodNotAllowed, page{Title: "Sign-in failed",
			Message: "This address only receives sign-ins posted by your identity provider. Start signing in from iEchor again."})
	})
	mux.HandleFunc("GET /saml/{connection}/metadata", b.metadata)
}

// BindingCookieName is the cookie that binds a sign-in to the browser that started it.
func (b *Browser) BindingCookieName() string {
	if b.Flow.Policy.SecureCookies {
		return "__Host-iechor-sso-binding"
	}
	return "iechor-sso-binding"
}

// Binding returns the browser-binding value of a request, or "".
func (b *Browser) Binding(r *http.Request) string {
	c, err := r.Cookie(b.BindingCookieName())
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

// bind makes sure the browser carries a binding value and returns it. One value serves every
// sign-in of the browser, so that two tabs do not undo each other.
func (b *Browser) bind(w http.ResponseWriter, r *http.Request) string {
	v := b.Binding(r)
	if v == "" {
		v = opaque.Token(32)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     b.BindingCookieName(),
		Value:    v,
		Path:     "/",
		MaxAge:   int(b.Flow.Policy.IntentTTL.Seconds()) + 300,
		Secure:   b.Flow.Policy.SecureCookies,
		HttpOnly: true,
		// The IdP posts to the ACS from its own site: the cookie must travel on that cross-site POST.
		SameSite: http.SameSiteNoneMode,
	})
	return v
}

func (b *Browser) startByEmail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	b.startBrowser(w, r, q.Get("email"), q.Get("connection"))
}

// startByConnection is the bookmarkable link of one connection: no email, straight to its IdP.
// The assertion service refuses a draft connection here, as outside test mode.
func (b *Browser) startByConnection(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("connection")
	if !strings.HasPrefix(id, "conn_") || len(id) > 100 {
		renderError(w, r, ErrMissingConnectionID)
		return
	}
	q := r.URL.Query()
	returnTo := q.Get("return_to")
	if returnTo == "" {
		returnTo = b.Flow.Policy.DefaultReturnTo
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	limited := b.Flow.limit(r.Context(), "start-ip", b.ClientIP(r), b.Flow.Limits.StartPerIP)
	switch {
	case limited != nil:
		renderError(w, r, limited)
	case !b.Flow.Policy.returnToAllowed(returnTo):
		renderError(w, r, ErrReturnToNotAllowed)
	case method != "" && method != "S256":
		renderError(w, r, ErrChallengeMethod)
	case challenge != "" && !validChallenge(challenge):
		renderError(w, r, ErrInvalidChallenge)
	default:
		b.begin(w, r, intent{Connection: id, ReturnTo: returnTo, Challenge: challenge, Client: clientHub})
	}
}

// startBrowser starts a sign-in from a plain link: the browser is both the starter and the signer.
func (b *Browser) startBrowser(w http.ResponseWriter, r *http.Request, email, connection string) {
	q := r.URL.Query()
	returnTo := q.Get("return_to")
	if returnTo == "" {
		returnTo = b.Flow.Policy.DefaultReturnTo
	}
	res, err := b.Flow.start(r.Context(), startRequest{
		email: email, client: clientHub, returnTo: returnTo,
		challenge: q.Get("code_challenge"), challengeMethod: q.Get("code_challenge_method"),
		connection: connection, clientIP: b.ClientIP(r),
	})
	if err != nil {
		renderError(w, r, err)
		return
	}
	if res.connection == nil {
		p := page{Title: "Choose how to sign in", Message: "Your company has several sign-in options for this email."}
		for _, c := range res.choices {
			next := *r.URL
			nq := next.Query()
			nq.Set("connection", connectionID(c.GetName()))
			next.RawQuery = nq.Encode()
			p.Choices = append(p.Choices, choice{Name: c.GetDisplayName(), URL: next.RequestURI()})
		}
		renderPage(w, http.StatusOK, p)
		return
	}
	b.begin(w, r, res.intent)
}

func (b *Browser) beginIntent(w http.ResponseWriter, r *http.Request) {
	in, err := b.Flow.takeIntent(r.Context(), r.PathValue("handle"))
	if err != nil {
		renderError(w, r, err)
		return
	}
	b.begin(w, r, in)
}

// begin binds the browser and sends it to the IdP.
func (b *Browser) begin(w http.ResponseWriter, r *http.Request, in intent) {
	flowData, err := json.Marshal(in)
	if err != nil {
		renderError(w, r, err)
		return
	}
	binding := b.bind(w, r)
	resp, err := b.Flow.Assertion.BeginSamlLogin(r.Context(), &assertionv1.BeginSamlLoginRequest{
		Connection: in.Connection, BrowserBinding: binding, FlowData: flowData, TestMode: in.TestMode,
	})
	if err != nil {
		renderError(w, r, err)
		return
	}
	http.Redirect(w, r, resp.GetRedirectUrl(), http.StatusFound)
}

// acs receives the IdP's POST. Exactly the two fields of the HTTP-POST binding are accepted.
func (b *Browser) acs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.URL.RawQuery != "" {
		renderError(w, r, errBadACS)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		renderError(w, r, errBadACS)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, b.MaxACSBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, r, errBadACS)
		return
	}
	form := r.PostForm
	for k, v := range form {
		if (k != "SAMLResponse" && k != "RelayState") || len(v) != 1 {
			renderError(w, r, errBadACS)
			return
		}
	}
	samlResponse, relayState := form.Get("SAMLResponse"), form.Get("RelayState")
	if samlResponse == "" {
		renderError(w, r, errBadACS)
		return
	}
	done, err := b.Flow.complete(ctx, r.PathValue("connection"), samlResponse, relayState, b.Binding(r), b.ClientIP(r))
	if err != nil {
		b.Flow.Log.InfoContext(ctx, "sign-in refused", "connection", r.PathValue("connection"), "reason", rpcerror.Reason(err))
		renderError(w, r, err)
		return
	}
	http.Redirect(w, r, done.redirect, http.StatusFound)
}

var errBadACS = rpcerror.New(codes.InvalidArgument, "BAD_ACS_REQUEST",
	"This address only receives sign-ins posted by your identity provider.")

func (b *Browser) metadata(w http.ResponseWriter, r *http.Request) {
	resp, err := b.Flow.Connections.GetServiceProviderMetadata(r.Context(), &connectionv1.GetServiceProviderMetadataRequest{
		ConnectionId: r.PathValue("connection"),
	})
	if err != nil {
		code, _, _ := rpcerror.Info(err)
		switch code {
		case codes.NotFound, codes.InvalidArgument:
			http.Error(w, "no such connection", http.StatusNotFound)
		default:
			http.Error(w, "metadata unavailable", http.StatusServiceUnavailable)
		}
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write([]byte(resp.GetMetadataXml()))
}
