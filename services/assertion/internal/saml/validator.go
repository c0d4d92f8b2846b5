package saml

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/assertion/internal/samlsig"
	"github.com/iechor/sso/services/assertion/internal/xmlenc"
	"github.com/iechor/sso/services/assertion/internal/xmlgate"
)

// SAML namespaces and values.
const (
	protocolNS  = "urn:oasis:names:tc:SAML:2.0:protocol"
	assertionNS = "urn:oasis:names:tc:SAML:2.0:assertion"
	statusOK    = "urn:oasis:names:tc:SAML:2.0:status:Success"
	bearer      = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	// entityFormat is the only Format an Issuer may name, and its default (SAML core 2.2.5).
	entityFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
)

// RelayStates consumes relay states for the browser they were issued to; relaystate.Store is one.
type RelayStates interface {
	Consume(ctx context.Context, handle, binding string) (relaystate.State, error)
}

// ReplayCache records accepted assertions; replay.Cache is one.
type ReplayCache interface {
	Remember(ctx context.Context, issuer, assertionID string, until, now time.Time) error
}

// Validator validates SAML responses.
type Validator struct {
	Relay  RelayStates
	Replay ReplayCache
	// Now is the clock; tests pin it.
	Now func() time.Time
	// Limits are the XML gate's; zero means xmlgate.Default.
	Limits xmlgate.Limits
}

// Input is one posted response.
type Input struct {
	Connection     *Connection
	SAMLResponse   string
	RelayState     string
	BrowserBinding string
}

// Outcome is what is known at the end of a validation, successful or not.
type Outcome struct {
	// Identity is set on success only.
	Identity *Identity
	// FlowData and TestMode come from the relay state, once consumed.
	FlowData []byte
	TestMode bool
	// Verified reports that a signature had been verified when validation ended. Subject and Email
	// are set only then: an unverified message names nobody.
	Verified       bool
	Subject, Email string
}

// Validate runs every rule on in. A failed check is a *failure.Error; an unreachable ephemeral store
// is its error (ephemeral.ErrUnavailable), on which callers fail closed.
func (v *Validator) Validate(ctx context.Context, in Input) (Outcome, error) {
	var out Outcome
	id, err := v.validate(ctx, in, &out)
	if err != nil {
		if !out.Verified {
			out.Subject, out.Email = "", ""
		}
		return out, err
	}
	out.Identity = id
	return out, nil
}

func (v *Validator) limits() xmlgate.Limits {
	if v.Limits == (xmlgate.Limits{}) {
		return xmlgate.Default
	}
	return v.Limits
}

func unsolicited(conn *Connection) error {
	name := conn.DisplayName
	if name == "" {
		name = conn.Name
	}
	return failure.New(failure.UnsolicitedResponse, failure.IdPAdmin, "InResponseTo and RelayState",
		"a response to a sign-in started at iEchor", "an IdP-initiated response").
		WithMessage("IdP-Initiated sign in is not enabled for connection '%s'.", name)
}

// peekUnsolicited reports whether a response without a usable relay state carries no InResponseTo:
// an IdP-initiated response, which deserves its own answer. It only chooses between two refusals.
func (v *Validator) peekUnsolicited(samlResponse string) bool {
	raw, err := xmlgate.DecodeBase64(samlResponse, v.limits())
	if err != nil {
		return false
	}
	doc, err := xmlgate.Parse(raw, v.limits())
	if err != nil {
		return false
	}
	root := doc.Root()
	return is(root, protocolNS, "Response") && xmlgate.Attr(root, "InResponseTo") == nil
}

func (v *Validator) validate(ctx context.Context, in Input, out *Outcome) (*Identity, error) {
	conn := in.Connection
	now := v.Now()

	// Rule 2: the relay state, consumed before anything is accepted — by the browser that started
	// the sign-in only: a post from another browser leaves it for that browser.
	if in.RelayState == "" {
		if v.peekUnsolicited(in.SAMLResponse) {
			return nil, unsolicited(conn)
		}
		return nil, failure.New(failure.RelayStateUnknown, failure.User, "RelayState", "the relay state of a sign-in started at iEchor", "none")
	}
	st, err := v.Relay.Consume(ctx, in.RelayState, in.BrowserBinding)
	switch {
	case errors.Is(err, relaystate.ErrUnknown):
		if v.peekUnsolicited(in.SAMLResponse) {
			return nil, unsolicited(conn)
		}
		return nil, failure.New(failure.RelayStateUnknown, failure.User, "RelayState",
			"a relay state issued in the last 10 minutes and not used yet", "an unknown, expired or used relay state")
	case errors.Is(err, relaystate.ErrBrowserMismatch):
		out.TestMode = st.TestMode
		return nil, failure.New(failure.BrowserMismatch, failure.User, "browser that posted the response",
			"the browser that started the sign-in", "another browser")
	case err != nil:
		return nil, err
	}
	out.FlowData, out.TestMode = st.FlowData, st.TestMode
	if st.Connection != conn.Name {
		return nil, failure.New(failure.WrongConnection, failure.User, "connection of the relay state", st.Connection, conn.Name)
	}
	if !conn.Active && !st.TestMode {
		return nil, failure.New(failure.ConnectionInactive, failure.IEchor, "state of the connection", "active, or a test sign-in", "draft")
	}

	if conn.IdPEntityID == "" {
		return nil, failure.New(failure.BadIssuer, failure.IEchor, "IdP entity id of the connection", "the IdP's entity id", "none configured")
	}

	// Rule 1: the XML gate.
	raw, err := xmlgate.DecodeBase64(in.SAMLResponse, v.limits())
	if err != nil {
		return nil, err
	}
	doc, err := xmlgate.Parse(raw, v.limits())
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	if !is(root, protocolNS, "Response") {
		return nil, failure.New(failure.MalformedXML, failure.IdPAdmin, "root element", "samlp:Response", root.FullTag())
	}
	if err := checkStructure(root, true); err != nil {
		return nil, err
	}
	if err := responseContent.check(root); err != nil {
		return nil, err
	}
	if a := firstChild(root, assertionNS, "Assertion"); a != nil {
		if err := assertionContent.check(a); err != nil {
			return nil, err
		}
	}
	policy := samlsig.Policy{Certificates: conn.IdPCertificates, AllowSHA1: conn.AllowSHA1, Now: now}

	// Rule 3 for the Response: when it is signed, everything below is read from what it covers.
	resp, respSigned := root, false
	if sig, err := samlsig.SignatureOf(root); err != nil {
		return nil, err
	} else if sig != nil {
		if resp, err = samlsig.Verify(root, policy); err != nil {
			return nil, err
		}
		respSigned, out.Verified = true, true
	}

	// Rule 5 for the Response.
	if ver := xmlgate.AttrValue(resp, "Version"); ver != "2.0" {
		return nil, failure.New(failure.BadVersion, failure.IdPAdmin, "Version of the Response", "2.0", ver)
	}
	if xmlgate.AttrValue(resp, "ID") == "" {
		return nil, failure.New(failure.MalformedXML, failure.IdPAdmin, "ID of the Response", "an ID", "none")
	}
	if err := checkStatus(resp); err != nil {
		return nil, err
	}
	// The Web Browser SSO profile (4.1.4.2) requires the Issuer of a signed Response, and of one that
	// carries an encrypted assertion: checked here, before anything is decrypted.
	encrypted := firstChild(resp, assertionNS, "EncryptedAssertion") != nil
	if err := checkIssuer(resp, "the Response", conn.IdPEntityID, respSigned || encrypted); err != nil {
		return nil, err
	}
	// SAML bindings 3.5.5.2 requires a Destination of a signed Response only; every IdP we target
	// sends it on every Response, and a Response that does not say where it was sent is not ours.
	if d := xmlgate.Attr(resp, "Destination"); d == nil || d.Value != conn.ACSURL {
		got := "none"
		if d != nil {
			got = d.Value
		}
		return nil, failure.New(failure.BadDestination, failure.IdPAdmin, "Destination of the Response", conn.ACSURL, got)
	}
	// A Response without InResponseTo is unsolicited, or breaks SAML core 3.2.2: which of the two is
	// known once the assertion's confirmation has been read.
	respIRT := xmlgate.AttrValue(resp, "InResponseTo")
	if respIRT != "" && respIRT != st.RequestID {
		return nil, failure.New(failure.InResponseToMismatch, failure.User, "InResponseTo of the Response", st.RequestID, respIRT)
	}
	if err := checkIssueInstant(resp, "the Response", st.Created, now, conn.ClockSkew); err != nil {
		return nil, err
	}

	// Rule 4: exactly one assertion, a direct child of the Response (checkStructure counted them).
	assertionEl := firstChild(resp, assertionNS, "Assertion")
	if enc := firstChild(resp, assertionNS, "EncryptedAssertion"); enc != nil {
		// Rule 7: decrypted, then checked like any other XML.
		plain, err := xmlenc.Decrypt(enc, xmlenc.Options{Keys: conn.DecryptionKeys, AllowCBC: respSigned})
		if err != nil {
			return nil, err
		}
		adoc, err := xmlgate.ParseIn(plain, v.limits(), inScope(enc))
		if err != nil {
			return nil, err
		}
		assertionEl = adoc.Root()
		if !is(assertionEl, assertionNS, "Assertion") {
			return nil, failure.New(failure.NoAssertion, failure.IdPAdmin, "content of the EncryptedAssertion", "saml:Assertion", assertionEl.FullTag())
		}
		if err := checkStructure(assertionEl, false); err != nil {
			return nil, err
		}
		if err := assertionContent.check(assertionEl); err != nil {
			return nil, err
		}
	}
	if assertionEl == nil {
		return nil, failure.New(failure.NoAssertion, failure.IdPAdmin, "assertion of the Response", "one saml:Assertion", "none")
	}

	// Rule 3 for the Assertion: its own signature, or the verified Response's.
	assertion := assertionEl
	if sig, err := samlsig.SignatureOf(assertionEl); err != nil {
		return nil, err
	} else if sig != nil {
		if assertion, err = samlsig.Verify(assertionEl, policy); err != nil {
			return nil, err
		}
	} else if !respSigned {
		return nil, failure.New(failure.BadSignature, failure.IdPAdmin, "signature of the Response or the Assertion", "a signature", "none")
	}
	out.Verified = true
	// For the admin's log, before any later check can fail: who the verified assertion names.
	out.Subject, out.Email = namedBy(assertion, conn)

	// Rule 5 for the Assertion, read from the verified element only.
	id, until, scdIRT, err := checkAssertion(assertion, conn, st.Created, now)
	if err != nil {
		return nil, err
	}
	if respIRT == "" && scdIRT == "" {
		return nil, unsolicited(conn)
	}
	if respIRT == "" {
		// SAML core 3.2.2: a Response to a request carries the request's ID.
		return nil, failure.New(failure.InResponseToMismatch, failure.IdPAdmin, "InResponseTo of the Response",
			st.RequestID+" (the AuthnRequest this Response answers)", "none")
	}
	if scdIRT != st.RequestID {
		return nil, failure.New(failure.InResponseToMismatch, failure.User, "InResponseTo of the SubjectConfirmationData", st.RequestID, scdIRT)
	}

	// Rule 8.
	if err := mapAttributes(id, assertion, conn); err != nil {
		return nil, err
	}

	// Rule 6, last: nothing is accepted without it.
	if err := v.Replay.Remember(ctx, id.Issuer, id.AssertionID, until.Add(conn.ClockSkew), now); errors.Is(err, replay.ErrReplayed) {
		return nil, failure.New(failure.AssertionReplayed, failure.User, "use of the assertion", "first use", "assertion "+id.AssertionID+" was used before")
	} else if err != nil {
		return nil, err
	}
	return id, nil
}

func is(el *etree.Element, ns, tag string) bool {
	return el != nil && el.Tag == tag && el.NamespaceURI() == ns
}

func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, tag) {
			out = append(out, c)
		}
	}
	return out
}

func firstChild(el *etree.Element, ns, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if is(c, ns, tag) {
			return c
		}
	}
	return nil
}

// inScope returns the namespace declarations in scope at el, nearest first.
func inScope(el *etree.Element) map[string]string {
	m := map[string]string{}
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			switch {
			case a.Space == "xmlns":
				if _, ok := m[a.Key]; !ok {
					m[a.Key] = a.Value
				}
			case a.Space == "" && a.Key == "xmlns":
				if _, ok := m[""]; !ok {
					m[""] = a.Value
				}
			}
		}
	}
	return m
}

// checkStructure walks the whole document once: every ID is unique; there is exactly one Assertion
// or EncryptedAssertion and it is a direct child of the Response (when isResponse), or the root is
// the only Assertion (a decrypted assertion); ds:Signature appears only as a direct child of the
// Response or of that Assertion (where among their children is the content models' check).
// Wrapped, smuggled or duplicated assertions fail here, before any signature is verified.
func checkStructure(root *etree.Element, isResponse bool) error {
	ids := map[string]bool{}
	var assertions, outOfPlace int
	duplicate := ""
	var misplaced *etree.Element
	stack := []*etree.Element{root}
	for len(stack) > 0 {
		el := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a := xmlgate.Attr(el, "ID"); a != nil {
			if ids[a.Value] && duplicate == "" {
				duplicate = a.Value
			}
			ids[a.Value] = true
		}
		parent := el.Parent()
		switch {
		case is(el, assertionNS, "Assertion") || is(el, assertionNS, "EncryptedAssertion"):
			assertions++
			if (isResponse && parent != root) || (!isResponse && el != root) {
				outOfPlace++
			}
		case samlsig.IsDS(el, "Signature"):
			placed := parent == root || (isResponse && is(parent, assertionNS, "Assertion") && parent.Parent() == root)
			if !placed && misplaced == nil {
				misplaced = parent
			}
		}
		for _, c := range el.Child {
			if ce, ok := c.(*etree.Element); ok {
				stack = append(stack, ce)
			}
		}
	}
	switch {
	case assertions > 1:
		return failure.New(failure.MultipleAssertions, failure.IdPAdmin, "assertions in the Response", "exactly one", strconv.Itoa(assertions))
	case outOfPlace > 0:
		return failure.New(failure.NoAssertion, failure.IdPAdmin, "place of the assertion", "a direct child of the Response", "nested deeper")
	case duplicate != "":
		return failure.New(failure.DuplicateID, failure.IdPAdmin, "IDs of the document", "each ID once", duplicate+" twice")
	case misplaced != nil:
		return failure.New(failure.BadSignature, failure.IdPAdmin, "place of a ds:Signature",
			"right after the saml:Issuer of the Response or of its Assertion", "inside "+describe(misplaced))
	}
	return nil
}

func checkStatus(resp *etree.Element) error {
	status := firstChild(resp, protocolNS, "Status")
	var code *etree.Element
	if status != nil {
		code = firstChild(status, protocolNS, "StatusCode")
	}
	value := ""
	if code != nil {
		value = xmlgate.AttrValue(code, "Value")
	}
	if value == statusOK {
		return nil
	}
	got := value
	if code != nil {
		if sub := firstChild(code, protocolNS, "StatusCode"); sub != nil {
			got += " / " + xmlgate.AttrValue(sub, "Value")
		}
	}
	if status != nil {
		if msg := firstChild(status, protocolNS, "StatusMessage"); msg != nil {
			got += ": " + strings.TrimSpace(msg.Text())
		}
	}
	if got == "" {
		got = "none"
	}
	return failure.New(failure.IdPErrorStatus, failure.IdPAdmin, "Status of the Response", statusOK, got)
}

// parseTime reads an xs:dateTime attribute of el; missing is the zero time.
func parseTime(el *etree.Element, attr, what string) (time.Time, error) {
	a := xmlgate.Attr(el, attr)
	if a == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(a.Value))
	if err != nil {
		return time.Time{}, failure.New(failure.MalformedXML, failure.IdPAdmin, attr+" of "+what, "an xs:dateTime such as 2026-01-02T15:04:05Z", a.Value)
	}
	return t, nil
}

// simpleText returns the text of an element whose schema type is a string (NameID, Issuer,
// Audience). An element inside it is refused rather than skipped: etree's Text would return only the
// text before it, and `<Audience>ours<x/>evil</Audience>` is not an audience of ours.
func simpleText(el *etree.Element, what string) (string, error) {
	if inner := el.ChildElements(); len(inner) > 0 {
		return "", failure.New(failure.MalformedXML, failure.IdPAdmin, "content of the "+what, "text only", describe(inner[0])+" inside it")
	}
	return strings.TrimSpace(el.Text()), nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkIssueInstant holds the IssueInstant of el (the Response or the Assertion, named by what) to
// the sign-in it answers: present, not after now + skew, not before the AuthnRequest less the skew
// (requested, the relay state's Created), and not older than a relay state lives, plus the skew. A
// message issued before we asked for it answers another request, or comes from an IdP whose clock
// is wrong.
func checkIssueInstant(el *etree.Element, what string, requested, now time.Time, skew time.Duration) error {
	check := "IssueInstant of " + what
	issued, err := parseTime(el, "IssueInstant", what)
	switch {
	case err != nil:
		return err
	case issued.IsZero():
		return failure.New(failure.MalformedXML, failure.IdPAdmin, check, "an xs:dateTime such as 2026-01-02T15:04:05Z", "none")
	case now.Add(skew).Before(issued):
		return failure.New(failure.NotYetValid, failure.IdPAdmin, check, "at or before "+stamp(now.Add(skew)), stamp(issued))
	case issued.Before(requested.Add(-skew)):
		return failure.New(failure.Expired, failure.IdPAdmin, check,
			"at or after "+stamp(requested.Add(-skew))+" (the AuthnRequest's time less the clock skew)", stamp(issued))
	case issued.Before(now.Add(-relaystate.TTL - skew)):
		return failure.New(failure.Expired, failure.User, check,
			"at or after "+stamp(now.Add(-relaystate.TTL-skew))+" (a sign-in's lifetime plus the clock skew ago)", stamp(issued))
	}
	return nil
}

// checkAssertion checks the signed assertion (rule 5) against the sign-in whose AuthnRequest was made
// at requested, and returns its identity without attributes, the time until which it must be
// remembered, and the InResponseTo of its bearer confirmation.
func checkAssertion(a *etree.Element, conn *Connection, requested, now time.Time) (*Identity, time.Time, string, error) {
	var zero time.Time
	skew := conn.ClockSkew
	if ver := xmlgate.AttrValue(a, "Version"); ver != "2.0" {
		return nil, zero, "", failure.New(failure.BadVersion, failure.IdPAdmin, "Version of the Assertion", "2.0", ver)
	}
	id := &Identity{AssertionID: xmlgate.AttrValue(a, "ID")}
	if id.AssertionID == "" {
		return nil, zero, "", failure.New(failure.MalformedXML, failure.IdPAdmin, "ID of the Assertion", "an ID", "none")
	}
	if err := checkIssuer(a, "the Assertion", conn.IdPEntityID, true); err != nil {
		return nil, zero, "", err
	}
	id.Issuer = conn.IdPEntityID
	if err := checkIssueInstant(a, "the Assertion", requested, now, skew); err != nil {
		return nil, zero, "", err
	}

	subject := firstChild(a, assertionNS, "Subject")
	if subject == nil {
		return nil, zero, "", failure.New(failure.BadSubjectConfirm, failure.IdPAdmin, "Subject of the Assertion", "a saml:Subject", "none")
	}
	if n := firstChild(subject, assertionNS, "NameID"); n != nil {
		var err error
		if id.Subject, err = simpleText(n, "NameID"); err != nil {
			return nil, zero, "", err
		}
		id.NameIDFormat = xmlgate.AttrValue(n, "Format")
	}
	scdUntil, scdIRT, err := checkConfirmation(subject, conn, now)
	if err != nil {
		return nil, zero, "", err
	}

	cond := firstChild(a, assertionNS, "Conditions")
	if cond == nil {
		return nil, zero, "", failure.New(failure.BadAudience, failure.IdPAdmin, "Conditions of the Assertion", "an AudienceRestriction naming "+conn.SPEntityID, "no Conditions")
	}
	if err := checkConditionsUnderstood(cond); err != nil {
		return nil, zero, "", err
	}
	notBefore, err := parseTime(cond, "NotBefore", "the Conditions")
	if err != nil {
		return nil, zero, "", err
	}
	notOnOrAfter, err := parseTime(cond, "NotOnOrAfter", "the Conditions")
	if err != nil {
		return nil, zero, "", err
	}
	if !notBefore.IsZero() && now.Add(skew).Before(notBefore) {
		return nil, zero, "", failure.New(failure.NotYetValid, failure.IdPAdmin, "NotBefore of the Conditions", "at or before "+stamp(now.Add(skew)), stamp(notBefore))
	}
	if !notOnOrAfter.IsZero() && !now.Add(-skew).Before(notOnOrAfter) {
		return nil, zero, "", failure.New(failure.Expired, failure.User, "NotOnOrAfter of the Conditions", "after "+stamp(now.Add(-skew)), stamp(notOnOrAfter))
	}
	// SAML core 2.5.1.2: NotBefore is earlier than NotOnOrAfter. A window that closes before it opens
	// is no window at all, although the skew on both ends can let it pass the checks above.
	if !notBefore.IsZero() && !notOnOrAfter.IsZero() && !notBefore.Before(notOnOrAfter) {
		return nil, zero, "", failure.New(failure.MalformedXML, failure.IdPAdmin, "NotBefore and NotOnOrAfter of the Conditions",
			"NotBefore earlier than NotOnOrAfter", "NotBefore "+stamp(notBefore)+", NotOnOrAfter "+stamp(notOnOrAfter))
	}
	restrictions := children(cond, assertionNS, "AudienceRestriction")
	if len(restrictions) == 0 {
		return nil, zero, "", failure.New(failure.BadAudience, failure.IdPAdmin, "AudienceRestriction of the Assertion", conn.SPEntityID, "none")
	}
	// Each AudienceRestriction must be met on its own (SAML core 2.5.1.4), and holds Audience
	// elements only, at least one, as its schema says.
	for _, r := range restrictions {
		var audiences []string
		ok := false
		for _, au := range r.ChildElements() {
			if !is(au, assertionNS, "Audience") {
				return nil, zero, "", failure.New(failure.MalformedXML, failure.IdPAdmin, "children of an AudienceRestriction",
					"saml:Audience elements only, at least one", describe(au))
			}
			v, err := simpleText(au, "Audience")
			if err != nil {
				return nil, zero, "", err
			}
			audiences = append(audiences, v)
			ok = ok || v == conn.SPEntityID
		}
		if !ok {
			got := strings.Join(audiences, ", ")
			if got == "" {
				got = "none"
			}
			return nil, zero, "", failure.New(failure.BadAudience, failure.IdPAdmin, "Audience of the Assertion", conn.SPEntityID, got)
		}
	}

	// The Web Browser SSO profile (4.1.4.2): the bearer assertion says how the IdP authenticated the
	// person. An assertion of attributes alone is no sign-in.
	authn := firstChild(a, assertionNS, "AuthnStatement")
	if authn == nil {
		return nil, zero, "", failure.New(failure.NoAuthnStatement, failure.IdPAdmin, "AuthnStatement of the Assertion",
			"a saml:AuthnStatement (the Web Browser SSO profile requires one)", "none")
	}
	id.SessionIndex = xmlgate.AttrValue(authn, "SessionIndex")
	if id.AuthnInstant, err = parseTime(authn, "AuthnInstant", "the AuthnStatement"); err != nil {
		return nil, zero, "", err
	}
	if id.AuthnInstant.IsZero() {
		return nil, zero, "", failure.New(failure.MalformedXML, failure.IdPAdmin, "AuthnInstant of the AuthnStatement", "an xs:dateTime such as 2026-01-02T15:04:05Z", "none")
	}
	sessionEnd, err := parseTime(authn, "SessionNotOnOrAfter", "the AuthnStatement")
	if err != nil {
		return nil, zero, "", err
	}
	if !sessionEnd.IsZero() && !now.Add(-skew).Before(sessionEnd) {
		return nil, zero, "", failure.New(failure.Expired, failure.User, "SessionNotOnOrAfter of the AuthnStatement", "after "+stamp(now.Add(-skew)), stamp(sessionEnd))
	}
	until := scdUntil
	if notOnOrAfter.After(until) {
		until = notOnOrAfter
	}
	return id, until, scdIRT, nil
}

// xsiNS is the XML Schema instance namespace, of xsi:type.
const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

// checkConditionsUnderstood refuses a condition other than the three we understand, and a second
// OneTimeUse or ProxyRestriction, which SAML core 2.5.1 forbids. An AudienceRestriction is checked by
// checkAssertion; OneTimeUse asks for what the replay cache does to every assertion;
// ProxyRestriction limits the assertions that a relying party issues on the strength of this one,
// and we issue none. Anything else (a saml:Condition, whose meaning is its xsi:type, or an element
// of another namespace) cannot be evaluated, and SAML core 2.5.1 makes an assertion with a condition
// that cannot be evaluated Indeterminate: not valid.
func checkConditionsUnderstood(cond *etree.Element) error {
	seen := map[string]bool{}
	for _, c := range cond.ChildElements() {
		if c.NamespaceURI() == assertionNS {
			switch c.Tag {
			case "AudienceRestriction":
				continue
			case "OneTimeUse", "ProxyRestriction":
				if seen[c.Tag] {
					return failure.New(failure.MalformedXML, failure.IdPAdmin, "Conditions of the Assertion",
						"at most one saml:"+c.Tag, "a second saml:"+c.Tag)
				}
				seen[c.Tag] = true
				continue
			}
		}
		got := describe(c)
		for _, a := range c.Attr {
			if a.Key == "type" && a.NamespaceURI() == xsiNS {
				got += " of xsi:type " + a.Value
			}
		}
		return failure.New(failure.UnknownCondition, failure.IdPAdmin, "Conditions of the Assertion",
			"saml:AudienceRestriction, saml:OneTimeUse and saml:ProxyRestriction only", got)
	}
	return nil
}

// checkIssuer holds the Issuer of el (the Response or the Assertion, named by what) to the Web
// Browser SSO profile (4.1.4.2): present when required, the IdP's entity id, and of the entity
// Format, the only one an identity provider has, when it names a Format at all.
func checkIssuer(el *etree.Element, what, entityID string, required bool) error {
	iss := firstChild(el, assertionNS, "Issuer")
	if iss == nil {
		if !required {
			return nil
		}
		return failure.New(failure.BadIssuer, failure.IdPAdmin, "Issuer of "+what, entityID, "none")
	}
	v, err := simpleText(iss, "Issuer of "+what)
	if err != nil {
		return err
	}
	if v != entityID {
		return failure.New(failure.BadIssuer, failure.IdPAdmin, "Issuer of "+what, entityID, v)
	}
	if f := xmlgate.Attr(iss, "Format"); f != nil && f.Value != entityFormat {
		return failure.New(failure.BadIssuer, failure.IdPAdmin, "Format of the Issuer of "+what, "none, or "+entityFormat, f.Value)
	}
	return nil
}

// checkConfirmation finds a bearer SubjectConfirmation whose data names our ACS URL and is valid
// now. It returns its NotOnOrAfter and InResponseTo, or the failure of the first bearer
// confirmation when none passes.
func checkConfirmation(subject *etree.Element, conn *Connection, now time.Time) (time.Time, string, error) {
	skew := conn.ClockSkew
	confirmations := children(subject, assertionNS, "SubjectConfirmation")
	// The Web Browser SSO profile (4.1.4.2) forbids a NotBefore on a bearer confirmation: the IdP
	// that sends one is misconfigured, whichever confirmation would have been used.
	for _, sc := range confirmations {
		if xmlgate.AttrValue(sc, "Method") != bearer {
			continue
		}
		if data := firstChild(sc, assertionNS, "SubjectConfirmationData"); data != nil {
			if nb := xmlgate.Attr(data, "NotBefore"); nb != nil {
				return time.Time{}, "", failure.New(failure.BadSubjectConfirm, failure.IdPAdmin, "NotBefore of the bearer SubjectConfirmationData",
					"none (the Web Browser SSO profile forbids it)", nb.Value)
			}
		}
	}
	var firstErr error
	var methods []string
	for _, sc := range confirmations {
		method := xmlgate.AttrValue(sc, "Method")
		methods = append(methods, method)
		if method != bearer {
			continue
		}
		until, irt, err := func() (time.Time, string, error) {
			data := firstChild(sc, assertionNS, "SubjectConfirmationData")
			if data == nil {
				return time.Time{}, "", failure.New(failure.BadRecipient, failure.IdPAdmin, "SubjectConfirmationData", "Recipient "+conn.ACSURL, "none")
			}
			if r := xmlgate.AttrValue(data, "Recipient"); r != conn.ACSURL {
				return time.Time{}, "", failure.New(failure.BadRecipient, failure.IdPAdmin, "Recipient of the SubjectConfirmationData", conn.ACSURL, r)
			}
			notOnOrAfter, err := parseTime(data, "NotOnOrAfter", "the SubjectConfirmationData")
			if err != nil {
				return time.Time{}, "", err
			}
			if notOnOrAfter.IsZero() {
				return time.Time{}, "", failure.New(failure.Expired, failure.IdPAdmin, "NotOnOrAfter of the SubjectConfirmationData", "a time", "none")
			}
			if !now.Add(-skew).Before(notOnOrAfter) {
				return time.Time{}, "", failure.New(failure.Expired, failure.User, "NotOnOrAfter of the SubjectConfirmationData", "after "+stamp(now.Add(-skew)), stamp(notOnOrAfter))
			}
			return notOnOrAfter, xmlgate.AttrValue(data, "InResponseTo"), nil
		}()
		if err == nil {
			return until, irt, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return time.Time{}, "", firstErr
	}
	return time.Time{}, "", failure.New(failure.BadSubjectConfirm, failure.IdPAdmin, "Method of the SubjectConfirmation", bearer, strings.Join(methods, ", "))
}
