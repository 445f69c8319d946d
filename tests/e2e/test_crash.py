"""`250` after DATA means on disk: submissions run from several clients, the
daemon is SIGKILLed at random moments several times and restarted each time,
and every message that got its 250 is finally delivered to the MX (a real
SMTP receiver behind a real DNS server). Losses fail; duplicates are counted
and reported."""

import itertools
import random
import smtplib
import threading
import time

from conftest import TRUSTED_IP, wait_for

ROUNDS = 3


def submit_until_stopped(port, tokens, acknowledged, stop):
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(TRUSTED_IP, 0)) as client:
                client.ehlo("crash.test")
                while not stop.is_set():
                    token = f"tok{next(tokens)}"
                    message = f"From: x@anon.test\r\nTo: bob@example.test\r\nSubject: {token}\r\n\r\nbody\r\n"
                    client.mail("app@real.example")
                    client.rcpt("bob@example.test")
                    code, _ = client.data(message)
                    if code == 250:
                        acknowledged.append(token)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def delivered_tokens(sink):
    return sink.subjects(rb"Subject: (tok\d+)")


def test_kill_9_at_random_moments_loses_no_acknowledged_message(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    sink.delay = 0.05
    # In-flight deliveries cut by a kill are retried after one interval.
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, retry="1s")
    acknowledged = []
    tokens = itertools.count()
    rng = random.Random(7)
    for _round in range(ROUNDS):
        stop = threading.Event()
        port = daemon.ports["none"]
        clients = [threading.Thread(target=submit_until_stopped, args=(port, tokens, acknowledged, stop))
                   for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(0.5 + rng.random() * 1.5)
        daemon.kill()
        stop.set()
        for client in clients:
            client.join(30)
        daemon.start()
    assert len(acknowledged) > 20, "the test must actually have submitted messages"
    assert wait_for(lambda: set(acknowledged) <= set(delivered_tokens(sink)), 180), \
        f"lost: {sorted(set(acknowledged) - set(delivered_tokens(sink)))[:10]}"
    delivered = delivered_tokens(sink)
    duplicates = sum(count - 1 for count in delivered.values())
    print(f"acknowledged {len(acknowledged)}, delivered {len(delivered)} distinct, {duplicates} duplicate(s)")
    # Only the deliveries in flight at each kill may come twice (20 per domain at most).
    assert duplicates <= 20 * ROUNDS
