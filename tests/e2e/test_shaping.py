"""Traffic shaping through the real daemon: a receiver answering
`421 4.7.0` suspends its destination (other domains still delivered; the
throttled mail waits out the suspension, then arrives, the attempt not
counted), the per-MX-set message rate is honoured, connections leave from
`source_ipv4`, and signatures carry the over-signed headers and an `x=`
expiry."""

import re
import shutil
import smtplib
import socket
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PASSWORD, Sink, wait_for

THROTTLING_MX, OTHER_MX = "127.0.0.3", "127.0.0.4"


class ThrottlingSink(Sink):
    """Answers every RCPT with `421 4.7.0` while `throttling` is set."""

    def __init__(self):
        super().__init__()
        self.throttling = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.throttling:
            self.rcpts.append((session.peer, address, time.time()))
            return "421 4.7.0 Try again later, closing connection"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def shared_port():
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((THROTTLING_MX, 0))
            port = probe.getsockname()[1]
        with socket.socket() as other:
            try:
                other.bind((OTHER_MX, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free on both addresses")


@pytest.fixture
def two_mx():
    """throttled.test → 127.0.0.3 (throttling), other.test and example.test
    (two domains, one MX host) → 127.0.0.4."""
    port = shared_port()
    throttling, other = ThrottlingSink(), Sink()
    controllers = [Controller(throttling, hostname=THROTTLING_MX, port=port),
                   Controller(other, hostname=OTHER_MX, port=port)]
    for controller in controllers:
        controller.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dns_port = probe.getsockname()[1]
    dnsmasq = subprocess.Popen(
        [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
         f"--port={dns_port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--pid-file=",
         "--mx-host=throttled.test,mx.throttled.test,10", "--mx-host=other.test,mx.other.test,10",
         "--mx-host=example.test,mx.other.test,10",
         f"--host-record=mx.throttled.test,{THROTTLING_MX}", f"--host-record=mx.other.test,{OTHER_MX}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    assert dnsmasq.poll() is None, dnsmasq.stderr.read().decode()
    yield throttling, other, port, f"127.0.0.1:{dns_port}"
    dnsmasq.terminate()
    dnsmasq.wait(10)
    for controller in controllers:
        controller.stop()


def submit(daemon, recipients, subject):
    message = (f"From: a@b.example\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
               "\r\nHello.\r\n")
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls()
        client.login("alice", PASSWORD)
        assert client.sendmail("a@b.example", recipients, message) == {}


def arrived(sink, subject):
    return [e for e in sink.messages if f"Subject: {subject}".encode() in e.original_content]


def test_throttling_reply_suspends_the_destination_only(make_daemon, two_mx):
    throttling, other, port, nameserver = two_mx
    # A normal retry would come after an hour: only the suspension's end
    # (6 s) brings the throttled mail back.
    daemon = make_daemon(nameserver=nameserver, mx_port=port, retry="1h", throttle_suspend="6s")
    started = time.time()
    submit(daemon, ["bob@throttled.test", "carol@other.test"], "first")
    assert wait_for(lambda: arrived(other, "first"), 30), "".join(daemon.log[-30:])
    assert wait_for(lambda: len(throttling.rcpts) == 1, 30), "".join(daemon.log[-30:])
    throttled_at = throttling.rcpts[0][2]
    # During the suspension new mail for the destination is not even tried,
    # while mail elsewhere still goes out.
    submit(daemon, ["dave@throttled.test"], "second")
    submit(daemon, ["erin@other.test"], "third")
    assert wait_for(lambda: arrived(other, "third"), 30)
    time.sleep(2)
    assert len(throttling.rcpts) == 1, throttling.rcpts
    listed = {r["address"]: r for m in _queue(daemon) for r in m["recipients"]}
    assert listed["bob@throttled.test"]["attempts"] == 0, listed
    assert "4.7.0" in (listed["bob@throttled.test"].get("last_error") or ""), listed
    throttling.throttling = False
    assert wait_for(lambda: arrived(throttling, "first") and arrived(throttling, "second"), 40), \
        "".join(daemon.log[-30:])
    # Not before the suspension's end (kept in whole seconds: up to 1 s early).
    for subject in ("first", "second"):
        assert arrived(throttling, subject)[0].arrived >= throttled_at + 4.9
    assert time.time() - started < 60
    assert wait_for(lambda: daemon.queue_ids() == set())


def _queue(daemon):
    import json
    result = daemon.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_message_rate_is_per_mx_host_set(make_daemon, two_mx):
    _, other, port, nameserver = two_mx
    # 60 a minute: one a second to mx.other.test, shared by other.test and
    # example.test.
    daemon = make_daemon(nameserver=nameserver, mx_port=port, messages_per_minute=60)
    for i in range(3):
        submit(daemon, [f"r{i}@other.test"], f"rate-{i}")
        submit(daemon, [f"s{i}@example.test"], f"rate-x{i}")
    assert wait_for(lambda: len(other.messages) == 6, 60), "".join(daemon.log[-30:])
    times = sorted(e.arrived for e in other.messages)
    # Evenly spaced by the sender: never more than 2 in any one second, and
    # the six take at least 4 s (they would arrive together unshaped).
    assert all(times[i + 2] - times[i] >= 1.0 for i in range(len(times) - 2)), times
    assert times[-1] - times[0] >= 4.0, times


def test_connections_leave_from_source_ipv4_and_signatures_expire(make_daemon, two_mx):
    _, other, port, nameserver = two_mx
    daemon = make_daemon(nameserver=nameserver, mx_port=port,
                         delivery_extra='source_ipv4 = "127.0.0.2"\nip_family = "ipv4"')
    submit(daemon, ["carol@other.test"], "from-source")
    assert wait_for(lambda: arrived(other, "from-source"), 30), "".join(daemon.log[-30:])
    envelope = arrived(other, "from-source")[0]
    assert envelope.peer[0] == "127.0.0.2"
    raw = envelope.original_content.decode()
    unfolded = re.sub(r"\r\n[ \t]+", " ", raw)
    signature = re.search(r"DKIM-Signature:(.*)", unfolded).group(1)
    expiry = int(re.search(r"\bx=(\d+)", signature).group(1))
    week = 7 * 24 * 3600
    # From the attempt's time rounded down to 5 minutes, plus a week.
    assert time.time() + week - 300 - 60 <= expiry <= time.time() + week, signature
    assert not re.search(r"[; ]t=", signature)
    h = re.sub(r"\s", "", re.search(r"\bh=([^;]*)", signature).group(1)).lower().split(":")
    assert h.count("subject") == 2 and h.count("to") == 2 and h.count("cc") == 1, h
    assert h.count("list-unsubscribe") == 1, h


def test_warmup_caps_each_day_per_mx_host_set(make_daemon, two_mx):
    import datetime
    _, other, port, nameserver = two_mx
    today = datetime.datetime.now(datetime.timezone.utc).date()
    daemon = make_daemon(nameserver=nameserver, mx_port=port, delivery_extra=(
        f'warmup_start = "{today.isoformat()}T00:00:00Z"\nwarmup_daily = [2, 50]'))
    # other.test and example.test share mx.other.test: one cap for both.
    for i, domain in enumerate(["other.test", "example.test", "other.test"]):
        submit(daemon, [f"r{i}@{domain}"], f"warm-{i}")
    assert wait_for(lambda: len(other.messages) == 2, 30), "".join(daemon.log[-30:])

    def deferred():
        return [r for m in _queue(daemon) for r in m["recipients"] if r["status"] == "deferred"]

    assert wait_for(lambda: len(deferred()) == 1, 30), _queue(daemon)
    held_back = deferred()[0]
    assert "warm-up" in held_back["last_error"], held_back
    assert held_back["attempts"] == 0, held_back
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    assert held_back["next_attempt"].startswith(f"{tomorrow}T00:00:00"), held_back
    time.sleep(1)
    assert len(other.messages) == 2
