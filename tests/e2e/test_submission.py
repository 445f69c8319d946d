"""A real mail client (Python's smtplib, swaks) submits through leak."""

import json
import smtplib
import subprocess

import pytest

from conftest import PASSWORD, TRUSTED_IP, tls_context

MESSAGE = """From: Alice Martin <alice.martin@real.example>
To: Bob <bob@example.test>
Subject: A confession

I have always admired your work, and I never dared to say it.
"""


def test_starttls_auth_submission_is_queued(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.ehlo("laptop.example")
        assert "auth" not in client.esmtp_features, "AUTH must not be offered in plaintext"
        assert "starttls" in client.esmtp_features
        client.starttls(context=tls_context())
        client.ehlo("laptop.example")
        assert "PLAIN" in client.esmtp_features["auth"] and "LOGIN" in client.esmtp_features["auth"]
        for feature in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes"):
            assert feature in client.esmtp_features
        client.login("alice", PASSWORD)
        refused = client.sendmail("alice.martin@real.example", ["bob@example.test"], MESSAGE)
        assert refused == {}
    queue = json.loads(daemon.cli("queue", "list", "--json").stdout)
    assert len(queue) == 1
    assert queue[0]["recipients"][0]["address"] == "bob@example.test"
    assert queue[0]["recipients"][0]["status"] in ("queued", "deferred")


def test_implicit_tls_with_auth_login(daemon):
    with smtplib.SMTP_SSL("127.0.0.1", daemon.ports["implicit"], timeout=30, context=tls_context()) as client:
        client.ehlo("phone.example")
        client.login("alice", PASSWORD)  # smtplib prefers PLAIN; try LOGIN explicitly too
    with smtplib.SMTP_SSL("127.0.0.1", daemon.ports["implicit"], timeout=30, context=tls_context()) as client:
        client.ehlo("phone.example")
        client.user, client.password = "alice", PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235
        client.sendmail("a@real.example", ["carol@example.test"], MESSAGE)


def test_wrong_password_is_refused(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as error:
            client.login("alice", "wrong")
        assert error.value.smtp_code == 535


def test_nobody_relays_without_an_account(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.ehlo("x.example")
        code, _ = client.docmd("AUTH", "PLAIN AGFsaWNlAHg=")
        assert code == 538, "AUTH in plaintext is refused"
        code, _ = client.mail("x@real.example")
        assert 500 <= code < 600
        code, _ = client.rcpt("bob@example.test")
        assert 500 <= code < 600
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.ehlo("x.example")
        code, _ = client.mail("x@real.example")
        assert code == 530, "TLS alone is not enough: an account is needed"


def test_trusted_network_submits_without_auth(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0)) as client:
        assert client.sendmail("app@real.example", ["bob@example.test"], MESSAGE) == {}
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30) as client:
        client.ehlo("x")
        assert client.mail("app@real.example")[0] == 530


def test_swaks_submits_over_starttls(daemon):
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{daemon.ports['starttls']}", "--tls",
         "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", PASSWORD,
         "--from", "alice@real.example", "--to", "dan@example.test",
         "--header", "Subject: swaks test", "--body", "A quiet message."],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Queued as" in result.stdout


def test_sigterm_stops_cleanly(daemon):
    assert daemon.stop() == 0


def test_info_logs_never_pair_the_account_with_a_recipient(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("alice", PASSWORD)
        client.sendmail("alice.martin@real.example", ["bob@example.test"], MESSAGE)
    daemon.stop()
    log = "".join(daemon.log)
    assert "account=alice" in log, "the account is logged with its session"
    assert "bob@example.test" not in log, "recipient addresses stay out of info logs"
    queued = [line for line in daemon.log if "queued" in line and "queue_id" in line]
    assert queued and all("session=" not in line for line in queued)
    assert "I have always admired your work" not in log, "bodies are never logged"
