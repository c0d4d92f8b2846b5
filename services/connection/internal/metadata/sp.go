package metadata

import (
	"crypto/x509"
	"strconv"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/connection/internal/certs"
)

// ServiceProvider is what our metadata for one connection says.
type ServiceProvider struct {
	EntityID string
	ACSURL   string
	// Certificates are published for signing and for encryption, newest first.
	Certificates []*x509.Certificate
	// AuthnRequestsSigned says whether we sign our AuthnRequests.
	AuthnRequestsSigned bool
}

// Build writes the EntityDescriptor of our SP: an SPSSODescriptor that wants signed assertions,
// a signing and an encryption KeyDescriptor per certificate, NameIDFormat emailAddress, and one
// HTTP-POST AssertionConsumerService.
func (sp ServiceProvider) Build() (string, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NSMetadata)
	ed.CreateAttr("xmlns:ds", NSDSig)
	ed.CreateAttr("entityID", sp.EntityID)
	d := ed.CreateElement("md:SPSSODescriptor")
	d.CreateAttr("protocolSupportEnumeration", ProtocolSAML2)
	d.CreateAttr("AuthnRequestsSigned", strconv.FormatBool(sp.AuthnRequestsSigned))
	d.CreateAttr("WantAssertionsSigned", "true")
	for _, use := range []string{"signing", "encryption"} {
		for _, c := range sp.Certificates {
			kd := d.CreateElement("md:KeyDescriptor")
			kd.CreateAttr("use", use)
			kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(certs.Base64(c))
		}
	}
	d.CreateElement("md:NameIDFormat").SetText(NameIDFormatEmail)
	acs := d.CreateElement("md:AssertionConsumerService")
	acs.CreateAttr("Binding", BindingPOST)
	acs.CreateAttr("Location", sp.ACSURL)
	acs.CreateAttr("index", "0")
	acs.CreateAttr("isDefault", "true")
	doc.Indent(2)
	return doc.WriteToString()
}
