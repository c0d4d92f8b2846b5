package connection_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/platform/config"
)

func TestConfigDefaultsRunOnALaptopOnceAKeyIsGiven(t *testing.T) {
	key := seal.NewKey()
	c, err := connection.LoadConfig(config.NewReader(config.MapLookup(map[string]string{"ENCRYPTION_KEY": key})))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9103" || c.DatabaseURL != "sqlite:./data/connection.db" || c.DomainAddr != "127.0.0.1:9101" ||
		c.ProvisioningAddr != "127.0.0.1:9102" || c.PublicBaseURL != "http://127.0.0.1:8080" || c.SPKeyBits != 2048 ||
		c.ChangePollInterval != time.Second || c.EncryptionKey.Reveal() != key {
		t.Fatalf("defaults %+v", c)
	}
	if s := c.EncryptionKey.String(); strings.Contains(s, key) {
		t.Fatal("the key shows in the config's string form")
	}
	c, err = connection.LoadConfig(config.NewReader(config.MapLookup(map[string]string{"ENCRYPTION_KEY": key, "DATABASE_URL": "postgres://db/sso"})))
	if err != nil || c.DatabaseURL != "postgres://db/sso" {
		t.Fatalf("DATABASE_URL: %v, %v", c.DatabaseURL, err)
	}
}

func TestBadConfigurationIsRefusedWhole(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(seal.NewKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no key", map[string]string{}, "ENCRYPTION_KEY"},
		{"a short key", map[string]string{"ENCRYPTION_KEY": "c2hvcnQ="}, "ENCRYPTION_KEY"},
		{"a key and a key file", map[string]string{"ENCRYPTION_KEY": seal.NewKey(), "ENCRYPTION_KEY_FILE": keyFile}, "not both"},
		{"a missing key file", map[string]string{"ENCRYPTION_KEY_FILE": filepath.Join(dir, "missing")}, "ENCRYPTION_KEY_FILE"},
		{"a public base URL over http", map[string]string{"ENCRYPTION_KEY": seal.NewKey(), "PUBLIC_BASE_URL": "http://sso.example.com"}, "PUBLIC_BASE_URL"},
		{"SP keys of 1024 bits", map[string]string{"ENCRYPTION_KEY": seal.NewKey(), "CONNECTION_SP_KEY_BITS": "1024"}, "CONNECTION_SP_KEY_BITS"},
		{"a poll interval that is not a duration", map[string]string{"ENCRYPTION_KEY": seal.NewKey(), "CONNECTION_CHANGE_POLL_INTERVAL": "often"}, "CONNECTION_CHANGE_POLL_INTERVAL"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := connection.LoadConfig(config.NewReader(config.MapLookup(tc.env)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig: %v, want an error about %s", err, tc.want)
			}
		})
	}
	c, err := connection.LoadConfig(config.NewReader(config.MapLookup(map[string]string{"ENCRYPTION_KEY_FILE": keyFile, "PUBLIC_BASE_URL": "https://sso.example.com/base/"})))
	if err != nil || c.EncryptionKey == "" {
		t.Fatalf("a key file: %v", err)
	}
}

func TestADevelopmentKeyIsMadeOnceAndKept(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "connection.key")
	var wg sync.WaitGroup
	keys := make([]config.Secret, 4)
	errs := make([]error, 4)
	for i := range keys {
		wg.Add(1)
		go func() { defer wg.Done(); keys[i], errs[i] = connection.EnsureDevelopmentKey(path) }()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("concurrent starts got different keys or errors: %v", errs)
		}
	}
	if _, err := seal.New(keys[0].Reveal()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", info.Mode(), err)
	}
	again, err := connection.EnsureDevelopmentKey(path)
	if err != nil || again != keys[0] {
		t.Fatal("the key changed on the next start")
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	_ = os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := connection.EnsureDevelopmentKey(bad); err == nil {
		t.Fatal("a file that holds no key was accepted")
	}
	if b, _ := os.ReadFile(bad); string(b) != "not a key" {
		t.Fatal("a bad key file was overwritten")
	}
}
