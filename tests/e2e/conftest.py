"""Fixtures that run the real `leak` binary with a config in a temporary
folder, the way an operator would, and talk to it as mail clients do."""

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
from aiosmtpd.controller import Controller

ROOT = pathlib.Path(__file__).resolve().parents[2]
LEAK = os.environ.get("LEAK_BIN", str(ROOT / "target" / "debug" / "leak"))
PASSWORD = "correct horse battery staple"
TRUSTED_IP = "127.0.0.2"
DOMAIN = "anon.test"


def tls_context():
    """A client TLS context that accepts the tests' self-signed certificate."""
    import ssl
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def leak(*args, config=None, input=None, check=False):
    """Runs the leak CLI and returns the CompletedProcess."""
    command = [LEAK, *args]
    if config is not None:
        command += ["--config", str(config)]
    return subprocess.run(command, input=input, capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture(scope="session")
def tls_files():
    """A self-signed ECDSA certificate for mail.anon.test."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="leak-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=mail.anon.test", "-addext", "subjectAltName=DNS:mail.anon.test"],
        check=True, capture_output=True)
    yield cert, key
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dkim_keys():
    """One Ed25519 and one RSA key made with `leak dkim generate`, and the
    DNS records it printed."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="leak-dkim-"))
    records = {}
    for selector, algorithm in (("leak-ed", "ed25519"), ("leak-rsa", "rsa")):
        out = folder / f"{selector}.pem"
        result = leak("dkim", "generate", "--selector", selector, "--algorithm", algorithm,
                      "--out", str(out), "--domain", DOMAIN, check=True)
        records[selector] = (out, result.stdout.strip())
    yield records
    shutil.rmtree(folder, ignore_errors=True)


class BlackHoleDns:
    """A UDP socket that never answers: DNS lookups time out, so queued mail
    stays deferred and in the queue, where tests can look at it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def clear_of_a_counter_window_edge(margin=120):
    """Rate limits count in clock windows: the UTC hour, and the UTC day,
    which also ends on an hour's edge. A test that fills a window and then
    checks it must not straddle an edge, or the new window starts empty
    under it. When fewer than `margin` seconds are left in the hour, waits
    for the next one (at most `margin` + 1 seconds)."""
    left = 3600 - time.time() % 3600
    if left < margin:
        time.sleep(left + 1)


class Daemon:
    """`leak serve` on three listeners (starttls, implicit, none) bound to
    port 0, with a users file holding `alice`."""

    def __init__(self, folder, tls_files, dkim_keys, nameserver, **settings):
        self.folder = pathlib.Path(folder)
        self.config = self.folder / "leak.toml"
        self.settings = settings
        self.process = None
        self.log = []
        self.ports = {}
        cert, key = tls_files
        limits = {"max_recipients": 5, "max_message_size": "64KB", "messages_per_hour": 1000,
                  "per_recipient_per_day": 1000, "max_connections": 64,
                  "command_timeout": "30s", "data_timeout": "60s"}
        limits.update(settings.pop("limits", {}))
        if min(limits["messages_per_hour"], limits["per_recipient_per_day"]) < 1000:
            clear_of_a_counter_window_edge()
        extra = settings.pop("extra", "")
        add_alice = settings.pop("add_alice", True)
        limit_lines = "\n".join(f"{k} = {value_toml(v)}" for k, v in limits.items())
        dkim = "\n".join(
            f'[[dkim.key]]\nselector = "{s}"\nalgorithm = "{"rsa" if "rsa" in s else "ed25519"}"\n'
            f'private_key = "{path}"\n'
            for s, (path, _) in dkim_keys.items())
        self.config.write_text(f"""
[server]
hostname = "mail.anon.test"
data_dir = "data"
admin_socket = "admin.sock"

[[listener]]
bind = "127.0.0.1:0"
tls = "starttls"

[[listener]]
bind = "127.0.0.1:0"
tls = "implicit"

[[listener]]
bind = "127.0.0.1:0"
tls = "none"

[tls]
cert = "{cert}"
key = "{key}"

[auth]
users_file = "users.toml"
trusted_networks = ["{TRUSTED_IP}/32"]
max_auth_failures = {settings.pop("max_auth_failures", 3)}
failure_delay = "{settings.pop("failure_delay", "1s")}"

[limits]
{limit_lines}

[anonymizer]
domain = "{DOMAIN}"
default_category = "someone"

[moderation]
enabled = true
action = "{settings.pop("moderation_action", "reject")}"
{"review = " + settings.pop("moderation_review") if "moderation_review" in settings else ""}

{dkim}

[delivery]
mx_port = {settings.pop("mx_port", 25)}
retry_intervals = ["{settings.pop("retry", "1h")}"]
# Tests want their mail at once; the defaults (minutes) are for production.
random_delay = {value_toml(settings.pop("random_delay", "0s"))}
report_delay = {value_toml(settings.pop("report_delay", "0s"))}
date_rounding = "{settings.pop("date_rounding", "5m")}"
# Shaping off unless a test asks for it (the defaults suit a young IP, not tests).
max_per_mx = {settings.pop("max_per_mx", 0)}
messages_per_minute = {settings.pop("messages_per_minute", 0)}
messages_per_connection = {settings.pop("messages_per_connection", 0)}
retry_jitter = {settings.pop("retry_jitter", 0.0)}
throttle_suspend = "{settings.pop("throttle_suspend", "15m")}"
mta_sts = {settings.pop("mta_sts", "false")}
{settings.pop("delivery_extra", "")}

[dns]
nameservers = ["{nameserver}"]
{extra}
""")
        if add_alice:
            leak("user", "add", "alice", "--password-stdin", "--notify", "alice.real@example.org",
                 config=self.config, input=PASSWORD + "\n", check=True)

    def start(self, timeout=60):
        self.log = []
        env = dict(os.environ, RUST_LOG="info")
        self.process = subprocess.Popen([LEAK, "serve", "--config", str(self.config)],
                                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        text=True, env=env)
        ready = threading.Event()
        listening = []

        def pump(stream):
            for line in stream:
                self.log.append(line)
                found = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
                if found:
                    listening.append(found.group(1))
                if " ready" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, args=(self.process.stderr,), daemon=True).start()
        if not ready.wait(timeout) or self.process.poll() is not None or len(listening) < 3:
            raise RuntimeError("leak did not start:\n" + "".join(self.log))
        # Every listener in config order (tests may add some through `extra`).
        self.listening = listening
        for name, address in zip(("starttls", "implicit", "none"), listening):
            self.ports[name] = int(address.rsplit(":", 1)[1])
        return self

    def stop(self, timeout=60):
        """SIGTERM, and the exit status."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout)
        return self.process.returncode

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def cli(self, *args, input=None):
        return leak(*args, config=self.config, input=input)

    def queue_ids(self):
        import json
        result = self.cli("queue", "list", "--json")
        assert result.returncode == 0, result.stderr
        return {m["id"] for m in json.loads(result.stdout)}


def value_toml(value):
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_toml(v) for v in value) + "]"
    return f'"{value}"' if isinstance(value, str) else str(value)


@pytest.fixture
def make_daemon(tls_files, dkim_keys):
    """Factory: make_daemon(**settings) returns a started Daemon."""
    made = []
    holes = []

    def make(start=True, nameserver=None, **settings):
        if nameserver is None:
            hole = BlackHoleDns()
            holes.append(hole)
            nameserver = hole.address
        folder = tempfile.mkdtemp(prefix="leak-e2e-")
        daemon = Daemon(folder, tls_files, dkim_keys, nameserver, **settings)
        made.append(daemon)
        return daemon.start() if start else daemon

    yield make
    for daemon in made:
        daemon.kill()
        shutil.rmtree(daemon.folder, ignore_errors=True)
    for hole in holes:
        hole.close()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


MX_IP = "127.0.0.3"


class Sink:
    def __init__(self):
        self.messages = []
        # Seconds to wait before answering DATA: keeps deliveries in flight.
        self.delay = 0.0
        # RCPT TO addresses answered "550 5.1.1" (the recipient's MX refuses).
        self.refuse = set()
        # RCPT TO addresses answered "451 4.3.0" once, then accepted.
        self.defer_once = set()
        # Every RCPT TO as (client address and port, address, time seen).
        self.rcpts = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append((session.peer, address, time.time()))
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        if address in self.defer_once:
            self.defer_once.discard(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio
            await asyncio.sleep(self.delay)
        # Which connection carried it, and when it arrived.
        envelope.peer = session.peer
        envelope.arrived = time.time()
        self.messages.append(envelope)
        return "250 2.0.0 OK"

    def subjects(self, pattern):
        """How often each subject arrived: `pattern` is a bytes regex whose
        group names the subject; messages without a match are skipped."""
        import collections
        found = collections.Counter()
        for envelope in list(self.messages):
            match = re.search(pattern, envelope.original_content)
            if match:
                found[match.group(1).decode()] += 1
        return found


def free_port(kind, address):
    """A port the kernel just handed out on `address` (aiosmtpd and dnsmasq
    cannot bind port 0 themselves and report it)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@pytest.fixture
def mx_and_dns():
    handler = Sink()
    port = free_port(socket.SOCK_STREAM, MX_IP)
    # aiosmtpd refuses messages over 32 MiB by default; a 25 MB attachment
    # makes a 34 MB message (bench_attachment_memory.py).
    controller = Controller(handler, hostname=MX_IP, port=port, data_size_limit=64 << 20)
    controller.start()
    # The port probed free may be taken again before dnsmasq binds it (other
    # tests start servers in parallel): try a few ports.
    for _attempt in range(5):
        dns_port = free_port(socket.SOCK_DGRAM, "127.0.0.1")
        dnsmasq = subprocess.Popen(
            [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             f"--port={dns_port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
             "--no-hosts", "--pid-file=", "--mx-host=example.test,mx.example.test,10",
             f"--host-record=mx.example.test,{MX_IP}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)
        if dnsmasq.poll() is None:
            break
    assert dnsmasq.poll() is None, dnsmasq.stderr.read().decode()
    yield handler, port, f"127.0.0.1:{dns_port}"
    dnsmasq.terminate()
    dnsmasq.wait(10)
    controller.stop()


def wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


