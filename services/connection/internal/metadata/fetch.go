package metadata

import (
	"context"
	"errors"

	"github.com/iechor/sso/services/connection/internal/secureurl"
	"github.com/iechor/sso/services/platform/outbound"
)

// ErrFetch means the metadata URL could not be fetched; the *FetchError that wraps it says why.
var ErrFetch = errors.New("the metadata URL could not be fetched")

// FetchError is a failed fetch of a metadata URL. Its message is written for the admin who gave the
// URL (what the server or the address check said, never a library's words); errors.Is matches
// ErrFetch and the outbound kind (outbound.ErrForbiddenAddress, outbound.ErrTimeout, ...).
type FetchError struct {
	Err *outbound.Error
}

func (e *FetchError) Error() string   { return "The metadata URL could not be fetched. " + e.Err.Message }
func (e *FetchError) Unwrap() []error { return []error{ErrFetch, e.Err} }

// Fetcher downloads IdP metadata from a URL an admin gives, once, through the outbound client:
// https only, on public addresses unless private ones are allowed, checked on the address dialled
// and on every redirect, with a time and a size cap.
type Fetcher struct {
	client *outbound.Client
}

// NewFetcher returns a fetcher under o's limits.
func NewFetcher(o outbound.Options) *Fetcher {
	return &Fetcher{client: outbound.New(o)}
}

// Fetch downloads the document at rawURL and returns its bytes; Parse reads them. A URL that is not
// https fails as any URL an admin types does (secureurl.ErrInsecure, ErrInvalid); a document over the
// cap with ErrTooLarge, as an inline one does; everything else with a *FetchError.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := secureurl.CheckFetched(rawURL)
	if err != nil {
		return nil, err
	}
	body, err := f.client.Get(ctx, u.String(), "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	if err != nil {
		oe := outbound.Explain(err)
		if errors.Is(oe, outbound.ErrTooLarge) {
			return nil, ErrTooLarge
		}
		return nil, &FetchError{Err: oe}
	}
	return body, nil
}
