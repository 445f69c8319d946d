"""End to end: what the recipient's side can learn from time. `Date`, leak's
`Received` line and the DKIM signature carry the first delivery attempt (not
the submission), retries keep that stamp, and failure reports come after
their own delay, on their own connection, with nothing of the refused
message but its subject."""

import email
import email.policy
import email.utils
import re
import smtplib
import time

import dkim

from conftest import PASSWORD, TRUSTED_IP, tls_context, wait_for

SUBMITTED = """\
From: app@real.example
To: {to}
Subject: {subject}
Date: Thu, 26 Nov 2026 08:14:00 +0200
Message-ID: <CANARY-TIMING@laptop.real.example>
Content-Type: text/plain; charset=utf-8

Rendez-vous demain.
"""


def submit_trusted(daemon, to, subject="Rendez-vous"):
    """Submits from the trusted network; returns the queue id."""
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0)) as client:
        client.ehlo()
        client.mail("app@real.example")
        client.rcpt(to)
        code, reply = client.data(SUBMITTED.format(to=to, subject=subject).replace("\n", "\r\n").encode())
    assert code == 250, reply
    return re.search(rb"Queued as ([0-9a-f]+)", reply).group(1).decode()


def dkim_records(dkim_keys):
    records = {f"{selector}._domainkey.anon.test.": record.split('"')[1].encode()
               for selector, (_, record) in dkim_keys.items()}

    def dnsfunc(name, timeout=5):
        return records.get(name.decode() if isinstance(name, bytes) else name)
    return dnsfunc


def check_stamp(raw, dkim_keys):
    """Date, Received and the signatures agree; returns the stamp (Unix time)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    date = message["Date"]
    assert date.endswith("+0000"), date
    stamp = email.utils.parsedate_to_datetime(str(date)).timestamp()
    received = [str(r) for r in message.get_all("Received")]
    leak_lines = [r for r in received if "(leak)" in r]
    assert len(leak_lines) == 1, received
    assert email.utils.parsedate_to_datetime(leak_lines[0].split(";")[-1].strip()).timestamp() == stamp
    signatures = message.get_all("DKIM-Signature")
    assert len(signatures) == 2
    for signature in signatures:
        tags = {t.split("=", 1)[0].strip() for t in re.sub(r"\s+", "", str(signature)).split(";") if "=" in t}
        assert "t" not in tags, f"a signing time dates the message: {signature}"
        assert "date" in str(signature).lower(), "Date is signed"
    verifier = dkim.DKIM(raw)
    dnsfunc = dkim_records(dkim_keys)
    for index in range(2):
        assert verifier.verify(idx=index, dnsfunc=dnsfunc), f"signature {index} does not verify"
    return stamp


def test_date_received_and_dkim_carry_the_first_attempt(make_daemon, dkim_keys, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, random_delay=["4s", "4s"],
                         date_rounding="1s")
    submitted = time.time()
    submit_trusted(daemon, "bob@example.test")
    assert wait_for(lambda: len(sink.messages) == 1, 30), "".join(daemon.log[-30:])
    envelope = sink.messages[0]
    # Due times are whole seconds: at least the submission's second plus 4.
    assert envelope.arrived >= int(submitted) + 3.9, "the random delay (fixed at 4 s here) held it back"
    stamp = check_stamp(envelope.original_content, dkim_keys)
    assert stamp >= int(submitted) + 3, "Date is the delivery attempt, not the submission"
    assert stamp <= envelope.arrived
    assert b"+0200" not in envelope.original_content and b"2026 08:14" not in envelope.original_content


def test_default_rounding_is_five_minutes(make_daemon, dkim_keys, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port)
    submit_trusted(daemon, "bob@example.test")
    assert wait_for(lambda: len(sink.messages) == 1, 30), "".join(daemon.log[-30:])
    envelope = sink.messages[0]
    stamp = check_stamp(envelope.original_content, dkim_keys)
    assert stamp % 300 == 0, "Date is rounded down to 5 minutes"
    assert envelope.arrived - 300 < stamp <= envelope.arrived


def test_retries_keep_the_first_attempts_date(make_daemon, dkim_keys, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    sink.defer_once.add("bob@example.test")
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, retry="4s", date_rounding="1s")
    submit_trusted(daemon, "bob@example.test")
    assert wait_for(lambda: len(sink.messages) == 1, 30), "".join(daemon.log[-30:])
    first_attempt = min(at for _, address, at in sink.rcpts if address == "bob@example.test")
    envelope = sink.messages[0]
    assert envelope.arrived >= first_attempt + 3, "delivered on the retry"
    stamp = check_stamp(envelope.original_content, dkim_keys)
    assert int(first_attempt) - 1 <= stamp <= first_attempt, "Date of the first attempt, kept for the retry"


def test_failure_report_is_delayed_separate_and_minimal(make_daemon, dkim_keys, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    sink.refuse.add("nobody@example.test")
    daemon = make_daemon(start=False, nameserver=nameserver, mx_port=mx_port, report_delay=["4s", "4s"])
    added = daemon.cli("user", "add", "carol", "--password-stdin", "--notify", "carol.real@example.test",
                       input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    daemon.start()
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("carol", PASSWORD)
        client.ehlo()
        client.mail("carol@real.example")
        client.rcpt("nobody@example.test")
        code, reply = client.data(
            "From: Carol Real <carol@real.example>\r\nTo: nobody@example.test\r\n"
            "Subject: Le secret du jardin\r\nX-Mailer: Canary-Mailer 9\r\n"
            "Message-ID: <CANARY-REFUSED@real.example>\r\n\r\nTexte PRIVE du message.\r\n")
    assert code == 250, reply
    queue_id = re.search(rb"Queued as ([0-9a-f]+)", reply).group(1).decode()

    assert wait_for(lambda: any(a == "nobody@example.test" for _, a, _ in sink.rcpts), 30)
    refused_peer, _, refused_at = next(r for r in sink.rcpts if r[1] == "nobody@example.test")
    assert wait_for(lambda: len(sink.messages) == 1, 30), "".join(daemon.log[-30:])
    report = sink.messages[0]
    assert report.rcpt_tos == ["carol.real@example.test"]
    assert report.mail_from == "<>" or report.mail_from == ""
    assert report.arrived >= refused_at + 3, "the report waits for report_delay (4 s here)"
    assert report.peer != refused_peer, "the report has a connection of its own"

    raw = report.original_content
    check_stamp(raw, dkim_keys)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Message non distribué / Undelivered message"
    assert message.get_content_type() == "multipart/report"
    text = message.get_body(preferencelist=("plain",)).get_content()
    for needle in (f"Identifiant / Queue id : {queue_id}", "Objet / Subject : Le secret du jardin",
                   "Destinataire / Recipient : <nobody@example.test>", "550 5.1.1 no such user here",
                   "n'a pas pu être remis", "could not be delivered"):
        assert needle in text, f"{needle!r} missing from\n{text}"
    decoded = raw.decode("utf-8", "replace")
    for part in message.walk():
        if not part.is_multipart():
            decoded += str(part.get_payload(decode=True), "utf-8", "replace")
    # Nothing of the refused message beyond its subject: no header of it, no
    # body, no time of arrival, no name of the MX that refused it.
    for canary in ("someone@anon.test", "CANARY", "Canary-Mailer", "PRIVE", "carol@real.example",
                   "text/rfc822-headers", "Arrival-Date", "mx.example.test", "Carol Real"):
        assert canary not in decoded, f"{canary!r} in the report"
