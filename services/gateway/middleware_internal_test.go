package gateway

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestTheClientAddressComesFromTrustedProxiesOnly(t *testing.T) {
	ip := clientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, tc := range []struct{ name, remote, xff, want string }{
		{"a direct client", "203.0.113.7:5000", "", "203.0.113.7"},
		{"a direct client lying in X-Forwarded-For", "203.0.113.7:5000", "1.2.3.4", "203.0.113.7"},
		{"through one trusted proxy", "10.0.0.2:443", "198.51.100.9", "198.51.100.9"},
		{"through two trusted proxies", "10.0.0.2:443", "198.51.100.9, 10.1.1.1", "198.51.100.9"},
		{"a spoofed hop before the real client", "10.0.0.2:443", "1.2.3.4, 198.51.100.9", "198.51.100.9"},
		{"a trusted proxy without the header", "10.0.0.2:443", "", "10.0.0.2"},
		{"IPv6", "[2001:db8::1]:443", "", "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ip(r); got != tc.want {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
		})
	}
}
