package signin

import (
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
)

const testCap = 4096

// read reads body twice, whole and one byte at a time, and checks that both agree: where the
// network splits a body must not change what the ACS reads.
func read(t *testing.T, body string) acsForm {
	t.Helper()
	whole, err := readACSForm(strings.NewReader(body), testCap)
	if err != nil {
		t.Fatal(err)
	}
	bytewise, err := readACSForm(iotest.OneByteReader(strings.NewReader(body)), testCap)
	if err != nil {
		t.Fatal(err)
	}
	if whole != bytewise {
		t.Fatalf("read whole %+v, byte by byte %+v", whole, bytewise)
	}
	return whole
}

func TestTheACSFormIsReadAsTheHTTPPostBindingSendsIt(t *testing.T) {
	for _, tc := range []struct {
		name, body  string
		saml, relay string
		check       func(f acsForm) bool
	}{
		{"the two fields, percent-encoded as browsers post them", "SAMLResponse=PHNhbWw%2BPC9zYW1sPg%3D%3D&RelayState=abc-_123",
			"PHNhbWw+PC9zYW1sPg==", "abc-_123", func(f acsForm) bool { return !f.malformed && !f.hasUnknown && f.duplicate == "" }},
		{"in either order, with a plus for a space", "RelayState=a+b&SAMLResponse=x",
			"x", "a b", func(f acsForm) bool { return !f.malformed }},
		{"a field name percent-encoded is that field", "SAML%52esponse=x&RelayState=r", "x", "r", func(f acsForm) bool { return !f.hasUnknown }},
		{"an empty relay state is none", "SAMLResponse=x&RelayState=", "x", "", func(f acsForm) bool { return f.relay == 1 }},
		{"empty pairs are skipped", "&&SAMLResponse=x&&", "x", "", func(f acsForm) bool { return !f.hasUnknown && !f.malformed }},
		{"a third field is unknown, named as posted", "SAMLResponse=x&extra%00=1&RelayState=r", "x", "r",
			func(f acsForm) bool { return f.hasUnknown && f.unknown == "extra\x00" }},
		{"a field without a name is unknown", "SAMLResponse=x&=1", "x", "", func(f acsForm) bool { return f.hasUnknown && f.unknown == "" }},
		{"a field without a value still counts", "SAMLResponse=x&debug", "x", "", func(f acsForm) bool { return f.hasUnknown && f.unknown == "debug" }},
		{"a long field name is cut for the log", "SAMLResponse=x&" + strings.Repeat("k", 500) + "=v", "x", "",
			func(f acsForm) bool { return f.hasUnknown && f.unknown == strings.Repeat("k", maxFieldName) }},
		{"a field twice is a duplicate and the first value counts", "RelayState=one&SAMLResponse=x&RelayState=two", "x", "one",
			func(f acsForm) bool { return f.duplicate == "RelayState" }},
		{"a semicolon separator is malformed, and its pair is no field", "SAMLResponse=x;RelayState=r&RelayState=s", "", "s",
			func(f acsForm) bool { return f.malformed && f.samlSeen == 0 }},
		{"a bad escape in the response is malformed", "SAMLResponse=%zz&RelayState=r", "", "r", func(f acsForm) bool { return f.malformed }},
		{"a bad escape in a name is malformed", "SAML%zzResponse=x", "", "", func(f acsForm) bool { return f.malformed && !f.hasUnknown }},
		{"a relay state too long to name a state is cut, never to something that could", "SAMLResponse=x&RelayState=" + strings.Repeat("a", 1000), "x",
			strings.Repeat("a", maxRelayStateField), func(f acsForm) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := read(t, tc.body)
			if f.samlResponse != tc.saml || f.relayState != tc.relay || f.over || !tc.check(f) {
				t.Fatalf("%+v", f)
			}
		})
	}
}

func TestABodyOverTheCapStillYieldsItsRelayState(t *testing.T) {
	big := strings.Repeat("A", testCap)
	t.Run("after the response", func(t *testing.T) {
		f := read(t, "SAMLResponse="+big+"&RelayState=the-handle")
		if !f.over || f.truncated || f.relayState != "the-handle" || f.samlResponse != "" || f.size != int64(len(big)+35) {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("before the response", func(t *testing.T) {
		f := read(t, "RelayState=the-handle&SAMLResponse="+big)
		if !f.over || f.relayState != "the-handle" || f.samlResponse != "" {
			t.Fatalf("%+v", f)
		}
	})
	t.Run("past the read bound the rest is not read", func(t *testing.T) {
		f := read(t, "SAMLResponse="+strings.Repeat(big, acsReadFactor)+"&RelayState=the-handle")
		if !f.over || !f.truncated || f.relayState != "" || f.size != testCap*acsReadFactor {
			t.Fatalf("%+v", f)
		}
	})
}

// FuzzReadACSForm holds the stream reader to the standard library: whatever url.ParseQuery reads
// from a body under the cap, the ACS reads the same, and what it calls malformed ParseQuery refuses.
func FuzzReadACSForm(f *testing.F) {
	for _, s := range []string{"SAMLResponse=PHNhbWw%2B&RelayState=abc", "RelayState=a+b&SAMLResponse=x&x=1", "a=1&a=2", "%zz=1",
		"SAMLResponse=x;y", "=&=", "&&&", "SAMLResponse&RelayState", "SAMLResponse=%41%42&SAMLResponse=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > testCap {
			return
		}
		got, err := readACSForm(strings.NewReader(body), testCap)
		if err != nil {
			t.Fatal(err)
		}
		want, perr := url.ParseQuery(body)
		if got.malformed && perr == nil {
			t.Fatalf("%q: called malformed, ParseQuery reads %v", body, want)
		}
		if perr != nil {
			return
		}
		unknown := false
		for k := range want {
			unknown = unknown || (k != "SAMLResponse" && k != "RelayState")
		}
		first := func(k string) string {
			if v := want[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		relay := first("RelayState")
		if len(relay) > maxRelayStateField {
			return // cut on purpose (see maxRelayStateField)
		}
		if got.samlResponse != first("SAMLResponse") || got.relayState != relay || got.hasUnknown != unknown ||
			got.samlSeen != len(want["SAMLResponse"]) || got.relay != len(want["RelayState"]) {
			t.Fatalf("%q: read %+v, ParseQuery %v", body, got, want)
		}
	})
}
