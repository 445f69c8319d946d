"""MTA-STS (RFC 8461) through the real daemon: the TXT record from dnsmasq,
the policy from a Python HTTPS server on loopback (certificate from a test
CA given as `delivery.tls_ca_file`), receivers with matching and
mismatching certificates.

- enforced.test: enforce, MX mx.good.test (valid certificate) → delivered;
- bad.test: enforce, MX mx.bad.test (certificate for another name) → deferred;
- testing.test: testing, MX mx.bad.test → delivered anyway;
- outside.test: enforce, its MX is not in the policy's `mx` → deferred;
- missing.test: the policy server answers 404 → delivered, the failure
  remembered (one fetch for two messages).

TLS-RPT (RFC 8460) beyond `enforce` (test_mta_sts_tls_reports_…): domains
publishing `_smtp._tls` with a `mailto:` rua at reports.test, each
delivered and reported — testing.test (certificate-not-trusted),
mismatch.test (testing, MX outside `mx`: validation-failure), testok.test
(testing, all good: one successful session), missing.test (the policy
server answers 404: sts-policy-fetch-error), invalid.test (policy text
invalid: sts-policy-invalid), untrusted.test (the HTTPS certificate does not
name mta-sts.untrusted.test: sts-webpki-invalid). testok.test is sent
first, so the three failing domains' mail goes out while its verified
session to mx.good.test is kept: reusing it is not a success of theirs."""

import collections
import gzip
import http.server
import json
import pathlib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PASSWORD, Sink, wait_for
from email import message_from_bytes

GOOD, BAD = "127.0.0.3", "127.0.0.4"
POLICIES = {
    "enforced": "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n",
    "bad": "version: STSv1\nmode: enforce\nmx: *.bad.test\nmax_age: 86400\n",
    "testing": "version: STSv1\nmode: testing\nmx: mx.bad.test\nmax_age: 86400\n",
    "outside": "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 86400\n",
}
MX = {"enforced": "mx.good.test", "bad": "mx.bad.test", "testing": "mx.bad.test",
      "outside": "mx.good.test"}
# Served besides POLICIES (the TLS-RPT test's domains); missing.test gets a
# 404, untrusted.test's name is not in the HTTPS certificate.
SERVED = dict(POLICIES,
              mismatch="version: STSv1\nmode: testing\nmx: mx.elsewhere.example\nmax_age: 86400\n",
              testok="version: STSv1\nmode: testing\nmx: mx.good.test\nmax_age: 86400\n",
              invalid="version: STSv1\nmode: strict\nmx: mx.good.test\nmax_age: 86400\n")
REPORTED = {"testing": "mx.bad.test", "mismatch": "mx.good.test", "testok": "mx.good.test",
            "missing": "mx.good.test", "invalid": "mx.good.test",
            "untrusted": "mx.good.test"}


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(folder):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", f"{folder}/ca.key", "-out", f"{folder}/ca.pem",
            "-days", "2", "-subj", "/CN=leak test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    named = [*POLICIES, "mismatch", "testok", "missing", "invalid"]
    https = ",".join(f"DNS:mta-sts.{d}.test" for d in named)
    for name, san in (("good", "DNS:mx.good.test"), ("bad", "DNS:wrong.name.test"),
                      ("https", https)):
        openssl("req", *ec, "-keyout", f"{folder}/{name}.key", "-out", f"{folder}/{name}.csr",
                "-subj", f"/CN={name}")
        ext = pathlib.Path(folder, f"{name}.ext")
        ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{folder}/{name}.csr", "-CA", f"{folder}/ca.pem",
                "-CAkey", f"{folder}/ca.key", "-CAcreateserial", "-days", "2",
                "-out", f"{folder}/{name}.pem", "-extfile", str(ext))


def server_context(folder, name):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{folder}/{name}.pem", f"{folder}/{name}.key")
    return context


def free_tcp_port(address):
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@pytest.fixture
def sts_world():
    folder = tempfile.mkdtemp(prefix="leak-mta-sts-")
    make_certs(folder)
    fetched = collections.Counter()

    class PolicyHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0]
            domain = host.removeprefix("mta-sts.").removesuffix(".test")
            fetched[domain] += 1
            if self.path != "/.well-known/mta-sts.txt" or domain not in SERVED:
                self.send_error(404)
                return
            body = SERVED[domain].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PolicyHandler)
    web.socket = server_context(folder, "https").wrap_socket(web.socket, server_side=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()

    port = free_tcp_port(GOOD)
    sinks = {"good": Sink(), "bad": Sink()}
    controllers = [Controller(sinks["good"], hostname=GOOD, port=port,
                              tls_context=server_context(folder, "good")),
                   Controller(sinks["bad"], hostname=BAD, port=port,
                              tls_context=server_context(folder, "bad"))]
    for controller in controllers:
        controller.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dns_port = probe.getsockname()[1]
    records = [f"--host-record=mx.good.test,{GOOD}", f"--host-record=mx.bad.test,{BAD}"]
    for domain, mx in {**MX, **REPORTED}.items():
        records += [f"--mx-host={domain}.test,{mx},10",
                    f"--txt-record=_mta-sts.{domain}.test,v=STSv1; id=20261204",
                    f"--host-record=mta-sts.{domain}.test,127.0.0.1"]
    for domain in REPORTED:
        records.append(f"--txt-record=_smtp._tls.{domain}.test,"
                       "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test")
    records.append("--mx-host=reports.test,mx.good.test,10")
    dnsmasq = subprocess.Popen(
        [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
         f"--port={dns_port}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--pid-file=", *records],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.3)
    assert dnsmasq.poll() is None, dnsmasq.stderr.read().decode()
    yield sinks, port, f"127.0.0.1:{dns_port}", f"{folder}/ca.pem", web.server_address[1], fetched
    dnsmasq.terminate()
    dnsmasq.wait(10)
    for controller in controllers:
        controller.stop()
    web.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def submit(daemon, recipients, subject):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls()
        client.login("alice", PASSWORD)
        assert client.sendmail("a@b.example", recipients,
                               f"From: a@b.example\r\nSubject: {subject}\r\n\r\nhello\r\n") == {}


def test_mta_sts_policies_are_fetched_cached_and_enforced(make_daemon, sts_world):
    sinks, port, nameserver, ca, web_port, fetched = sts_world
    daemon = make_daemon(nameserver=nameserver, mx_port=port, mta_sts="true",
                         delivery_extra=f'tls_ca_file = "{ca}"\nmta_sts_port = {web_port}')
    submit(daemon, [f"bob@{d}.test" for d in POLICIES], "sts-1")
    good = lambda: [m.rcpt_tos for m in sinks["good"].messages]
    bad = lambda: [m.rcpt_tos for m in sinks["bad"].messages]
    assert wait_for(lambda: good() and bad(), 30), "".join(daemon.log[-30:])
    assert good() == [["bob@enforced.test"]]
    assert bad() == [["bob@testing.test"]], "testing mode delivers over unverified TLS"

    def deferred():
        result = daemon.cli("queue", "list", "--json")
        assert result.returncode == 0, result.stderr
        return {r["address"]: r["last_error"] for m in json.loads(result.stdout)
                for r in m["recipients"] if r["status"] == "deferred"}

    assert wait_for(lambda: set(deferred()) == {"bob@bad.test", "bob@outside.test"}, 30), deferred()
    errors = deferred()
    assert errors["bob@bad.test"].startswith("451 4.7.5"), errors
    assert "certificate not verified" in errors["bob@bad.test"], errors
    assert errors["bob@outside.test"] == \
        "451 4.7.5 no MX host matches the domain's MTA-STS policy", errors
    # Same TXT id: the cached policy is used, not fetched again.
    submit(daemon, ["carol@enforced.test"], "sts-2")
    assert wait_for(lambda: len(good()) == 2, 30), "".join(daemon.log[-30:])
    assert fetched["enforced"] == 1, fetched
    assert len(bad()) == 1
    # A policy that cannot be had (404) is delivered as no policy, and is not
    # asked for again at the next delivery while the TXT id stays.
    for n in (1, 2):
        submit(daemon, ["dave@missing.test"], f"sts-missing-{n}")
        assert wait_for(lambda: len(good()) == 2 + n, 30), "".join(daemon.log[-30:])
    assert good()[-2:] == [["dave@missing.test"]] * 2
    assert fetched["missing"] == 1, fetched


def test_mta_sts_tls_reports_cover_testing_policies_and_policy_failures(make_daemon, sts_world):
    """RFC 8460 for MTA-STS beyond `enforce` failures: every domain below
    is delivered (a testing policy and a policy that cannot be had do not
    stop mail, RFC 8461 §5), and each gets an aggregate report saying how
    its policy fared."""
    sinks, port, nameserver, ca, web_port, fetched = sts_world
    daemon = make_daemon(nameserver=nameserver, mx_port=port, mta_sts="true",
                         limits={"max_recipients": 10},
                         delivery_extra=f'tls_ca_file = "{ca}"\nmta_sts_port = {web_port}\n'
                                        'tls_report_interval = "3s"')
    rcpts = lambda name: sorted(r for m in sinks[name].messages for r in m.rcpt_tos
                                if r.startswith("bob@"))
    # testok.test first: its session to mx.good.test passes the testing
    # policy's check and is kept, and the next domains' mail may go over
    # it. A domain whose policy could not be had must not count that
    # session as a success of its own.
    submit(daemon, ["bob@testok.test"], "sts-report-first")
    assert wait_for(lambda: rcpts("good") == ["bob@testok.test"], 30), "".join(daemon.log[-30:])
    failing = ["missing", "invalid", "untrusted"]
    submit(daemon, [f"bob@{d}.test" for d in failing], "sts-report-failing")
    assert wait_for(lambda: len(rcpts("good")) == 4, 30), "".join(daemon.log[-30:])
    submit(daemon, [f"bob@{d}.test" for d in REPORTED if d not in failing + ["testok"]],
           "sts-report")
    expected_good = sorted(f"bob@{d}.test" for d, mx in REPORTED.items() if mx == "mx.good.test")
    assert wait_for(lambda: rcpts("good") == expected_good
                    and rcpts("bad") == ["bob@testing.test"], 30), \
        (rcpts("good"), rcpts("bad"), "".join(daemon.log[-30:]))

    reports = lambda: [m for m in sinks["good"].messages
                       if m.rcpt_tos == ["tlsrpt@reports.test"]]
    assert wait_for(lambda: len(reports()) == len(REPORTED), 30), \
        (len(reports()), "".join(daemon.log[-30:]))
    by_domain = {}
    for envelope in reports():
        message = message_from_bytes(envelope.original_content)
        part = next(p for p in message.walk()
                    if p.get_content_type() == "application/tlsrpt+gzip")
        report = json.loads(gzip.decompress(part.get_payload(decode=True)))
        [policy] = report["policies"]
        by_domain[message["TLS-Report-Domain"]] = policy
    assert set(by_domain) == {f"{d}.test" for d in REPORTED}, by_domain

    def failure(domain):
        policy = by_domain[f"{domain}.test"]
        assert policy["policy"]["policy-type"] == "sts", policy
        assert policy["summary"] == {"total-successful-session-count": 0,
                                     "total-failure-session-count": 1}, policy
        [detail] = policy["failure-details"]
        return detail["result-type"], detail.get("receiving-mx-hostname"), policy

    kind, mx, policy = failure("testing")
    assert (kind, mx) == ("certificate-not-trusted", "mx.bad.test"), policy
    assert "mode: testing" in policy["policy"]["policy-string"], policy
    assert policy["policy"]["mx-host"] == ["mx.bad.test"], policy
    kind, mx, policy = failure("mismatch")
    assert (kind, mx) == ("validation-failure", "mx.good.test"), policy
    for domain, expected in (("missing", "sts-policy-fetch-error"),
                             ("invalid", "sts-policy-invalid"),
                             ("untrusted", "sts-webpki-invalid")):
        kind, mx, policy = failure(domain)
        assert (kind, mx) == (expected, None), (domain, policy)
    ok = by_domain["testok.test"]
    assert ok["summary"] == {"total-successful-session-count": 1,
                             "total-failure-session-count": 0}, ok
    assert ok["failure-details"] == [], ok
    assert "mode: testing" in ok["policy"]["policy-string"], ok
