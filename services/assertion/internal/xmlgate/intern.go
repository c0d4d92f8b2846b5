package xmlgate

// Names and white space that SAML documents repeat are shared rather than allocated for each
// occurrence: parsing stays within the service's allocation budget. The tables are built once and
// only read.

var names = map[string]string{}

func init() {
	for _, n := range []string{
		"samlp:Response", "samlp:Status", "samlp:StatusCode", "samlp:StatusMessage", "saml:Issuer", "saml:Assertion",
		"saml:EncryptedAssertion", "saml:Subject", "saml:NameID", "saml:SubjectConfirmation", "saml:SubjectConfirmationData",
		"saml:Conditions", "saml:AudienceRestriction", "saml:Audience", "saml:AuthnStatement", "saml:AuthnContext",
		"saml:AuthnContextClassRef", "saml:AttributeStatement", "saml:Attribute", "saml:AttributeValue",
		"saml2p:Response", "saml2p:Status", "saml2p:StatusCode", "saml2:Issuer", "saml2:Assertion", "saml2:Subject",
		"saml2:NameID", "saml2:SubjectConfirmation", "saml2:SubjectConfirmationData", "saml2:Conditions",
		"saml2:AudienceRestriction", "saml2:Audience", "saml2:AuthnStatement", "saml2:AuthnContext",
		"saml2:AuthnContextClassRef", "saml2:AttributeStatement", "saml2:Attribute", "saml2:AttributeValue",
		"Response", "Status", "StatusCode", "Issuer", "Assertion", "Subject", "NameID", "SubjectConfirmation",
		"SubjectConfirmationData", "Conditions", "AudienceRestriction", "Audience", "AuthnStatement", "AuthnContext",
		"AuthnContextClassRef", "AttributeStatement", "Attribute", "AttributeValue",
		"ds:Signature", "ds:SignedInfo", "ds:CanonicalizationMethod", "ds:SignatureMethod", "ds:Reference",
		"ds:Transforms", "ds:Transform", "ds:DigestMethod", "ds:DigestValue", "ds:SignatureValue", "ds:KeyInfo",
		"ds:X509Data", "ds:X509Certificate", "Signature", "SignedInfo", "CanonicalizationMethod", "SignatureMethod",
		"Reference", "Transforms", "Transform", "DigestMethod", "DigestValue", "SignatureValue", "KeyInfo", "X509Data",
		"X509Certificate", "ec:InclusiveNamespaces",
		"xenc:EncryptedData", "xenc:EncryptionMethod", "xenc:EncryptedKey", "xenc:CipherData", "xenc:CipherValue",
		"ID", "Version", "IssueInstant", "Destination", "InResponseTo", "Format", "Value", "Method", "NotOnOrAfter",
		"NotBefore", "Recipient", "AuthnInstant", "SessionIndex", "SessionNotOnOrAfter", "Name", "NameFormat",
		"FriendlyName", "Algorithm", "URI", "SPNameQualifier", "NameQualifier", "PrefixList", "Type",
		"xmlns", "xmlns:samlp", "xmlns:saml", "xmlns:saml2p", "xmlns:saml2", "xmlns:ds", "xmlns:xs", "xmlns:xsi",
		"xmlns:xenc", "xmlns:ec", "xsi:type",
	} {
		names[n] = n
	}
}

// intern returns b as a string, shared when it is a common name.
func intern(b []byte) string {
	if s, ok := names[string(b)]; ok { // no allocation for the lookup
		return s
	}
	return string(b)
}

// spaces holds "\n" followed by up to 32 spaces, the indentation of pretty-printed documents.
var spaces = func() []string {
	out := make([]string, 33)
	for i := range out {
		b := make([]byte, i+1)
		b[0] = '\n'
		for j := 1; j <= i; j++ {
			b[j] = ' '
		}
		out[i] = string(b)
	}
	return out
}()

// internSpace returns text as a string, shared when it is a newline and indentation.
func internSpace(text []byte) string {
	if len(text) > 0 && len(text) <= len(spaces) && text[0] == '\n' {
		if s := spaces[len(text)-1]; s == string(text) {
			return s
		}
	}
	return string(text)
}
