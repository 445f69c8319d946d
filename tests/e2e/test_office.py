"""Office documents (DOCX, XLSX, PPTX, ODT) are rebuilt, not refused.

Each document is made with the library people's tools use (python-docx,
openpyxl, python-pptx, odfpy), loaded with identifying metadata (core and
custom properties, company, template path, comment and revision authors,
a thumbnail, a photo with EXIF GPS), sent through the daemon to a real
receiving server, and the delivered file is opened again: no canary in any
ZIP member or in exiftool's output of its images, and the same text."""

import io
import json
import zipfile

import pytest

from test_attachments import (CANARY, SUBMITTER, assert_no_canary, deliver, mixed,
                              received_parts, run, send_raw, tag_image)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
INSULT = "T'es qu'un sale c0nn4rd, espece de minable."


def rewrite_zip(data, change):
    """A copy of the ZIP `data` with members changed by change(dict name -> bytes)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {name: z.read(name) for name in z.namelist()}
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return out.getvalue()


def add_package_part(members, name, content, rel_type, ctype):
    """Adds a package-level part with its relationship and content type."""
    members[name] = content
    rels = members["_rels/.rels"].decode()
    rels = rels.replace("</Relationships>", f'<Relationship Id="rIdLeak{len(members)}" '
                        f'Type="{rel_type}" Target="{name}"/></Relationships>')
    members["_rels/.rels"] = rels.encode()
    types = members["[Content_Types].xml"].decode()
    types = types.replace("</Types>", f'<Override PartName="/{name}" ContentType="{ctype}"/></Types>')
    members["[Content_Types].xml"] = types.encode()


def identifying_package(members, thumbnail):
    """Custom properties, a thumbnail and an app.xml naming company,
    manager and template, as Office writes them."""
    members["docProps/app.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        f"<Template>C:\\Users\\{CANARY}\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm</Template>"
        f"<Company>{CANARY} Corp</Company><Manager>{CANARY} boss</Manager>"
        "<Application>Microsoft Office Word</Application></Properties>").encode()
    if "docProps/app.xml" not in members["[Content_Types].xml"].decode():
        add_package_part(members, "docProps/app.xml", members["docProps/app.xml"],
                         "http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties",
                         "application/vnd.openxmlformats-officedocument.extended-properties+xml")
    add_package_part(
        members, "docProps/custom.xml",
        ('<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
         'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
         '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Owner">'
         f"<vt:lpwstr>{CANARY} owner</vt:lpwstr></property></Properties>").encode(),
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties",
        "application/vnd.openxmlformats-officedocument.custom-properties+xml")
    add_package_part(members, "docProps/thumbnail.jpeg", thumbnail,
                     "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail",
                     "image/jpeg")


@pytest.fixture
def photo(tmp_path):
    """A JPEG with EXIF GPS, serial and owner name."""
    path = tmp_path / "photo.jpg"
    run("convert", "-size", "64x48", "gradient:green-yellow", str(path))
    tag_image(path)
    meta = run("exiftool", "-a", "-G1", str(path)).stdout.decode()
    assert CANARY in meta and "GPS" in meta
    return path


def build_docx(tmp_path, photo, extra_paragraph="The budget is 42 k\u20ac."):
    import docx

    document = docx.Document()
    props = document.core_properties
    props.author = f"{CANARY} author"
    props.last_modified_by = f"{CANARY} editor"
    props.comments = f"{CANARY} comments"
    props.title = f"C:\\Users\\{CANARY}\\plan.docx"
    props.keywords = f"{CANARY} keywords"
    first = document.add_paragraph("Quarterly plan for the ")
    first.add_run("northern region").bold = True
    document.add_paragraph(extra_paragraph)
    commented = document.add_paragraph("This figure is provisional.")
    document.add_comment(commented.runs, text="Check with finance.", author=f"{CANARY} reviewer",
                         initials="CR")
    document.add_picture(str(photo))
    document.add_paragraph("TRACKED-CHANGE-HERE")
    path = tmp_path / "plan.docx"
    document.save(str(path))

    def change(members):
        body = members["word/document.xml"].decode()
        tracked = (f'<w:ins w:id="901" w:author="{CANARY} tracker" w:date="2026-03-04T05:06:07Z">'
                   "<w:r><w:t>Inserted by review.</w:t></w:r></w:ins>")
        body = body.replace("<w:r><w:t>TRACKED-CHANGE-HERE</w:t></w:r>", tracked)
        body = body.replace("<w:p>", f'<w:p w:rsidR="00{CANARY[:6].upper()}">', 1)
        body = body.replace('descr=""', f'descr="C:\\Users\\{CANARY}\\Pictures\\photo.jpg"')
        members["word/document.xml"] = body.encode()
        settings = members["word/settings.xml"].decode()
        settings = settings.replace(
            "</w:settings>",
            '<w:rsids><w:rsidRoot w:val="00A1B2C3"/><w:rsid w:val="00A1B2C3"/></w:rsids></w:settings>')
        members["word/settings.xml"] = settings.encode()
        members["word/people.xml"] = (
            f'<w15:people {W_NS} xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
            f'<w15:person w15:author="{CANARY} reviewer"><w15:presenceInfo w15:providerId="AD" '
            f'w15:userId="S::{CANARY}@corp.example::1234"/></w15:person></w15:people>').encode()
        identifying_package(members, photo.read_bytes())

    data = rewrite_zip(path.read_bytes(), change)
    path.write_bytes(data)
    assert CANARY.encode() in data or any(
        CANARY.encode() in content for content in zip_members(data).values())
    return path


def zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}


def docx_text(path_or_bytes):
    import docx

    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    document = docx.Document(source)
    paragraphs = ["".join(node.text or "" for node in p._p.iter()
                          if node.tag.endswith("}t")) for p in document.paragraphs]
    comments = [c.text for c in document.comments]
    return paragraphs, comments


def assert_document_clean(raw, tmp_path, media_type):
    """The delivered attachment: its type, every member canary-free,
    every embedded image canary-free for exiftool. Returns its bytes."""
    assert_no_canary(raw, tmp_path)
    assert b"Dupont" not in raw and SUBMITTER.encode() not in raw
    _, parts = received_parts(raw)
    docs = [body for ctype, _, body in parts if ctype == media_type]
    assert len(docs) == 1, [p[:2] for p in parts]
    members = zip_members(docs[0])
    for name, content in members.items():
        lowered = content.lower()
        for needle in (CANARY.lower().encode(), b"dupont", b"c:\\users", b"rsid", b"2026-03-04"):
            assert needle not in lowered, (name, needle, content[:400])
        if name.rsplit(".", 1)[-1].lower() in ("jpg", "jpeg", "png", "gif", "webp"):
            image = tmp_path / "member-image"
            image.write_bytes(content)
            meta = run("exiftool", "-a", "-u", "-G1", str(image)).stdout.decode()
            assert CANARY.lower() not in meta.lower() and "GPS" not in meta, meta
    return docs[0], members


def test_a_docx_arrives_clean_and_with_the_same_text(make_daemon, mx_and_dns, tmp_path, photo):
    path = build_docx(tmp_path, photo, "Write to Jean Dupont (" + SUBMITTER + ") for details.")
    before, before_comments = docx_text(path)
    message = mixed("Here is the plan.", [("plan.docx", "application/octet-stream", path.read_bytes())])
    code, text, raw = deliver(make_daemon, mx_and_dns, message)
    assert code == 250, text
    data, members = assert_document_clean(raw, tmp_path, DOCX)
    for dropped in ("docProps/custom.xml", "docProps/thumbnail.jpeg", "word/people.xml"):
        assert dropped not in members, dropped
    assert any(name.startswith("word/media/") for name in members), "the picture is kept"
    assert b'w:author="Author"' in members["word/document.xml"]
    assert b'w:author="Author"' in members["word/comments.xml"]
    assert b"<Application>leak</Application>" in members["docProps/app.xml"]
    after, after_comments = docx_text(data)
    # The sender's name and address were scrubbed from the text; the rest
    # is unchanged.
    expected = [p for p in before if "Dupont" not in p]
    assert len(expected) == len(before) - 1
    assert [p for p in after if not p.startswith("Write to ")] == expected
    written = [p for p in after if p.startswith("Write to ")]
    assert len(written) == 1 and written[0].endswith(" for details."), written
    assert "Inserted by review." in after and "Quarterly plan for the northern region" in after
    assert after_comments == before_comments == ["Check with finance."]


def test_an_xlsx_a_pptx_and_an_odt_arrive_clean_with_the_same_text(make_daemon, mx_and_dns,
                                                                      tmp_path, photo):
    import openpyxl
    from openpyxl.comments import Comment
    import pptx
    from odf import dc, meta, office
    from odf.opendocument import OpenDocumentText, load
    from odf.text import P
    from odf import teletype

    book = openpyxl.Workbook()
    book.properties.creator = f"{CANARY} creator"
    book.properties.lastModifiedBy = f"{CANARY} editor"
    sheet = book.active
    sheet.title = "Budget"
    sheet["A1"], sheet["B1"], sheet["A2"], sheet["B2"] = "Item", "Cost", "Trucks", 1200
    sheet["A2"].comment = Comment("Ask the depot", f"{CANARY} commenter")
    xlsx = io.BytesIO()
    book.save(xlsx)
    xlsx = rewrite_zip(xlsx.getvalue(), lambda m: identifying_package(m, photo.read_bytes()))

    deck = pptx.Presentation()
    deck.core_properties.author = f"{CANARY} author"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap"
    slide.placeholders[1].text = "Ship the trucks in May"
    slide.shapes.add_picture(str(photo), 0, 0)
    slides = io.BytesIO()
    deck.save(slides)
    slides = rewrite_zip(slides.getvalue(), lambda m: identifying_package(m, photo.read_bytes()))

    odt = OpenDocumentText()
    odt.meta.addElement(meta.InitialCreator(text=f"{CANARY} creator"))
    odt.meta.addElement(dc.Creator(text=f"{CANARY} editor"))
    paragraph = P(text="Minutes of the meeting")
    note = office.Annotation()
    note.addElement(dc.Creator(text=f"{CANARY} annotator"))
    note.addElement(P(text="Needs a date"))
    paragraph.addElement(note)
    odt.text.addElement(paragraph)
    odt.text.addElement(P(text="Second point"))
    odt_path = tmp_path / "minutes.odt"
    odt.save(str(odt_path))

    files = [("budget.xlsx", XLSX, xlsx), ("roadmap.pptx", PPTX, slides),
             ("minutes.odt", ODT, odt_path.read_bytes())]
    message = mixed("Three files.", [(name, "application/octet-stream", data) for name, _, data in files])
    code, text, raw = deliver(make_daemon, mx_and_dns, message)
    assert code == 250, text
    for name, media_type, original in files:
        data, members = assert_document_clean(raw, tmp_path, media_type)
        if media_type == XLSX:
            cells = lambda d: [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(d)).active.iter_rows()]
            assert cells(data) == cells(original) == [["Item", "Cost"], ["Trucks", 1200]]
            assert not any("comments" in n for n in members), "sheet comments are dropped"
        elif media_type == PPTX:
            texts = lambda d: [s.text_frame.text for s in pptx.Presentation(io.BytesIO(d)).slides[0].shapes if s.has_text_frame]
            assert texts(data) == texts(original) == ["Roadmap", "Ship the trucks in May"]
            assert any(n.startswith("ppt/media/") for n in members), "the picture is kept"
        else:
            text_of = lambda d: [teletype.extractText(p) for p in load(io.BytesIO(d)).getElementsByType(P)]
            # The annotation's author is the only change.
            assert text_of(data) == [t.replace(f"{CANARY} annotator", "Author") for t in text_of(original)]
            assert "Minutes of the meeting" in text_of(data)[0]
            assert b"<dc:creator>Author</dc:creator>" in members["content.xml"]
            assert list(members)[0] == "mimetype"


def test_refused_documents(make_daemon, mx_and_dns, tmp_path, photo):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, limits={"max_message_size": "10MB"})
    plan = build_docx(tmp_path, photo).read_bytes()

    def bomb(members):
        members["word/media/image9.png"] = b"\0" * (20 << 20)

    def macros(members):
        members["word/vbaProject.bin"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
        types = members["[Content_Types].xml"].decode().replace(
            "wordprocessingml.document.main+xml", "PLACEHOLDER")
        members["[Content_Types].xml"] = types.replace(
            "application/vnd.openxmlformats-officedocument.PLACEHOLDER",
            "application/vnd.ms-word.document.macroEnabled.main+xml").encode()

    def emf(members):
        members["word/media/image9.emf"] = b"\x01\0\0\0" + b"\0" * 100

    legacy = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1024
    cases = [
        ("bomb.docx", rewrite_zip(plan, bomb), "zip bomb"),
        ("macros.docm", rewrite_zip(plan, macros), "macros"),
        ("drawing.docx", rewrite_zip(plan, emf), "image leak cannot clean"),
        ("old.doc", legacy, "legacy office"),
    ]
    for name, data, words in cases:
        code, text = send_raw(daemon, mixed("See attached.", [(name, "application/octet-stream", data)]))
        assert (code, text[:5]) == (554, "5.6.0"), (name, text)
        assert f'"{name}"' in text and " / piece jointe " in text, text
        assert words in text.lower(), (name, text)
    code, text = send_raw(daemon, mixed("See attached.", [
        ("rude.docx", DOCX, build_docx(tmp_path, photo, INSULT).read_bytes())]))
    # Refused, or held for review when the rules fire and the model doubts
    # (docs/moderation.md): never delivered either way.
    if code == 250:
        held = json.loads(daemon.cli("queue", "list", "--held", "--json").stdout)
        assert len(held) == 1, held
        assert "moderation" in daemon.cli("queue", "show", held[0]["id"]).stdout
    else:
        assert (code, text[:5]) == (550, "5.7.1"), text
    assert sink.messages == []
    assert daemon.process.poll() is None


def test_policy_images_refuses_documents(make_daemon, tmp_path, photo):
    images = make_daemon(start=False)
    images.config.write_text(images.config.read_text().replace(
        'default_category = "someone"', 'default_category = "someone"\nattachments = "images"'))
    images.start()
    plan = build_docx(tmp_path, photo).read_bytes()
    code, text = send_raw(images, mixed("x", [("plan.docx", DOCX, plan)]))
    assert (code, text[:5]) == (554, "5.6.0") and "only image" in text, text


def test_a_large_document_costs_a_bounded_multiple_of_its_size(make_daemon, mx_and_dns, tmp_path):
    """A 12 MB DOCX around one large photo: the daemon's peak RSS grows by
    a bounded multiple of the message while it is received, rebuilt (the
    members cleaned first, then the new ZIP written once the source is
    freed) and stored. Measured: 1.8x the message, 2.4x the document
    (docs/performance.md, "Large attachments"); one more copy of the
    message goes over the bound."""
    import docx

    from test_attachments import growth_while_accepted

    big = tmp_path / "site.jpg"
    run("convert", "-size", "3300x2100", "xc:", "+noise", "Random", "-depth", "8", "-quality", "92",
        str(big))
    tag_image(big)
    document = docx.Document()
    document.core_properties.author = f"{CANARY} author"
    document.add_paragraph("The site, as it is now.")
    document.add_picture(str(big))
    path = tmp_path / "site.docx"
    document.save(str(path))
    data = path.read_bytes()
    assert len(data) > 10_000_000
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port, limits={"max_message_size": "30MB"})
    # Warm every code path up with a small document, then measure.
    thumb = tmp_path / "thumb.jpg"
    run("convert", "-size", "64x48", "gradient:green-yellow", str(thumb))
    small = build_docx(tmp_path, thumb).read_bytes()
    assert send_raw(daemon, mixed("warm", [("plan.docx", DOCX, small)]))[0] == 250
    message = mixed("The site.", [("site.docx", DOCX, data)])
    growth = growth_while_accepted(daemon, message, len(data))
    assert growth <= 2.5 * len(message), f"peak RSS grew by {growth / len(message):.2f}x the message"
