"""The anonymizer fails closed on what it cannot clean: hostile MIME
structure, control bytes, and attachments. Messages go through the real
daemon; what arrives is read at a real receiving SMTP server (aiosmtpd)."""

from raw import trusted_session


def deep_multipart(levels):
    parts = ["From: x@anon.test\r\nTo: bob@example.test\r\nSubject: deep\r\n"]
    for i in range(levels):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n')
    parts.append("Content-Type: text/plain\r\n\r\nhello\r\n")
    parts.extend(f"--b{i}--\r\n" for i in reversed(range(levels)))
    return "".join(parts).encode()


def deep_forwards(levels):
    parts = ["From: x@anon.test\r\nTo: bob@example.test\r\nSubject: deep\r\n"]
    for i in range(levels):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                     "Content-Type: message/rfc822\r\n\r\nFrom: e@f.example\r\n")
    parts.append("Content-Type: text/plain\r\n\r\nhello\r\n")
    parts.extend(f"--b{i}--\r\n" for i in reversed(range(levels)))
    return "".join(parts).encode()


def send_raw(daemon, message):
    """DATA over the trusted plain listener: (code, text) of the final reply."""
    client = trusted_session(daemon.ports["none"])
    assert client.command("MAIL FROM:<app@real.example>")[0] == 250
    assert client.command("RCPT TO:<bob@example.test>")[0] == 250
    assert client.command("DATA")[0] == 354
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    client.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    reply = client.reply()
    client.command("QUIT")
    client.close()
    return reply


def test_3500_levels_of_nesting_are_refused_and_the_daemon_stays_up(make_daemon):
    daemon = make_daemon(limits={"max_message_size": "2MB"})
    for message in (deep_multipart(3500), deep_forwards(3500)):
        assert len(message) > 200_000
        code, text = send_raw(daemon, message)
        assert (code, text[:5]) == (554, "5.6.0"), text
        assert " / " in text, "the reason is given in English and French"
        assert daemon.process.poll() is None, "".join(daemon.log[-20:])
    code, _ = send_raw(daemon, deep_multipart(20))
    assert code == 250
    assert daemon.process.poll() is None
