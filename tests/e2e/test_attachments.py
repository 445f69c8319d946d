"""The anonymizer fails closed on what it cannot clean: hostile MIME
structure, control bytes, and attachments. Messages go through the real
daemon; what arrives is read at a real receiving SMTP server (aiosmtpd)."""

import base64
import email
import email.policy

from conftest import wait_for
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


def deliver(make_daemon, mx_and_dns, message, **settings):
    """Submits `message` and returns (reply code, text, raw bytes received by
    the MX or None when refused)."""
    sink, mx_port, nameserver = mx_and_dns
    settings.setdefault("limits", {"max_message_size": "40MB"})
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, **settings)
    code, text = send_raw(daemon, message)
    if code != 250:
        return code, text, None
    assert wait_for(lambda: len(sink.messages) >= 1), "".join(daemon.log[-30:])
    return code, text, sink.messages[-1].original_content


def test_encoded_nul_and_bare_line_ends_never_reach_the_receiving_server(make_daemon, mx_and_dns):
    message = (b"From: x@anon.test\r\nTo: bob@example.test, \"a>\\\"b\"@example.test\r\n"
               b"Subject: smuggle\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
               b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               b"hello=0D=0A=00.=0D=0AMAIL FROM:<evil@x.test>=0Dbare=0Alf=01\r\n"
               b"--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               + base64.b64encode(b"<p>hi</p>\r\n\x00.\r\n\x00\x0b") + b"\r\n--b--\r\n")
    code, text, raw = deliver(make_daemon, mx_and_dns, message)
    assert code == 250, text
    # A line holding only "." is fine (dot-stuffed on the wire); NUL is not.
    assert b"\x00" not in raw
    stripped = raw.replace(b"\r\n", b"")
    assert b"\r" not in stripped and b"\n" not in stripped
    assert not any(byte < 0x20 and byte not in (9, 10, 13) for byte in raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            content = part.get_content()
            assert not any(ord(c) < 0x20 and c not in "\t\r\n" for c in content), repr(content)
            assert "\r" not in content.replace("\r\n", "")
    to = parsed["To"]
    assert b'"a>\\"b"@example.test' in raw, raw[:600]
    assert len(to.addresses) == 2, str(to)
