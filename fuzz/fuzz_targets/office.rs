//! One Office document through the anonymizer. The input is cut at each
//! `\xff\xfe` into pieces that become the members of a ZIP built here
//! around a fixed, valid package skeleton (so the fuzzer reaches the XML
//! rewriter instead of stopping at the container): for a DOCX (first byte
//! even) `word/document.xml`, its relationships, `word/comments.xml`, an
//! image and one member whose name and content are both fuzzed; for an ODT
//! (first byte odd) `content.xml`, the manifest, a picture and the same
//! free member. This drives the ZIP caps, the format sniffing, the
//! allow-list, the relationship/manifest rewrites and the streaming XML
//! rewrite on arbitrary bytes. Checks: no panic; a refusal's reply text is
//! ASCII and bilingual; an accepted document leaves with an Office media
//! type, as a ZIP without any member the allow-list drops.

#![no_main]

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use base64::Engine;
use leak_anonymizer::{anonymize, AnonymizeError, AttachmentPolicy, Options, Submission};
use libfuzzer_sys::fuzz_target;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use zip::write::SimpleFileOptions;

const DOCX_TYPES: &str = "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>";

fn options() -> Options {
    Options {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        default_category: "someone".into(),
        categories: BTreeMap::from([("someone".to_string(), "Quelqu'un".to_string())]),
        allow_custom_pseudonyms: false,
        notice: None,
        optout_address: None,
        attachments: AttachmentPolicy::Clean,
    }
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(2).position(|w| w == b"\xff\xfe") {
        pieces.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    pieces.push(rest);
    pieces
}

fn document(odt: bool, pieces: &[&[u8]]) -> Vec<u8> {
    let piece = |i: usize| pieces.get(i).copied().unwrap_or(b"");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut add = |name: &str, data: &[u8]| {
        if zip.start_file(name, SimpleFileOptions::default()).is_ok() {
            let _ = zip.write_all(data);
        }
    };
    if odt {
        add("mimetype", b"application/vnd.oasis.opendocument.text");
        add("content.xml", piece(0));
        add("META-INF/manifest.xml", piece(1));
        add("Pictures/a.png", piece(3));
    } else {
        add("[Content_Types].xml", DOCX_TYPES.as_bytes());
        add("word/document.xml", piece(0));
        add("word/_rels/document.xml.rels", piece(1));
        add("word/comments.xml", piece(2));
        add("word/media/image1.png", piece(3));
    }
    if let Some(name) = pieces.get(4) {
        add(&String::from_utf8_lossy(name), piece(5));
    }
    zip.finish().map(Cursor::into_inner).unwrap_or_default()
}

fn wrap(body: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    format!(
        "From: Jean Dupont <a@b.example>\r\nTo: c@d.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         hi\r\n--b\r\nContent-Type: application/octet-stream; name=f.docx\r\n\
         Content-Disposition: attachment; filename=f.docx\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {encoded}\r\n--b--\r\n"
    )
    .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let odt = selector & 1 == 1;
    let message = wrap(&document(odt, &split(rest)));
    let submission = Submission {
        data: &message,
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    match anonymize(&submission, &options()) {
        Err(AnonymizeError::Attachment(refusal)) => {
            let text = refusal.to_string();
            assert!(text.is_ascii() && text.contains(" / piece jointe "), "{text}");
        }
        Err(_) => {}
        Ok(out) => {
            let Some(parsed) = MessageParser::default().parse(&out.message) else {
                return;
            };
            let Some(part) = parsed.attachments().next() else {
                return;
            };
            let kind = part.content_type().map(|ct| ct.subtype().unwrap_or("").to_string());
            let expected = if odt {
                "vnd.oasis.opendocument.text"
            } else {
                "vnd.openxmlformats-officedocument.wordprocessingml.document"
            };
            assert_eq!(kind.as_deref(), Some(expected));
            let PartType::Binary(bytes) = &part.body else {
                panic!("a document leaves as binary");
            };
            let archive = zip::ZipArchive::new(Cursor::new(bytes.as_ref())).expect("a ZIP");
            // Whatever the free member was called, nothing the allow-list
            // drops may come out.
            const DROPPED: &[&str] = &[
                "custom", "thumbnail", "people", "vba", "embeddings", "activex",
                "websettings", "printersettings", "__macosx", "..", "commentsextended",
            ];
            for name in archive.file_names() {
                let lower = name.to_ascii_lowercase();
                assert!(
                    !DROPPED.iter().any(|d| lower.contains(d)),
                    "{name} left leak"
                );
                assert!(!(odt && name == "settings.xml"), "{name} left leak");
            }
        }
    }
});
