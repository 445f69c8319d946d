"""End to end: `[log] format = "journald"` sends native journal entries with
the events' fields as journal fields.

journald's socket has a fixed path (/run/systemd/journal/socket), so the
daemon runs in a private mount namespace (`unshare -m`) where a bind mount
puts this test's own datagram socket at that path; the test decodes the
native protocol (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/ in prose:
`KEY=value` lines, or `KEY`, a little-endian 64-bit length and raw bytes)."""

import os
import pathlib
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import LEAK, PASSWORD, Daemon, tls_context


def decode_entry(datagram):
    """One journal entry: {field: value} (the last value of a repeated field)."""
    fields, rest = {}, datagram
    while rest:
        line_end = rest.find(b"\n")
        equals = rest.find(b"=")
        if 0 <= equals < line_end:
            fields[rest[:equals].decode()] = rest[equals + 1:line_end].decode()
            rest = rest[line_end + 1:]
        else:
            name = rest[:line_end].decode()
            (length,) = struct.unpack("<Q", rest[line_end + 1:line_end + 9])
            start = line_end + 9
            fields[name] = rest[start:start + length].decode()
            rest = rest[start + length + 1:]
    return fields


class Journal:
    """A datagram socket standing in for journald, and what it received."""

    def __init__(self, folder):
        self.folder = folder
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(folder / "socket"))
        self.socket.settimeout(0.2)
        self.entries = []

    def collect_until(self, predicate, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(predicate(entry) for entry in self.entries):
                return True
            try:
                self.entries.append(decode_entry(self.socket.recv(65536)))
            except socket.timeout:
                pass
        return False


@pytest.fixture
def journald_daemon(tls_files, dkim_keys):
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to give the daemon a private /run")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="leak-e2e-journald-"))
    journal_dir = folder / "journal"
    journal_dir.mkdir()
    journal = Journal(journal_dir)
    daemon = Daemon(folder, tls_files, dkim_keys, "127.0.0.1:9", extra='[log]\nformat = "journald"\n')
    script = ("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
              f'mount --bind "{journal_dir}" /run/systemd/journal && exec "$0" serve --config "$1"')
    process = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                                LEAK, str(daemon.config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=dict(os.environ, RUST_LOG="info"))
    try:
        yield process, journal
    finally:
        process.kill()
        process.wait()
        journal.socket.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_entries_carry_fields(journald_daemon):
    process, journal = journald_daemon
    assert journal.collect_until(lambda e: e.get("MESSAGE", "").endswith(" ready")), \
        f"no ready entry: {journal.entries}"
    listening = [e for e in journal.entries if e.get("MESSAGE", "").startswith("listening on")]
    port = int(re.search(r":(\d+)", listening[0]["MESSAGE"]).group(1))

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("alice", PASSWORD)

    def authenticated(entry):
        return entry.get("MESSAGE") == "authenticated"

    assert journal.collect_until(authenticated), journal.entries
    login = next(e for e in journal.entries if authenticated(e))
    connection = next(e for e in journal.entries if e.get("MESSAGE") == "connection")
    # The event's fields are journal fields, one session id ties the lines.
    assert login["LEAK_SESSION"] == connection["LEAK_SESSION"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", connection["LEAK_PEER"])
    assert login["SYSLOG_IDENTIFIER"] == "leak"
    assert login["PRIORITY"] == "5", "info is journald's notice"
    # Nothing went to stderr: the journal is the log.
    process.kill()
    assert process.stderr.read() == b""
