//! A PDF whose font `/ToUnicode` stream is damaged (found by the `pdf`
//! fuzz target): the first read could decode its text, the rebuild could
//! not carry the stream over, and the rebuilt file's text was unreadable.
//! What leaves is now read again and its text is the one moderated, so
//! such a file is refused, and whatever is accepted is accepted again.

mod common;

use base64::Engine;
use common::options;
use leak_anonymizer::{anonymize, AnonymizeError, Submission};
use mail_parser::{MessageParser, PartType};

fn send(pdf: &[u8]) -> Result<Vec<u8>, AnonymizeError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    let data = format!(
        "From: a@b.example\r\nTo: c@d.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         hi\r\n--b\r\nContent-Type: application/pdf; name=f.pdf\r\n\
         Content-Disposition: attachment; filename=f.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {encoded}\r\n--b--\r\n"
    );
    let submission = Submission {
        data: data.as_bytes(),
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    anonymize(&submission, &options()).map(|out| out.message)
}

#[test]
fn a_pdf_whose_text_the_rebuild_cannot_carry_is_refused() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pdf-damaged-tounicode.pdf");
    let pdf = std::fs::read(path).expect("fixture");
    match send(&pdf) {
        Err(AnonymizeError::Attachment(refusal)) => {
            assert!(refusal.to_string().contains("f.pdf"), "{refusal}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(message) => {
            let parsed = MessageParser::default()
                .parse(&message[..])
                .expect("parses");
            let part = parsed.attachments().next().expect("attachment");
            let PartType::Binary(bytes) = &part.body else {
                panic!("not binary")
            };
            assert!(send(bytes).is_ok(), "a rebuilt PDF is accepted again");
        }
    }
}
