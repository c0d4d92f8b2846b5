package connection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection/internal/audit"
	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/changefeed"
	"github.com/iechor/sso/services/connection/internal/mapping"
	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/ownership"
	"github.com/iechor/sso/services/connection/internal/policy"
	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// defaultActor is recorded when no actor is given: a call from another service.
const defaultActor = "service:connection"

const collection = "connections"

// maxUpdateAttempts bounds the retries of an update that lost a race with another writer.
const maxUpdateAttempts = 3

// server implements ConnectionService, the admin API behind the REST edge: it parses requests,
// applies them through the editor, asks the peers, stores, and maps results. The rules live in the
// editor, ownership, certs, metadata, mapping and policy.
type server struct {
	connectionv1.UnimplementedConnectionServiceServer
	store        store.Store
	editor       *editor
	checker      *ownership.Checker
	endpoints    endpoints
	cache        *policy.Cache
	feed         *changefeed.Feed
	relay        *audit.Relay
	keyBits      int
	certValidity time.Duration
	log          *slog.Logger
}

// internalServer implements ConnectionInternalService, for the other services of the suite, on the
// same store, cache and change feed as server.
type internalServer struct {
	connectionv1.UnimplementedConnectionInternalServiceServer
	*server
}

func (s *server) now() time.Time { return s.editor.now().UTC().Truncate(time.Microsecond) }

// afterWrite makes this replica's own reads see a change at once; other replicas see it at their
// next poll of the change sequence.
func (s *server) afterWrite() {
	s.cache.Invalidate()
	s.feed.Poke()
	s.relay.Poke()
}

func actorFrom(ctx context.Context) (string, error) {
	actor, ok := callmeta.IncomingActor(ctx)
	if !ok {
		return defaultActor, nil
	}
	if !printable(actor, 256) {
		return "", atField(callmeta.ActorKey, errActor)
	}
	return actor, nil
}

func validID(id string) bool { return strings.HasPrefix(id, "conn_") && resourcename.ValidID(id) }

// parseName parses {owner}/connections/{id}.
func parseName(name string) (resourcename.Owner, string, error) {
	owner, id, err := resourcename.ParseChild(name, collection)
	if err != nil {
		return owner, "", err
	}
	if !validID(id) {
		return owner, "", errConnectionID
	}
	return owner, id, nil
}

// parseRef accepts a bare id (as in our URLs) or a full name; owner is "" for a bare id.
func parseRef(ref string) (string, string, error) {
	if !strings.Contains(ref, "/") {
		if !validID(ref) {
			return "", "", errConnectionID
		}
		return "", ref, nil
	}
	owner, id, err := parseName(ref)
	if err != nil {
		return "", "", errConnectionID
	}
	return owner.String(), id, nil
}

// get returns the connection id of owner ("" for any owner); another owner's is not found.
func (s *server) get(ctx context.Context, owner, id string) (store.Connection, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return store.Connection{}, err
	}
	if owner != "" && c.Owner != owner {
		return store.Connection{}, store.ErrNotFound
	}
	return c, nil
}

func (s *server) event(actor, action string, c store.Connection, now time.Time, details map[string]string) store.AuditEvent {
	return store.AuditEvent{ID: opaque.ID("evt"), Parent: c.Owner, Actor: actor, Action: action, Resource: c.Name(), Details: details, Time: now}
}

func typeFromProto(t connectionv1.ConnectionType) (store.Type, error) {
	switch t {
	case connectionv1.ConnectionType_CONNECTION_TYPE_SAML:
		return store.SAML, nil
	case connectionv1.ConnectionType_CONNECTION_TYPE_OIDC:
		return store.OIDC, nil
	}
	return "", atField("type", errType)
}

func (s *server) CreateConnection(ctx context.Context, req *connectionv1.CreateConnectionRequest) (*connectionv1.CreateConnectionResponse, error) {
	owner, err := resourcename.ParseOwner(req.GetParent())
	if err != nil {
		return nil, toStatus(err, "parent")
	}
	in := req.GetConnection()
	if in == nil {
		return nil, toStatus(atField("connection", errMissing), "")
	}
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err, "")
	}
	typ, err := typeFromProto(in.GetType())
	if err != nil {
		return nil, toStatus(err, "")
	}
	if typ == store.SAML && in.GetOidc() != nil {
		return nil, toStatus(atField("oidc", errConfigMismatch), "")
	}
	if typ == store.OIDC && in.GetSaml() != nil {
		return nil, toStatus(atField("saml", errConfigMismatch), "")
	}
	now := s.now()
	c := store.Connection{ID: opaque.ID("conn"), Owner: owner.String(), Type: typ, Revision: 1, CreateTime: now, UpdateTime: now}
	var imp *imported
	paths := []string{"display_name", "state", "domains", "organizations", "default_organization", "default_team",
		"enforce_sso", "jit_enabled", "honor_idp_roles", "default_session_minutes", "attribute_mapping"}
	switch {
	case typ == store.SAML:
		paths = append(paths, "saml")
		if imp, err = s.editor.importMetadata(ctx, in.GetSaml()); err != nil {
			return nil, toStatus(err, "")
		}
	case in.GetOidc() != nil:
		paths = append(paths, "oidc")
	}
	if err := s.editor.apply(&c, in, paths, imp, true); err != nil {
		return nil, toStatus(err, "")
	}
	if err := s.editor.normalize(&c, owner, imp); err != nil {
		return nil, toStatus(err, "")
	}
	if err := s.checker.Owner(ctx, owner); err != nil {
		return nil, toStatus(err, "parent")
	}
	if err := s.checkPeers(ctx, owner, nil, &c); err != nil {
		return nil, toStatus(err, "")
	}
	key, err := s.newKey(c.Name(), now)
	if err != nil {
		return nil, err
	}
	c.Keys = []store.SPKey{key}
	ev := s.event(actor, "connection.create", c, now, map[string]string{
		"type": string(c.Type), "display_name": c.DisplayName, "state": string(c.State),
		"domains": strings.Join(c.Domains, ","), "enforce_sso": strconv.FormatBool(c.EnforceSSO),
	})
	if err := s.store.Create(ctx, c, ev); err != nil {
		return nil, toStatus(err, "")
	}
	s.afterWrite()
	return &connectionv1.CreateConnectionResponse{Connection: s.endpoints.toProto(c, now)}, nil
}

// newKey makes an SP key pair for the connection name, its private key sealed.
func (s *server) newKey(name string, now time.Time) (store.SPKey, error) {
	id := opaque.ID("spk")
	kp, err := certs.NewKeyPair(s.keyBits, "iEchor SSO "+name[strings.LastIndexByte(name, '/')+1:], now, s.certValidity)
	if err != nil {
		return store.SPKey{}, fmt.Errorf("make SP key: %w", err)
	}
	return store.SPKey{
		ID: id, SealedPrivateKey: s.editor.box.Seal([]byte(kp.PrivateKeyPEM), spKeyAD(name, id)),
		CertificatePEM: kp.CertificatePEM, Active: true, CreateTime: now,
	}, nil
}

// checkPeers asks the domain and provisioning services about what changed from prev (nil for a new
// connection) to next.
func (s *server) checkPeers(ctx context.Context, owner resourcename.Owner, prev, next *store.Connection) error {
	var (
		added   []string
		indexes []int
	)
	for i, d := range next.Domains {
		if prev == nil || !contains(prev.Domains, d) {
			added, indexes = append(added, d), append(indexes, i)
		}
	}
	var ie *ownership.IndexError
	if err := s.checker.DomainsVerified(ctx, owner.String(), added, indexes); err != nil {
		if errors.As(err, &ie) {
			return atField(fmt.Sprintf("domains[%d]", ie.Index), ie.Err)
		}
		return err
	}
	ns, ps := next.Settings, store.Settings{}
	if prev != nil {
		ps = prev.Settings
	}
	if prev == nil || !slices.Equal(ps.Organizations, ns.Organizations) {
		if err := s.checker.Organizations(ctx, owner, ns.Organizations); err != nil {
			if errors.As(err, &ie) {
				return atField(fmt.Sprintf("organizations[%d]", ie.Index), ie.Err)
			}
			return err
		}
	}
	if ns.DefaultTeam != "" && (prev == nil || ps.DefaultTeam != ns.DefaultTeam || ps.DefaultOrganization != ns.DefaultOrganization) {
		if err := s.checker.Team(ctx, ns.DefaultTeam, ns.DefaultOrganization); err != nil {
			return atField("default_team", err)
		}
	}
	return nil
}

func (s *server) GetConnection(ctx context.Context, req *connectionv1.GetConnectionRequest) (*connectionv1.GetConnectionResponse, error) {
	owner, id, err := parseName(req.GetName())
	if err != nil {
		return nil, toStatus(err, "name")
	}
	c, err := s.get(ctx, owner.String(), id)
	if err != nil {
		return nil, toStatus(err, "name")
	}
	return &connectionv1.GetConnectionResponse{Connection: s.endpoints.toProto(c, s.now())}, nil
}

func (s *server) ListConnections(ctx context.Context, req *connectionv1.ListConnectionsRequest) (*connectionv1.ListConnectionsResponse, error) {
	owner, err := resourcename.ParseOwner(req.GetParent())
	if err != nil {
		return nil, toStatus(err, "parent")
	}
	size, err := paging.Size(req.GetPageSize())
	if err != nil {
		return nil, toStatus(err, "page_size")
	}
	fp := paging.Fingerprint(owner.String())
	after, err := paging.Decode(req.GetPageToken(), fp)
	if err != nil {
		return nil, toStatus(err, "page_token")
	}
	q := store.ListQuery{Owner: owner.String(), Limit: size + 1}
	if after != "" {
		micros, id, ok := strings.Cut(after, "/")
		us, perr := strconv.ParseInt(micros, 10, 64)
		if !ok || perr != nil || !validID(id) {
			return nil, toStatus(paging.ErrBadToken, "page_token")
		}
		q.AfterTime, q.AfterID = time.UnixMicro(us).UTC(), id
	}
	cs, err := s.store.List(ctx, q)
	if err != nil {
		return nil, toStatus(err, "")
	}
	resp := &connectionv1.ListConnectionsResponse{}
	if len(cs) > size {
		cs = cs[:size]
		last := cs[size-1]
		resp.NextPageToken = paging.Encode(strconv.FormatInt(last.CreateTime.UnixMicro(), 10)+"/"+last.ID, fp)
	}
	now := s.now()
	for _, c := range cs {
		resp.Connections = append(resp.Connections, s.endpoints.toProto(c, now))
	}
	return resp, nil
}

func (s *server) UpdateConnection(ctx context.Context, req *connectionv1.UpdateConnectionRequest) (*connectionv1.UpdateConnectionResponse, error) {
	in := req.GetConnection()
	if in == nil {
		return nil, toStatus(atField("connection", errMissing), "")
	}
	owner, id, err := parseName(in.GetName())
	if err != nil {
		return nil, toStatus(err, "connection.name")
	}
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err, "")
	}
	paths := dedup(req.GetUpdateMask().GetPaths())
	cur, err := s.get(ctx, owner.String(), id)
	if err != nil {
		return nil, toStatus(err, "connection.name")
	}
	if err := checkPaths(paths, cur.Type); err != nil {
		return nil, toStatus(err, "")
	}
	// Metadata is fetched once, before any retry: only what the mask names is read.
	var imp *imported
	if cur.Type == store.SAML {
		md := &connectionv1.SamlConfig{}
		if contains(paths, "saml") || contains(paths, "saml.idp_metadata_xml") {
			md.IdpMetadataXml = in.GetSaml().GetIdpMetadataXml()
		}
		if contains(paths, "saml") || contains(paths, "saml.idp_metadata_url") {
			md.IdpMetadataUrl = in.GetSaml().GetIdpMetadataUrl()
		}
		if imp, err = s.editor.importMetadata(ctx, md); err != nil {
			return nil, toStatus(err, "")
		}
	}
	for attempt := 1; ; attempt++ {
		next := cloneConnection(cur)
		if err := s.editor.apply(&next, in, paths, imp, false); err != nil {
			return nil, toStatus(err, "")
		}
		if err := s.editor.normalize(&next, owner, imp); err != nil {
			return nil, toStatus(err, "")
		}
		if err := s.checkPeers(ctx, owner, &cur, &next); err != nil {
			return nil, toStatus(err, "")
		}
		now := s.now()
		next.UpdateTime = now
		ev := s.event(actor, "connection.update", next, now, map[string]string{
			"fields": strings.Join(paths, ","), "state": string(next.State), "enforce_sso": strconv.FormatBool(next.EnforceSSO),
		})
		updated, err := s.store.Update(ctx, next, ev)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			if cur, err = s.get(ctx, owner.String(), id); err != nil {
				return nil, toStatus(err, "connection.name")
			}
			continue
		}
		if err != nil {
			return nil, toStatus(err, "connection.name")
		}
		s.afterWrite()
		return &connectionv1.UpdateConnectionResponse{Connection: s.endpoints.toProto(updated, now)}, nil
	}
}

func (s *server) DeleteConnection(ctx context.Context, req *connectionv1.DeleteConnectionRequest) (*connectionv1.DeleteConnectionResponse, error) {
	owner, id, err := parseName(req.GetName())
	if err != nil {
		return nil, toStatus(err, "name")
	}
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err, "")
	}
	c, err := s.get(ctx, owner.String(), id)
	if err != nil {
		return nil, toStatus(err, "name")
	}
	ev := s.event(actor, "connection.delete", c, s.now(), map[string]string{
		"type": string(c.Type), "display_name": c.DisplayName, "domains": strings.Join(c.Domains, ","),
	})
	if err := s.store.Delete(ctx, owner.String(), id, ev); err != nil {
		return nil, toStatus(err, "name")
	}
	s.afterWrite()
	return &connectionv1.DeleteConnectionResponse{}, nil
}

func (s *server) RotateServiceProviderKey(ctx context.Context, req *connectionv1.RotateServiceProviderKeyRequest) (*connectionv1.RotateServiceProviderKeyResponse, error) {
	owner, id, err := parseName(req.GetName())
	if err != nil {
		return nil, toStatus(err, "name")
	}
	hours := req.GetOverlapHours()
	if hours < 0 || hours > maxOverlapHours {
		return nil, toStatus(atField("overlap_hours", errOverlap), "")
	}
	if hours == 0 {
		hours = defaultOverlap
	}
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err, "")
	}
	cur, err := s.get(ctx, owner.String(), id)
	if err != nil {
		return nil, toStatus(err, "name")
	}
	key, err := s.newKey(cur.Name(), s.now())
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		retire := now.Add(time.Duration(hours) * time.Hour)
		next := cloneConnection(cur)
		next.Keys = []store.SPKey{key}
		retired := 0
		for _, k := range cur.Keys {
			switch {
			case k.Active:
				k.Active, k.RetireTime = false, retire
			case !now.Before(k.RetireTime) || retired >= maxRetiredKeys:
				continue
			}
			next.Keys = append(next.Keys, k)
			retired++
		}
		next.UpdateTime = now
		cert, _ := certs.Parse(key.CertificatePEM)
		ev := s.event(actor, "connection.rotate_service_provider_key", next, now, map[string]string{
			"key_id": key.ID, "certificate_sha256": certs.Fingerprint(cert), "previous_key_retire_time": retire.Format(time.RFC3339),
		})
		updated, err := s.store.Update(ctx, next, ev)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			if cur, err = s.get(ctx, owner.String(), id); err != nil {
				return nil, toStatus(err, "name")
			}
			continue
		}
		if err != nil {
			return nil, toStatus(err, "name")
		}
		s.afterWrite()
		return &connectionv1.RotateServiceProviderKeyResponse{Connection: s.endpoints.toProto(updated, now)}, nil
	}
}

func (s *internalServer) GetServiceProviderMetadata(ctx context.Context, req *connectionv1.GetServiceProviderMetadataRequest) (*connectionv1.GetServiceProviderMetadataResponse, error) {
	owner, id, err := parseRef(req.GetConnectionId())
	if err != nil {
		return nil, toStatus(err, "connection_id")
	}
	c, err := s.get(ctx, owner, id)
	if err != nil {
		return nil, toStatus(err, "connection_id")
	}
	if c.Type != store.SAML {
		return nil, toStatus(atField("connection_id", errNotSAML), "")
	}
	sp := metadata.ServiceProvider{
		EntityID: s.endpoints.entityID(c.ID), ACSURL: s.endpoints.acsURL(c.ID), AuthnRequestsSigned: c.Settings.SAML.SignRequests,
	}
	for _, k := range publishedKeys(c, s.now()) {
		cert, err := certs.Parse(k.CertificatePEM)
		if err != nil {
			return nil, fmt.Errorf("connection %s: stored SP certificate: %w", c.ID, err)
		}
		sp.Certificates = append(sp.Certificates, cert)
	}
	doc, err := sp.Build()
	if err != nil {
		return nil, err
	}
	return &connectionv1.GetServiceProviderMetadataResponse{MetadataXml: doc}, nil
}

// emailDomain returns the domain that covers an email for resolution, or "" when none can.
func emailDomain(email string) (domain, display string, err error) {
	d, covered, err := policy.DomainOfEmail(email)
	if err != nil {
		return "", "", atField("email", err)
	}
	display = d
	if !covered {
		display = strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
	}
	return d, display, nil
}

func (s *server) covering(ctx context.Context, domain string) ([]store.Summary, error) {
	if domain == "" {
		return nil, nil
	}
	return s.cache.Covering(ctx, domain)
}

func (s *internalServer) ResolveConnections(ctx context.Context, req *connectionv1.ResolveConnectionsRequest) (*connectionv1.ResolveConnectionsResponse, error) {
	domain, _, err := emailDomain(req.GetEmail())
	if err != nil {
		return nil, toStatus(err, "")
	}
	cs, err := s.covering(ctx, domain)
	if err != nil {
		return nil, toStatus(err, "")
	}
	resp := &connectionv1.ResolveConnectionsResponse{}
	for _, c := range cs {
		if c.State != store.Active && !(req.GetIncludeDrafts() && c.State == store.Draft) {
			continue
		}
		resp.Connections = append(resp.Connections, &connectionv1.ResolvedConnection{
			Name: c.Name(), DisplayName: c.DisplayName, Type: typeToProto(c.Type), State: stateToProto(c.State), Owner: c.Owner,
		})
	}
	return resp, nil
}

var (
	methods = map[connectionv1.SignInMethod]policy.Method{
		connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD: policy.Password,
		connectionv1.SignInMethod_SIGN_IN_METHOD_SSO:      policy.SSO,
		connectionv1.SignInMethod_SIGN_IN_METHOD_PAT:      policy.PersonalAccessToken,
	}
	clients = map[connectionv1.ClientType]policy.Client{
		connectionv1.ClientType_CLIENT_TYPE_HUB:     policy.Hub,
		connectionv1.ClientType_CLIENT_TYPE_DESKTOP: policy.Desktop,
		connectionv1.ClientType_CLIENT_TYPE_CLI:     policy.CLI,
	}
)

func (s *internalServer) GetSignInPolicy(ctx context.Context, req *connectionv1.GetSignInPolicyRequest) (*connectionv1.GetSignInPolicyResponse, error) {
	method, ok := methods[req.GetMethod()]
	if !ok {
		return nil, toStatus(atField("method", errMethod), "")
	}
	domain, display, err := emailDomain(req.GetEmail())
	if err != nil {
		return nil, toStatus(err, "")
	}
	cs, err := s.covering(ctx, domain)
	if err != nil {
		return nil, toStatus(err, "")
	}
	d := policy.Decide(display, cs, method, clients[req.GetClient()])
	return &connectionv1.GetSignInPolicyResponse{
		Allowed: d.Allowed, Reason: d.Reason, Message: d.Message, Connections: d.Connections, SsoEnforced: d.SSOEnforced,
	}, nil
}

func (s *internalServer) GetRuntimeConnection(ctx context.Context, req *connectionv1.GetRuntimeConnectionRequest) (*connectionv1.GetRuntimeConnectionResponse, error) {
	owner, id, err := parseRef(req.GetConnection())
	if err != nil {
		return nil, toStatus(err, "connection")
	}
	c, err := s.get(ctx, owner, id)
	if err != nil {
		return nil, toStatus(err, "connection")
	}
	now := s.now()
	st := c.Settings
	rc := &connectionv1.RuntimeConnection{
		Name: c.Name(), Owner: c.Owner, DisplayName: c.DisplayName, Type: typeToProto(c.Type), State: stateToProto(c.State),
		Domains: c.Domains, AttributeMapping: resolvedToProto(mapping.Resolve(st.Mapping, protocolOf(c.Type))),
		JitEnabled: st.JITEnabled, Organizations: st.Organizations, DefaultOrganization: st.DefaultOrganization,
		DefaultTeam: st.DefaultTeam, HonorIdpRoles: st.HonorIdPRoles, DefaultSessionMinutes: st.DefaultSessionMinutes,
		EnforceSso: c.EnforceSSO, Revision: c.Revision,
	}
	for _, k := range publishedKeys(c, now) {
		priv, err := s.editor.box.Open(k.SealedPrivateKey, spKeyAD(c.Name(), k.ID))
		if err != nil {
			return nil, fmt.Errorf("connection %s: open SP key %s: %w", c.ID, k.ID, err)
		}
		key := &connectionv1.ServiceProviderKey{PrivateKeyPem: string(priv), CertificatePem: k.CertificatePEM, Active: k.Active}
		if !k.Active {
			key.RetireTime = timestamppb.New(k.RetireTime)
		}
		rc.SpKeys = append(rc.SpKeys, key)
	}
	switch c.Type {
	case store.SAML:
		sm := st.SAML
		rc.SpEntityId, rc.AcsUrl = s.endpoints.entityID(c.ID), s.endpoints.acsURL(c.ID)
		rc.IdpEntityId, rc.IdpSsoUrl, rc.IdpCertificates = sm.IdPEntityID, sm.IdPSSOURL, sm.IdPCertificates
		rc.SignRequests, rc.AllowSha1, rc.ClockSkewSeconds = sm.SignRequests, sm.AllowSHA1, sm.ClockSkewSeconds
	case store.OIDC:
		o := st.OIDC
		rc.OidcIssuerUrl, rc.OidcClientId, rc.OidcScopes, rc.OidcRedirectUrl = o.IssuerURL, o.ClientID, o.Scopes, s.endpoints.redirectURL(c.ID)
		if o.SealedClientSecret != "" {
			secret, err := s.editor.box.Open(o.SealedClientSecret, clientSecretAD(c.Name()))
			if err != nil {
				return nil, fmt.Errorf("connection %s: open client secret: %w", c.ID, err)
			}
			rc.OidcClientSecret = string(secret)
		}
	}
	return &connectionv1.GetRuntimeConnectionResponse{Connection: rc}, nil
}

// errShuttingDown ends watch streams when the service stops; clients reconnect to another replica.
var errShuttingDown = rpcerror.New(codes.Unavailable, "SHUTTING_DOWN", "the service is shutting down; watch again")

func (s *internalServer) WatchConnections(_ *connectionv1.WatchConnectionsRequest, stream connectionv1.ConnectionInternalService_WatchConnectionsServer) error {
	sub := s.feed.Subscribe()
	defer sub.Close()
	// The headers tell the client that the subscription is in place: every change committed after
	// they arrive will be sent.
	if err := stream.SendHeader(grpcmd.MD{}); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			return errShuttingDown
		case <-sub.Ready():
		}
		changes := sub.Take()
		if len(changes) == 0 {
			continue
		}
		msg := &connectionv1.WatchConnectionsResponse{}
		for _, c := range changes {
			msg.Names = append(msg.Names, c.Name)
			msg.ConnectionIds = append(msg.ConnectionIds, c.ConnectionID)
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// cloneConnection copies c deeply, so that an edit leaves the original as it was read.
func cloneConnection(c store.Connection) store.Connection {
	out := c
	out.Domains = slices.Clone(c.Domains)
	out.Keys = slices.Clone(c.Keys)
	out.Settings.Organizations = slices.Clone(c.Settings.Organizations)
	if c.Settings.SAML != nil {
		s := *c.Settings.SAML
		s.IdPCertificates = slices.Clone(s.IdPCertificates)
		if s.Metadata != nil {
			m := *s.Metadata
			s.Metadata = &m
		}
		out.Settings.SAML = &s
	}
	if c.Settings.OIDC != nil {
		o := *c.Settings.OIDC
		o.Scopes = slices.Clone(o.Scopes)
		out.Settings.OIDC = &o
	}
	return out
}
