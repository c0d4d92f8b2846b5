// Package replay is the replay cache of the assertion service (rule 6): an assertion is accepted once.
// Its (issuer, ID) pair is set in the ephemeral store only if absent, until the assertion's last
// NotOnOrAfter plus the clock skew, after which the assertion is refused as expired anyway.
//
// When the store cannot be reached, Remember fails with the store's error: nothing may be accepted
// without its replay check, so callers fail closed.
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/iechor/sso/services/platform/ephemeral"
)

// ErrReplayed means the assertion has been accepted before.
var ErrReplayed = errors.New("assertion already used")

const keyPrefix = "saml:replay:"

// Cache remembers accepted assertions.
type Cache struct {
	eph ephemeral.Store
}

// New returns a Cache on eph.
func New(eph ephemeral.Store) *Cache { return &Cache{eph: eph} }

// Remember records the assertion ID of issuer until the given time and fails with ErrReplayed when it
// was recorded before. Of many concurrent calls for one assertion, exactly one succeeds.
func (c *Cache) Remember(ctx context.Context, issuer, assertionID string, until, now time.Time) error {
	ttl := until.Sub(now)
	if ttl < time.Second {
		ttl = time.Second
	}
	ok, err := c.eph.SetIfAbsent(ctx, Key(issuer, assertionID), []byte{1}, ttl)
	if err != nil {
		return err
	}
	if !ok {
		return ErrReplayed
	}
	return nil
}

// Key is the store key of an assertion: a hash, so that long issuers and IDs make bounded keys and
// no separator inside them can make two pairs collide.
func Key(issuer, assertionID string) string {
	h := sha256.New()
	h.Write([]byte(issuer))
	h.Write([]byte{0})
	h.Write([]byte(assertionID))
	return keyPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
