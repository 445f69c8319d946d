"""End to end: `[log] format` and `[log] client_ip` on the real daemon."""

import json
import re
import smtplib

from conftest import PASSWORD, TRUSTED_IP, tls_context, wait_for


def connect_and_send(daemon, source):
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(source, 0)) as client:
        client.ehlo("client.example")
        client.sendmail("app@real.example", ["bob@example.test"],
                        "From: app@real.example\r\nTo: bob@example.test\r\nSubject: log\r\n\r\nhi\r\n")


def connection_lines(daemon):
    return [line for line in list(daemon.log) if re.search(r"\bconnection\b.*session=|\"message\":\"connection\"", line)]


def test_json_lines_parse_and_carry_the_messages(make_daemon):
    daemon = make_daemon(extra='[log]\nformat = "json"\n')
    connect_and_send(daemon, TRUSTED_IP)
    assert wait_for(lambda: connection_lines(daemon))
    events = [json.loads(line) for line in list(daemon.log) if line.strip()]
    messages = [event["fields"]["message"] for event in events]
    assert any(m.startswith("listening on 127.0.0.1:") for m in messages)
    assert all("level" in event and "timestamp" in event for event in events)
    connection = next(e for e in events if e["fields"].get("message") == "connection")
    assert connection["fields"]["peer"].startswith(TRUSTED_IP + ":"), "full by default"


def test_client_ip_none_never_logs_the_address(make_daemon):
    daemon = make_daemon(extra='[log]\nclient_ip = "none"\n')
    connect_and_send(daemon, TRUSTED_IP)
    # An authenticated session too, over STARTTLS, from another address.
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30,
                      source_address=("127.0.0.5", 0)) as client:
        client.starttls(context=tls_context())
        client.login("alice", PASSWORD)
    assert wait_for(lambda: len(connection_lines(daemon)) >= 2)
    daemon.stop()
    text = "".join(daemon.log)
    assert "authenticated" in text
    assert TRUSTED_IP not in text and "127.0.0.5" not in text
    assert all("peer=-" in line for line in connection_lines(daemon)), connection_lines(daemon)


def test_client_ip_hashed_correlates_but_hides(make_daemon):
    daemon = make_daemon(extra='[log]\nclient_ip = "hashed"\n')
    for source in (TRUSTED_IP, TRUSTED_IP, "127.0.0.6"):
        connect_and_send(daemon, source) if source == TRUSTED_IP else smtplib.SMTP(
            "127.0.0.1", daemon.ports["none"], timeout=30, source_address=(source, 0)).quit()
    assert wait_for(lambda: len(connection_lines(daemon)) >= 3)
    daemon.stop()
    text = "".join(daemon.log)
    assert TRUSTED_IP not in text and "127.0.0.6" not in text
    peers = [re.search(r"peer=(\S+)", line).group(1) for line in connection_lines(daemon)]
    assert all(re.fullmatch(r"ip-[0-9a-f]{16}", p) for p in peers), peers
    assert peers[0] == peers[1] != peers[2], "one address, one hash; another address, another"
