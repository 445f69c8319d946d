"""`250` after DATA means on disk: submissions run from several clients, the
daemon is SIGKILLed at arbitrary moments and restarted, and every message
that got its 250 is still in the queue."""

import random
import re
import smtplib
import threading
import time

from conftest import TRUSTED_IP

MESSAGE = "From: x@anon.test\r\nTo: bob@example.test\r\nSubject: crash test\r\n\r\nbody\r\n"


def submit_until_stopped(port, acknowledged, stop):
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(TRUSTED_IP, 0)) as client:
                client.ehlo("crash.test")
                while not stop.is_set():
                    client.mail("app@real.example")
                    client.rcpt("bob@example.test")
                    code, text = client.data(MESSAGE)
                    if code == 250:
                        acknowledged.append(re.search(r"Queued as ([0-9a-f]+)", text.decode()).group(1))
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def test_kill_9_loses_no_acknowledged_message(make_daemon):
    daemon = make_daemon()
    acknowledged = []
    rng = random.Random(7)
    for _round in range(3):
        stop = threading.Event()
        port = daemon.ports["none"]
        clients = [threading.Thread(target=submit_until_stopped, args=(port, acknowledged, stop)) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(0.5 + rng.random() * 1.5)
        daemon.kill()
        stop.set()
        for client in clients:
            client.join(30)
        daemon.start()
    assert len(acknowledged) > 20, "the test must actually have submitted messages"
    stored = daemon.queue_ids()
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged messages lost of {len(acknowledged)}"
