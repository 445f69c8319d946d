"""Moderation and abuse limits through the real daemon."""

import json
import smtplib

from conftest import PASSWORD, TRUSTED_IP, tls_context

INSULT = "From: x@anon.test\r\nTo: bob@example.test\r\nSubject: hey\r\n\r\nT'es qu'un sale c0nn4rd, espece de minable.\r\n"
CONFESSION = ("From: friend@anon.test\r\nTo: bob@example.test\r\nSubject: a confession\r\n\r\n"
              "Je suis amoureux de toi depuis des annees et je n'ai jamais ose te le dire.\r\n")


def trusted_client(daemon):
    client = smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0))
    client.ehlo("app.test")
    return client


def send(client, message, rcpt="bob@example.test"):
    code, _ = client.mail("app@real.example")
    assert code == 250
    assert client.rcpt(rcpt)[0] == 250
    return client.data(message)


def test_insult_is_refused_with_550_and_not_queued_confession_passes(daemon):
    with trusted_client(daemon) as client:
        code, text = send(client, INSULT)
        assert code == 550 and text.startswith(b"5.7.1"), text
        assert b"insult" in text
        code, text = send(client, CONFESSION)
        assert code == 250, text
    queue = json.loads(daemon.cli("queue", "list", "--json").stdout)
    assert len(queue) == 1


def test_hold_action_stores_the_message_held(make_daemon):
    daemon = make_daemon(moderation_action="hold")
    with trusted_client(daemon) as client:
        assert send(client, INSULT)[0] == 250
    queue = json.loads(daemon.cli("queue", "list", "--json").stdout)
    assert len(queue) == 1 and queue[0]["held"] is True


def test_hourly_limit_per_account(make_daemon):
    daemon = make_daemon(limits={"messages_per_hour": 2})
    context = tls_context()
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=context)
        client.login("alice", PASSWORD)
        for i in range(2):
            assert send(client, CONFESSION, rcpt=f"r{i}@example.test")[0] == 250
        code, text = client.mail("alice@real.example")
        assert (code, text[:5]) == (450, b"4.7.1")
    # Counters survive a restart.
    daemon.stop()
    daemon.start()
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=context)
        client.login("alice", PASSWORD)
        assert client.mail("alice@real.example")[0] == 450


def test_per_recipient_daily_limit(make_daemon):
    daemon = make_daemon(limits={"per_recipient_per_day": 2})
    with trusted_client(daemon) as client:
        for _ in range(2):
            assert send(client, CONFESSION, rcpt="bob@Example.TEST")[0] == 250
        assert client.mail("app@real.example")[0] == 250
        code, text = client.rcpt("bob@example.test")
        assert (code, text[:5]) == (450, b"4.7.1")


def test_opted_out_recipient_gets_550(daemon):
    result = daemon.cli("optout", "add", "Refuser@Example.TEST")
    assert result.returncode == 0, result.stderr
    with trusted_client(daemon) as client:
        assert client.mail("app@real.example")[0] == 250
        code, text = client.rcpt("Refuser@example.test")
        assert (code, text[:5]) == (550, b"5.7.1")


def test_pipelined_transaction(daemon):
    from raw import RawClient
    client = RawClient(daemon.ports["none"])
    assert client.reply()[0] == 220
    client.send(b"EHLO app.test\r\nMAIL FROM:<a@real.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    assert [client.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    client.send(CONFESSION.encode() + b".\r\nQUIT\r\n")
    assert client.reply()[0] == 250
    assert client.reply()[0] == 221


def test_moderation_check_command_and_operator_word_lists(make_daemon, tmp_path):
    block = tmp_path / "block.txt"
    block.write_text("# operator list\nbroccoli\n")
    allow = tmp_path / "allow.txt"
    allow.write_text("connard\n")
    daemon = make_daemon(start=False)
    text = daemon.config.read_text().replace(
        'action = "reject"', f'action = "reject"\nblock_words_file = "{block}"\nallow_words_file = "{allow}"')
    daemon.config.write_text(text)
    verdict = daemon.cli("moderation", "check", "-", input="You are a stupid idiot.")
    assert verdict.returncode == 0 and verdict.stdout.startswith("block: insult"), verdict.stdout + verdict.stderr
    assert daemon.cli("moderation", "check", "-", input="I cheated on my exam and I am sorry.").stdout.splitlines()[0] == "allow"
    assert daemon.cli("moderation", "check", "-", input="I will bring broccoli.").stdout.startswith("block:")
    assert daemon.cli("moderation", "check", "-", input="Salut connard,").stdout.splitlines()[0] == "allow"
    message = tmp_path / "insult.eml"
    message.write_text(INSULT)
    assert daemon.cli("moderation", "check", str(message)).stdout.startswith("block: insult")
    daemon.start()
    with trusted_client(daemon) as client:
        code, text = send(client, "From: x@anon.test\r\nSubject: menu\r\n\r\nI will bring broccoli tonight.\r\n")
        assert code == 550, text
