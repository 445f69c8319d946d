"""Benchmark (not collected by the test suite): how much the daemon's
resident memory grows while one large attachment is received, cleaned,
stored and delivered, for a JPEG photo, a PNG, a PDF, a DOCX, a GIF, a
lossless WebP and a CSV text attachment.

Run one file at a time, like the e2e tests, naming the file explicitly
(pytest collects an explicitly named file whatever its name):

    LEAK_BIN=$PWD/target/release/leak python3 -m pytest -s tests/e2e/bench_attachment_memory.py

`LEAK_BENCH_MB` sets the attachment's size in MB (default 25). For each
format, after a small warm-up message of the same kind, the peak resident
set (VmHWM) is reset to the current one (`/proc/PID/clear_refs`, 5), the
message is submitted, and the peak is read twice: when the 250 arrives
(received, anonymized, moderated, stored) and once the receiving server
has the message (read back, stamped, signed, sent). Each figure is the
peak minus the resident set just before the submission, divided by the
attachment's size. Figures are recorded in docs/performance.md; this file
asserts only that the message arrives and that growth stays under the
e2e tests' regression bound (2.5x the message)."""

import os
import pathlib
import time
import zlib

import pikepdf
import pytest

from conftest import wait_for
from test_attachments import mixed, run, send_raw, tag_image
from test_pdf import ghostscript_pdf

MB = 1_000_000
SIZE = int(float(os.environ.get("LEAK_BENCH_MB", "25")) * MB)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def status(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


def reset_peak(pid):
    """Sets VmHWM back to the current VmRSS (Linux 4.0+)."""
    pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")


def noise_image(path, pixels, *options):
    """A photo-like image of random noise, `pixels` pixels (3:2), with
    identifying metadata."""
    width = int((pixels * 1.5) ** 0.5)
    height = pixels // width
    run("convert", "-size", f"{width}x{height}", "xc:", "+noise", "Random", "-depth", "8", *options,
        str(path))
    tag_image(path)
    return path.read_bytes()


def jpeg(tmp):
    # Random colour noise at quality 92 costs about 1.74 bytes a pixel.
    return "photo.jpg", "image/jpeg", noise_image(tmp / "photo.jpg", SIZE * 100 // 174, "-quality", "92")


def png(tmp):
    # Random 8-bit RGB noise does not compress: 3 bytes a pixel.
    return "scan.png", "image/png", noise_image(tmp / "scan.png", SIZE // 3)


def pdf(tmp):
    """One page drawing a Flate-compressed noise image (a scan)."""
    side = int((SIZE / 3) ** 0.5)
    source = ghostscript_pdf(tmp, ["Scanned page"])
    with pikepdf.open(source) as doc:
        image = pikepdf.Stream(doc, b"")
        image.write(zlib.compress(os.urandom(side * side * 3), 1), filter=pikepdf.Name.FlateDecode)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height, image.BitsPerComponent = side, side, 8
        image.ColorSpace = pikepdf.Name.DeviceRGB
        doc.pages[0].add_resource(image, pikepdf.Name.XObject, pikepdf.Name.Scan)
        doc.pages[0].contents_add(pikepdf.Stream(doc, b"q 500 0 0 500 50 50 cm /Scan Do Q"))
        out = tmp / "scan.pdf"
        doc.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return "scan.pdf", "application/pdf", out.read_bytes()


def docx(tmp):
    """A Word document made by python-docx around one large photo."""
    import docx as python_docx
    photo = tmp / "inside.jpg"
    noise_image(photo, SIZE * 100 // 174, "-quality", "92")
    document = python_docx.Document()
    document.core_properties.author = "Jean Dupont"
    document.add_paragraph("The photo of the site.")
    document.add_picture(str(photo))
    out = tmp / "report.docx"
    document.save(out)
    return "report.docx", DOCX, out.read_bytes()


def gif(tmp):
    # 256-colour noise barely compresses with LZW: about a byte a pixel.
    return "anim.gif", "image/gif", noise_image(tmp / "anim.gif", SIZE * 9 // 10, "-colors", "256")


def webp(tmp):
    # Lossless WebP of noise: about 3 bytes a pixel.
    return "photo.webp", "image/webp", noise_image(tmp / "photo.webp", SIZE // 3,
                                                   "-define", "webp:lossless=true")


def csv(tmp):
    """A text attachment: a CSV export of ordinary rows (scrubbed and moderated like the body)."""
    row = "2026-11-{day:02},Réunion de chantier,Bâtiment {n},relevé {n} conforme,{n}.50 EUR\r\n"
    rows, size, n = [], 0, 0
    while size < SIZE:
        line = row.format(day=n % 28 + 1, n=n)
        rows.append(line)
        size += len(line.encode())
        n += 1
    return "export.csv", "text/csv; charset=utf-8", "".join(rows).encode()


def small(kind, tmp):
    """A small file of the same kind, to warm every code path up."""
    folder = tmp / "warm"
    folder.mkdir(exist_ok=True)
    global SIZE
    saved, SIZE = SIZE, 200_000
    try:
        return kind(folder)
    finally:
        SIZE = saved


KINDS = [jpeg, png, pdf, docx, gif, webp, csv]


@pytest.mark.parametrize("kind", KINDS, ids=[kind.__name__ for kind in KINDS])
def test_attachment_memory(kind, make_daemon, mx_and_dns, tmp_path):
    name, ctype, data = kind(tmp_path)
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, limits={"max_message_size": "60MB"})
    pid = daemon.process.pid
    warm = small(kind, tmp_path)
    assert send_raw(daemon, mixed("warm", [warm]), timeout=300)[0] == 250
    assert wait_for(lambda: len(sink.messages) >= 1, 120)
    message = mixed("The attachment.", [(name, ctype, data)])
    time.sleep(1)
    reset_peak(pid)
    before = status(pid, "VmRSS")
    started = time.monotonic()
    code, text = send_raw(daemon, message, timeout=600)
    assert code == 250, text
    accepted = status(pid, "VmHWM") - before
    took = time.monotonic() - started
    assert wait_for(lambda: len(sink.messages) >= 2, 600), "".join(daemon.log[-30:])
    delivered = status(pid, "VmHWM") - before
    print(f"\n{kind.__name__}: attachment {len(data) / MB:.1f} MB, message {len(message) / MB:.1f} MB, "
          f"accepted in {took:.1f} s; RSS before {before / MB:.0f} MB; peak growth to the 250 "
          f"{accepted / MB:.1f} MB = {accepted / len(data):.2f}x the attachment; through delivery "
          f"{delivered / MB:.1f} MB = {delivered / len(data):.2f}x the attachment "
          f"({delivered / len(message):.2f}x the message)")
    assert delivered <= 2.5 * len(message)
