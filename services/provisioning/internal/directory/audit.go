package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"unicode/utf8"

	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// CanManageSSO reports whether a user may manage the SSO settings of a company or an organization:
// owners of the company; owners of the organization and owners of its company. Unknown users and
// owners give false. It is one indexed query, cheap enough for every admin request.
func (d *Directory) CanManageSSO(ctx context.Context, userID string, owner resourcename.Owner) (bool, error) {
	return d.Store.CanManage(ctx, userID, owner.Kind, owner.ID)
}

// Limits on events recorded by other services.
const (
	maxAction      = 100
	maxResource    = 512
	maxDetails     = 50
	maxDetailKey   = 64
	maxDetailValue = 4096
)

// EventInput is an event that another service records.
type EventInput struct {
	Actor    string // overrides the caller's actor when set: the service acts for someone
	Action   string
	Resource string // the parent when empty
	Details  map[string]string
}

// RecordAuditEvent appends an event that another service reports to the log of an existing company
// or organization.
func (d *Directory) RecordAuditEvent(ctx context.Context, caller Actor, parent resourcename.Owner, in EventInput) (store.AuditEvent, error) {
	actor := caller
	if in.Actor != "" {
		a, err := ParseActor(in.Actor)
		if err != nil {
			return store.AuditEvent{}, Field("event.actor", err)
		}
		actor = a
	}
	if !validAction(in.Action) {
		return store.AuditEvent{}, Field("event.action", ErrInvalidAction)
	}
	if in.Resource == "" {
		in.Resource = parent.String()
	}
	if err := CheckText("event.resource", in.Resource, maxResource); err != nil {
		return store.AuditEvent{}, err
	}
	if len(in.Details) > maxDetails {
		return store.AuditEvent{}, Field("event.details", ErrTooManyDetails)
	}
	for k, v := range in.Details {
		if !validDetailKey(k) {
			return store.AuditEvent{}, Field("event.details", ErrInvalidText)
		}
		if !utf8.ValidString(v) {
			return store.AuditEvent{}, Field("event.details", ErrInvalidText)
		}
		if len(v) > maxDetailValue {
			return store.AuditEvent{}, Field("event.details", ErrTooLong)
		}
	}
	// Services deliver events at least once: one that names itself with details.event_id gets an id
	// derived from it and from its sender, and a second delivery finds that id taken and changes
	// nothing.
	var id string
	if ext := in.Details["event_id"]; ext != "" {
		sum := sha256.Sum256([]byte(string(caller) + "\x00" + ext))
		id = "evt_" + hex.EncodeToString(sum[:13])
	}
	var e store.AuditEvent
	// One attempt: a taken id means this event is in the log already, not a race to retry.
	err := d.Store.InTx(ctx, func(tx store.Tx) error {
		company := ""
		switch parent.Kind {
		case resourcename.Companies:
			if _, err := tx.GetCompany(ctx, parent.ID); err != nil {
				return Field("parent", orMissing(err, ErrCompanyNotFound))
			}
			company = parent.ID
		case resourcename.Organizations:
			o, err := tx.GetOrganization(ctx, parent.ID)
			if err != nil {
				return Field("parent", orMissing(err, ErrOrganizationNotFound))
			}
			company = o.Company
		}
		var err error
		e, err = Record(ctx, tx, actor, d.now(), Event{ID: id, Action: in.Action, Parent: parent.String(), Company: company,
			Resource: in.Resource, Details: in.Details})
		return err
	})
	if id != "" && errors.Is(err, store.ErrAlreadyExists) {
		return store.AuditEvent{ID: id, Parent: parent.String(), Actor: string(actor), Action: in.Action,
			Resource: in.Resource, Details: in.Details}, nil
	}
	return e, err
}

// ListAuditEvents returns a page of a log, newest first: a company's shows the events of its
// organizations too. Logs outlive what they describe, so a deleted owner's log can still be read. A
// user's log (users/{u}: their email, username and name changes) is read by that user only, when the
// actor is a person; whoever may manage a company or an organization reads its log (the edge decides).
func (d *Directory) ListAuditEvents(ctx context.Context, actor Actor, parent resourcename.Owner, before int64, limit int) ([]store.AuditEvent, error) {
	if parent.Kind == "users" {
		if err := checkSelf(actor, parent.ID); err != nil {
			return nil, Field("parent", err)
		}
	}
	q := store.AuditQuery{Parent: parent.String(), Before: before, Limit: limit}
	if parent.Kind == resourcename.Companies {
		q = store.AuditQuery{Company: parent.ID, Before: before, Limit: limit}
	}
	return d.Store.ListAuditEvents(ctx, q)
}

// validAction accepts dotted lower-case words: connection.update, company.owner.add.
func validAction(s string) bool {
	if len(s) == 0 || len(s) > maxAction {
		return false
	}
	dots := 0
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
		case (c >= '0' && c <= '9' || c == '_') && !start:
		case c == '.' && !start && i < len(s)-1:
			dots++
			start = true
			continue
		default:
			return false
		}
		start = false
	}
	return dots > 0
}

func validDetailKey(s string) bool {
	if len(s) == 0 || len(s) > maxDetailKey {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
