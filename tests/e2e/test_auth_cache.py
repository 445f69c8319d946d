"""End to end: the credential cache (`[limits] auth_cache_ttl`). A login
repeated within the TTL is answered from the cache (counted by
`leak_auth_cache_hits_total`); after `leak user passwd` or `leak user remove`
and a reload, the old password stops working at once; `"0s"` turns the cache
off."""

import re
import smtplib
import urllib.request

from conftest import PASSWORD, tls_context

METRICS = '[metrics]\nbind = "127.0.0.1:0"\n'


def login(daemon, user, password):
    """STARTTLS + AUTH as a mail client does; True if accepted."""
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        try:
            client.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def cache_hits(daemon):
    address = next(re.search(r"metrics endpoint at (http://\S+)", line).group(1)
                   for line in daemon.log if "metrics endpoint at" in line)
    body = urllib.request.urlopen(address, timeout=10).read().decode()
    return int(re.search(r"^leak_auth_cache_hits_total (\d+)$", body, re.M).group(1))


def reload(daemon):
    result = daemon.cli("reload")
    assert result.returncode == 0, result.stdout + result.stderr


def test_repeated_login_is_served_from_the_cache_until_the_password_changes(make_daemon):
    daemon = make_daemon(extra=METRICS)
    assert login(daemon, "alice", PASSWORD)
    assert cache_hits(daemon) == 0, "the first login runs argon2id"
    assert login(daemon, "alice", PASSWORD)
    assert login(daemon, "alice@anon.test", PASSWORD)
    assert cache_hits(daemon) == 2
    # A wrong password is never answered from the cache, nor remembered.
    assert not login(daemon, "alice", "not the password")
    assert cache_hits(daemon) == 2

    changed = daemon.cli("user", "passwd", "alice", "--password-stdin", input="a new passphrase\n")
    assert changed.returncode == 0, changed.stderr
    reload(daemon)
    assert not login(daemon, "alice", PASSWORD), "the old password is refused right after the reload"
    assert login(daemon, "alice", "a new passphrase")
    assert login(daemon, "alice", "a new passphrase")
    assert not login(daemon, "alice", PASSWORD)
    assert cache_hits(daemon) == 3


def test_a_removed_account_stops_at_the_reload(make_daemon):
    daemon = make_daemon(extra=METRICS)
    added = daemon.cli("user", "add", "bob", "--password-stdin", input="bob-password\n")
    assert added.returncode == 0, added.stderr
    reload(daemon)
    assert login(daemon, "bob", "bob-password")
    assert login(daemon, "bob", "bob-password")
    assert cache_hits(daemon) == 1
    assert daemon.cli("user", "remove", "bob").returncode == 0
    reload(daemon)
    assert not login(daemon, "bob", "bob-password")
    assert login(daemon, "alice", PASSWORD), "other accounts still log in"


def test_zero_ttl_turns_the_cache_off(make_daemon):
    daemon = make_daemon(extra=METRICS, limits={"auth_cache_ttl": "0s"})
    for _ in range(3):
        assert login(daemon, "alice", PASSWORD)
    assert cache_hits(daemon) == 0
