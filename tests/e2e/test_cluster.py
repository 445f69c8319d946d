"""Two leak nodes sharing one PostgreSQL (issue 18): accounts, opt-outs and
the per-recipient daily limit hold across nodes, and a database outage
gives the documented temporary replies without losing what was
acknowledged. A real PostgreSQL (Debian's server) runs in a temporary
directory on a loopback port, as the unprivileged `postgres` user (initdb
refuses root); the nodes are real `leak serve` processes and the clients
are smtplib."""

import glob
import os
import pathlib
import secrets
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import PASSWORD, TRUSTED_IP, tls_context, wait_for

BODY = ("From: friend@anon.test\r\nTo: {to}\r\nSubject: hello\r\n\r\n"
        "Bonjour, je voulais simplement te dire merci pour ton aide la semaine derniere.\r\n")


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found (apt-get install postgresql)")
    return found[-1]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL cluster owned by the `postgres` user."""

    def __init__(self, listen="127.0.0.1"):
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="leak-pg-"))
        self.data = self.folder / "data"
        # Comma-separated loopback addresses; the port is free on the first.
        self.listen = listen
        self.port = free_port()
        self.url = f"postgres://leak@127.0.0.1:{self.port}/postgres"
        shutil.chown(self.folder, "postgres", "postgres")
        self.run(pg_bin("initdb"), "-D", str(self.data), "-U", "leak", "--auth=trust",
                 "--no-sync", "-E", "UTF8")

    def run(self, *args):
        command = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def start(self):
        options = f"-h {self.listen} -p {self.port} -k {self.folder} -c fsync=off"
        self.run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                 "-l", str(self.folder / "log"), "-w", "-t", "60", "start")
        ready = lambda: subprocess.run(  # noqa: E731
            [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True).returncode == 0
        assert wait_for(ready, 30), "PostgreSQL did not become ready"

    def sql(self, query):
        """One query through the Unix socket (as `leak`); its rows, tab-separated."""
        return self.run(pg_bin("psql"), "-h", str(self.folder), "-p", str(self.port),
                        "-U", "leak", "-d", "postgres", "-Atc", query).stdout.strip()

    def stop(self):
        self.run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def close(self):
        subprocess.run(["runuser", "-u", "postgres", "--", pg_bin("pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "-w", "-t", "30", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def postgres():
    server = Postgres()
    server.start()
    yield server
    server.close()


@pytest.fixture
def nodes(make_daemon, postgres):
    """Nodes A and B on one database and one consent secret; `alice` is
    added through A only."""
    extra = f'\n[cluster]\ndatabase = "{postgres.url}"\n'
    limits = {"per_recipient_per_day": 5}
    a = make_daemon(start=False, extra=extra, limits=limits)
    b = make_daemon(start=False, extra=extra, limits=limits, add_alice=False)
    secret = secrets.token_hex(32) + "\n"
    for node in (a, b):
        (node.folder / "data").mkdir(mode=0o700, exist_ok=True)
        path = node.folder / "data" / "consent.secret"
        path.write_text(secret)
        os.chmod(path, 0o600)
    a.start()
    b.start()
    return a, b


def login(node, user="alice", password=PASSWORD):
    client = smtplib.SMTP("127.0.0.1", node.ports["starttls"], timeout=60)
    client.starttls(context=tls_context())
    client.login(user, password)
    return client


def trusted(node):
    client = smtplib.SMTP("127.0.0.1", node.ports["none"], timeout=60, source_address=(TRUSTED_IP, 0))
    client.ehlo("app.test")
    return client


def rcpt(client, address):
    """MAIL FROM and RCPT TO `address`: the first reply that is not 250
    (or RCPT's), then RSET."""
    code, text = client.mail("")
    if code == 250:
        code, text = client.rcpt(address)
    client.rset()
    return code, text.decode()


def test_an_account_added_on_one_node_logs_in_on_the_other(nodes):
    a, b = nodes
    login(b).quit()
    added = a.cli("user", "add", "bob", "--password-stdin", input="bobs secret words\n")
    assert added.returncode == 0, added.stderr
    started = time.monotonic()
    while True:
        try:
            login(b, "bob", "bobs secret words").quit()
            break
        except smtplib.SMTPAuthenticationError:
            assert time.monotonic() - started < 1.0, "bob not usable on B within a second"
    listed = b.cli("user", "list")
    assert listed.returncode == 0 and "alice" in listed.stdout and "bob" in listed.stdout
    removed = b.cli("user", "remove", "bob")
    assert removed.returncode == 0, removed.stderr
    assert wait_for(lambda: _login_refused(a, "bob", "bobs secret words"), 2)


def _login_refused(node, user, password):
    try:
        login(node, user, password).quit()
        return False
    except smtplib.SMTPAuthenticationError:
        return True


def test_an_opt_out_made_on_one_node_is_refused_on_the_other_within_a_second(nodes):
    a, b = nodes
    client = trusted(b)
    assert rcpt(client, "carol@example.test")[0] == 250
    added = a.cli("optout", "add", "Carol+news@Example.test")
    assert added.returncode == 0, added.stderr
    started = time.monotonic()
    while rcpt(client, "carol@example.test")[0] == 250:
        assert time.monotonic() - started < 1.0, "opt-out not seen on B within a second"
        time.sleep(0.02)
    code, text = rcpt(client, "carol@example.test")
    assert code == 550 and "asked not to receive" in text
    # Listed on both nodes, removed from B, mail flows again through A.
    assert "cli" in b.cli("optout", "list").stdout
    assert b.cli("optout", "remove", "carol@example.test").returncode == 0
    other = trusted(a)
    assert wait_for(lambda: rcpt(other, "carol@example.test")[0] == 250, 2)
    client.quit()
    other.quit()


def send(node, recipient):
    """One message to `recipient`; the final reply code (RCPT's if refused)."""
    client = trusted(node)
    try:
        client.mail("")
        code, _ = client.rcpt(recipient)
        if code != 250:
            return code
        code, _ = client.data(BODY.format(to=recipient).encode())
        return code
    finally:
        client.quit()


def test_the_daily_recipient_limit_is_exact_across_both_nodes(nodes):
    a, b = nodes
    results = [None] * 16
    barrier = threading.Barrier(len(results), timeout=60)

    def worker(index):
        barrier.wait()
        try:
            results[index] = send((a, b)[index % 2], "dave@example.test")
        except Exception as error:  # reported through the results
            results[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(isinstance(r, int) for r in results), results
    assert results.count(250) == 5, results
    assert results.count(450) == len(results) - 5, results
    assert len(a.queue_ids()) + len(b.queue_ids()) == 5


def test_a_database_outage_gives_temporary_replies_and_loses_nothing(nodes, postgres):
    a, b = nodes
    assert send(a, "erin@example.test") == 250
    queued = {node: node.queue_ids() for node in (a, b)}
    # A transaction whose recipient was checked before the outage.
    open_session = login(b)
    open_session.mail("")
    assert open_session.rcpt("frank@example.test")[0] == 250

    postgres.stop()
    for node in (a, b):
        client = trusted(node)
        assert wait_for(lambda: rcpt(client, "gina@example.test")[0] == 451, 5), node.log[-5:]
        code, text = rcpt(client, "gina@example.test")
        assert text.startswith("4.3.0") and "try again later" in text and "reessayez" in text
        # An authenticated sender's transaction: refused at MAIL or RCPT alike.
        sender = login(node)
        code, text = rcpt(sender, "gina@example.test")
        assert code == 451 and text.startswith("4.3.0"), text
        sender.quit()
        assert "postgres" not in text.lower() and "database" not in text.lower()
        client.quit()
        status = node.cli("status")
        assert "UNREACHABLE" in status.stdout, status.stdout
    # Unknown accounts cannot be checked: a temporary AUTH failure.
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        login(a, "nobody", "whatever password")
    assert refused.value.smtp_code == 454
    # What was accepted before is finished and acknowledged, and stays queued.
    code, _ = open_session.data(BODY.format(to="frank@example.test").encode())
    assert code == 250
    open_session.quit()
    assert queued[a] <= a.queue_ids() and queued[b] < b.queue_ids()

    postgres.start()
    for node in (a, b):
        client = trusted(node)
        assert wait_for(lambda: rcpt(client, "gina@example.test")[0] == 250, 10)
        client.quit()
        assert "postgresql, reachable" in node.cli("status").stdout
    assert send(b, "gina@example.test") == 250


def test_cluster_import_moves_a_single_node_into_the_database(make_daemon, postgres):
    limits = {"per_recipient_per_day": 2}
    single = make_daemon(limits=limits)
    assert single.cli("optout", "add", "hank@example.test").returncode == 0
    # Today's counters come along: ivy has one of her two messages already.
    hour_before = time.gmtime().tm_hour
    assert send(single, "ivy@example.test") == 250
    assert single.stop() == 0
    with open(single.config, "a") as config:
        config.write(f'\n[cluster]\ndatabase = "{postgres.url}"\n')
    first = single.cli("cluster", "import")
    assert first.returncode == 0, first.stderr
    # The recipient's day and the trusted client's hour (only the current
    # windows move: when an hour ended between the send and the import, the
    # client's hour counter is no longer current and stays behind).
    assert "imported 1 of 1 accounts and 1 of 1 opt-outs" in first.stdout, first.stdout
    if time.gmtime().tm_hour == hour_before:
        assert "2 rate counters of the current hour and day" in first.stdout, first.stdout
    else:
        assert "rate counters of the current hour and day" in first.stdout, first.stdout
    again = single.cli("cluster", "import")
    assert again.returncode == 0 and "imported 0 of 1 accounts and 0 of 1 opt-outs" in again.stdout
    other = make_daemon(start=False, extra=f'\n[cluster]\ndatabase = "{postgres.url}"\n',
                        add_alice=False, limits=limits)
    (other.folder / "data").mkdir(mode=0o700)
    shutil.copy(single.folder / "data" / "consent.secret", other.folder / "data" / "consent.secret")
    single.start()
    other.start()
    for node in (single, other):
        login(node).quit()
        client = trusted(node)
        assert rcpt(client, "Hank@example.test")[0] == 550
        client.quit()
    # Importing twice did not double the count: one more, then the limit.
    assert send(other, "ivy@example.test") == 250
    assert send(single, "ivy@example.test") == 450


def test_a_node_with_another_consent_secret_refuses_to_start(make_daemon, postgres):
    extra = f'\n[cluster]\ndatabase = "{postgres.url}"\n'
    first = make_daemon(extra=extra)
    stranger = make_daemon(start=False, extra=extra, add_alice=False)
    with pytest.raises(RuntimeError) as refused:
        stranger.start()
    assert stranger.process.wait(30) != 0
    log = str(refused.value)
    assert "consent secret" in log and "not the one the cluster's database was first used with" in log
    secret = (first.folder / "data" / "consent.secret").read_text().strip()
    assert secret not in log
    assert secret not in postgres.sql("SELECT value FROM leak_settings")
    # Nor can it import its opt-outs (they are keyed under its own secret).
    imported = stranger.cli("cluster", "import")
    assert imported.returncode != 0 and "consent secret" in imported.stderr, imported.stderr
    # Started while the database is down, it never uses it once it is back.
    postgres.stop()
    stranger.start()
    postgres.start()
    status = lambda: stranger.cli("status").stdout  # noqa: E731
    assert wait_for(lambda: "postgresql, REFUSED: this node's consent secret" in status(), 10), \
        status()
    client = trusted(stranger)
    code, text = rcpt(client, "ivan@example.test")
    client.quit()
    assert code == 451 and text.startswith("4.3.0"), text
    assert any("not the one the cluster's database" in line for line in stranger.log)
    stranger.stop()
    # With the cluster's secret, it starts.
    shutil.copy(first.folder / "data" / "consent.secret",
                stranger.folder / "data" / "consent.secret")
    stranger.start()
    login(stranger).quit()
