//! The rebuild on hand-made documents: what is kept, what is dropped, what
//! is refused.

use std::io::{Cursor, Read, Write};

use bytes_png::png_with_text;
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

use super::*;
use crate::identity::tests::identity_of;

const W: &str = "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"";

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        zip.start_file(*name, SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn members_of(data: &[u8]) -> Vec<(String, String)> {
    let mut zip = ZipArchive::new(Cursor::new(data)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut file = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (
                file.name().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

mod bytes_png {
    /// A 1x1 PNG with a tEXt chunk holding `text`.
    pub(super) fn png_with_text(text: &[u8]) -> Vec<u8> {
        let mut out =
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89"
                .to_vec();
        let mut chunk = b"tEXt".to_vec();
        chunk.extend_from_slice(text);
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
        out.extend_from_slice(b"\0\0\0\0IEND\xaeB`\x82");
        out
    }
}

fn content_types(extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
         <Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
         <Override PartName=\"/docProps/custom.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.custom-properties+xml\"/>\
         <Override PartName=\"/word/people.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.people+xml\"/>\
         {extra}</Types>"
    )
}

/// A DOCX with identifying metadata everywhere `CANARY` can hide.
fn docx(body: &str) -> Vec<u8> {
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<!-- CANARY comment -->\
         <w:document {W}><w:body>{body}\
         <w:p w:rsidR=\"00CANARY\"><w:ins w:id=\"1\" w:author=\"CANARY Editor\" w:date=\"2026-01-02T03:04:05Z\"><w:r><w:t>inserted</w:t></w:r></w:ins></w:p>\
         <w:p><w:hyperlink r:id=\"rId9\"><w:r><w:t>the share</w:t></w:r></w:hyperlink></w:p>\
         <w:p><w:r><w:drawing><wp:docPr xmlns:wp=\"x\" id=\"1\" name=\"C:\\Users\\CANARY\\pic.png\" descr=\"CANARY descr\"/><a:blip xmlns:a=\"y\" r:embed=\"rId3\"/></w:drawing></w:r></w:p>\
         </w:body></w:document>"
    );
    let rels = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" Type=\"t/people\" Target=\"people.xml\"/>\
        <Relationship Id=\"rId2\" Type=\"t/comments\" Target=\"comments.xml\"/>\
        <Relationship Id=\"rId3\" Type=\"t/image\" Target=\"media/image1.png\"/>\
        <Relationship Id=\"rId4\" Type=\"t/settings\" Target=\"settings.xml\"/>\
        <Relationship Id=\"rId8\" Type=\"t/hyperlink\" Target=\"https://example.org/\" TargetMode=\"External\"/>\
        <Relationship Id=\"rId9\" Type=\"t/hyperlink\" Target=\"file:///C:/Users/CANARY/share\" TargetMode=\"External\"/>\
        </Relationships>";
    let package_rels = "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" Type=\"t/officeDocument\" Target=\"word/document.xml\"/>\
        <Relationship Id=\"rId2\" Type=\"t/core\" Target=\"docProps/core.xml\"/>\
        <Relationship Id=\"rId3\" Type=\"t/custom\" Target=\"docProps/custom.xml\"/>\
        <Relationship Id=\"rId4\" Type=\"t/thumbnail\" Target=\"docProps/thumbnail.jpeg\"/>\
        </Relationships>";
    let comments = format!(
        "<w:comments {W}><w:comment w:id=\"0\" w:author=\"CANARY Reviewer\" w:initials=\"CR\" w:date=\"2026-01-02T03:04:05Z\"><w:p><w:r><w:t>A remark</w:t></w:r></w:p></w:comment></w:comments>"
    );
    let settings = format!(
        "<w:settings {W}><w:attachedTemplate r:id=\"rId1\"/><w:rsids><w:rsidRoot w:val=\"00CANARY\"/></w:rsids><w:zoom w:percent=\"100\"/></w:settings>"
    );
    let settings_rels = "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"t/attachedTemplate\" Target=\"file:///C:/Users/CANARY/Normal.dotm\" TargetMode=\"External\"/></Relationships>";
    let png = png_with_text(b"Author\0CANARY png");
    zip_of(&[
        ("[Content_Types].xml", content_types("").as_bytes()),
        ("_rels/.rels", package_rels.as_bytes()),
        ("docProps/core.xml", b"<cp:coreProperties xmlns:cp=\"c\" xmlns:dc=\"d\"><dc:creator>CANARY</dc:creator></cp:coreProperties>"),
        ("docProps/custom.xml", b"<Properties><property name=\"CANARY\"/></Properties>"),
        ("docProps/thumbnail.jpeg", b"\xff\xd8\xffCANARY"),
        ("word/document.xml", document.as_bytes()),
        ("word/_rels/document.xml.rels", rels.as_bytes()),
        ("word/comments.xml", comments.as_bytes()),
        ("word/people.xml", b"<w15:people xmlns:w15=\"p\"><w15:person w15:author=\"CANARY\"/></w15:people>"),
        ("word/settings.xml", settings.as_bytes()),
        ("word/_rels/settings.xml.rels", settings_rels.as_bytes()),
        ("word/media/image1.png", &png),
    ])
}

fn identity() -> Identity {
    identity_of(
        &[("Jean Dupont", "jean.dupont@corp.example")],
        "jeannot",
        &[],
    )
}

#[test]
fn a_docx_is_rebuilt_without_its_metadata() {
    let input = docx("<w:p><w:r><w:t xml:space=\"preserve\">Hello &amp; welcome, </w:t></w:r><w:r><w:t>write to jean.dupont@corp.example</w:t></w:r></w:p>");
    let cleaned = clean_office(input.clone(), &identity()).expect("cleaned");
    assert_eq!(
        cleaned.media_type,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let members = members_of(&cleaned.bytes);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "[Content_Types].xml",
            "_rels/.rels",
            "docProps/core.xml",
            "word/document.xml",
            "word/_rels/document.xml.rels",
            "word/comments.xml",
            "word/settings.xml",
            "word/_rels/settings.xml.rels",
            "word/media/image1.png",
        ]
    );
    for (name, content) in &members {
        for needle in ["CANARY", "rsid", "2026-01-02", "jean.dupont", "file:"] {
            assert!(!content.contains(needle), "{needle} in {name}: {content}");
        }
    }
    let get = |name: &str| &members.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(!get("[Content_Types].xml").contains("people"));
    assert!(!get("_rels/.rels").contains("custom"));
    assert!(get("word/document.xml").contains("Hello &amp; welcome, "));
    assert!(get("word/document.xml").contains("w:author=\"Author\""));
    assert!(get("word/document.xml").contains("the share"));
    assert!(get("word/comments.xml").contains("w:author=\"Author\""));
    assert!(get("word/_rels/document.xml.rels").contains("https://example.org/"));
    assert!(get("word/_rels/document.xml.rels").contains("media/image1.png"));
    assert!(!get("word/settings.xml").contains("attachedTemplate"));
    assert!(
        cleaned.text.contains("Hello & welcome, write to"),
        "{}",
        cleaned.text
    );
    assert!(cleaned.text.contains("A remark"), "{}", cleaned.text);
    // Cleaning again changes nothing more.
    let again = clean_office(cleaned.bytes.clone(), &identity()).expect("cleaned again");
    assert_eq!(members_of(&again.bytes), members);
}

#[test]
fn a_name_split_across_runs_refuses_the_document() {
    let input =
        docx("<w:p><w:r><w:t>Signed: Jean Du</w:t></w:r><w:r><w:t>pont, Paris</w:t></w:r></w:p>");
    assert_eq!(
        clean_office(input.clone(), &identity()).err(),
        Some(OfficeError::Identity)
    );
    // Within one run, references and all, the name is replaced.
    let input = docx("<w:p><w:r><w:t>Signed: Jean&#32;Dupont</w:t></w:r></w:p>");
    let cleaned = clean_office(input.clone(), &identity()).expect("cleaned");
    assert!(!cleaned.text.contains("Dupont"), "{}", cleaned.text);
    assert!(
        cleaned.text.contains("Signed: Quelqu'un"),
        "{}",
        cleaned.text
    );
    let document = members_of(&cleaned.bytes)
        .into_iter()
        .find(|(name, _)| name == "word/document.xml")
        .unwrap()
        .1;
    assert!(!document.contains("Dupont"), "{document}");
}

#[test]
fn macros_plain_zips_bombs_and_doctypes_are_refused() {
    let types = content_types("");
    let doc = format!("<w:document {W}><w:body/></w:document>");
    let base: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", types.as_bytes()),
        ("word/document.xml", doc.as_bytes()),
    ];
    assert!(clean_office(zip_of(&base), &identity()).is_ok());
    let mut macro_doc = base.clone();
    macro_doc.push(("word/vbaProject.bin", b"\xd0\xcf\x11\xe0"));
    assert_eq!(
        clean_office(zip_of(&macro_doc), &identity()).err(),
        Some(OfficeError::Active)
    );
    let enabled = types.replace(
        "wordprocessingml.document.main+xml",
        "wordprocessingml.document.main+xml\"/><Override PartName=\"/x\" ContentType=\"application/vnd.ms-word.document.macroEnabled.main+xml",
    );
    assert_eq!(
        clean_office(
            zip_of(&[("[Content_Types].xml", enabled.as_bytes())]),
            &identity()
        )
        .err(),
        Some(OfficeError::Active)
    );
    assert_eq!(
        clean_office(zip_of(&[("notes.txt", b"hello")]), &identity()).err(),
        Some(OfficeError::NotOffice)
    );
    let zeros = vec![0u8; 20 << 20];
    let mut bomb = base.clone();
    bomb.push(("word/media/image1.png", &zeros));
    assert_eq!(
        clean_office(zip_of(&bomb), &identity()).err(),
        Some(OfficeError::Bomb)
    );
    let doctype = format!("<!DOCTYPE x [<!ENTITY e \"Jean Dupont\">]><w:document {W}><w:body><w:p><w:r><w:t>&e;</w:t></w:r></w:p></w:body></w:document>");
    let with_doctype = [
        ("[Content_Types].xml", types.as_bytes()),
        ("word/document.xml", doctype.as_bytes()),
    ];
    assert_eq!(
        clean_office(zip_of(&with_doctype), &identity()).err(),
        Some(OfficeError::Broken)
    );
    let mut evil = base.clone();
    evil.push(("../escape.xml", b"x"));
    assert_eq!(
        clean_office(zip_of(&evil), &identity()).err(),
        Some(OfficeError::Broken)
    );
}

#[test]
fn an_image_leak_cannot_clean_refuses_the_document() {
    let types = content_types("");
    let doc = format!("<w:document {W}><w:body/></w:document>");
    let members: [(&str, &[u8]); 3] = [
        ("[Content_Types].xml", types.as_bytes()),
        ("word/document.xml", doc.as_bytes()),
        ("word/media/image1.emf", b"\x01\0\0\0EMF CANARY"),
    ];
    assert_eq!(
        clean_office(zip_of(&members), &identity()).err(),
        Some(OfficeError::Media)
    );
}

#[test]
fn an_odt_gets_neutral_metadata_and_authors() {
    let content = "<office:document-content xmlns:office=\"o\" xmlns:text=\"t\" xmlns:dc=\"d\"><office:body><office:text>\
        <text:p>Bonjour<office:annotation><dc:creator>CANARY</dc:creator><dc:date>2026-01-02T03:04:05</dc:date><text:p>Note</text:p></office:annotation></text:p>\
        </office:text></office:body></office:document-content>";
    let manifest = "<manifest:manifest xmlns:manifest=\"m\"><manifest:file-entry manifest:full-path=\"/\"/>\
        <manifest:file-entry manifest:full-path=\"content.xml\"/><manifest:file-entry manifest:full-path=\"settings.xml\"/>\
        <manifest:file-entry manifest:full-path=\"Thumbnails/thumbnail.png\"/></manifest:manifest>";
    let input = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("meta.xml", b"<office:document-meta><meta:initial-creator>CANARY</meta:initial-creator></office:document-meta>"),
        ("settings.xml", b"<x>CANARY printer</x>"),
        ("Thumbnails/thumbnail.png", &png_with_text(b"Author\0CANARY")),
        ("META-INF/manifest.xml", manifest.as_bytes()),
    ]);
    let cleaned = clean_office(input.clone(), &identity()).expect("cleaned");
    assert_eq!(
        cleaned.media_type,
        "application/vnd.oasis.opendocument.text"
    );
    let members = members_of(&cleaned.bytes);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "mimetype",
            "content.xml",
            "meta.xml",
            "META-INF/manifest.xml"
        ]
    );
    for (name, content) in &members {
        assert!(!content.contains("CANARY"), "{name}: {content}");
        assert!(!content.contains("2026"), "{name}: {content}");
    }
    assert!(members[1].1.contains("<dc:creator>Author</dc:creator>"));
    assert!(!members[3].1.contains("settings.xml"));
    assert!(cleaned.text.contains("Bonjour"), "{}", cleaned.text);
    assert!(cleaned.text.contains("Note"), "{}", cleaned.text);
}
