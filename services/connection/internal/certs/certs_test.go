package certs_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/certs/certstest"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestEveryPastedFormOfACertificateReads(t *testing.T) {
	t.Parallel()
	c := certstest.New(t, certstest.Options{Now: now})
	lines := strings.Split(strings.TrimSpace(c.PEM), "\n")
	bodyOnly := strings.Join(lines[1:len(lines)-1], "\n")
	for _, tc := range []struct{ name, text string }{
		{"PEM with its BEGIN and END lines", c.PEM},
		{"PEM with Windows line ends", strings.ReplaceAll(c.PEM, "\n", "\r\n")},
		{"PEM on one line", strings.ReplaceAll(c.PEM, "\n", "")},
		{"PEM body without the BEGIN and END lines", bodyOnly},
		{"base64 DER on one line", c.Base64},
		{"base64 DER wrapped with spaces and tabs", c.Base64[:30] + " \t" + c.Base64[30:70] + "\n  " + c.Base64[70:]},
		{"base64 DER without padding", strings.TrimRight(c.Base64, "=")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := certs.Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if certs.Fingerprint(got) != certs.Fingerprint(c.X509) {
				t.Fatal("read another certificate")
			}
		})
	}
}

func TestWhatIsNotACertificateIsRefused(t *testing.T) {
	t.Parallel()
	c := certstest.New(t, certstest.Options{Now: now})
	weak, err := os.ReadFile("testdata/rsa512.pem")
	if err != nil {
		t.Fatal(err)
	}
	ed, err := os.ReadFile("testdata/ed25519.pem")
	if err != nil {
		t.Fatal(err)
	}
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name, text string
		want       error
	}{
		{"an empty string", "", certs.ErrInvalid},
		{"random text", "hello world", certs.ErrInvalid},
		{"a private key pasted by mistake", key, certs.ErrInvalid},
		{"two certificates in one entry", c.PEM + c.PEM, certs.ErrInvalid},
		{"a truncated certificate", c.Base64[:200], certs.ErrInvalid},
		{"base64 that is not DER", "aGVsbG8gd29ybGQ=", certs.ErrInvalid},
		{"a huge paste", strings.Repeat("A", 70<<10), certs.ErrInvalid},
		{"an RSA key of 512 bits", string(weak), certs.ErrUnsupportedKey},
		{"an Ed25519 key", string(ed), certs.ErrUnsupportedKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certs.Parse(tc.text)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse: %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "MIIE") {
				t.Fatal("the error echoes the input")
			}
		})
	}
}

func TestASetIsRefusedWhenOneIsInvalidOrAllHaveExpired(t *testing.T) {
	t.Parallel()
	good := certstest.New(t, certstest.Options{Now: now, CommonName: "good"})
	expired := certstest.New(t, certstest.Options{Now: now, CommonName: "expired", NotBefore: now.AddDate(-3, 0, 0), NotAfter: now.AddDate(-1, 0, 0)})
	expired2 := certstest.New(t, certstest.Options{Now: now, CommonName: "expired2", NotBefore: now.AddDate(-3, 0, 0), NotAfter: now.AddDate(0, 0, -1)})
	for _, tc := range []struct {
		name      string
		in        []string
		wantIndex int
		want      error
		wantN     int
	}{
		{"a current and an expired certificate are kept together", []string{expired.PEM, good.PEM}, 0, nil, 2},
		{"a duplicate is dropped", []string{good.PEM, good.Base64}, 0, nil, 1},
		{"an empty list is fine", nil, 0, nil, 0},
		{"the invalid one is named by its index", []string{good.PEM, "garbage"}, 1, certs.ErrInvalid, 0},
		{"only expired certificates are refused", []string{expired.PEM, expired2.PEM}, 0, certs.ErrAllExpired, 0},
		{"too many certificates are refused", []string{good.PEM, good.PEM, good.PEM, good.PEM, good.PEM, good.PEM, good.PEM, good.PEM, good.PEM, good.PEM, good.PEM}, certs.MaxCertificates, certs.ErrTooMany, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := certs.ParseSet(tc.in, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseSet: %v, want %v", err, tc.want)
			}
			if err != nil {
				var ie *certs.IndexError
				if !errors.As(err, &ie) || ie.Index != tc.wantIndex {
					t.Fatalf("error %v does not name index %d", err, tc.wantIndex)
				}
				return
			}
			if len(got) != tc.wantN {
				t.Fatalf("kept %d certificates, want %d", len(got), tc.wantN)
			}
		})
	}
}

func TestWarningsFollowTheClock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts certstest.Options
		at   time.Time
		want []string
	}{
		{"a sound certificate draws no warning", certstest.Options{}, now, nil},
		{"a certificate expiring in ten days warns", certstest.Options{NotAfter: now.AddDate(0, 0, 10)}, now, []string{certs.CodeExpiring}},
		{"the same certificate warns of expiry once it has expired", certstest.Options{NotAfter: now.AddDate(0, 0, 10)}, now.AddDate(0, 0, 11), []string{certs.CodeExpired}},
		{"a certificate not valid yet warns", certstest.Options{NotBefore: now.AddDate(0, 0, 3)}, now, []string{certs.CodeNotYetValid}},
		{"a 1024-bit RSA key warns", certstest.Options{RSABits: 1024}, now, []string{certs.CodeWeakRSA}},
		{"a SHA-1 signature warns", certstest.Options{SHA1: true}, now, []string{certs.CodeSHA1}},
		{"an ECDSA certificate draws no key warning", certstest.Options{ECDSA: true}, now, nil},
		{"several flaws give several warnings", certstest.Options{RSABits: 1024, SHA1: true, NotAfter: now.AddDate(0, 0, 1)}, now, []string{certs.CodeExpiring, certs.CodeWeakRSA, certs.CodeSHA1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = now
			c := certstest.New(t, tc.opts)
			var got []string
			for _, w := range certs.Warnings(c.X509, tc.at) {
				got = append(got, w.Code)
				if w.Message == "" {
					t.Fatalf("warning %s has no message", w.Code)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("warnings %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDescribeShowsWhatAnAdminChecks(t *testing.T) {
	t.Parallel()
	c := certstest.New(t, certstest.Options{Now: now, CommonName: "okta.example", RSABits: 2048})
	info := certs.Describe(c.X509)
	if info.Subject != "CN=okta.example" || info.KeyAlgorithm != "RSA" || info.KeyBits != 2048 ||
		info.SignatureAlgorithm != "SHA256-RSA" || len(info.SHA256Fingerprint) != 64 || !info.NotAfter.Equal(c.X509.NotAfter) {
		t.Fatalf("info %+v", info)
	}
}

func TestServiceProviderKeyPairsAreSelfSignedAndParse(t *testing.T) {
	t.Parallel()
	kp, err := certs.NewKeyPair(2048, "iEchor SSO conn_test", now, 10*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certs.Parse(kp.CertificatePEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	if !strings.HasPrefix(kp.PrivateKeyPEM, "-----BEGIN PRIVATE KEY-----") || len(certs.Warnings(c, now)) != 0 {
		t.Fatalf("key pair %q, warnings %v", kp.PrivateKeyPEM[:30], certs.Warnings(c, now))
	}
	if !c.NotBefore.Before(now) {
		t.Fatal("the certificate is not valid yet at creation")
	}
	if _, err := certs.NewKeyPair(1024, "x", now, time.Hour); err == nil {
		t.Fatal("a 1024-bit SP key was made")
	}
}
