package saml

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/assertion/failure"
	"github.com/iechor/sso/services/assertion/relaystate"
	"github.com/iechor/sso/services/assertion/replay"
	"github.com/iechor/sso/services/assertion/samlsig"
	"github.com/iechor/sso/services/assertion/xmlenc"
	"github.com/iechor/sso/services/assertion/xmlgate"
)

// SAML namespaces and values.
const (
	protocolNS  = "urn:oasis:names:tc:SAML:2.0:protocol"
	assertionNS = "urn:oasis:names:tc:SAML:2.0:assertion"
	statusOK    = "urn:oasis:names:tc:SAML:2.0:status:Success"
	bearer      = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
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
	return is(root, protocolNS, "Response") && root.SelectAttr("InResponseTo") == nil
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
	if ver := resp.SelectAttrValue("Version", ""); ver != "2.0" {
		return nil, failure.New(failure.BadVersion, failure.IdPAdmin, "Version of the Response", "2.0", ver)
	}
	if err := checkStatus(resp); err != nil {
		return nil, err
	}
	if iss := firstChild(resp, assertionNS, "Issuer"); iss != nil && strings.TrimSpace(iss.Text()) != conn.IdPEntityID {
		return nil, failure.New(failure.BadIssuer, failure.IdPAdmin, "Issuer of the Response", conn.IdPEntityID, strings.TrimSpace(iss.Text()))
	}
	// SAML bindings 3.5.5.2: a signed Response must carry its Destination.
	if d := resp.SelectAttr("Destination"); (d == nil && respSigned) || (d != nil && d.Value != conn.ACSURL) {
		got := "none"
		if d != nil {
			got = d.Value
		}
		return nil, failure.New(failure.BadDestination, failure.IdPAdmin, "Destination of the Response", conn.ACSURL, got)
	}
	respIRT := resp.SelectAttrValue("InResponseTo", "")
	if respIRT != "" && respIRT != st.RequestID {
		return nil, failure.New(failure.InResponseToMismatch, failure.User, "InResponseTo of the Response", st.RequestID, respIRT)
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
	id, until, scdIRT, err := checkAssertion(assertion, conn, now)
	if err != nil {
		return nil, err
	}
	if respIRT == "" && scdIRT == "" {
		return nil, unsolicited(conn)
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
// Response or of that Assertion. Wrapped, smuggled or duplicated assertions fail here, before any
// signature is verified.
func checkStructure(root *etree.Element, isResponse bool) error {
	ids := map[string]bool{}
	var assertions, outOfPlace int
	duplicate := ""
	var misplaced *etree.Element
	stack := []*etree.Element{root}
	for len(stack) > 0 {
		el := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a := el.SelectAttr("ID"); a != nil {
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
			"a direct child of the Response or of its Assertion", "inside "+misplaced.FullTag())
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
		value = code.SelectAttrValue("Value", "")
	}
	if value == statusOK {
		return nil
	}
	got := value
	if code != nil {
		if sub := firstChild(code, protocolNS, "StatusCode"); sub != nil {
			got += " / " + sub.SelectAttrValue("Value", "")
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
	a := el.SelectAttr(attr)
	if a == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(a.Value))
	if err != nil {
		return time.Time{}, failure.New(failure.MalformedXML, failure.IdPAdmin, attr+" of "+what, "an xs:dateTime such as 2026-01-02T15:04:05Z", a.Value)
	}
	return t, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkAssertion checks the signed assertion (rule 5) and returns its identity without attributes,
// the time until which it must be remembered, and the InResponseTo of its bearer confirmation.
func checkAssertion(a *etree.Element, conn *Connection, now time.Time) (*Identity, time.Time, string, error) {
	var zero time.Time
	skew := conn.ClockSkew
	if ver := a.SelectAttrValue("Version", ""); ver != "2.0" {
		return nil, zero, "", failure.New(failure.BadVersion, failure.IdPAdmin, "Version of the Assertion", "2.0", ver)
	}
	id := &Identity{AssertionID: a.SelectAttrValue("ID", "")}
	if id.AssertionID == "" {
		return nil, zero, "", failure.New(failure.MalformedXML, failure.IdPAdmin, "ID of the Assertion", "an ID", "none")
	}
	if iss := firstChild(a, assertionNS, "Issuer"); iss == nil || strings.TrimSpace(iss.Text()) != conn.IdPEntityID {
		got := "none"
		if iss != nil {
			got = strings.TrimSpace(iss.Text())
		}
		return nil, zero, "", failure.New(failure.BadIssuer, failure.IdPAdmin, "Issuer of the Assertion", conn.IdPEntityID, got)
	}
	id.Issuer = conn.IdPEntityID
	issued, err := parseTime(a, "IssueInstant", "the Assertion")
	if err != nil {
		return nil, zero, "", err
	}
	if !issued.IsZero() && now.Add(skew).Before(issued) {
		return nil, zero, "", failure.New(failure.NotYetValid, failure.IdPAdmin, "IssueInstant of the Assertion", "at or before "+stamp(now.Add(skew)), stamp(issued))
	}

	subject := firstChild(a, assertionNS, "Subject")
	if subject == nil {
		return nil, zero, "", failure.New(failure.BadSubjectConfirm, failure.IdPAdmin, "Subject of the Assertion", "a saml:Subject", "none")
	}
	if n := firstChild(subject, assertionNS, "NameID"); n != nil {
		id.Subject = strings.TrimSpace(n.Text())
		id.NameIDFormat = n.SelectAttrValue("Format", "")
	}
	scdUntil, scdIRT, err := checkConfirmation(subject, conn, now)
	if err != nil {
		return nil, zero, "", err
	}

	cond := firstChild(a, assertionNS, "Conditions")
	if cond == nil {
		return nil, zero, "", failure.New(failure.BadAudience, failure.IdPAdmin, "Conditions of the Assertion", "an AudienceRestriction naming "+conn.SPEntityID, "no Conditions")
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
	restrictions := children(cond, assertionNS, "AudienceRestriction")
	if len(restrictions) == 0 {
		return nil, zero, "", failure.New(failure.BadAudience, failure.IdPAdmin, "AudienceRestriction of the Assertion", conn.SPEntityID, "none")
	}
	// Each AudienceRestriction must be met on its own (SAML core 2.5.1.4).
	for _, r := range restrictions {
		var audiences []string
		ok := false
		for _, au := range children(r, assertionNS, "Audience") {
			v := strings.TrimSpace(au.Text())
			audiences = append(audiences, v)
			ok = ok || v == conn.SPEntityID
		}
		if !ok {
			return nil, zero, "", failure.New(failure.BadAudience, failure.IdPAdmin, "Audience of the Assertion", conn.SPEntityID, strings.Join(audiences, ", "))
		}
	}

	if authn := firstChild(a, assertionNS, "AuthnStatement"); authn != nil {
		id.SessionIndex = authn.SelectAttrValue("SessionIndex", "")
		if id.AuthnInstant, err = parseTime(authn, "AuthnInstant", "the AuthnStatement"); err != nil {
			return nil, zero, "", err
		}
		sessionEnd, err := parseTime(authn, "SessionNotOnOrAfter", "the AuthnStatement")
		if err != nil {
			return nil, zero, "", err
		}
		if !sessionEnd.IsZero() && !now.Add(-skew).Before(sessionEnd) {
			return nil, zero, "", failure.New(failure.Expired, failure.User, "SessionNotOnOrAfter of the AuthnStatement", "after "+stamp(now.Add(-skew)), stamp(sessionEnd))
		}
	}
	until := scdUntil
	if notOnOrAfter.After(until) {
		until = notOnOrAfter
	}
	return id, until, scdIRT, nil
}

// checkConfirmation finds a bearer SubjectConfirmation whose data names our ACS URL and is valid
// now. It returns its NotOnOrAfter and InResponseTo, or the failure of the first bearer
// confirmation when none passes.
func checkConfirmation(subject *etree.Element, conn *Connection, now time.Time) (time.Time, string, error) {
	skew := conn.ClockSkew
	var firstErr error
	var methods []string
	for _, sc := range children(subject, assertionNS, "SubjectConfirmation") {
		method := sc.SelectAttrValue("Method", "")
		methods = append(methods, method)
		if method != bearer {
			continue
		}
		until, irt, err := func() (time.Time, string, error) {
			data := firstChild(sc, assertionNS, "SubjectConfirmationData")
			if data == nil {
				return time.Time{}, "", failure.New(failure.BadRecipient, failure.IdPAdmin, "SubjectConfirmationData", "Recipient "+conn.ACSURL, "none")
			}
			if r := data.SelectAttrValue("Recipient", ""); r != conn.ACSURL {
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
			notBefore, err := parseTime(data, "NotBefore", "the SubjectConfirmationData")
			if err != nil {
				return time.Time{}, "", err
			}
			if !notBefore.IsZero() && now.Add(skew).Before(notBefore) {
				return time.Time{}, "", failure.New(failure.NotYetValid, failure.IdPAdmin, "NotBefore of the SubjectConfirmationData", "at or before "+stamp(now.Add(skew)), stamp(notBefore))
			}
			return notOnOrAfter, data.SelectAttrValue("InResponseTo", ""), nil
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
