// Package opaque makes random identifiers and tokens that carry no meaning and cannot be guessed.
package opaque

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"strings"
)

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Token returns n random bytes as unpadded URL-safe base64.
func Token(n int) string {
	return base64.RawURLEncoding.EncodeToString(Bytes(n))
}

// Bytes returns n random bytes. crypto/rand never fails on supported platforms.
func Bytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ID returns prefix + "_" + 16 random bytes in lower-case base32 (26 characters), an identifier
// that is safe in URLs, resource names and DNS labels, such as conn_3x7k....
func ID(prefix string) string {
	s := lowerBase32.EncodeToString(Bytes(16))
	if prefix == "" {
		return s
	}
	return prefix + "_" + s
}

// LowerToken returns n random bytes in lower-case base32, for values that people copy by hand or
// that pass through case-insensitive systems such as DNS.
func LowerToken(n int) string {
	return strings.ToLower(lowerBase32.EncodeToString(Bytes(n)))
}
