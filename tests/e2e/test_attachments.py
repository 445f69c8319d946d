"""The anonymizer fails closed on what it cannot clean: hostile MIME
structure, control bytes, and attachments. Messages go through the real
daemon; what arrives is read at a real receiving SMTP server (aiosmtpd)."""

import base64
import email
import email.message
import email.policy
import io
import os
import pathlib
import struct
import subprocess
import time
import zipfile
import zlib

import pytest

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


def send_raw(daemon, message, timeout=15):
    """DATA over the trusted plain listener: (code, text) of the final reply."""
    client = trusted_session(daemon.ports["none"])
    client.sock.settimeout(timeout)
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
    # About the wire, not moderation: the uncertain band is allowed, not held
    # (the model holds this odd text).
    code, text, raw = deliver(make_daemon, mx_and_dns, message, moderation_review="false")
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


# ---------------------------------------------------------------------------
# Attachments built with real tools, sent through the daemon.

CANARY = "Canaryjdupont"
SUBMITTER = "alice.martin@corp-canary.example"


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, **kwargs)


def tag_image(path):
    """Identifying metadata in every block exiftool knows how to write."""
    run("exiftool", "-q", "-overwrite_original", "-m",
        f"-Artist={CANARY} artist", f"-Copyright={CANARY} copyright", f"-Make={CANARY}make",
        f"-Model={CANARY} model", f"-SerialNumber={CANARY}serial", f"-OwnerName={CANARY} owner",
        "-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945", "-GPSLongitudeRef=E",
        f"-XMP-dc:Creator={CANARY} xmp", f"-Comment={CANARY} comment",
        f"-ImageDescription={CANARY} description", str(path))


def png_with_chunk(source, kind, data):
    """`source` with one extra chunk inserted before IEND."""
    raw = source.read_bytes()
    chunk = struct.pack(">I", len(data)) + kind + data
    chunk += struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return raw[:-12] + chunk + raw[-12:]


def icc_profile(tmp):
    """An ICC display profile whose description names the owner, as a
    calibrated laptop screen's does ("Jean Dupont's MacBook Pro")."""
    text = f"{CANARY}'s MacBook Pro".encode() + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 70
    desc += b"\0" * (-len(desc) % 4)
    offset = 128 + 4 + 12
    size = offset + len(desc)
    header = struct.pack(">I4sI4s4s4s12s4s4sI4s4s8sI12s4s16s28s", size, b"none", 0x02100000,
                         b"mntr", b"RGB ", b"XYZ ", b"\0" * 12, b"acsp", b"APPL", 0, b"none",
                         b"none", b"\0" * 8, 0, struct.pack(">iii", 63190, 65536, 54061),
                         b"none", b"\0" * 16, b"\0" * 28)
    table = struct.pack(">I4sII", 1, b"desc", offset, len(desc))
    path = tmp / "owner.icc"
    path.write_bytes(header + table + desc)
    return path


def mixed(body_text, attachments, html=None):
    """A multipart/mixed submission; attachments are (name, type, bytes)."""
    msg = email.message.EmailMessage()
    msg["From"] = f"Jean Dupont <{SUBMITTER}>"
    msg["To"] = "bob@example.test"
    msg["Subject"] = "files"
    msg.set_content(body_text)
    if html:
        msg.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        ctype, _, charset = ctype.partition("; charset=")
        maintype, subtype = ctype.split("/")
        params = {"charset": charset} if charset else {}
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name, params=params)
    return msg.as_bytes(policy=email.policy.SMTP)


def received_parts(raw):
    """Every leaf part of what the MX received: (content type, name, bytes)."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        out.append((part.get_content_type(), part.get_filename(), part.get_payload(decode=True)))
    return parsed, out


def assert_no_canary(raw, tmp):
    lowered = CANARY.lower().encode()
    at = raw.lower().find(lowered)
    assert at < 0, f"canary in the raw message: {raw[max(0, at - 300):at + 50]!r}"
    parsed, parts = received_parts(raw)
    for ctype, name, data in parts:
        assert lowered not in data.lower(), f"canary in decoded {ctype} {name}"
        if ctype.startswith("image/"):
            path = tmp / f"received-{len(list(tmp.iterdir()))}"
            path.write_bytes(data)
            meta = subprocess.run(["exiftool", "-a", "-u", "-G1", str(path)],
                                  capture_output=True, text=True).stdout
            assert CANARY.lower() not in meta.lower(), meta
            assert "GPS" not in meta and "Serial" not in meta, meta
            assert "ICC" not in meta and "Jdup" not in meta, meta
    return parsed, parts


@pytest.fixture
def pixels(tmp_path):
    """A real photo-like image (gradient + noise) to derive every format from."""
    source = tmp_path / "source.png"
    run("convert", "-size", "96x64", "gradient:red-blue", "-attenuate", "0.3", "+noise", "Uniform",
        str(source))
    return source


def same_pixels(a, b):
    result = subprocess.run(["compare", "-metric", "AE", str(a), str(b), "null:"],
                            capture_output=True, text=True)
    # The count comes first; warnings about the original's metadata follow.
    return result.stderr.split()[:1] == ["0"]


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "gif"])
def test_images_arrive_without_metadata_and_with_their_pixels(make_daemon, mx_and_dns, tmp_path,
                                                               pixels, fmt):
    photo = tmp_path / f"photo.{fmt}"
    run("convert", str(pixels), "-comment", f"{CANARY} im-comment", str(photo))
    # Same pixels, no metadata: what the cleaned image is compared with
    # (ImageMagick refuses to read some of exiftool's WebP XMP blocks).
    plain = tmp_path / f"plain.{fmt}"
    plain.write_bytes(photo.read_bytes())
    run("exiftool", "-q", "-overwrite_original", "-all=", str(plain))
    tag_image(photo)
    if fmt == "jpg":
        run("exiftool", "-q", "-overwrite_original", "-Orientation#=6",
            f"-icc_profile<={icc_profile(tmp_path)}", str(photo))
    data = photo.read_bytes()
    if fmt == "png":
        data = png_with_chunk(photo, b"prIv", f"{CANARY} private chunk".encode())
        photo.write_bytes(data)
    meta = run("exiftool", "-a", "-G1", str(photo)).stdout.decode()
    assert CANARY in meta or CANARY.encode() in data, "the test image carries the canary"
    # Declared with the wrong type: the bytes decide.
    # Named after the sender (scrubbed like the text), declared with the
    # wrong type (the bytes decide).
    message = mixed("Here is the photo.", [(f"Jean Dupont {fmt}.{fmt}", "application/octet-stream", data)])
    # About metadata, not moderation: the uncertain band is allowed, not
    # held (the model trained on writers 1-33 holds this bland JPEG note,
    # score 0.64; docs/moderation.md).
    code, text, raw = deliver(make_daemon, mx_and_dns, message, moderation_review="false")
    assert code == 250, text
    _, parts = assert_no_canary(raw, tmp_path)
    assert b"Dupont" not in raw and SUBMITTER.encode() not in raw
    images = [(ctype, name, body) for ctype, name, body in parts if ctype.startswith("image/")]
    assert len(images) == 1, [p[:2] for p in parts]
    ctype, _, body = images[0]
    assert ctype == {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                     "gif": "image/gif"}[fmt]
    cleaned = tmp_path / f"cleaned.{fmt}"
    cleaned.write_bytes(body)
    assert same_pixels(plain, cleaned), "the pixels are unchanged"
    if fmt == "jpg":
        orientation = run("exiftool", "-n", "-s3", "-Orientation", str(cleaned)).stdout.strip()
        assert orientation == b"6", "the orientation is kept so the photo shows upright"


def bomb_png():
    """A PNG whose header claims 40000 x 40000 pixels (1.6 gigapixels)."""
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def refused_files(tmp):
    """(name, declared type, bytes, words expected in the reply) for every
    kind the policy refuses, each built with the tool that makes it."""
    files = []
    src = tmp / "src.png"
    run("convert", "-size", "32x32", "xc:orange", str(src))
    for fmt, word in (("heic", "HEIC"), ("avif", "AVIF"), ("tiff", "TIFF")):
        path = tmp / f"photo.{fmt}"
        run("convert", str(src), str(path))
        tag_image(path)
        files.append((f"photo.{fmt}", "image/jpeg", path.read_bytes(), word))
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("docProps/core.xml", f"<cp:coreProperties><dc:creator>{CANARY}</dc:creator></cp:coreProperties>")
        z.writestr("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>Plan</w:t></w:r></w:p></w:body></w:document>")
    files.append(("plan.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                  docx.getvalue(), "archive"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"Users/{CANARY}/notes.txt", "hello")
    files.append(("files.zip", "application/zip", archive.getvalue(), "archive"))
    eml = (f"Received: from pc.{CANARY}.example ([198.51.100.7])\r\nFrom: {CANARY} <j@x.example>\r\n"
           "Subject: old\r\n\r\nold body\r\n").encode()
    files.append(("old.eml", "application/octet-stream", eml, "e-mail"))
    files.append(("old.txt", "text/plain", eml, "e-mail"))
    files.append(("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22" + CANARY.encode() * 4, "winmail"))
    key = tmp / "key.pem"
    cert = tmp / "cert.pem"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
        "-out", str(cert), "-days", "1", "-subj", f"/CN={CANARY}")
    files.append(("me.pem", "text/plain", cert.read_bytes(), "certificates"))
    der = run("openssl", "x509", "-in", str(cert), "-outform", "DER").stdout
    files.append(("me.cer", "application/octet-stream", der, "certificates"))
    content = tmp / "content.txt"
    content.write_text("signed\n")
    p7s = run("openssl", "cms", "-sign", "-in", str(content), "-signer", str(cert), "-inkey", str(key),
              "-outform", "DER", "-binary").stdout
    files.append(("smime.bin", "application/octet-stream", p7s, "signatures"))
    gnupg = tmp / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(gnupg))
    run("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
        f"{CANARY} <{CANARY}@corp.example>", "ed25519", "sign", "1d", env=env)
    binary_key = run("gpg", "--batch", "--export", env=env).stdout
    files.append(("key.bin", "application/octet-stream", binary_key, "keys"))
    run("gpg", "--batch", "--armor", "--detach-sign", str(content), env=env)
    armoured_sig = (tmp / "content.txt.asc").read_bytes()
    files.append(("notes.txt", "text/plain", b"my notes\n" + armoured_sig, "signatures"))
    vcard = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{CANARY}\r\nTEL:+33612345678\r\nEND:VCARD\r\n".encode()
    files.append(("contact.txt", "text/plain", vcard, "vCard"))
    ics = (f"BEGIN:VCALENDAR\r\nPRODID:-//{CANARY}//EN\r\nBEGIN:VEVENT\r\nORGANIZER:mailto:{CANARY}@x\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    files.append(("invite.ics", "text/calendar", ics, "calendar"))
    prose = b"Minutes of the meeting, nothing personal here.\r\n" * 200
    files.append(("minutes.txt", "text/plain", prose + vcard, "vCard"))
    files.append(("agenda.txt", "text/plain", prose + ics, "calendar"))
    files.append(("agenda2.txt", "text/x-vcalendar", b"see you then\r\n", "calendar"))
    trace = f"X-Originating-IP: [198.51.100.7]\r\nReceived: from pc.{CANARY}.example\r\n".encode()
    files.append(("log.txt", "text/plain", prose + trace, "e-mail"))
    rtf = f"{{\\rtf1\\ansi{{\\info{{\\author {CANARY}}}}} Plan}}".encode()
    files.append(("plan.txt", "text/plain", rtf, "office files"))
    page = f"<!DOCTYPE html><html><head><meta name=author content={CANARY}></head><body>Hi</body></html>"
    files.append(("page.txt", "text/plain", page.encode(), "HTML"))
    files.append(("true", "application/octet-stream", pathlib.Path("/bin/true").read_bytes(), "programs"))
    svg = f'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><title>{CANARY}</title></svg>'
    files.append(("drawing.svg", "image/svg+xml", svg.encode(), "SVG"))
    files.append(("blob.bin", "application/octet-stream", bytes(range(256)) * 8, "file type"))
    files.append(("huge.png", "image/png", bomb_png(), "megapixels"))
    return files


def test_every_uncleanable_attachment_refuses_the_message(make_daemon, mx_and_dns, tmp_path):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, limits={"max_message_size": "10MB"})
    for name, ctype, data, word in refused_files(tmp_path):
        code, text = send_raw(daemon, mixed("See attached.", [(name, ctype, data)]))
        assert (code, text[:5]) == (554, "5.6.0"), (name, code, text)
        assert f'"{name}"' in text, (name, text)
        assert " / piece jointe " in text, text
        assert word.lower() in text.lower(), (name, word, text)
        assert CANARY.lower() not in text.lower()
    assert daemon.process.poll() is None
    assert sink.messages == [], "nothing refused reached the recipient"
    assert daemon.queue_ids() == set()


def test_text_attachments_are_scrubbed_moderated_and_keep_charset_and_line_ends(
        make_daemon, mx_and_dns, tmp_path):
    notes = f"Notes de Jean Dupont\n\u00e9t\u00e9 2026;{SUBMITTER}\nligne 3\n".encode("latin-1")
    message = mixed("See the notes.", [("notes.csv", "text/csv; charset=iso-8859-1", notes)])
    assert b'charset="iso-8859-1"' in message
    code, text, raw = deliver(make_daemon, mx_and_dns, message)
    assert code == 250, text
    assert b"Dupont" not in raw and SUBMITTER.encode() not in raw
    _, parts = received_parts(raw)
    csv = [body for ctype, name, body in parts if name == "notes.csv"]
    assert len(csv) == 1, parts
    assert b"\xe9t\xe9 2026;" in csv[0], "latin-1 kept"
    assert b"\r\n" not in csv[0] and csv[0].count(b"\n") == 3, "LF line ends kept"


def test_text_attachment_content_is_moderated(daemon):
    insult = "T'es qu'un sale c0nn4rd, espece de minable.\n".encode()
    code, text = send_raw(daemon, mixed("Hello.", [("note.txt", "application/octet-stream", insult)]))
    assert (code, text[:5]) == (550, "5.7.1"), text


def test_policy_images_and_none(make_daemon, pixels):
    png = pixels.read_bytes()
    txt = b"just text\n"
    images = make_daemon(extra="", start=False)
    images.config.write_text(images.config.read_text().replace(
        'default_category = "someone"', 'default_category = "someone"\nattachments = "images"'))
    images.start()
    assert send_raw(images, mixed("x", [("a.png", "image/png", png)]))[0] == 250
    code, text = send_raw(images, mixed("x", [("a.txt", "text/plain", txt)]))
    assert (code, text[:5]) == (554, "5.6.0") and "only image" in text, text
    none = make_daemon(start=False)
    none.config.write_text(none.config.read_text().replace(
        'default_category = "someone"', 'default_category = "someone"\nattachments = "none"'))
    none.start()
    code, text = send_raw(none, mixed("x", [("a.png", "image/png", png)]))
    assert (code, text[:5]) == (554, "5.6.0") and "no attachments" in text, text
    assert send_raw(none, mixed("plain body only", []))[0] == 250


NESTED_KINDS = [
    ("message/rfc822", "From: a@x.example\r\nSubject: fwd\r\n\r\nold\r\n"),
    ("message/global", "From: a@x.example\r\nSubject: fwd\r\n\r\nold\r\n"),
    ("message/disposition-notification", "Reporting-UA: pc.corp.example; Thunderbird\r\n"
                                         "Final-Recipient: rfc822;a@x.example\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n"),
    ("message/delivery-status", "Reporting-MTA: dns; mx.corp.example\r\n\r\nFinal-Recipient: rfc822;a@x\r\n"
                                "Action: failed\r\nStatus: 5.0.0\r\n"),
    ("text/rfc822-headers", "Received: from pc.corp.example ([198.51.100.7])\r\nFrom: a@x.example\r\n"),
    ("message/partial", "From: a@x.example\r\n\r\npart\r\n"),
    ("message/external-body", "Content-Type: text/plain\r\n\r\n"),
]


@pytest.mark.parametrize("ctype,body", NESTED_KINDS)
def test_nested_messages_and_reports_are_refused(daemon, ctype, body):
    message = ("From: x@anon.test\r\nTo: bob@example.test\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
               f"see below\r\n--b\r\nContent-Type: {ctype}\r\n\r\n{body}\r\n--b--\r\n").encode()
    code, text = send_raw(daemon, message)
    assert (code, text[:5]) == (554, "5.6.0"), (ctype, text)
    assert " / " in text


@pytest.mark.parametrize("where", ["html", "body"])
def test_pgp_material_in_the_body_is_refused(daemon, where):
    armour = ("-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQ\n-----END PGP SIGNATURE-----\n"
              if where == "html" else
              "-----BEGIN PGP MESSAGE-----\n\nhF4DAAAAAAAAAAASAQdA\n-----END PGP MESSAGE-----\n")
    if where == "html":
        message = mixed("hello", [], html=f"<p>hello</p><pre>{armour}</pre>")
    else:
        message = mixed(f"hello\n{armour}", [])
    code, text = send_raw(daemon, message)
    assert (code, text[:5]) == (554, "5.6.0"), text


def test_data_uri_gif_is_cleaned(make_daemon, mx_and_dns, tmp_path):
    gif = tmp_path / "dot.gif"
    run("convert", "-size", "4x4", "xc:green", "-comment", f"{CANARY} gif comment", str(gif))
    tag_image(gif)
    assert CANARY.encode() in gif.read_bytes()
    uri = "data:image/gif;base64," + base64.b64encode(gif.read_bytes()).decode()
    code, text, raw = deliver(make_daemon, mx_and_dns, mixed("x", [], html=f'<p><img src="{uri}"></p>'))
    assert code == 250, text
    _, parts = received_parts(raw)
    html = [body for ctype, _, body in parts if ctype == "text/html"][0].decode()
    assert "data:image/gif;base64," in html, "the image stays"
    found = html.split("data:image/gif;base64,")[1].split('"')[0]
    assert CANARY.encode() not in base64.b64decode(found)


def test_text_hidden_in_html_title_and_attributes_is_moderated(daemon):
    insult = "T'es qu'un sale c0nn4rd, espece de minable."
    for html in (f"<html><head><title>{insult}</title></head><body><p>hi</p></body></html>",
                 f'<p title="{insult}">hi</p>',
                 f'<p>hi</p><style>p::after {{ content: "{insult}" }}</style>'):
        code, text = send_raw(daemon, mixed("hi", [], html=html))
        assert (code, text[:5]) == (550, "5.7.1"), (html, text)
    code, text = send_raw(daemon, mixed("hi", [(f"{insult}.txt", "text/plain", b"fine\n")]))
    assert (code, text[:5]) == (550, "5.7.1"), text


def peak_rss(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def growth_while_accepted(daemon, message, size):
    """Submits `message` (one attachment of `size` bytes), checks the 250
    and returns how much the daemon's peak RSS grew meanwhile; prints the
    figures."""
    before = peak_rss(daemon.process.pid)
    started = time.monotonic()
    code, text = send_raw(daemon, message, timeout=300)
    assert code == 250, text
    growth = peak_rss(daemon.process.pid) - before
    print(f"accepted in {time.monotonic() - started:.1f} s; attachment {size} bytes, message "
          f"{len(message)} bytes, peak RSS growth {growth} bytes ({growth / size:.2f}x the "
          f"attachment, {growth / len(message):.2f}x the message)")
    return growth


def test_a_large_photo_costs_a_bounded_multiple_of_its_size(make_daemon, mx_and_dns, tmp_path):
    """A 12 MB PNG (16 MB once base64-encoded in the message): the daemon's
    peak RSS grows by a bounded multiple of what the client sent while the
    message is received, cleaned and stored. Measured (debug build): 4.1x
    the message, 5.6x the decoded attachment before the memory work of
    issue 11; 1.8x the message, 2.4x the attachment after it
    (docs/performance.md, "Large attachments")."""
    big = tmp_path / "big.png"
    run("convert", "-size", "3000x2000", "xc:gray", "+noise", "Random", str(big))
    tag_image(big)
    data = big.read_bytes()
    assert len(data) > 10_000_000
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, limits={"max_message_size": "40MB"})
    message = mixed("The big picture.", [("big.png", "image/png", data)])
    # Warm up every code path once with a small message, then measure.
    assert send_raw(daemon, mixed("warm", [("s.png", "image/png", (tmp_path / "s.png").write_bytes(
        run("convert", "-size", "8x8", "xc:red", "png:-").stdout) and (tmp_path / "s.png").read_bytes())]))[0] == 250
    growth = growth_while_accepted(daemon, message, len(data))
    # A regression guard against copies that multiply with the message (the
    # issue's ~3x target is a benchmark figure, recorded in
    # docs/performance.md): one more copy of the message anywhere between
    # DATA and the store goes over 2.5x.
    assert growth <= 2.5 * len(message), f"peak RSS grew by {growth / len(message):.2f}x the message"


def test_a_large_text_attachment_costs_a_bounded_multiple_of_its_size(make_daemon, mx_and_dns, tmp_path):
    """A 12.6 MB CSV export (17.3 MB once base64-encoded): text attachments
    are scrubbed like the body and moderated, and both read a large text
    window by window. Before that, the scrubber's per-character tables and
    the rules' tokens cost 29x the text (725 MB for 25 MB); then the
    moderation text was still held while the message was written (this
    test, debug build: 2.96x the message); now 2.28x (release, 25 MB:
    2.9x the text, 2.1x the message; docs/performance.md, "Other formats,
    and text attachments"). The sender's name on the last line is still
    replaced, and what arrives is the whole file."""
    rows = [f"2026-11-{n % 28 + 1:02},Réunion de chantier,Bâtiment {n},relevé conforme\r\n"
            for n in range(190_000)]
    rows.append("rapport établi par Jean Dupont\r\n")
    data = "".join(rows).encode()
    assert len(data) > 12_000_000
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, limits={"max_message_size": "40MB"})
    warm = mixed("warm", [("w.csv", "text/csv; charset=utf-8", b"a,b\r\n1,2\r\n")])
    assert send_raw(daemon, warm)[0] == 250
    message = mixed("The export.", [("export.csv", "text/csv; charset=utf-8", data)])
    growth = growth_while_accepted(daemon, message, len(data))
    assert growth <= 2.6 * len(message), f"peak RSS grew by {growth / len(message):.2f}x the message"
    assert wait_for(lambda: len(sink.messages) >= 2, 120)
    _, parts = received_parts(sink.messages[-1].original_content)
    (name, body), = [(name, body) for _, name, body in parts if name == "export.csv"]
    assert body.startswith(rows[0].encode()) and b"Jean" not in body and b"Dupont" not in body
    assert body.count(b"\r\n") == len(rows), body[-200:]


def test_a_forwarded_message_is_refused_by_name(daemon):
    message = ("From: x@anon.test\r\nTo: bob@example.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
               "see below\r\n--b\r\nContent-Type: message/rfc822; name=\"Re: plan.eml\"\r\n"
               "Content-Disposition: attachment; filename=\"Re: plan.eml\"\r\n\r\n"
               "From: a@x.example\r\nSubject: plan\r\n\r\nold\r\n--b--\r\n").encode()
    code, text = send_raw(daemon, message)
    assert (code, text[:5]) == (554, "5.6.0"), text
    assert '"Re: plan.eml"' in text and "forwarded e-mail" in text and " / piece jointe " in text, text
