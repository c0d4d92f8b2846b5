package seal_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/iechor/sso/services/connection/internal/seal"
)

func TestSealedValuesOpenOnlyWhereTheyWereSealed(t *testing.T) {
	key := seal.NewKey()
	box, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := seal.New(seal.NewKey())
	secret := []byte("client-secret-value")
	sealed := box.Seal(secret, "companies/acme/connections/conn_a|oidc_client_secret")
	if bytes.Contains([]byte(sealed), secret) {
		t.Fatal("the sealed value shows the plaintext")
	}
	if again := box.Seal(secret, "companies/acme/connections/conn_a|oidc_client_secret"); again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	got, err := box.Open(sealed, "companies/acme/connections/conn_a|oidc_client_secret")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q, %v", got, err)
	}

	raw, _ := base64.RawStdEncoding.DecodeString(sealed)
	raw[len(raw)-1] ^= 1
	tampered := base64.RawStdEncoding.EncodeToString(raw)

	for _, tc := range []struct {
		name   string
		box    *seal.Box
		sealed string
		ad     string
		want   error
	}{
		{"a value moved to another connection does not open", box, sealed, "companies/acme/connections/conn_b|oidc_client_secret", seal.ErrCorrupt},
		{"a value moved to another purpose does not open", box, sealed, "companies/acme/connections/conn_a|sp_key", seal.ErrCorrupt},
		{"a tampered value does not open", box, tampered, "companies/acme/connections/conn_a|oidc_client_secret", seal.ErrCorrupt},
		{"a truncated value does not open", box, sealed[:10], "companies/acme/connections/conn_a|oidc_client_secret", seal.ErrCorrupt},
		{"garbage does not open", box, "!!!", "x", seal.ErrCorrupt},
		{"a value sealed under another key says so", other, sealed, "companies/acme/connections/conn_a|oidc_client_secret", seal.ErrWrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.box.Open(tc.sealed, tc.ad); !errors.Is(err, tc.want) {
				t.Fatalf("open: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeysMustBe32BytesOfBase64(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"a standard base64 key is accepted", base64.StdEncoding.EncodeToString(make([]byte, 32)), true},
		{"a URL-safe unpadded key is accepted", base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), true},
		{"surrounding whitespace is ignored", "  " + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n", true},
		{"a 16-byte key is refused", base64.StdEncoding.EncodeToString(make([]byte, 16)), false},
		{"an empty key is refused", "", false},
		{"a passphrase is refused", "correct horse battery staple", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seal.New(tc.key)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, seal.ErrBadKey) {
				t.Fatalf("error %v is not ErrBadKey", err)
			}
		})
	}
}
