package requestcheck

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCheckStartLogin is what the checks add to every login:start: routing and the body walk.
func BenchmarkCheckStartLogin(b *testing.B) {
	c := checker(b)
	body := `{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_DESKTOP","version":"4.5.0"},` +
		`"returnTo":"http://127.0.0.1:5555/cb","codeChallenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "http://edge/v1/login:start", strings.NewReader(body))
		if _, err := c.Check(r); err != nil {
			b.Fatal(err)
		}
	}
}
