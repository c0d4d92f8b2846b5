package metadata_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/certs/certstest"
	"github.com/iechor/sso/services/connection/internal/metadata"
)

func TestOurMetadataParsesBackToWhatWeGive(t *testing.T) {
	now := time.Now()
	newer := certstest.New(t, certstest.Options{Now: now, CommonName: "newer"})
	older := certstest.New(t, certstest.Options{Now: now, CommonName: "older", ECDSA: true})
	sp := metadata.ServiceProvider{
		EntityID:            "https://sso.iechor.example/saml/conn_abc/metadata",
		ACSURL:              "https://sso.iechor.example/saml/conn_abc/acs",
		Certificates:        []*x509.Certificate{newer.X509, older.X509},
		AuthnRequestsSigned: true,
	}
	xml, err := sp.Build()
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	ed := doc.Root()
	if ed.Tag != "EntityDescriptor" || ed.NamespaceURI() != metadata.NSMetadata || ed.SelectAttrValue("entityID", "") != sp.EntityID {
		t.Fatalf("root %s %s", ed.FullTag(), ed.SelectAttrValue("entityID", ""))
	}
	d := ed.SelectElement("SPSSODescriptor")
	if d == nil || d.NamespaceURI() != metadata.NSMetadata ||
		d.SelectAttrValue("protocolSupportEnumeration", "") != metadata.ProtocolSAML2 ||
		d.SelectAttrValue("AuthnRequestsSigned", "") != "true" || d.SelectAttrValue("WantAssertionsSigned", "") != "true" {
		t.Fatalf("SPSSODescriptor %v", d)
	}
	acs := d.SelectElements("AssertionConsumerService")
	if len(acs) != 1 || acs[0].SelectAttrValue("Location", "") != sp.ACSURL || acs[0].SelectAttrValue("Binding", "") != metadata.BindingPOST ||
		acs[0].SelectAttrValue("index", "") != "0" || acs[0].SelectAttrValue("isDefault", "") != "true" {
		t.Fatalf("ACS %v", acs)
	}
	if f := d.SelectElement("NameIDFormat"); f == nil || f.Text() != metadata.NameIDFormatEmail {
		t.Fatal("no emailAddress NameIDFormat")
	}
	byUse := map[string][]string{}
	for _, kd := range d.SelectElements("KeyDescriptor") {
		xc := kd.FindElement("./KeyInfo/X509Data/X509Certificate")
		if xc == nil || xc.NamespaceURI() != metadata.NSDSig {
			t.Fatalf("key descriptor without a ds:X509Certificate")
		}
		c, err := certs.Parse(xc.Text())
		if err != nil {
			t.Fatal(err)
		}
		byUse[kd.SelectAttrValue("use", "")] = append(byUse[kd.SelectAttrValue("use", "")], c.Subject.CommonName)
	}
	if strings.Join(byUse["signing"], ",") != "newer,older" || strings.Join(byUse["encryption"], ",") != "newer,older" {
		t.Fatalf("key descriptors %v", byUse)
	}
}
