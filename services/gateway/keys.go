package gateway

import (
	"time"

	"github.com/iechor/sso/services/gateway/internal/tokens"
)

// EnsureSigningKeyFile writes a new Ed25519 signing key to path when no file is there: the
// development key of the all-in-one binary. An existing file is left as it is.
func EnsureSigningKeyFile(path string) error {
	_, err := tokens.EnsureKeyFile(path)
	return err
}

// IssueBootstrapToken signs, with the first key of keysFile, an access token of user for the edge
// whose public URL is issuer: the token `ssod bootstrap` hands the first owner.
func IssueBootstrapToken(keysFile, issuer, user, email string, now time.Time, ttl time.Duration) (string, error) {
	keys, err := tokens.LoadKeySet(keysFile)
	if err != nil {
		return "", err
	}
	return tokens.Issuer{Keys: keys, Issuer: issuer, Audience: Audience}.Issue(tokens.Claims{
		Subject: user, Email: email, Client: "bootstrap", IssuedAt: now, ExpiresAt: now.Add(ttl),
	})
}
