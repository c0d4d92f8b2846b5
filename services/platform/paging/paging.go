// Package paging encodes the page tokens of List methods and bounds page sizes.
//
// A token is opaque to clients: it carries the sort key of the last item returned and a fingerprint
// of the query it belongs to, so that a token used with another query is refused rather than
// silently giving a wrong page.
package paging

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/fnv"
	"strconv"
)

const (
	// DefaultSize is the page size when the client asks for none.
	DefaultSize = 50
	// MaxSize is the largest page served; larger requests are served this many.
	MaxSize = 500
)

// ErrBadToken means the page token is malformed or belongs to another query.
var ErrBadToken = errors.New("invalid page token")

// ErrBadSize means the page size is negative.
var ErrBadSize = errors.New("page size must not be negative")

// Size returns the page size to use for a requested size.
func Size(requested int32) (int, error) {
	switch {
	case requested < 0:
		return 0, ErrBadSize
	case requested == 0:
		return DefaultSize, nil
	case requested > MaxSize:
		return MaxSize, nil
	}
	return int(requested), nil
}

type token struct {
	After string `json:"a"`
	Query string `json:"q"`
}

// Fingerprint identifies a query by its parameters, other than its page size and token.
func Fingerprint(parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// Encode returns the token for the page after the item whose sort key is after.
func Encode(after, fingerprint string) string {
	b, _ := json.Marshal(token{After: after, Query: fingerprint})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the sort key carried by tok; an empty token means the first page ("").
func Decode(tok, fingerprint string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", ErrBadToken
	}
	var t token
	if err := json.Unmarshal(b, &t); err != nil || t.Query != fingerprint {
		return "", ErrBadToken
	}
	return t.After, nil
}
