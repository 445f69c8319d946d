"""End to end: mail clients may log in with the full address
`name@<anonymizer domain>` (what Thunderbird pre-fills) as well as the bare
account name; both are the same account."""

import smtplib

import pytest

from conftest import DOMAIN, PASSWORD, tls_context

BODY = "From: a@real.example\r\nTo: {to}\r\nSubject: login\r\n\r\nhello\r\n"


def send_as(daemon, login, to):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login(login, PASSWORD)
        client.sendmail("a@real.example", [to], BODY.format(to=to))


def test_full_address_logs_into_the_same_account(make_daemon):
    daemon = make_daemon(limits={"messages_per_hour": 1})
    send_as(daemon, f"alice@{DOMAIN}", "bob@example.test")
    assert len(daemon.queue_ids()) == 1
    # The bare name is the same account: its hour is already used.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send_as(daemon, "alice", "carol@example.test")
    assert refused.value.smtp_code == 450
    assert b"for this account" in refused.value.smtp_error


def test_domain_case_is_ignored_and_other_domains_refused(make_daemon):
    daemon = make_daemon()
    send_as(daemon, f"alice@{DOMAIN.upper()}", "bob@example.test")
    for wrong in ("alice@other.test", f"alice@mail.{DOMAIN}", f"bob@{DOMAIN}"):
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            send_as(daemon, wrong, "bob@example.test")
        assert refused.value.smtp_code == 535
