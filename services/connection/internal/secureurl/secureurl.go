// Package secureurl decides which URLs the connection service accepts for anything that carries a
// sign-in or a secret: identity provider sign-in URLs, OIDC issuers, metadata URLs and our own public
// base URL. They must be absolute https URLs; plain http is accepted only for loopback hosts in the
// URLs that browsers follow, so that a developer can run an identity provider on their laptop. URLs
// that the service itself fetches (CheckFetched) are https without exception. It never fetches
// anything: platform/outbound does, and checks the addresses it connects to.
package secureurl

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
)

// MaxLength bounds a URL; sign-in URLs are far shorter.
const MaxLength = 2048

var (
	// ErrInvalid means the text is not an absolute http(s) URL with a host.
	ErrInvalid = errors.New("not an absolute URL such as https://idp.example.com/sso")
	// ErrInsecure means the URL is not https where https is required: everywhere but http on a
	// loopback host in a URL that browsers follow.
	ErrInsecure = errors.New("the URL must use https")
)

// Check parses raw and applies the rules above. Fragments and user information are refused: neither
// has a place in a sign-in URL, and user information would put a password in our store.
func Check(raw string) (*url.URL, error) {
	if raw == "" || len(raw) > MaxLength || strings.ContainsAny(raw, " \t\r\n") {
		return nil, ErrInvalid
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, ErrInvalid
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u, nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return u, nil
		}
		return nil, ErrInsecure
	}
	return nil, ErrInvalid
}

// CheckFetched applies Check to a URL that the service itself will fetch, such as an IdP metadata
// URL, and refuses plain http even on loopback: the service's own loopback is no developer's laptop.
func CheckFetched(raw string) (*url.URL, error) {
	u, err := Check(raw)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return nil, ErrInsecure
	}
	return u, nil
}

// IsLoopbackHost reports whether host is localhost (or a name under it) or a loopback address.
func IsLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ip.IsLoopback()
	}
	return false
}
