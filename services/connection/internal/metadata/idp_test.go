package metadata_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/secureurl"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/outbound"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func subjects(p *metadata.IdP) string {
	var out []string
	for _, c := range p.Certificates {
		out = append(out, c.Subject.CommonName)
	}
	return strings.Join(out, ",")
}

func TestMetadataOfRealIdentityProvidersImports(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, entityID, ssoURL, certs string
		emailNameID                         bool
		attributes                          int
	}{
		{"Okta's metadata gives its redirect URL and one certificate", "okta.xml",
			"http://www.okta.com/exk1a2b3c4d5e6f7g8h9", "https://acme.okta.com/app/acme_iechor_1/exk1a2b3c4d5e6f7g8h9/sso/saml",
			"okta.idp.example", true, 0},
		{"Entra ID's metadata in the default namespace, with a signature and role descriptors, imports", "entra-id.xml",
			"https://sts.windows.net/8f2a1c3e-4b5d-4e6f-8a7b-9c0d1e2f3a4b/", "https://login.microsoftonline.com/8f2a1c3e-4b5d-4e6f-8a7b-9c0d1e2f3a4b/saml2",
			"entra.idp.example", false, 0},
		{"ADFS gives both signing certificates, not its encryption or token-service ones, and its claims", "adfs.xml",
			"http://adfs.contoso.example/adfs/services/trust", "https://adfs.contoso.example/adfs/ls/",
			"adfs-signing.idp.example,adfs-signing-next.idp.example", true, 14},
		{"Google Workspace's wrapped certificate reads", "google-workspace.xml",
			"https://accounts.google.com/o/saml2?idpid=C01ab2cd3", "https://accounts.google.com/o/saml2/idp?idpid=C01ab2cd3",
			"google.idp.example", true, 0},
		{"an aggregate with one identity provider among service providers gives that one", "aggregate-one-idp.xml",
			"https://sso.jumpcloud.com/saml2/iechor", "https://sso.jumpcloud.com/saml2/iechor",
			"jumpcloud.idp.example", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := metadata.Parse(read(t, tc.file), 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.EntityID != tc.entityID || p.SSOURL != tc.ssoURL || subjects(p) != tc.certs {
				t.Fatalf("got %q %q [%s]", p.EntityID, p.SSOURL, subjects(p))
			}
			hasEmail := false
			for _, f := range p.NameIDFormats {
				hasEmail = hasEmail || f == metadata.NameIDFormatEmail
			}
			if hasEmail != tc.emailNameID || len(p.Attributes) != tc.attributes {
				t.Fatalf("name id formats %v, attributes %v", p.NameIDFormats, p.Attributes)
			}
		})
	}
}

func TestMalformedAndHostileMetadataIsRefused(t *testing.T) {
	t.Parallel()
	huge := append([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><!-- `),
		bytes.Repeat([]byte("A"), metadata.DefaultMaxBytes)...)
	huge = append(huge, []byte(" --></md:EntityDescriptor>")...)
	deep := []byte(strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000))
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"a document with a DOCTYPE", read(t, "hostile/dtd.xml"), metadata.ErrDTD},
		{"the billion laughs", read(t, "hostile/billion-laughs.xml"), metadata.ErrDTD},
		{"an external entity", read(t, "hostile/external-entity.xml"), metadata.ErrDTD},
		{"a DOCTYPE in lower case", read(t, "hostile/lowercase-doctype.xml"), metadata.ErrDTD},
		{"a reference to an undeclared entity", read(t, "hostile/undeclared-entity.xml"), metadata.ErrMalformed},
		{"a document over the size cap", huge, metadata.ErrTooLarge},
		{"a deeply nested document", deep, metadata.ErrMalformed},
		{"UTF-16", read(t, "hostile/utf16.xml"), metadata.ErrNotUTF8},
		{"a declared Latin-1 encoding", read(t, "hostile/latin1-declared.xml"), metadata.ErrNotUTF8},
		{"bytes that are not UTF-8", []byte("<a>\xff\xfe</a>"), metadata.ErrNotUTF8},
		{"garbage", read(t, "hostile/garbage.xml"), metadata.ErrMalformed},
		{"a truncated document", read(t, "hostile/truncated.xml"), metadata.ErrMalformed},
		{"an HTML page", read(t, "hostile/not-metadata.xml"), metadata.ErrNotMetadata},
		{"metadata of service providers only", read(t, "hostile/no-idp-descriptor.xml"), metadata.ErrNoIDPDescriptor},
		{"an identity provider of SAML 1.1 only", read(t, "hostile/saml11-only.xml"), metadata.ErrNoIDPDescriptor},
		{"an aggregate of two identity providers", read(t, "aggregate-two-idps.xml"), metadata.ErrMultipleIdPs},
		{"no signing key", read(t, "hostile/no-signing-key.xml"), metadata.ErrNoSigningKey},
		{"no HTTP-Redirect sign-in URL", read(t, "hostile/no-redirect-binding.xml"), metadata.ErrNoRedirectBinding},
		{"an http sign-in URL", read(t, "hostile/http-sso-url.xml"), metadata.ErrInsecureSSOURL},
		{"a certificate that is not one", read(t, "hostile/bad-certificate.xml"), metadata.ErrBadCertificate},
		{"no entityID", read(t, "hostile/no-entity-id.xml"), metadata.ErrNoEntityID},
		{"an empty document", nil, metadata.ErrMalformed},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			p, err := metadata.Parse(tc.data, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse: %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

func TestSeveralIdentityProvidersAreNamedSoTheAdminCanPick(t *testing.T) {
	t.Parallel()
	_, err := metadata.Parse(read(t, "aggregate-two-idps.xml"), 0)
	var multi *metadata.MultipleIdPsError
	if !errors.As(err, &multi) || strings.Join(multi.EntityIDs, " ") != "https://sso.jumpcloud.com/saml2/iechor http://www.okta.com/exk1a2b3c4d5e6f7g8h9" {
		t.Fatalf("error %v", err)
	}
}

func TestMetadataIsFetchedOverHTTPSWithLimits(t *testing.T) {
	t.Parallel()
	okta := read(t, "okta.xml")
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(okta) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(bytes.Repeat([]byte("x"), 8192)) })
	mux.HandleFunc("/missing", http.NotFound)
	release := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		}
		_, _ = w.Write(okta)
	})
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/metadata", http.StatusFound)
	})
	mux.HandleFunc("/to-https", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/metadata", http.StatusFound)
	})
	mux.HandleFunc("/to-cloud-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	tls := httptest.NewTLSServer(mux)
	defer tls.Close()
	defer close(release) // before the server closes, which waits for its handlers
	roots := x509.NewCertPool()
	roots.AddCert(tls.Certificate())
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tls.URL, "https://"))

	// idp.example.com resolves to 127.0.0.1, where the test server is; the certificate is for
	// example.com, which resolves there too.
	dns := dnstest.Start(t)
	dns.SetA("idp.example.com")
	dns.SetA("example.com")
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dns.Addr())
	}}
	options := outbound.Options{Timeout: 20 * time.Second, MaxBytes: 4096, RootCAs: roots, Resolver: resolver}
	strict := metadata.NewFetcher(options)
	options.AllowPrivate = true
	private := metadata.NewFetcher(options)
	options.Timeout = 300 * time.Millisecond
	impatient := metadata.NewFetcher(options)

	ctx := context.Background()
	for _, tc := range []struct {
		name, url string
		want      error
		fetcher   *metadata.Fetcher
	}{
		{"an https URL is fetched when private addresses are allowed", "https://example.com:" + port + "/metadata", nil, private},
		{"a redirect to another https URL is followed", tls.URL + "/to-https", nil, private},
		{"a host name that resolves to loopback is refused by default", "https://idp.example.com:" + port + "/metadata", outbound.ErrForbiddenAddress, strict},
		{"a loopback address is refused by default", tls.URL + "/metadata", outbound.ErrForbiddenAddress, strict},
		{"http on loopback is refused before any request", strings.Replace(tls.URL, "https", "http", 1) + "/metadata", secureurl.ErrInsecure, private},
		{"http elsewhere is refused before any request", "http://idp.example.com/metadata", secureurl.ErrInsecure, private},
		{"a redirect to http is refused", tls.URL + "/to-http", outbound.ErrNotHTTPS, private},
		{"a redirect to the cloud metadata address is refused", tls.URL + "/to-cloud-metadata", outbound.ErrForbiddenAddress, private},
		{"a document over the cap is refused as an inline one is", tls.URL + "/huge", metadata.ErrTooLarge, private},
		{"an error status is reported", tls.URL + "/missing", outbound.ErrBadStatus, private},
		{"a server that does not answer in time is given up", tls.URL + "/slow", outbound.ErrTimeout, impatient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			body, err := tc.fetcher.Fetch(ctx, tc.url)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Fetch: %v, want %v", err, tc.want)
			}
			if tc.want == nil && !bytes.Equal(body, okta) {
				t.Fatal("fetched another document")
			}
			var fe *metadata.FetchError
			if errors.As(err, &fe) && (!errors.Is(err, metadata.ErrFetch) || !strings.HasPrefix(err.Error(), "The metadata URL could not be fetched. The ")) {
				t.Fatalf("message %q", err)
			}
			if tc.fetcher == impatient && time.Since(start) > 2*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}
