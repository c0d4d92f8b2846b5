package ssod_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/iechor/sso/services/platform/opaque"
)

// signedByIdP makes the IdP's answer to the AuthnRequest at idpURL (the redirect our edge sent the
// browser to) for a user, exactly as samlidp's /sso handler would after its login form: the same
// library code builds, signs and encrypts it with the IdP's key.
func signedByIdP(b testing.TB, idp *testIdP, idpURL, email string, encrypt bool) (samlResponse, relayState, acs string) {
	b.Helper()
	r, err := http.NewRequest(http.MethodGet, idpURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	req, err := saml.NewIdpAuthnRequest(&idp.server.IDP, r)
	if err != nil {
		b.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		b.Fatal(err)
	}
	if !encrypt {
		// The IdP encrypts when our metadata offers an encryption certificate; an IdP admin who does
		// not want encryption sees a metadata without it.
		sp := *req.SPSSODescriptor
		sp.KeyDescriptors = slices.DeleteFunc(slices.Clone(sp.KeyDescriptors), func(k saml.KeyDescriptor) bool { return k.Use != "signing" })
		req.SPSSODescriptor = &sp
	}
	now := time.Now()
	session := &saml.Session{
		ID: opaque.Token(16), CreateTime: now, ExpireTime: now.Add(time.Hour), Index: opaque.Token(8),
		NameID: email, NameIDFormat: string(saml.EmailAddressNameIDFormat), UserEmail: email, UserName: email,
		UserCommonName: "Load Test User", Groups: []string{"eng:devs"},
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		b.Fatal(err)
	}
	if err := req.MakeAssertionEl(); err != nil {
		b.Fatal(err)
	}
	if err := req.MakeResponse(); err != nil {
		b.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	raw, err := doc.WriteToBytes()
	if err != nil {
		b.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw), req.RelayState, req.ACSEndpoint.Location
}

// prepared is one sign-in, answered by the IdP, waiting to be posted.
type prepared struct {
	post     posted
	verifier string
	email    string
}

// BenchmarkSignIn is the bounded load test of the whole path behind the IdP: post the IdP's answer
// to the ACS (validation, just-in-time provisioning of a new user, code), then redeem the code for
// an access token — on PostgreSQL and Redis, over loopback. Every sign-in is a different new user
// with its own login:start and its own response, signed (and encrypted) by the IdP before the timed
// window starts. It reports sign-ins per second and the p50 and p99 latency of one sign-in.
func BenchmarkSignIn(b *testing.B) {
	for _, variant := range []struct {
		name    string
		encrypt bool
		workers int
	}{
		{"signed", false, 4},
		{"signed-and-encrypted", true, 4},
	} {
		b.Run(variant.name, func(b *testing.B) { benchmarkSignIn(b, variant.encrypt, variant.workers) })
	}
}

func benchmarkSignIn(b *testing.B, encrypt bool, workers int) {
	w := setUpWorld(b, map[string]string{
		"GATEWAY_RATE_LIMIT_START_IP": "0", "GATEWAY_RATE_LIMIT_START_EMAIL": "0", "GATEWAY_RATE_LIMIT_ACS_IP": "0",
		"GATEWAY_RATE_LIMIT_REDEEM_IP": "0", "LOG_LEVEL": "error",
	})
	run := opaque.LowerToken(4)
	jar := noRedirects(nil)
	signIns := make([]prepared, b.N)
	for i := range signIns {
		verifier, challenge := pkce()
		email := fmt.Sprintf("load-%s-%d@acme.example", run, i)
		started := w.start(b, email, challenge)
		redirectURL, _ := started.body["redirectUrl"].(string)
		if started.status != 200 || redirectURL == "" {
			b.Fatalf("login:start: %d %s", started.status, started.raw)
		}
		resp, err := jar.Get(redirectURL)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		var binding *http.Cookie
		for _, c := range resp.Cookies() {
			binding = c
		}
		samlResponse, relayState, acs := signedByIdP(b, w.idp, resp.Header.Get("Location"), email, encrypt)
		signIns[i] = prepared{post: posted{acs: acs, samlResponse: samlResponse, relayState: relayState, binding: binding}, verifier: verifier}
	}

	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(signIns) {
					return
				}
				t0 := time.Now()
				if err := signIn(client, w.s.base, signIns[i]); err != nil {
					b.Error(err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "signins/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// signIn posts one prepared answer to the ACS and redeems the code it yields.
func signIn(c *http.Client, base string, p prepared) error {
	form := url.Values{"SAMLResponse": {p.post.samlResponse}, "RelayState": {p.post.relayState}}
	req, _ := http.NewRequest(http.MethodPost, p.post.acs, bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: p.post.binding.Name, Value: p.post.binding.Value})
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		return fmt.Errorf("ACS answered %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	body := fmt.Sprintf(`{"code":%q,"codeVerifier":%q}`, loc.Query().Get("code"), p.verifier)
	resp, err = c.Post(base+"/v1/login:redeem", "application/json", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("redeem answered %d", resp.StatusCode)
	}
	return nil
}
