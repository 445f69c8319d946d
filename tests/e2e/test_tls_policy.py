"""Per-domain TLS policy `verify` through the real daemon: the MX
certificate must chain to a trusted CA (here the test CA given as
`delivery.tls_ca_file`) and name the MX host; otherwise the mail is
deferred, never sent in clear. Domains without a policy stay opportunistic.

Receivers (aiosmtpd, one port):
- 127.0.0.3 mx.verified.test: CA-signed certificate for its name;
- 127.0.0.4 mx.mismatch.test: CA-signed certificate for another name
  (MX of mismatch.test, policy verify, and of open.test, no policy);
- 127.0.0.5 mx.untrusted.test: self-signed certificate for its name;
- 127.0.0.6 mx.cleartext.test: no STARTTLS."""

import json
import pathlib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PASSWORD, Sink, wait_for

HOSTS = {"verified": "127.0.0.3", "mismatch": "127.0.0.4", "untrusted": "127.0.0.5",
         "cleartext": "127.0.0.6"}


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(folder):
    """A test CA; leaves it signs for mx.verified.test and wrong.name.test;
    a self-signed one for mx.untrusted.test."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", f"{folder}/ca.key", "-out", f"{folder}/ca.pem",
            "-days", "2", "-subj", "/CN=leak test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, dns in (("verified", "mx.verified.test"), ("mismatch", "wrong.name.test")):
        openssl("req", *ec, "-keyout", f"{folder}/{name}.key", "-out", f"{folder}/{name}.csr",
                "-subj", f"/CN={dns}")
        ext = pathlib.Path(folder, f"{name}.ext")
        ext.write_text(f"subjectAltName=DNS:{dns}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{folder}/{name}.csr", "-CA", f"{folder}/ca.pem",
                "-CAkey", f"{folder}/ca.key", "-CAcreateserial", "-days", "2",
                "-out", f"{folder}/{name}.pem", "-extfile", str(ext))
    openssl("req", "-x509", *ec, "-keyout", f"{folder}/untrusted.key",
            "-out", f"{folder}/untrusted.pem", "-days", "2", "-subj", "/CN=mx.untrusted.test",
            "-addext", "subjectAltName=DNS:mx.untrusted.test")


def shared_port():
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((HOSTS["verified"], 0))
            port = probe.getsockname()[1]
        try:
            for address in list(HOSTS.values())[1:]:
                with socket.socket() as other:
                    other.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on every address")


@pytest.fixture
def tls_world():
    folder = tempfile.mkdtemp(prefix="leak-tls-policy-")
    make_certs(folder)
    port = shared_port()
    sinks, controllers = {}, []
    for name, address in HOSTS.items():
        sinks[name] = Sink()
        context = None
        if name != "cleartext":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(f"{folder}/{name}.pem", f"{folder}/{name}.key")
        controllers.append(Controller(sinks[name], hostname=address, port=port, tls_context=context))
    for controller in controllers:
        controller.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dns_port = probe.getsockname()[1]
    records = [f"--mx-host={name}.test,mx.{name}.test,10" for name in HOSTS]
    records += [f"--host-record=mx.{name}.test,{address}" for name, address in HOSTS.items()]
    records += ["--mx-host=open.test,mx.mismatch.test,10"]
    dnsmasq = subprocess.Popen(
        [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
         f"--port={dns_port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--pid-file=", *records],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    assert dnsmasq.poll() is None, dnsmasq.stderr.read().decode()
    yield sinks, port, f"127.0.0.1:{dns_port}", f"{folder}/ca.pem"
    dnsmasq.terminate()
    dnsmasq.wait(10)
    for controller in controllers:
        controller.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_verify_policy_delivers_only_over_authenticated_tls(make_daemon, tls_world):
    sinks, port, nameserver, ca = tls_world
    policies = "".join(f'\n[[delivery.domain]]\nname = "{name}.test"\ntls = "verify"\n'
                       for name in ("verified", "mismatch", "untrusted", "cleartext"))
    daemon = make_daemon(nameserver=nameserver, mx_port=port,
                         delivery_extra=f'tls_ca_file = "{ca}"\n{policies}')
    recipients = ["bob@verified.test", "bob@mismatch.test", "bob@untrusted.test",
                  "bob@cleartext.test", "bob@open.test"]
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls()
        client.login("alice", PASSWORD)
        assert client.sendmail("a@b.example", recipients,
                               "From: a@b.example\r\nSubject: policy\r\n\r\nsecret words\r\n") == {}
    # The verified MX and the opportunistic domain (same MX as mismatch.test,
    # whose certificate names another host) get the message.
    assert wait_for(lambda: sinks["verified"].messages and sinks["mismatch"].messages, 30), \
        "".join(daemon.log[-30:])
    assert sinks["verified"].messages[0].rcpt_tos == ["bob@verified.test"]
    assert [m.rcpt_tos for m in sinks["mismatch"].messages] == [["bob@open.test"]]

    def pending():
        result = daemon.cli("queue", "list", "--json")
        assert result.returncode == 0, result.stderr
        return {r["address"]: r for m in json.loads(result.stdout) for r in m["recipients"]
                if r["status"] == "deferred"}

    wanted = {"bob@mismatch.test", "bob@untrusted.test", "bob@cleartext.test"}
    assert wait_for(lambda: set(pending()) == wanted, 30), pending()
    errors = {a: r["last_error"] for a, r in pending().items()}
    for address, error in errors.items():
        assert error.startswith("451 4.7.5"), errors
    assert "certificate not verified" in errors["bob@mismatch.test"], errors
    assert "certificate not verified" in errors["bob@untrusted.test"], errors
    assert "does not offer STARTTLS" in errors["bob@cleartext.test"], errors
    # Nothing reached the hosts that failed the policy, in clear or otherwise.
    time.sleep(1)
    assert sinks["untrusted"].messages == [] and sinks["cleartext"].messages == []
    assert sinks["cleartext"].rcpts == [] and sinks["untrusted"].rcpts == []
    assert len(sinks["mismatch"].messages) == 1
