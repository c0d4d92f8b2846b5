// Package failure is the typed result of a SAML check that did not pass: which check, the value it
// wanted, the value it got, and who must act (the IdP's admin, iEchor, or the person signing in).
//
// A failure is what an admin sees in a connection's test mode and in its sign-in log, so it names
// values precisely; it must never carry a key, a decrypted secret or the raw message, and the values
// it quotes from a message are cut short so that a hostile message cannot flood the log.
package failure

import (
	"fmt"
	"unicode/utf8"
)

// Reason is the ErrorInfo reason a client switches on.
type Reason string

// The reasons of validation failures.
const (
	MalformedXML          Reason = "MALFORMED_XML"
	ResponseTooLarge      Reason = "RESPONSE_TOO_LARGE"
	DuplicateID           Reason = "DUPLICATE_ID"
	RelayStateUnknown     Reason = "RELAY_STATE_UNKNOWN"
	WrongConnection       Reason = "WRONG_CONNECTION"
	BrowserMismatch       Reason = "BROWSER_MISMATCH"
	ConnectionInactive    Reason = "CONNECTION_INACTIVE"
	UnsolicitedResponse   Reason = "UNSOLICITED_RESPONSE"
	BadSignature          Reason = "BAD_SIGNATURE"
	UnknownSigningKey     Reason = "UNKNOWN_SIGNING_KEY"
	IdPCertificateExpired Reason = "IDP_CERTIFICATE_EXPIRED"
	WeakAlgorithm         Reason = "WEAK_ALGORITHM"
	NoAssertion           Reason = "NO_ASSERTION"
	MultipleAssertions    Reason = "MULTIPLE_ASSERTIONS"
	DecryptionFailed      Reason = "DECRYPTION_FAILED"
	BadVersion            Reason = "BAD_VERSION"
	IdPErrorStatus        Reason = "IDP_ERROR_STATUS"
	BadIssuer             Reason = "BAD_ISSUER"
	BadDestination        Reason = "BAD_DESTINATION"
	InResponseToMismatch  Reason = "IN_RESPONSE_TO_MISMATCH"
	BadSubjectConfirm     Reason = "BAD_SUBJECT_CONFIRMATION"
	BadRecipient          Reason = "BAD_RECIPIENT"
	BadAudience           Reason = "BAD_AUDIENCE"
	UnknownCondition      Reason = "UNKNOWN_CONDITION"
	NoAuthnStatement      Reason = "NO_AUTHN_STATEMENT"
	Expired               Reason = "EXPIRED"
	NotYetValid           Reason = "NOT_YET_VALID"
	AssertionReplayed     Reason = "ASSERTION_REPLAYED"
	EmailMissing          Reason = "EMAIL_MISSING"
	EmailInvalid          Reason = "EMAIL_INVALID"
	NameIDNotEmail        Reason = "NAMEID_NOT_EMAIL"
	EmailOutsideDomains   Reason = "EMAIL_OUTSIDE_DOMAINS"
	BadAttributeValue     Reason = "BAD_ATTRIBUTE_VALUE"
)

// FixBy says who must act on a failure.
type FixBy int

const (
	// IdPAdmin: the identity provider's configuration is wrong.
	IdPAdmin FixBy = iota + 1
	// IEchor: our side, the connection's configuration in iEchor or the service.
	IEchor
	// User: the person signing in (an expired or replayed sign-in, another browser).
	User
)

func (f FixBy) String() string {
	switch f {
	case IdPAdmin:
		return "IDP_ADMIN"
	case IEchor:
		return "IECHOR"
	case User:
		return "USER"
	}
	return "UNSPECIFIED"
}

// maxValue bounds a quoted value, in bytes.
const maxValue = 256

// Error is a failed check.
type Error struct {
	Reason Reason
	// Check names the check in words, such as "Destination of the Response".
	Check string
	// Wanted and Got are the expected and the received values.
	Wanted, Got string
	FixBy       FixBy
	// Message, when set, is what the person signing in is told instead of a generic message.
	Message string
}

// New returns a failure; wanted and got are cut to a bounded length.
func New(reason Reason, fixBy FixBy, check, wanted, got string) *Error {
	return &Error{Reason: reason, FixBy: fixBy, Check: check, Wanted: Clip(wanted), Got: Clip(got)}
}

// WithMessage returns a copy of e with a message for the person signing in.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: wanted %q, got %q", e.Reason, e.Check, e.Wanted, e.Got)
}

// Is matches another *Error with the same reason, so that errors.Is works against a sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Clip cuts s to at most maxValue bytes on a rune boundary, marking the cut.
func Clip(s string) string {
	if len(s) <= maxValue {
		return s
	}
	cut := maxValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
