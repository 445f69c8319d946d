"""Hostile and broken clients get the RFC reply: never a crash, a hang or a
half-stored message. Each case sends exact bytes."""

import time

from conftest import PASSWORD
from raw import MESSAGE, RawClient, trusted_session


def start_data(client, recipients=("bob@example.test",)):
    assert client.command("MAIL FROM:<app@real.example>")[0] == 250
    for rcpt in recipients:
        assert client.command(f"RCPT TO:<{rcpt}>")[0] == 250
    assert client.command("DATA")[0] == 354


def test_bare_lf_bare_cr_and_nul_are_refused_and_the_connection_closed(daemon):
    for body in (b"Subject: x\r\n\r\nline\nsmuggled\r\n.\r\n",
                 b"Subject: x\r\n\r\nline\rsmuggled\r\n.\r\n",
                 b"Subject: x\r\n\r\nnul\x00byte\r\n.\r\n",
                 b"Subject: x\r\n\r\nend\r\n.\nMAIL FROM:<evil@x.test>\r\n"):
        client = trusted_session(daemon.ports["none"])
        start_data(client)
        client.send(body)
        code, text = client.reply()
        assert 500 <= code < 600, (body, code, text)
        assert client.is_closed()
    assert daemon.queue_ids() == set(), "nothing half-stored"


def test_text_line_over_1000_octets_is_refused_and_session_continues(daemon):
    client = trusted_session(daemon.ports["none"])
    start_data(client)
    client.send(b"Subject: x\r\n\r\n" + b"y" * 1001 + b"\r\n.\r\n")
    code, _ = client.reply()
    assert code == 500
    assert client.command("RSET")[0] == 250
    assert daemon.queue_ids() == set()


def test_command_line_over_512_octets(daemon):
    client = trusted_session(daemon.ports["none"])
    code, _ = client.command("NOOP " + "x" * 600)
    assert code == 500
    assert client.command("NOOP")[0] == 250


def test_too_many_recipients_keeps_the_earlier_ones(daemon):
    client = trusted_session(daemon.ports["none"])
    assert client.command("MAIL FROM:<app@real.example>")[0] == 250
    for i in range(5):
        assert client.command(f"RCPT TO:<r{i}@example.test>")[0] == 250
    code, text = client.command("RCPT TO:<r5@example.test>")
    assert (code, text[:5]) == (452, "4.5.3")
    assert client.command("DATA")[0] == 354
    client.send(MESSAGE + b".\r\n")
    assert client.reply()[0] == 250
    import json
    queue = json.loads(daemon.cli("queue", "list", "--json").stdout)
    assert len(queue) == 1 and len(queue[0]["recipients"]) == 5


def test_oversize_declared_and_lying(daemon):
    client = trusted_session(daemon.ports["none"])
    code, text = client.command("MAIL FROM:<app@real.example> SIZE=999999999")
    assert (code, text[:5]) == (552, "5.3.4")
    assert client.command("MAIL FROM:<app@real.example> SIZE=100")[0] == 250
    assert client.command("RCPT TO:<bob@example.test>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 80 + b".\r\n")
    code, text = client.reply()
    assert (code, text[:5]) == (552, "5.3.4")
    assert client.command("NOOP")[0] == 250, "session still usable"
    assert daemon.queue_ids() == set()


def test_plaintext_pipelined_after_starttls_is_discarded(daemon):
    client = RawClient(daemon.ports["starttls"])
    assert client.reply()[0] == 220
    assert client.command("EHLO x.test")[0] == 250
    # The injected commands arrive in the same packet as STARTTLS.
    client.send(b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
    assert client.reply()[0] == 220
    client.starttls()
    assert client.command("EHLO x.test")[0] == 250
    code, _ = client.command("AUTH PLAIN " + __import__("base64").b64encode(b"\0alice\0" + PASSWORD.encode()).decode())
    assert code == 235
    code, _ = client.command("RCPT TO:<bob@example.test>")
    assert code == 503, "the plaintext MAIL FROM must not have been executed"


def test_idle_client_is_timed_out(make_daemon):
    daemon = make_daemon(limits={"command_timeout": "2s"})
    client = RawClient(daemon.ports["none"])
    assert client.reply()[0] == 220
    started = time.monotonic()
    code, text = client.reply()
    assert (code, text[:5]) == (421, "4.4.2")
    assert time.monotonic() - started < 15
    assert client.is_closed()


def test_slow_data_is_timed_out(make_daemon):
    daemon = make_daemon(limits={"command_timeout": "2s", "data_timeout": "3s"})
    client = trusted_session(daemon.ports["none"])
    start_data(client)
    client.send(b"Subject: slow\r\n")
    code, _ = client.reply()
    assert code == 421
    assert daemon.queue_ids() == set()


def test_connection_cap_refuses_extra_clients_and_frees_on_timeout(make_daemon):
    daemon = make_daemon(limits={"max_connections": 3, "command_timeout": "3s"})
    idle = [RawClient(daemon.ports["none"]) for _ in range(3)]
    for client in idle:
        assert client.reply()[0] == 220
    extra = RawClient(daemon.ports["none"])
    code, text = extra.reply()
    assert (code, text[:5]) == (421, "4.7.0")
    # The idle ones are timed out, and a normal client is served again.
    for client in idle:
        assert client.reply()[0] == 421
    deadline = time.monotonic() + 20
    while True:
        client = RawClient(daemon.ports["none"])
        code, _ = client.reply()
        if code == 220 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 220


def test_failed_auth_is_slowed_then_refused(make_daemon):
    import base64
    daemon = make_daemon(max_auth_failures=2)
    client = RawClient(daemon.ports["implicit"], source="127.0.0.1")
    client.starttls()
    assert client.reply()[0] == 220
    assert client.command("EHLO x.test")[0] == 250
    bad = "AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong").decode()
    started = time.monotonic()
    assert client.command(bad)[0] == 535
    assert time.monotonic() - started >= 0.9, "a failure is answered only after a delay"
    assert client.command(bad)[0] == 535
    assert client.reply()[0] == 421
    assert client.is_closed()


def test_unknown_commands_and_vrfy(daemon):
    client = trusted_session(daemon.ports["none"])
    assert client.command("VRFY alice")[0] == 252
    assert client.command("EXPN staff")[0] == 502
    assert client.command("HELLO")[0] == 500
    assert client.command("DATA")[0] == 503
    assert client.command("QUIT")[0] == 221


def test_nul_cr_and_invalid_utf8_in_commands_and_parameters(daemon):
    client = trusted_session(daemon.ports["none"])
    for line in (b"MAIL FROM:<a\x00b@real.example>\r\n",
                 b"MAIL FROM:<a@real.example> ENVID=x\rRCPT TO:<evil@x.test>\r\n",
                 b"MAIL FROM:<\xff\xfe@real.example>\r\n"):
        client.send(line)
        code, _ = client.reply()
        assert 500 <= code < 600, line
    assert client.command("MAIL FROM:<a@real.example>")[0] == 250
    for line in (b"RCPT TO:<b\x00ob@example.test>\r\n", b"RCPT TO:<\xc3\x28@example.test>\r\n",
                 b"RCPT TO:<bob@example.test> NOTIFY=NEVER\rDATA\r\n"):
        client.send(line)
        code, _ = client.reply()
        assert 500 <= code < 600, line
    # An xtext-encoded CR LF in a parameter stays a parameter value.
    code, _ = client.command("RCPT TO:<bob@example.test> ORCPT=rfc822;bob+0D+0ARCPT+20TO:<evil@x.test>")
    assert code in (250, 501, 504, 555)
    assert client.command("DATA")[0] in (354, 503, 554)
    client.close()
    import json
    for entry in json.loads(daemon.cli("queue", "list", "--json").stdout):
        assert all(r["address"] == "bob@example.test" for r in entry["recipients"])


def test_brute_force_across_connections_is_refused(make_daemon):
    import base64
    daemon = make_daemon(max_auth_failures=1, failure_delay="50ms")
    bad = "AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong").decode()
    outcomes = []
    for _ in range(12):
        client = RawClient(daemon.ports["implicit"], source="127.0.0.1", timeout=30)
        client.starttls()
        assert client.reply()[0] == 220
        assert client.command("EHLO x.test")[0] == 250
        outcomes.append(client.command(bad)[0])
        client.close()
    assert outcomes[0] == 535
    assert outcomes[-1] == 421, outcomes
    # Even the right password is refused while the address is blocked.
    client = RawClient(daemon.ports["implicit"], source="127.0.0.1")
    client.starttls()
    client.reply()
    client.command("EHLO x.test")
    good = "AUTH PLAIN " + base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    assert client.command(good)[0] == 421


def test_a_quoted_local_part_reaches_the_receiver_quoted(make_daemon, mx_and_dns):
    """RFC 5321 quoting survives the trip: `"a>\\"b"@example.test` is sent as a
    Quoted-string in RCPT TO (unquoted, `<a>"b@…>` ends the path early)."""
    import smtplib
    from conftest import TRUSTED_IP, wait_for
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port)
    rcpt = '"a>\\"b"@example.test'
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30,
                      source_address=(TRUSTED_IP, 0)) as client:
        client.ehlo("q.test")
        client.mail("app@real.example")
        code, text = client.rcpt(rcpt)
        assert code == 250, text
        code, text = client.data(f"From: x@anon.test\r\nTo: {rcpt}\r\nSubject: q\r\n\r\nhello\r\n")
        assert code == 250, text
    assert wait_for(lambda: len(sink.messages) == 1, 60)
    [received] = sink.messages[0].rcpt_tos
    assert received in (rcpt, 'a>"b@example.test'), received
    headers = sink.messages[0].original_content.split(b"\r\n\r\n", 1)[0]
    to = [line for line in headers.split(b"\r\n") if line.lower().startswith(b"to:")]
    assert to and b'"a>\\"b"@example.test' in to[0], to
