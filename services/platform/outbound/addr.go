package outbound

import (
	"net/netip"
)

// A addressRange is a block of addresses that outbound requests do not reach, with the words an
// admin reads when their URL lands in it.
type addressRange struct {
	prefix netip.Prefix
	what   string
	// private blocks are where an identity provider inside a company network can live; AllowPrivate
	// opens them and nothing else.
	private bool
}

func block(cidr, what string, private bool) addressRange {
	return addressRange{prefix: netip.MustParsePrefix(cidr), what: what, private: private}
}

// forbidden lists the IPv4 and IPv6 special-purpose blocks of the IANA registries (RFC 6890 and its
// updates) that are not global unicast. IPv4-mapped, IPv4-compatible and NAT64 addresses are
// judged by the IPv4 address they carry (see classify), so they are not listed here.
var forbidden = []addressRange{
	// IPv4
	block("0.0.0.0/8", "an unspecified (\"this network\") address", false),
	block("10.0.0.0/8", "a private address", true),
	block("100.64.0.0/10", "a carrier-grade NAT (shared) address", true),
	block("127.0.0.0/8", "a loopback address", true),
	block("169.254.0.0/16", "a link-local address (where cloud metadata services live)", false),
	block("172.16.0.0/12", "a private address", true),
	block("192.0.0.0/24", "an IETF protocol assignment", false),
	block("192.0.2.0/24", "a documentation address", false),
	block("192.88.99.0/24", "a 6to4 relay address", false),
	block("192.168.0.0/16", "a private address", true),
	block("198.18.0.0/15", "a benchmarking address", false),
	block("198.51.100.0/24", "a documentation address", false),
	block("203.0.113.0/24", "a documentation address", false),
	block("224.0.0.0/4", "a multicast address", false),
	block("240.0.0.0/4", "a reserved or broadcast address", false),
	// IPv6
	block("::/128", "an unspecified address", false),
	block("::1/128", "a loopback address", true),
	block("64:ff9b:1::/48", "a local-use NAT64 address", true),
	block("100::/64", "a discard-only address", false),
	block("2001::/23", "an IETF protocol assignment (Teredo, benchmarking, ORCHID)", false),
	block("2001:db8::/32", "a documentation address", false),
	block("2002::/16", "a 6to4 address", false),
	block("3fff::/20", "a documentation address", false),
	block("5f00::/16", "a segment-routing address", false),
	block("fc00::/7", "a unique-local (private) address", true),
	block("fe80::/10", "a link-local address", false),
	block("fec0::/10", "a site-local address", false),
	block("ff00::/8", "a multicast address", false),
}

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
)

// classify returns the forbidden block that addr falls in, and whether it falls in one. An address
// that carries an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, the deprecated IPv4-compatible
// ::a.b.c.d, and the well-known NAT64 prefix 64:ff9b::/96, which a NAT64 gateway turns into a.b.c.d)
// is judged by that IPv4 address: ::ffff:127.0.0.1 is loopback, 64:ff9b::8.8.8.8 is public.
func classify(addr netip.Addr) (addressRange, bool) {
	addr = addr.WithZone("")
	if addr.Is6() && !addr.Is4In6() {
		b := addr.As16()
		if nat64.Contains(addr) || (ipv4Compatible.Contains(addr) && addr != netip.IPv6Unspecified() && addr != netip.IPv6Loopback()) {
			addr = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		}
	}
	addr = addr.Unmap()
	for _, r := range forbidden {
		if r.prefix.Contains(addr) {
			return r, true
		}
	}
	return addressRange{}, false
}

// allowed reports whether a connection to addr may be made: global unicast always, the private
// blocks too when allowPrivate is set; never link-local, multicast, unspecified, documentation or
// reserved ranges, where no identity provider lives but cloud metadata services and other traps do.
func allowed(addr netip.Addr, allowPrivate bool) (addressRange, bool) {
	r, bad := classify(addr)
	if !bad || (allowPrivate && r.private) {
		return r, true
	}
	return r, false
}
