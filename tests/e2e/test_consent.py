"""End to end: recipients' consent loop through the real binary.

A daemon with `[web]`, an inbound listener and an opt-out address delivers to
aiosmtpd (the recipients' MX, found through dnsmasq). Recipients opt out with
a real browser (headless Chromium) or an RFC 8058 POST (curl); bounces (DSN),
complaints (ARF) and opt-out requests arrive by SMTP on the inbound listener;
replies to a pseudonym get an automatic answer; the inbound listener refuses
to relay."""

import email
import email.policy
import re
import shutil
import smtplib
import socket
import subprocess

import dkim
import pytest

from browser import chromium_path, open_and_click
from conftest import DOMAIN, TRUSTED_IP, free_port, wait_for

MESSAGE = """\
From: Alice <alice@corp.example>
To: {to}
Subject: {subject}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, this is a friendly note.
"""


@pytest.fixture
def consent(make_daemon, mx_and_dns):
    """(daemon, sink, inbound port, web base URL, metrics URL)."""
    sink, mx_port, nameserver = mx_and_dns
    web_port = free_port(socket.SOCK_STREAM, "127.0.0.1")
    metrics_port = free_port(socket.SOCK_STREAM, "127.0.0.1")
    base = f"http://127.0.0.1:{web_port}"
    extra = f"""
[[listener]]
bind = "127.0.0.1:0"
tls = "none"
role = "inbound"

[web]
bind = "127.0.0.1:{web_port}"
public_url = "{base}/"

[metrics]
bind = "127.0.0.1:{metrics_port}"
"""
    daemon = make_daemon(start=False, nameserver=nameserver, mx_port=mx_port, extra=extra)
    text = daemon.config.read_text().replace(
        'default_category = "someone"',
        'default_category = "someone"\noptout_address = "optout@anon.test"\n'
        '[anonymizer.categories]\nsomeone = "Quelqu\'un"\ncolleague = "Un collègue"')
    daemon.config.write_text(text)
    daemon.start()
    inbound = int(daemon.listening[3].rsplit(":", 1)[1])
    return daemon, sink, inbound, base, f"http://127.0.0.1:{metrics_port}/metrics"


def submit(daemon, recipients, subject="A note"):
    """Submits from the trusted address; returns {recipient: (code, text)} of refusals."""
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30,
                      source_address=(TRUSTED_IP, 0)) as client:
        try:
            return client.sendmail("alice@corp.example", recipients,
                                   MESSAGE.format(to=", ".join(recipients), subject=subject))
        except smtplib.SMTPRecipientsRefused as refused:
            return refused.recipients


def refused_code(daemon, recipient):
    refusals = submit(daemon, [recipient])
    if recipient not in refusals:
        return None
    code, text = refusals[recipient]
    return code, text.decode()


def delivered_to(sink, address):
    return [e for e in list(sink.messages) if address in e.rcpt_tos]


def one_delivery(sink, address, daemon):
    assert wait_for(lambda: delivered_to(sink, address)), "".join(daemon.log[-30:])
    envelope = delivered_to(sink, address)[0]
    return envelope, email.message_from_bytes(envelope.original_content, policy=email.policy.default)


def unsubscribe_url(message):
    header = message["List-Unsubscribe"]
    links = re.findall(r"<([^>]+)>", str(header))
    return links[0], links[1:]


def send_inbound(port, mail_from, recipients, text):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(mail_from, recipients, text.replace("\n", "\r\n").encode())


def optout_list(daemon):
    result = daemon.cli("optout", "list")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_headers_are_per_recipient_signed_and_the_browser_opts_out(consent, dkim_keys):
    daemon, sink, _, base, _ = consent
    assert submit(daemon, ["carol@example.test", "dave@example.test"]) == {}
    _, carol = one_delivery(sink, "carol@example.test", daemon)
    envelope_dave, dave = one_delivery(sink, "dave@example.test", daemon)
    assert envelope_dave.rcpt_tos == ["dave@example.test"], "one message per recipient"

    carol_url, carol_mailto = unsubscribe_url(carol)
    dave_url, _ = unsubscribe_url(dave)
    assert carol_url.startswith(base + "/optout/") and dave_url.startswith(base + "/optout/")
    assert carol_url != dave_url
    assert carol_mailto == ["mailto:optout@anon.test"]
    assert "carol" not in carol_url.lower()
    assert carol["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert carol_url in carol.get_body(("plain",)).get_content(), "the footer links to the page"

    # Both headers are covered by the DKIM signatures, which verify.
    raw = delivered_to(sink, "carol@example.test")[0].original_content
    records = {f"{selector}._domainkey.anon.test.": record.split('"')[1].encode()
               for selector, (_, record) in dkim_keys.items()}
    verifier = dkim.DKIM(raw)
    for index in range(2):
        assert verifier.verify(idx=index, dnsfunc=lambda name, timeout=5: records.get(
            name.decode() if isinstance(name, bytes) else name))
    for signature in carol.get_all("DKIM-Signature"):
        signed = re.search(r"h=([^;]+)", str(signature)).group(1).replace(" ", "").lower().split(":")
        assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed

    if not chromium_path():
        pytest.fail("chromium is not installed (scripts/test.sh installs it)")
    before, after = open_and_click(carol_url, "#confirm", "document.getElementById('done')"
                                   " && document.body.innerText")
    assert "Ne plus recevoir" in before and "Stop receiving" in before
    assert "Désinscription confirmée" in after and "Opt-out confirmed" in after

    for variant in ["carol@example.test", "Carol@EXAMPLE.test", "carol+news@example.test",
                    "CAROL+x@Example.Test"]:
        refusal = refused_code(daemon, variant)
        assert refusal is not None and refusal[0] == 550 and refusal[1].startswith("5.7.1"), variant
    assert refused_code(daemon, "dave@example.test") is None
    listing = optout_list(daemon)
    assert re.search(r"^[0-9a-f]{64}  \S+  web$", listing, re.M), listing
    assert "carol" not in listing


def test_rfc8058_post_with_curl(consent):
    daemon, sink, _, base, _ = consent
    assert submit(daemon, ["erin@example.test"]) == {}
    _, erin = one_delivery(sink, "erin@example.test", daemon)
    url, _ = unsubscribe_url(erin)

    def curl(*args):
        return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args],
                              capture_output=True, text=True, timeout=30).stdout

    assert curl(url) == "200", "GET shows the page"
    assert refused_code(daemon, "erin@example.test") is None, "GET changes nothing"
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", forged) == "404"
    assert curl("-X", "POST", "-d", "something=else", url) == "400"
    assert refused_code(daemon, "erin@example.test") is None
    assert curl("-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded",
                "-d", "List-Unsubscribe=One-Click", url) == "200"
    refusal = refused_code(daemon, "Erin+later@example.test")
    assert refusal is not None and refusal[0] == 550 and refusal[1].startswith("5.7.1")
    assert curl(base + "/health") == "200"


DSN = """\
From: MAILER-DAEMON@mx.example.test
To: bounce-{id}@anon.test
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

The mail system could not deliver your message.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.test

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--dsn--
"""

ARF = """\
From: fbl@feedback.example.test
To: abuse@anon.test
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

This is an email abuse report.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1.0
Version: 1
{rcpt_line}
--arf
Content-Type: text/rfc822-headers

{original}
--arf--
"""


def test_dsn_and_arf_suppress_on_the_inbound_listener(consent):
    daemon, sink, inbound, _, metrics = consent
    # A hard bounce at the VERP address of a delivered message.
    assert submit(daemon, ["gone@example.test"]) == {}
    envelope, _ = one_delivery(sink, "gone@example.test", daemon)
    bounce_id = re.match(r"bounce-([0-9a-f]+)@anon\.test", envelope.mail_from).group(1)
    send_inbound(inbound, "", [envelope.mail_from], DSN.format(id=bounce_id, rcpt="Gone@Example.test"))
    refusal = refused_code(daemon, "gone+x@example.test")
    assert refusal is not None and refusal[0] == 550 and refusal[1].startswith("5.7.1")

    # A feedback-loop report naming the recipient.
    assert refused_code(daemon, "frank@example.test") is None
    send_inbound(inbound, "fbl@feedback.example.test", ["abuse@anon.test"],
                 ARF.format(rcpt_line="Original-Rcpt-To: <frank@example.test>\n",
                            original="From: someone@anon.test\nSubject: hi\n"))
    assert refused_code(daemon, "Frank@example.test")[0] == 550

    # A report with the address redacted: the List-Unsubscribe token of the
    # reported message still names the recipient.
    assert submit(daemon, ["grace@example.test"]) == {}
    _, grace = one_delivery(sink, "grace@example.test", daemon)
    original = (f"From: someone@anon.test\nTo: [redacted]\n"
                f"List-Unsubscribe: {grace['List-Unsubscribe']}\nSubject: A note\n")
    send_inbound(inbound, "fbl@feedback.example.test", ["abuse@anon.test"],
                 ARF.format(rcpt_line="", original=original))
    assert refused_code(daemon, "grace@example.test")[0] == 550

    listing = optout_list(daemon)
    assert re.search(r"  bounce  bounce 5\.1\.1$", listing, re.M), listing
    assert len(re.findall(r"  complaint  complaint abuse$", listing, re.M)) == 2, listing
    import urllib.request
    with urllib.request.urlopen(metrics, timeout=10) as response:
        text = response.read().decode()
    assert 'leak_bounces_total{class="hard"} 1' in text
    assert "leak_complaints_total 2" in text
    assert 'leak_suppressions_added_total{source="complaint"} 2' in text


def test_mail_to_the_optout_address_suppresses_and_confirms(consent):
    daemon, sink, inbound, _, _ = consent
    send_inbound(inbound, "heidi@example.test", ["optout@anon.test"],
                 "From: Heidi <Heidi@example.test>\nTo: optout@anon.test\nSubject: stop\n\nstop please\n")
    refusal = refused_code(daemon, "heidi+tag@example.test")
    assert refusal is not None and refusal[0] == 550
    assert "  mail" in optout_list(daemon)
    envelope, confirmation = one_delivery(sink, "Heidi@example.test", daemon)
    assert envelope.mail_from in ("", "<>"), "answers go out with a null sender"
    assert confirmation["Auto-Submitted"] == "auto-replied"
    body = confirmation.get_body(("plain",)).get_content()
    assert "ne recevra plus" in body and "will not receive" in body


def test_a_reply_to_a_pseudonym_gets_one_automatic_answer(consent):
    daemon, sink, inbound, base, _ = consent
    reply = ("From: Ivan <ivan@example.test>\nTo: Un collègue <colleague@anon.test>\n"
             "Subject: Re: A note\nMessage-ID: <r1@example.test>\n\nWho are you?\n")
    send_inbound(inbound, "ivan@example.test", ["colleague@anon.test"], reply)
    envelope, answer = one_delivery(sink, "ivan@example.test", daemon)
    assert envelope.mail_from in ("", "<>")
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["From"].addresses[0].addr_spec == "colleague@anon.test"
    assert answer["In-Reply-To"] == "<r1@example.test>"
    assert str(answer["Subject"]).startswith("Auto: Re: A note")
    body = answer.get_body(("plain",)).get_content()
    assert "anonymement" in body and "anonymously" in body
    assert base + "/optout/" in body, "the answer says how to stop"
    assert "Who are you" not in body, "never forwarded, never quoted"

    # No loops: no second answer the same day, none to automatic mail or to
    # the null sender.
    send_inbound(inbound, "ivan@example.test", ["someone@anon.test"], reply)
    send_inbound(inbound, "judy@example.test", ["someone@anon.test"],
                 "From: judy@example.test\nAuto-Submitted: auto-replied\nSubject: away\n\nI am away\n")
    send_inbound(inbound, "", ["someone@anon.test"], "From: x@example.test\nSubject: x\n\nx\n")
    send_inbound(inbound, "kim@example.test", ["someone@anon.test"],
                 "From: kim@example.test\nSubject: last\n\nhello\n")
    assert wait_for(lambda: delivered_to(sink, "kim@example.test"))
    assert len(delivered_to(sink, "ivan@example.test")) == 1
    assert delivered_to(sink, "judy@example.test") == []
    assert len(sink.messages) == 2


RELAY_TRICKS = [
    "victim@outside.example",
    "victim%outside.example@anon.test",
    '"victim@outside.example"@anon.test',
    "@anon.test:victim@outside.example",
    "victim@outside.example@anon.test",
    "<victim@outside.example>",
    "victim!outside.example@anon.test",
    "someone@anon.test.outside.example",
    "someone@[127.0.0.3]",
    # The forms nmap's smtp-open-relay script tries.
    "relaytest%outside.example@[127.0.0.1]",
    '"relaytest@outside.example"',
    '"relaytest%outside.example"',
    "relaytest@outside.example@[127.0.0.1]",
    '"relaytest@outside.example"@[127.0.0.1]',
    "outside.example!relaytest",
    "outside.example!relaytest@[127.0.0.1]",
    "outside.example!relaytest@anon.test",
    "@[127.0.0.1]:relaytest@outside.example",
    "anon.test!outside.example!relaytest",
]


def raw_rcpt(port, address):
    """The reply to one RCPT TO written as given, over a raw socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        stream = sock.makefile("rwb")

        def command(line):
            if line is not None:
                stream.write(line.encode() + b"\r\n")
                stream.flush()
            while True:
                reply = stream.readline().decode()
                if reply[3:4] != "-":
                    return reply

        command(None)
        command("EHLO relay-tester.example")
        assert command("MAIL FROM:<spammer@outside.example>").startswith("250")
        target = address if address.startswith("<") else f"<{address}>"
        reply = command(f"RCPT TO:{target}")
        command("QUIT")
        return reply


def test_the_inbound_listener_never_relays(consent):
    daemon, sink, inbound, _, _ = consent
    with smtplib.SMTP("127.0.0.1", inbound, timeout=30) as client:
        client.ehlo("relay-tester.example")
        assert "auth" not in client.esmtp_features, "no AUTH on the inbound role"
        client.mail("spammer@outside.example")
        code, text = client.rcpt("victim@outside.example")
        assert (code, text.decode()[:5]) == (550, "5.7.1")
    for address in RELAY_TRICKS:
        reply = raw_rcpt(inbound, address)
        assert reply.startswith("5"), f"{address}: {reply}"
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.fail("nmap is not installed (scripts/test.sh installs it)")
    result = subprocess.run([nmap, "-Pn", "-n", "-sV", "--version-light", "--script", "smtp-open-relay", "-p", str(inbound),
                             "--script-args", f"smtp-open-relay.domain={DOMAIN},"
                             "smtp-open-relay.ip=127.0.0.1", "127.0.0.1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # The session closes after too many refused commands (the same hardening
    # as submission), which can cut nmap's sixteen tries short: it must run
    # and never report a relay; every form it tries is checked above, one
    # connection each.
    assert "smtp-open-relay" in result.stdout, result.stdout
    assert "Server is an open relay" not in result.stdout, result.stdout
    assert daemon.queue_ids() == set()
    assert sink.messages == []


def test_the_inbound_listener_keeps_the_per_client_limits(make_daemon):
    """Mail to leak needs no account, but one client still cannot take every
    connection of the inbound listener (the MX of the anonymizer domain)."""
    extra = '\n[[listener]]\nbind = "127.0.0.1:0"\ntls = "none"\nrole = "inbound"\n'
    daemon = make_daemon(extra=extra, limits={"max_connections_per_client": 2})
    inbound = int(daemon.listening[3].rsplit(":", 1)[1])
    held = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", inbound), timeout=10)
            sock.settimeout(10)
            assert sock.recv(200).startswith(b"220"), "the first two connections are served"
            held.append(sock)
        with socket.create_connection(("127.0.0.1", inbound), timeout=10) as third:
            third.settimeout(10)
            assert third.recv(200).startswith(b"421"), "the third from the same client is refused"
        with socket.create_connection(("127.0.0.1", inbound), timeout=10,
                                      source_address=("127.0.0.7", 0)) as other:
            other.settimeout(10)
            assert other.recv(200).startswith(b"220"), "another client is still served"
    finally:
        for sock in held:
            sock.close()


def test_thunderbird_autoconfig_names_the_submission_listeners(consent):
    """The web listener serves Thunderbird's autoconfig file: leak's host name
    and its implicit-TLS and STARTTLS submission ports, no incoming server."""
    import urllib.request
    import xml.etree.ElementTree as ET
    daemon, _sink, _inbound, base, _metrics = consent
    for path in ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/xml")
            root = ET.fromstring(response.read())
        provider = root.find("emailProvider")
        assert provider.find("domain").text == "anon.test"
        assert root.find(".//incomingServer") is None
        servers = [(s.find("hostname").text, int(s.find("port").text), s.find("socketType").text)
                   for s in provider.findall("outgoingServer")]
        assert servers == [("mail.anon.test", daemon.ports["implicit"], "SSL"),
                           ("mail.anon.test", daemon.ports["starttls"], "STARTTLS")], servers
