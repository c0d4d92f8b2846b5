package ssod_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/tracing"
)

// logLines is a log that tests read while the suite writes it.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// componentsLogging lists the components that logged a line naming request id id, each once.
func (l *logLines) componentsLogging(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["request_id"] != id {
			continue
		}
		if c, _ := line["component"].(string); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// traceOf waits until the trace id has spans of every service in want (a service's span may end
// just after its answer reached the caller), and returns them.
func traceOf(t *testing.T, exp *tracetest.InMemoryExporter, id string, want []string) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var spans tracetest.SpanStubs
		var services []string
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() != id {
				continue
			}
			spans = append(spans, s)
			if n := serviceOf(s); !slices.Contains(services, n) {
				services = append(services, n)
			}
		}
		slices.Sort(services)
		if slices.Equal(services, want) {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s has spans of %v, want %v", id, services, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serviceOf(s tracetest.SpanStub) string {
	for _, a := range s.Resource.Attributes() {
		if a.Key == "service.name" {
			return a.Value.AsString()
		}
	}
	return ""
}

// postACSAsClient posts the IdP's answer as the browser would and returns the response with its page.
func postACSAsClient(t *testing.T, p posted) (*http.Response, string) {
	t.Helper()
	form := url.Values{"SAMLResponse": {p.samlResponse}, "RelayState": {p.relayState}}
	req, _ := http.NewRequest(http.MethodPost, p.acs, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// A client's own trace context and request id: the edge starts its own trace all the same.
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	req.Header.Set("X-Request-Id", "client-chosen")
	req.AddCookie(&http.Cookie{Name: p.binding.Name, Value: p.binding.Value})
	resp, err := noRedirects(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

var traceIDForm = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestOneSignInIsOneTraceThroughEveryService(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	logs := &logLines{}
	// The assertion service keeps a connection's configuration for its TTL; a person spends longer
	// than that at the IdP (five seconds by default), so the ACS asks the connection service again.
	// The test waits out a TTL of 100 ms to be that person.
	const ttl = 100 * time.Millisecond
	w := setUpWorldWith(t, map[string]string{"ASSERTION_CONNECTION_CACHE_TTL": ttl.String()},
		logging.New(logs, "info", "ssod"), tracing.Exporting(exp), gateway.Options{})
	all := []string{"assertion", "connection", "domain", "gateway", "provisioning"}

	p := w.startAtIdP(t, "jane@acme.example", "jane", "jane-password")
	time.Sleep(ttl + 50*time.Millisecond)
	resp, page := postACSAsClient(t, p)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("the sign-in failed: %d\n%s", resp.StatusCode, page)
	}
	signedIn := resp.Header.Get("X-Request-Id")

	t.Run("the answer's request id is a trace id of the edge's own, not the caller's", func(t *testing.T) {
		if !traceIDForm.MatchString(signedIn) || signedIn == "0af7651916cd43dd8448eb211c80319c" {
			t.Fatalf("X-Request-Id %q", signedIn)
		}
	})

	t.Run("the sign-in's trace has spans in the gateway, assertion, connection, provisioning and domain", func(t *testing.T) {
		spans := traceOf(t, exp, signedIn, all)
		var roots []string
		names := map[string][]string{}
		for _, s := range spans {
			if !s.Parent.IsValid() {
				roots = append(roots, serviceOf(s)+" "+s.Name)
			}
			names[serviceOf(s)] = append(names[serviceOf(s)], s.Name)
		}
		if len(roots) != 1 || roots[0] != "gateway POST /saml/{connection}/acs" {
			t.Fatalf("roots %v, want the edge's ACS span alone", roots)
		}
		for service, want := range map[string]string{
			"assertion":    "iechor.sso.assertion.v1.AssertionInternalService/ValidateSamlResponse",
			"connection":   "iechor.sso.connection.v1.ConnectionInternalService/GetRuntimeConnection",
			"provisioning": "iechor.sso.provisioning.v1.ProvisioningInternalService/ProvisionUser",
		} {
			if !slices.Contains(names[service], want) {
				t.Errorf("%s's spans %v lack %s", service, names[service], want)
			}
		}
	})

	t.Run("every component logged the request under the trace id", func(t *testing.T) {
		if got := logs.componentsLogging(signedIn); !slices.Equal(got, all) {
			t.Fatalf("components logging request %s: %v, want %v", signedIn, got, all)
		}
	})

	t.Run("a refused sign-in's page gives its trace id as the reference", func(t *testing.T) {
		// The same answer again: its relay state is spent.
		resp, page := postACSAsClient(t, p)
		ref := pageReference.FindStringSubmatch(page)
		if resp.StatusCode != http.StatusForbidden || ref == nil || !strings.Contains(page, `<code id="reason">RELAY_STATE_UNKNOWN</code>`) {
			t.Fatalf("%d\n%s", resp.StatusCode, page)
		}
		id := ref[1]
		if !traceIDForm.MatchString(id) || id != resp.Header.Get("X-Request-Id") || id == signedIn {
			t.Fatalf("reference %q, X-Request-Id %q", id, resp.Header.Get("X-Request-Id"))
		}
		traceOf(t, exp, id, []string{"assertion", "gateway"})
		if got := logs.componentsLogging(id); !slices.Contains(got, "gateway") || !slices.Contains(got, "assertion") {
			t.Fatalf("components logging the refused request %s: %v", id, got)
		}
	})
}
