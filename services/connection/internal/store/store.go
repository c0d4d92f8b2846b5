// Package store keeps SSO connections, the domains they cover, their service provider keys, the
// change sequence that tells every replica what changed, and the outbox of audit events not yet
// delivered to provisioning.
//
// Every change to a connection writes, in the same transaction, one row of the change sequence and
// one audit event in the outbox: a change is never visible without its change record and its audit
// event, and an audit event is never recorded for a change that did not commit. Sealed values (SP
// private keys, OIDC client secrets) are stored as they are given; this package never sees a
// plaintext secret. SQL implements Store on PostgreSQL and SQLite; storetest is the conformance suite
// both pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/iechor/sso/services/connection/internal/mapping"
)

var (
	// ErrNotFound means no such connection for that owner.
	ErrNotFound = errors.New("connection not found")
	// ErrAlreadyExists means a connection with that id exists.
	ErrAlreadyExists = errors.New("connection id already used")
	// ErrConflict means the connection changed since it was read.
	ErrConflict = errors.New("connection changed since it was read")
)

// Type is the protocol of a connection.
type Type string

const (
	SAML Type = "saml"
	OIDC Type = "oidc"
)

// State is whether a connection serves every sign-in or test sign-ins only.
type State string

const (
	Draft  State = "draft"
	Active State = "active"
)

// Connection is an SSO connection as it is stored.
type Connection struct {
	ID          string // conn_...
	Owner       string // companies/{c} or organizations/{o}
	DisplayName string
	Type        Type
	State       State
	// Domains are the normalized domain names the connection covers, in the admin's order.
	Domains    []string
	EnforceSSO bool
	Settings   Settings
	// Keys are the SP key pairs, the active one and those still published.
	Keys []SPKey
	// Revision increases with every change; Update succeeds only on the revision it read.
	Revision   int64
	CreateTime time.Time
	UpdateTime time.Time
}

// Name returns the resource name, {owner}/connections/{id}.
func (c Connection) Name() string { return c.Owner + "/connections/" + c.ID }

// Settings are the parts of a connection that no query selects on; they are kept as one document.
type Settings struct {
	Organizations         []string        `json:"organizations,omitempty"`
	DefaultOrganization   string          `json:"default_organization,omitempty"`
	DefaultTeam           string          `json:"default_team,omitempty"`
	JITEnabled            bool            `json:"jit_enabled"`
	HonorIdPRoles         bool            `json:"honor_idp_roles,omitempty"`
	DefaultSessionMinutes int32           `json:"default_session_minutes,omitempty"`
	SAML                  *SAMLSettings   `json:"saml,omitempty"`
	OIDC                  *OIDCSettings   `json:"oidc,omitempty"`
	Mapping               mapping.Mapping `json:"attribute_mapping"`
}

// SAMLSettings are what the identity provider gave us.
type SAMLSettings struct {
	IdPEntityID string `json:"idp_entity_id,omitempty"`
	IdPSSOURL   string `json:"idp_sso_url,omitempty"`
	// IdPCertificates are PEM.
	IdPCertificates  []string `json:"idp_certificates,omitempty"`
	SignRequests     bool     `json:"sign_requests"`
	AllowSHA1        bool     `json:"allow_sha1,omitempty"`
	ClockSkewSeconds int32    `json:"clock_skew_seconds"`
	// Metadata is what the last imported IdP metadata advertised; nil when none was imported.
	Metadata *MetadataFacts `json:"metadata,omitempty"`
}

// MetadataFacts are what IdP metadata advertised beyond the fields it filled, kept to warn about a
// missing email attribute as the mapping changes.
type MetadataFacts struct {
	NameIDFormats []string  `json:"name_id_formats,omitempty"`
	Attributes    []string  `json:"attributes,omitempty"`
	ImportTime    time.Time `json:"import_time"`
}

// OIDCSettings are the OpenID Connect provider's side.
type OIDCSettings struct {
	Provider     string `json:"provider"` // "entra_id" or "generic"
	IssuerURL    string `json:"issuer_url,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	TenantDomain string `json:"tenant_domain,omitempty"`
	// SealedClientSecret is the client secret sealed by the service; empty when none is set.
	SealedClientSecret string   `json:"sealed_client_secret,omitempty"`
	Scopes             []string `json:"scopes,omitempty"`
}

// SPKey is one of our key pairs for a connection.
type SPKey struct {
	ID string
	// SealedPrivateKey is the PEM private key sealed by the service.
	SealedPrivateKey string
	CertificatePEM   string
	// Active is true for the key that signs now; exactly one key is active.
	Active bool
	// RetireTime is when an inactive key stops being published and used; zero for the active key.
	RetireTime time.Time
	CreateTime time.Time
}

// Summary is what resolution and the sign-in policy need of a connection.
type Summary struct {
	ID          string
	Owner       string
	DisplayName string
	Type        Type
	State       State
	EnforceSSO  bool
}

// Name returns the resource name.
func (s Summary) Name() string { return s.Owner + "/connections/" + s.ID }

// ListQuery selects a page of an owner's connections in creation order.
type ListQuery struct {
	Owner string
	// AfterTime and AfterID are the creation time and id of the last connection of the previous page.
	AfterTime time.Time
	AfterID   string
	Limit     int
}

// AuditEvent is a change to record in provisioning's audit log.
type AuditEvent struct {
	// ID identifies the event across retries, so that a receiver can drop a duplicate delivery.
	ID       string
	Parent   string // the owner whose log it goes to
	Actor    string
	Action   string // connection.create, connection.update, connection.delete, ...
	Resource string
	Details  map[string]string
	Time     time.Time
}

// OutboxEntry is an audit event waiting for delivery.
type OutboxEntry struct {
	Seq         int64
	Event       AuditEvent
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// Change is one entry of the change sequence.
type Change struct {
	Seq          int64
	ConnectionID string
	Name         string
	Time         time.Time
}

// Store is the durable store of the connection service.
type Store interface {
	// Create adds a connection with its domains and keys, its change record and its audit event;
	// ErrAlreadyExists when the id is taken.
	Create(ctx context.Context, c Connection, ev AuditEvent) error
	// Get returns a connection by id; ErrNotFound.
	Get(ctx context.Context, id string) (Connection, error)
	// List returns a page of an owner's connections in creation order.
	List(ctx context.Context, q ListQuery) ([]Connection, error)
	// Update replaces a connection (everything but its id, owner, type and creation time) if it is
	// still at c.Revision, and returns it at its new revision; ErrConflict when it has moved on,
	// ErrNotFound when it is gone.
	Update(ctx context.Context, c Connection, ev AuditEvent) (Connection, error)
	// Delete removes a connection of owner with its domains and keys; ErrNotFound.
	Delete(ctx context.Context, owner, id string, ev AuditEvent) error
	// Covering returns every connection, of any owner and state, that covers domain.
	Covering(ctx context.Context, domain string) ([]Summary, error)

	// LastChange returns the sequence number of the newest change (0 before the first).
	LastChange(ctx context.Context) (int64, error)
	// ChangesSince returns up to limit changes after seq, in order. Sequence numbers are given in
	// commit order, so a reader that has seen seq never misses a later change.
	ChangesSince(ctx context.Context, seq int64, limit int) ([]Change, error)
	// PruneChanges drops change records older than before, keeping the newest.
	PruneChanges(ctx context.Context, before time.Time) error

	// DueEvents returns up to limit outbox entries whose next attempt is at or before now, oldest first.
	DueEvents(ctx context.Context, now time.Time, limit int) ([]OutboxEntry, error)
	// ClaimEvent moves an entry's next attempt from was to until only if it is still was, and reports
	// whether it did: of several replicas that saw the entry due, one delivers it.
	ClaimEvent(ctx context.Context, seq int64, was, until time.Time) (bool, error)
	// DeleteEvent removes a delivered entry.
	DeleteEvent(ctx context.Context, seq int64) error
	// RetryEvent records a failed delivery and when to try again.
	RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error
	// PendingEvents counts the entries not delivered yet.
	PendingEvents(ctx context.Context) (int, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
