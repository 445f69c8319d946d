"""End to end: `leak reload` on a running daemon. DKIM key rotation as
docs/operations.md describes it, checked on the delivered mail with dkimpy;
a refused config that leaves the old one in force; keys that need a restart;
limits that change without one; `queue cat` with the settings in force."""

import email
import email.policy
import json
import pathlib
import re
import shutil
import smtplib
import tempfile
import time

import dkim
import pytest

from conftest import DOMAIN, PASSWORD, Daemon, leak, tls_context, wait_for

DKIM_BLOCK = re.compile(r'\[\[dkim\.key\]\]\nselector = "[^"]*"\nalgorithm = "[^"]*"\nprivate_key = "[^"]*"\n')


@pytest.fixture
def rotation_keys():
    """Key A (RSA, selector `old-rsa`) and key B (Ed25519, `new-ed`), each with
    the DNS record `leak dkim generate` printed for it."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="leak-rotate-"))
    keys = {}
    for selector, algorithm in (("old-rsa", "rsa"), ("new-ed", "ed25519")):
        out = folder / f"{selector}.pem"
        result = leak("dkim", "generate", "--selector", selector, "--algorithm", algorithm,
                      "--out", str(out), "--domain", DOMAIN, check=True)
        keys[selector] = (out, algorithm, result.stdout.strip())
    yield keys
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def rotating_daemon(tls_files, rotation_keys, mx_and_dns):
    """A daemon signing with key A only, delivering to the test MX."""
    sink, mx_port, nameserver = mx_and_dns
    folder = tempfile.mkdtemp(prefix="leak-e2e-reload-")
    path, _, record = rotation_keys["old-rsa"]
    daemon = Daemon(folder, tls_files, {"old-rsa": (path, record)}, nameserver, mx_port=mx_port)
    try:
        yield daemon.start(), sink
    finally:
        daemon.kill()
        shutil.rmtree(folder, ignore_errors=True)


def sign_with(daemon, keys, selectors, extra=""):
    """Rewrites the config's [[dkim.key]] blocks to `selectors` (plus `extra`)."""
    text = DKIM_BLOCK.sub("", daemon.config.read_text())
    blocks = "".join(
        f'[[dkim.key]]\nselector = "{s}"\nalgorithm = "{keys[s][1]}"\nprivate_key = "{keys[s][0]}"\n'
        for s in selectors)
    daemon.config.write_text(text.replace("[delivery]", blocks + extra + "\n[delivery]", 1))


def send(daemon, subject):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("alice", PASSWORD)
        client.sendmail("alice@real.example", ["bob@example.test"],
                        f"From: alice@real.example\r\nTo: bob@example.test\r\nSubject: {subject}\r\n\r\nhello\r\n")


def delivered(sink, subject):
    """The raw message with that subject, once it has arrived."""
    found = []

    def arrived():
        found[:] = [m.original_content for m in list(sink.messages)
                    if f"Subject: {subject}".encode() in m.original_content]
        return bool(found)

    assert wait_for(arrived), f"{subject} was not delivered"
    return found[0]


def verified_selectors(raw, keys):
    """The selectors of the message's DKIM signatures, each checked by dkimpy
    against the published records of both keys."""
    records = {f"{s}._domainkey.{DOMAIN}.": "".join(re.findall(r'"([^"]*)"', record)).encode()
               for s, (_, _, record) in keys.items()}

    def dnsfunc(name, timeout=5):
        return records.get(name.decode() if isinstance(name, bytes) else name)

    message = email.message_from_bytes(raw, policy=email.policy.default)
    signatures = message.get_all("DKIM-Signature") or []
    verifier = dkim.DKIM(raw)
    selectors = []
    for index, signature in enumerate(signatures):
        assert verifier.verify(idx=index, dnsfunc=dnsfunc), f"signature {index} does not verify"
        selectors.append(re.search(r"\bs=([^;\s]+)", str(signature)).group(1))
    return sorted(selectors)


def reload(daemon):
    result = daemon.cli("reload")
    return result.returncode, result.stdout, result.stderr


def test_dkim_rotation_with_reload(rotating_daemon, rotation_keys):
    daemon, sink = rotating_daemon
    send(daemon, "before rotation")
    assert verified_selectors(delivered(sink, "before rotation"), rotation_keys) == ["old-rsa"]

    # Step 1: sign with both keys (B's record is published).
    sign_with(daemon, rotation_keys, ["old-rsa", "new-ed"])
    code, out, err = reload(daemon)
    assert code == 0, err
    assert "changed: dkim (selectors: old-rsa, new-ed)" in out
    send(daemon, "during rotation")
    assert verified_selectors(delivered(sink, "during rotation"), rotation_keys) == ["new-ed", "old-rsa"]

    # Step 2: drop key A; only B signs.
    sign_with(daemon, rotation_keys, ["new-ed"])
    code, out, err = reload(daemon)
    assert code == 0, err
    assert "changed: dkim (selectors: new-ed)" in out
    send(daemon, "after rotation")
    assert verified_selectors(delivered(sink, "after rotation"), rotation_keys) == ["new-ed"]
    assert any("reload: now in force: dkim" in line for line in daemon.log)


def test_refused_config_keeps_the_old_one(rotating_daemon, rotation_keys):
    daemon, sink = rotating_daemon
    good = daemon.config.read_text()
    # A key file that does not exist, and a word list that cannot be read:
    # check-config refuses both, so the reload must change nothing at all.
    sign_with(daemon, rotation_keys, ["new-ed"],
              extra='[[dkim.key]]\nselector = "gone"\nalgorithm = "rsa"\nprivate_key = "/nonexistent/key.pem"\n')
    code, out, err = reload(daemon)
    assert code == 1, (out, err)
    assert "dkim.key[1].private_key" in err
    assert "previous config" in err
    assert "changed:" not in out
    assert any("reload refused" in line for line in daemon.log)

    send(daemon, "after a refused reload")
    raw = delivered(sink, "after a refused reload")
    assert verified_selectors(raw, rotation_keys) == ["old-rsa"], "key A still signs, B was not taken"

    # The daemon is fine and takes a good config again.
    daemon.config.write_text(good)
    code, out, err = reload(daemon)
    assert code == 0, err
    assert "nothing changed" in out


def test_listeners_need_a_restart_limits_do_not(rotating_daemon):
    daemon, _ = rotating_daemon
    text = daemon.config.read_text()
    text = text.replace('bind = "127.0.0.1:0"\ntls = "none"', 'bind = "127.0.0.4:0"\ntls = "none"', 1)
    text = text.replace("messages_per_hour = 1000", "messages_per_hour = 1", 1)
    daemon.config.write_text(text)
    code, out, err = reload(daemon)
    assert code == 0, err
    assert "needs restart: listeners" in out
    assert "changed: limits.messages_per_hour" in out
    assert any("listeners changed; takes effect after a restart" in line for line in daemon.log)

    # The new limit applies at once: one message, then 450.
    send(daemon, "first of the hour")
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(daemon, "second of the hour")
    assert refused.value.smtp_code == 450


def test_word_list_and_anonymizer_changes_apply_at_reload(make_daemon, mx_and_dns):
    """An edited block list (the config itself unchanged) and a new notice
    take effect at `leak reload`, without a restart."""
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(start=False, nameserver=nameserver, mx_port=mx_port)
    words = daemon.folder / "block.txt"
    words.write_text("")
    text = daemon.config.read_text().replace(
        'action = "reject"', f'action = "reject"\nblock_words_file = "{words}"', 1)
    daemon.config.write_text(text)
    daemon.start()

    def submit(body):
        with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
            client.starttls(context=tls_context())
            client.login("alice", PASSWORD)
            client.mail("alice@real.example")
            client.rcpt("bob@example.test")
            message = f"From: a@real.example\r\nTo: bob@example.test\r\nSubject: {body}\r\n\r\n{body}\r\n"
            return client.data(message)[0]

    assert submit("the zorblax is here") == 250
    words.write_text("zorblax\n")
    code, out, err = reload(daemon)
    assert code == 0, err
    assert "changed: moderation" in out
    assert submit("the zorblax is here") == 550

    daemon.config.write_text(daemon.config.read_text().replace(
        'default_category = "someone"', 'default_category = "someone"\nnotice = "Sent through the reload test."', 1))
    code, out, err = reload(daemon)
    assert code == 0, err
    assert out.splitlines() == ["changed: anonymizer"]
    assert submit("hello again") == 250
    assert b"Sent through the reload test." not in delivered(sink, "the zorblax is here")
    assert b"Sent through the reload test." in delivered(sink, "hello again")


def test_queue_cat_signs_with_the_settings_in_force(make_daemon):
    """`leak queue cat` shows what delivery would send now: after a reload
    that shortens `[dkim] expiry`, the rendered signature expires sooner."""
    daemon = make_daemon(random_delay="1h")
    send(daemon, "waiting in the queue")
    listing = daemon.cli("queue", "list", "--json")
    ids = [entry["id"] for entry in json.loads(listing.stdout)]
    assert len(ids) == 1, listing.stdout

    def expiry_in_days():
        cat = daemon.cli("queue", "cat", ids[0])
        assert cat.returncode == 0, cat.stderr
        expires = int(re.search(r"\bx=(\d+)", cat.stdout).group(1))
        return (expires - time.time()) / 86400

    assert 6.9 < expiry_in_days() < 7.1, "the default expiry is 7 days"
    daemon.config.write_text(daemon.config.read_text().replace(
        "[delivery]", '[dkim]\nexpiry = "2d"\n\n[delivery]', 1))
    code, out, err = reload(daemon)
    assert code == 0, err
    assert 1.9 < expiry_in_days() < 2.1, out
