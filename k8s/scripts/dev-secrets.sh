#!/bin/sh
# Generates the dev overlay's credentials into k8s/overlays/dev/secrets/
# (git-ignored), which the overlay's secretGenerator turns into Secrets:
# a random password per NATS user, per PostgreSQL role and for Redis, the
# libpq connection strings that use them, a self-signed certificate for
# the Ingress host, the access-token key pair, the master key of
# encryption at rest (kept even with --force), and a dev CA with a
# certificate for NATS (clients and routes) and one for PostgreSQL (the
# services verify both against ca.crt). Existing files are kept (so a
# re-apply does not change passwords under running databases); --force
# makes new ones.
#
# usage: k8s/scripts/dev-secrets.sh [--force] [OVERLAY_DIR]
set -eu
force=0
[ "${1:-}" = --force ] && { force=1; shift; }
dir=${1:-$(cd "$(dirname "$0")/../overlays/dev" && pwd)}
out="$dir/secrets"
host=codecourt.localtest.me
command -v openssl >/dev/null || { echo "dev-secrets: openssl is missing" >&2; exit 1; }
umask 077
mkdir -p "$out"

# The access-token key: cc-user signs with the private key (EC P-256,
# ES256), the gateway verifies with the public half.
if [ "$force" = 1 ] || [ ! -f "$out/jwt-key.pem" ] || [ ! -f "$out/jwt-public.pem" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/jwt-key.pem"
    openssl pkey -in "$out/jwt-key.pem" -pubout -out "$out/jwt-public.pem"
fi

# The servers' TLS: a dev CA (10 years) and a certificate per server
# (about a year), for the names the clients dial: cc-nats-N.cc-nats-headless
# (clients and routes, which verify each other) and cc-postgres.
ns=codecourt
cert() { # name, subjectAltName
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$out/$1.key" -out "$out/$1.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n' "$2" >"$out/$1.ext"
    openssl x509 -req -in "$out/$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
        -days 397 -sha256 -extfile "$out/$1.ext" -out "$out/$1.crt" 2>/dev/null
    rm -f "$out/$1.csr" "$out/$1.ext"
}
if [ "$force" = 1 ] || [ ! -f "$out/ca.crt" ] || [ ! -f "$out/nats.crt" ] || [ ! -f "$out/postgres.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=CodeCourt dev CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
    cert nats "DNS:cc-nats,DNS:cc-nats.$ns.svc,DNS:*.cc-nats-headless,DNS:*.cc-nats-headless.$ns.svc,DNS:*.cc-nats-headless.$ns.svc.cluster.local"
    cert postgres "DNS:cc-postgres,DNS:cc-postgres.$ns.svc,DNS:cc-postgres.$ns.svc.cluster.local"
    rm -f "$out/ca.srl"
fi
# The master key of encryption at rest (cc-user, cc-submission). Kept even
# with --force: a new one would leave the sealed columns unreadable.
if [ ! -f "$out/master-key.env" ]; then
    echo "master-key=$(openssl rand -hex 32)" >"$out/master-key.env"
fi

if [ "$force" = 0 ] && [ -f "$out/redis.env" ] && [ -f "$out/tls.key" ]; then
    exit 0
fi
pw() { openssl rand -hex 24; }

# One password per NATS user of k8s/base/nats.yaml (generated from the
# mesh's table), named as its configuration reads it.
nats_yaml=$(cd "$(dirname "$0")/../base" && pwd)/nats.yaml
{
    for v in $(grep -o 'password: \$CC_NATS_PASSWORD_[A-Z_]*' "$nats_yaml" | sed 's/.*\$//' | sort -u); do
        echo "$v=$(pw)"
    done
} >"$out/nats-users.env"
grep -q . "$out/nats-users.env" || { echo "dev-secrets: no NATS users in $nats_yaml" >&2; exit 1; }

admin="POSTGRES_PASSWORD=$(pw)"
echo "$admin" >"$out/postgres-admin.env"
for svc in user problem submission notification contest stats; do
    p=$(pw)
    echo "CC_PG_PASSWORD_$(echo "$svc" | tr a-z A-Z)=$p" >>"$out/postgres-admin.env"
    echo "conninfo=host=cc-postgres port=5432 dbname=cc_$svc user=cc_$svc password=$p sslmode=verify-full sslrootcert=/etc/codecourt/pg-ca/ca.crt" \
        >"$out/pg-$svc.env"
done

r=$(pw)
printf 'password=%s\nurl=redis://:%s@cc-redis:6379/0\n' "$r" "$r" >"$out/redis.env"

openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host" -keyout "$out/tls.key" -out "$out/tls.crt" 2>/dev/null
echo "dev-secrets: wrote $out"
