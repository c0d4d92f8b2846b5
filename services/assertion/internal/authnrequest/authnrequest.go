// Package authnrequest builds the AuthnRequest of an SP-initiated SAML sign-in and the identity
// provider URL that carries it with the HTTP-Redirect binding (SAML bindings 3.4): the request is
// DEFLATE-compressed (raw, without zlib framing), base64-encoded and URL-encoded into SAMLRequest,
// followed by RelayState and, when the connection signs its requests, SigAlg and a Signature over
// the exact octets "SAMLRequest=...&RelayState=...&SigAlg=..." made with the connection's active SP
// key (RSA-SHA256).
//
// It never puts anything of the caller's flow data into the request: the relay state handle is
// opaque.
package authnrequest

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"
)

// SigAlgRSASHA256 is the SigAlg of signed requests.
const SigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

const (
	postBinding  = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	emailAddress = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
)

// Request is one AuthnRequest.
type Request struct {
	// ID is unique per request; the response's InResponseTo must name it.
	ID           string
	IssueInstant time.Time
	// Destination is the IdP's single sign-on URL.
	Destination string
	// ACSURL is where the IdP posts its response.
	ACSURL string
	// Issuer is our entity id.
	Issuer string
}

// NewID returns a fresh request ID: an XML NCName ("id-" and 40 hex digits) that cannot be guessed.
func NewID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return "id-" + hex.EncodeToString(b)
}

// ErrBadDestination means the IdP's single sign-on URL is not an http(s) URL.
var ErrBadDestination = errors.New("the IdP single sign-on URL is not an absolute http(s) URL")

func attr(b *bytes.Buffer, name, value string) {
	b.WriteString(" " + name + `="`)
	_ = xml.EscapeText(b, []byte(value))
	b.WriteString(`"`)
}

// XML returns the AuthnRequest document.
func (r Request) XML() []byte {
	var b bytes.Buffer
	b.WriteString(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`)
	attr(&b, "ID", r.ID)
	attr(&b, "Version", "2.0")
	attr(&b, "IssueInstant", r.IssueInstant.UTC().Format("2006-01-02T15:04:05.000Z"))
	attr(&b, "Destination", r.Destination)
	attr(&b, "AssertionConsumerServiceURL", r.ACSURL)
	attr(&b, "ProtocolBinding", postBinding)
	b.WriteString(`><saml:Issuer>`)
	_ = xml.EscapeText(&b, []byte(r.Issuer))
	b.WriteString(`</saml:Issuer><samlp:NameIDPolicy`)
	attr(&b, "Format", emailAddress)
	attr(&b, "AllowCreate", "true")
	b.WriteString(`/></samlp:AuthnRequest>`)
	return b.Bytes()
}

// deflaters keeps DEFLATE writers for reuse: each holds more than a megabyte of tables, which would
// otherwise be allocated and collected for every sign-in.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestCompression)
	return w
}}

// Encode returns the SAMLRequest value before URL encoding: raw DEFLATE, then base64.
func Encode(doc []byte) string {
	var b bytes.Buffer
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = w.Write(doc)
	_ = w.Close()
	deflaters.Put(w)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// RedirectURL returns the IdP URL that carries r and relayState; key, when not nil, signs it.
func RedirectURL(r Request, relayState string, key *rsa.PrivateKey) (string, error) {
	u, err := url.Parse(r.Destination)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return "", ErrBadDestination
	}
	// The signed octets are the query parameters exactly as they are sent, in this order.
	signed := "SAMLRequest=" + url.QueryEscape(Encode(r.XML())) + "&RelayState=" + url.QueryEscape(relayState)
	query := signed
	if key != nil {
		signed += "&SigAlg=" + url.QueryEscape(SigAlgRSASHA256)
		sum := sha256.Sum256([]byte(signed))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			return "", err
		}
		query = signed + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	sep := "?"
	if strings.Contains(r.Destination, "?") {
		sep = "&"
	}
	return r.Destination + sep + query, nil
}
