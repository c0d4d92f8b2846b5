package ssod_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/provisioning"
)

// telltales are fragments that only a parser, a library or the Go runtime writes. None may reach a
// client, whatever it sends.
var telltales = regexp.MustCompile(`proto:|grpc:|json:|invalid character|unexpected EOF|unexpected end of JSON|runtime error|` +
	`panic|goroutine|nil pointer|strconv\.|syntax error|SQLSTATE|sql:|pgx|sqlite|rpc error|desc = |transport:|` +
	`context deadline|context canceled|\*[a-z]+\.[A-Z][A-Za-z]+|\bmap\[|%!|\(line \d+:\d+\)|127\.0\.0\.1`)

// operation is one REST operation of the OpenAPI document.
type operation struct {
	method, path string // path as the document writes it: /v1/{name_2}
	id           string
	pathParams   map[string]string // name -> pattern, such as companies/[^/]+/domains/[^/]+
	queryParams  []string
	body         map[string]string // the body's top-level properties and their JSON types; nil without a body
}

// operations reads every operation from the suite's own OpenAPI document, so that a new operation
// is swept without anyone listing it here.
func operations(t *testing.T, s *running) []operation {
	t.Helper()
	resp, err := http.Get(s.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type schema struct {
		Ref        string                     `json:"$ref"`
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name    string `json:"name"`
				In      string `json:"in"`
				Pattern string `json:"pattern"`
				Schema  schema `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	typeOf := func(raw json.RawMessage) string {
		var p schema
		_ = json.Unmarshal(raw, &p)
		if p.Ref != "" {
			if def := doc.Definitions[strings.TrimPrefix(p.Ref, "#/definitions/")]; def.Type != "" {
				return def.Type // an enum is a string, a message an object
			}
			return "object"
		}
		return p.Type
	}
	var ops []operation
	for path, methods := range doc.Paths {
		for method, o := range methods {
			op := operation{method: strings.ToUpper(method), path: path, id: o.OperationID, pathParams: map[string]string{}}
			for _, p := range o.Parameters {
				switch p.In {
				case "path":
					op.pathParams[p.Name] = p.Pattern
				case "query":
					op.queryParams = append(op.queryParams, p.Name)
				case "body":
					body := p.Schema
					if body.Ref != "" {
						body = doc.Definitions[strings.TrimPrefix(body.Ref, "#/definitions/")]
					}
					op.body = map[string]string{}
					for name, prop := range body.Properties {
						op.body[name] = typeOf(prop)
					}
				}
			}
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	return ops
}

// tables returns a fingerprint of every table of the suite's stores (one PostgreSQL schema here).
func tables(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	if len(names) < 10 {
		t.Fatalf("only %d tables: %v", len(names), names)
	}
	out := map[string]string{}
	for _, n := range names {
		var count int
		var sum string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM %q AS t`, n)
		if err := db.QueryRowContext(ctx, q).Scan(&count, &sum); err != nil {
			t.Fatal(err)
		}
		out[n] = fmt.Sprintf("%d rows %s", count, sum)
	}
	return out
}

// settled returns the fingerprint once two in a row agree: what the set-up started in the
// background (audit deliveries) has finished.
func settled(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	prev := tables(t, db)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		cur := tables(t, db)
		if fmt.Sprint(cur) == fmt.Sprint(prev) {
			return cur
		}
		prev = cur
	}
	t.Fatal("the stores never settled")
	return nil
}

// hostile values for one segment of a path.
var hostileSegments = []struct{ name, value string }{
	{"upper case", "ACME"},
	{"a NUL byte", "acme%00"},
	{"a 70-character id", strings.Repeat("a", 70)},
	{"invalid UTF-8", "%FF%FE"},
	{"an escaped slash climbing to another tenant", "acme%2F..%2Frival"},
	{"a space", "a%20b"},
	{"a line break", "a%0Ab"},
	{"an overlong segment", strings.Repeat("b", 4000)},
}

// hostile query strings, for every operation; page ones too for lists.
var hostileQueries = []struct{ name, value string }{
	{"an unknown parameter", "zzUnknown=1"},
	{"invalid UTF-8", "zzUnknown=%FF"},
	{"an invalid UTF-8 key", "%FF=1"},
	{"a broken escape", "a=%zz"},
}

var hostilePageQueries = []struct{ name, value string }{
	{"a bad page token", "pageToken=zzz"},
	{"a page token with a NUL byte", "pageToken=%00"},
	{"a page token of invalid UTF-8", "pageToken=%FF"},
	{"an overlong page token", "pageToken=" + strings.Repeat("A", 5000)},
	{"a negative size", "pageSize=-1"},
	{"a size past 32 bits", "pageSize=99999999999"},
	{"a size that is not a number", "pageSize=ten"},
	{"a size twice", "pageSize=1&pageSize=2"},
	{"one field under two names", "pageSize=1&page_size=2"},
}

// hostile bodies, whole.
var hostileBodies = []struct{ name, value string }{
	{"not JSON", `{"a":`},
	{"a lone bracket", `]`},
	{"an array", `[]`},
	{"a string", `"x"`},
	{"a number", `5`},
	{"null", `null`},
	{"two values", `{} {}`},
	{"an unknown field", `{"zzUnknown":1}`},
	{"an unknown field twice", `{"zzUnknown":1,"zzUnknown":2}`},
	{"invalid UTF-8 in a key", "{\"\xff\":1}"},
	{"a raw NUL byte", "{\"a\x00\":1}"},
	{"deep arrays", strings.Repeat("[", 5000) + strings.Repeat("]", 5000)},
	{"deep objects", strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)},
	{"a body over the cap", `{"zz":"` + strings.Repeat("a", 2<<20) + `"}`},
}

// hostile values for one field of a body, by the field's JSON type.
func hostileValues(jsonType string) []struct{ name, value string } {
	wrong := map[string]string{"string": `5`, "integer": `"ten"`, "number": `"ten"`, "boolean": `"yes"`, "object": `"x"`, "array": `{"a":1}`}
	vs := []struct{ name, value string }{
		{"the wrong type", wrong[jsonType]},
		{"an array of nulls", `[null]`},
	}
	if jsonType == "string" {
		vs = append(vs,
			struct{ name, value string }{"invalid UTF-8", "\"\xc0\xaf\""},
			struct{ name, value string }{"a lone surrogate", `"\ud800"`},
			struct{ name, value string }{"a NUL escape", `"\u0000"`},
			struct{ name, value string }{"control characters", `"a\u0001\u001b[31mb"`},
			struct{ name, value string }{"an overlong string", `"` + strings.Repeat("x", 300000) + `"`},
		)
	}
	if jsonType == "integer" {
		vs = append(vs,
			struct{ name, value string }{"a negative number", `-1`},
			struct{ name, value string }{"a number past 64 bits", `1e30`},
		)
	}
	return vs
}

type hostileRequest struct {
	name, method, path, body string
}

// TestNoHostileInputMakesTheEdgeFailOrTalkOrWrite sends every REST operation of the OpenAPI
// document a table of hostile paths, queries and bodies with a valid owner's token, and asserts
// that each is refused (or, for a read, answered) without a 5xx, with a google.rpc.Status that
// carries an ErrorInfo reason, without a library's wording, and without a change in any table.
func TestNoHostileInputMakesTheEdgeFailOrTalkOrWrite(t *testing.T) {
	t.Parallel()
	dsn := sqlstoretest.PostgresDSN(t)
	dns := dnstest.Start(t)
	s := startSuite(t, map[string]string{
		"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dns.Addr(), "DATABASE_URL": dsn, "DOMAIN_RECHECK_INTERVAL": "1h",
		"GATEWAY_RATE_LIMIT_START_IP": "0", "GATEWAY_RATE_LIMIT_START_EMAIL": "0", "GATEWAY_RATE_LIMIT_REDEEM_IP": "0",
	})
	res, token := s.bootstrap(t, provisioning.BootstrapRequest{Company: "acme", OwnerEmail: "owner@acme.example"})
	s.bootstrap(t, provisioning.BootstrapRequest{Company: "rival", OwnerEmail: "owner@rival.example"})
	must := func(r reply, what string) reply {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.raw)
		}
		return r
	}
	must(s.call(t, token, "POST", "/v1/organizations",
		`{"organizationId":"eng","organization":{"displayName":"Engineering","company":"companies/acme","plan":"PLAN_BUSINESS"}}`), "organization")
	must(s.call(t, token, "POST", "/v1/organizations/eng/teams", `{"teamId":"devs","team":{"displayName":"Developers"}}`), "team")
	d := must(s.call(t, token, "POST", "/v1/companies/acme/domains", `{"domainName":"acme.example"}`), "domain")
	dns.SetTXT("acme.example", field(d.body, "domain", "txtRecord", "value").(string))
	must(s.call(t, token, "POST", "/v1/companies/acme/domains/acme.example:verify", `{}`), "verify")
	c := must(s.call(t, token, "POST", "/v1/companies/acme/connections", fmt.Sprintf(
		`{"connection":{"displayName":"Acme IdP","type":"CONNECTION_TYPE_SAML","domains":["acme.example"],"organizations":["organizations/eng"],
		"defaultOrganization":"organizations/eng","saml":{"idpMetadataXml":%q}}}`, startIdP(t).metadata(t))), "connection")
	connID := field(c.body, "connection", "name").(string)
	connID = connID[strings.LastIndexByte(connID, '/')+1:]
	// The value of each collection's id in a path that is not the hostile one: real resources, so
	// that a hostile query or body reaches the service that owns them.
	real := map[string]string{"companies": "acme", "organizations": "eng", "users": strings.TrimPrefix(res.Owner, "users/"),
		"domains": "acme.example", "connections": connID, "teams": "devs"}

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := settled(t, db)

	ops := operations(t, s)
	if len(ops) < 50 {
		t.Fatalf("the OpenAPI document lists %d operations", len(ops))
	}
	var reqs []hostileRequest
	for _, op := range ops {
		reqs = append(reqs, op.hostile(real)...)
	}
	if len(reqs) > 5000 {
		t.Fatalf("%d requests: the sweep must stay bounded", len(reqs))
	}
	started := time.Now()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// A few clients at once, as the edge meets them: each request is refused on its own, so the
	// order does not matter, and the sweep keeps both cores busy.
	problems := make([]string, len(reqs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(reqs); i = int(next.Add(1)) - 1 {
				problems[i] = send(client, s.base, token, reqs[i])
			}
		})
	}
	wg.Wait()
	failures := 0
	for i, hr := range reqs {
		if problem := problems[i]; problem != "" {
			failures++
			if failures <= 40 {
				t.Errorf("%s %s (%s): %s", hr.method, shorten(hr.path), hr.name, problem)
			}
		}
	}
	t.Logf("%d hostile requests to %d operations in %v", len(reqs), len(ops), time.Since(started).Round(time.Millisecond))
	if failures > 40 {
		t.Errorf("... and %d more", failures-40)
	}

	after := tables(t, db)
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("table %s changed: %s, then %s", name, sum, after[name])
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("table %s appeared", name)
		}
	}
}

// hostile returns the requests of the sweep for op.
func (op operation) hostile(real map[string]string) []hostileRequest {
	placeholders := regexp.MustCompile(`\{([^}]+)\}`)
	// build returns the path of op with the hostile value as its id number at (-1: none) and real
	// ids elsewhere. A pattern reads companies/[^/]+/domains/[^/]+: each [^/]+ is an id, named by
	// the collection before it.
	build := func(at int, value string) string {
		n := 0
		return placeholders.ReplaceAllStringFunc(op.path, func(m string) string {
			pieces := strings.Split(op.pathParams[m[1:len(m)-1]], "[^/]+")
			var b strings.Builder
			for i, piece := range pieces {
				b.WriteString(piece)
				if i == len(pieces)-1 {
					break
				}
				collection := piece[strings.LastIndexByte(strings.TrimSuffix(piece, "/"), '/')+1:]
				collection = strings.TrimSuffix(collection, "/")
				switch v, ok := real[collection]; {
				case n == at:
					b.WriteString(value)
				case ok:
					b.WriteString(v)
				default:
					b.WriteString("x1")
				}
				n++
			}
			return b.String()
		})
	}
	ids := strings.Count(strings.Join(mapValues(op.pathParams), "/"), "[^/]+")
	validPath := build(-1, "")
	validBody := "{}"
	if op.body == nil {
		validBody = ""
	}
	var out []hostileRequest
	add := func(name, path, body string) {
		out = append(out, hostileRequest{name: name, method: op.method, path: path, body: body})
	}
	for at := 0; at < ids; at++ {
		for _, h := range hostileSegments {
			add(fmt.Sprintf("id %d: %s", at, h.name), build(at, h.value), validBody)
		}
	}
	queries := hostileQueries
	for _, q := range op.queryParams {
		if q == "pageSize" {
			queries = append(queries, hostilePageQueries...)
		}
	}
	for _, h := range queries {
		add("query: "+h.name, validPath+"?"+h.value, validBody)
	}
	if op.body == nil {
		return out
	}
	for _, h := range hostileBodies {
		add("body: "+h.name, validPath, h.value)
	}
	for name, typ := range op.body {
		for _, h := range hostileValues(typ) {
			add(fmt.Sprintf("body field %s: %s", name, h.name), validPath, fmt.Sprintf(`{%q:%s}`, name, h.value))
		}
	}
	return out
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// send makes one hostile request and says what is wrong with the answer, or "".
func send(client *http.Client, base, token string, hr hostileRequest) string {
	req, err := http.NewRequest(hr.method, base+hr.path, strings.NewReader(hr.body))
	if err != nil {
		return "the request could not be made: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode >= 500:
		return fmt.Sprintf("%d %s", resp.StatusCode, shorten(string(raw)))
	case resp.StatusCode < 400 && hr.method != http.MethodGet:
		return fmt.Sprintf("a hostile %s was accepted: %d %s", hr.method, resp.StatusCode, shorten(string(raw)))
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Sprintf("redirected (%d) to %s", resp.StatusCode, resp.Header.Get("Location"))
	case telltales.Match(raw):
		return fmt.Sprintf("a library's words reached the client: %s", shorten(telltales.FindString(string(raw))+" in "+string(raw)))
	case resp.StatusCode < 300:
		return ""
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
			Domain string `json:"domain"`
		} `json:"details"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Code == 0 || st.Message == "" || len(st.Details) == 0 ||
		st.Details[0].Type != "type.googleapis.com/google.rpc.ErrorInfo" || st.Details[0].Reason == "" || st.Details[0].Domain != "sso.iechor.com" {
		return fmt.Sprintf("%d is not a google.rpc.Status with an ErrorInfo reason: %s", resp.StatusCode, shorten(string(raw)))
	}
	return ""
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
