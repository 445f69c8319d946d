"""DANE (RFC 7672) through the real daemon: a BIND9 authoritative server
with a zone signed by dnssec-keygen/dnssec-signzone, whose key-signing key
leak trusts through `dns.dnssec_trust_anchor`; aiosmtpd receivers with
certificates made here by openssl.

- ee.dane.test → mx-good (127.0.0.3), TLSA 3 1 1 of its key → delivered;
- ta.dane.test → mx-ta (also 127.0.0.3, chain leaf + CA), TLSA 2 0 1 of the
  CA → delivered;
- bad.dane.test → mx-bad (127.0.0.4, another key), TLSA of mx-good's key
  → deferred, never delivered;
- plain.dane.test → mx-plain (127.0.0.5, no STARTTLS), TLSA → deferred;
- none.dane.test → mx-none (127.0.0.6, self-signed), no TLSA → delivered
  (opportunistic TLS);
- req.dane.test → mx-none, but `[[delivery.domain]] tls = "dane"` → deferred;
- bogus.dane.test: its MX record altered after signing → deferred.

TLS-RPT (RFC 8460): bad.dane.test and ee.dane.test publish
`_smtp._tls` with a `mailto:` rua at reports.dane.test (MX mx-none), and
plain.dane.test one with an `https:` rua (a Python HTTPS server with a
certificate from the test CA, trusted through `delivery.tls_ca_file`); with
`tls_report_interval = "3s"` the reports arrive, gzipped JSON made by
mail-auth, with the failure types. The metrics count deliveries by TLS mode
and failures by type.

`dane = "auto"` (the default): with BIND9 and the trust anchor the probe
validates and DANE applies (mismatch deferred, match delivered); behind
dnsmasq (no DNSSEC) or a proxy that strips DNSSEC records it stays off with
a WARN, `leak status` and `leak_dane_active` saying so; a signed root zone
of our own shows the probe's root branch."""

import gzip
import http.server
import json
import pathlib
import re
import threading
import urllib.request
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest
from aiosmtpd.controller import Controller

from conftest import PASSWORD, Sink, free_port, wait_for
from email import message_from_bytes
from email.header import decode_header, make_header

GOOD, BAD, PLAIN, NONE = "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"


def run(*args, cwd=None):
    return subprocess.run(list(args), check=True, capture_output=True, text=True,
                          cwd=cwd).stdout


def make_certs(folder):
    """A CA, mx-good's certificate from it (names mx-good and mx-ta), a
    self-signed one for mx-bad and mx-none; returns the hex SHA-256 of
    mx-good's SPKI and of the CA certificate, as openssl computes them."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", f"{folder}/ca.key", "-out",
        f"{folder}/ca.pem", "-days", "2", "-subj", "/CN=leak DANE test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", *ec, "-keyout", f"{folder}/good.key", "-out",
        f"{folder}/good.csr", "-subj", "/CN=mx-good.dane.test")
    pathlib.Path(folder, "good.ext").write_text(
        "subjectAltName=DNS:mx-good.dane.test,DNS:mx-ta.dane.test\n"
        "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", f"{folder}/good.csr", "-CA", f"{folder}/ca.pem",
        "-CAkey", f"{folder}/ca.key", "-CAcreateserial", "-days", "2",
        "-out", f"{folder}/good.pem", "-extfile", f"{folder}/good.ext")
    chain = pathlib.Path(folder, "good.pem").read_text() + \
        pathlib.Path(folder, "ca.pem").read_text()
    pathlib.Path(folder, "good-chain.pem").write_text(chain)
    run("openssl", "req", "-x509", *ec, "-keyout", f"{folder}/other.key", "-out",
        f"{folder}/other.pem", "-days", "2", "-subj", "/CN=mx-bad.dane.test",
        "-addext", "subjectAltName=DNS:mx-bad.dane.test,DNS:mx-none.dane.test")
    run("openssl", "req", *ec, "-keyout", f"{folder}/web.key", "-out",
        f"{folder}/web.csr", "-subj", "/CN=reports.dane.test")
    pathlib.Path(folder, "web.ext").write_text(
        "subjectAltName=DNS:reports.dane.test\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", f"{folder}/web.csr", "-CA", f"{folder}/ca.pem",
        "-CAkey", f"{folder}/ca.key", "-CAcreateserial", "-days", "2",
        "-out", f"{folder}/web.pem", "-extfile", f"{folder}/web.ext")
    spki = subprocess.run(
        f"openssl x509 -in {folder}/good.pem -pubkey -noout | openssl pkey -pubin "
        "-outform der | openssl dgst -sha256 -r", shell=True, check=True,
        capture_output=True, text=True).stdout.split()[0]
    ca = subprocess.run(
        f"openssl x509 -in {folder}/ca.pem -outform der | openssl dgst -sha256 -r",
        shell=True, check=True, capture_output=True, text=True).stdout.split()[0]
    return spki, ca


def tls_context(folder, chain, key):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{folder}/{chain}", f"{folder}/{key}")
    return context


def signed_zone(folder, spki, ca, web_port):
    """Signs dane.test (NSEC) with a key-signing and a zone-signing key;
    returns the trust anchor file: both DNSKEY records as dnssec-keygen
    wrote them (hickory trusts a DNSKEY RRset without asking the parent for
    DS records only when every key in it is an anchor)."""
    ksk = run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K", folder,
              "dane.test").strip()
    zsk = run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-K", folder,
              "dane.test").strip()
    zone = f"""$TTL 300
@ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300
@ IN NS ns.dane.test.
ns IN A 127.0.0.1
ee IN MX 10 mx-good.dane.test.
ta IN MX 10 mx-ta.dane.test.
bad IN MX 10 mx-bad.dane.test.
plain IN MX 10 mx-plain.dane.test.
none IN MX 10 mx-none.dane.test.
req IN MX 10 mx-none.dane.test.
bogus IN MX 10 mx-good.dane.test.
mx-good IN A {GOOD}
mx-ta IN A {GOOD}
mx-bad IN A {BAD}
mx-plain IN A {PLAIN}
mx-none IN A {NONE}
_25._tcp.mx-good IN TLSA 3 1 1 {spki}
_25._tcp.mx-ta IN TLSA 2 0 1 {ca}
_25._tcp.mx-bad IN TLSA 3 1 1 {spki}
_25._tcp.mx-plain IN TLSA 3 1 1 {spki}
reports IN MX 10 mx-none.dane.test.
reports IN A 127.0.0.1
_smtp._tls.bad IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.dane.test"
_smtp._tls.ee IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.dane.test"
_smtp._tls.plain IN TXT "v=TLSRPTv1; rua=https://reports.dane.test:{web_port}/v1/tlsrpt"
$INCLUDE {ksk}.key
$INCLUDE {zsk}.key
"""
    pathlib.Path(folder, "dane.test.zone").write_text(zone)
    run("dnssec-signzone", "-q", "-O", "full", "-o", "dane.test", "-k", f"{ksk}.key", "-f",
        "dane.test.signed", "dane.test.zone", f"{zsk}.key", cwd=folder)
    # bogus.dane.test: its MX changed after signing, so its RRSIG fails.
    signed = pathlib.Path(folder, "dane.test.signed")
    lines = signed.read_text().splitlines()
    altered = [line.replace("mx-good.dane.test.", "mx-bad.dane.test.")
               if line.split()[:1] == ["bogus.dane.test."] and line.split()[3:4] == ["MX"]
               else line for line in lines]
    assert altered != lines, "the bogus MX line was found"
    signed.write_text("\n".join(altered) + "\n")
    anchor = pathlib.Path(folder, "anchor.keys")
    anchor.write_text(pathlib.Path(folder, f"{ksk}.key").read_text()
                      + pathlib.Path(folder, f"{zsk}.key").read_text())
    return str(anchor)


def start_named(folder, zone="dane.test"):
    """named -g on 127.0.0.1 and a free port, primary for `zone` (from
    `<zone>.signed`); polls with dig until it answers."""
    port = free_port(socket.SOCK_DGRAM, "127.0.0.1")
    pathlib.Path(folder, "named.conf").write_text(f"""
options {{
    directory "{folder}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    pid-file none;
    session-keyfile none;
    managed-keys-directory "{folder}";
}};
zone "{zone}" {{ type primary; file "{zone.strip('.') or 'root'}.signed"; }};
""")
    named = subprocess.Popen([shutil.which("named") or "/usr/sbin/named", "-g", "-c",
                              f"{folder}/named.conf"],
                             stdout=subprocess.DEVNULL, stderr=open(f"{folder}/named.log", "w"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert named.poll() is None, pathlib.Path(folder, "named.log").read_text()
        answer = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1",
                                 "+tries=1", "SOA", zone], capture_output=True, text=True)
        if answer.returncode == 0 and " hostmaster." in answer.stdout:
            return named, port
        time.sleep(0.2)
    named.kill()
    raise RuntimeError("named did not answer:\n" + pathlib.Path(folder, "named.log").read_text())


@pytest.fixture
def dane_world():
    folder = tempfile.mkdtemp(prefix="leak-dane-")
    spki, ca = make_certs(folder)
    posted = []

    class ReportHandler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posted.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReportHandler)
    web.socket = tls_context(folder, "web.pem", "web.key").wrap_socket(web.socket,
                                                                        server_side=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    anchor = signed_zone(folder, spki, ca, web.server_address[1])
    named, dns_port = start_named(folder)
    port = free_port(socket.SOCK_STREAM, GOOD)
    sinks = {name: Sink() for name in ("good", "bad", "plain", "none")}
    controllers = [
        Controller(sinks["good"], hostname=GOOD, port=port,
                   tls_context=tls_context(folder, "good-chain.pem", "good.key")),
        Controller(sinks["bad"], hostname=BAD, port=port,
                   tls_context=tls_context(folder, "other.pem", "other.key")),
        Controller(sinks["plain"], hostname=PLAIN, port=port),
        Controller(sinks["none"], hostname=NONE, port=port,
                   tls_context=tls_context(folder, "other.pem", "other.key")),
    ]
    for controller in controllers:
        controller.start()
    yield sinks, port, f"127.0.0.1:{dns_port}", anchor, f"{folder}/ca.pem", posted
    for controller in controllers:
        controller.stop()
    web.shutdown()
    named.terminate()
    named.wait(10)
    shutil.rmtree(folder, ignore_errors=True)


def submit(daemon, recipients, subject):
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls()
        client.login("alice", PASSWORD)
        assert client.sendmail("a@b.example", recipients,
                               f"From: a@b.example\r\nSubject: {subject}\r\n\r\nhello\r\n") == {}


def deferred(daemon):
    result = daemon.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {r["address"]: r["last_error"] for m in json.loads(result.stdout)
            for r in m["recipients"] if r["status"] == "deferred"}


def test_dane_authenticates_mx_hosts_by_their_tlsa_records(make_daemon, dane_world):
    sinks, port, nameserver, anchor, ca, posted = dane_world
    daemon = make_daemon(
        nameserver=nameserver, mx_port=port, limits={"max_recipients": 10},
        delivery_extra=f'dane = true\ntls_report_interval = "3s"\ntls_ca_file = "{ca}"\n'
                       '[[delivery.domain]]\nname = "req.dane.test"\ntls = "dane"',
        extra=f'dnssec_trust_anchor = "{anchor}"\n[metrics]\nbind = "127.0.0.1:0"\n')
    domains = ["ee", "ta", "bad", "plain", "none", "req", "bogus"]
    submit(daemon, [f"bob@{d}.dane.test" for d in domains], "dane-1")
    rcpts = lambda name: sorted(r for m in sinks[name].messages for r in m.rcpt_tos)
    expected_deferred = {f"bob@{d}.dane.test" for d in ("bad", "plain", "req", "bogus")}
    assert wait_for(lambda: rcpts("good") == ["bob@ee.dane.test", "bob@ta.dane.test"]
                    and rcpts("none") == ["bob@none.dane.test"]
                    and set(deferred(daemon)) == expected_deferred, 60), \
        (rcpts("good"), rcpts("none"), deferred(daemon), "".join(daemon.log[-40:]))
    errors = deferred(daemon)
    assert errors["bob@bad.dane.test"].startswith("451 4.7.5"), errors
    assert "matches no TLSA record" in errors["bob@bad.dane.test"], errors
    assert "does not offer STARTTLS" in errors["bob@plain.dane.test"], errors
    assert errors["bob@req.dane.test"].startswith("451 4.7.5 no MX host passed DANE"), errors
    assert "dnssec" in errors["bob@bogus.dane.test"].lower(), errors
    # Nothing reached the receivers DANE refused, not even a connection's
    # transaction: the certificate check ends the session before MAIL.
    assert sinks["bad"].messages == [] and sinks["bad"].rcpts == []
    assert sinks["plain"].messages == [] and sinks["plain"].rcpts == []
    # mx-none has no TLSA records: the DANE-required domain never reached it.
    assert [r for r in rcpts("none") if r.startswith("bob@")] == ["bob@none.dane.test"]

    # TLS-RPT: the mail reports (bad.dane.test, ee.dane.test) and the POST.
    reports = lambda: [m for m in sinks["none"].messages
                       if m.rcpt_tos == ["tlsrpt@reports.dane.test"]]
    assert wait_for(lambda: len(reports()) == 2 and posted, 30), \
        (len(reports()), posted, "".join(daemon.log[-30:]))
    by_domain = {}
    for envelope in reports():
        assert envelope.mail_from in ("", "<>"), "null envelope sender"
        message = message_from_bytes(envelope.original_content)
        domain = message["TLS-Report-Domain"]
        assert message["TLS-Report-Submitter"] == "anon.test"
        subject = str(make_header(decode_header(message["Subject"])))
        assert re.fullmatch(rf"Report Domain: {re.escape(domain)} Submitter: anon\.test "
                            r"Report-ID: <\S+>", subject), subject
        assert "d=anon.test" in message["DKIM-Signature"].replace(" ", "")
        assert message.get_content_type() == "multipart/report"
        assert message.get_param("report-type") == "tlsrpt"
        part = next(p for p in message.walk()
                    if p.get_content_type() == "application/tlsrpt+gzip")
        by_domain[domain] = json.loads(gzip.decompress(part.get_payload(decode=True)))
    assert set(by_domain) == {"bad.dane.test", "ee.dane.test"}, by_domain
    bad = by_domain["bad.dane.test"]["policies"]
    assert len(bad) == 1, bad
    assert bad[0]["policy"]["policy-type"] == "tlsa"
    assert bad[0]["policy"]["policy-domain"] == "bad.dane.test"
    assert bad[0]["summary"] == {"total-successful-session-count": 0,
                                 "total-failure-session-count": 1}, bad
    [detail] = bad[0]["failure-details"]
    assert detail["result-type"] == "validation-failure", detail
    assert detail["receiving-mx-hostname"] == "mx-bad.dane.test", detail
    assert detail["failed-session-count"] == 1
    ee = by_domain["ee.dane.test"]["policies"][0]
    assert ee["summary"]["total-successful-session-count"] == 1, ee
    assert ee["failure-details"] == [], ee
    assert any(s.startswith("3 1 1 ") for s in ee["policy"]["policy-string"]), ee
    [(path, content_type, body)] = posted
    assert (path, content_type) == ("/v1/tlsrpt", "application/tlsrpt+gzip")
    plain = json.loads(gzip.decompress(body))
    assert plain["policies"][0]["failure-details"][0]["result-type"] == \
        "starttls-not-supported", plain
    assert "bob@" not in json.dumps(by_domain) + json.dumps(plain), "no addresses in reports"

    # Metrics: deliveries by TLS mode, failures by type.
    address = next(re.search(r"metrics endpoint at (http://\S+)", line).group(1)
                   for line in daemon.log if "metrics endpoint at" in line)
    text = urllib.request.urlopen(address, timeout=10).read().decode()

    def sample(name, label):
        found = re.search(rf'^{name}_total\{{{label}\}} (\d+)', text, re.M)
        assert found, (name, label, text)
        return int(found.group(1))

    assert sample("leak_delivery_tls", 'mode="dane"') == 2
    assert sample("leak_delivery_tls", 'mode="plaintext"') == 0
    assert sample("leak_delivery_tls", 'mode="opportunistic"') >= 1
    assert sample("leak_delivery_tls_failures", 'type="validation-failure"') == 1
    assert sample("leak_delivery_tls_failures", 'type="starttls-not-supported"') == 1
    assert sample("leak_delivery_tls_failures", 'type="dnssec-invalid"') == 1
    assert sample("leak_delivery_tls_failures", 'type="dane-required"') == 1


def status(daemon):
    result = daemon.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def metric(daemon, name):
    address = next(re.search(r"metrics endpoint at (http://\S+)", line).group(1)
                   for line in daemon.log if "metrics endpoint at" in line)
    text = urllib.request.urlopen(address, timeout=10).read().decode()
    found = re.search(rf"^{name} (\d+)", text, re.M)
    assert found, (name, text)
    return int(found.group(1))


def test_dane_auto_turns_itself_on_when_the_resolver_passes_dnssec(make_daemon, dane_world):
    """No `dane` key: the probe validates dane.test's SOA through BIND9 (the
    root is refused there, one validated zone is enough), so DANE applies
    exactly as with `dane = true`: a TLSA mismatch is deferred, a match
    delivered."""
    sinks, port, nameserver, anchor, ca, posted = dane_world
    daemon = make_daemon(
        nameserver=nameserver, mx_port=port, limits={"max_recipients": 10},
        extra=f'dnssec_trust_anchor = "{anchor}"\n[metrics]\nbind = "127.0.0.1:0"\n')
    assert "dane" not in daemon.config.read_text().split("[dns]")[0], "default config"
    submit(daemon, ["bob@ee.dane.test", "bob@bad.dane.test"], "dane-auto")
    rcpts = lambda name: sorted(r for m in sinks[name].messages for r in m.rcpt_tos)
    assert wait_for(lambda: rcpts("good") == ["bob@ee.dane.test"]
                    and set(deferred(daemon)) == {"bob@bad.dane.test"}, 60), \
        (rcpts("good"), deferred(daemon), "".join(daemon.log[-40:]))
    assert "matches no TLSA record" in deferred(daemon)["bob@bad.dane.test"]
    assert sinks["bad"].messages == [] and sinks["bad"].rcpts == []
    report = status(daemon)
    assert report["dane_active"] is True, report
    assert report["dane"].startswith("active (auto: "), report
    assert "dane.test." in report["dane"], report
    text = daemon.cli("status").stdout
    assert re.search(r"^dane: +active \(auto: DNSSEC validation works", text, re.M), text
    assert metric(daemon, "leak_dane_active") == 1
    assert any("DANE active" in line for line in daemon.log)
    assert not any("DANE inactive" in line for line in daemon.log)


def test_dane_auto_stays_off_behind_a_resolver_without_dnssec(make_daemon, mx_and_dns):
    """dnsmasq serves no DNSSEC (and refuses the root): with the default
    config the probe fails, a WARN says why and what to do, `leak status`
    and the metric say DANE is inactive, and mail goes out as before."""
    handler, port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=port,
                         extra='[metrics]\nbind = "127.0.0.1:0"\n')
    warning = lambda: [line for line in daemon.log if "DANE inactive" in line]
    assert wait_for(warning, 30), "".join(daemon.log)
    [line] = warning()
    assert "WARN" in line, line
    assert "delivery.dane = true" in line and "passes DNSSEC records on" in line, line
    report = status(daemon)
    assert report["dane_active"] is False, report
    assert report["dane"].startswith("inactive (auto: DNSSEC validation does not work"), report
    text = daemon.cli("status").stdout
    assert re.search(r"^dane: +inactive \(auto: .*the root zone: lookup failed", text, re.M), text
    assert metric(daemon, "leak_dane_active") == 0
    submit(daemon, ["bob@example.test"], "dane-auto-off")
    assert wait_for(lambda: [r for m in handler.messages for r in m.rcpt_tos]
                    == ["bob@example.test"], 30), "".join(daemon.log[-30:])
    # A reload probes again (and warns again: still no DNSSEC).
    assert daemon.cli("reload").returncode == 0
    assert wait_for(lambda: len(warning()) == 2, 30), "".join(daemon.log[-20:])


class StrippingResolver:
    """A DNS proxy in front of BIND9 that drops every DNSSEC record (RRSIG,
    NSEC, NSEC3) from the answers, as old or misconfigured resolvers and
    middleboxes do, and as an attacker on the path to the resolver can."""

    STRIPPED = {"RRSIG", "NSEC", "NSEC3"}

    def __init__(self, upstream):
        import dns.message  # dnspython, which dkimpy depends on
        import dns.query
        self.message, self.query = dns.message, dns.query
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                data, client = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            try:
                query = self.message.from_wire(data)
                answer = self.query.udp(query, self.upstream[0], port=self.upstream[1],
                                        timeout=2)
            except Exception:  # noqa: BLE001 - no answer, as a broken resolver
                continue
            for section in (answer.answer, answer.authority, answer.additional):
                section[:] = [rrset for rrset in section
                              if rrset.rdtype.name not in self.STRIPPED]
            self.sock.sendto(answer.to_wire(), client)

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


def test_dane_auto_is_off_behind_a_resolver_that_strips_dnssec(make_daemon, dane_world):
    """The case `auto` exists for, and its price. Behind a resolver that
    strips DNSSEC records, `dane = true` defers even the mail of domains
    without TLSA records (every lookup is bogus); the default `auto` sees
    that the trusted zone no longer validates, turns DANE off, and delivers
    with opportunistic TLS — including to the MX whose certificate the
    TLSA record would have refused: whoever strips DNSSEC between leak and
    its resolver turns DANE off (docs/operations.md says so; operators who
    want fail-closed keep `dane = true`)."""
    sinks, port, nameserver, anchor, ca, posted = dane_world
    stripping = StrippingResolver(nameserver)
    try:
        common = dict(nameserver=stripping.address, mx_port=port,
                      limits={"max_recipients": 10},
                      extra=f'dnssec_trust_anchor = "{anchor}"\n')
        always = make_daemon(delivery_extra="dane = true", **common)
        submit(always, ["bob@none.dane.test", "bob@bad.dane.test"], "dane-strip-true")
        assert wait_for(lambda: set(deferred(always)) ==
                        {"bob@none.dane.test", "bob@bad.dane.test"}, 60), \
            (deferred(always), "".join(always.log[-30:]))
        assert "dnssec" in deferred(always)["bob@none.dane.test"].lower(), deferred(always)
        assert always.stop() == 0
        assert sinks["none"].messages == [] and sinks["bad"].messages == []

        auto = make_daemon(**common)
        assert wait_for(lambda: any("DANE inactive" in line for line in auto.log), 30), \
            "".join(auto.log)
        warning = next(line for line in auto.log if "DANE inactive" in line)
        assert "dane.test.: " in warning and "the root zone: " in warning, warning
        submit(auto, ["bob@none.dane.test", "bob@bad.dane.test"], "dane-strip-auto")
        rcpts = lambda name: sorted(r for m in sinks[name].messages for r in m.rcpt_tos)
        assert wait_for(lambda: rcpts("none") == ["bob@none.dane.test"]
                        and rcpts("bad") == ["bob@bad.dane.test"], 60), \
            (rcpts("none"), rcpts("bad"), deferred(auto), "".join(auto.log[-30:]))
        assert status(auto)["dane_active"] is False
    finally:
        stripping.close()


def test_dane_auto_probe_validates_the_root_zone(make_daemon):
    """The probe's root branch, which a real resolver answers: here a BIND9
    serving a root zone signed with keys of our own, given as the trust
    anchor (hickory adds root keys of the file to the IANA ones). The SOA
    of `.` validates, so DANE turns itself on."""
    folder = tempfile.mkdtemp(prefix="leak-root-")
    try:
        keys = [run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", *flag, "-K", folder,
                    ".").strip() for flag in (["-f", "KSK"], [])]
        includes = "".join(f"$INCLUDE {key}.key\n" for key in keys)
        pathlib.Path(folder, "root.zone").write_text(
            "$TTL 300\n. IN SOA ns.root.test. hostmaster.root.test. 1 3600 600 86400 300\n"
            ". IN NS ns.root.test.\nns.root.test. IN A 127.0.0.1\n" + includes)
        run("dnssec-signzone", "-q", "-O", "full", "-o", ".", "-k", f"{keys[0]}.key", "-f",
            "root.signed", "root.zone", f"{keys[1]}.key", cwd=folder)
        anchor = pathlib.Path(folder, "root-anchor.keys")
        anchor.write_text("".join(pathlib.Path(folder, f"{key}.key").read_text()
                                  for key in keys))
        named, dns_port = start_named(folder, zone=".")
        try:
            daemon = make_daemon(nameserver=f"127.0.0.1:{dns_port}",
                                 extra=f'dnssec_trust_anchor = "{anchor}"\n')
            assert wait_for(lambda: status(daemon)["dane"] != "auto, probing whether DNSSEC "
                            "validation works through dns.nameservers", 30)
            report = status(daemon)
            assert report["dane_active"] is True, (report, "".join(daemon.log))
            assert report["dane"].endswith("the SOA of the root zone validated)"), report
        finally:
            named.terminate()
            named.wait(10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
