package connection

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/platform/config"
)

// EnsureDevelopmentKey returns the encryption key held in the file at path, creating the file (mode
// 0600, in a folder created 0700) with a new random key when it does not exist. It is how a
// development setup gets a key that survives restarts without anyone choosing one; production sets
// ENCRYPTION_KEY or ENCRYPTION_KEY_FILE from its secret store. Losing the file loses every sealed
// secret, so it is never overwritten.
func EnsureDevelopmentKey(path string) (config.Secret, error) {
	if b, err := os.ReadFile(path); err == nil {
		return checkKey(path, b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	// The key is written to a temporary file and linked into place: the link fails if the file
	// exists, so of two processes starting at once one makes the key and the other reads it, and
	// nobody ever reads a file that is half written.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	key := seal.NewKey()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", err
			}
			return checkKey(path, b)
		}
		return "", err
	}
	return config.Secret(key), nil
}

func checkKey(path string, b []byte) (config.Secret, error) {
	key := strings.TrimSpace(string(b))
	if _, err := seal.ParseKey(key); err != nil {
		return "", fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return config.Secret(key), nil
}
