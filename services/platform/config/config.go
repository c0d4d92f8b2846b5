// Package config reads a service's configuration from the environment.
//
// Every service keeps its configuration in one struct that it fills with a Reader, validates before
// it serves, and logs once. Values that must never reach a log (keys, passwords inside URLs) use the
// Secret and DSN types, whose JSON and log forms are redacted.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Lookup returns the value of an environment variable and whether it is set; os.LookupEnv is one.
type Lookup func(name string) (string, bool)

// Reader reads typed values and collects every malformed one, so that a bad configuration is
// reported whole rather than one variable per restart.
type Reader struct {
	lookup Lookup
	errs   []error
}

// NewReader reads from lookup, or from the process environment when lookup is nil.
func NewReader(lookup Lookup) *Reader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Reader{lookup: lookup}
}

// MapLookup serves variables from a map; tests and the all-in-one binary use it.
func MapLookup(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func (r *Reader) raw(name string) (string, bool) {
	v, ok := r.lookup(name)
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// String returns the variable, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

// FirstString returns the first of names that is set, or def.
func (r *Reader) FirstString(def string, names ...string) string {
	for _, n := range names {
		if v, ok := r.raw(n); ok {
			return v
		}
	}
	return def
}

// Int returns the variable as an integer.
func (r *Reader) Int(name string, def int) int {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not an integer", name, v))
		return def
	}
	return n
}

// Bool returns the variable as a boolean (1, true, yes, on / 0, false, no, off).
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.errs = append(r.errs, fmt.Errorf("%s: %q is not a boolean", name, v))
	return def
}

// Duration returns the variable as a Go duration ("90s", "5m").
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a duration such as 30s or 5m", name, v))
		return def
	}
	return d
}

// List returns a comma-separated variable as a list without empty items.
func (r *Reader) List(name string, def []string) []string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Secret returns the variable as a Secret.
func (r *Reader) Secret(name string, def Secret) Secret {
	return Secret(r.String(name, string(def)))
}

// DSN returns the first set variable of names as a DSN, or def.
func (r *Reader) DSN(def string, names ...string) DSN {
	return DSN(r.FirstString(def, names...))
}

// Err returns every malformed variable met so far, joined.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Secret is a value that must never be logged. Reveal returns it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String never shows the value, so that a stray %v cannot leak it.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText is used by encoding/json and by slog's JSON handler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DSN is a connection string (postgres://..., redis://..., sqlite:...) whose password is redacted
// when it is shown.
type DSN string

// Reveal returns the connection string with its password.
func (d DSN) Reveal() string { return string(d) }

// String shows the connection string with any password replaced.
func (d DSN) String() string {
	u, err := url.Parse(string(d))
	if err != nil || u.User == nil {
		if strings.Contains(string(d), "password=") {
			return redacted
		}
		return string(d)
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// LogValue implements slog.LogValuer.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalText is used by encoding/json and by slog's JSON handler.
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
