package outbound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/iechor/sso/services/platform/outbound"
)

func TestTheAddressPolicy(t *testing.T) {
	for _, tc := range []struct {
		addr                 string
		strict, allowPrivate bool
	}{
		{"93.184.215.14", true, true},
		{"8.8.8.8", true, true},
		{"2606:4700::1111", true, true},
		{"64:ff9b::808:808", true, true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false, true},
		{"127.255.255.254", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"::ffff:10.1.2.3", false, true},
		{"64:ff9b::7f00:1", false, true},     // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 of 169.254.169.254
		{"64:ff9b:1::1", false, true},
		{"::127.0.0.1", false, true}, // IPv4-compatible, deprecated
		{"10.0.0.1", false, true},
		{"172.16.0.1", false, true},
		{"172.31.255.255", false, true},
		{"172.32.0.1", true, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"100.127.255.255", false, true},
		{"100.128.0.1", true, true},
		{"fc00::1", false, true},
		{"fd12:3456::1", false, true},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"224.0.0.1", false, false},
		{"239.255.255.250", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"240.0.0.1", false, false},
		{"192.0.2.1", false, false},
		{"198.18.0.1", false, false},
		{"2001:db8::1", false, false},
		{"2001::1", false, false},        // Teredo
		{"2002:7f00:1::1", false, false}, // 6to4
		{"fec0::1", false, false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			if got := outbound.Allowed(a, false); got != tc.strict {
				t.Errorf("by default: allowed %v, want %v", got, tc.strict)
			}
			if got := outbound.Allowed(a, true); got != tc.allowPrivate {
				t.Errorf("with private addresses allowed: allowed %v, want %v", got, tc.allowPrivate)
			}
		})
	}
}

// dnsServer answers A queries for the names in its table from a loopback UDP port; other names
// and types get an empty answer.
type dnsServer struct {
	addr string
	a    map[string]netip.Addr
}

func startDNS(t *testing.T, a map[string]netip.Addr) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	s := &dnsServer{addr: pc.LocalAddr().String(), a: a}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out, ok := s.answer(buf[:n]); ok {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return s
}

func (s *dnsServer) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	if addr, ok := s.a[name]; ok && q.Type == dnsmessage.TypeA && addr.Is4() {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: addr.As4()})
	}
	out, err := b.Finish()
	return out, err == nil
}

// resolver asks the server only.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
}

func rootsOf(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

// port returns the port of a test server.
func port(srv *httptest.Server) string {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	return p
}

func TestOutboundRequestsKeepToTheRules(t *testing.T) {
	t.Parallel()
	const doc = "<EntityDescriptor/>"
	var slowRelease = make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/doc", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(doc)) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 2048))) })
	mux.HandleFunc("/big-unannounced", func(w http.ResponseWriter, _ *http.Request) {
		for range 4 {
			_, _ = w.Write([]byte(strings.Repeat("x", 512)))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/exactly-the-cap", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 1024))) })
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-slowRelease:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for range 100 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/to-doc", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/doc", http.StatusFound) })
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/doc", http.StatusFound)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(slowRelease) })
	p := port(srv)
	mux.HandleFunc("/to-loopback-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://loopback.example.com:"+p+"/doc", http.StatusFound)
	})
	mux.HandleFunc("/to-loopback-address", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://[::1]:"+p+"/doc", http.StatusFound)
	})
	mux.HandleFunc("/to-link-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-unspecified", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://0.0.0.0:"+p+"/doc", http.StatusFound)
	})

	// example.com (one of the names the httptest certificate is for) resolves to the test server on
	// loopback; loopback.example.com to another loopback address.
	dns := startDNS(t, map[string]netip.Addr{"example.com": netip.MustParseAddr("127.0.0.1"), "loopback.example.com": netip.MustParseAddr("127.0.0.2")})
	base := outbound.Options{Timeout: 2 * time.Second, MaxBytes: 1024, MaxRedirects: 3, RootCAs: rootsOf(srv), Resolver: dns.resolver(),
		PrivateSetting: "CONNECTION_METADATA_ALLOW_PRIVATE"}
	withPrivate := base
	withPrivate.AllowPrivate = true
	strict := outbound.New(base)
	private := outbound.New(withPrivate)
	impatientOptions := withPrivate
	impatientOptions.Timeout = 300 * time.Millisecond
	impatient := outbound.New(impatientOptions)
	// 127.0.0.1 stands in for a public identity provider; the rest of loopback stays loopback.
	publicStandIn := outbound.NewTreatingAsPublic(base, netip.MustParsePrefix("127.0.0.1/32"))

	loopbackName := "https://example.com:" + p
	for _, tc := range []struct {
		name   string
		client *outbound.Client
		url    string
		want   error
		says   string
	}{
		{"an https URL on a public address is fetched", publicStandIn, srv.URL + "/doc", nil, ""},
		{"a redirect to another public https URL is followed", publicStandIn, srv.URL + "/to-doc", nil, ""},
		{"a host name that resolves to loopback is refused on the address dialled", strict, loopbackName + "/doc", outbound.ErrForbiddenAddress,
			"The host resolves to 127.0.0.1, a loopback address, which this service does not connect to unless the operator sets CONNECTION_METADATA_ALLOW_PRIVATE=true."},
		{"a loopback address given as such is refused", strict, srv.URL + "/doc", outbound.ErrForbiddenAddress, "a loopback address"},
		{"allowing private addresses reaches a loopback TLS server by name", private, loopbackName + "/doc", nil, ""},
		{"allowing private addresses reaches a loopback TLS server by address", private, srv.URL + "/doc", nil, ""},
		{"a redirect to a host name that resolves to loopback is refused", publicStandIn, srv.URL + "/to-loopback-name", outbound.ErrForbiddenAddress,
			"The host resolves to 127.0.0.2, a loopback address"},
		{"a redirect to a loopback address is refused", publicStandIn, srv.URL + "/to-loopback-address", outbound.ErrForbiddenAddress, "The host resolves to ::1, a loopback address"},
		{"a redirect to the cloud metadata address is refused even with private addresses allowed", private, srv.URL + "/to-link-local",
			outbound.ErrForbiddenAddress, "The host resolves to 169.254.169.254, a link-local address (where cloud metadata services live), which this service does not connect to."},
		{"a redirect to the unspecified address is refused even with private addresses allowed", private, srv.URL + "/to-unspecified", outbound.ErrForbiddenAddress, "unspecified"},
		{"a plain http URL is refused before any request", private, strings.Replace(srv.URL, "https://", "http://", 1) + "/doc", outbound.ErrNotHTTPS, "The URL must use https."},
		{"a redirect to http is refused", private, srv.URL + "/to-http", outbound.ErrNotHTTPS, "which is not https"},
		{"redirects past the cap are refused", private, srv.URL + "/loop", outbound.ErrTooManyRedirects, "The server redirected more than 3 times."},
		{"a body announced over the cap is refused", private, srv.URL + "/big", outbound.ErrTooLarge, "The document is larger than 1024 bytes."},
		{"a body over the cap without a length is cut off", private, srv.URL + "/big-unannounced", outbound.ErrTooLarge, "larger than 1024 bytes"},
		{"a body of exactly the cap is fetched", private, srv.URL + "/exactly-the-cap", nil, ""},
		{"a status other than 200 is reported", private, srv.URL + "/missing", outbound.ErrBadStatus, "The server answered 404 Not Found instead of 200 OK."},
		{"a server that does not answer in time is given up", impatient, srv.URL + "/slow", outbound.ErrTimeout, "The server did not answer in time."},
		{"a body that trickles past the time limit is given up", impatient, srv.URL + "/trickle", outbound.ErrTimeout, "did not answer in time"},
		{"a certificate from an unknown authority is refused", outbound.New(outbound.Options{AllowPrivate: true, Timeout: 2 * time.Second}), srv.URL + "/doc",
			outbound.ErrTLS, "not trusted"},
		{"a name that does not resolve is reported", private, "https://nowhere.example.com/doc", outbound.ErrUnreachable, "The host name nowhere.example.com does not resolve."},
		{"a closed port is reported", private, "https://127.0.0.1:1/doc", outbound.ErrUnreachable, "The server refused the connection."},
		{"a URL with user information is refused", private, "https://user:pw@example.com/doc", outbound.ErrInvalidURL, "not an absolute URL"},
		{"a relative URL is refused", private, "/doc", outbound.ErrInvalidURL, "not an absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			body, err := tc.client.Get(context.Background(), tc.url, "application/xml")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if len(body) == 0 {
					t.Fatal("empty body")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Get: %v, want %v", err, tc.want)
			}
			var oe *outbound.Error
			if !errors.As(err, &oe) || !strings.Contains(oe.Error(), tc.says) {
				t.Fatalf("message %q, want it to say %q", err, tc.says)
			}
			for _, library := range []string{"dial tcp", "x509", "tls:", "Get \"", "lookup ", "net/http", "context deadline"} {
				if strings.Contains(err.Error(), library) {
					t.Fatalf("message %q carries library wording %q", err, library)
				}
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func TestAProxyInTheEnvironmentIsNotUsed(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		http.Error(w, "proxy", http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("https_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")

	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("direct")) }))
	t.Cleanup(srv.Close)
	dns := startDNS(t, map[string]netip.Addr{"example.com": netip.MustParseAddr("127.0.0.1")})
	c := outbound.New(outbound.Options{AllowPrivate: true, RootCAs: rootsOf(srv), Resolver: dns.resolver(), Timeout: 2 * time.Second})
	body, err := c.Get(context.Background(), fmt.Sprintf("https://example.com:%s/", port(srv)), "")
	if err != nil || string(body) != "direct" {
		t.Fatalf("Get: %q, %v", body, err)
	}
	if proxied.Load() != 0 {
		t.Fatal("the request went through the proxy of the environment, where the address check sees only the proxy")
	}
	// The same through the client handed to libraries.
	resp, err := c.HTTPClient().Get(fmt.Sprintf("https://example.com:%s/", port(srv)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if proxied.Load() != 0 {
		t.Fatal("the library client went through the proxy")
	}
}

func TestTheClientHandedToLibrariesKeepsTheAddressCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("x")) }))
	t.Cleanup(srv.Close)
	c := outbound.New(outbound.Options{RootCAs: rootsOf(srv), Timeout: 2 * time.Second})
	_, err := c.HTTPClient().Get(srv.URL)
	if !errors.Is(err, outbound.ErrForbiddenAddress) {
		t.Fatalf("Get: %v", err)
	}
	if e := outbound.Explain(err); !errors.Is(e, outbound.ErrForbiddenAddress) || !strings.HasPrefix(e.Error(), "The host resolves to 127.0.0.1") {
		t.Fatalf("Explain: %v", e)
	}
}
