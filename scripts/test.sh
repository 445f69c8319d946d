#!/usr/bin/env bash
# Runs every test of leak on a fresh machine: installs what the tests need
# when missing (Debian packages, Python packages, cargo-fuzz), then lints,
# builds, runs the Rust tests, the end-to-end tests against the real binary,
# the systemd unit check and a short fuzz smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

need_apt=()
# aws-lc-sys (the crypto provider) compiles AWS-LC's C and assembly with cc.
command -v cc >/dev/null || need_apt+=(gcc)
command -v swaks >/dev/null || need_apt+=(swaks)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v dnsmasq >/dev/null || need_apt+=(dnsmasq-base)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v man >/dev/null || need_apt+=(man-db)
# The e2e hardening test checks contrib/fail2ban's filter against a real log.
command -v fail2ban-regex >/dev/null || need_apt+=(fail2ban)
# The consent tests: a real browser opens the opt-out link, curl sends the
# RFC 8058 POST, nmap's smtp-open-relay script probes the inbound listener.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v nmap >/dev/null || need_apt+=(nmap)
# A real PostgreSQL for the two-node e2e test (tests/e2e/test_cluster.py).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v curl >/dev/null || need_apt+=(curl)
# The DANE test: a BIND9 authoritative server with a DNSSEC-signed zone
# (named, dnssec-keygen/-signzone, dig for its readiness).
command -v named >/dev/null || need_apt+=(bind9)
command -v dnssec-signzone >/dev/null || need_apt+=(bind9-utils)
command -v dig >/dev/null || need_apt+=(bind9-dnsutils)
# Attachment tests build real files and inspect what arrives.
command -v exiftool >/dev/null || need_apt+=(libimage-exiftool-perl)
command -v compare >/dev/null || need_apt+=(imagemagick)
command -v qpdf >/dev/null || need_apt+=(qpdf)
command -v gpg >/dev/null || need_apt+=(gpg)
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
# The PDF tests make files with Ghostscript and embed DejaVu Sans with reportlab.
command -v gs >/dev/null || need_apt+=(ghostscript)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# The Rust DKIM tests verify signatures with Debian's dkimpy (/usr/bin/python3).
/usr/bin/python3 -c 'import dkim, nacl' 2>/dev/null || need_apt+=(python3-dkim python3-nacl)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 - <<'PY' || { log "installing Python packages"; python3 -m pip install -q pytest dkimpy aiosmtpd pynacl websockets prometheus-client pikepdf reportlab python-docx openpyxl python-pptx odfpy dnspython; }
import pytest, dkim, aiosmtpd, nacl, websockets, prometheus_client, pikepdf, reportlab, docx, openpyxl, pptx, odf, dns.message  # noqa: F401
PY

log "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

log "Rust tests"
cargo test --workspace

log "moderation model: retraining reproduces the shipped weights, trainer/scorer parity"
scripts/train-moderation.sh --check > /dev/null

log "end-to-end tests against the real binary"
cargo build -p leak -p leak-bench
LEAK_BIN="$PWD/target/debug/leak" python3 -m pytest -q tests/e2e

log "systemd unit"
tests/systemd_verify.sh
log "Debian package (cargo-deb): install, verify the installed unit, check-config as leak, purge"
tests/package_test.sh
log "fuzz smoke run (a few seconds per target, fixed seed)"
tests/fuzz_smoke.sh

log "all tests passed"
