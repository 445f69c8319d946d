"""Operator commands against the running daemon: the queue, the opt-out
list, status, and SIGHUP reloading accounts."""

import json
import signal
import smtplib
import ssl
import time

from conftest import PASSWORD, TRUSTED_IP, tls_context, wait_for

INSULT = "From: x@anon.test\r\nTo: bob@example.test\r\nSubject: hey\r\n\r\nEspece de sale connard.\r\n"
NOTE = "From: x@anon.test\r\nTo: bob@example.test\r\nSubject: note\r\n\r\nThank you for everything.\r\n"


def submit(daemon, message, rcpt="bob@example.test"):
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0)) as client:
        client.ehlo("ops.test")
        client.mail("app@real.example")
        client.rcpt(rcpt)
        code, text = client.data(message)
        assert code == 250, text
        return text.decode().rsplit(" ", 1)[1]


def queue(daemon):
    result = daemon.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_held_message_waits_for_release_then_is_delivered(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, moderation_action="hold")
    queue_id = submit(daemon, INSULT)
    time.sleep(3)
    assert sink.messages == [], "a held message is never attempted"
    [entry] = queue(daemon)
    assert entry["id"] == queue_id and entry["held"] is True
    assert entry["recipients"][0]["status"] == "queued"
    assert daemon.cli("queue", "release", queue_id).returncode == 0
    assert wait_for(lambda: len(sink.messages) == 1)
    assert wait_for(lambda: queue(daemon) == [])


def test_queue_json_schema_hold_retry_delete(daemon):
    first = submit(daemon, NOTE)
    second = submit(daemon, NOTE, rcpt="carol@example.test")
    entries = {e["id"]: e for e in queue(daemon)}
    assert set(entries) == {first, second}
    entry = entries[first]
    assert set(entry) == {"id", "created", "size", "held", "recipients"}
    assert entry["created"].endswith("Z") and entry["size"] > 0 and entry["held"] is False
    assert set(entry["recipients"][0]) == {"address", "status", "attempts", "next_attempt", "last_error"}

    assert daemon.cli("queue", "hold", first).returncode == 0
    assert {e["id"]: e for e in queue(daemon)}[first]["held"] is True
    shown = json.loads(daemon.cli("queue", "show", first, "--json").stdout)
    assert shown["id"] == first and shown["held"] is True
    assert daemon.cli("queue", "release", first).returncode == 0

    # Wait for the first attempt (DNS times out: deferred), then retry makes it due now.
    assert wait_for(lambda: all(e["recipients"][0]["status"] == "deferred" for e in queue(daemon)), 60)
    assert all(e["recipients"][0]["attempts"] == 1 for e in queue(daemon))
    assert daemon.cli("queue", "retry", "--all").returncode == 0
    # Without the retry the next attempt would be an hour away.
    assert wait_for(lambda: all(e["recipients"][0]["attempts"] == 2 for e in queue(daemon)), 60)

    assert daemon.cli("queue", "delete", first).returncode == 0
    assert [e["id"] for e in queue(daemon)] == [second]
    missing = daemon.cli("queue", "delete", first)
    assert missing.returncode == 1
    assert daemon.cli("queue", "delete", "--all").returncode == 0
    assert queue(daemon) == []
    table = daemon.cli("queue", "list")
    assert table.returncode == 0


def test_status_and_optout_list(daemon):
    status = json.loads(daemon.cli("status", "--json").stdout)
    assert status["version"]
    assert len(status["listeners"]) == 3
    assert daemon.cli("optout", "add", "someone@Example.test").returncode == 0
    listed = daemon.cli("optout", "list")
    assert listed.returncode == 0 and listed.stdout.strip()
    assert daemon.cli("optout", "remove", "someone@example.TEST").returncode == 0


def test_sighup_reloads_accounts(daemon):
    context = tls_context()
    assert daemon.cli("user", "add", "bob", "--password-stdin", input="bob-password\n").returncode == 0

    def login(user, password):
        with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
            client.starttls(context=context)
            try:
                client.login(user, password)
                return True
            except smtplib.SMTPAuthenticationError:
                return False

    assert not login("bob", "bob-password"), "not before SIGHUP"
    daemon.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any("now in force: auth.users_file" in line for line in daemon.log), 20)
    assert login("bob", "bob-password")
    assert login("alice", PASSWORD)


def test_prometheus_metrics(make_daemon):
    import re
    import urllib.request
    daemon = make_daemon(extra='[metrics]\nbind = "127.0.0.1:0"\n')
    address = next(re.search(r"metrics endpoint at (http://\S+)", line).group(1)
                   for line in daemon.log if "metrics endpoint at" in line)
    submit(daemon, NOTE)
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0)) as client:
        client.ehlo("ops.test")
        client.mail("app@real.example")
        client.rcpt("bob@example.test")
        assert client.data(INSULT)[0] == 550
    body = urllib.request.urlopen(address, timeout=10).read().decode()
    assert "leak_messages_accepted_total 1" in body
    assert 'leak_messages_refused_total{reason="moderation"} 1' in body
    assert "leak_queue_messages 1" in body
    assert 'leak_queue_recipients{state="queued"}' in body or 'leak_queue_recipients{state="deferred"} 1' in body
    assert "leak_sessions_open" in body and 'leak_delivery_recipients_total{outcome="delivered"} 0' in body


def make_cert(folder, name):
    import subprocess
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    return cert, key


def served_certificate(port):
    import socket
    context = tls_context()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="mail.anon.test") as tls:
            return tls.getpeercert(binary_form=True)


def test_sighup_reloads_the_tls_certificate_and_keeps_it_when_broken(make_daemon):
    import re
    daemon = make_daemon(start=False)
    cert, key = make_cert(daemon.folder, "first.example")
    text = re.sub(r'^cert = ".*"', f'cert = "{cert}"', daemon.config.read_text(), flags=re.M)
    daemon.config.write_text(re.sub(r'^key = ".*"', f'key = "{key}"', text, flags=re.M))
    daemon.start()
    first = served_certificate(daemon.ports["implicit"])
    assert first == ssl.PEM_cert_to_DER_cert(cert.read_text())
    make_cert(daemon.folder, "second.example")
    daemon.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any(re.search(r"now in force: .*\btls\b", line) for line in daemon.log), 20)
    second = served_certificate(daemon.ports["implicit"])
    assert second != first and second == ssl.PEM_cert_to_DER_cert(cert.read_text())
    cert.write_text("garbage")
    daemon.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any("reload refused" in line for line in daemon.log), 20)
    assert served_certificate(daemon.ports["implicit"]) == second


def test_metrics_parse_as_openmetrics_with_histograms(make_daemon):
    """The exposition parses with the Prometheus project's own parser, keeps
    the old names, and has the histograms, counters and build info."""
    import re
    import urllib.request
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    daemon = make_daemon(extra='[metrics]\nbind = "127.0.0.1:0"\n')
    address = next(re.search(r"metrics endpoint at (http://\S+)", line).group(1)
                   for line in daemon.log if "metrics endpoint at" in line)
    submit(daemon, NOTE)
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        try:
            client.login("alice", "wrong password")
        except smtplib.SMTPAuthenticationError:
            pass
        client.login("alice", PASSWORD)
    response = urllib.request.urlopen(address, timeout=10)
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}

    def sample(family, suffix="", **labels):
        return next(s.value for s in families[family].samples
                    if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items()))

    assert sample("leak_messages_accepted", "_total") == 1
    assert sample("leak_messages_refused", "_total", reason="moderation") == 0
    assert sample("leak_auth_attempts", "_total", result="success") == 1
    # smtplib tries AUTH PLAIN, then AUTH LOGIN, before giving up.
    assert sample("leak_auth_attempts", "_total", result="failure") == 2
    assert sample("leak_tls_handshakes", "_total", result="ok") == 1
    assert sample("leak_submission_seconds", "_count") == 1
    assert sample("leak_submission_seconds", "_bucket", le="+Inf") == 1
    assert sample("leak_classification_seconds", "_count") == 1
    assert families["leak_delivery_latency_seconds"].type == "histogram"
    assert sample("leak_dns_lookups", "_total", result="ok") == 0
    assert sample("leak_delivery_recipients", "_total", outcome="delivered") == 0
    assert sample("leak_queue_messages") == 1
    assert sample("leak_queue_messages", held="true") == 0
    assert sample("leak_queue_recipients", state="queued") + sample("leak_queue_recipients", state="deferred") == 1
    assert sample("leak_sessions_open") >= 0
    assert sample("leak_build", "_info", version=daemon.cli("--version").stdout.split()[-1]) == 1


def test_metrics_count_dns_lookups_and_delivery_latency(make_daemon, mx_and_dns):
    import re
    import urllib.request
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, extra='[metrics]\nbind = "127.0.0.1:0"\n')
    address = next(re.search(r"metrics endpoint at (http://\S+)", line).group(1)
                   for line in daemon.log if "metrics endpoint at" in line)
    submit(daemon, NOTE)
    assert wait_for(lambda: len(sink.messages) == 1)

    def samples():
        text = urllib.request.urlopen(address, timeout=10).read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    # The delivery is recorded just after the MX's 250.
    assert wait_for(lambda: samples()[("leak_delivery_recipients_total", (("outcome", "delivered"),))] == 1)
    found = samples()
    assert found[("leak_dns_lookups_total", (("result", "ok"),))] == 1
    assert found[("leak_delivery_latency_seconds_count", ())] == 1
    assert found[("leak_delivery_latency_seconds_bucket", (("le", "+Inf"),))] == 1
