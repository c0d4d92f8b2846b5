#!/usr/bin/env bash
# Makes the SAML test fixtures of the assertion service with independent tools: openssl makes the
# keys and certificates, xmlsec1 signs and encrypts. Every document is written unsigned from one
# template with an empty ds:Signature, then signed (and encrypted) by xmlsec1, so that the Go code
# under test never vouches for its own fixtures.
#
# The keys are made once and kept (delete testdata/keys to make new ones); the documents are made
# again on every run. All documents answer an AuthnRequest made at 2026-11-01T11:59:50Z and are valid
# at the tests' pinned clock, 2026-11-01T12:00:30Z.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
keys=$here/keys
out=$here/signed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$keys" "$out"

command -v xmlsec1 >/dev/null || { echo "xmlsec1 is needed (Debian package xmlsec1)" >&2; exit 1; }

# --- keys and certificates --------------------------------------------------------------------

# selfsigned NAME KEYSPEC SUBJECT START END: a self-signed certificate with a fixed validity window,
# made with `openssl ca` because `openssl req -x509` cannot set a start date.
selfsigned() {
	local name=$1 keyspec=$2 subject=$3 start=$4 end=$5
	[[ -f $keys/$name.key && -f $keys/$name.crt ]] && return
	local ca=$work/ca-$name
	mkdir -p "$ca"
	: >"$ca/index.txt"
	echo 01 >"$ca/serial"
	cat >"$ca/ca.cnf" <<CNF
[ ca ]
default_ca = fixture
[ fixture ]
dir = $ca
database = $ca/index.txt
serial = $ca/serial
new_certs_dir = $ca
default_md = sha256
policy = anything
copy_extensions = none
x509_extensions = ext
unique_subject = no
[ anything ]
commonName = supplied
organizationName = optional
[ ext ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
subjectKeyIdentifier = hash
CNF
	case $keyspec in
	rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${keyspec#rsa:}" -out "$keys/$name.key" 2>/dev/null ;;
	ec:*) openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${keyspec#ec:}" -out "$keys/$name.key" 2>/dev/null ;;
	esac
	openssl req -new -key "$keys/$name.key" -subj "$subject" -out "$ca/req.csr"
	openssl ca -batch -notext -selfsign -config "$ca/ca.cnf" -keyfile "$keys/$name.key" -in "$ca/req.csr" \
		-startdate "$start" -enddate "$end" -out "$keys/$name.crt" 2>/dev/null
}

selfsigned idp rsa:2048 "/O=Example IdP/CN=idp.example.test" 20200101000000Z 20991231235959Z
selfsigned idp-next rsa:2048 "/O=Example IdP/CN=idp.example.test next" 20200101000000Z 20991231235959Z
selfsigned idp-ec ec:P-256 "/O=Example IdP/CN=idp.example.test ec" 20200101000000Z 20991231235959Z
selfsigned idp-expired rsa:2048 "/O=Example IdP/CN=idp.example.test old" 20200101000000Z 20210101000000Z
selfsigned attacker rsa:2048 "/O=Example IdP/CN=idp.example.test" 20200101000000Z 20991231235959Z
selfsigned sp rsa:2048 "/O=iEchor/CN=sso.iechor.test" 20200101000000Z 20991231235959Z
selfsigned sp-old rsa:2048 "/O=iEchor/CN=sso.iechor.test old" 20200101000000Z 20991231235959Z

# --- document templates -----------------------------------------------------------------------

DSIG=http://www.w3.org/2000/09/xmldsig#
EXC_C14N=http://www.w3.org/2001/10/xml-exc-c14n#

# signature_template REFERENCE SIGNATURE_METHOD DIGEST_METHOD: an empty ds:Signature for xmlsec1 to
# fill, with the transforms every IdP uses: enveloped-signature then exclusive c14n.
signature_template() {
	cat <<XML
<ds:Signature xmlns:ds="$DSIG"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="$EXC_C14N"/><ds:SignatureMethod Algorithm="$2"/><ds:Reference URI="#$1"><ds:Transforms><ds:Transform Algorithm="${DSIG}enveloped-signature"/><ds:Transform Algorithm="$EXC_C14N"/></ds:Transforms><ds:DigestMethod Algorithm="$3"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>
XML
}

RSA_SHA256=http://www.w3.org/2001/04/xmldsig-more#rsa-sha256
RSA_SHA1=${DSIG}rsa-sha1
ECDSA_SHA256=http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256
SHA256=http://www.w3.org/2001/04/xmlenc#sha256
SHA1=${DSIG}sha1

# The values of the valid document; a variant overrides some of them.
declare -A base=(
	[RESPONSE_VERSION]=2.0
	[ASSERTION_VERSION]=2.0
	[DESTINATION]='Destination="https://sso.iechor.test/saml/conn_fixture/acs"'
	[RESPONSE_ISSUE_INSTANT]=2026-11-01T12:00:00Z
	[ASSERTION_ISSUE_INSTANT]=2026-11-01T12:00:00Z
	[RECIPIENT]=https://sso.iechor.test/saml/conn_fixture/acs
	[RESPONSE_IRT]='InResponseTo="id-request-0001"'
	[SCD_IRT]='InResponseTo="id-request-0001"'
	[SCD_NOT_BEFORE]=
	[RESPONSE_ISSUER]='<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">https://idp.example.test/metadata</saml:Issuer>'
	[ASSERTION_ISSUER]=https://idp.example.test/metadata
	[ASSERTION_ISSUER_FORMAT]=' Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity"'
	[STATUS]=urn:oasis:names:tc:SAML:2.0:status:Success
	[NAMEID]=jane.doe@example.com
	[NAMEID_FORMAT]=urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress
	[METHOD]=urn:oasis:names:tc:SAML:2.0:cm:bearer
	[SCD_NOT_ON_OR_AFTER]=2026-11-01T12:05:00Z
	[NOT_BEFORE]=2026-11-01T11:59:00Z
	[NOT_ON_OR_AFTER]=2026-11-01T12:05:00Z
	[AUDIENCE]='<saml:AudienceRestriction><saml:Audience>https://sso.iechor.test/saml/conn_fixture/metadata</saml:Audience></saml:AudienceRestriction>'
	[EMAIL]=jane.doe@example.com
	[SESSION_END]=2026-11-01T20:00:00Z
	[AUTHN_STATEMENT]=yes
	[AUTHN_INSTANT]='AuthnInstant="2026-11-01T11:59:58Z" '
	[RESPONSE_EXTRA]=
	[SUBJECT_EXTRA]=
	[ASSERTION_EXTRA]=
)

# render NAME KEY=VALUE...: the unsigned response of a variant, with empty signatures where asked
# (SIGN_RESPONSE=yes, SIGN_ASSERTION=yes; SIGNATURE_METHOD and DIGEST_METHOD choose the algorithms).
# A signature stands right after the Issuer, where the schema puts it, unless RESPONSE_SIGNATURE_AT=end
# (the Response's last child) or ASSERTION_SIGNATURE_AT=end or =subject (the Assertion's last child, or
# the Subject's first) asks for a misplaced one. AUTHN_STATEMENT=no leaves the AuthnStatement out.
render() {
	local name=$1
	shift
	declare -A v
	local k
	for k in "${!base[@]}"; do v[$k]=${base[$k]}; done
	v[SIGN_RESPONSE]=no
	v[SIGN_ASSERTION]=yes
	v[SIGNATURE_METHOD]=$RSA_SHA256
	v[DIGEST_METHOD]=$SHA256
	v[RESPONSE_SIGNATURE_AT]=issuer
	v[ASSERTION_SIGNATURE_AT]=issuer
	local kv
	for kv in "$@"; do v[${kv%%=*}]=${kv#*=}; done
	local rsig="" asig=""
	[[ ${v[SIGN_RESPONSE]} == yes ]] && rsig=$(signature_template "_response-$name" "${v[SIGNATURE_METHOD]}" "${v[DIGEST_METHOD]}")
	[[ ${v[SIGN_ASSERTION]} == yes ]] && asig=$(signature_template "_assertion-$name" "${v[SIGNATURE_METHOD]}" "${v[DIGEST_METHOD]}")
	declare -A at=([response-issuer]="" [response-end]="" [assertion-issuer]="" [assertion-subject]="" [assertion-end]="")
	at[response-${v[RESPONSE_SIGNATURE_AT]}]=$rsig
	at[assertion-${v[ASSERTION_SIGNATURE_AT]}]=$asig
	local authn=""
	[[ ${v[AUTHN_STATEMENT]} == yes ]] && authn=$(
		cat <<XML

    <saml:AuthnStatement ${v[AUTHN_INSTANT]}SessionIndex="_session-$name" SessionNotOnOrAfter="${v[SESSION_END]}">
      <saml:AuthnContext>
        <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
      </saml:AuthnContext>
    </saml:AuthnStatement>
XML
	)
	cat <<XML
<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_response-$name" Version="${v[RESPONSE_VERSION]}" IssueInstant="${v[RESPONSE_ISSUE_INSTANT]}" ${v[DESTINATION]} ${v[RESPONSE_IRT]}>
  ${v[RESPONSE_ISSUER]}${at[response-issuer]}
  <samlp:Status>
    <samlp:StatusCode Value="${v[STATUS]}"/>
  </samlp:Status>
  <saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_assertion-$name" Version="${v[ASSERTION_VERSION]}" IssueInstant="${v[ASSERTION_ISSUE_INSTANT]}">
    <saml:Issuer${v[ASSERTION_ISSUER_FORMAT]}>${v[ASSERTION_ISSUER]}</saml:Issuer>${at[assertion-issuer]}
    <saml:Subject>${at[assertion-subject]}
      <saml:NameID Format="${v[NAMEID_FORMAT]}" SPNameQualifier="https://sso.iechor.test/saml/conn_fixture/metadata">${v[NAMEID]}</saml:NameID>
      <saml:SubjectConfirmation Method="${v[METHOD]}">
        <saml:SubjectConfirmationData ${v[SCD_IRT]}${v[SCD_NOT_BEFORE]} NotOnOrAfter="${v[SCD_NOT_ON_OR_AFTER]}" Recipient="${v[RECIPIENT]}"/>
      </saml:SubjectConfirmation>${v[SUBJECT_EXTRA]}
    </saml:Subject>
    <saml:Conditions NotBefore="${v[NOT_BEFORE]}" NotOnOrAfter="${v[NOT_ON_OR_AFTER]}">
      ${v[AUDIENCE]}
    </saml:Conditions>${authn}
    <saml:AttributeStatement>
      <saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" FriendlyName="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue xsi:type="xs:string">${v[EMAIL]}</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname" FriendlyName="givenName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue xsi:type="xs:string">Jane</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname" FriendlyName="sn" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue xsi:type="xs:string">Doe</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="http://schemas.microsoft.com/identity/claims/displayname" FriendlyName="displayName" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue xsi:type="xs:string">Jane Q. Doe</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="http://schemas.microsoft.com/ws/2008/06/identity/claims/groups" FriendlyName="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue xsi:type="xs:string">engineering</saml:AttributeValue>
        <saml:AttributeValue xsi:type="xs:string">platform-admins</saml:AttributeValue>
        <saml:AttributeValue xsi:type="xs:string">all-staff</saml:AttributeValue>
      </saml:Attribute>
    </saml:AttributeStatement>${v[ASSERTION_EXTRA]}${at[assertion-end]}
  </saml:Assertion>${v[RESPONSE_EXTRA]}${at[response-end]}
</samlp:Response>
XML
}

IDS=(--id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:Response --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion)
ASSERTION_SIGNATURE="//*[local-name()='Assertion']//*[local-name()='Signature']"
RESPONSE_SIGNATURE="/*/*[local-name()='Signature']"

# sign FILE XPATH KEY: fills the ds:Signature that XPATH selects, with KEY's private key and its
# certificate in KeyInfo.
sign() {
	xmlsec1 --sign "${IDS[@]}" --node-xpath "$2" --privkey-pem "$keys/$3.key,$keys/$3.crt" --output "$1.tmp" "$1"
	mv "$1.tmp" "$1"
}

# make NAME KEY KEY=VALUE...: renders a variant and signs what it asks with KEY.
make() {
	local name=$1 key=$2
	shift 2
	local f=$out/$name.xml
	render "$name" "$@" >"$f"
	grep -q "_assertion-$name\"><ds:Transforms" "$f" && sign "$f" "$ASSERTION_SIGNATURE" "$key"
	grep -q "_response-$name\"><ds:Transforms" "$f" && sign "$f" "$RESPONSE_SIGNATURE" "$key"
	return 0
}

# The valid documents, signed three ways and with three kinds of key.
make assertion-signed idp
make response-signed idp SIGN_RESPONSE=yes SIGN_ASSERTION=no
make both-signed idp SIGN_RESPONSE=yes
make signed-by-next-certificate idp-next
make ecdsa-signed idp-ec SIGNATURE_METHOD=$ECDSA_SHA256
make unsigned idp SIGN_ASSERTION=no
make no-response-issuer idp RESPONSE_ISSUER=
make response-signed-no-issuer idp SIGN_RESPONSE=yes SIGN_ASSERTION=no RESPONSE_ISSUER=

# Signature failures.
make signed-by-attacker attacker
make signed-by-expired-certificate idp-expired
make sha1-signed idp SIGNATURE_METHOD=$RSA_SHA1 DIGEST_METHOD=$SHA1
make sha1-digest idp DIGEST_METHOD=$SHA1

# Rule 5, one condition each; the signature is valid, the content is wrong.
make bad-version idp SIGN_RESPONSE=yes RESPONSE_VERSION=1.1
make bad-assertion-version idp ASSERTION_VERSION=1.1
make idp-error-status idp SIGN_RESPONSE=yes SIGN_ASSERTION=no STATUS=urn:oasis:names:tc:SAML:2.0:status:Requester
make bad-response-issuer idp RESPONSE_ISSUER='<saml:Issuer>https://evil.example.test/metadata</saml:Issuer>'
make bad-assertion-issuer idp ASSERTION_ISSUER=https://evil.example.test/metadata
make bad-destination idp DESTINATION='Destination="https://evil.example.test/acs"'
make bad-recipient idp RECIPIENT=https://evil.example.test/acs
make response-in-response-to-mismatch idp RESPONSE_IRT='InResponseTo="id-request-9999"'
make confirmation-in-response-to-mismatch idp SCD_IRT='InResponseTo="id-request-9999"'
make unsolicited idp RESPONSE_IRT= SCD_IRT=
make not-bearer idp METHOD=urn:oasis:names:tc:SAML:2.0:cm:holder-of-key
make confirmation-expired idp SCD_NOT_ON_OR_AFTER=2026-11-01T11:59:00Z
make conditions-expired idp NOT_ON_OR_AFTER=2026-11-01T11:58:00Z
make not-yet-valid idp NOT_BEFORE=2026-11-01T12:10:00Z
make no-audience-restriction idp AUDIENCE=
make session-expired idp SESSION_END=2026-11-01T11:00:00Z
make bad-audience idp AUDIENCE='<saml:AudienceRestriction><saml:Audience>https://other-sp.example.test/metadata</saml:Audience></saml:AudienceRestriction>'

# The rules a strict service provider enforces beyond the conditions above. Each document is validly
# signed (xmlsec1 --verify accepts it): only the rule refuses it.
# A ds:Signature where the schema does not put it.
make signature-last-in-assertion idp ASSERTION_SIGNATURE_AT=end
make signature-in-subject idp ASSERTION_SIGNATURE_AT=subject
make response-signature-last idp SIGN_RESPONSE=yes SIGN_ASSERTION=no RESPONSE_SIGNATURE_AT=end
# Children that the schema does not allow, in a signed Response or a signed Assertion: an element of
# another namespace, and an "Assertion" whose saml prefix is bound to another namespace.
make response-foreign-child idp SIGN_RESPONSE=yes SIGN_ASSERTION=no RESPONSE_EXTRA='<ext:Note xmlns:ext="urn:example:ext">signed, but not SAML</ext:Note>'
make response-rebound-saml-prefix idp SIGN_RESPONSE=yes SIGN_ASSERTION=no RESPONSE_EXTRA='<saml:Assertion xmlns:saml="urn:example:not-saml" ID="_decoy">ceo@example.com</saml:Assertion>'
make assertion-foreign-child idp ASSERTION_EXTRA='<ext:Note xmlns:ext="urn:example:ext">signed, but not SAML</ext:Note>'
# Conditions: two we do not understand, and the two we understand besides AudienceRestriction.
make condition-of-unknown-type idp AUDIENCE="${base[AUDIENCE]}<saml:Condition xmlns:ext=\"urn:example:ext\" xsi:type=\"ext:DeviceCondition\"/>"
make condition-in-another-namespace idp AUDIENCE="${base[AUDIENCE]}<ext:NetworkCondition xmlns:ext=\"urn:example:ext\"/>"
make conditions-understood idp AUDIENCE="${base[AUDIENCE]}<saml:OneTimeUse/><saml:ProxyRestriction Count=\"0\"/>"
# Issued before the AuthnRequest it answers (made at 11:59:50) by more than the skew, or after now
# (12:00:30) by more than the skew.
make response-issued-before-request idp RESPONSE_ISSUE_INSTANT=2026-11-01T11:58:00Z
make assertion-issued-before-request idp ASSERTION_ISSUE_INSTANT=2026-11-01T11:58:00Z
make assertion-issued-in-the-future idp ASSERTION_ISSUE_INSTANT=2026-11-01T12:03:00Z
# No Destination, on an unsigned and on a signed Response.
make no-destination idp DESTINATION=
make response-signed-no-destination idp SIGN_RESPONSE=yes SIGN_ASSERTION=no DESTINATION=
# A bearer confirmation with a NotBefore, which the Web Browser SSO profile forbids.
make confirmation-not-before idp SCD_NOT_BEFORE=' NotBefore="2026-11-01T11:59:00Z"'
make second-confirmation-not-before idp SUBJECT_EXTRA='<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="id-request-0001" NotBefore="2026-11-01T11:59:00Z" NotOnOrAfter="2026-11-01T12:05:00Z" Recipient="https://sso.iechor.test/saml/conn_fixture/acs"/></saml:SubjectConfirmation>'

# The last rules of the Web Browser SSO profile (4.1.4.2) and of SAML core a strict SP holds the IdP to.
# An Issuer's Format, when present, is entity (a signed Response without an Issuer is
# response-signed-no-issuer, above).
make response-signed-issuer-format-not-entity idp SIGN_RESPONSE=yes SIGN_ASSERTION=no RESPONSE_ISSUER='<saml:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">https://idp.example.test/metadata</saml:Issuer>'
make assertion-issuer-format-not-entity idp ASSERTION_ISSUER_FORMAT=' Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"'
# Issuers without a Format, as Entra ID, Google and OneLogin send them: entity is the default.
make issuers-without-format idp SIGN_RESPONSE=yes RESPONSE_ISSUER='<saml:Issuer>https://idp.example.test/metadata</saml:Issuer>' ASSERTION_ISSUER_FORMAT=
# A Response to our AuthnRequest that does not say so (SAML core 3.2.2), its assertion saying it does.
make response-without-in-response-to idp SIGN_RESPONSE=yes RESPONSE_IRT=
# Conditions that break SAML core 2.5.1: OneTimeUse or ProxyRestriction twice, an empty validity
# window, an AudienceRestriction holding something other than Audience elements, or nothing.
make one-time-use-twice idp AUDIENCE="${base[AUDIENCE]}<saml:OneTimeUse/><saml:OneTimeUse/>"
make proxy-restriction-twice idp AUDIENCE="${base[AUDIENCE]}<saml:ProxyRestriction Count=\"0\"/><saml:ProxyRestriction Count=\"1\"/>"
make conditions-window-empty idp NOT_BEFORE=2026-11-01T12:01:00Z NOT_ON_OR_AFTER=2026-11-01T12:01:00Z
make audience-restriction-foreign-child idp AUDIENCE='<saml:AudienceRestriction><saml:Audience>https://sso.iechor.test/saml/conn_fixture/metadata</saml:Audience><ext:Audience xmlns:ext="urn:example:ext">https://other-sp.example.test/metadata</ext:Audience></saml:AudienceRestriction>'
make audience-restriction-empty idp AUDIENCE="${base[AUDIENCE]}<saml:AudienceRestriction/>"
# A bearer assertion without an AuthnStatement, and an AuthnStatement without its AuthnInstant.
make no-authn-statement idp AUTHN_STATEMENT=no
make authn-statement-without-instant idp AUTHN_INSTANT=
# Values whose schema type is a string, with an element inside: the text before the element must not
# be read as the whole value. And an attribute of another namespace beside SAML's own of one local name.
make audience-with-element-inside idp AUDIENCE='<saml:AudienceRestriction><saml:Audience>https://sso.iechor.test/saml/conn_fixture/metadata<ext:More xmlns:ext="urn:example:ext"/>.evil.example</saml:Audience></saml:AudienceRestriction>'
make nameid-with-element-inside idp NAMEID='jane.doe@example.com<ext:More xmlns:ext="urn:example:ext"/>.evil.example'
make recipient-beside-namespaced-recipient idp SCD_IRT='xmlns:ext="urn:example:ext" ext:Recipient="https://sso.iechor.test/saml/conn_fixture/acs" InResponseTo="id-request-0001"' RECIPIENT=https://evil.example.test/acs

# Rule 8.
make email-outside-domains idp EMAIL=jane.doe@elsewhere.test NAMEID=jane.doe@elsewhere.test
make nameid-not-email idp NAMEID=jdoe NAMEID_FORMAT=urn:oasis:names:tc:SAML:2.0:nameid-format:persistent
make comment-in-nameid idp NAMEID=admin@example.com.evil.test EMAIL=admin@example.com.evil.test
# The attack: a comment added after signing. Exclusive c14n drops comments, so the signature still
# verifies, and a parser that stops at the comment reads admin@example.com.
sed -i 's|>admin@example.com.evil.test</saml:NameID>|>admin@example.com<!---->.evil.test</saml:NameID>|' "$out/comment-in-nameid.xml"

# --- encrypted assertions ---------------------------------------------------------------------

XENC=http://www.w3.org/2001/04/xmlenc#

# encrypted_data_template CIPHER: an empty EncryptedData whose key is RSA-OAEP (MGF1, SHA-1 digest)
# to the SP's certificate.
encrypted_data_template() {
	cat <<XML
<xenc:EncryptedData xmlns:xenc="$XENC" Type="${XENC}Element"><xenc:EncryptionMethod Algorithm="$1"/><ds:KeyInfo xmlns:ds="$DSIG"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="${XENC}rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="$SHA1"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>
XML
}

# make_encrypted NAME CIPHER SESSION_KEY SIGN_RESPONSE SP_KEY: a response whose signed assertion is
# encrypted to SP_KEY's certificate inside saml:EncryptedAssertion; the response is signed after
# encryption when SIGN_RESPONSE=yes.
make_encrypted() {
	local name=$1 cipher=$2 session=$3 signresp=$4 spkey=$5
	local f=$out/$name.xml
	render "$name" SIGN_RESPONSE="$signresp" >"$f"
	sign "$f" "$ASSERTION_SIGNATURE" idp
	# Wrap the signed assertion in EncryptedAssertion, then let xmlsec1 replace it by its EncryptedData.
	sed -i -e 's|<saml:Assertion |<saml:EncryptedAssertion><saml:Assertion |' -e 's|</saml:Assertion>|</saml:Assertion></saml:EncryptedAssertion>|' "$f"
	encrypted_data_template "$cipher" >"$work/enc-template.xml"
	xmlsec1 --encrypt "${IDS[@]}" --pubkey-cert-pem "$keys/$spkey.crt" --session-key "$session" \
		--xml-data "$f" --node-id "_assertion-$name" --output "$f.tmp" "$work/enc-template.xml"
	mv "$f.tmp" "$f"
	[[ $signresp == yes ]] && sign "$f" "$RESPONSE_SIGNATURE" idp
	return 0
}

make_encrypted encrypted-gcm http://www.w3.org/2009/xmlenc11#aes256-gcm aes-256 no sp
make_encrypted encrypted-gcm128 http://www.w3.org/2009/xmlenc11#aes128-gcm aes-128 no sp
make_encrypted encrypted-gcm-old-key http://www.w3.org/2009/xmlenc11#aes256-gcm aes-256 no sp-old
make_encrypted encrypted-cbc-signed-response ${XENC}aes256-cbc aes-256 yes sp
make_encrypted encrypted-cbc128-signed-response ${XENC}aes128-cbc aes-128 yes sp
make_encrypted encrypted-cbc-unsigned-response ${XENC}aes256-cbc aes-256 no sp

echo "fixtures written to $out"
