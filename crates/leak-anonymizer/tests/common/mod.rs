//! Helpers shared by the integration tests: options, fixture loading and
//! checks every rebuilt message must pass.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::path::PathBuf;

use leak_anonymizer::{anonymize, Anonymized, Options, Submission, DEFAULT_NOTICE, OUTPUT_HEADERS};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Options as a typical operator sets them.
pub fn options() -> Options {
    Options {
        domain: "anon.example".into(),
        hostname: "mail.anon.example".into(),
        default_category: "someone".into(),
        categories: BTreeMap::from([
            ("colleague".to_string(), "Un collègue".to_string()),
            ("friend".to_string(), "Un ami".to_string()),
            ("someone".to_string(), "Quelqu'un".to_string()),
        ]),
        allow_custom_pseudonyms: true,
        notice: Some(DEFAULT_NOTICE.to_string()),
        optout_address: Some("optout@anon.example".into()),
        attachments: Default::default(),
    }
}

/// A fixture's bytes with CRLF line endings, as SMTP DATA delivers them.
pub fn load(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

/// Anonymizes `data` as account `zvanderkamp` with the persona's aliases.
pub fn run(data: &[u8], mail_from: &str) -> Anonymized {
    let aliases = vec![
        "Zeb V.".to_string(),
        "z.vanderkamp@canary-home.example".to_string(),
    ];
    let sub = Submission {
        data,
        mail_from,
        account: "zvanderkamp",
        aliases: &aliases,
        notify: None,
    };
    anonymize(&sub, &options()).unwrap_or_else(|e| panic!("anonymize failed: {e}"))
}

/// The structural checks every output must pass: CRLF only, parses back,
/// top-level header names only from the allowed set. Returns the parse.
pub fn check_structure(bytes: &[u8]) -> Message<'_> {
    for (i, byte) in bytes.iter().enumerate() {
        match byte {
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}"),
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            0 => panic!("NUL at {i}"),
            _ => {}
        }
    }
    for name in top_level_header_names(bytes) {
        assert!(
            OUTPUT_HEADERS
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(&name)),
            "unexpected header {name:?}"
        );
    }
    MessageParser::default()
        .parse(bytes)
        .expect("output parses")
}

/// Header names of the top-level block, read directly from the bytes.
pub fn top_level_header_names(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .filter(|line| !line.starts_with([' ', '\t']) && !line.is_empty())
        .map(|line| line.split(':').next().unwrap_or("").to_string())
        .collect()
}

/// Every decoded body of every part (nested messages included), and every
/// decoded header value, as bytes.
pub fn decoded_contents(message: &Message<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for part in &message.parts {
        for header in part.headers() {
            out.push(format!("{:?}", header.value()).into_bytes());
        }
        if let Some(name) = part.attachment_name() {
            out.push(name.as_bytes().to_vec());
        }
        match &part.body {
            PartType::Message(nested) => out.extend(decoded_contents(nested)),
            PartType::Multipart(_) => {}
            _ => out.push(part.contents().to_vec()),
        }
    }
    out
}

/// Case-insensitive for long canaries, exact for short ones (a 4-letter
/// string can appear by chance in base64 of any case).
pub fn contains_canary(hay: &[u8], canary: &str) -> bool {
    let needle = canary.as_bytes();
    if needle.len() >= 6 {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    } else {
        hay.windows(needle.len()).any(|w| w == needle)
    }
}
