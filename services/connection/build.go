package connection

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/mapping"
	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/connection/internal/secureurl"
	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/domainname"
	"github.com/iechor/sso/services/platform/resourcename"
)

// Limits on what a connection holds.
const (
	maxDisplayName    = 200
	maxDomains        = 100
	maxOrganizations  = 100
	maxSessionMinutes = 90 * 24 * 60
	maxEntityID       = 1024
	maxClientID       = 512
	maxClientSecret   = 4096
	maxScopes         = 20
	defaultClockSkew  = 90
	maxClockSkew      = 180
	defaultOverlap    = 168
	maxOverlapHours   = 24 * 365
	// maxRetiredKeys bounds the previous SP keys kept published after rotations within one overlap.
	maxRetiredKeys = 4
)

var defaultScopes = []string{"openid", "email", "profile"}

// Providers as they are stored.
const (
	providerEntraID = "entra_id"
	providerGeneric = "generic"
)

// editor turns API input into stored connections: it applies the fields a request names, fills the
// defaults, and checks everything that can be checked without asking another service.
type editor struct {
	now         func() time.Time
	fetcher     *metadata.Fetcher
	maxMetadata int
	box         *seal.Box
}

// imported is IdP metadata read for a request, with the request field it came from.
type imported struct {
	idp   *metadata.IdP
	field string
}

// importMetadata reads the IdP metadata document or URL of in, if any.
func (e *editor) importMetadata(ctx context.Context, in *connectionv1.SamlConfig) (*imported, error) {
	doc, url := in.GetIdpMetadataXml(), in.GetIdpMetadataUrl()
	var (
		data  []byte
		field string
	)
	switch {
	case doc != "" && url != "":
		return nil, atField("saml.idp_metadata_url", errMetadataConflict)
	case doc != "":
		data, field = []byte(doc), "saml.idp_metadata_xml"
	case url != "":
		field = "saml.idp_metadata_url"
		var err error
		if data, err = e.fetcher.Fetch(ctx, url); err != nil {
			return nil, atField(field, err)
		}
	default:
		return nil, nil
	}
	idp, err := metadata.Parse(data, e.maxMetadata)
	if err != nil {
		return nil, atField(field, err)
	}
	if err := certs.CheckNotAllExpired(idp.Certificates, e.now()); err != nil {
		return nil, atField(field, err)
	}
	return &imported{idp: idp, field: field}, nil
}

// Paths of the update mask.
var (
	topLevelPaths = []string{"display_name", "state", "domains", "organizations", "default_organization", "default_team",
		"enforce_sso", "jit_enabled", "honor_idp_roles", "default_session_minutes", "saml", "oidc", "attribute_mapping"}
	samlPaths = []string{"saml.idp_entity_id", "saml.idp_sso_url", "saml.idp_certificates", "saml.idp_metadata_xml",
		"saml.idp_metadata_url", "saml.sign_requests", "saml.allow_sha1", "saml.clock_skew_seconds"}
	oidcPaths = []string{"oidc.provider", "oidc.issuer_url", "oidc.client_id", "oidc.client_secret", "oidc.tenant_domain", "oidc.scopes"}
	// Output-only and immutable fields.
	fixedPaths = []string{"name", "type", "service_provider", "warnings", "create_time", "update_time",
		"saml.certificate_info", "oidc.client_secret_set"}
)

// checkPaths refuses unknown paths, fields that cannot change, and fields of the other protocol.
func checkPaths(paths []string, typ store.Type) error {
	if len(paths) == 0 {
		return atField("update_mask", errMissingMask)
	}
	for _, p := range paths {
		switch {
		case slices.Contains(topLevelPaths, p), slices.Contains(samlPaths, p), slices.Contains(oidcPaths, p):
		case strings.HasPrefix(p, "attribute_mapping.") && slices.Contains(mapping.Fields, strings.TrimPrefix(p, "attribute_mapping.")):
		case slices.Contains(fixedPaths, p), strings.HasPrefix(p, "service_provider."):
			return atField(p, errNotUpdatable)
		default:
			return atField(p, errUnknownField)
		}
		if (p == "saml" || strings.HasPrefix(p, "saml.")) && typ != store.SAML ||
			(p == "oidc" || strings.HasPrefix(p, "oidc.")) && typ != store.OIDC {
			return atField(p, errNotApplicable)
		}
	}
	return nil
}

// apply copies the fields named by paths from in to c. creating is true for a new connection, whose
// unset fields take their defaults.
func (e *editor) apply(c *store.Connection, in *connectionv1.Connection, paths []string, imp *imported, creating bool) error {
	s := &c.Settings
	for _, p := range paths {
		switch p {
		case "display_name":
			c.DisplayName = in.GetDisplayName()
		case "state":
			switch in.GetState() {
			case connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE:
				c.State = store.Active
			case connectionv1.ConnectionState_CONNECTION_STATE_DRAFT:
				c.State = store.Draft
			default:
				if !creating {
					return atField("state", errState)
				}
				c.State = store.Draft
			}
		case "domains":
			ds, err := normalizeDomains(in.GetDomains())
			if err != nil {
				return err
			}
			c.Domains = ds
		case "organizations":
			s.Organizations = dedup(in.GetOrganizations())
		case "default_organization":
			s.DefaultOrganization = in.GetDefaultOrganization()
		case "default_team":
			s.DefaultTeam = in.GetDefaultTeam()
		case "enforce_sso":
			c.EnforceSSO = in.GetEnforceSso()
		case "jit_enabled":
			s.JITEnabled = in.JitEnabled == nil || in.GetJitEnabled()
		case "honor_idp_roles":
			s.HonorIdPRoles = in.GetHonorIdpRoles()
		case "default_session_minutes":
			s.DefaultSessionMinutes = in.GetDefaultSessionMinutes()
		case "attribute_mapping":
			s.Mapping = mappingFromProto(in.GetAttributeMapping())
		case "saml":
			// The whole SAML side is replaced: what the metadata (if any) says wins over the fields.
			s.SAML = &store.SAMLSettings{}
			for _, sub := range []string{"saml.idp_entity_id", "saml.idp_sso_url", "saml.idp_certificates", "saml.sign_requests",
				"saml.allow_sha1", "saml.clock_skew_seconds"} {
				e.applySAML(s.SAML, sub, in.GetSaml(), nil)
			}
			if imp != nil {
				e.applySAML(s.SAML, imp.field, in.GetSaml(), imp)
			}
		case "oidc":
			// The client secret is never returned, so a client that sends back the whole OIDC side it
			// read has none: an empty secret here keeps the stored one. Naming oidc.client_secret
			// alone with an empty value clears it.
			old := s.OIDC
			s.OIDC = &store.OIDCSettings{}
			for _, sub := range []string{"oidc.provider", "oidc.issuer_url", "oidc.client_id", "oidc.tenant_domain", "oidc.scopes"} {
				if err := e.applyOIDC(c, sub, in.GetOidc()); err != nil {
					return err
				}
			}
			if in.GetOidc().GetClientSecret() != "" {
				if err := e.applyOIDC(c, "oidc.client_secret", in.GetOidc()); err != nil {
					return err
				}
			} else if old != nil {
				s.OIDC.SealedClientSecret = old.SealedClientSecret
			}
		default:
			switch {
			case strings.HasPrefix(p, "saml."):
				if s.SAML == nil {
					s.SAML = &store.SAMLSettings{SignRequests: true}
				}
				if (p == "saml.idp_metadata_xml" || p == "saml.idp_metadata_url") && (imp == nil || imp.field != p) {
					return atField(p, errMissing)
				}
				e.applySAML(s.SAML, p, in.GetSaml(), imp)
			case strings.HasPrefix(p, "oidc."):
				if s.OIDC == nil {
					s.OIDC = &store.OIDCSettings{}
				}
				if err := e.applyOIDC(c, p, in.GetOidc()); err != nil {
					return err
				}
			case strings.HasPrefix(p, "attribute_mapping."):
				f := strings.TrimPrefix(p, "attribute_mapping.")
				given := mappingFromProto(in.GetAttributeMapping())
				*s.Mapping.Field(f) = *given.Field(f)
			}
		}
	}
	return nil
}

func (e *editor) applySAML(s *store.SAMLSettings, p string, in *connectionv1.SamlConfig, imp *imported) {
	switch p {
	case "saml.idp_entity_id":
		s.IdPEntityID = strings.TrimSpace(in.GetIdpEntityId())
	case "saml.idp_sso_url":
		s.IdPSSOURL = strings.TrimSpace(in.GetIdpSsoUrl())
	case "saml.idp_certificates":
		s.IdPCertificates = slices.Clone(in.GetIdpCertificates())
	case "saml.sign_requests":
		s.SignRequests = in == nil || in.SignRequests == nil || in.GetSignRequests()
	case "saml.allow_sha1":
		s.AllowSHA1 = in.GetAllowSha1()
	case "saml.clock_skew_seconds":
		s.ClockSkewSeconds = in.GetClockSkewSeconds()
	case "saml.idp_metadata_xml", "saml.idp_metadata_url":
		s.IdPEntityID, s.IdPSSOURL = imp.idp.EntityID, imp.idp.SSOURL
		s.IdPCertificates = nil
		for _, c := range imp.idp.Certificates {
			s.IdPCertificates = append(s.IdPCertificates, certs.PEM(c))
		}
		s.Metadata = &store.MetadataFacts{NameIDFormats: imp.idp.NameIDFormats, Attributes: imp.idp.Attributes, ImportTime: e.now().UTC()}
	}
}

func (e *editor) applyOIDC(c *store.Connection, p string, in *connectionv1.OidcConfig) error {
	o := c.Settings.OIDC
	switch p {
	case "oidc.provider":
		switch in.GetProvider() {
		case connectionv1.OidcProvider_OIDC_PROVIDER_ENTRA_ID:
			o.Provider = providerEntraID
		case connectionv1.OidcProvider_OIDC_PROVIDER_GENERIC:
			o.Provider = providerGeneric
		default:
			return atField("oidc.provider", errOIDCProvider)
		}
	case "oidc.issuer_url":
		o.IssuerURL = strings.TrimSpace(in.GetIssuerUrl())
	case "oidc.client_id":
		o.ClientID = strings.TrimSpace(in.GetClientId())
	case "oidc.client_secret":
		secret := in.GetClientSecret()
		if len(secret) > maxClientSecret {
			return atField("oidc.client_secret", errClientSecret)
		}
		o.SealedClientSecret = ""
		if secret != "" {
			o.SealedClientSecret = e.box.Seal([]byte(secret), clientSecretAD(c.Name()))
		}
	case "oidc.tenant_domain":
		o.TenantDomain = strings.ToLower(strings.TrimSpace(in.GetTenantDomain()))
	case "oidc.scopes":
		o.Scopes = slices.Clone(in.GetScopes())
	}
	return nil
}

// The additional data of sealed values: the connection's name and what the value is, so that a
// sealed value copied to another connection or another column does not open.
func clientSecretAD(name string) string { return name + "|oidc_client_secret" }
func spKeyAD(name, keyID string) string { return name + "|sp_key|" + keyID }

func entraIssuer(tenant string) string {
	return "https://login.microsoftonline.com/" + tenant + "/v2.0"
}

// dedup drops repeated values, keeping the first of each in order.
func dedup(in []string) []string {
	var out []string
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func validOrganization(name string) bool {
	id, ok := strings.CutPrefix(name, resourcename.Organizations+"/")
	return ok && resourcename.ValidID(id)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func normalizeDomains(in []string) ([]string, error) {
	if len(in) > maxDomains {
		return nil, atField("domains", errTooManyDomains)
	}
	var out []string
	for i, d := range in {
		ascii, _, err := domainname.Normalize(d)
		if err != nil {
			return nil, atField(fmt.Sprintf("domains[%d]", i), err)
		}
		if !slices.Contains(out, ascii) {
			out = append(out, ascii)
		}
	}
	return out, nil
}

func mappingFromProto(m *connectionv1.AttributeMapping) mapping.Mapping {
	return mapping.Mapping{
		Email: m.GetEmail(), FullName: m.GetFullName(), GivenName: m.GetGivenName(), Surname: m.GetSurname(),
		Groups: m.GetGroups(), IechorOrg: m.GetIechorOrg(), IechorTeam: m.GetIechorTeam(), IechorRole: m.GetIechorRole(),
		IechorSessionMinutes: m.GetIechorSessionMinutes(),
	}
}

var (
	tenantPattern = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+)$`)
	// RFC 6749 scope-token characters.
	scopePattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)
)

func printable(s string, max int) bool {
	return s != "" && len(s) <= max && utf8.ValidString(s) && strings.TrimSpace(s) == s && !strings.ContainsFunc(s, unicode.IsControl)
}

func noSpaces(s string, max int) bool {
	return printable(s, max) && !strings.ContainsFunc(s, unicode.IsSpace)
}

// normalize fills the defaults and checks the whole connection, everything that needs no peer.
// imp names the field that certificates from metadata came from.
func (e *editor) normalize(c *store.Connection, owner resourcename.Owner, imp *imported) error {
	now := e.now()
	if !printable(c.DisplayName, maxDisplayName) {
		return atField("display_name", errDisplayName)
	}
	if c.State != store.Draft && c.State != store.Active {
		return atField("state", errState)
	}
	s := &c.Settings
	if owner.Kind == resourcename.Organizations && len(s.Organizations) == 0 {
		s.Organizations = []string{owner.String()}
	}
	if len(s.Organizations) > maxOrganizations {
		return atField("organizations", errTooManyOrganizations)
	}
	for i, o := range s.Organizations {
		if !validOrganization(o) {
			return atField(fmt.Sprintf("organizations[%d]", i), errOrganizationName)
		}
	}
	if s.DefaultOrganization == "" && len(s.Organizations) == 1 {
		s.DefaultOrganization = s.Organizations[0]
	}
	if s.DefaultOrganization != "" {
		if !validOrganization(s.DefaultOrganization) {
			return atField("default_organization", errOrganizationName)
		}
		if !contains(s.Organizations, s.DefaultOrganization) {
			return atField("default_organization", errDefaultOrganization)
		}
	}
	if s.DefaultTeam != "" {
		parts := strings.Split(s.DefaultTeam, "/")
		if len(parts) != 4 || parts[0] != resourcename.Organizations || parts[2] != "teams" || !resourcename.ValidID(parts[1]) || !resourcename.ValidID(parts[3]) {
			return atField("default_team", errTeamName)
		}
	}
	if s.DefaultSessionMinutes < 0 || s.DefaultSessionMinutes > maxSessionMinutes {
		return atField("default_session_minutes", errSessionMinutes)
	}
	if err := s.Mapping.Validate(); err != nil {
		var fe *mapping.FieldError
		if errors.As(err, &fe) {
			return atField("attribute_mapping."+fe.Field, err)
		}
		return err
	}
	switch c.Type {
	case store.SAML:
		if s.OIDC != nil {
			return atField("oidc", errConfigMismatch)
		}
		if s.SAML == nil {
			s.SAML = &store.SAMLSettings{SignRequests: true}
		}
		if err := e.normalizeSAML(s.SAML, now, imp); err != nil {
			return err
		}
	case store.OIDC:
		if s.SAML != nil {
			return atField("saml", errConfigMismatch)
		}
		if s.OIDC == nil {
			return atField("oidc", errMissing)
		}
		if err := normalizeOIDC(s.OIDC); err != nil {
			return err
		}
	default:
		return atField("type", errType)
	}
	if c.State == store.Active {
		if field := missingForActivation(c); field != "" {
			return atField(field, errIncomplete)
		}
	}
	return nil
}

func (e *editor) normalizeSAML(s *store.SAMLSettings, now time.Time, imp *imported) error {
	if s.IdPEntityID != "" && !noSpaces(s.IdPEntityID, maxEntityID) {
		return atField("saml.idp_entity_id", errEntityID)
	}
	if s.IdPSSOURL != "" {
		if _, err := secureurl.Check(s.IdPSSOURL); err != nil {
			return atField("saml.idp_sso_url", err)
		}
	}
	parsed, err := certs.ParseSet(s.IdPCertificates, now)
	if err != nil {
		field := "saml.idp_certificates"
		if imp != nil {
			field = imp.field
		} else if ie := (*certs.IndexError)(nil); errors.As(err, &ie) {
			field = fmt.Sprintf("saml.idp_certificates[%d]", ie.Index)
		}
		return atField(field, err)
	}
	s.IdPCertificates = nil
	for _, c := range parsed {
		s.IdPCertificates = append(s.IdPCertificates, certs.PEM(c))
	}
	if s.ClockSkewSeconds == 0 {
		s.ClockSkewSeconds = defaultClockSkew
	}
	if s.ClockSkewSeconds < 0 || s.ClockSkewSeconds > maxClockSkew {
		return atField("saml.clock_skew_seconds", errClockSkew)
	}
	return nil
}

func normalizeOIDC(o *store.OIDCSettings) error {
	switch o.Provider {
	case providerEntraID:
		if o.TenantDomain != "" && !tenantPattern.MatchString(o.TenantDomain) {
			return atField("oidc.tenant_domain", errTenant)
		}
		o.IssuerURL = ""
		if o.TenantDomain != "" {
			o.IssuerURL = entraIssuer(o.TenantDomain)
		}
	case providerGeneric:
		o.TenantDomain = ""
		if o.IssuerURL != "" {
			u, err := secureurl.Check(o.IssuerURL)
			if err != nil {
				return atField("oidc.issuer_url", err)
			}
			if u.RawQuery != "" || u.ForceQuery {
				return atField("oidc.issuer_url", errIssuerQuery)
			}
			o.IssuerURL = strings.TrimRight(o.IssuerURL, "/")
		}
	default:
		return atField("oidc.provider", errOIDCProvider)
	}
	if o.ClientID != "" && !noSpaces(o.ClientID, maxClientID) {
		return atField("oidc.client_id", errClientID)
	}
	if len(o.Scopes) == 0 {
		o.Scopes = slices.Clone(defaultScopes)
	}
	if len(o.Scopes) > maxScopes {
		return atField("oidc.scopes", errScope)
	}
	for i, sc := range o.Scopes {
		if !scopePattern.MatchString(sc) {
			return atField(fmt.Sprintf("oidc.scopes[%d]", i), errScope)
		}
	}
	o.Scopes = dedup(o.Scopes)
	if !slices.Contains(o.Scopes, "openid") {
		o.Scopes = append([]string{"openid"}, o.Scopes...)
	}
	return nil
}

// missingForActivation names the first field an active connection needs and lacks.
func missingForActivation(c *store.Connection) string {
	switch c.Type {
	case store.SAML:
		s := c.Settings.SAML
		switch {
		case s.IdPEntityID == "":
			return "saml.idp_entity_id"
		case s.IdPSSOURL == "":
			return "saml.idp_sso_url"
		case len(s.IdPCertificates) == 0:
			return "saml.idp_certificates"
		}
	case store.OIDC:
		o := c.Settings.OIDC
		switch {
		case o.Provider == providerEntraID && o.TenantDomain == "":
			return "oidc.tenant_domain"
		case o.IssuerURL == "":
			return "oidc.issuer_url"
		case o.ClientID == "":
			return "oidc.client_id"
		case o.SealedClientSecret == "":
			return "oidc.client_secret"
		}
	}
	if c.Settings.JITEnabled && c.Settings.DefaultOrganization == "" {
		return "default_organization"
	}
	return ""
}

// idpCertificates parses the stored IdP certificates; they were checked when stored.
func idpCertificates(s *store.SAMLSettings) []*x509.Certificate {
	if s == nil {
		return nil
	}
	var out []*x509.Certificate
	for _, p := range s.IdPCertificates {
		if c, err := certs.Parse(p); err == nil {
			out = append(out, c)
		}
	}
	return out
}
