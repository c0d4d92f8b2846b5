#!/usr/bin/env bash
# Makes an internal CA and one certificate per component for mutual TLS on internal gRPC.
# Usage: deploy/mtls/make-certs.sh OUT_DIR [DNS_SUFFIX] [TRUST_DOMAIN]
#   OUT_DIR       where ca.pem, ca-key.pem and <name>.pem / <name>-key.pem are written
#   DNS_SUFFIX    appended to each service name in its certificate (default: none), for example
#                 .sso.svc.cluster.local
#   TRUST_DOMAIN  the trust domain of the identities (default: $GRPC_TRUST_DOMAIN, else
#                 iechor.internal); set the same GRPC_TRUST_DOMAIN on every service
#
# Each certificate names its component in exactly one URI SAN, spiffe://TRUST_DOMAIN/sso/<name>: that
# is who the component is when it calls another, and what each RPC's declared callers are checked
# against. A service's certificate is also valid, as a server, for its name (with and without the
# suffix), localhost and 127.0.0.1, and serves both server and client authentication: every service
# is a server to some peers and a client of others. operator.pem is for people running grpcurl
# against internal gRPC (client authentication only); keep it with the operators, never in a pod.
# Keep ca-key.pem offline; give each service its own pair plus ca.pem. ssod needs none of these: it
# issues its components' certificates itself, in memory.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [DNS_SUFFIX] [TRUST_DOMAIN]}
suffix=${2:-}
trust_domain=${3:-${GRPC_TRUST_DOMAIN:-iechor.internal}}
days=${CERT_DAYS:-365}
if ! [[ $trust_domain =~ ^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$ ]]; then
  echo "make-certs.sh: trust domain '$trust_domain' must be a lower-case DNS name" >&2
  exit 1
fi
mkdir -p "$out"
umask 077

if [ ! -f "$out/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$((days * 3))" \
    -subj "/CN=iEchor SSO internal CA" -keyout "$out/ca-key.pem" -out "$out/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

issue() {
  local name=$1 san=$2 usage=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$out/$name-key.pem" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial \
    -days "$days" -out "$out/$name.pem" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\n' "$san" "$usage") 2>/dev/null
  rm -f "$out/$name.csr"
}

for svc in gateway domain provisioning connection assertion; do
  san="URI:spiffe://$trust_domain/sso/$svc,DNS:$svc,DNS:localhost,IP:127.0.0.1"
  [ -n "$suffix" ] && san="$san,DNS:$svc$suffix"
  issue "$svc" "$san" serverAuth,clientAuth
done
issue operator "URI:spiffe://$trust_domain/sso/operator" clientAuth
echo "certificates in $out (trust domain $trust_domain): set GRPC_TLS_CERT=<svc>.pem GRPC_TLS_KEY=<svc>-key.pem GRPC_TLS_CA=ca.pem and GRPC_TRUST_DOMAIN=$trust_domain for each service"
