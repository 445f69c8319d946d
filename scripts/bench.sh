#!/usr/bin/env bash
# Benchmarks leak against a stock Postfix relay, and against Postfix with the
# OpenDKIM milter signing RSA-2048, on this machine (issues 7 and 19).
#
#   scripts/bench.sh [--messages N] [--size BYTES] [--sessions C]
#       Throughput: N messages of BYTES over C parallel sessions, into leak
#       (moderation, anonymization, Ed25519 + RSA DKIM, fsync before 250), then
#       into a private stock Postfix relay, then into a second private Postfix
#       whose smtpd hands every message to Debian's OpenDKIM (RSA-2048, one
#       signature), all three delivering through dnsmasq and BIND 9 (MX lookup) to
#       Postfix's smtp-sink. Each MTA gets two loads: Postfix's smtp-source
#       (accepted and end-to-end msgs/s), then leak-bench (the same load,
#       timing every submission for p50/p99 latency). Before the timed
#       Postfix + OpenDKIM loads, a few probe messages go to a dumping sink and
#       must arrive with a valid DKIM-Signature (checked with dkimpy when
#       python3 has it), or the run stops. Prints the three MTAs, the ratios
#       leak/Postfix and leak/(Postfix + OpenDKIM), and the load average before
#       each MTA's loads. Defaults: 20000 messages, 4096 bytes, 20.
#
#   scripts/bench.sh --deferred N [--size BYTES] [--sessions C]
#       Queues N messages in leak against an MX that answers 450 to RCPT, then
#       measures leak's RSS, the data dir's disk use, `leak queue list --json`
#       time, and restart-to-ready time (SIGTERM, start, `ready` logged).
#
# Environment: BENCH_WAIT_LIMIT (seconds, default 1800) bounds every wait for
# the sink or a queue; BENCH_SETTLE_LIMIT (default 600) bounds how long
# --deferred lets the first attempts run before measuring. BENCH_DKIM=ed25519
# signs with the Ed25519 key only (default "both"), to see what RSA costs.
#
# BENCH_PERF=FILE records `perf record -g` samples of leak (cpu-clock) into
# FILE during its leak-bench load, for the profile in docs/performance.md.
# BENCH_LEAK=PATH runs that leak binary instead of this tree's release build
# (A/B runs of two builds on the same machine); BENCH_ONLY_LEAK=1 skips both
# Postfix runs (a quick look at leak alone; the ratios then read 0).
#
# Installs postfix, opendkim, opendkim-tools, dnsmasq and bind9 when missing
# (Debian), builds leak and leak-bench in release mode (CARGO_TARGET_DIR is honoured), touches only
# loopback addresses and removes every process and temp dir it made on exit.
# The MX zone is served as a real one is: BIND 9 (named, authoritative, on
# 127.0.0.1 and a free port) holds it with 5-minute TTLs and answers every
# NXDOMAIN or empty answer with its SOA (negative TTL 300 s), so resolvers
# cache those too (the _mta-sts TXT and AAAA lookups leak makes). dnsmasq,
# a local caching forwarder on 127.0.0.D:53 (a free loopback address:
# Postfix's resolver, glibc, cannot use another port), sends the zone's
# queries to named and refuses the rest; leak is pointed at it too.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=20000
SIZE=4096
SESSIONS=20
DEFERRED=0
while [ $# -gt 0 ]; do
    case "$1" in
        --messages) MESSAGES=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --sessions) SESSIONS=$2; shift 2 ;;
        --deferred) DEFERRED=1; MESSAGES=$2; shift 2 ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 1 ;;
    esac
done
# How long any one wait (drain, readiness) may take, in seconds.
WAIT_LIMIT=${BENCH_WAIT_LIMIT:-1800}
# --deferred: how long to let the first (deferred) attempts run before measuring.
SETTLE_LIMIT=${BENCH_SETTLE_LIMIT:-600}
# DKIM keys leak signs with: "both" (Ed25519 and RSA 2048, the benchmark as
# defined) or "ed25519" (a diagnostic: what RSA signing costs).
DKIM_KEYS=${BENCH_DKIM:-both}
# Where to write perf samples of leak during its leak-bench load ("" = none).
PERF_OUT=${BENCH_PERF:-}
case "$DKIM_KEYS" in both|ed25519) ;; *) echo "BENCH_DKIM must be both or ed25519" >&2; exit 2 ;; esac

log() { printf '== %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

# ---------------------------------------------------------------- cleanup
WORK=$(mktemp -d /tmp/leak-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
POSTFIX_DIR=""
POSTFIX_DIRS=()
cleanup() {
    set +e
    for dir in "${POSTFIX_DIRS[@]}"; do
        if [ -f "$dir/queue/pid/master.pid" ]; then
            postfix -c "$dir/conf" stop >/dev/null 2>&1
        fi
    done
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need_apt=()
[ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/postfix ] || need_apt+=(postfix)
[ -x /usr/sbin/opendkim ] || need_apt+=(opendkim)
[ -x /usr/sbin/opendkim-genkey ] || need_apt+=(opendkim-tools)
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
[ -x /usr/sbin/named ] || need_apt+=(bind9)
command -v dig >/dev/null || need_apt+=(bind9-dnsutils)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The package's own Postfix must not hold port 25 or run beside ours.
if [ -f /var/spool/postfix/pid/master.pid ] && postfix status >/dev/null 2>&1; then
    log "stopping the system Postfix instance"
    postfix stop >/dev/null 2>&1 || true
fi
export PATH="/usr/sbin:$PATH"

log "building leak and leak-bench (release)"
cargo build --release -q -p leak -p leak-bench
TARGET=${CARGO_TARGET_DIR:-target}
LEAK="$PWD/$TARGET/release/leak"
[ -x "$LEAK" ] || LEAK="$TARGET/release/leak"
LOADGEN="${LEAK%/leak}/leak-bench"
if [ -n "${BENCH_LEAK:-}" ]; then
    LEAK=$(realpath "$BENCH_LEAK")
    log "leak binary: $LEAK"
fi

# ---------------------------------------------------------------- loopback addresses
# A free TCP port on $1.
free_port() {
    python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}
# A 127.0.0.x address whose port 53 is free for UDP and TCP.
free_dns_address() {
    python3 - <<'PY'
import socket
for last in range(153, 250):
    address = f"127.0.0.{last}"
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind((address, 53))
    except OSError:
        continue
    print(address)
    break
PY
}
DNS_IP=$(free_dns_address)
[ -n "$DNS_IP" ] || { echo "no loopback address with port 53 free" >&2; exit 2; }
SINK_IP=127.0.0.31
SINK_PORT=$(free_port "$SINK_IP")
SINK_DOMAIN=sink.test

log "dnsmasq on $DNS_IP:53, forwarding $SINK_DOMAIN to named: MX $SINK_DOMAIN -> mx.$SINK_DOMAIN ($SINK_IP)"
NAMED_PORT=$(free_port 127.0.0.1)
mkdir -p "$WORK/named"
cat >"$WORK/named/$SINK_DOMAIN.zone" <<EOF
\$TTL 300
@   IN SOA ns.$SINK_DOMAIN. hostmaster.$SINK_DOMAIN. 1 3600 600 86400 300
@   IN NS  ns.$SINK_DOMAIN.
ns  IN A   127.0.0.1
@   IN MX  10 mx.$SINK_DOMAIN.
mx  IN A   $SINK_IP
EOF
cat >"$WORK/named/named.conf" <<EOF
options {
    directory "$WORK/named";
    listen-on port $NAMED_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    pid-file none;
};
zone "$SINK_DOMAIN" { type primary; file "$SINK_DOMAIN.zone"; };
EOF
/usr/sbin/named -g -c "$WORK/named/named.conf" 2>"$WORK/named.log" &
PIDS+=($!)
dnsmasq --keep-in-foreground --conf-file=/dev/null --port=53 --listen-address="$DNS_IP" \
    --bind-interfaces --no-resolv --no-hosts --pid-file= --user=root \
    --server="/$SINK_DOMAIN/127.0.0.1#$NAMED_PORT" 2>"$WORK/dnsmasq.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    dig +short +tries=1 +time=1 "@$DNS_IP" MX "$SINK_DOMAIN" 2>/dev/null | grep -q "mx.$SINK_DOMAIN" && break
    sleep 0.1
done
dig +short +tries=1 +time=1 "@$DNS_IP" MX "$SINK_DOMAIN" | grep -q "mx.$SINK_DOMAIN" \
    || { cat "$WORK/named.log" "$WORK/dnsmasq.log" >&2; echo "the MX lookup did not answer" >&2; exit 2; }

# ---------------------------------------------------------------- the sink
SINK_PID=""
# Starts smtp-sink on $SINK_IP:$SINK_PORT with counters in $WORK/sink-$1.out;
# extra arguments go to smtp-sink (e.g. -r RCPT for 450 replies).
start_sink() {
    local name=$1; shift
    SINK_OUT="$WORK/sink-$name.out"
    smtp-sink -c -u postfix "$@" "$SINK_IP:$SINK_PORT" 1024 >"$SINK_OUT" 2>"$WORK/sink-$name.err" &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    wait_port "$SINK_IP" "$SINK_PORT"
}
stop_sink() {
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
}
# Messages the sink has received so far.
sink_count() {
    tail -c 200 "$SINK_OUT" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo 0
}
# Waits until the sink has $1 messages; fails after WAIT_LIMIT.
wait_sink() {
    local deadline=$(( $(date +%s) + WAIT_LIMIT ))
    while [ "$(sink_count)" -lt "$1" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "the sink got $(sink_count) of $1 messages in ${WAIT_LIMIT}s" >&2
            return 1
        fi
        sleep 0.05
    done
}
wait_port() {
    local tries=0
    until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 600 ] || { echo "nothing listens on $1:$2" >&2; return 1; }
        sleep 0.05
    done
}

# ---------------------------------------------------------------- leak
LEAK_DIR="$WORK/leak"
LEAK_PID=""
LEAK_PORT=""
# The RSA key's table, unless BENCH_DKIM=ed25519 leaves it out.
rsa_key_table() {
    [ "$DKIM_KEYS" = ed25519 ] && return
    printf '[[dkim.key]]\nselector = "bench-rsa"\nalgorithm = "rsa"\nprivate_key = "bench-rsa.pem"\n'
}

setup_leak() {
    local retry=$1
    mkdir -p "$LEAK_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$LEAK_DIR/key.pem" -out "$LEAK_DIR/cert.pem" -days 2 \
        -subj /CN=mail.anon.bench.test >/dev/null 2>&1
    "$LEAK" dkim generate --selector bench-ed --algorithm ed25519 \
        --out "$LEAK_DIR/bench-ed.pem" --domain anon.bench.test >/dev/null
    "$LEAK" dkim generate --selector bench-rsa --algorithm rsa \
        --out "$LEAK_DIR/bench-rsa.pem" --domain anon.bench.test >/dev/null
    cat >"$LEAK_DIR/leak.toml" <<EOF
[server]
hostname = "mail.anon.bench.test"
data_dir = "data"
admin_socket = "admin.sock"

[[listener]]
bind = "127.0.0.1:0"
tls = "none"

[tls]
cert = "cert.pem"
key = "key.pem"

[auth]
users_file = "users.toml"
trusted_networks = ["127.0.0.1/32"]

[limits]
max_message_size = "25MB"
max_recipients = 50
messages_per_hour = 1000000000
per_recipient_per_day = 1000000000
max_connections = 1024

[anonymizer]
domain = "anon.bench.test"
default_category = "someone"

# Every message gets the full moderation decision. The learned model puts a
# few of the synthetic filler bodies ("0XXXX...") in its uncertain band;
# with review on they would be stored held and never reach the sink, so
# the run could not finish. review = false delivers them (and signs them)
# like the rest: the decision's cost is the same either way.
[moderation]
enabled = true
action = "reject"
review = false

[[dkim.key]]
selector = "bench-ed"
algorithm = "ed25519"
private_key = "bench-ed.pem"

$(rsa_key_table)

# Shaping for a young IP (2 at once, 20 a minute, 20 per connection by
# default) is lifted to what the Postfix under test does by default: 20
# connections to a destination, no rate delay, connections reused without a
# count limit. The sink is one destination; the benchmark measures capacity.
[delivery]
mx_port = $SINK_PORT
retry_intervals = ["$retry"]
random_delay = "0s"
max_per_mx = 20
messages_per_minute = 0
messages_per_connection = 0

[dns]
nameservers = ["$DNS_IP:53"]
EOF
    printf 'bench-password\n' | "$LEAK" user add bench --password-stdin \
        --config "$LEAK_DIR/leak.toml" >/dev/null
    "$LEAK" check-config --config "$LEAK_DIR/leak.toml" >/dev/null
}
# Starts leak; sets LEAK_PID, LEAK_PORT and READY_SECONDS (start to `ready`).
start_leak() {
    local log_file="$LEAK_DIR/serve.log" started deadline
    : >"$log_file"
    started=$(now)
    RUST_LOG=warn,leak=info "$LEAK" serve --config "$LEAK_DIR/leak.toml" 2>>"$log_file" &
    LEAK_PID=$!
    PIDS+=("$LEAK_PID")
    deadline=$(( $(date +%s) + 120 ))
    until grep -q ' ready' "$log_file"; do
        if ! kill -0 "$LEAK_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            echo "leak did not become ready:" >&2; tail -n 20 "$log_file" >&2; return 1
        fi
        sleep 0.01
    done
    READY_SECONDS=$(elapsed "$started" "$(now)")
    LEAK_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log_file" | head -n 1)
}
# SIGTERM and wait; sets STOP_SECONDS.
stop_leak() {
    local started
    started=$(now)
    kill -TERM "$LEAK_PID"
    wait "$LEAK_PID" || true
    STOP_SECONDS=$(elapsed "$started" "$(now)")
}
peak_rss_mb() {
    awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}
rss_mb() {
    awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# ---------------------------------------------------------------- Postfix
PF_IP=127.0.0.32
PF_PORT=""
# A private stock Postfix (Debian's master.cf, relay settings in main.cf) with
# its own config and queue under $WORK/$1, relaying everything to $SINK_DOMAIN
# (MX lookup, port $SINK_PORT) through dnsmasq: the chrooted smtp client reads
# $queue/etc/resolv.conf, which names $DNS_IP. A second argument names a
# milter (e.g. inet:127.0.0.1:PORT) that smtpd hands every message to; if the
# milter fails, the message is refused with 451 rather than passed unsigned.
# Sets POSTFIX_DIR and PF_PORT.
setup_postfix() {
    local name=$1 milter=${2:-}
    POSTFIX_DIR="$WORK/$name"
    POSTFIX_DIRS+=("$POSTFIX_DIR")
    local conf="$POSTFIX_DIR/conf" queue="$POSTFIX_DIR/queue"
    mkdir -p "$conf" "$queue/etc" "$POSTFIX_DIR/data"
    chown postfix: "$POSTFIX_DIR/data"
    PF_PORT=$(free_port "$PF_IP")
    sed "s/^smtp      inet .*/$PF_IP:$PF_PORT inet n - y - - smtpd/" /etc/postfix/master.cf >"$conf/master.cf"
    grep -q "^$PF_IP:$PF_PORT inet" "$conf/master.cf" || { echo "cannot place smtpd in master.cf" >&2; return 1; }
    [ -f /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$conf/"
    [ -d /etc/postfix/dynamicmaps.cf.d ] && cp -r /etc/postfix/dynamicmaps.cf.d "$conf/"
    cat >"$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $queue
data_directory = $POSTFIX_DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = $SINK_DOMAIN:$SINK_PORT
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = $POSTFIX_DIR/maillog
maillog_file_prefixes = $WORK
EOF
    if [ -n "$milter" ]; then
        cat >>"$conf/main.cf" <<EOF
smtpd_milters = $milter
non_smtpd_milters = $milter
milter_default_action = tempfail
EOF
    fi
    for f in localtime services hosts host.conf nsswitch.conf; do
        [ -e "/etc/$f" ] && cp -L "/etc/$f" "$queue/etc/$f"
    done
    echo "nameserver $DNS_IP" >"$queue/etc/resolv.conf"
    postfix -c "$conf" check
}
start_postfix() {
    postfix -c "$POSTFIX_DIR/conf" start >/dev/null 2>&1 || {
        echo "Postfix did not start:" >&2; tail -n 20 "$POSTFIX_DIR/maillog" >&2; return 1; }
    wait_port "$PF_IP" "$PF_PORT"
}
stop_postfix() {
    postfix -c "$POSTFIX_DIR/conf" stop >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- OpenDKIM
# Debian's opendkim as a signing milter, set up as an operator would for one
# domain: an RSA-2048 key made by opendkim-genkey, relaxed/simple, signing
# mail from bench.test that comes from 127.0.0.0/8. It listens on a free
# loopback TCP port (Postfix's smtpd is chrooted, so a unix socket would have
# to live in its queue directory). `RequireSafeKeys false`: the key sits
# under /tmp, which is world-writable, and OpenDKIM refuses such keys
# otherwise. Logs go nowhere (no syslog daemon here), which costs OpenDKIM
# nothing. Sets DKIM_MILTER.
DKIM_DIR="$WORK/opendkim"
DKIM_MILTER=""
setup_opendkim() {
    mkdir -p "$DKIM_DIR"
    opendkim-genkey -b 2048 -d bench.test -s bench -D "$DKIM_DIR"
    chown -R opendkim: "$DKIM_DIR"
    chmod 600 "$DKIM_DIR/bench.private"
    local port
    port=$(free_port 127.0.0.1)
    cat >"$DKIM_DIR/opendkim.conf" <<EOF
Syslog                  no
Mode                    s
Domain                  bench.test
Selector                bench
KeyFile                 $DKIM_DIR/bench.private
Canonicalization        relaxed/simple
SignatureAlgorithm      rsa-sha256
InternalHosts           127.0.0.0/8
Socket                  inet:$port@127.0.0.1
UserID                  opendkim
UMask                   007
RequireSafeKeys         false
PidFile                 $DKIM_DIR/opendkim.pid
EOF
    DKIM_MILTER="inet:127.0.0.1:$port"
}
start_opendkim() {
    opendkim -f -x "$DKIM_DIR/opendkim.conf" 2>"$DKIM_DIR/opendkim.err" &
    DKIM_PID=$!
    PIDS+=("$DKIM_PID")
    wait_port 127.0.0.1 "${DKIM_MILTER##*:}" || { cat "$DKIM_DIR/opendkim.err" >&2; return 1; }
}
stop_opendkim() {
    kill "$DKIM_PID" 2>/dev/null || true
    wait "$DKIM_PID" 2>/dev/null || true
}
# Sends two messages with smtp-source and two with leak-bench through the
# Postfix at $PF_IP:$PF_PORT into a sink that keeps them, and checks that each
# arrived with an rsa-sha256 DKIM-Signature for bench.test (and, when python3
# has dkimpy, that the signature verifies against the public key opendkim-genkey
# wrote). Fails the run otherwise: an unsigned anchor would measure nothing.
# Writes its one-line verdict to $WORK/probe.txt.
probe_dkim_signing() {
    local dump="$WORK/dump"
    mkdir -p "$dump"
    chown postfix: "$dump"
    start_sink probe -d "$dump/%H%M%S."
    smtp-source -d -l "$SIZE" -m 2 -s 1 -f someone@bench.test \
        -t "rcpt@$SINK_DOMAIN" "$PF_IP:$PF_PORT" >/dev/null
    "$LOADGEN" load --server "$PF_IP:$PF_PORT" --messages 2 --size "$SIZE" \
        --sessions 1 --to "rcpt@$SINK_DOMAIN" >/dev/null
    wait_sink 4
    stop_sink
    python3 - "$dump" "$DKIM_DIR/bench.txt" >"$WORK/probe.txt" <<'PY'
import pathlib, re, sys
dump, txt = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
files = sorted(p for p in dump.iterdir() if p.is_file())
# The zone file's TXT record, its quoted pieces joined: v=DKIM1; h=...; k=rsa; p=...
record = "".join(re.findall(r'"([^"]*)"', txt)).encode()
try:
    import dkim
except ImportError:
    dkim = None
verified = 0
for path in files:
    raw = path.read_bytes()
    # smtp-sink's dump: envelope lines (X-Client-Addr: ... X-Rcpt-Args:),
    # then the message as received.
    at = raw.find(b"\nX-Rcpt-Args:")
    message = raw[raw.index(b"\n", at + 1) + 1:] if at >= 0 else raw
    message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not re.search(rb"(?mi)^DKIM-Signature:[^\r]*(\r\n[ \t][^\r]*)*", message):
        sys.exit(f"probe: {path.name} arrived without a DKIM-Signature")
    signature = re.search(rb"(?mi)^DKIM-Signature:((?:[^\r]|\r\n[ \t])*)", message).group(1)
    if b"a=rsa-sha256" not in signature or not re.search(rb"d=bench\.test", signature):
        sys.exit(f"probe: {path.name}: unexpected signature {signature!r}")
    if dkim is not None:
        if not dkim.verify(message, dnsfunc=lambda name, timeout=5: record):
            sys.exit(f"probe: {path.name}: the DKIM signature does not verify")
        verified += 1
if len(files) != 4:
    sys.exit(f"probe: expected 4 messages at the sink, found {len(files)}")
how = f"verified with dkimpy ({verified})" if dkim else "signature headers present (dkimpy not installed)"
print(f"probe: 4 of 4 messages signed by OpenDKIM, rsa-sha256, d=bench.test; {how}")
PY
}

# ---------------------------------------------------------------- the loads
declare -A R
# The 1-, 5- and 15-minute load averages, e.g. "1.02 0.87 0.60".
load_average() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU time (user + system, in clock ticks) leak has used so far.
leak_ticks() { awk '{ print $14 + $15 }' "/proc/$LEAK_PID/stat"; }
# Cores leak used on average between two tick counts over $3 seconds.
cores() { awk -v a="$1" -v b="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (s > 0 ? (b - a) / hz / s : 0) }'; }
# Milliseconds of leak CPU per message between two tick counts for $3 messages.
per_message() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) * 1000 / hz / n : 0) }'; }
# Runs both loads against $2:$3 and stores figures in R[$1.*]. The sink is
# fresh for each MTA, so its counter is the MTA's end-to-end delivery count.
# For leak, also the cores it used while accepting and while draining.
measure() {
    local mta=$1 host=$2 port=$3 t0 t1 t2 json accepted perf_pid="" c0=0 c1=0 c2=0 sent_before_drain
    R[$mta.load]=$(load_average)
    start_sink "$mta"

    log "$mta: smtp-source, $MESSAGES x $SIZE bytes over $SESSIONS sessions (load average ${R[$mta.load]})"
    [ "$mta" = leak ] && c0=$(leak_ticks)
    t0=$(now)
    smtp-source -d -l "$SIZE" -m "$MESSAGES" -s "$SESSIONS" -f someone@bench.test \
        -t "rcpt@$SINK_DOMAIN" "$host:$port" >/dev/null
    t1=$(now)
    [ "$mta" = leak ] && c1=$(leak_ticks)
    sent_before_drain=$(sink_count)
    wait_sink "$MESSAGES"
    t2=$(now)
    [ "$mta" = leak ] && c2=$(leak_ticks)
    R[$mta.source_drain]=$(elapsed "$t1" "$t2")
    R[$mta.drained]=$((MESSAGES - sent_before_drain))
    if [ "$mta" = leak ]; then
        R[leak.cores]="$(cores "$c0" "$c1" "$(elapsed "$t0" "$t1")") / $(cores "$c1" "$c2" "$(elapsed "$t1" "$t2")")"
        R[leak.cpu_ms]="$(per_message "$c0" "$c2" "$MESSAGES") / $(per_message "$c1" "$c2" $((MESSAGES - sent_before_drain)))"
    fi
    R[$mta.source_submit]=$(elapsed "$t0" "$t1")
    R[$mta.source_accepted]=$(rate "$MESSAGES" "${R[$mta.source_submit]}")
    R[$mta.source_total]=$(elapsed "$t0" "$t2")
    R[$mta.source_delivered]=$(rate "$MESSAGES" "${R[$mta.source_total]}")

    log "$mta: leak-bench, same load, per-message latency"
    if [ "$mta" = leak ] && [ -n "$PERF_OUT" ]; then
        perf record -q -e cpu-clock -F 999 -g -p "$LEAK_PID" -o "$PERF_OUT" 2>"$WORK/perf.err" &
        perf_pid=$!
    fi
    t0=$(now)
    json=$("$LOADGEN" load --server "$host:$port" --messages "$MESSAGES" --size "$SIZE" \
        --sessions "$SESSIONS" --to "rcpt@$SINK_DOMAIN")
    t1=$(now)
    accepted=$(json_get "$json" accepted)
    [ "$accepted" -eq "$MESSAGES" ] || log "$mta: only $accepted of $MESSAGES accepted: $json"
    wait_sink $((MESSAGES + accepted))
    t2=$(now)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
        log "perf samples of leak in $PERF_OUT ($(cat "$WORK/perf.err"))"
    fi
    R[$mta.bench_json]=$json
    R[$mta.bench_accepted]=$(json_get "$json" accepted_per_second)
    R[$mta.bench_delivered]=$(rate "$accepted" "$(elapsed "$t0" "$t2")")
    R[$mta.p50]=$(json_get "$json" latency_ms.p50)
    R[$mta.p99]=$(json_get "$json" latency_ms.p99)
    R[$mta.dot_p50]=$(json_get "$json" end_of_data_ms.p50)
    R[$mta.dot_p99]=$(json_get "$json" end_of_data_ms.p99)
    stop_sink
}
# json_get JSON dotted.key
json_get() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1" "$2"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

throughput() {
    local started_load
    started_load=$(load_average)
    setup_leak 1m
    start_leak
    log "leak ready in ${READY_SECONDS}s on 127.0.0.1:$LEAK_PORT (pid $LEAK_PID)"
    measure leak 127.0.0.1 "$LEAK_PORT"
    R[leak.peak_rss]=$(peak_rss_mb "$LEAK_PID")
    stop_leak

    if [ -n "${BENCH_ONLY_LEAK:-}" ]; then
        R[dkim.probe]="(Postfix runs skipped: BENCH_ONLY_LEAK)"
    else
        throughput_postfix
    fi
    report
}

throughput_postfix() {
    setup_postfix postfix
    start_postfix
    log "Postfix $(postconf -h mail_version) ready on $PF_IP:$PF_PORT"
    measure postfix "$PF_IP" "$PF_PORT"
    stop_postfix

    setup_opendkim
    start_opendkim
    setup_postfix postfix-dkim "$DKIM_MILTER"
    start_postfix
    log "Postfix + OpenDKIM $(opendkim -V | sed -n '1s/.*: //p') ready on $PF_IP:$PF_PORT (milter $DKIM_MILTER)"
    probe_dkim_signing
    R[dkim.probe]=$(cat "$WORK/probe.txt")
    log "${R[dkim.probe]}"
    measure dkim "$PF_IP" "$PF_PORT"
    stop_postfix
    stop_opendkim
}

report() {
    first() { printf '%s' "${1%% *}"; }
    printf '\n%s messages x %s bytes over %s sessions; %s cores, %s; %s\n' \
        "$MESSAGES" "$SIZE" "$SESSIONS" "$(nproc)" "$(uname -sr)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'load average (1/5/15 min): at the start %s, at the end %s\n' "$started_load" "$(load_average)"
    printf '%s\n' "${R[dkim.probe]:-}"
    printf '%-44s %10s %10s %10s %8s %8s\n' "" leak Postfix "P+OpenDKIM" "l/P" "l/P+O"
    row() {
        printf '%-44s %10s %10s %10s %8s %8s\n' "$1" "${R[leak.$2]:-}" "${R[postfix.$2]:-}" "${R[dkim.$2]:-}" \
            "$(ratio "${R[leak.$2]:-}" "${R[postfix.$2]:-}")" "$(ratio "${R[leak.$2]:-}" "${R[dkim.$2]:-}")"
    }
    latency() { printf '%-44s %10s %10s %10s\n' "$1" "${R[leak.$2]:-}" "${R[postfix.$2]:-}" "${R[dkim.$2]:-}"; }
    row "smtp-source: accepted msgs/s" source_accepted
    row "smtp-source: delivered msgs/s (end to end)" source_delivered
    latency "smtp-source: drain after the last 250 (s)" source_drain
    row "leak-bench: accepted msgs/s" bench_accepted
    row "leak-bench: delivered msgs/s (end to end)" bench_delivered
    latency "leak-bench: p50 submission latency (ms)" p50
    latency "leak-bench: p99 submission latency (ms)" p99
    latency "leak-bench: p50 end of DATA to 250 (ms)" dot_p50
    latency "leak-bench: p99 end of DATA to 250 (ms)" dot_p99
    printf '%-44s %10s\n' "leak peak RSS (MB, VmHWM)" "${R[leak.peak_rss]:-}"
    printf '%-44s %10s\n' "leak cores used, smtp-source: accept / drain" "${R[leak.cores]:-}"
    printf '%-44s %10s\n' "leak CPU ms per message: all / drain only" "${R[leak.cpu_ms]:-}"
    printf '%-44s %10s\n' "messages delivered during the drain" "${R[leak.drained]:-}"
    printf '%-44s %10s %10s %10s\n' "load average before the MTA's loads" \
        "$(first "${R[leak.load]:-}")" "$(first "${R[postfix.load]:-}")" "$(first "${R[dkim.load]:-}")"
    printf '\nleak-bench JSON, leak:               %s\nleak-bench JSON, Postfix:            %s\nleak-bench JSON, Postfix + OpenDKIM: %s\n' \
        "${R[leak.bench_json]:-}" "${R[postfix.bench_json]:-}" "${R[dkim.bench_json]:-}"
}

deferred() {
    setup_leak 1h
    start_sink deferred -r RCPT
    start_leak
    log "leak ready in ${READY_SECONDS}s; queueing $MESSAGES messages against an MX answering 450"
    local t0 t1 json listed list_seconds queued
    t0=$(now)
    json=$("$LOADGEN" load --server "127.0.0.1:$LEAK_PORT" --messages "$MESSAGES" --size "$SIZE" \
        --sessions "$SESSIONS" --to "rcpt@$SINK_DOMAIN")
    t1=$(now)
    log "submitted in $(elapsed "$t0" "$t1")s: $json"
    # Let the first attempts (all deferred) finish, so the queue is at rest;
    # at most SETTLE_LIMIT seconds (a large queue may take much longer).
    local deadline=$(( $(date +%s) + SETTLE_LIMIT )) statuses
    while :; do
        statuses=$(leak_recipient_counts)
        case "$statuses" in *" queued=0") break ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || { log "not settled after ${SETTLE_LIMIT}s: $statuses"; break; }
        sleep 5
    done
    t1=$(now)
    log "measuring $(elapsed "$t0" "$t1")s after the load began; recipients: $statuses"
    local rss peak
    rss=$(rss_mb "$LEAK_PID"); peak=$(peak_rss_mb "$LEAK_PID")
    local list_start
    list_start=$(now)
    "$LEAK" queue list --json --config "$LEAK_DIR/leak.toml" >"$WORK/list.json"
    list_seconds=$(elapsed "$list_start" "$(now)")
    listed=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/list.json")
    local disk
    disk=$(du -sm "$LEAK_DIR/data" | cut -f1)
    stop_leak
    local stop=$STOP_SECONDS
    start_leak
    local ready=$READY_SECONDS restart
    restart=$(awk -v a="$stop" -v b="$ready" 'BEGIN { printf "%.3f", a + b }')
    queued=$("$LEAK" queue list --json --config "$LEAK_DIR/leak.toml" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    stop_sink

    printf '\n%s messages x %s bytes queued against an MX answering 450; %s cores, %s\n' \
        "$MESSAGES" "$SIZE" "$(nproc)" "$(uname -sr)"
    printf '%-48s %s\n' "submission (leak-bench)" "$json"
    printf '%-48s %s\n' "messages in the queue (queue list)" "$listed"
    printf '%-48s %s\n' "recipients by status when measured" "$statuses"
    printf '%-48s %s\n' "leak RSS at rest (MB, VmRSS)" "$rss"
    printf '%-48s %s\n' "leak peak RSS (MB, VmHWM)" "$peak"
    printf '%-48s %s\n' "data dir disk use (MB, du -sm)" "$disk"
    printf '%-48s %s\n' "leak queue list --json (s)" "$list_seconds"
    printf '%-48s %s\n' "SIGTERM to exit (s)" "$stop"
    printf '%-48s %s\n' "start to ready (s)" "$ready"
    printf '%-48s %s\n' "restart to ready, total (s)" "$restart"
    printf '%-48s %s\n' "messages in the queue after restart" "$queued"
}
# Recipients in the queue by status, from `leak status --json`: e.g.
# "deferred=100000 queued=0".
leak_recipient_counts() {
    "$LEAK" status --json --config "$LEAK_DIR/leak.toml" |
        python3 -c 'import json,sys
counts = json.load(sys.stdin)["queue"]["recipients"]
print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))'
}

if [ "$DEFERRED" = 1 ]; then
    deferred
else
    throughput
fi
