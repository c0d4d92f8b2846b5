// Package connections fetches connection configurations from the connection service
// (GetRuntimeConnection) and keeps them, parsed, for a few seconds. A copy is dropped when the
// connection service reports a change (WatchConnections) and in any case when its time is up, so
// that a lost stream only delays a change by the cache's TTL; whenever the stream is (re)opened the
// whole cache is dropped, since changes may have been missed meanwhile.
//
// It parses certificates and keys once per fetch and never logs or returns key material.
package connections

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/assertion/internal/saml"
)

// MaxClockSkew bounds the skew any connection may ask for.
const MaxClockSkew = 180 * time.Second

var (
	// ErrNotFound means the connection service knows no such connection.
	ErrNotFound = errors.New("connection not found")
	// ErrNotSAML means the connection is not a SAML connection.
	ErrNotSAML = errors.New("not a SAML connection")
	// ErrUnavailable means the connection service could not answer.
	ErrUnavailable = errors.New("connection service unavailable")
)

// MisconfiguredError means the connection's configuration cannot run a sign-in, such as a
// certificate that does not parse. Field names the field at fault.
type MisconfiguredError struct {
	Field, Problem string
}

func (e *MisconfiguredError) Error() string { return e.Field + ": " + e.Problem }

// Connection is a SAML connection, parsed and ready.
type Connection struct {
	SAML saml.Connection
	// ID is the last segment of the name (conn_...).
	ID string
	// IdPSSOURL is where AuthnRequests go.
	IdPSSOURL string
	// SigningKey is the active SP key; nil when requests are not signed.
	SigningKey *rsa.PrivateKey
	Revision   int64
	// Settings are what the connection allows at provisioning, returned with a validated identity.
	Settings *assertionv1.ConnectionSettings
}

// Convert parses a RuntimeConnection. defaultSkew applies when the connection sets none; now decides
// which SP keys are retired.
func Convert(rc *connectionv1.RuntimeConnection, defaultSkew time.Duration, now time.Time) (*Connection, error) {
	if rc.GetType() != connectionv1.ConnectionType_CONNECTION_TYPE_SAML {
		return nil, ErrNotSAML
	}
	c := &Connection{
		ID:        rc.GetName()[strings.LastIndexByte(rc.GetName(), '/')+1:],
		IdPSSOURL: rc.GetIdpSsoUrl(),
		Revision:  rc.GetRevision(),
		Settings: &assertionv1.ConnectionSettings{
			JitEnabled: rc.GetJitEnabled(), Owner: rc.GetOwner(), Organizations: rc.GetOrganizations(),
			DefaultOrganization: rc.GetDefaultOrganization(), DefaultTeam: rc.GetDefaultTeam(),
			HonorIdpRoles: rc.GetHonorIdpRoles(), DefaultSessionMinutes: rc.GetDefaultSessionMinutes(),
		},
		SAML: saml.Connection{
			Name:        rc.GetName(),
			DisplayName: rc.GetDisplayName(),
			Active:      rc.GetState() == connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE,
			SPEntityID:  rc.GetSpEntityId(),
			ACSURL:      rc.GetAcsUrl(),
			IdPEntityID: rc.GetIdpEntityId(),
			AllowSHA1:   rc.GetAllowSha1(),
			ClockSkew:   defaultSkew,
			Domains:     rc.GetDomains(),
		},
	}
	switch {
	case c.SAML.SPEntityID == "":
		return nil, &MisconfiguredError{Field: "sp_entity_id", Problem: "empty"}
	case c.SAML.ACSURL == "":
		return nil, &MisconfiguredError{Field: "acs_url", Problem: "empty"}
	}
	if s := rc.GetClockSkewSeconds(); s > 0 {
		c.SAML.ClockSkew = min(time.Duration(s)*time.Second, MaxClockSkew)
	}
	if m := rc.GetAttributeMapping(); m != nil {
		c.SAML.Mapping = saml.AttributeMapping{
			Email: m.GetEmail(), FullName: m.GetFullName(), GivenName: m.GetGivenName(), Surname: m.GetSurname(),
			Groups: m.GetGroups(), IEchorOrg: m.GetIechorOrg(), IEchorTeam: m.GetIechorTeam(), IEchorRole: m.GetIechorRole(),
			IEchorSessionMinutes: m.GetIechorSessionMinutes(),
		}
	}
	for i, p := range rc.GetIdpCertificates() {
		cert, err := ParseCertificate(p)
		if err != nil {
			return nil, &MisconfiguredError{Field: fmt.Sprintf("idp_certificates[%d]", i), Problem: err.Error()}
		}
		c.SAML.IdPCertificates = append(c.SAML.IdPCertificates, cert)
	}
	for i, k := range rc.GetSpKeys() {
		if rt := k.GetRetireTime(); rt != nil && !now.Before(rt.AsTime()) {
			continue // retired: no longer published, no longer trusted to decrypt
		}
		key, err := ParsePrivateKey(k.GetPrivateKeyPem())
		if err != nil {
			return nil, &MisconfiguredError{Field: fmt.Sprintf("sp_keys[%d]", i), Problem: err.Error()}
		}
		c.SAML.DecryptionKeys = append(c.SAML.DecryptionKeys, key)
		if k.GetActive() && rc.GetSignRequests() {
			c.SigningKey = key
		}
	}
	if rc.GetSignRequests() && c.SigningKey == nil {
		return nil, &MisconfiguredError{Field: "sp_keys", Problem: "the connection signs requests but has no active SP key"}
	}
	return c, nil
}

// ParseCertificate reads a PEM certificate, or bare base64 DER.
func ParseCertificate(s string) (*x509.Certificate, error) {
	der := []byte(nil)
	if block, _ := pem.Decode([]byte(strings.TrimSpace(s))); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a certificate", block.Type)
		}
		der = block.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errors.New("neither PEM nor base64 DER")
		}
		der = b
	}
	return x509.ParseCertificate(der)
}

// ParsePrivateKey reads an RSA private key in PKCS#8 or PKCS#1 PEM.
func ParsePrivateKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 or PKCS#1 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

type entry struct {
	conn    *Connection
	fetched time.Time
}

// Cache keeps parsed connections for a short TTL.
type Cache struct {
	client      connectionv1.ConnectionInternalServiceClient
	ttl         time.Duration
	defaultSkew time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu      sync.Mutex
	entries map[string]entry // by the reference asked for: id or full name
	gen     uint64           // increases with every invalidation, so a fetch that raced one is not kept
	flight  singleflight.Group
}

// NewCache returns a cache over client.
func NewCache(client connectionv1.ConnectionInternalServiceClient, ttl, defaultSkew time.Duration, now func() time.Time, log *slog.Logger) *Cache {
	return &Cache{client: client, ttl: ttl, defaultSkew: defaultSkew, now: now, log: log, entries: map[string]entry{}}
}

// Get returns the connection ref names (its id or full name), from the cache when fresh.
func (c *Cache) Get(ctx context.Context, ref string) (*Connection, error) {
	c.mu.Lock()
	e, ok := c.entries[ref]
	gen := c.gen
	c.mu.Unlock()
	if ok && c.now().Sub(e.fetched) < c.ttl {
		return e.conn, nil
	}
	v, err, _ := c.flight.Do(ref, func() (any, error) {
		resp, err := c.client.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: ref})
		switch status.Code(err) {
		case codes.OK:
		case codes.NotFound, codes.InvalidArgument:
			return nil, ErrNotFound
		case codes.Canceled:
			return nil, err
		default:
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		now := c.now()
		conn, err := Convert(resp.GetConnection(), c.defaultSkew, now)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen == gen {
			c.entries[ref] = entry{conn: conn, fetched: now}
		}
		c.mu.Unlock()
		return conn, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Connection), nil
}

// Invalidate drops the copies of the connections named (by id or full name); no names drops all.
func (c *Cache) Invalidate(refs ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(refs) == 0 {
		clear(c.entries)
		return
	}
	drop := map[string]bool{}
	for _, r := range refs {
		drop[r] = true
	}
	for k, e := range c.entries {
		if drop[k] || drop[e.conn.SAML.Name] || drop[e.conn.ID] {
			delete(c.entries, k)
		}
	}
}

// Watch follows the connection service's change stream until ctx ends, reconnecting with backoff.
func (c *Cache) Watch(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		stream, err := c.client.WatchConnections(ctx, &connectionv1.WatchConnectionsRequest{})
		if err == nil {
			// Changes may have been missed while the stream was down.
			c.Invalidate()
			for {
				msg, err := stream.Recv()
				if err != nil {
					break
				}
				backoff = 200 * time.Millisecond
				if refs := append(msg.GetNames(), msg.GetConnectionIds()...); len(refs) > 0 {
					c.Invalidate(refs...)
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Debug("connection watch stream ended; reconnecting", "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
