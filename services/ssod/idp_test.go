package ssod_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml/logger"
	"github.com/crewjam/saml/samlidp"
	"golang.org/x/crypto/bcrypt"
)

// testIdP is a real SAML identity provider that nobody here wrote: crewjam/saml's samlidp, on
// loopback, with its own key, its own login form and its own users.
type testIdP struct {
	server *samlidp.Server
	url    string
	key    *rsa.PrivateKey
	cert   *x509.Certificate
}

func startIdP(t testing.TB) *testIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test IdP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://" + lis.Addr().String())
	srv, err := samlidp.New(samlidp.Options{
		URL: *base, Key: key, Certificate: cert, Store: &samlidp.MemoryStore{},
		Logger: logger.DefaultLogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: lis, Config: &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}}
	hs.Start()
	t.Cleanup(hs.Close)
	return &testIdP{server: srv, url: base.String(), key: key, cert: cert}
}

// addUser creates a user through the IdP's own admin API. The password goes as a bcrypt hash of
// the lowest cost, which the IdP checks at login as it checks any: a plain password would be
// hashed at bcrypt's default cost, which takes over a second under the race detector, at every
// login too.
func (idp *testIdP) addUser(t testing.TB, name, password, email, commonName string, groups ...string) {
	t.Helper()
	hashed, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"name": name, "hashed_password": hashed, "email": email, "common_name": commonName, "groups": groups,
	})
	idp.put(t, "/users/"+name, "application/json", body)
}

// addServiceProvider registers our SP metadata with the IdP.
func (idp *testIdP) addServiceProvider(t testing.TB, id string, metadata []byte) {
	t.Helper()
	idp.put(t, "/services/"+id, "application/samlmetadata+xml", metadata)
}

func (idp *testIdP) put(t testing.TB, path, contentType string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, idp.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("IdP PUT %s: %d %s", path, resp.StatusCode, b)
	}
}

func (idp *testIdP) metadata(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(idp.url + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("IdP metadata: %d", resp.StatusCode)
	}
	return string(b)
}

// pkce returns a code verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// posted is what an IdP would make a browser post to our ACS.
type posted struct {
	acs, samlResponse, relayState string
	binding                       *http.Cookie
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	formField  = func(name string) *regexp.Regexp {
		return regexp.MustCompile(`name="` + name + `" value="([^"]*)"`)
	}
)

// noRedirects is an HTTP client that shows redirects instead of following them.
func noRedirects(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// signInAtIdP plays the browser without a browser, for the negative cases: it follows redirectURL
// (our /sso/begin link) to the IdP, logs in on the IdP's form, and returns what the IdP's answer
// page would post to our ACS, with the binding cookie our edge set.
func signInAtIdP(t testing.TB, redirectURL, user, password string) posted {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := noRedirects(jar)
	resp, err := c.Get(redirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("begin: %d", resp.StatusCode)
	}
	var binding *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.Contains(ck.Name, "iechor-sso-binding") {
			binding = ck
		}
	}
	if binding == nil || !binding.HttpOnly || !binding.Secure || binding.SameSite != http.SameSiteNoneMode || binding.Path != "/" {
		t.Fatalf("binding cookie %+v: want __Host-, Secure, HttpOnly, SameSite=None, Path=/", binding)
	}
	loginPage := get(t, c, resp.Header.Get("Location"))
	action := formAction.FindStringSubmatch(loginPage)
	if action == nil {
		t.Fatalf("no login form at the IdP: %s", loginPage)
	}
	form := url.Values{
		"user": {user}, "password": {password},
		"SAMLRequest": {html.UnescapeString(formField("SAMLRequest").FindStringSubmatch(loginPage)[1])},
		"RelayState":  {html.UnescapeString(formField("RelayState").FindStringSubmatch(loginPage)[1])},
	}
	target, _ := url.Parse(resp.Header.Get("Location"))
	formURL, _ := target.Parse(html.UnescapeString(action[1]))
	answer, err := c.PostForm(formURL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer answer.Body.Close()
	page, _ := io.ReadAll(answer.Body)
	acs := formAction.FindStringSubmatch(string(page))
	samlResponse := formField("SAMLResponse").FindStringSubmatch(string(page))
	relay := formField("RelayState").FindStringSubmatch(string(page))
	if acs == nil || samlResponse == nil || relay == nil {
		t.Fatalf("the IdP did not answer with a SAMLResponse form: %d %s", answer.StatusCode, page)
	}
	return posted{acs: html.UnescapeString(acs[1]), samlResponse: html.UnescapeString(samlResponse[1]),
		relayState: html.UnescapeString(relay[1]), binding: binding}
}

func get(t testing.TB, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// postACS posts to the ACS as the browser would, with the given cookie (nil: none), and returns the
// status, the redirect and the page.
func postACS(t testing.TB, p posted, cookie *http.Cookie) (int, string, string) {
	t.Helper()
	form := url.Values{"SAMLResponse": {p.samlResponse}, "RelayState": {p.relayState}}
	req, _ := http.NewRequest(http.MethodPost, p.acs, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := noRedirects(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}
