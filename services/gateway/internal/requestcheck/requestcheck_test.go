package requestcheck

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	loginv1 "github.com/iechor/sso/gen/iechor/sso/login/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// apiFiles are the files whose services the edge serves over REST.
func apiFiles() []protoreflect.FileDescriptor {
	return []protoreflect.FileDescriptor{domainv1.File_iechor_sso_domain_v1_domain_proto, provisioningv1.File_iechor_sso_provisioning_v1_directory_proto,
		connectionv1.File_iechor_sso_connection_v1_connection_proto, assertionv1.File_iechor_sso_assertion_v1_assertion_proto,
		loginv1.File_iechor_sso_login_v1_login_proto}
}

func checker(t testing.TB) *Checker {
	t.Helper()
	c, err := New(apiFiles()...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parserWords are fragments of wording that only a library would write.
var parserWords = regexp.MustCompile(`proto:|json:|invalid character|unexpected EOF|syntax error|strconv|grpc:|\bline 1:`)

func TestBodiesAreCheckedAgainstTheMessageInWordsOfOurs(t *testing.T) {
	createDomain := (&domainv1.CreateDomainRequest{}).ProtoReflect().Descriptor()
	connection := (&connectionv1.Connection{}).ProtoReflect().Descriptor()
	startLogin := (&loginv1.StartLoginRequest{}).ProtoReflect().Descriptor()
	event := (&provisioningv1.AuditEvent{}).ProtoReflect().Descriptor()
	lookup := (&domainv1.LookupDomainRequest{}).ProtoReflect().Descriptor()
	deep := strings.Repeat(`{"saml":`, 40)
	for _, tc := range []struct {
		name  string
		md    protoreflect.MessageDescriptor
		body  string
		field string // "" when the body is accepted or refused as a whole
		utf8  bool
		ok    bool
	}{
		{"an empty body is an empty message", createDomain, "", "", false, true},
		{"a body of JSON names", createDomain, `{"domainName":"example.com"}`, "", false, true},
		{"a body of proto names", createDomain, `{"domain_name":"example.com","parent":"companies/acme"}`, "", false, true},
		{"null leaves a field unset", createDomain, `{"domainName":null}`, "", false, true},
		{"a NUL escape is text for the service to judge", createDomain, `{"domainName":"a\u0000b"}`, "", false, true},
		{"a pair of surrogate escapes is one character", createDomain, `{"domainName":"\ud83d\ude00"}`, "", false, true},
		{"a nested message, enums by name, lists and a oneof", connection, `{"displayName":"X","type":"CONNECTION_TYPE_SAML","domains":["a.example"],"saml":{"signRequests":true},"defaultSessionMinutes":"60"}`, "", false, true},
		{"an enum by number", connection, `{"type":1}`, "", false, true},
		{"a map and a timestamp", event, `{"details":{"k":"v"},"eventTime":"2026-01-02T03:04:05.123Z"}`, "", false, true},
		{"an integer written 1e2", connection, `{"defaultSessionMinutes":1e2}`, "", false, true},
		{"a field mask", (&connectionv1.UpdateConnectionRequest{}).ProtoReflect().Descriptor(), `{"updateMask":"displayName,saml.signRequests"}`, "", false, true},

		{"a body that is not JSON", createDomain, `{"domainName":`, "", false, false},
		{"a body that is cut short", createDomain, `{"domainName":"a"`, "", false, false},
		{"a body that is an array", createDomain, `[{"domainName":"a"}]`, "", false, false},
		{"a body that is null", createDomain, `null`, "", false, false},
		{"two bodies", createDomain, `{} {}`, "", false, false},
		{"a raw control character in a string", createDomain, "{\"domainName\":\"a\x01b\"}", "", false, false},
		{"a number for a string", createDomain, `{"domainName":5}`, "domainName", false, false},
		{"an object for a string", createDomain, `{"domainName":{"a":1}}`, "domainName", false, false},
		{"a string for a message", startLogin, `{"client":"x"}`, "client", false, false},
		{"a string for a bool", startLogin, `{"testMode":"true"}`, "testMode", false, false},
		{"an unknown field", createDomain, `{"domainName":"a.example","owner":"x"}`, "owner", false, false},
		{"an unknown nested field", startLogin, `{"client":{"type":"CLIENT_TYPE_HUB","os":"x"}}`, "client.os", false, false},
		{"one field twice under both names", createDomain, `{"domainName":"a","domain_name":"b"}`, "domainName", false, false},
		{"an unknown enum name", connection, `{"type":"CONNECTION_TYPE_LDAP"}`, "type", false, false},
		{"a fraction for an integer", connection, `{"defaultSessionMinutes":1.5}`, "defaultSessionMinutes", false, false},
		{"an integer out of range", connection, `{"defaultSessionMinutes":2147483648}`, "defaultSessionMinutes", false, false},
		{"both members of a oneof", lookup, `{"email":"a@b.example","domainName":"b.example"}`, "domainName", false, false},
		{"a string for a list", connection, `{"domains":"a.example"}`, "domains", false, false},
		{"null in a list", connection, `{"domains":["a.example",null]}`, "domains[1]", false, false},
		{"a number in a list of strings", connection, `{"domains":["a.example",7]}`, "domains[1]", false, false},
		{"a time that is not RFC 3339", event, `{"eventTime":"yesterday"}`, "eventTime", false, false},
		{"a map value of the wrong type", event, `{"details":{"k":1}}`, "details.k", false, false},
		{"nesting past the bound", connection, deep, "", false, false},
		{"invalid UTF-8 in a value", createDomain, "{\"domainName\":\"\xff\xfe.example\"}", "domainName", true, false},
		{"invalid UTF-8 in a nested value", startLogin, "{\"client\":{\"version\":\"4.\xc0\"}}", "client.version", true, false},
		{"invalid UTF-8 in a key", createDomain, "{\"domain\xffName\":\"a\"}", "", true, false},
		{"a lone surrogate escape", createDomain, `{"domainName":"\ud800x"}`, "domainName", true, false},
		{"a lone low surrogate escape", createDomain, `{"domainName":"\udc00"}`, "domainName", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := checkBody([]byte(tc.body), tc.md)
			if tc.ok {
				if be != nil {
					t.Fatalf("refused: %v", be)
				}
				return
			}
			if be == nil {
				t.Fatal("accepted")
			}
			if be.utf8 != tc.utf8 {
				t.Fatalf("utf8 %v, want %v (%v)", be.utf8, tc.utf8, be)
			}
			if tc.field != "" && be.field != tc.field {
				t.Fatalf("field %q, want %q (%v)", be.field, tc.field, be)
			}
			if msg := be.Error(); parserWords.MatchString(msg) || (tc.field != "" && !strings.Contains(msg, tc.field)) {
				t.Fatalf("message %q", msg)
			}
		})
	}
}

// The checker must agree with protojson, which decodes the body afterwards: what the checker
// accepts, protojson accepts; what it refuses, protojson refuses too (nesting aside: protojson
// allows ten thousand levels, which is no reason to parse them).
func TestTheBodyCheckAgreesWithProtojson(t *testing.T) {
	msgs := []proto.Message{&domainv1.CreateDomainRequest{}, &connectionv1.Connection{}, &loginv1.StartLoginRequest{},
		&provisioningv1.AuditEvent{}, &domainv1.LookupDomainRequest{}}
	bodies := []string{
		``, `{}`, `{"domainName":"a"}`, `{"domain_name":"a"}`, `{"domainName":5}`, `{"domainName":"a","domainName":"b"}`,
		`{"type":"CONNECTION_TYPE_SAML"}`, `{"type":"NOPE"}`, `{"type":2}`, `{"type":1.5}`, `{"defaultSessionMinutes":"7"}`,
		`{"defaultSessionMinutes":" 7"}`, `{"defaultSessionMinutes":1e2}`, `{"defaultSessionMinutes":-2147483649}`,
		`{"saml":{},"oidc":null}`, `{"saml":{},"oidc":{}}`, `{"domains":[]}`, `{"domains":[null]}`, `{"domains":null}`,
		`{"client":{"type":"CLIENT_TYPE_DESKTOP","version":"4.5.0"}}`, `{"client":[]}`, `{"testMode":true}`, `{"testMode":1}`,
		`{"details":{"a":"b"}}`, `{"details":{"a":null}}`, `{"eventTime":"2026-01-02T03:04:05Z"}`, `{"eventTime":"2026-01-02"}`,
		`{"eventTime":"0000-01-01T00:00:00Z"}`, `{"eventTime":"2026-01-02T03:04:05.1234567891Z"}`, `{"x":1}`, `[]`, `"a"`, `{} x`,
		`{"domainName":"\ud800"}`, `{"domainName":"\ud83d\ude00"}`, "{\"domainName\":\"\xff\"}", `{"revision":"12"}`,
		`{"saml":{"signRequests":"yes"}}`, `{"attributeMapping":{"email":"mail"}}`, `{"email":"a","domainName":"b"}`,
		`{"email":"a","domainName":null}`,
	}
	for _, m := range msgs {
		md := m.ProtoReflect().Descriptor()
		for _, b := range bodies {
			ours := checkBody([]byte(b), md) == nil
			theirs := b == "" || protojson.Unmarshal([]byte(b), proto.Clone(m)) == nil
			if ours != theirs {
				t.Errorf("%s %s: the check says %v, protojson %v", md.Name(), b, ours, theirs)
			}
		}
	}
}

func TestQueryParametersAreCheckedAgainstTheCall(t *testing.T) {
	c := checker(t)
	for _, tc := range []struct {
		name, method, target, field string
		ok                          bool
	}{
		{"the parameters of a list", "GET", "/v1/companies/acme/domains?pageSize=5&pageToken=abc&state=DOMAIN_STATE_VERIFIED", "", true},
		{"proto names", "GET", "/v1/companies/acme/domains?page_size=5", "", true},
		{"an update mask", "PATCH", "/v1/companies/acme/connections/conn_1?updateMask=displayName", "", true},
		{"a number that is not one", "GET", "/v1/companies/acme/domains?pageSize=abc", "pageSize", false},
		{"a number past 32 bits", "GET", "/v1/companies/acme/domains?pageSize=99999999999", "pageSize", false},
		{"an unknown enum value", "GET", "/v1/companies/acme/domains?state=NOPE", "state", false},
		{"an unknown parameter", "GET", "/v1/companies/acme/domains?bogus=1", "bogus", false},
		{"a field the path fills", "GET", "/v1/companies/acme/domains?parent=companies/rival", "parent", false},
		{"a field the body fills", "PATCH", "/v1/companies/acme/connections/conn_1?connection.displayName=x", "connection.displayName", false},
		{"a parameter given twice", "GET", "/v1/companies/acme/domains?pageSize=1&pageSize=2", "pageSize", false},
		{"one field under both names", "GET", "/v1/companies/acme/domains?pageSize=1&page_size=2", "", false},
		{"any parameter of a call whose body is the request", "POST", "/v1/companies/acme/domains?domainName=x", "domainName", false},
		{"an escape that is not one", "GET", "/v1/companies/acme/domains?pageToken=%zz", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://edge"+tc.target, strings.NewReader("{}"))
			status, err := c.Check(r)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || status != http.StatusBadRequest || err.Reason != "INVALID_QUERY_PARAMETER" || err.Metadata["field"] != tc.field {
				t.Fatalf("%d %v %v, want INVALID_QUERY_PARAMETER on %q", status, err, err.Metadata, tc.field)
			}
			if parserWords.MatchString(err.Message) {
				t.Fatalf("message %q", err.Message)
			}
		})
	}
}

func TestEveryRouteOfTheAPIIsChecked(t *testing.T) {
	c := checker(t)
	if len(c.Routes()) < 50 {
		t.Fatalf("%d routes; the API has more", len(c.Routes()))
	}
	segment := regexp.MustCompile(`\{[^}=]+=([^}]+)\}`)
	for _, rt := range c.Routes() {
		path := segment.ReplaceAllStringFunc(rt.Template, func(v string) string {
			return strings.ReplaceAll(segment.FindStringSubmatch(v)[1], "*", "x")
		})
		r := httptest.NewRequest(rt.Method, "http://edge"+path+"?notAParameter=1", strings.NewReader("{}"))
		if _, err := c.Check(r); err == nil || err.Reason != "INVALID_QUERY_PARAMETER" {
			t.Errorf("%s %s (%s): not checked (%v)", rt.Method, path, rt.RPC, err)
		}
	}
}

func TestABodyIsPutBackForTheHandler(t *testing.T) {
	c := checker(t)
	r := httptest.NewRequest("POST", "http://edge/v1/companies/acme/domains", strings.NewReader(`{"domainName":"a.example"}`))
	if _, err := c.Check(r); err != nil {
		t.Fatal(err)
	}
	var got domainv1.CreateDomainRequest
	b, err := io.ReadAll(r.Body)
	if err != nil || protojson.Unmarshal(b, &got) != nil || got.GetDomainName() != "a.example" {
		t.Fatalf("the handler would read %q (%v)", b, err)
	}
	r = httptest.NewRequest("POST", "http://edge/v1/companies/acme/domains", strings.NewReader(`{"domainName":5}`))
	if status, err := c.Check(r); status != 400 || !errorIs(err, ErrInvalidBody) || err.Metadata["field"] != "domainName" {
		t.Fatalf("%d %v", status, err)
	}
}

func errorIs(err *rpcerror.Error, target *rpcerror.Error) bool {
	return err != nil && err.Code == target.Code && err.Reason == target.Reason
}
