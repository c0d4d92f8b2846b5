// Package dns looks up the TXT records of a domain and says precisely what DNS answered: records,
// no such domain, no TXT records, a resolver that cannot be reached, did not answer in time, or
// answered with an error. The admin sees that distinction, so it is kept rather than folded into
// "not found" as the standard library's resolver does.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// Kind classifies an answer.
type Kind int

const (
	// Records means the domain has TXT records, in Answer.Values.
	Records Kind = iota + 1
	// NXDomain means the domain does not exist.
	NXDomain
	// NoRecords means the domain exists but has no TXT record.
	NoRecords
	// Unreachable means no resolver could be reached.
	Unreachable
	// Timeout means no resolver answered in time.
	Timeout
	// ServerError means the resolver answered with an error code (SERVFAIL, REFUSED...).
	ServerError
)

func (k Kind) String() string {
	switch k {
	case Records:
		return "records"
	case NXDomain:
		return "nxdomain"
	case NoRecords:
		return "no TXT records"
	case Unreachable:
		return "resolver unreachable"
	case Timeout:
		return "timeout"
	case ServerError:
		return "resolver error"
	}
	return "unknown"
}

// Answer is what a lookup found.
type Answer struct {
	Kind Kind
	// Values are the TXT records, each record's strings joined as RFC 7208 does.
	Values []string
	// Detail explains Unreachable, Timeout and ServerError for the admin.
	Detail string
}

// Resolver sends TXT queries to recursive resolvers.
type Resolver struct {
	servers []string
	timeout time.Duration
}

// New returns a resolver that asks servers (host or host:port, port 53 by default) in order; an
// empty list means the system's resolvers from /etc/resolv.conf. timeout bounds a whole lookup.
func New(servers []string, timeout time.Duration) (*Resolver, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if len(servers) == 0 {
		conf, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, fmt.Errorf("no DNS resolver configured and none in /etc/resolv.conf: %v", err)
		}
		for _, s := range conf.Servers {
			servers = append(servers, net.JoinHostPort(s, conf.Port))
		}
	}
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
		}
		out = append(out, s)
	}
	return &Resolver{servers: out, timeout: timeout}, nil
}

// Servers returns the resolvers asked, in order.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// LookupTXT asks each resolver in turn until one answers, and classifies the answer.
func (r *Resolver) LookupTXT(ctx context.Context, name string) Answer {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var last Answer
	for _, server := range r.servers {
		last = r.ask(ctx, server, name)
		if last.Kind != Unreachable && last.Kind != Timeout {
			return last
		}
		if ctx.Err() != nil {
			break
		}
	}
	return last
}

func (r *Resolver) ask(ctx context.Context, server, name string) Answer {
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(name), mdns.TypeTXT)
	q.RecursionDesired = true
	q.SetEdns0(4096, false)

	in, err := exchange(ctx, "udp", q, server)
	if err == nil && in.Truncated {
		in, err = exchange(ctx, "tcp", q, server)
	}
	if err != nil {
		return classifyError(ctx, server, err)
	}
	if in.Id != q.Id {
		return Answer{Kind: ServerError, Detail: fmt.Sprintf("resolver %s answered another query", server)}
	}
	switch in.Rcode {
	case mdns.RcodeSuccess:
	case mdns.RcodeNameError:
		return Answer{Kind: NXDomain}
	default:
		return Answer{Kind: ServerError, Detail: fmt.Sprintf("resolver %s answered %s", server, mdns.RcodeToString[in.Rcode])}
	}
	var values []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*mdns.TXT); ok {
			values = append(values, strings.Join(txt.Txt, ""))
		}
	}
	if len(values) == 0 {
		return Answer{Kind: NoRecords}
	}
	return Answer{Kind: Records, Values: values}
}

func exchange(ctx context.Context, network string, q *mdns.Msg, server string) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = time.Until(dl)
	}
	in, _, err := c.ExchangeContext(ctx, q, server)
	return in, err
}

func classifyError(ctx context.Context, server string, err error) Answer {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return Answer{Kind: Timeout, Detail: fmt.Sprintf("resolver %s did not answer in time", server)}
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Answer{Kind: Unreachable, Detail: fmt.Sprintf("resolver %s cannot be reached", server)}
	}
	return Answer{Kind: Unreachable, Detail: fmt.Sprintf("resolver %s: %v", server, err)}
}
