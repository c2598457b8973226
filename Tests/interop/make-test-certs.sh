#!/usr/bin/env bash
# Makes a throwaway CA and a server certificate signed by it, for TLS tests:
#   OUT/ca.pem  OUT/server.pem  OUT/server.key
# The server certificate names *.test.google.fr (the interop suite's override name),
# localhost and 127.0.0.1. Nothing here is secret; it is made fresh for each run.
set -euo pipefail
out=${1:?usage: make-test-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=SwiftVerse Test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=*.test.google.fr" \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:*.test.google.fr,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile ext.cnf -out server.pem 2>/dev/null
rm -f server.csr ext.cnf ca.srl
