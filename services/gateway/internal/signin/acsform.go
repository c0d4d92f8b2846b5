package signin

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strconv"
)

// acsForm is what the ACS reads of a posted application/x-www-form-urlencoded body. It reads the
// body as a stream rather than parse it whole, so that a body over the cap still yields its
// RelayState — which a refused post must spend as any failed post does — without holding more than
// the cap in memory.
type acsForm struct {
	samlResponse string // decoded; empty when absent or the body is over the cap
	relayState   string // decoded, the first one posted; at most maxRelayStateField bytes as posted
	// size is how many bytes of the body were read; over is set when it exceeds the cap, and
	// truncated when reading stopped at maxACSRead before the end of the body.
	size            int64
	over, truncated bool
	malformed       bool   // a pair that is not valid URL encoding, or a ';' separator
	unknown         string // the first field that is neither of the binding's two, as decoded
	hasUnknown      bool
	duplicate       string // the first of the two fields posted more than once
	samlSeen, relay int    // how many times each was posted
}

const (
	// maxFieldName bounds the field names kept: longer ones are unknown anyway.
	maxFieldName = 64
	// maxRelayStateField bounds a RelayState as posted; a relay-state handle is at most 80 bytes,
	// so a longer value names no state, and what is kept of it is refused without a lookup.
	maxRelayStateField = 256
	// acsReadFactor times the cap is how far a body over the cap is read looking for its
	// RelayState; past that the rest is not read at all.
	acsReadFactor = 8
)

// errBodyRead means the body could not be read to its end (the client went away, a timeout).
var errBodyRead = errors.New("the body could not be read")

// readACSForm reads body, keeping the SAMLResponse while the body stays within maxBytes. It returns
// errBodyRead when the body could not be read; what was read until then is still returned.
func readACSForm(body io.Reader, maxBytes int64) (acsForm, error) {
	var f acsForm
	limit := maxBytes * acsReadFactor
	r := io.LimitReader(body, limit+1)
	p := formParser{f: &f, maxBytes: maxBytes}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			f.size += int64(n)
			if f.size > maxBytes {
				f.over = true
				p.samlKept = nil // never validated now: do not hold it
			}
			if f.size > limit {
				f.truncated = true
				n -= int(f.size - limit)
				f.size = limit
			}
			p.feed(buf[:n])
		}
		if f.truncated || errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.end()
			return f, errBodyRead
		}
	}
	if !f.truncated {
		p.end()
	}
	return f, nil
}

// formParser splits a urlencoded stream into pairs as url.ParseQuery does: pairs separated by '&',
// a ';' in a pair is an error, empty pairs are skipped, keys and values are QueryUnescape'd.
type formParser struct {
	f        *acsForm
	maxBytes int64
	inValue  bool
	key      []byte // the current key as posted, up to maxFieldName+1 bytes
	keyLong  bool
	field    string // the decoded key once '=' is seen
	value    []byte // the current value as posted, when it is kept
	keep     int    // how much of the current value to keep (0: none)
	samlKept []byte // the SAMLResponse as posted, nil once the body is over the cap
	bad      bool   // the current pair holds a ';'
}

func (p *formParser) feed(b []byte) {
	for len(b) > 0 {
		if !p.inValue {
			i := bytes.IndexAny(b, "=&;")
			if i < 0 {
				p.addKey(b)
				return
			}
			p.addKey(b[:i])
			c := b[i]
			b = b[i+1:]
			switch c {
			case ';':
				p.bad = true
			case '=':
				p.startValue()
			case '&':
				if len(p.key) > 0 || p.bad {
					p.startValue()
				}
				p.endPair()
			}
			continue
		}
		i := bytes.IndexAny(b, "&;")
		if i < 0 {
			p.addValue(b)
			return
		}
		p.addValue(b[:i])
		c := b[i]
		b = b[i+1:]
		if c == ';' {
			p.bad = true
			continue
		}
		p.endPair()
	}
}

func (p *formParser) addKey(b []byte) {
	room := maxFieldName + 1 - len(p.key)
	if len(b) > room {
		b, p.keyLong = b[:room], true
	}
	p.key = append(p.key, b...)
}

// startValue decodes the key and decides how much of its value to keep.
func (p *formParser) startValue() {
	p.inValue = true
	key, err := url.QueryUnescape(string(p.key))
	if err != nil {
		p.bad = true
	}
	p.field = key
	switch {
	case p.keyLong || err != nil:
		p.keep = 0
	case key == "SAMLResponse" && p.f.samlSeen == 0 && !p.f.over:
		p.keep = int(p.maxBytes)
	case key == "RelayState" && p.f.relay == 0:
		p.keep = maxRelayStateField
	default:
		p.keep = 0
	}
}

func (p *formParser) addValue(b []byte) {
	if p.keep == 0 {
		return
	}
	room := p.keep - len(p.value)
	if len(b) > room {
		b = b[:max(room, 0)]
	}
	p.value = append(p.value, b...)
}

// endPair records the pair just read and starts the next.
func (p *formParser) endPair() {
	defer func() {
		p.inValue, p.key, p.keyLong, p.field, p.value, p.keep, p.bad = false, p.key[:0], false, "", nil, 0, false
	}()
	if !p.inValue && len(p.key) == 0 && !p.bad {
		return // an empty pair, as between "&&"
	}
	if p.bad {
		// As url.ParseQuery does, a pair that cannot be read counts as no field at all.
		p.f.malformed = true
		return
	}
	name := p.field
	if p.keyLong {
		name = string(p.key[:maxFieldName])
	}
	switch {
	case !p.keyLong && name == "SAMLResponse":
		p.f.samlSeen++
		if p.f.samlSeen == 1 && !p.f.over {
			p.samlKept = p.value
		}
	case !p.keyLong && name == "RelayState":
		p.f.relay++
		if p.f.relay == 1 {
			v, err := url.QueryUnescape(string(p.value))
			if err != nil {
				p.f.malformed = true
			}
			p.f.relayState = v
		}
	default:
		if !p.f.hasUnknown {
			p.f.unknown, p.f.hasUnknown = name, true
		}
		return
	}
	if (p.f.samlSeen > 1 || p.f.relay > 1) && p.f.duplicate == "" {
		p.f.duplicate = name
	}
}

// end finishes the last pair and decodes the SAMLResponse.
func (p *formParser) end() {
	if p.inValue || len(p.key) > 0 || p.bad {
		if !p.inValue {
			p.startValue()
		}
		p.endPair()
	}
	if p.samlKept == nil || p.f.over {
		return
	}
	v, err := url.QueryUnescape(string(p.samlKept))
	if err != nil {
		p.f.malformed = true
		return
	}
	p.f.samlResponse = v
}

// describe is a posted name as the sign-in log may show it: quoted, with anything that is not
// printable UTF-8 escaped.
func describe(name string) string { return strconv.Quote(name) }
