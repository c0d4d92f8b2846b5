package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/iechor/sso/services/connection/secureurl"
)

// ErrFetch means the metadata URL could not be fetched; the wrapped detail says why.
var ErrFetch = errors.New("the metadata URL could not be fetched")

// maxRedirects bounds the redirects followed; each must itself be https (or loopback http).
const maxRedirects = 5

// Fetcher downloads IdP metadata from a URL an admin gives, once, with a timeout and a size cap.
type Fetcher struct {
	// Client does the requests. Tests inject httptest's TLS client here. The redirect policy below is
	// applied to whatever client is given.
	Client *http.Client
	// Timeout bounds the whole fetch.
	Timeout time.Duration
	// MaxBytes caps the document.
	MaxBytes int
}

// NewFetcher returns a fetcher whose client refuses to connect to private, link-local, multicast
// and unspecified addresses unless allowPrivate is set: admins choose the URL, and the service must
// not become their way into the network it runs in (cloud metadata endpoints live on link-local
// addresses). Loopback stays reachable for development.
func NewFetcher(timeout time.Duration, maxBytes int, allowPrivate bool) *Fetcher {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !secureurl.IsPublicIP(ip) {
				return fmt.Errorf("refusing to connect to %s: not a public address", host)
			}
			return nil
		}
	}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Fetcher{Client: &http.Client{Transport: transport}, Timeout: timeout, MaxBytes: maxBytes}
}

// Fetch downloads the document at rawURL and returns its bytes; Parse reads them.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := secureurl.Check(rawURL)
	if err != nil {
		return nil, err
	}
	client := http.DefaultClient
	if f.Client != nil {
		client = f.Client
	}
	c := *client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if _, err := secureurl.Check(req.URL.String()); err != nil {
			return fmt.Errorf("redirect to a URL that is not allowed: %w", err)
		}
		return nil
	}
	if f.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: the server answered %s", ErrFetch, resp.Status)
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if len(body) > limit {
		return nil, ErrTooLarge
	}
	return body, nil
}
