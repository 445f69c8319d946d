"""The daemon is SIGKILLed while deliveries are in flight and restarted:
every accepted message reaches the MX, at most the in-flight ones twice."""

import smtplib

from conftest import TRUSTED_IP, wait_for

COUNT = 30


def subjects(sink):
    return sink.subjects(rb"Subject: (crash-\d+)")


def test_kill_9_mid_delivery_loses_nothing(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    sink.delay = 0.4
    # A recipient in flight at the kill is retried after one interval.
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, retry="2s")
    with smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0)) as client:
        client.ehlo("crash.test")
        for n in range(COUNT):
            message = f"From: x@anon.test\r\nTo: r{n}@example.test\r\nSubject: crash-{n}\r\n\r\nbody {n}\r\n"
            assert client.sendmail("app@real.example", [f"r{n}@example.test"], message) == {}
    assert wait_for(lambda: len(sink.messages) >= 3, 60)
    daemon.kill()
    delivered_before = len(sink.messages)
    daemon.start()
    assert wait_for(lambda: len(subjects(sink)) == COUNT, 120), f"only {len(subjects(sink))} of {COUNT} delivered"
    duplicates = sum(count - 1 for count in subjects(sink).values())
    # At most the attempts in flight at the kill (max_per_domain, 20) come twice.
    assert duplicates <= 20, f"{duplicates} duplicates"
    assert delivered_before < COUNT, "the kill must happen mid-delivery"
    assert wait_for(lambda: daemon.queue_ids() == set(), 30)
    print(f"delivered {COUNT}, {duplicates} duplicate(s), {delivered_before} before the kill")
