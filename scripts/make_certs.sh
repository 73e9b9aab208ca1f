#!/usr/bin/env bash
# Writes what run.tls needs into DIR: a cluster CA (ca.pem, ca.key) and one
# certificate for the tasks (cert.pem, key.pem), signed by it and naming
# every HOST (default: 127.0.0.1, localhost and this machine's name) in its
# subjectAltName, as channels check the name they dial.  Keep ca.key off the
# cluster; give each machine ca.pem, cert.pem and key.pem.
#
#   scripts/make_certs.sh DIR [HOST...]
#   # job file:  run: {tls: {ca: DIR/ca.pem, cert: DIR/cert.pem, key: DIR/key.pem}}
#
# An existing ca.pem/ca.key in DIR is reused, so certificates for more hosts
# can be added later under the same CA (CERT_NAME=name writes name.pem and
# name-key.pem instead of cert.pem and key.pem).
set -euo pipefail
DIR=${1:?usage: scripts/make_certs.sh DIR [HOST...]}
shift
HOSTS=("$@")
[[ ${#HOSTS[@]} -gt 0 ]] || HOSTS=(127.0.0.1 localhost "$(hostname)")
NAME=${CERT_NAME:-cert}
KEY=$([[ $NAME == cert ]] && echo key || echo "$NAME-key")
mkdir -p "$DIR"
command -v openssl > /dev/null || { echo "make_certs.sh: openssl is missing (apt-get install openssl)" >&2; exit 1; }
if [[ ! -f $DIR/ca.pem || ! -f $DIR/ca.key ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=psflow cluster CA" -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2> /dev/null
fi
san=""
for h in "${HOSTS[@]}"; do
  if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=psflow task" \
  -keyout "$DIR/$KEY.pem" -out "$DIR/$NAME.csr" 2> /dev/null
openssl x509 -req -in "$DIR/$NAME.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial -days 825 \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "${san#,}") \
  -out "$DIR/$NAME.pem" 2> /dev/null
rm -f "$DIR/$NAME.csr"
chmod 600 "$DIR/$KEY.pem" "$DIR/ca.key"
echo "wrote $DIR/ca.pem, $DIR/$NAME.pem and $DIR/$KEY.pem (names: ${san#,})"
