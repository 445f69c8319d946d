"""TLS to the cluster's PostgreSQL (issue 18): the server has `ssl = on`
with a certificate for 127.0.0.1 and localhost signed by a test CA made
with openssl, and its pg_hba.conf has `hostssl` lines only, so it refuses
plain TCP. A node that verifies the server against that CA works (SMTP
AUTH of an account added through the CLI, an opt-out seen, `leak status`
healthy); a node that trusts another CA, and one with `sslmode=disable`,
never reach the database and answer the documented temporary replies
(451 4.3.0, 454 for AUTH) while `leak status` says UNREACHABLE. The
server is the same throwaway PostgreSQL as test_cluster.py's."""

import os
import shutil
import smtplib
import subprocess

import pytest

from conftest import LEAK, PASSWORD, wait_for
from test_cluster import Postgres, login, rcpt, trusted

# Listened on too, but not in the certificate: verify-ca accepts it,
# verify-full does not.
OTHER_ADDRESS = "127.0.0.4"
DB_PASSWORD = "pg-password-never-shown"


def openssl(folder, *args):
    result = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def make_ca(folder, name):
    """A self-signed CA: `{name}.pem` and `{name}.key` in `folder`."""
    openssl(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=leak test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return folder / f"{name}.pem"


def make_server_cert(folder, ca):
    """server.crt/server.key for localhost and 127.0.0.1, signed by `ca`."""
    (folder / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl(folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    openssl(folder, "x509", "-req", "-in", "server.csr", "-CA", f"{ca}.pem", "-CAkey",
            f"{ca}.key", "-CAcreateserial", "-out", "server.crt", "-days", "2",
            "-extfile", "server.ext")


@pytest.fixture
def tls_postgres(tmp_path):
    server = Postgres(listen=f"127.0.0.1,{OTHER_ADDRESS}")
    certs = server.folder / "certs"
    certs.mkdir()
    make_ca(certs, "ca")
    make_ca(certs, "other-ca")
    make_server_cert(certs, "ca")
    shutil.chown(certs, "postgres", "postgres")
    for path in certs.iterdir():
        shutil.chown(path, "postgres", "postgres")
    os.chmod(certs / "server.key", 0o600)
    with open(server.data / "postgresql.conf", "a") as conf:
        conf.write(f"\nssl = on\nssl_cert_file = '{certs / 'server.crt'}'\n"
                   f"ssl_key_file = '{certs / 'server.key'}'\n")
    # TCP only with TLS: plain connections find no pg_hba.conf line.
    (server.data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.0/8 trust\n")
    server.start()
    # The nodes read the CA files as root; copies outside the server's folder.
    for name in ("ca.pem", "other-ca.pem"):
        shutil.copy(certs / name, tmp_path / name)
    server.ca = tmp_path / "ca.pem"
    server.other_ca = tmp_path / "other-ca.pem"
    yield server
    server.close()


def url(server, host="127.0.0.1", **options):
    query = "&".join(f"{key}={value}" for key, value in options.items())
    return f"postgres://leak:{DB_PASSWORD}@{host}:{server.port}/postgres?{query}"


def cluster_node(make_daemon, database, secret=None):
    """A node on `database`, not started; its users file is garbage, since a
    cluster node reads its accounts from the database only."""
    node = make_daemon(start=False, extra=f'\n[cluster]\ndatabase = "{database}"\n',
                       add_alice=False)
    (node.folder / "users.toml").write_text("this is [not toml\n")
    return node


def assert_no_password(*texts):
    for text in texts:
        assert DB_PASSWORD not in text, text


def assert_temporary_replies(node):
    """What a node answers while it cannot use the database."""
    client = trusted(node)
    code, text = rcpt(client, "gina@example.test")
    client.quit()
    assert code == 451 and text.startswith("4.3.0"), text
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        login(node, "nobody", "whatever password")
    assert refused.value.smtp_code == 454
    status = node.cli("status")
    assert "postgresql, UNREACHABLE" in status.stdout, status.stdout


def test_a_node_verifying_the_server_works_over_tls(make_daemon, tls_postgres):
    database = url(tls_postgres, sslmode="verify-full", sslrootcert=tls_postgres.ca)
    node = cluster_node(make_daemon, database)
    checked = node.cli("check-config")
    assert checked.returncode == 0 and checked.stdout.strip() == "ok", checked.stdout + checked.stderr
    node.start()
    added = node.cli("user", "add", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert wait_for(lambda: _logs_in(node), 2)
    client = trusted(node)
    assert rcpt(client, "carol@example.test")[0] == 250
    assert node.cli("optout", "add", "carol@example.test").returncode == 0
    code, text = rcpt(client, "carol@example.test")
    assert code == 550 and "asked not to receive" in text
    client.quit()
    # The (garbage) users file is not read on reload either.
    reloaded = node.cli("reload")
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    assert "failed" not in reloaded.stdout + reloaded.stderr, reloaded.stdout + reloaded.stderr
    status = node.cli("status")
    assert "postgresql, reachable" in status.stdout, status.stdout
    assert "sslmode=verify-full: encrypted, CA and host name checked" in status.stdout
    # The server's side: every connection of leak's is encrypted.
    sessions = tls_postgres.sql(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.application_name = 'leak'").split()
    assert sessions and set(sessions) == {"t"}, sessions
    assert_no_password(*node.log)


def _logs_in(node):
    try:
        login(node).quit()
        return True
    except smtplib.SMTPAuthenticationError:
        return False


def test_a_node_trusting_another_ca_answers_temporary_errors(make_daemon, tls_postgres):
    database = url(tls_postgres, sslmode="verify-full", sslrootcert=tls_postgres.other_ca)
    node = cluster_node(make_daemon, database)
    # It starts (a database it cannot use yet is an outage, not a config
    # error) and answers as during an outage.
    node.start()
    assert_temporary_replies(node)
    assert any("invalid peer certificate" in line for line in node.log), node.log[-5:]
    listed = node.cli("user", "list")
    assert listed.returncode != 0 and "invalid peer certificate" in listed.stderr, listed.stderr
    assert_no_password(listed.stderr, *node.log)


def test_sslmode_disable_is_refused_by_a_hostssl_only_server(make_daemon, tls_postgres):
    node = cluster_node(make_daemon, url(tls_postgres, sslmode="disable"))
    listed = node.cli("user", "list")
    assert listed.returncode != 0
    assert "no pg_hba.conf entry" in listed.stderr and "no encryption" in listed.stderr, \
        listed.stderr
    node.start()
    assert_temporary_replies(node)
    assert "sslmode=disable: not encrypted" in node.cli("status").stdout
    assert_no_password(listed.stderr, *node.log)


def test_verify_ca_skips_the_host_name_and_verify_full_does_not(make_daemon, tls_postgres):
    # OTHER_ADDRESS is the same server, but not a name in its certificate.
    verify_ca = cluster_node(make_daemon, url(tls_postgres, host=OTHER_ADDRESS,
                                              sslmode="verify-ca", sslrootcert=tls_postgres.ca))
    listed = verify_ca.cli("user", "list")
    assert listed.returncode == 0, listed.stderr
    verify_full = cluster_node(make_daemon, url(tls_postgres, host=OTHER_ADDRESS,
                                                sslmode="verify-full", sslrootcert=tls_postgres.ca))
    listed = verify_full.cli("user", "list")
    assert listed.returncode != 0 and "not valid for name" in listed.stderr, listed.stderr
    # require without a root certificate: encrypted, nothing checked (libpq's rule).
    require = cluster_node(make_daemon, url(tls_postgres, host=OTHER_ADDRESS, sslmode="require"))
    assert require.cli("user", "list").returncode == 0
    # require with one is verify-ca: another CA is refused.
    pinned = cluster_node(make_daemon, url(tls_postgres, sslmode="require",
                                           sslrootcert=tls_postgres.other_ca))
    listed = pinned.cli("user", "list")
    assert listed.returncode != 0 and "invalid peer certificate" in listed.stderr, listed.stderr


def test_verify_full_without_sslrootcert_uses_the_system_roots(make_daemon, tls_postgres):
    """The system's roots are what rustls-native-certs finds; SSL_CERT_FILE
    stands for a CA installed in /etc/ssl/certs."""
    def user_list(database, **env):
        node = cluster_node(make_daemon, database)
        return subprocess.run([LEAK, "user", "list", "--config", str(node.config)],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, **env))
    for database in (url(tls_postgres, sslmode="verify-full"),
                     url(tls_postgres, sslmode="verify-full", sslrootcert="system")):
        trusted_ca = user_list(database, SSL_CERT_FILE=str(tls_postgres.ca))
        assert trusted_ca.returncode == 0, trusted_ca.stderr
        other_ca = user_list(database, SSL_CERT_FILE=str(tls_postgres.other_ca))
        assert other_ca.returncode != 0 and "invalid peer certificate" in other_ca.stderr, \
            other_ca.stderr


def test_check_config_names_bad_tls_options_without_the_password(make_daemon, tmp_path):
    for options, expected in [
        ({"sslmode": "verify"}, "sslmode `verify` is not one of disable, prefer, require, "
                                "verify-ca, verify-full"),
        ({"sslmode": "verify-full", "sslrootcert": tmp_path / "missing.pem"},
         f"sslrootcert {tmp_path / 'missing.pem'}"),
        ({"sslcert": "/etc/leak/client.pem"}, "option `sslcert` is not supported"),
    ]:
        query = "&".join(f"{key}={value}" for key, value in options.items())
        database = f"postgres://leak:{DB_PASSWORD}@127.0.0.1:5432/leak?{query}"
        node = cluster_node(make_daemon, database)
        checked = node.cli("check-config")
        assert checked.returncode != 0
        assert f"cluster.database: {expected}" in checked.stdout, checked.stdout
        assert_no_password(checked.stdout, checked.stderr)
        # serve refuses the same config before listening.
        served = subprocess.run([LEAK, "serve", "--config",
                                 str(node.config)], capture_output=True, text=True, timeout=60)
        assert served.returncode != 0 and expected in served.stdout + served.stderr
        assert_no_password(served.stdout, served.stderr)
