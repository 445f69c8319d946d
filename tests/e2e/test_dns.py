"""`leak dns records` and `leak dns check` through the real binary, against a
real DNS server (dnsmasq) on loopback serving what the operator published."""

import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import DOMAIN, free_port

HOST = "mail.anon.test"
# Only published in DNS data, never connected to (TEST-NET-1, RFC 5737):
# hickory answers every 127.0.0.0/8 reverse lookup with "localhost" itself.
ADDRESS = "192.0.2.25"


def parse_records(text):
    """(name, type, [strings or rdata]) for every non-comment line."""
    records = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        name, _in, kind, rdata = line.split(None, 3)
        if kind == "TXT":
            values = re.findall(r'"([^"]*)"', rdata)
        else:
            values = [rdata]
        records.append((name.rstrip("."), kind, values))
    return records


class Dnsmasq:
    def __init__(self, port, options):
        self.process = subprocess.Popen(
            [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=", *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    return  # dnsmasq holds the port: it is up
            time.sleep(0.05)
        raise AssertionError(self.process.stderr.read().decode())

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def configured(make_daemon):
    port = free_port(socket.SOCK_DGRAM, "127.0.0.1")
    daemon = make_daemon(start=False, nameserver=f"127.0.0.1:{port}")
    published = daemon.cli("dns", "records", "--address", ADDRESS)
    assert published.returncode == 0, published.stderr
    servers = []
    yield daemon, port, parse_records(published.stdout), servers
    for server in servers:
        server.stop()


def txt_options(records, skip=()):
    options = []
    for name, kind, values in records:
        if kind == "TXT" and name not in skip:
            # On dnsmasq's command line quotes are literal: each comma starts a string.
            assert not any("," in v for v in values)
            options.append("--txt-record=" + ",".join([name, *values]))
    return options


def test_records_name_every_record_with_dkim_split_for_zone_files(configured):
    daemon, _port, records, _servers = configured
    kinds = {(name, kind) for name, kind, _ in records}
    assert (DOMAIN, "MX") in kinds
    assert (f"_dmarc.{DOMAIN}", "TXT") in kinds
    assert (HOST, "A") in kinds
    assert ("25.2.0.192.in-addr.arpa", "PTR") in kinds
    spf = [v for n, k, v in records if n == DOMAIN and k == "TXT"]
    assert spf == [[f"v=spf1 ip4:{ADDRESS} -all"]]
    dkim = {n: v for n, k, v in records if "._domainkey." in n}
    assert set(dkim) == {f"leak-ed._domainkey.{DOMAIN}", f"leak-rsa._domainkey.{DOMAIN}"}
    rsa = dkim[f"leak-rsa._domainkey.{DOMAIN}"]
    assert len(rsa) >= 2 and all(len(s) <= 255 for s in rsa), rsa
    # The joined strings are exactly what `leak dkim dns` prints on one line.
    one_line = daemon.cli("dkim", "dns").stdout
    assert "".join(rsa) in one_line


def test_check_passes_when_everything_is_published(configured):
    daemon, port, records, servers = configured
    servers.append(Dnsmasq(port, [f"--mx-host={DOMAIN},{HOST},10",
                                  f"--host-record={HOST},{ADDRESS}", *txt_options(records)]))
    result = daemon.cli("dns", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("ok") for line in lines), result.stdout
    assert any(f"PTR {ADDRESS}" in line for line in lines)


def test_check_names_what_is_missing_or_wrong(configured, tmp_path):
    daemon, port, records, servers = configured
    # DMARC not published, the RSA record holds another key, the PTR names another host.
    wrong_key = [(n, k, ["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0000"])
                 if n.startswith("leak-rsa.") else (n, k, v) for n, k, v in records]
    servers.append(Dnsmasq(port, [f"--mx-host={DOMAIN},{HOST},10",
                                  f"--address=/{HOST}/{ADDRESS}",
                                  "--ptr-record=25.2.0.192.in-addr.arpa,elsewhere.test",
                                  *txt_options(wrong_key, skip={f"_dmarc.{DOMAIN}"})]))
    result = daemon.cli("dns", "check")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert re.search(rf"^missing TXT _dmarc\.{re.escape(DOMAIN)}", out, re.M), out
    assert re.search(r"^wrong\s+TXT leak-rsa\._domainkey", out, re.M), out
    assert re.search(rf"^wrong\s+PTR {re.escape(ADDRESS)}.*elsewhere\.test", out, re.M), out
    assert re.search(r"^ok\s+TXT leak-ed\._domainkey", out, re.M), out
    assert "leak dns records" in result.stderr
