package signin

import "testing"

func TestReturnAddressesMustBeOnTheAllowList(t *testing.T) {
	p := Policy{ReturnToOrigins: []string{"https://hub.example.com"}, AllowLoopbackReturn: true}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://hub.example.com/auth/callback?x=1", true},
		{"https://HUB.example.com/", true},
		{"http://127.0.0.1:53123/callback", true},
		{"http://[::1]:53123/callback", true},
		{"http://127.0.0.1/callback", false},                 // Desktop always names its port
		{"https://127.0.0.1:53123/callback", false},          // loopback redirects are plain http
		{"https://hub.example.com.evil.com/", false},         // a suffix is not the origin
		{"https://evil.com/?https://hub.example.com", false}, // nor is a query
		{"https://user@hub.example.com/", false},             // userinfo is refused
		{"https://hub.example.com:8443/", false},             // another port is another origin
		{"http://hub.example.com/", false},                   // another scheme too
		{"//hub.example.com/", false},                        // scheme-relative
		{"javascript:alert(1)", false},                       // not a URL of an origin
		{"https://hub.example.com/#fragment", false},         // fragments would hide the code
		{"http://localhost:53123/callback", false},           // names are not loopback addresses
		{"", false},
	} {
		if got := p.returnToAllowed(tc.url); got != tc.want {
			t.Errorf("returnToAllowed(%q) = %v", tc.url, got)
		}
	}
	strict := Policy{ReturnToOrigins: []string{"https://hub.example.com"}}
	if strict.returnToAllowed("http://127.0.0.1:53123/callback") {
		t.Error("loopback allowed although switched off")
	}
}

func TestDesktopVersionsAreComparedAsReleases(t *testing.T) {
	p := Policy{MinDesktopVersion: "4.4.2"}
	for _, tc := range []struct {
		v   string
		old bool
		bad bool
	}{
		{"4.4.2", false, false}, {"4.4.10", false, false}, {"4.10.0", false, false}, {"5", false, false},
		{"v4.5.0-beta.1", false, false}, {"4.4.1", true, false}, {"4.3.99", true, false}, {"3.9", true, false},
		{"", false, true}, {"four", false, true}, {"4.4.2.1", false, true}, {"-1.0", false, true},
	} {
		old, err := p.desktopTooOld(tc.v)
		if (err != nil) != tc.bad || (err == nil && old != tc.old) {
			t.Errorf("desktopTooOld(%q) = %v, %v", tc.v, old, err)
		}
	}
}
