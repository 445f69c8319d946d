"""Operator commands as CONTRACT.md names them."""

import os
import re
import stat

from conftest import DOMAIN, leak


def test_check_config_ok_and_three_mistakes(daemon, tmp_path):
    result = daemon.cli("check-config")
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
    broken = tmp_path / "broken.toml"
    text = daemon.config.read_text()
    text = text.replace('hostname = "mail.anon.test"', 'hostname = "mail.anon.test"\ncolour = "blue"')
    text = text.replace('tls = "implicit"', 'tls = "sometimes"')
    text = text.replace('max_message_size = "64KB"', 'max_message_size = "64 parsecs"')
    broken.write_text(text.replace('users_file = "users.toml"', f'users_file = "{daemon.folder}/users.toml"'))
    result = leak("check-config", config=broken)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3, result.stdout
    assert lines[0].startswith("server.colour:")
    assert lines[1].startswith("listener[1].tls:")
    assert lines[2].startswith("limits.max_message_size:")


def test_check_config_reports_unusable_files(daemon, tmp_path):
    text = daemon.config.read_text()
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    text = re.sub(r'private_key = ".*leak-ed.pem"', f'private_key = "{bad_key}"', text)
    text = text.replace('data_dir = "data"', f'data_dir = "{daemon.folder}/data"')
    text = text.replace('users_file = "users.toml"', f'users_file = "{daemon.folder}/users.toml"')
    cert_line = next(line for line in text.splitlines() if line.startswith("cert = "))
    text = text.replace(cert_line, f'cert = "{tmp_path}/missing-cert.pem"')
    path = tmp_path / "leak.toml"
    path.write_text(text)
    result = leak("check-config", config=path)
    assert result.returncode == 1
    assert "tls.cert:" in result.stdout and "dkim.key[0].private_key:" in result.stdout, result.stdout


def test_user_add_list_remove(daemon):
    assert daemon.cli("user", "add", "bob", "--password-stdin", input="pw\n").returncode == 0
    users_file = daemon.folder / "users.toml"
    assert stat.S_IMODE(os.stat(users_file).st_mode) == 0o600
    assert "$argon2id$" in users_file.read_text()
    again = daemon.cli("user", "add", "bob", "--password-stdin", input="pw\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    listing = daemon.cli("user", "list").stdout
    assert "alice\tnotify=alice.real@example.org" in listing and "bob" in listing
    assert daemon.cli("user", "remove", "bob").returncode == 0
    assert "bob" not in daemon.cli("user", "list").stdout
    assert daemon.cli("user", "remove", "bob").returncode == 1


def test_dkim_generate_and_dns(daemon, dkim_keys, tmp_path):
    out = tmp_path / "new.pem"
    result = daemon.cli("dkim", "generate", "--selector", "s2026", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf's2026\._domainkey\.{re.escape(DOMAIN)} IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/=]+"',
                        result.stdout.strip())
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in out.read_text()
    refused = daemon.cli("dkim", "generate", "--selector", "s2026", "--out", str(out))
    assert refused.returncode == 1
    dns = daemon.cli("dkim", "dns").stdout.strip().splitlines()
    assert dns == [dkim_keys["leak-ed"][1], dkim_keys["leak-rsa"][1]]
    assert 'k=rsa; p=' in dns[1]


def test_admin_commands_without_daemon_exit_2(make_daemon):
    daemon = make_daemon(start=False)
    for args in (("queue", "list"), ("status",), ("optout", "list")):
        result = daemon.cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
