package mapping_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/iechor/sso/services/connection/internal/mapping"
)

func TestDefaultsCoverTheCommonIdentityProviders(t *testing.T) {
	r := mapping.Resolve(mapping.Mapping{}, mapping.SAML)
	for _, tc := range []struct {
		name  string
		list  []string
		wants []string
	}{
		{"the email comes from the NameID first", r.Email[:1], []string{mapping.NameID}},
		{"the email falls back to Entra ID's and ADFS's claim URIs and the plain name", r.Email,
			[]string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "email"}},
		{"the full name comes from the name URI or name", r.FullName, []string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "name"}},
		{"given name and surname have their URIs", append(r.GivenName, r.Surname...),
			[]string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"}},
		{"groups come from the Group and groups URIs, groups and Groups", r.Groups,
			[]string{"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "http://schemas.xmlsoap.org/claims/Group", "groups", "Groups"}},
		{"the provisioning attributes keep their names", append(append(append(r.IechorOrg, r.IechorTeam...), r.IechorRole...), r.IechorSessionMinutes...),
			[]string{"iechorOrg", "iechorTeam", "iechorRole", "iechorSessionMinutes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.wants {
				if !contains(tc.list, w) {
					t.Fatalf("%v lacks %s", tc.list, w)
				}
			}
		})
	}
	if idx(r.Email, "email") < idx(r.Email, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn") {
		t.Fatalf("the plain email attribute is tried before the claim URIs: %v", r.Email)
	}
}

func TestAnAdminsChoiceReplacesTheDefaults(t *testing.T) {
	r := mapping.Resolve(mapping.Mapping{Email: "workEmail", Groups: "roles"}, mapping.SAML)
	if strings.Join(r.Email, ",") != "workEmail" || strings.Join(r.Groups, ",") != "roles" || len(r.FullName) < 2 {
		t.Fatalf("resolved %+v", r)
	}
	o := mapping.Resolve(mapping.Mapping{}, mapping.OIDC)
	if o.Email[0] != "email" || contains(o.Email, mapping.NameID) {
		t.Fatalf("OIDC email %v", o.Email)
	}
}

func TestAttributeNamesAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		m     mapping.Mapping
		field string
	}{
		{"a control character is refused", mapping.Mapping{Groups: "gro\x00ups"}, "groups"},
		{"surrounding spaces are refused", mapping.Mapping{Email: " email"}, "email"},
		{"a name over 256 characters is refused", mapping.Mapping{IechorRole: strings.Repeat("r", 257)}, "iechor_role"},
		{"sound names pass", mapping.Mapping{Email: "urn:oid:0.9.2342.19200300.100.1.3", FullName: "Display Name"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			var fe *mapping.FieldError
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, mapping.ErrInvalidName) {
				t.Fatalf("Validate: %v, want field %s", err, tc.field)
			}
		})
	}
}

func TestMetadataAdvertisesAnEmailOnlyWhereTheMappingLooks(t *testing.T) {
	def := mapping.Resolve(mapping.Mapping{}, mapping.SAML).Email
	for _, tc := range []struct {
		name             string
		email            []string
		formats, attribs []string
		want             bool
	}{
		{"an emailAddress NameID format is enough", def, []string{mapping.NameIDFormatEmail}, nil, true},
		{"an advertised emailaddress claim is enough", def, nil, []string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"}, true},
		{"nothing advertised is not", def, nil, nil, false},
		{"only unrelated attributes are not", def, []string{"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}, []string{"department"}, false},
		{"an emailAddress NameID does not help a mapping that ignores NameID", []string{"mail"}, []string{mapping.NameIDFormatEmail}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mapping.AdvertisesEmail(tc.email, tc.formats, tc.attribs); got != tc.want {
				t.Fatalf("AdvertisesEmail = %v", got)
			}
		})
	}
}

func contains(list []string, s string) bool { return idx(list, s) >= 0 }

func idx(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
