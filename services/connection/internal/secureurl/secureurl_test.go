package secureurl_test

import (
	"errors"
	"testing"

	"github.com/iechor/sso/services/connection/internal/secureurl"
)

func TestOnlyHTTPSOrLoopbackHTTPIsAccepted(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      error
	}{
		{"an https URL is accepted", "https://idp.example.com/sso/saml", nil},
		{"an https URL with a query is accepted", "https://accounts.google.com/o/saml2/idp?idpid=C01", nil},
		{"http on localhost is accepted", "http://localhost:8081/sso", nil},
		{"http on 127.0.0.1 is accepted", "http://127.0.0.1:8081/sso", nil},
		{"http on [::1] is accepted", "http://[::1]:8081/sso", nil},
		{"http on another host is refused", "http://idp.example.com/sso", secureurl.ErrInsecure},
		{"http on a private address is refused", "http://10.0.0.5/sso", secureurl.ErrInsecure},
		{"a host that only looks local is refused", "http://localhost.example.com/sso", secureurl.ErrInsecure},
		{"ftp is refused", "ftp://idp.example.com/sso", secureurl.ErrInvalid},
		{"javascript is refused", "javascript:alert(1)", secureurl.ErrInvalid},
		{"a relative URL is refused", "/sso/saml", secureurl.ErrInvalid},
		{"a URL without a host is refused", "https:///sso", secureurl.ErrInvalid},
		{"user information is refused", "https://user:pass@idp.example.com/sso", secureurl.ErrInvalid},
		{"a fragment is refused", "https://idp.example.com/sso#x", secureurl.ErrInvalid},
		{"spaces are refused", "https://idp.example.com/s so", secureurl.ErrInvalid},
		{"an empty URL is refused", "", secureurl.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secureurl.Check(tc.url)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Check(%q): %v, want %v", tc.url, err, tc.want)
			}
		})
	}
}

func TestFetchedURLsAreHTTPSWithoutException(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      error
	}{
		{"an https URL is accepted", "https://idp.example.com/metadata", nil},
		{"an https URL on loopback passes here: the address check is the fetcher's", "https://127.0.0.1:8443/metadata", nil},
		{"http on loopback is refused", "http://127.0.0.1:8081/metadata", secureurl.ErrInsecure},
		{"http on localhost is refused", "http://localhost/metadata", secureurl.ErrInsecure},
		{"http elsewhere is refused", "http://idp.example.com/metadata", secureurl.ErrInsecure},
		{"a relative URL is refused", "/metadata", secureurl.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secureurl.CheckFetched(tc.url)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CheckFetched(%q): %v, want %v", tc.url, err, tc.want)
			}
		})
	}
}
