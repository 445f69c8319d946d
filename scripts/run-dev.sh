#!/usr/bin/env bash
# Runs leak on this machine with config/dev.toml, creating what is missing
# under run/: a self-signed TLS certificate, two DKIM keys and an account
# `demo` whose password is printed once. Ctrl-C stops the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
cargo build --release -p leak
leak=target/release/leak
mkdir -p run/tls run/dkim-keys
[ -f run/leak.toml ] || cp config/dev.toml run/leak.toml
if [ ! -f run/tls/cert.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout run/tls/key.pem -out run/tls/cert.pem -days 365 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
fi
for key in ed25519:leak-ed rsa:leak-rsa; do
    [ -f "run/dkim-keys/${key#*:}.pem" ] || "$leak" dkim generate --config run/leak.toml \
        --algorithm "${key%%:*}" --selector "${key#*:}" --out "run/dkim-keys/${key#*:}.pem"
done
[ -f run/users.toml ] || "$leak" user add demo --config run/leak.toml
"$leak" check-config --config run/leak.toml
exec "$leak" serve --config run/leak.toml
