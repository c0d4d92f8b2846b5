package connection

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/mapping"
	"github.com/iechor/sso/services/connection/internal/store"
)

// CodeNoEmailAttribute warns that the imported IdP metadata promises no email where the mapping
// looks for one.
const CodeNoEmailAttribute = "NO_EMAIL_ATTRIBUTE"

// endpoints derives the URLs we give identity providers from the public base URL; the gateway serves
// them.
type endpoints struct{ base string }

func (e endpoints) entityID(id string) string    { return e.base + "/saml/" + id + "/metadata" }
func (e endpoints) acsURL(id string) string      { return e.base + "/saml/" + id + "/acs" }
func (e endpoints) redirectURL(id string) string { return e.base + "/oidc/" + id + "/callback" }

// publishedKeys are the active key and the previous ones not yet retired, newest first.
func publishedKeys(c store.Connection, now time.Time) []store.SPKey {
	var out []store.SPKey
	for _, k := range c.Keys {
		if k.Active || now.Before(k.RetireTime) {
			out = append(out, k)
		}
	}
	return out
}

func protocolOf(t store.Type) mapping.Protocol {
	if t == store.OIDC {
		return mapping.OIDC
	}
	return mapping.SAML
}

func typeToProto(t store.Type) connectionv1.ConnectionType {
	switch t {
	case store.SAML:
		return connectionv1.ConnectionType_CONNECTION_TYPE_SAML
	case store.OIDC:
		return connectionv1.ConnectionType_CONNECTION_TYPE_OIDC
	}
	return connectionv1.ConnectionType_CONNECTION_TYPE_UNSPECIFIED
}

func stateToProto(s store.State) connectionv1.ConnectionState {
	if s == store.Active {
		return connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE
	}
	return connectionv1.ConnectionState_CONNECTION_STATE_DRAFT
}

func infoToProto(c *x509.Certificate) *connectionv1.CertificateInfo {
	i := certs.Describe(c)
	return &connectionv1.CertificateInfo{
		Subject: i.Subject, Issuer: i.Issuer, NotBefore: timestamppb.New(i.NotBefore), NotAfter: timestamppb.New(i.NotAfter),
		Sha256Fingerprint: i.SHA256Fingerprint, KeyAlgorithm: i.KeyAlgorithm, KeyBits: int32(i.KeyBits), SignatureAlgorithm: i.SignatureAlgorithm,
	}
}

func mappingToProto(m mapping.Mapping) *connectionv1.AttributeMapping {
	return &connectionv1.AttributeMapping{
		Email: m.Email, FullName: m.FullName, GivenName: m.GivenName, Surname: m.Surname, Groups: m.Groups,
		IechorOrg: m.IechorOrg, IechorTeam: m.IechorTeam, IechorRole: m.IechorRole, IechorSessionMinutes: m.IechorSessionMinutes,
	}
}

// toProto is the connection as every read returns it: no secret, warnings computed for now.
func (e endpoints) toProto(c store.Connection, now time.Time) *connectionv1.Connection {
	s := c.Settings
	p := &connectionv1.Connection{
		Name:                  c.Name(),
		DisplayName:           c.DisplayName,
		Type:                  typeToProto(c.Type),
		State:                 stateToProto(c.State),
		Domains:               slices.Clone(c.Domains),
		Organizations:         slices.Clone(s.Organizations),
		DefaultOrganization:   s.DefaultOrganization,
		DefaultTeam:           s.DefaultTeam,
		EnforceSso:            c.EnforceSSO,
		JitEnabled:            proto.Bool(s.JITEnabled),
		HonorIdpRoles:         s.HonorIdPRoles,
		DefaultSessionMinutes: s.DefaultSessionMinutes,
		AttributeMapping:      mappingToProto(s.Mapping),
		CreateTime:            timestamppb.New(c.CreateTime),
		UpdateTime:            timestamppb.New(c.UpdateTime),
		ServiceProvider:       &connectionv1.ServiceProvider{},
	}
	sp := p.ServiceProvider
	switch c.Type {
	case store.SAML:
		sp.EntityId, sp.AcsUrl, sp.MetadataUrl = e.entityID(c.ID), e.acsURL(c.ID), e.entityID(c.ID)
		saml := s.SAML
		p.Saml = &connectionv1.SamlConfig{
			IdpEntityId: saml.IdPEntityID, IdpSsoUrl: saml.IdPSSOURL, SignRequests: proto.Bool(saml.SignRequests),
			AllowSha1: saml.AllowSHA1, ClockSkewSeconds: saml.ClockSkewSeconds,
		}
		for i, cert := range idpCertificates(saml) {
			p.Saml.IdpCertificates = append(p.Saml.IdpCertificates, certs.PEM(cert))
			p.Saml.CertificateInfo = append(p.Saml.CertificateInfo, infoToProto(cert))
			for _, w := range certs.Warnings(cert, now) {
				p.Warnings = append(p.Warnings, &connectionv1.Warning{Code: w.Code, Message: w.Message, Field: fmt.Sprintf("saml.idp_certificates[%d]", i)})
			}
		}
		if md := saml.Metadata; md != nil {
			email := mapping.Resolve(s.Mapping, mapping.SAML).Email
			if !mapping.AdvertisesEmail(email, md.NameIDFormats, md.Attributes) {
				p.Warnings = append(p.Warnings, &connectionv1.Warning{
					Code:    CodeNoEmailAttribute,
					Message: "The identity provider's metadata advertises neither an emailAddress NameID nor an email attribute that the mapping reads; make sure it sends the user's email, or set attribute_mapping.email.",
					Field:   "attribute_mapping.email",
				})
			}
		}
	case store.OIDC:
		sp.RedirectUrl = e.redirectURL(c.ID)
		o := s.OIDC
		p.Oidc = &connectionv1.OidcConfig{
			IssuerUrl: o.IssuerURL, ClientId: o.ClientID, TenantDomain: o.TenantDomain, Scopes: slices.Clone(o.Scopes),
			ClientSecretSet: o.SealedClientSecret != "",
		}
		switch o.Provider {
		case providerEntraID:
			p.Oidc.Provider = connectionv1.OidcProvider_OIDC_PROVIDER_ENTRA_ID
		case providerGeneric:
			p.Oidc.Provider = connectionv1.OidcProvider_OIDC_PROVIDER_GENERIC
		}
	}
	for i, k := range publishedKeys(c, now) {
		cert, err := certs.Parse(k.CertificatePEM)
		if err != nil {
			continue
		}
		spc := &connectionv1.ServiceProviderCertificate{CertificatePem: k.CertificatePEM, Info: infoToProto(cert), Active: k.Active}
		if !k.Active {
			spc.RetireTime = timestamppb.New(k.RetireTime)
		}
		sp.Certificates = append(sp.Certificates, spc)
		for _, w := range certs.Warnings(cert, now) {
			if w.Code == certs.CodeExpiring || w.Code == certs.CodeExpired {
				p.Warnings = append(p.Warnings, &connectionv1.Warning{Code: w.Code, Message: w.Message + " Rotate the service provider key.",
					Field: fmt.Sprintf("service_provider.certificates[%d]", i)})
			}
		}
	}
	return p
}

func resolvedToProto(r mapping.Resolved) *connectionv1.ResolvedAttributeMapping {
	return &connectionv1.ResolvedAttributeMapping{
		Email: r.Email, FullName: r.FullName, GivenName: r.GivenName, Surname: r.Surname, Groups: r.Groups,
		IechorOrg: r.IechorOrg, IechorTeam: r.IechorTeam, IechorRole: r.IechorRole, IechorSessionMinutes: r.IechorSessionMinutes,
	}
}
