// Package seal encrypts the secrets that the connection service keeps at rest (SP private keys, OIDC
// client secrets) with AES-256-GCM under the service's encryption key.
//
// Every sealed value is bound to where it lives by additional data (the connection's name and the
// purpose of the value), so that a sealed value copied into another row or another column does not
// open. Nothing here ever logs or returns a key or a plaintext in an error.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of an encryption key: 32 bytes, AES-256.
const KeySize = 32

// version is the first byte of every sealed value, so that the format can change without guessing.
const version = 1

// keyIDSize bytes of the key's SHA-256 follow the version, so that a value sealed under another key is
// reported as such rather than as tampering.
const keyIDSize = 4

var (
	// ErrBadKey means the configured key is not base64 of 32 bytes.
	ErrBadKey = errors.New("the encryption key must be the base64 encoding of 32 random bytes")
	// ErrWrongKey means the value was sealed under another key.
	ErrWrongKey = errors.New("the value was sealed under another encryption key")
	// ErrCorrupt means the value is truncated, tampered with, or bound to other additional data.
	ErrCorrupt = errors.New("the sealed value does not open: corrupt, tampered with, or moved")
)

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct {
	aead  cipher.AEAD
	keyID [keyIDSize]byte
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not) key of KeySize bytes.
func ParseKey(encoded string) ([]byte, error) {
	s := strings.TrimSpace(encoded)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("%w (got %d bytes)", ErrBadKey, len(key))
			}
			return key, nil
		}
	}
	return nil, ErrBadKey
}

// New returns a Box for a base64-encoded key.
func New(encodedKey string) (*Box, error) {
	key, err := ParseKey(encodedKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	b := &Box{aead: aead}
	sum := sha256.Sum256(key)
	copy(b.keyID[:], sum[:keyIDSize])
	return b, nil
}

// NewKey returns a new random key, base64-encoded.
func NewKey() string {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

// Seal encrypts plaintext bound to ad under a fresh random nonce and returns the sealed value as
// text (version, key id, nonce and ciphertext in base64), ready for a TEXT column.
func (b *Box) Seal(plaintext []byte, ad string) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := make([]byte, 0, 1+keyIDSize+len(nonce)+len(plaintext)+b.aead.Overhead())
	out = append(out, version)
	out = append(out, b.keyID[:]...)
	out = append(out, nonce...)
	out = b.aead.Seal(out, nonce, plaintext, []byte(ad))
	return base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts a value made by Seal with the same ad.
func (b *Box) Open(sealed string, ad string) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	head := 1 + keyIDSize + b.aead.NonceSize()
	if err != nil || len(raw) < head+b.aead.Overhead() || raw[0] != version {
		return nil, ErrCorrupt
	}
	if string(raw[1:1+keyIDSize]) != string(b.keyID[:]) {
		return nil, ErrWrongKey
	}
	nonce := raw[1+keyIDSize : head]
	plain, err := b.aead.Open(nil, nonce, raw[head:], []byte(ad))
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}
