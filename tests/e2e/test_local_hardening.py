"""Local hardening (issue 13, items 7 and 8): private file modes whatever
the umask, check-config warnings about exposed secrets, and CLI edge cases
(EPIPE, hostile DKIM selectors, absurd argon2 costs in a hand-edited users
file). Everything through the real binary."""

import os
import pathlib
import shutil
import smtplib
import stat
import subprocess

from conftest import LEAK, TRUSTED_IP, leak, wait_for

CONFESSION = ("From: friend@anon.test\r\nTo: bob@example.test\r\nSubject: a confession\r\n\r\n"
              "Je suis amoureux de toi depuis des annees et je n'ai jamais ose te le dire.\r\n")
ABSURD_HASH = ("$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$"
               "0Rlq3w/rMpwBXIfxs6AQNHxMTXJx2MKZI9WJV0NfR+Y")


def submit(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30,
                      source_address=(TRUSTED_IP, 0)) as client:
        assert client.sendmail("app@real.example", ["bob@example.test"], CONFESSION) == {}


def modes_under(root):
    """(path, kind, mode) for every directory, file and socket under root, root included."""
    found = [(root, "dir", stat.S_IMODE(os.stat(root).st_mode))]
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = pathlib.Path(folder) / name
            st = os.lstat(path)
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "file"
            found.append((path, kind, stat.S_IMODE(st.st_mode)))
    return found


def test_data_dir_is_private_whatever_the_umask(make_daemon):
    previous = os.umask(0o022)
    try:
        daemon = make_daemon(start=False)
        data = daemon.folder / "data"
        # A too-open folder left by an earlier run is tightened, with a warning.
        (data / "segments").mkdir(parents=True)
        os.chmod(data, 0o755)
        os.chmod(data / "segments", 0o777)
        daemon.start()
        submit(daemon)
        assert wait_for(lambda: len(daemon.queue_ids()) == 1)
        daemon.stop()
        first_log = list(daemon.log)
        daemon.start()  # reopening changes nothing
        submit(daemon)
        assert wait_for(lambda: len(daemon.queue_ids()) == 2)
    finally:
        os.umask(previous)
    found = modes_under(data)
    assert any(kind == "file" and path.suffix == ".seg" for path, kind, _ in found), found
    assert any(path.parent.name == "db" for path, kind, _ in found), found
    for path, kind, mode in found:
        if kind == "dir":
            assert mode == 0o700, (path, oct(mode))
        elif kind == "file":
            assert mode == 0o600, (path, oct(mode))
    assert any("permissions tightened" in line and "segments" in line for line in first_log), first_log
    assert not any("permissions tightened" in line for line in daemon.log), daemon.log
    # The admin socket keeps the mode operators' group relies on.
    socket_mode = stat.S_IMODE(os.stat(daemon.folder / "admin.sock").st_mode)
    assert socket_mode == 0o660, oct(socket_mode)
    daemon.stop()


def test_check_config_warns_about_exposed_secrets_and_wide_trusted_networks(make_daemon, tls_files,
                                                                               dkim_keys, tmp_path):
    daemon = make_daemon(start=False)
    text = daemon.config.read_text()
    tls_key = tmp_path / "tls-key.pem"
    shutil.copy(tls_files[1], tls_key)
    os.chmod(tls_key, 0o644)
    dkim_key = tmp_path / "dkim.pem"
    shutil.copy(dkim_keys["leak-ed"][0], dkim_key)
    os.chmod(dkim_key, 0o640)
    users = daemon.folder / "users.toml"
    os.chmod(users, 0o644)
    text = text.replace(f'key = "{tls_files[1]}"', f'key = "{tls_key}"')
    text = text.replace(f'private_key = "{dkim_keys["leak-ed"][0]}"', f'private_key = "{dkim_key}"')
    text = text.replace('trusted_networks = ["127.0.0.2/32"]', 'trusted_networks = ["127.0.0.2/32", "10.0.0.0/8"]')
    daemon.config.write_text(text)
    result = daemon.cli("check-config")
    # Warnings do not fail the check.
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any(w.startswith("warning: tls.key:") and "0644" in w for w in warnings), warnings
    assert any(w.startswith("warning: dkim.key[0].private_key:") and "0640" in w for w in warnings), warnings
    assert any(w.startswith("warning: auth.users_file:") and "readable" in w for w in warnings), warnings
    assert any(w.startswith("warning: auth.trusted_networks[1]:") and "10.0.0.0/8" in w for w in warnings), warnings
    assert not any("trusted_networks[0]" in w or "dkim.key[1]" in w for w in warnings), warnings
    assert len(warnings) == 4, warnings

    # Put right, the warnings go away.
    for path in (tls_key, dkim_key, users):
        os.chmod(path, 0o600)
    daemon.config.write_text(text.replace(', "10.0.0.0/8"', ""))
    result = daemon.cli("check-config")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "ok", ""), result.stderr


def test_check_config_warns_about_a_users_file_owned_by_someone_else(make_daemon):
    daemon = make_daemon(start=False)
    users = daemon.folder / "users.toml"
    if os.geteuid() == 0:
        os.chown(users, 4242, 4242)
    else:
        # Without root, a file only root owns stands in for a foreign one.
        users = pathlib.Path("/etc/hostname")
        daemon.config.write_text(daemon.config.read_text().replace(
            'users_file = "users.toml"', f'users_file = "{users}"'))
    result = daemon.cli("check-config")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: auth.users_file:")]
    assert any("belongs to uid" in w for w in warnings), result.stderr


def closed_pipe_run(*args, config):
    """Runs the CLI with stdout on a pipe whose reading end is already
    closed, as `| head -0` does once head has exited."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([LEAK, *args, "--config", str(config)], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)


def test_cli_piped_into_a_closed_pipe_ends_quietly(daemon):
    submit(daemon)
    assert wait_for(lambda: len(daemon.queue_ids()) == 1)
    for command in (["user", "list"], ["queue", "list"], ["status"], ["optout", "list"]):
        result = closed_pipe_run(*command, config=daemon.config)
        assert result.returncode in (0, -13), (command, result.returncode, result.stderr)
        assert "panicked" not in result.stderr, (command, result.stderr)
    # And the shell form operators type.
    result = subprocess.run(f"'{LEAK}' queue list --config '{daemon.config}' | head -0; "
                            f"'{LEAK}' user list --config '{daemon.config}' | head -0",
                            shell=True, capture_output=True, text=True, timeout=60)
    assert "panicked" not in result.stderr, result.stderr


def test_dkim_selector_must_be_dns_labels(tmp_path):
    for selector in ['a b";x', "a;b", "-lead", "a..b", "x" * 64, ""]:
        out = tmp_path / "key.pem"
        result = leak("dkim", "generate", f"--selector={selector}", "--out", str(out), "--domain", "anon.test")
        assert result.returncode == 1, (selector, result.stdout, result.stderr)
        assert "invalid selector" in result.stderr, result.stderr
        assert result.stdout == "" and not out.exists(), selector
    out = tmp_path / "good.pem"
    result = leak("dkim", "generate", "--selector", "mail-2026.leak", "--out", str(out), "--domain", "anon.test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mail-2026.leak._domainkey.anon.test IN TXT")


def test_absurd_argon2_cost_is_refused_at_load(make_daemon):
    daemon = make_daemon(start=False)
    users = daemon.folder / "users.toml"
    with users.open("a") as file:
        file.write(f'\n[users.mallory]\npassword = "{ABSURD_HASH}"\n')
    result = daemon.cli("check-config")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "auth.users_file:" in result.stdout and "mallory" in result.stdout, result.stdout
    assert "m=1048576" in result.stdout and "m=65536" in result.stdout, result.stdout
    serve = subprocess.run([LEAK, "serve", "--config", str(daemon.config)],
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 1 and "mallory" in serve.stderr, serve.stderr
