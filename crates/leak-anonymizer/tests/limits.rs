//! Structural limits: deep MIME nesting, nested messages and huge header
//! blocks are refused before anything recurses over them, on a thread with
//! a small stack (a tokio blocking thread has 2 MiB; these use far less, so
//! a stack overflow here means the limit is not enforced before recursion).

mod common;

use common::options;
use leak_anonymizer::{anonymize, AnonymizeError, Submission};

/// `levels` multiparts, each the only child of the previous one.
fn nested_multipart(levels: usize) -> Vec<u8> {
    let mut s = String::from("From: a@b.example\r\nTo: c@d.example\r\nSubject: deep\r\n");
    for i in 0..levels {
        s += &format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n");
    }
    s += "Content-Type: text/plain\r\n\r\nhello\r\n";
    for i in (0..levels).rev() {
        s += &format!("--b{i}--\r\n");
    }
    s.into_bytes()
}

/// `levels` forwarded messages, each inside the previous one.
fn nested_messages(levels: usize) -> Vec<u8> {
    let mut s = String::from("From: a@b.example\r\nTo: c@d.example\r\n");
    for i in 0..levels {
        s += &format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n\
             Content-Type: message/rfc822\r\n\r\nFrom: e@f.example\r\n"
        );
    }
    s += "Content-Type: text/plain\r\n\r\nhello\r\n";
    for i in (0..levels).rev() {
        s += &format!("--b{i}--\r\n");
    }
    s.into_bytes()
}

/// Runs the anonymizer on a thread with a 256 KiB stack.
fn small_stack(data: Vec<u8>) -> Result<(), AnonymizeError> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let sub = Submission {
                data: &data,
                mail_from: "a@b.example",
                account: "a",
                aliases: &[],
                notify: None,
            };
            anonymize(&sub, &options()).map(|_| ())
        })
        .expect("thread")
        .join()
        .expect("no panic")
}

#[test]
fn deep_multipart_nesting_is_refused() {
    assert_eq!(
        small_stack(nested_multipart(3500)),
        Err(AnonymizeError::TooDeep)
    );
    assert_eq!(
        small_stack(nested_multipart(101)),
        Err(AnonymizeError::TooDeep)
    );
}

#[test]
fn nesting_up_to_the_limit_is_rebuilt() {
    // The root is level 1; 99 multiparts plus the text part make 100.
    let ok = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let data = nested_multipart(99);
            let sub = Submission {
                data: &data,
                mail_from: "a@b.example",
                account: "a",
                aliases: &[],
                notify: None,
            };
            anonymize(&sub, &options()).map(|out| out.text)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(ok.as_deref(), Ok("hello"));
}

#[test]
fn nested_messages_are_refused_before_parsing() {
    assert_eq!(
        small_stack(nested_messages(3500)),
        Err(AnonymizeError::NestedMessage)
    );
    // Encoded: the parser would decode and parse it; the prescan sees the
    // declaration first.
    let inner = String::from_utf8(nested_messages(50)).unwrap();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
    let data = format!(
        "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
         Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--o--\r\n"
    );
    assert_eq!(
        small_stack(data.into_bytes()),
        Err(AnonymizeError::NestedMessage)
    );
}

#[test]
fn huge_header_blocks_are_refused() {
    let mut data = b"From: a@b.example\r\n".to_vec();
    for i in 0..2000 {
        data.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(60)).as_bytes());
    }
    data.extend_from_slice(b"\r\nbody\r\n");
    assert_eq!(small_stack(data), Err(AnonymizeError::HeaderTooLarge));
}

#[test]
fn refusal_texts_are_bilingual_ascii() {
    for err in [
        AnonymizeError::NestedMessage,
        AnonymizeError::TooDeep,
        AnonymizeError::TooManyParts,
        AnonymizeError::HeaderTooLarge,
    ] {
        let text = err.to_string();
        assert!(text.is_ascii() && text.contains(" / "), "{text}");
    }
}
