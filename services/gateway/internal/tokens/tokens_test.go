package tokens

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestThumbprintMatchesRFC8037(t *testing.T) {
	// RFC 8037, appendix A.3.
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got := Thumbprint(ed25519.PublicKey(x)); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("thumbprint %s", got)
	}
}

func newSet(t *testing.T, pems ...[]byte) *KeySet {
	t.Helper()
	var all []byte
	for _, p := range pems {
		all = append(all, p...)
	}
	ks, err := ParseKeySet(all)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func keyPEM(t *testing.T) []byte {
	p, err := NewKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func claims() Claims {
	return Claims{Subject: "users/usr_1", Email: "jane@example.com", Client: "hub", Connection: "companies/acme/connections/conn_1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func TestATokenVerifiesAndCarriesItsClaims(t *testing.T) {
	is := Issuer{Keys: newSet(t, keyPEM(t)), Issuer: "https://sso.example", Audience: "iechor"}
	tok, err := is.Issue(claims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := is.Verify(tok, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "users/usr_1" || got.Email != "jane@example.com" || got.Client != "hub" || got.ID == "" || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("claims %+v", got)
	}
}

func TestRotationKeepsOldTokensValidWhileTheOldKeyIsPublished(t *testing.T) {
	oldKey, newKey := keyPEM(t), keyPEM(t)
	before := Issuer{Keys: newSet(t, oldKey), Issuer: "i", Audience: "a"}
	tok, _ := before.Issue(claims())
	after := Issuer{Keys: newSet(t, newKey, oldKey), Issuer: "i", Audience: "a"}
	if _, err := after.Verify(tok, now); err != nil {
		t.Fatalf("a token of the previous key failed after rotation: %v", err)
	}
	fresh, _ := after.Issue(claims())
	if _, err := before.Verify(fresh, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("a token of the new key verified with the old key set only")
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(after.Keys.JWKS(), &set); err != nil || len(set.Keys) != 2 || set.Keys[0]["kid"] != after.Keys.SigningKeyID() {
		t.Fatalf("jwks %s", after.Keys.JWKS())
	}
	retired := Issuer{Keys: newSet(t, newKey), Issuer: "i", Audience: "a"}
	if _, err := retired.Verify(tok, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("a token of a removed key still verifies")
	}
}

func TestForgedAndWrongTokensAreRefused(t *testing.T) {
	is := Issuer{Keys: newSet(t, keyPEM(t)), Issuer: "https://sso.example", Audience: "iechor"}
	good, _ := is.Issue(claims())
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	header := func(h string) string { return enc([]byte(h)) }
	hmacSigned := func(h string) string {
		m := hmac.New(sha256.New, []byte(is.Keys.signing.Public))
		m.Write([]byte(header(h) + "." + parts[1]))
		return header(h) + "." + parts[1] + "." + enc(m.Sum(nil))
	}
	other := Issuer{Keys: newSet(t, keyPEM(t)), Issuer: "https://sso.example", Audience: "iechor"}
	foreign, _ := other.Issue(claims())
	wrongIssuer, _ := Issuer{Keys: is.Keys, Issuer: "https://evil.example", Audience: "iechor"}.Issue(claims())
	wrongAudience, _ := Issuer{Keys: is.Keys, Issuer: "https://sso.example", Audience: "other"}.Issue(claims())
	for name, tok := range map[string]string{
		"alg none":                  header(`{"alg":"none","kid":"`+is.Keys.SigningKeyID()+`"}`) + "." + parts[1] + ".",
		"HS256 with the public key": hmacSigned(`{"alg":"HS256","typ":"JWT","kid":"` + is.Keys.SigningKeyID() + `"}`),
		"another key":               foreign,
		"a changed payload":         parts[0] + "." + enc([]byte(`{"sub":"users/admin","iss":"https://sso.example","aud":["iechor"],"exp":9999999999}`)) + "." + parts[2],
		"the wrong issuer":          wrongIssuer,
		"the wrong audience":        wrongAudience,
		"garbage":                   "not.a.token",
	} {
		if _, err := is.Verify(tok, now); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := is.Verify(good, now.Add(2*time.Hour)); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("an expired token: %v", err)
	}
}

func TestAKeyFileWithoutAPrivateKeyIsRefused(t *testing.T) {
	if _, err := ParseKeySet([]byte("nothing")); err == nil {
		t.Fatal("accepted")
	}
}

func TestEnsureKeyFileCreatesOnceAndKeepsTheKey(t *testing.T) {
	path := t.TempDir() + "/keys/signing.pem"
	a, err := EnsureKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EnsureKeyFile(path)
	if err != nil || a.SigningKeyID() != b.SigningKeyID() {
		t.Fatalf("the key changed between starts: %v", err)
	}
}

func TestARefusedTokenSaysWhy(t *testing.T) {
	is := Issuer{Keys: newSet(t, keyPEM(t)), Issuer: "https://sso.example", Audience: "iechor"}
	good, _ := is.Issue(claims())
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	kid := is.Keys.SigningKeyID()
	signed := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(is.Keys.signing.private)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hmacSigned := func() string {
		h := enc([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`))
		m := hmac.New(sha256.New, []byte(is.Keys.signing.Public))
		m.Write([]byte(h + "." + parts[1]))
		return h + "." + parts[1] + "." + enc(m.Sum(nil))
	}
	other := Issuer{Keys: newSet(t, keyPEM(t)), Issuer: "https://sso.example", Audience: "iechor"}
	foreign, _ := other.Issue(claims())
	wrongIssuer, _ := Issuer{Keys: is.Keys, Issuer: "https://evil.example", Audience: "iechor"}.Issue(claims())
	wrongAudience, _ := Issuer{Keys: is.Keys, Issuer: "https://sso.example", Audience: "other"}.Issue(claims())
	future := claims()
	future.IssuedAt, future.ExpiresAt = now.Add(time.Hour), now.Add(2*time.Hour)
	notYet, _ := is.Issue(future)
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name    string
		token   string
		at      time.Time
		problem Problem
		expired bool
	}{
		{"garbage", "not.a.token", now, Malformed, false},
		{"two segments", "abc.def", now, Malformed, false},
		{"alg none", enc([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + ".", now, UnsupportedAlgorithm, false},
		{"HS256 with the public key as secret", hmacSigned(), now, UnsupportedAlgorithm, false},
		{"an algorithm nobody knows", enc([]byte(`{"alg":"XX512","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2], now, UnsupportedAlgorithm, false},
		{"a key that is not in the set", foreign, now, UnknownKeyID, false},
		{"a changed payload", parts[0] + "." + enc([]byte(`{"sub":"users/admin","iss":"https://sso.example","aud":["iechor"],"exp":9999999999}`)) + "." + parts[2], now, BadSignature, false},
		{"the wrong issuer", wrongIssuer, now, WrongIssuer, false},
		{"the wrong audience", wrongAudience, now, WrongAudience, false},
		{"an expired token", good, now.Add(2 * time.Hour), Expired, true},
		{"a token issued in the future", notYet, now, NotYetValid, false},
		{"no expiry", signed(jwt.MapClaims{"sub": "users/u", "iss": is.Issuer, "aud": "iechor"}), now, MissingClaims, false},
		{"no subject", signed(jwt.MapClaims{"iss": is.Issuer, "aud": "iechor", "exp": exp}), now, MissingClaims, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := is.Verify(tc.token, tc.at)
			if got := ProblemOf(err); got != tc.problem {
				t.Fatalf("problem %q (%v), want %q", got, err, tc.problem)
			}
			if errors.Is(err, ErrExpiredToken) != tc.expired || errors.Is(err, ErrInvalidToken) == tc.expired {
				t.Fatalf("%v: expired %v, invalid %v", err, errors.Is(err, ErrExpiredToken), errors.Is(err, ErrInvalidToken))
			}
		})
	}
	if _, err := is.Verify(good, now); err != nil || ProblemOf(err) != "" {
		t.Fatalf("a good token: %v", err)
	}
}
