#!/usr/bin/env bash
# Runs every test of leak on a fresh machine: installs what the tests need
# when missing (Debian packages, Python packages, cargo-fuzz), then lints,
# builds, runs the Rust tests, the end-to-end tests against the real binary,
# the systemd unit check and a short fuzz smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v swaks >/dev/null || need_apt+=(swaks)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v dnsmasq >/dev/null || need_apt+=(dnsmasq-base)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# The Rust DKIM tests verify signatures with Debian's dkimpy (/usr/bin/python3).
/usr/bin/python3 -c 'import dkim, nacl' 2>/dev/null || need_apt+=(python3-dkim python3-nacl)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 - <<'PY' || { log "installing Python packages"; python3 -m pip install -q pytest dkimpy aiosmtpd pynacl; }
import pytest, dkim, aiosmtpd, nacl  # noqa: F401
PY

log "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

log "Rust tests"
cargo test --workspace

log "moderation model: retraining reproduces the shipped weights, trainer/scorer parity"
scripts/train-moderation.sh --check > /dev/null

log "end-to-end tests against the real binary"
cargo build -p leak
LEAK_BIN="$PWD/target/debug/leak" python3 -m pytest -q tests/e2e

log "systemd unit"
tests/systemd_verify.sh
log "fuzz smoke run (a few seconds per target, fixed seed)"
tests/fuzz_smoke.sh

log "all tests passed"
