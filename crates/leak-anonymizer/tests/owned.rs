//! `anonymize_owned` and `draft_owned` then `Draft::write` (the daemon's
//! entry point, which frees the DATA buffer once parsed, each attachment
//! once cleaned and the moderation text before writing) give what
//! `anonymize` gives: same moderation text, subject and pseudonym, and the
//! same decoded parts (only the random Message-ID, boundaries and
//! Content-IDs differ).

mod common;

use base64::Engine;
use common::{check_structure, load, options};
use leak_anonymizer::{anonymize, anonymize_owned, draft_owned, Anonymized, Submission};
use mail_parser::PartType;

fn both(data: &[u8]) -> (Anonymized, Anonymized) {
    let aliases = vec!["Zeb V.".to_string()];
    let sub = Submission {
        data,
        mail_from: "zeb@canary-corp.example",
        account: "zvanderkamp",
        aliases: &aliases,
        notify: None,
    };
    let borrowed = anonymize(&sub, &options()).expect("anonymize");
    let owned = anonymize_owned(data.to_vec(), &sub.sender(), &options()).expect("owned");
    // The daemon's two steps: the draft's text is moderated, then written.
    let draft = draft_owned(data.to_vec(), &sub.sender(), &options()).expect("draft");
    assert_eq!(
        (
            &draft.text,
            &draft.subject,
            &draft.pseudonym,
            &draft.category
        ),
        (
            &owned.text,
            &owned.subject,
            &owned.pseudonym,
            &owned.category
        )
    );
    assert_eq!(draft.custom_pseudonym, owned.custom_pseudonym);
    let written = draft.write().expect("written");
    assert_eq!(written.len(), owned.message.len());
    assert_eq!(leaf_bodies(&written), leaf_bodies(&owned.message));
    (borrowed, owned)
}

fn leaf_bodies(message: &[u8]) -> Vec<Vec<u8>> {
    check_structure(message)
        .parts
        .iter()
        .filter(|part| !matches!(part.body, PartType::Multipart(_)))
        .map(|part| part.contents().to_vec())
        .collect()
}

/// A multipart message carrying the fixture images, base64-encoded, with
/// a Windows path as file name (read from the raw header block).
fn with_attachments() -> Vec<u8> {
    let b64 = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap());
        encoded
            .as_bytes()
            .chunks(76)
            .map(|l| format!("{}\r\n", std::str::from_utf8(l).unwrap()))
            .collect::<String>()
    };
    format!(
        "From: friend@anon.example\r\nTo: bob@x.example\r\nSubject: photos\r\n\
         X-Leak-Pseudonym: =?utf-8?q?Le_H=C3=A9risson?=\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         see attached\r\n--b\r\nContent-Type: image/jpeg; name=\"C:\\Users\\zeb\\photo.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"C:\\Users\\zeb\\photo.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--b\r\nContent-Type: image/png; name=shot.png\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
        b64("photo-gps.jpg"),
        b64("screenshot.png"),
    )
    .into_bytes()
}

#[test]
fn owned_and_borrowed_input_give_the_same_message() {
    let mut inputs: Vec<Vec<u8>> = ["gmail.eml", "outlook.eml", "apple-mail.eml", "k9.eml"]
        .iter()
        .map(|name| load(name))
        .collect();
    inputs.push(with_attachments());
    for data in inputs {
        let (borrowed, owned) = both(&data);
        assert_eq!(borrowed.text, owned.text);
        assert_eq!(borrowed.subject, owned.subject);
        assert_eq!(borrowed.pseudonym, owned.pseudonym);
        assert_eq!(borrowed.custom_pseudonym, owned.custom_pseudonym);
        assert_eq!(borrowed.message.len(), owned.message.len());
        assert_eq!(leaf_bodies(&borrowed.message), leaf_bodies(&owned.message));
    }
    let (_, owned) = both(&with_attachments());
    let text = String::from_utf8_lossy(&owned.message);
    assert!(text.contains("filename=\"photo.jpg\""), "{text}");
    assert!(!text.contains("zeb"), "the path's user name is cut");
    assert!(owned.custom_pseudonym && owned.pseudonym == "Le Hérisson");
}
