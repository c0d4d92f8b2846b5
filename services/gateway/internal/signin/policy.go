// Package signin runs the SP-initiated sign-in at the edge: it starts a sign-in for a work email
// (JSON for Hub and Desktop, plain links for browsers), binds it to the browser that will complete
// it, hands the IdP's answer to the assertion service, has the user provisioned, and gives the client
// a one-time code that it redeems, with its PKCE verifier, for an access token.
//
// It decides nothing about trust itself: the assertion service validates, the provisioning service
// grants. It never redirects anywhere that is not on the return_to allow-list.
package signin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Policy is what the edge enforces around a sign-in.
type Policy struct {
	// PublicBaseURL is the edge's own URL, for the links it hands out and the tokens' issuer.
	PublicBaseURL *url.URL
	// ReturnToOrigins are the origins (scheme://host[:port]) a sign-in may return to: the Hub.
	ReturnToOrigins []string
	// AllowLoopbackReturn admits Desktop's loopback redirect http://127.0.0.1:{port}/... (and [::1]).
	AllowLoopbackReturn bool
	// DefaultReturnTo is where a bookmarked sign-in link returns when it names no return_to.
	DefaultReturnTo string
	// MinDesktopVersion is the oldest Desktop that may sign in with SSO.
	MinDesktopVersion string
	// Session lengths when neither the IdP nor the connection says.
	HubSession     time.Duration
	DesktopSession time.Duration
	// CodeTTL is how long a login code may wait to be redeemed; IntentTTL how long a started
	// sign-in may wait for its browser.
	CodeTTL   time.Duration
	IntentTTL time.Duration
	// SecureCookies marks the binding cookie Secure with the __Host- prefix. Off only for tests over
	// plain http on a host browsers do not treat as secure.
	SecureCookies bool
}

// returnToAllowed reports whether the sign-in may send the browser to raw.
func (p Policy) returnToAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" || u.Host == "" || u.Opaque != "" {
		return false
	}
	origin := u.Scheme + "://" + u.Host
	for _, o := range p.ReturnToOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	if p.AllowLoopbackReturn && u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && u.Port() != "" {
			return true
		}
	}
	return false
}

// version is a dotted release number such as 4.4.2.
type version [3]int

var errBadVersion = errors.New("not a version such as 4.4.2")

func parseVersion(s string) (version, error) {
	var v version
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	// Pre-release and build suffixes (4.5.0-beta.1, 4.5.0+123) do not change the release compared.
	if i := strings.IndexAny(s, "-+ "); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 || parts[0] == "" {
		return v, errBadVersion
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1_000_000 {
			return v, errBadVersion
		}
		v[i] = n
	}
	return v, nil
}

func (v version) less(o version) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

// desktopTooOld reports whether a Desktop version is older than the minimum.
func (p Policy) desktopTooOld(got string) (bool, error) {
	v, err := parseVersion(got)
	if err != nil {
		return false, fmt.Errorf("desktop version %q: %w", got, err)
	}
	minimum, err := parseVersion(p.MinDesktopVersion)
	if err != nil {
		return false, err
	}
	return v.less(minimum), nil
}
