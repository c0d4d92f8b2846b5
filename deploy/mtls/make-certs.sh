#!/usr/bin/env bash
# Makes an internal CA and one certificate per service for mutual TLS on internal gRPC.
# Usage: deploy/mtls/make-certs.sh OUT_DIR [DNS_SUFFIX]
#   OUT_DIR     where ca.pem, ca-key.pem and <service>.pem / <service>-key.pem are written
#   DNS_SUFFIX  appended to each service name in its certificate (default: none), for example
#               .sso.svc.cluster.local
# Each certificate is valid for the service's name (with and without the suffix), localhost and
# 127.0.0.1, for both server and client authentication: every service is a server to some peers and a
# client of others. Keep ca-key.pem offline; give each service its own pair plus ca.pem.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [DNS_SUFFIX]}
suffix=${2:-}
days=${CERT_DAYS:-365}
mkdir -p "$out"
umask 077

if [ ! -f "$out/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$((days * 3))" \
    -subj "/CN=iEchor SSO internal CA" -keyout "$out/ca-key.pem" -out "$out/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

for svc in gateway domain provisioning connection assertion ssod; do
  san="DNS:$svc,DNS:localhost,IP:127.0.0.1"
  [ -n "$suffix" ] && san="$san,DNS:$svc$suffix"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc" \
    -keyout "$out/$svc-key.pem" -out "$out/$svc.csr" 2>/dev/null
  openssl x509 -req -in "$out/$svc.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial \
    -days "$days" -out "$out/$svc.pem" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\n' "$san") 2>/dev/null
  rm -f "$out/$svc.csr"
done
echo "certificates in $out: set GRPC_TLS_CERT=<svc>.pem GRPC_TLS_KEY=<svc>-key.pem GRPC_TLS_CA=ca.pem for each service"
