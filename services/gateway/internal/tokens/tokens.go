// Package tokens issues and verifies the access tokens of the REST edge: JWTs signed with Ed25519
// (EdDSA) keys that carry a key id, published as a JWK set at /.well-known/jwks.json.
//
// Keys come from a PEM file: the first private key signs; every other key in the file (private, or
// public only) still verifies and stays published. Rotating is therefore: put a new key first, keep
// the old one until the longest token it signed has expired, then remove it. Nothing here accepts a
// token whose algorithm is not EdDSA or whose key id is not in the file.
package tokens

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/iechor/sso/services/platform/opaque"
)

// Errors of Verify. Every refusal is a *VerifyError that wraps one of them and names the problem.
var (
	ErrInvalidToken = errors.New("invalid access token")
	ErrExpiredToken = errors.New("expired access token")
)

// Problem says why a token was refused, in words a client and an operator can act on. Each is
// safe to tell the caller: none reveals a key or a secret (key ids are public in the JWKS).
type Problem string

const (
	Malformed            Problem = "malformed"             // not three base64url segments of JSON
	UnsupportedAlgorithm Problem = "unsupported_algorithm" // alg is not EdDSA
	UnknownKeyID         Problem = "unknown_key_id"        // kid is not in the key set (a retired key, or none)
	BadSignature         Problem = "bad_signature"         // the signature does not verify with the key of its kid
	WrongIssuer          Problem = "wrong_issuer"          // iss is not this edge
	WrongAudience        Problem = "wrong_audience"        // aud does not name the audience
	Expired              Problem = "expired"               // exp has passed (beyond the leeway)
	NotYetValid          Problem = "not_yet_valid"         // nbf or iat is in the future (beyond the leeway)
	MissingClaims        Problem = "missing_claims"        // no subject or no expiry
)

// VerifyError is a refused token.
type VerifyError struct {
	Problem Problem
}

func (e *VerifyError) Error() string { return "access token refused: " + string(e.Problem) }

// Unwrap makes an expired token match ErrExpiredToken and every other refusal ErrInvalidToken.
func (e *VerifyError) Unwrap() error {
	if e.Problem == Expired {
		return ErrExpiredToken
	}
	return ErrInvalidToken
}

// ProblemOf returns the problem of a Verify error, or "".
func ProblemOf(err error) Problem {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Problem
	}
	return ""
}

var errUnknownKeyID = errors.New("unknown key id")

// problemOf reads why the jwt library refused a token. Signature and key problems come first: the
// claims of a token that does not verify say nothing. Of the claim problems, those that no waiting
// can cure (issuer, audience) come before the times.
func problemOf(token *jwt.Token, err error) Problem {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Malformed
	case errors.Is(err, errUnknownKeyID):
		return UnknownKeyID
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return UnsupportedAlgorithm // a signing method the library does not know
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if token != nil && token.Method != nil && token.Method.Alg() != jwt.SigningMethodEdDSA.Alg() {
			return UnsupportedAlgorithm
		}
		return BadSignature
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return WrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return WrongAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return MissingClaims
	case errors.Is(err, jwt.ErrTokenExpired):
		return Expired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return NotYetValid
	}
	return Malformed
}

// Key is one signing key.
type Key struct {
	ID      string
	Public  ed25519.PublicKey
	private ed25519.PrivateKey // nil for keys kept for verification only
}

// KeySet is the signing key and the keys that still verify.
type KeySet struct {
	signing Key
	byID    map[string]Key
	ordered []Key
	jwks    []byte
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key, the key's id.
func Thumbprint(pub ed25519.PublicKey) string {
	// The members in lexicographic order, no whitespace, as RFC 7638 requires.
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ParseKeySet reads PEM blocks: PKCS#8 "PRIVATE KEY" (Ed25519) and PKIX "PUBLIC KEY" (Ed25519). The
// first private key signs.
func ParseKeySet(data []byte) (*KeySet, error) {
	ks := &KeySet{byID: map[string]Key{}}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var k Key
		switch block.Type {
		case "PRIVATE KEY":
			raw, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signing keys: %w", err)
			}
			priv, ok := raw.(ed25519.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("signing keys: a %T is not an Ed25519 key", raw)
			}
			k = Key{Public: priv.Public().(ed25519.PublicKey), private: priv}
		case "PUBLIC KEY":
			raw, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("signing keys: %w", err)
			}
			pub, ok := raw.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("signing keys: a %T is not an Ed25519 key", raw)
			}
			k = Key{Public: pub}
		default:
			return nil, fmt.Errorf("signing keys: unexpected PEM block %q", block.Type)
		}
		k.ID = Thumbprint(k.Public)
		if _, dup := ks.byID[k.ID]; dup {
			continue
		}
		if ks.signing.private == nil && k.private != nil {
			ks.signing = k
		}
		ks.byID[k.ID] = k
		ks.ordered = append(ks.ordered, k)
	}
	if ks.signing.private == nil {
		return nil, errors.New("signing keys: no Ed25519 private key")
	}
	jwks, err := ks.buildJWKS()
	if err != nil {
		return nil, err
	}
	ks.jwks = jwks
	return ks, nil
}

// LoadKeySet reads a key file.
func LoadKeySet(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return ParseKeySet(data)
}

// NewKeyPEM returns a new Ed25519 private key in PKCS#8 PEM.
func NewKeyPEM() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EnsureKeyFile returns the key set in path, creating the file with one new key (mode 0600) when it
// does not exist. The all-in-one binary uses it for a development key under its data folder.
func EnsureKeyFile(path string) (*KeySet, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		p, err := NewKeyPEM()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, p, 0o600); err != nil {
			return nil, err
		}
	}
	return LoadKeySet(path)
}

// SigningKeyID is the id of the key that signs.
func (ks *KeySet) SigningKeyID() string { return ks.signing.ID }

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func (ks *KeySet) buildJWKS() ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range ks.ordered {
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.ID, Use: "sig", Alg: "EdDSA"})
	}
	return json.Marshal(set)
}

// JWKS is the JSON Web Key Set of every key that verifies.
func (ks *KeySet) JWKS() []byte { return ks.jwks }

// Claims are what an access token says.
type Claims struct {
	Subject    string // users/{user}
	Email      string
	Client     string // hub, desktop
	Connection string // the connection signed in through
	IssuedAt   time.Time
	ExpiresAt  time.Time
	ID         string
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Email      string `json:"email,omitempty"`
	Client     string `json:"client,omitempty"`
	Connection string `json:"connection,omitempty"`
}

// Issuer signs tokens for one issuer and audience.
type Issuer struct {
	Keys     *KeySet
	Issuer   string // the edge's public base URL
	Audience string
}

// Issue signs a token for c; IssuedAt and ExpiresAt must be set. The token id is made here.
func (is Issuer) Issue(c Claims) (string, error) {
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    is.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{is.Audience},
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			ID:        opaque.Token(16),
		},
		Email: c.Email, Client: c.Client, Connection: c.Connection,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = is.Keys.signing.ID
	return t.SignedString(is.Keys.signing.private)
}

// Verify checks a token's algorithm, key, signature, issuer, audience and times, and returns its
// claims. A refusal is a *VerifyError naming the problem.
func (is Issuer) Verify(token string, now time.Time) (Claims, error) {
	var claims jwtClaims
	parsed, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := is.Keys.byID[kid]
		if !ok {
			return nil, errUnknownKeyID
		}
		return k.Public, nil
	},
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(is.Issuer),
		jwt.WithAudience(is.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return Claims{}, &VerifyError{Problem: problemOf(parsed, err)}
	}
	if !parsed.Valid {
		return Claims{}, &VerifyError{Problem: Malformed}
	}
	if claims.Subject == "" {
		return Claims{}, &VerifyError{Problem: MissingClaims}
	}
	return Claims{
		Subject: claims.Subject, Email: claims.Email, Client: claims.Client, Connection: claims.Connection,
		IssuedAt: claims.IssuedAt.Time, ExpiresAt: claims.ExpiresAt.Time, ID: claims.ID,
	}, nil
}
