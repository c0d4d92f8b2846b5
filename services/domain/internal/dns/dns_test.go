package dns_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/iechor/sso/services/domain/internal/dns"
	"github.com/iechor/sso/services/platform/dnstest"
)

func TestLookupTXTClassifiesEveryAnswer(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t)
	srv.SetTXT("one.example.com", "iechor-verification=abc")
	srv.SetTXT("many.example.com", "v=spf1 -all", "google-site-verification=x", "iechor-verification=abc")
	longValue := "iechor-verification=" + strings.Repeat("t", 300) // one record, two strings on the wire
	srv.SetTXT("split.example.com", longValue)
	srv.SetA("nodata.example.com")
	srv.SetRcode("broken.example.com", mdns.RcodeServerFailure)
	srv.SetRcode("refused.example.com", mdns.RcodeRefused)
	long := strings.Repeat("x", 250)
	var many []string
	for i := range 30 {
		many = append(many, long+string(rune('a'+i%26)))
	}
	srv.SetTXT("huge.example.com", many...) // larger than a UDP answer: truncated, retried over TCP

	r, err := dns.New([]string{srv.Addr()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		domain string
		kind   dns.Kind
		values []string
	}{
		{"one record", "one.example.com", dns.Records, []string{"iechor-verification=abc"}},
		{"several records", "many.example.com", dns.Records, []string{"v=spf1 -all", "google-site-verification=x", "iechor-verification=abc"}},
		{"a record split in strings is joined", "split.example.com", dns.Records, []string{longValue}},
		{"a name without TXT records", "nodata.example.com", dns.NoRecords, nil},
		{"a name that does not exist", "missing.example.com", dns.NXDomain, nil},
		{"a server failure", "broken.example.com", dns.ServerError, nil},
		{"a refusal", "refused.example.com", dns.ServerError, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := r.LookupTXT(ctx, tc.domain)
			if a.Kind != tc.kind {
				t.Fatalf("kind = %v (%s), want %v", a.Kind, a.Detail, tc.kind)
			}
			if strings.Join(a.Values, "|") != strings.Join(tc.values, "|") {
				t.Fatalf("values = %q, want %q", a.Values, tc.values)
			}
		})
	}
	t.Run("an answer too large for UDP is fetched over TCP", func(t *testing.T) {
		a := r.LookupTXT(ctx, "huge.example.com")
		if a.Kind != dns.Records || len(a.Values) != 30 {
			t.Fatalf("kind %v with %d values, want 30 records", a.Kind, len(a.Values))
		}
	})
}

func TestLookupTXTReportsAResolverThatNeverAnswers(t *testing.T) {
	t.Parallel()
	// A UDP socket that reads and never replies.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r, _ := dns.New([]string{pc.LocalAddr().String()}, 300*time.Millisecond)
	start := time.Now()
	a := r.LookupTXT(context.Background(), "example.com")
	if a.Kind != dns.Timeout {
		t.Fatalf("kind = %v (%s), want timeout", a.Kind, a.Detail)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("lookup took %v with a 300ms timeout", d)
	}
}

func TestLookupTXTReportsAResolverThatCannotBeReached(t *testing.T) {
	t.Parallel()
	// Take a free UDP port and close it: the kernel answers port unreachable.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r, _ := dns.New([]string{addr}, time.Second)
	if a := r.LookupTXT(context.Background(), "example.com"); a.Kind != dns.Unreachable {
		t.Fatalf("kind = %v (%s), want unreachable", a.Kind, a.Detail)
	}
}

func TestLookupTXTFallsBackToTheNextResolver(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t)
	srv.SetTXT("example.com", "hello")
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := pc.LocalAddr().String()
	pc.Close()
	r, _ := dns.New([]string{dead, srv.Addr()}, 2*time.Second)
	if a := r.LookupTXT(context.Background(), "example.com"); a.Kind != dns.Records || a.Values[0] != "hello" {
		t.Fatalf("answer %+v, want the second resolver's record", a)
	}
}

func TestNewAddsTheDefaultPort(t *testing.T) {
	r, err := dns.New([]string{"127.0.0.1", "[::1]", "10.0.0.1:5353"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Servers(), ","); got != "127.0.0.1:53,[::1]:53,10.0.0.1:5353" {
		t.Fatalf("servers = %s", got)
	}
}
