"""End to end: the limits' refusals say which limit, how large and when it
resets (English / French), and trusted clients without an account are
limited per client address."""

import smtplib
import time

import pytest

from conftest import PASSWORD, TRUSTED_IP, tls_context

BODY = "From: a@real.example\r\nTo: {to}\r\nSubject: limits\r\n\r\nhello\r\n"


def next_hours():
    """The `HH:00` the hourly counter resets at, now or (at a boundary) a moment later."""
    now = time.time()
    return {time.strftime("%H:00", time.gmtime(t - t % 3600 + 3600)) for t in (now, now + 60)}


def account_send(daemon, to):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("alice", PASSWORD)
        client.sendmail("a@real.example", [to], BODY.format(to=to))


def trusted_send(daemon, to):
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0)) as client:
        client.sendmail("app@real.example", [to], BODY.format(to=to))


def test_account_and_recipient_limits_explain_themselves(make_daemon):
    daemon = make_daemon(limits={"messages_per_hour": 2, "per_recipient_per_day": 1})
    account_send(daemon, "bob@example.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        account_send(daemon, "bob@example.test")
    code, text = refused.value.recipients["bob@example.test"]
    assert code == 450
    text = text.decode()
    assert text.startswith("4.7.1 This recipient has received the daily maximum of 1 anonymous messages; "
                           "try again after 00:00 UTC / Ce destinataire a recu le maximum de 1"), text

    account_send(daemon, "carol@example.test")
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        account_send(daemon, "dave@example.test")
    assert refused.value.smtp_code == 450
    text = refused.value.smtp_error.decode()
    assert text.startswith("4.7.1 Hourly limit of 2 messages reached for this account; try again after "), text
    assert any(f"after {hour} UTC / Limite de 2 messages par heure atteinte pour ce compte ; "
               f"reessayez apres {hour} UTC" in text for hour in next_hours()), text


def test_trusted_clients_are_limited_per_address(make_daemon):
    daemon = make_daemon(limits={"messages_per_hour": 2})
    trusted_send(daemon, "erin@example.test")
    trusted_send(daemon, "frank@example.test")
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        trusted_send(daemon, "grace@example.test")
    assert refused.value.smtp_code == 450
    text = refused.value.smtp_error.decode()
    assert "Hourly limit of 2 messages reached for this client address" in text, text
    # The account's hour is its own: the client address's count is not alice's.
    account_send(daemon, "heidi@example.test")
    assert len(daemon.queue_ids()) == 3
