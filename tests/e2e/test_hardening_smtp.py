"""Issue 13 on the submission side, through the real daemon and raw sockets:
memory and fairness under an AUTH flood, per-client limits, command-line and
session deadlines, junk commands, 421 inside TLS, the AUTH throttle (counted
before verification, per username, persisted, logged for fail2ban), and
SIZE / DSN / bare-LF refusals."""

import base64
import json
import pathlib
import re
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

from conftest import PASSWORD, ROOT, TRUSTED_IP
from raw import RawClient, trusted_session

FILTER = ROOT / "contrib" / "fail2ban" / "filter.d" / "leak.conf"


def plain_auth(user, password):
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    return "AUTH PLAIN " + token


def tls_session(daemon, source, timeout=30):
    """A greeted session on the implicit-TLS listener from `source`."""
    client = RawClient(daemon.ports["implicit"], source=source, timeout=timeout)
    client.starttls()
    assert client.reply()[0] == 220
    assert client.command("EHLO client.test")[0] == 250
    return client


def peak_rss_mb(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def timed_login(daemon, source):
    """Seconds from sending AUTH to the 235 reply."""
    client = tls_session(daemon, source)
    started = time.monotonic()
    code, text = client.command(plain_auth("alice", PASSWORD))
    elapsed = time.monotonic() - started
    client.close()
    assert code == 235, text
    return elapsed


def test_auth_flood_keeps_memory_bounded_and_logins_fast(make_daemon):
    # A long handshake timeout: 200 threads on a shared machine can be slow
    # to finish theirs, and handshakes are not what this test is about.
    daemon = make_daemon(limits={"max_connections": 1024, "tls_handshake_timeout": "60s"})
    # The account's owner has logged in from this address before: the
    # verification queue serves such clients first.
    timed_login(daemon, "127.0.0.6")
    # 200 parallel attempts from 100 addresses at 200 usernames, for 18 s.
    flood = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).with_name("auth_flood.py")),
                              str(daemon.ports["implicit"]), "18"],
                             stdout=subprocess.PIPE, text=True)
    logins = []
    try:
        # Logins spread over the flood, the first once its 200 clients have
        # had time to connect (not a readiness wait).
        time.sleep(4)
        for _ in range(7):
            logins.append(timed_login(daemon, "127.0.0.6"))
            time.sleep(1)
        answers = json.loads(flood.communicate(timeout=120)[0])
    finally:
        flood.kill()
        flood.wait(30)
    peak = peak_rss_mb(daemon.process.pid)
    print(f"AUTH flood: answers {answers}, peak RSS {peak:.0f} MB, "
          f"legitimate logins {[round(s * 1000) for s in logins]} ms")
    assert answers.get("535", 0) >= 10, "the flood really ran verifications"
    assert peak < 300, f"peak RSS {peak:.0f} MB"
    # The median of seven: a login is not hostage to a scheduler hiccup on a
    # shared machine; four slow ones would be a real fairness failure. The
    # issue's 200 ms target is a benchmark figure (docs/performance.md, measured
    # on a quiet machine); this functional bound is loose enough for a loaded
    # CI machine and still far below the 1.6 s of an unfair queue.
    assert statistics.median(logins) < 0.5, logins
    assert daemon.process.poll() is None


def test_parallel_attempts_cannot_race_past_the_block(make_daemon):
    daemon = make_daemon(failure_delay="50ms")
    # 20: as many connections as one client may hold by default.
    clients = [tls_session(daemon, "127.0.0.9") for _ in range(20)]
    codes, barrier = [], threading.Barrier(len(clients))

    def attempt(client):
        barrier.wait(30)
        codes.append(client.command(plain_auth("alice", "wrong"))[0])

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for client in clients:
        client.close()
    assert len(codes) == 20
    # Ten failures block the address: no more than ten can be verified.
    assert codes.count(535) <= 10, codes
    assert set(codes) <= {535, 421, 454}, codes


def test_auth_block_is_per_client_and_user_persisted_and_matches_fail2ban(make_daemon):
    daemon = make_daemon(start=False, max_auth_failures=1, failure_delay="50ms")
    result = daemon.cli("user", "add", "mallory", "--password-stdin", input="mallory pw\n")
    assert result.returncode == 0, result.stderr
    daemon.start()
    attacker = "127.0.0.8"

    def attempt(user, password, source=attacker):
        client = tls_session(daemon, source)
        code = client.command(plain_auth(user, password))[0]
        client.close()
        return code

    codes = [attempt("alice", "guess") for _ in range(5)]
    # The attacker's own account logs in: that must not wash the address.
    assert attempt("mallory", "mallory pw") == 235
    codes += [attempt("alice", "guess") for _ in range(5)]
    assert codes == [535] * 10, codes
    assert attempt("alice", "guess") == 421
    assert attempt("alice", PASSWORD) == 421, "blocked even with the right password"
    assert attempt("alice", PASSWORD, source="127.0.0.6") == 235, "others are not affected"
    line = next(line for line in daemon.log if "AUTH blocked" in line)
    assert " WARN " in line and "client=127.0.0.8 user=alice reason=client" in line, line

    # The block survives a restart.
    assert daemon.stop() == 0
    log_before = list(daemon.log)
    daemon.start()
    assert attempt("alice", PASSWORD) == 421
    assert attempt("mallory", "mallory pw", source="127.0.0.6") == 235

    # The shipped fail2ban filter finds the attacker in the daemon's real log.
    log_file = daemon.folder / "leak.log"
    log_file.write_text("".join(log_before + daemon.log))
    found = subprocess.run(["fail2ban-regex", "-v", str(log_file), str(FILTER)],
                           capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stdout + found.stderr
    matched = re.search(r"Lines: \d+ lines, \d+ ignored, (\d+) matched", found.stdout)
    blocked_lines = sum("AUTH blocked" in line for line in log_before + daemon.log)
    assert matched and int(matched.group(1)) == blocked_lines >= 3, found.stdout
    assert "127.0.0.8" in found.stdout and "127.0.0.6" not in found.stdout


def test_one_client_cannot_take_every_connection(make_daemon):
    daemon = make_daemon()
    held = []
    try:
        for _ in range(2000):
            sock = socket.socket()
            sock.bind(("127.0.0.5", 0))
            sock.settimeout(10)
            try:
                sock.connect(("127.0.0.1", daemon.ports["starttls"]))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        assert len(held) >= 1000
        other = RawClient(daemon.ports["starttls"], source="127.0.0.6")
        assert other.reply()[0] == 220
        assert other.command("EHLO client.test")[0] == 250
        other.close()
        # The hog was told why: refused connections got a 421.
        firsts = [sock.recv(200)[:9] for sock in held[-20:]]
        assert b"421 4.7.0" in firsts, firsts
    finally:
        for sock in held:
            sock.close()


def test_refusal_on_implicit_listener_is_421_inside_tls(make_daemon):
    daemon = make_daemon(limits={"max_connections_per_client": 2})
    first = tls_session(daemon, "127.0.0.7")
    second = tls_session(daemon, "127.0.0.7")
    third = RawClient(daemon.ports["implicit"], source="127.0.0.7")
    third.starttls()  # the handshake completes
    code, text = third.reply()
    assert (code, text[:5]) == (421, "4.7.0")
    for client in (first, second, third):
        client.close()


def test_silent_tls_handshake_is_timed_out(make_daemon):
    daemon = make_daemon(limits={"tls_handshake_timeout": "2s", "command_timeout": "30s"})
    sock = socket.create_connection(("127.0.0.1", daemon.ports["implicit"]),
                                    source_address=("127.0.0.6", 0), timeout=15)
    started = time.monotonic()
    assert sock.recv(10) == b""  # closed by the server, without a handshake
    assert time.monotonic() - started < 10
    sock.close()


def test_trickled_command_cannot_extend_the_deadline(make_daemon):
    daemon = make_daemon(limits={"command_timeout": "3s"})
    client = RawClient(daemon.ports["none"], source="127.0.0.6")
    assert client.reply()[0] == 220
    client.sock.settimeout(0.05)
    started, received = time.monotonic(), b""
    # One byte a second: every read is well inside the 3 s timeout.
    for byte in b"NOOP NOOP NOOP NOOP":
        try:
            client.send(bytes([byte]))
        except OSError:
            break
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline and not received:
            try:
                received += client.sock.recv(200)
            except socket.timeout:
                pass
        if received:
            break
    assert received.startswith(b"421 4.4.2"), received
    assert time.monotonic() - started < 8


def test_junk_commands_end_the_session(make_daemon):
    daemon = make_daemon(limits={"max_junk_commands": 10})
    client = trusted_session(daemon.ports["none"])
    for _ in range(10):
        assert client.command("NOOP")[0] == 250
    assert client.command("RSET")[0] == 250
    code, text = client.reply()
    assert (code, text[:5]) == (421, "4.7.0")
    assert client.is_closed()


def test_session_duration_is_capped(make_daemon):
    daemon = make_daemon(limits={"max_session_duration": "3s"})
    client = trusted_session(daemon.ports["none"])
    started = time.monotonic()
    code = None
    for _ in range(20):
        code, text = client.command("EHLO client.test")
        if code != 250:
            break
        time.sleep(0.5)
    assert (code, text[:5]) == (421, "4.4.2"), (code, text)
    assert 2.5 <= time.monotonic() - started < 8
    assert client.is_closed()


def test_size_dsn_parameters_and_bare_lf_are_refused(daemon):
    client = trusted_session(daemon.ports["none"])
    # smtp-proto wraps these around to a small number after overflowing.
    for size in ("184467440737095516161", "1000000000000000000000001", "18446744073709551617"):
        code, _ = client.command(f"MAIL FROM:<a@real.example> SIZE={size}")
        assert code in (501, 552), size
    for params in ("RET=HDRS", "ENVID=QQ314159"):
        code, text = client.command(f"MAIL FROM:<a@real.example> {params}")
        assert (code, text[:5]) == (555, "5.5.4"), params
    assert client.command("MAIL FROM:<a@real.example> SIZE=1000")[0] == 250
    for params in ("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.test"):
        code, text = client.command(f"RCPT TO:<bob@example.test> {params}")
        assert (code, text[:5]) == (555, "5.5.4"), params
    client.send(b"RCPT TO:<bob@example.test>\n")
    code, text = client.reply()
    assert (code, text[:5]) == (500, "5.5.2")
    assert client.command("RCPT TO:<bob@example.test>")[0] == 250
    client.close()


def test_trusted_networks_are_exempt_from_per_client_limits(make_daemon):
    daemon = make_daemon(limits={"max_connections_per_client": 1})
    first = RawClient(daemon.ports["none"], source=TRUSTED_IP)
    second = RawClient(daemon.ports["none"], source=TRUSTED_IP)
    assert first.reply()[0] == 220 and second.reply()[0] == 220
    other = [RawClient(daemon.ports["none"], source="127.0.0.6") for _ in range(2)]
    assert [c.reply()[0] for c in other] == [220, 421]
    for client in (first, second, *other):
        client.close()


def test_message_recipient_and_auth_rates_per_client(make_daemon):
    daemon = make_daemon(limits={"message_rate_per_client": 2, "recipient_rate_per_client": 3,
                                 "auth_rate_per_client": 2})
    client = tls_session(daemon, "127.0.0.6")
    assert client.command(plain_auth("alice", PASSWORD))[0] == 235
    codes = []
    for _ in range(3):
        codes.append(client.command("MAIL FROM:<a@real.example>")[0])
        codes += [client.command(f"RCPT TO:<bob{n}@example.test>")[0] for n in range(2)]
        client.command("RSET")
    # Two messages, three recipients a minute from this client (after the
    # third MAIL FROM is refused, its RCPTs have no transaction: 503).
    assert codes == [250, 250, 250, 250, 250, 450, 450, 503, 503], codes
    client.close()
    # Two AUTH commands a minute: the first login above and this one.
    assert tls_session(daemon, "127.0.0.6").command(plain_auth("alice", PASSWORD))[0] == 235
    code, text = tls_session(daemon, "127.0.0.6").command(plain_auth("alice", PASSWORD))
    assert (code, text[:5]) == (454, "4.7.0")
