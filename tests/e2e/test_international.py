"""International addresses through the real daemon: IDN domains looked up
and sent as A-labels, SMTPUTF8 used only when needed and offered, a UTF-8
local part at a receiver without SMTPUTF8 failing with its reason (and an
RFC 6533 `utf-8;` Final-Recipient in the report), and submission refusing
UTF-8 addresses from clients that did not ask for SMTPUTF8.

Two aiosmtpd receivers on one port: 127.0.0.3 without SMTPUTF8 (MX of
bücher.test and of the notify address's domain) and 127.0.0.4 with it (MX
of ünicode.test); dnsmasq serves the MX records under the A-labels only."""

import shutil
import smtplib
import socket
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PASSWORD, Sink, wait_for
from raw import trusted_session

PLAIN_MX, UTF8_MX = "127.0.0.3", "127.0.0.4"
BUECHER, UNICODE = "xn--bcher-kva.test", "xn--nicode-2ya.test"


class RecordingSink(Sink):
    """Also records each transaction's MAIL FROM parameters."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


def shared_port():
    """A TCP port free on both receiver addresses (leak has one mx_port)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((PLAIN_MX, 0))
            port = probe.getsockname()[1]
        with socket.socket() as other:
            try:
                other.bind((UTF8_MX, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free on both addresses")


@pytest.fixture
def idn_world():
    port = shared_port()
    plain, utf8 = RecordingSink(), RecordingSink()
    controllers = [Controller(plain, hostname=PLAIN_MX, port=port, enable_SMTPUTF8=False),
                   Controller(utf8, hostname=UTF8_MX, port=port, enable_SMTPUTF8=True)]
    for controller in controllers:
        controller.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dns_port = probe.getsockname()[1]
    dnsmasq = subprocess.Popen(
        [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
         f"--port={dns_port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--pid-file=",
         f"--mx-host={BUECHER},mx.plain.test,10", "--mx-host=example.org,mx.plain.test,10",
         f"--mx-host={UNICODE},mx.utf8.test,10",
         f"--host-record=mx.plain.test,{PLAIN_MX}", f"--host-record=mx.utf8.test,{UTF8_MX}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    assert dnsmasq.poll() is None, dnsmasq.stderr.read().decode()
    yield plain, utf8, port, f"127.0.0.1:{dns_port}"
    dnsmasq.terminate()
    dnsmasq.wait(10)
    for controller in controllers:
        controller.stop()


def submit(daemon, recipients, subject):
    to = ", ".join(recipients)
    message = (f"From: a@b.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße, this is the body.\r\n")
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls()
        client.login("alice", PASSWORD)
        refused = client.sendmail("a@b.example", recipients, message.encode(),
                                  mail_options=["SMTPUTF8"])
    assert refused == {}


def arrived(sink, subject):
    return [e for e in sink.messages if subject.encode() in e.original_content]


def test_idn_domain_is_delivered_as_a_label_without_smtputf8(make_daemon, idn_world):
    plain, _, port, nameserver = idn_world
    daemon = make_daemon(nameserver=nameserver, mx_port=port)
    submit(daemon, ["bob@bücher.test"], "idn-ascii-local")
    assert wait_for(lambda: arrived(plain, "idn-ascii-local")), "".join(daemon.log[-30:])
    envelope = arrived(plain, "idn-ascii-local")[0]
    assert envelope.rcpt_tos == [f"bob@{BUECHER}"]
    assert "SMTPUTF8" not in envelope.mail_options
    # aiosmtpd offers SIZE and 8BITMIME: the size is announced, and the
    # UTF-8 body is marked 8-bit.
    sizes = [o for o in envelope.mail_options if o.upper().startswith("SIZE=")]
    assert len(sizes) == 1 and int(sizes[0][5:]) >= len(envelope.original_content)
    assert "BODY=8BITMIME" in envelope.mail_options


def test_utf8_local_part_uses_smtputf8_when_offered(make_daemon, idn_world):
    _, utf8, port, nameserver = idn_world
    daemon = make_daemon(nameserver=nameserver, mx_port=port)
    submit(daemon, ["jörg@ünicode.test"], "utf8-local-offered")
    assert wait_for(lambda: arrived(utf8, "utf8-local-offered")), "".join(daemon.log[-30:])
    envelope = arrived(utf8, "utf8-local-offered")[0]
    assert envelope.rcpt_tos == [f"jörg@{UNICODE}"]
    assert "SMTPUTF8" in envelope.mail_options
    assert envelope.smtp_utf8
    assert wait_for(lambda: daemon.queue_ids() == set())


def test_utf8_local_part_fails_without_smtputf8_with_a_clear_report(make_daemon, idn_world):
    plain, _, port, nameserver = idn_world
    daemon = make_daemon(nameserver=nameserver, mx_port=port)
    submit(daemon, ["jörg@bücher.test", "bob@bücher.test"], "utf8-local-refused")
    # The ASCII recipient in the same transaction is delivered.
    assert wait_for(lambda: arrived(plain, "utf8-local-refused")), "".join(daemon.log[-30:])
    assert arrived(plain, "utf8-local-refused")[0].rcpt_tos == [f"bob@{BUECHER}"]
    # The report goes to the notify address (alice.real@example.org, same MX).
    reports = lambda: [e for e in plain.messages if b"multipart/report" in e.original_content]
    assert wait_for(reports), "".join(daemon.log[-30:])
    report = reports()[0].original_content.decode("utf-8", "replace")
    assert reports()[0].rcpt_tos == ["alice.real@example.org"]
    assert "Final-Recipient: utf-8; j\\x{F6}rg@b\\x{FC}cher.test" in report
    assert "Status: 5.6.7" in report
    assert "does not support internationalized addresses" in report
    assert all(f"jörg@{BUECHER}" not in e.rcpt_tos for e in plain.messages)
    assert wait_for(lambda: daemon.queue_ids() == set())


def test_submission_refuses_utf8_addresses_without_smtputf8(daemon):
    client = trusted_session(daemon.ports["none"])
    try:
        code, text = client.command("MAIL FROM:<jörg@b.example>")
        assert code == 553 and text.startswith("5.6.7"), (code, text)
        assert client.command("MAIL FROM:<a@b.example>")[0] == 250
        code, text = client.command("RCPT TO:<jörg@ünicode.test>")
        assert code == 553 and text.startswith("5.6.7"), (code, text)
        assert client.command("RSET")[0] == 250
        assert client.command("MAIL FROM:<a@b.example> SMTPUTF8")[0] == 250
        assert client.command("RCPT TO:<jörg@ünicode.test>")[0] == 250
    finally:
        client.close()


def test_invalid_idn_domain_fails_at_once_with_its_reason(make_daemon, idn_world):
    plain, _, port, nameserver = idn_world
    daemon = make_daemon(nameserver=nameserver, mx_port=port)
    submit(daemon, ["bob@xn--a.bücher.test"], "invalid-idn")
    reports = lambda: [e for e in plain.messages if b"multipart/report" in e.original_content]
    assert wait_for(reports, 30), "".join(daemon.log[-30:])
    report = reports()[0].original_content.decode("utf-8", "replace")
    assert "Status: 5.1.2" in report and "invalid internationalized domain name" in report
    # Only the report arrived (it quotes the subject); the message went nowhere.
    assert [e.rcpt_tos for e in plain.messages] == [["alice.real@example.org"]]
