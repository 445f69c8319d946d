#!/usr/bin/env bash
# Checks systemd/leak.service with `systemd-analyze verify`, treating every
# warning as a failure, and checks that the directives the operations guide
# promises are there.
#
# verify insists that ExecStart's binary exists. Rather than install leak on
# this machine or rewrite the unit, it verifies the unit unchanged inside a
# throwaway root (--root): the host's systemd unit tree, /bin/kill, and an
# executable stub at /usr/bin/leak. Only that stub is fake.
set -euo pipefail
cd "$(dirname "$0")/.."
unit=systemd/leak.service

if ! command -v systemd-analyze >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
ln -s usr/bin "$root/bin"
cp /bin/kill "$root/usr/bin/kill"   # ExecReload uses it; verify checks it too
for dir in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$dir" ] && [ ! -d "$root/usr/lib/systemd/system" ]; then
        cp -r "$dir" "$root/usr/lib/systemd/system"
    fi
done
printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/leak"
chmod 0755 "$root/usr/bin/leak"
cp "$unit" "$root/etc/systemd/system/leak.service"

status=0
output=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify --root="$root" leak.service 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$output" ]; then
    printf '%s\n' "$output" | sed "s|$root||g" >&2
    echo "systemd_verify: systemd-analyze verify failed on $unit (exit $status)" >&2
    exit 1
fi

missing=0
for directive in \
    'Type=notify' 'User=leak' 'StateDirectory=leak' 'RuntimeDirectory=leak' \
    'ExecStart=/usr/bin/leak serve --config /etc/leak/leak.toml' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
    'PrivateTmp=yes' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' \
    'AmbientCapabilities=CAP_NET_BIND_SERVICE' 'ReadWritePaths=/var/lib/leak /run/leak' \
    'SystemCallFilter=@system-service'; do
    if ! grep -qxF -- "$directive" "$unit"; then
        echo "systemd_verify: $unit lacks the line: $directive" >&2
        missing=1
    fi
done
[ "$missing" -eq 0 ] || exit 1
echo "systemd_verify: $unit ok"
