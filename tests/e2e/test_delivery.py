"""End to end: a message submitted with a real client is anonymized,
DKIM-signed, looked up through a real DNS server (dnsmasq on loopback) and
delivered to a real SMTP receiver (aiosmtpd) acting as the MX."""

import email
import email.policy
import smtplib
import time

import dkim

from conftest import PASSWORD, tls_context, wait_for


SUBMITTED = """\
From: "Alice Martin" <alice.martin@corp-canary.example>
To: Bob <bob@example.test>
Cc: carol@example.test
Bcc: secret-bcc@example.test
Subject: Something I never told you
Date: Thu, 26 Nov 2026 08:14:00 +0200
Message-ID: <CANARY-MSGID-1234@laptop-canary.corp-canary.example>
User-Agent: Thunderbird-Canary/128.0
Organization: Canary Corp
X-Originating-IP: 203.0.113.77
Received: from laptop-canary.corp-canary.example ([203.0.113.77]) by smtp.corp-canary.example
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

I have admired you for years and never dared to say it.

-- 
Alice Martin, Canary Corp
"""

CANARIES = ["Alice Martin", "alice.martin", "corp-canary", "CANARY-MSGID", "Thunderbird-Canary",
            "Canary Corp", "203.0.113.77", "+0200", "secret-bcc", "laptop-canary"]


def test_delivered_message_is_anonymous_and_dkim_signed(make_daemon, dkim_keys, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port)
    context = tls_context()
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=context)
        client.login("alice", PASSWORD)
        client.sendmail("alice.martin@corp-canary.example",
                        ["bob@example.test", "carol@example.test", "secret-bcc@example.test"],
                        SUBMITTED)
    assert wait_for(lambda: len(sink.messages) >= 1), "".join(daemon.log[-30:])
    envelope = sink.messages[0]
    raw = envelope.original_content
    text = raw.decode("utf-8", "replace")
    assert envelope.mail_from.endswith("@anon.test")
    assert sorted(envelope.rcpt_tos) == ["bob@example.test", "carol@example.test", "secret-bcc@example.test"]
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} reached the recipient"
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == "someone@anon.test"
    assert message["Subject"] == "Something I never told you"
    assert "never dared to say it" in text
    assert message["Message-ID"].endswith("@anon.test>")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")

    records = {f"{selector}._domainkey.anon.test.": record.split('"')[1].encode()
               for selector, (_, record) in dkim_keys.items()}

    def dnsfunc(name, timeout=5):
        return records.get(name.decode() if isinstance(name, bytes) else name)

    signatures = [h for h in message.keys() if h.lower() == "dkim-signature"]
    assert len(signatures) == 2
    verifier = dkim.DKIM(raw)
    for index in range(2):
        assert verifier.verify(idx=index, dnsfunc=dnsfunc), f"signature {index} does not verify"
    assert wait_for(lambda: daemon.queue_ids() == set()), "delivered message leaves the queue"


def test_random_delay_holds_back_the_first_attempt(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, random_delay=["12h", "1d"])
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=("127.0.0.2", 0)) as client:
        client.sendmail("app@real.example", ["bob@example.test"],
                        "From: x@anon.test\r\nTo: bob@example.test\r\nSubject: later\r\n\r\nlater\r\n")
    time.sleep(3)
    assert sink.messages == [], "a random delay of up to a day leaves the message waiting"
    assert len(daemon.queue_ids()) == 1
