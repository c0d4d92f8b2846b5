package signin

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

	stops shutdownWatch
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

// acs receives the IdP's POST. Exactly the two fields of the HTTP-POST binding are accepted. Every
// other post is refused with its own reason and status, recorded in the sign-in log of the
// connection the path names, and spends the relay state it names when its browser is the one that
// started that sign-in — as any failed post does (the assertion service decides both).
func (b *Browser) acs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	stopping := b.stops.watch(r)
	// A flood from one address is turned away before its body is read or anything is recorded;
	// its relay state stays, so that the person can sign in once the window has passed.
	if err := b.Flow.limit(ctx, "acs-ip", b.ClientIP(r), b.Flow.Limits.ACSPerIP); err != nil {
		renderError(w, r, err)
		return
	}
	connectionID, binding := r.PathValue("connection"), b.Binding(r)
	form, refusal := b.readPost(r)
	if refusal != nil {
		b.refuse(w, r, connectionID, form.relayState, binding, refusal)
		return
	}
	done, err := b.Flow.complete(ctx, acsPost{connectionID: connectionID, samlResponse: form.samlResponse,
		relayState: form.relayState, binding: binding, stopping: stopping})
	if err != nil {
		b.Flow.Log.InfoContext(ctx, "sign-in refused", "connection", connectionID, "reason", rpcerror.Reason(err))
		renderError(w, r, err)
		return
	}
	http.Redirect(w, r, done.redirect, http.StatusFound)
}

// acsRefusal is a post the ACS refuses before validation: what the browser is told, and what the
// connection's sign-in log says.
type acsRefusal struct {
	err                *rpcerror.Error
	check, wanted, got string
}

const onlyFromIdP = "This address only receives sign-ins posted by your identity provider."

// The refusals of the ACS's own checks, in the order they are checked. BODY_TOO_LARGE is 413 and
// ACS_UNSUPPORTED_MEDIA_TYPE 415 (see statusOfReason); the others are 400.
var (
	errACSMediaType   = rpcerror.New(codes.InvalidArgument, "ACS_UNSUPPORTED_MEDIA_TYPE", onlyFromIdP)
	errACSUnreadable  = rpcerror.New(codes.InvalidArgument, "ACS_BODY_UNREADABLE", "The sign-in could not be received whole. Try signing in again.")
	errACSTooLarge    = rpcerror.New(codes.InvalidArgument, "BODY_TOO_LARGE", "The identity provider's answer is too large to be received.")
	errACSQuery       = rpcerror.New(codes.InvalidArgument, "ACS_QUERY_STRING", onlyFromIdP)
	errACSMalformed   = rpcerror.New(codes.InvalidArgument, "ACS_MALFORMED_FORM", onlyFromIdP)
	errACSUnknown     = rpcerror.New(codes.InvalidArgument, "ACS_UNKNOWN_FIELD", onlyFromIdP)
	errACSDuplicate   = rpcerror.New(codes.InvalidArgument, "ACS_DUPLICATE_FIELD", onlyFromIdP)
	errACSNoSAMLField = rpcerror.New(codes.InvalidArgument, "ACS_MISSING_SAML_RESPONSE", onlyFromIdP)
)

const formFields = "SAMLResponse and RelayState, once each"

// readPost reads the post and returns its form, or the first of the ACS's own checks that it fails.
func (b *Browser) readPost(r *http.Request) (acsForm, *acsRefusal) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return acsForm{}, &acsRefusal{errACSMediaType, "Content-Type of the post", "application/x-www-form-urlencoded",
			bounded(describe(r.Header.Get("Content-Type")))}
	}
	form, err := readACSForm(r.Body, b.MaxACSBytes)
	capWords := "at most " + strconv.FormatInt(b.MaxACSBytes, 10) + " bytes"
	switch {
	case err != nil && !form.over:
		return form, &acsRefusal{errACSUnreadable, "body of the post", "the whole body",
			strconv.FormatInt(form.size, 10) + " bytes, then the connection failed"}
	case form.over:
		got := strconv.FormatInt(form.size, 10) + " bytes"
		if form.truncated || err != nil {
			got = "more than " + got
		}
		return form, &acsRefusal{errACSTooLarge, "size of the posted form", capWords, got}
	case r.URL.RawQuery != "":
		return form, &acsRefusal{errACSQuery, "address of the post", "no query string",
			"a query string of " + strconv.Itoa(len(r.URL.RawQuery)) + " bytes"}
	case form.malformed:
		return form, &acsRefusal{errACSMalformed, "encoding of the posted form", "URL-encoded fields separated by &", "a field that is not"}
	case form.hasUnknown:
		return form, &acsRefusal{errACSUnknown, "fields of the posted form", formFields, bounded("a field named " + describe(form.unknown))}
	case form.duplicate != "":
		return form, &acsRefusal{errACSDuplicate, "fields of the posted form", formFields, describe(form.duplicate) + " more than once"}
	case form.samlResponse == "":
		return form, &acsRefusal{errACSNoSAMLField, "fields of the posted form", "a SAMLResponse", "none"}
	}
	return form, nil
}

// refuse records a refused post in the connection's sign-in log, spending the relay state it names
// when the assertion service finds that this browser started it, and answers the refusal's page.
func (b *Browser) refuse(w http.ResponseWriter, r *http.Request, connectionID, relayState, binding string, ref *acsRefusal) {
	ctx := r.Context()
	out := ref.err
	if !plausibleConnectionID(connectionID) {
		// No connection has such an id: there is no log to write to and no relay state to spend.
		b.Flow.Log.InfoContext(ctx, "ACS post refused", "reason", ref.err.Reason, "check", ref.check, "got", ref.got)
		renderError(w, r, out)
		return
	}
	// Recorded even when the browser has gone away, which is one of the refusals.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	rec, err := b.Flow.Assertion.RecordRefusedSamlPost(rctx, &assertionv1.RecordRefusedSamlPostRequest{
		ConnectionId: connectionID, RelayState: relayState, BrowserBinding: binding, Reason: ref.err.Reason,
		Check: ref.check, Wanted: ref.wanted, Got: ref.got, FixBy: assertionv1.FixBy_FIX_BY_IDP_ADMIN,
	})
	switch code, _, _ := rpcerror.Info(err); {
	case err == nil && rec.GetTestMode():
		// An admin's test sign-in: the page shows the check, as for a failed validation.
		out = out.With("test_mode", "true").With("check", ref.check).With("wanted", ref.wanted).With("got", ref.got)
	case err == nil, code == codes.NotFound:
		// Recorded; or the path names no connection, whose log there is not.
	default:
		b.Flow.Log.WarnContext(ctx, "a refused ACS post could not be recorded", "connection", connectionID,
			"reason", ref.err.Reason, "err", err)
	}
	b.Flow.Log.InfoContext(ctx, "ACS post refused", "connection", connectionID, "reason", ref.err.Reason,
		"check", ref.check, "got", ref.got, "relay_state_consumed", rec.GetRelayStateConsumed())
	renderError(w, r, out)
}

// plausibleConnectionID accepts what a connection id can be: conn_ and URL-safe characters.
func plausibleConnectionID(id string) bool {
	rest, ok := strings.CutPrefix(id, "conn_")
	if !ok || rest == "" || len(id) > 100 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// shutdownWatch learns when an HTTP server that serves the ACS begins to shut down, so that a
// sign-in cut short then is recorded as such rather than as a browser that went away. A server's
// shutdown hooks can only be added before its shutdown begins, so each request adds its server's
// on arrival (once per server).
type shutdownWatch struct {
	mu      sync.Mutex
	servers map[*http.Server]*atomic.Bool
}

// watch returns whether the server that received r has begun to shut down, now or later.
func (s *shutdownWatch) watch(r *http.Request) func() bool {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return func() bool { return false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	flag, ok := s.servers[srv]
	if !ok {
		if s.servers == nil {
			s.servers = map[*http.Server]*atomic.Bool{}
		}
		flag = new(atomic.Bool)
		s.servers[srv] = flag
		srv.RegisterOnShutdown(func() { flag.Store(true) })
	}
	return flag.Load
}

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
