#!/usr/bin/env bash
# Builds the Debian package with cargo-deb from the debug binary the test
# command already built (the package's contents are what matters here, not
# the optimisation level), installs it on this machine as an operator would,
# and checks: the system user, the /etc/leak owners and modes, the generated
# DKIM keys and certificate, the man pages, `systemd-analyze verify` on the
# INSTALLED unit, and `leak check-config` run as the leak user against the
# installed example config. Then it purges the package and checks that
# nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "package_test: $*" >&2; exit 1; }

command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked --quiet
[ -x target/debug/leak ] || cargo build -p leak

if dpkg -s leak >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq leak >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo deb -p leak --profile dev --no-build --quiet -o "$out/leak.deb" >/dev/null 2>&1 \
    || cargo deb -p leak --profile dev --no-build -o "$out/leak.deb"   # show why
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$out/leak.deb" >/dev/null 2>&1

getent passwd leak >/dev/null || fail "no leak system user"
[ "$(stat -c '%U:%G %a' /etc/leak)" = "root:leak 750" ] || fail "/etc/leak: $(stat -c '%U:%G %a' /etc/leak)"
[ "$(stat -c '%U:%G %a' /etc/leak/leak.toml)" = "root:leak 640" ] || fail "leak.toml mode"
[ "$(stat -c '%U:%G %a' /etc/leak/dkim-keys/leak-rsa.pem)" = "leak:leak 600" ] || fail "DKIM key mode"
[ "$(stat -c '%U:%G %a' /etc/leak/accounts/users.toml)" = "leak:leak 600" ] || fail "users file"
[ -s /etc/leak/tls/fullchain.pem ] || fail "no certificate generated"
[ -x /usr/bin/leak ] || fail "no /usr/bin/leak"
man -w leak-queue-list >/dev/null || fail "no man page leak-queue-list(1)"
[ -s /usr/share/doc/leak/operations.md ] || fail "no operations guide"

verify=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify /lib/systemd/system/leak.service 2>&1) \
    || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warned: $verify"

checked=$(runuser -u leak -- /usr/bin/leak check-config --config /etc/leak/leak.toml 2>&1) \
    || fail "check-config as the leak user failed: $checked"
[ "$(printf '%s\n' "$checked" | tail -n 1)" = "ok" ] || fail "check-config said: $checked"

# The installed example is the repository's example; the keys are the
# generated ones (their DNS records print).
runuser -u leak -- /usr/bin/leak dkim dns --config /etc/leak/leak.toml | grep -q '^leak-rsa._domainkey' \
    || fail "leak dkim dns on the installed config"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq leak >/dev/null
[ ! -e /usr/bin/leak ] || fail "/usr/bin/leak left after purge"
[ ! -e /etc/leak ] || fail "/etc/leak left after purge: $(ls -R /etc/leak)"
! getent passwd leak >/dev/null || fail "leak user left after purge"
echo "package_test: the .deb installs, verifies, validates its example config and purges cleanly"
