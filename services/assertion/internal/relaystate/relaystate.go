// Package relaystate keeps a SAML sign-in's state between BeginSamlLogin and the identity provider's
// POST to the ACS URL (rule 2 of the assertion service): an opaque random handle of at most 80 bytes
// maps, for ten minutes, to the AuthnRequest ID, the connection, the SHA-256 of the browser-binding
// value, the caller's flow data, the test-mode flag and the creation time.
//
// A state is consumed exactly once, atomically (GETDEL), before anything in the response is
// accepted; a second consumer finds nothing. Only the browser that started the sign-in can consume
// its state: a post from any other browser reads it, is refused, and leaves it for the browser it
// belongs to, so that nobody who learns a relay state can spend someone else's sign-in. The
// browser-binding value itself is never stored.
package relaystate

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"time"

	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/opaque"
)

const (
	// TTL is how long a relay state waits for the identity provider's answer.
	TTL = 10 * time.Minute
	// MaxHandle bounds the handle, in bytes; longer values are refused without a store lookup.
	MaxHandle = 80
	// MaxFlowData bounds the caller's opaque flow data.
	MaxFlowData = 4096
	keyPrefix   = "saml:relay:"
)

// ErrUnknown means the handle names no live state: never issued, expired or already consumed.
var ErrUnknown = errors.New("relay state unknown, expired or already used")

// ErrBrowserMismatch means the state exists but was issued to another browser; it was not consumed.
var ErrBrowserMismatch = errors.New("relay state issued to another browser")

// ErrFlowDataTooLarge means the flow data exceeds MaxFlowData.
var ErrFlowDataTooLarge = errors.New("flow data exceeds 4 KiB")

// State is what a handle stands for.
type State struct {
	RequestID   string    `json:"r"`
	Connection  string    `json:"c"`
	BrowserHash []byte    `json:"b"`
	FlowData    []byte    `json:"f,omitempty"`
	TestMode    bool      `json:"t,omitempty"`
	Created     time.Time `json:"at"`
}

// HashBinding returns the stored form of a browser-binding value.
func HashBinding(binding string) []byte {
	sum := sha256.Sum256([]byte(binding))
	return sum[:]
}

// FromBrowser reports whether binding is the value the state was issued for.
func (s State) FromBrowser(binding string) bool {
	return subtle.ConstantTimeCompare(HashBinding(binding), s.BrowserHash) == 1
}

// Store saves and consumes relay states in an ephemeral store.
type Store struct {
	eph ephemeral.Store
}

// New returns a Store on eph.
func New(eph ephemeral.Store) *Store { return &Store{eph: eph} }

// Save stores s under a new handle for TTL and returns the handle.
func (r *Store) Save(ctx context.Context, s State) (string, error) {
	if len(s.FlowData) > MaxFlowData {
		return "", ErrFlowDataTooLarge
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	handle := opaque.Token(32) // 43 characters
	if err := r.eph.Set(ctx, keyPrefix+handle, b, TTL); err != nil {
		return "", err
	}
	return handle, nil
}

// Consume returns the state of handle and deletes it in one step when binding is the value of the
// browser the state was issued to (compared in constant time); of many such calls on one handle,
// exactly one gets the state. For another browser it returns the state with ErrBrowserMismatch and
// deletes nothing. ErrUnknown when there is no state. Errors of the store (ephemeral.ErrUnavailable)
// pass through: the caller fails closed.
//
// Every step touches the one key of the state, so that a Redis Cluster serves it: the state is read
// (GET), its browser compared, then taken (GETDEL). A handle is written once and never rewritten, so
// whatever GETDEL returns is the state that was compared.
func (r *Store) Consume(ctx context.Context, handle, binding string) (State, error) {
	if !wellFormed(handle) {
		return State{}, ErrUnknown
	}
	key := keyPrefix + handle
	b, err := r.eph.Get(ctx, key)
	if errors.Is(err, ephemeral.ErrNotFound) {
		return State{}, ErrUnknown
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, ErrUnknown
	}
	if !s.FromBrowser(binding) {
		return s, ErrBrowserMismatch
	}
	if _, err := r.eph.GetDelete(ctx, key); errors.Is(err, ephemeral.ErrNotFound) {
		// Another post of the same browser took it first.
		return State{}, ErrUnknown
	} else if err != nil {
		return State{}, err
	}
	return s, nil
}

// wellFormed accepts what opaque.Token makes: URL-safe base64 of bounded length.
func wellFormed(h string) bool {
	if h == "" || len(h) > MaxHandle {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
