// Package outbound is the one way the suite fetches a URL that someone outside it chose: IdP
// metadata today, OIDC discovery documents and JWKS next. Such a URL is an admin's to pick, so
// without care it would make the service reach whatever its own network holds: loopback ports,
// private hosts, the cloud metadata service at 169.254.169.254.
//
// The rules: https only, on the first URL and on every redirect; at most MaxRedirects redirects;
// the body capped at MaxBytes (after decompression) and the whole exchange at Timeout. Loopback,
// private, carrier-grade NAT, link-local, unique-local, multicast, unspecified, documentation and
// reserved addresses are refused; AllowPrivate opens the private, loopback, CGNAT and unique-local
// blocks only (link-local, where cloud metadata lives, stays closed).
//
// The address check runs in the dialer's Control hook, on the address actually dialled: after DNS
// resolution, for every address Go tries and for every redirect. A host name that resolves to a
// private address, or resolves to a public one for a check and to a private one for the connection
// (DNS rebinding), is refused all the same. No proxy is used, not even one named by HTTPS_PROXY in
// the environment: through a proxy the dialled address would be the proxy's, and the check would see
// nothing of where the request goes.
//
// Nothing here connects anywhere without that check, and no error it returns carries library
// wording: each is an *Error whose message is written for the admin who typed the URL.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Kinds of failure. Every error of this package wraps exactly one of them.
var (
	// ErrInvalidURL means the text is not an absolute URL with a host.
	ErrInvalidURL = errors.New("not an absolute URL")
	// ErrNotHTTPS means the URL, or a redirect, is not https.
	ErrNotHTTPS = errors.New("not https")
	// ErrForbiddenAddress means the host is, or resolves to, an address outbound requests do not reach.
	ErrForbiddenAddress = errors.New("address not allowed")
	// ErrTooManyRedirects means the server redirected more than MaxRedirects times.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrTooLarge means the body is over MaxBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrTimeout means the exchange did not finish within Timeout (or the caller's deadline).
	ErrTimeout = errors.New("timed out")
	// ErrUnreachable means the host name does not resolve or nothing answered at the address.
	ErrUnreachable = errors.New("unreachable")
	// ErrTLS means the TLS handshake failed: most often a certificate that is not trusted or not for
	// the host.
	ErrTLS = errors.New("TLS handshake failed")
	// ErrBadStatus means the server answered with a status other than 200.
	ErrBadStatus = errors.New("unexpected status")
)

// Error is a failed outbound request: its kind (one of the Err values, for errors.Is), and a
// message for the person who chose the URL.
type Error struct {
	Kind    error
	Message string
	// Status is the HTTP status of an ErrBadStatus.
	Status int
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBytes     = 1 << 20
	DefaultMaxRedirects = 5
)

// Options are the limits of a Client. The zero value is the strict default.
type Options struct {
	// Timeout bounds a whole exchange: dialling, TLS, redirects and reading the body.
	Timeout time.Duration
	// MaxBytes caps a response body.
	MaxBytes int64
	// MaxRedirects caps the redirects followed.
	MaxRedirects int
	// AllowPrivate lets requests reach loopback, private (RFC 1918), carrier-grade NAT and
	// unique-local addresses: for an identity provider inside the company network, or a test.
	AllowPrivate bool
	// RootCAs replaces the system's roots: tests give the root of their httptest TLS server.
	RootCAs *x509.CertPool
	// Resolver resolves host names; net.DefaultResolver when nil. Tests point it at a DNS server of
	// their own.
	Resolver *net.Resolver
	// PrivateSetting names the setting that sets AllowPrivate (CONNECTION_METADATA_ALLOW_PRIVATE),
	// for the refusal of a private address to point at it.
	PrivateSetting string

	// treatAsPublic lets tests stand a loopback server in for a public one (export_test.go).
	treatAsPublic []netip.Prefix
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	return o
}

// Client makes outbound requests under the package's rules.
type Client struct {
	http     *http.Client
	maxBytes int64
}

// New returns a client with the options' limits.
func New(o Options) *Client {
	o = o.withDefaults()
	dialer := &net.Dialer{
		Timeout:  o.Timeout,
		Resolver: o.Resolver,
		Control:  o.control,
	}
	transport := &http.Transport{
		// No proxy, whatever the environment says: see the package comment.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxIdleConns:           8,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	maxRedirects := o.MaxRedirects
	return &Client{
		maxBytes: o.MaxBytes,
		http: &http.Client{
			Transport: &capped{next: transport, max: o.MaxBytes},
			Timeout:   o.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > maxRedirects {
					return fail(ErrTooManyRedirects, "The server redirected more than %d times.", maxRedirects)
				}
				if !strings.EqualFold(req.URL.Scheme, "https") {
					return fail(ErrNotHTTPS, "The server redirected to %s, which is not https.", redact(req.URL))
				}
				return nil
			},
		},
	}
}

// HTTPClient returns the client's *http.Client, for libraries that take one (an OIDC client): it
// applies the same address check, redirect rules, body cap and timeout. Its errors are the
// library's; Explain turns them into an *Error.
func (c *Client) HTTPClient() *http.Client { return c.http }

// Get fetches rawURL and returns its body, which must come with status 200. accept is the Accept
// header, if any.
func (c *Client) Get(ctx context.Context, rawURL, accept string) ([]byte, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(ErrInvalidURL, "The URL is not valid.")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, Explain(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		e := fail(ErrBadStatus, "The server answered %d %s instead of 200 OK.", resp.StatusCode, http.StatusText(resp.StatusCode))
		e.Status = resp.StatusCode
		return nil, e
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, Explain(err)
	}
	return body, nil
}

// CheckURL parses raw and accepts it only as an absolute https URL with a host and without user
// information (which would put a password in a log).
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		return nil, fail(ErrInvalidURL, "The URL is not an absolute URL such as https://idp.example.com/metadata.")
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return nil, fail(ErrNotHTTPS, "The URL must use https.")
	}
	return u, nil
}

// control is the dialer's Control hook: it runs once the socket exists and before it connects, with
// the address about to be dialled (after DNS), and refuses the forbidden blocks.
func (o Options) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fail(ErrForbiddenAddress, "The host's address %s could not be checked, so it is not reached.", address)
	}
	addr := ap.Addr().WithZone("")
	for _, p := range o.treatAsPublic {
		if p.Contains(addr) {
			return nil
		}
	}
	if r, ok := allowed(addr, o.AllowPrivate); !ok {
		hint := ""
		if r.private && o.PrivateSetting != "" {
			hint = " unless the operator sets " + o.PrivateSetting + "=true"
		}
		return fail(ErrForbiddenAddress, "The host resolves to %s, %s, which this service does not connect to%s.", addr, r.what, hint)
	}
	return nil
}

// Explain turns an error of an exchange into an *Error, reading what the standard library and the
// rules above reported without passing their wording on.
func Explain(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &netErr) && netErr.Timeout():
		return fail(ErrTimeout, "The server did not answer in time.")
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fail(ErrUnreachable, "The host name %s does not resolve.", dnsErr.Name)
		}
		return fail(ErrUnreachable, "The host name %s could not be resolved.", dnsErr.Name)
	case errors.As(err, &hostnameErr):
		return fail(ErrTLS, "The server's TLS certificate is not valid for this host name.")
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &invalidCert):
		return fail(ErrTLS, "The server's TLS certificate is not trusted (expired, self-signed or from an unknown authority).")
	case errors.As(err, &recordErr), errors.As(err, &alert):
		return fail(ErrTLS, "The server did not complete a TLS handshake: is it serving https on this port?")
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(ErrUnreachable, "The server refused the connection.")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fail(ErrUnreachable, "The server's network cannot be reached.")
	}
	return fail(ErrUnreachable, "The server could not be reached, or closed the connection.")
}

// redact drops the query of a URL shown in a message: it may carry a token.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.User = "", "", nil
	return c.String()
}

// capped caps response bodies: a body announced over the cap is refused before it is read, and
// any other stops with ErrTooLarge one byte past it.
type capped struct {
	next http.RoundTripper
	max  int64
}

func (c *capped) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		_ = resp.Body.Close()
		return nil, tooLarge(c.max)
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: c.max, max: c.max}
	return resp, nil
}

func tooLarge(max int64) *Error {
	return fail(ErrTooLarge, "The document is larger than %d bytes.", max)
}

type cappedBody struct {
	io.ReadCloser
	left int64
	max  int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, tooLarge(b.max)
	}
	// Read one byte more than is left, to tell "exactly at the cap" from "over it".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), tooLarge(b.max)
	}
	return n, err
}
