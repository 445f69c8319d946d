"""Abuse limits that cannot be raced (issue 13, item 3): slots are reserved
atomically at MAIL FROM / RCPT TO, given back when the transaction is
abandoned, repeated recipients are stored once, and a message refused by
moderation still costs the account an hourly slot. Everything goes through
the real daemon with real clients; delivered copies are counted at an
aiosmtpd MX."""

import smtplib
import socket
import threading
import time

from conftest import PASSWORD, TRUSTED_IP, tls_context, wait_for

CONFESSION = ("From: friend@anon.test\r\nTo: bob@example.test\r\nSubject: a confession\r\n\r\n"
              "Je suis amoureux de toi depuis des annees et je n'ai jamais ose te le dire.\r\n")
INSULT = "From: x@anon.test\r\nTo: bob@example.test\r\nSubject: hey\r\n\r\nT'es qu'un sale c0nn4rd, espece de minable.\r\n"


def trusted_client(daemon):
    client = smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=60, source_address=(TRUSTED_IP, 0))
    client.ehlo("app.test")
    return client


def alice_client(daemon):
    client = smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=120)
    client.starttls(context=tls_context())
    client.login("alice", PASSWORD)
    return client


def run_all(count, prepare, race):
    """Opens `count` sessions with `prepare` (at most four at a time, so the
    logins' argon2 does not pile up), then lets every `race` go at once.
    Returns what each `race` returned."""
    barrier = threading.Barrier(count, timeout=300)
    gate = threading.Semaphore(4)
    results = [None] * count

    def worker(index):
        client = None
        try:
            with gate:
                client = prepare(index)
            barrier.wait()
            results[index] = race(client, index)
        except Exception as error:  # reported through the results
            results[index] = error
            barrier.abort()
        finally:
            if client is not None:
                try:
                    client.quit()
                except Exception:
                    pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    return results


def test_repeated_recipient_is_accepted_but_delivered_once(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port,
                         limits={"per_recipient_per_day": 5, "max_recipients": 50})
    spellings = ["bob@example.test", "BOB@example.test", "bob@EXAMPLE.TEST", "Bob@Example.Test"]
    with trusted_client(daemon) as client:
        assert client.mail("app@real.example")[0] == 250
        for i in range(20):
            code, text = client.rcpt(spellings[i % len(spellings)])
            assert code == 250, (i, code, text)
        code, text = client.data(CONFESSION)
        assert code == 250, text
    assert wait_for(lambda: len(sink.messages) >= 1), "".join(daemon.log[-30:])
    assert wait_for(lambda: daemon.queue_ids() == set())
    assert len(sink.messages) == 1
    assert [r.lower() for r in sink.messages[0].rcpt_tos] == ["bob@example.test"]
    # The repeated RCPTs took one slot of five, not twenty.
    with trusted_client(daemon) as client:
        for _ in range(4):
            assert client.sendmail("app@real.example", ["bob@example.test"], CONFESSION) == {}
        assert client.mail("app@real.example")[0] == 250
        assert client.rcpt("bob@example.test")[0] == 450


def test_concurrent_sessions_to_one_victim_get_exactly_the_daily_limit(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port,
                         limits={"per_recipient_per_day": 5})

    def prepare(_):
        client = trusted_client(daemon)
        assert client.mail("app@real.example")[0] == 250
        return client

    def race(client, _):
        code, _ = client.rcpt("victim@example.test")
        if code != 250:
            return code
        return client.data(CONFESSION)[0]

    results = run_all(30, prepare, race)
    assert results.count(250) == 5, results
    assert results.count(450) == 25, results
    assert wait_for(lambda: len(sink.messages) >= 5), "".join(daemon.log[-30:])
    assert wait_for(lambda: daemon.queue_ids() == set())
    time.sleep(0.5)  # nothing more may arrive
    assert len(sink.messages) == 5


def test_concurrent_sessions_of_one_account_get_exactly_the_hourly_limit(make_daemon):
    # One client address opens the 100 sessions: lift the per-client limits
    # (tested in test_hardening_smtp.py) so only the account's limit counts.
    daemon = make_daemon(limits={"messages_per_hour": 60, "max_connections": 128,
                                 "max_connections_per_client": 128,
                                 "connection_rate_per_client": 1000,
                                 "message_rate_per_client": 1000,
                                 "recipient_rate_per_client": 1000,
                                 "auth_rate_per_client": 1000})

    def prepare(_):
        return alice_client(daemon)

    def race(client, index):
        code, _ = client.mail("alice@real.example")
        if code != 250:
            return code
        assert client.rcpt(f"r{index}@example.test")[0] == 250
        return client.data(CONFESSION)[0]

    results = run_all(100, prepare, race)
    assert results.count(250) == 60, results
    assert results.count(450) == 40, results
    assert len(daemon.queue_ids()) == 60


def test_abandoned_transactions_give_their_slot_back(make_daemon):
    daemon = make_daemon(limits={"per_recipient_per_day": 1})
    holder, other = trusted_client(daemon), trusted_client(daemon)
    assert holder.mail("app@real.example")[0] == 250
    assert holder.rcpt("bob@example.test")[0] == 250
    # The slot is reserved at RCPT: nobody else gets it meanwhile.
    assert other.mail("app@real.example")[0] == 250
    assert other.rcpt("bob@example.test")[0] == 450
    assert holder.rset()[0] == 250
    assert other.rcpt("bob@example.test")[0] == 250
    # QUIT gives it back too.
    other.quit()
    assert holder.mail("app@real.example")[0] == 250
    assert holder.rcpt("bob@example.test")[0] == 250
    # So does a connection that just goes away.
    holder.sock.shutdown(socket.SHUT_RDWR)
    holder.sock.close()

    def slot_free():
        with trusted_client(daemon) as client:
            assert client.mail("app@real.example")[0] == 250
            return client.rcpt("bob@example.test")[0] == 250
    assert wait_for(slot_free, 30)
    # A DATA refused for size gives it back; a stored message keeps it.
    with trusted_client(daemon) as client:
        assert client.mail("app@real.example")[0] == 250
        assert client.rcpt("bob@example.test")[0] == 250
        code, _ = client.data("Subject: big\r\n\r\n" + ("x" * 900 + "\r\n") * 100)
        assert code == 552
        assert client.sendmail("app@real.example", ["bob@example.test"], CONFESSION) == {}
        assert client.mail("app@real.example")[0] == 250
        assert client.rcpt("bob@example.test")[0] == 450


def test_moderation_refusal_costs_an_hourly_slot_and_counts_survive_restart(make_daemon):
    daemon = make_daemon(limits={"messages_per_hour": 2, "per_recipient_per_day": 2})
    with alice_client(daemon) as client:
        code, text = client.mail("alice@real.example")
        assert code == 250
        assert client.rcpt("bob@example.test")[0] == 250
        code, text = client.data(INSULT)
        assert code == 550, text
        # The refused message took no slot of bob's.
        assert client.sendmail("alice@real.example", ["bob@example.test"], CONFESSION) == {}
        code, text = client.mail("alice@real.example")
        assert (code, text[:5]) == (450, b"4.7.1")
    with trusted_client(daemon) as client:
        assert client.sendmail("app@real.example", ["bob@example.test"], CONFESSION) == {}
    daemon.stop()
    daemon.start()
    with alice_client(daemon) as client:
        assert client.mail("alice@real.example")[0] == 450
    with trusted_client(daemon) as client:
        assert client.mail("app@real.example")[0] == 250
        assert client.rcpt("bob@example.test")[0] == 450
