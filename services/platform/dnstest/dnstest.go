// Package dnstest runs an authoritative DNS server on loopback for tests: the records are whatever
// the test sets, over UDP and TCP on one port.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// Server answers TXT and A queries from its tables; any other name is NXDOMAIN.
type Server struct {
	addr string

	mu     sync.Mutex
	txt    map[string][]string
	exists map[string]bool
	rcode  map[string]int
	delay  time.Duration
	// onQuery runs when a query arrives, before it is answered.
	onQuery func(name string)
}

// Start runs a server on a free loopback port until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{txt: map[string][]string{}, exists: map[string]bool{}, rcode: map[string]int{}}
	// UDP and TCP on the same port number: take a free UDP port, then try its number for TCP, and
	// start over with another port in the rare case that number is taken for TCP.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		_ = pc.Close()
		if attempt == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	s.addr = pc.LocalAddr().String()
	udp := &mdns.Server{PacketConn: pc, Handler: s}
	tcp := &mdns.Server{Listener: ln, Handler: s}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// Addr is host:port of the server, for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

func key(name string) string { return strings.ToLower(mdns.Fqdn(name)) }

// SetTXT makes name have one TXT record per value (replacing earlier ones). A value longer than 255
// bytes is split into several strings of one record, as DNS requires.
func (s *Server) SetTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[key(name)] = values
	s.exists[key(name)] = true
}

// SetA makes name exist without TXT records.
func (s *Server) SetA(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exists[key(name)] = true
}

// Remove makes name unknown again.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.txt, key(name))
	delete(s.exists, key(name))
	delete(s.rcode, key(name))
}

// SetRcode makes every query for name answer rcode.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode[key(name)] = rcode
}

// SetDelay delays every answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// OnQuery makes fn run on each query as it arrives, before the answer is sent: a test can act
// while a lookup is known to be waiting, instead of guessing how long that takes.
func (s *Server) OnQuery(fn func(name string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onQuery = fn
}

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, q *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	s.mu.Lock()
	delay, onQuery := s.delay, s.onQuery
	if len(q.Question) == 1 {
		qn := q.Question[0]
		k := strings.ToLower(qn.Name)
		switch rc, forced := s.rcode[k]; {
		case forced:
			m.Rcode = rc
		case !s.exists[k]:
			m.Rcode = mdns.RcodeNameError
		case qn.Qtype == mdns.TypeTXT:
			for _, v := range s.txt[k] {
				m.Answer = append(m.Answer, &mdns.TXT{
					Hdr: mdns.RR_Header{Name: qn.Name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 60},
					Txt: split(v),
				})
			}
		case qn.Qtype == mdns.TypeA:
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: qn.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 1),
			})
		}
	}
	s.mu.Unlock()
	if onQuery != nil && len(q.Question) == 1 {
		onQuery(q.Question[0].Name)
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := 512
		if opt := q.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

func split(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
