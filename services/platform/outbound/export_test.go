package outbound

import "net/netip"

// NewTreatingAsPublic is New with addresses in public that the address check lets through as if
// they were public: a loopback test server stands in for an identity provider on the internet, so
// that a test can show what a redirect from it to a forbidden address meets.
func NewTreatingAsPublic(o Options, public ...netip.Prefix) *Client {
	o.treatAsPublic = public
	return New(o)
}

// Allowed exposes the address policy to the table test.
func Allowed(addr netip.Addr, allowPrivate bool) bool {
	_, ok := allowed(addr, allowPrivate)
	return ok
}
