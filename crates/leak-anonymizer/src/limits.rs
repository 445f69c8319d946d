//! Structural limits checked before anything walks the MIME tree.
//!
//! Two passes, neither of which recurses:
//!
//! - [`prescan`] reads the raw bytes *before* `mail-parser` sees them. The
//!   parser handles multipart nesting with its own explicit stack, but it
//!   builds a nested `Message` for every `message/rfc822` / `message/global`
//!   part (and for untyped parts of a `multipart/digest`), and dropping or
//!   copying (`into_owned`) that structure recurses once per level: a few
//!   thousand nested forwards overflow a worker thread's stack and abort the
//!   daemon. Nested messages are refused by the attachment policy anyway, so
//!   the prescan refuses a message as soon as one of its header lines
//!   declares such a type. Encoded nested messages are covered too: the
//!   parser only decodes a part as a message when a raw, visible header line
//!   declares it one. A body line that happens to read like such a header
//!   also refuses the message: failing closed is the point.
//! - [`check_tree`] walks the parsed part table iteratively (an explicit
//!   stack) and refuses nesting deeper than [`MAX_NESTING`] (Postfix's
//!   `mime_nesting_limit`), more than [`MAX_PARTS`] parts and header blocks
//!   larger than [`MAX_HEADER_BLOCK`] (as Postfix's `header_size_limit`;
//!   the parser reads headers without recursion). Only then does the
//!   rebuild recurse, which bounds its depth.

use mail_parser::{Message, PartType};

use crate::attachments::{Reason, Refusal};
use crate::AnonymizeError;

/// Deepest multipart nesting accepted (Postfix `mime_nesting_limit`).
pub(crate) const MAX_NESTING: usize = 100;

/// Most parts one message may have; real mail has a few dozen at most.
pub(crate) const MAX_PARTS: usize = 1000;

/// Largest header block of one part (Postfix's `header_size_limit` is
/// 100 KiB for one header; a client's whole block is a few KiB).
pub(crate) const MAX_HEADER_BLOCK: usize = 100 * 1024;

/// Refuses, from the raw bytes alone, what must not reach the parser: a
/// header line declaring a nested message or a digest.
pub(crate) fn prescan(data: &[u8]) -> Result<(), AnonymizeError> {
    let mut content_type: Option<Vec<u8>> = None;
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(value) = content_type.as_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        if let Some(value) = content_type.take() {
            check_content_type(&value)?;
        }
        content_type = content_type_value(line).map(<[u8]>::to_vec);
    }
    match content_type {
        Some(value) => check_content_type(&value),
        None => Ok(()),
    }
}

/// The value of a `Content-Type:` line (any case, blanks before the colon).
fn content_type_value(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line[..colon].trim_ascii_end();
    name.eq_ignore_ascii_case(b"content-type")
        .then(|| &line[colon + 1..])
}

/// Refuses a Content-Type value naming a message or a digest. Comments,
/// quotes and blanks are removed first, so `(x) "message"/rfc822` counts.
fn check_content_type(value: &[u8]) -> Result<(), AnonymizeError> {
    let mut cleaned = Vec::with_capacity(value.len());
    let mut comment = 0usize;
    for &byte in value {
        match byte {
            b'(' => comment += 1,
            b')' => comment = comment.saturating_sub(1),
            _ if comment > 0 => {}
            b'"' | b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => cleaned.push(byte.to_ascii_lowercase()),
        }
    }
    if cleaned.starts_with(b"message") || cleaned.starts_with(b"multipart/digest") {
        Err(match declared_name(value) {
            Some(name) => AnonymizeError::Attachment(Refusal::new(Some(&name), Reason::Message)),
            None => AnonymizeError::NestedMessage,
        })
    } else {
        Ok(())
    }
}

/// The `name=` parameter of a Content-Type value, when there is one, so
/// the refusal can name the forwarded message as the user's client shows it.
fn declared_name(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value);
    let lower = text.to_ascii_lowercase();
    let at = lower.find("name=")? + "name=".len();
    let rest = text[at..].trim_start();
    let name = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([';', ' ', '\t']).next()?,
    };
    (!name.trim().is_empty()).then(|| name.trim().to_string())
}

/// Walks the parsed part table without recursion: nesting depth, part count,
/// header block sizes, and no nested message (the prescan should have
/// refused it; this is the second lock).
pub(crate) fn check_tree(message: &Message<'_>) -> Result<(), AnonymizeError> {
    let mut stack = vec![(0u32, 1usize)];
    let mut visited = 0usize;
    while let Some((id, depth)) = stack.pop() {
        visited += 1;
        if depth > MAX_NESTING {
            return Err(AnonymizeError::TooDeep);
        }
        if visited > MAX_PARTS {
            return Err(AnonymizeError::TooManyParts);
        }
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        let header_len = part.offset_body.saturating_sub(part.offset_header) as usize;
        if header_len > MAX_HEADER_BLOCK {
            return Err(AnonymizeError::HeaderTooLarge);
        }
        match &part.body {
            PartType::Multipart(children) => {
                stack.extend(children.iter().map(|&child| (child, depth + 1)));
            }
            PartType::Message(_) => return Err(AnonymizeError::NestedMessage),
            _ => {}
        }
    }
    if message.parts.len() > MAX_PARTS {
        return Err(AnonymizeError::TooManyParts);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_message_declarations_are_found() {
        for header in [
            "Content-Type: message/rfc822",
            "content-type : Message/Global",
            "Content-Type:\r\n (comment) \"message\"/rfc822",
            "Content-Type: multipart/digest; boundary=x",
            "Content-Type: message/partial; id=x",
        ] {
            let data = format!("From: a@b.example\r\n{header}\r\n\r\nbody\r\n");
            assert_eq!(
                prescan(data.as_bytes()),
                Err(AnonymizeError::NestedMessage),
                "{header}"
            );
        }
        let named =
            "From: a@b.example\r\nContent-Type: message/rfc822; name=\"Re: plan.eml\"\r\n\r\nx";
        assert_eq!(
            prescan(named.as_bytes()),
            Err(AnonymizeError::Attachment(Refusal::new(
                Some("Re: plan.eml"),
                Reason::Message
            )))
        );
        let plain = "From: a@b.example\r\nContent-Type: text/plain; name=message.txt\r\n\r\nx";
        assert_eq!(prescan(plain.as_bytes()), Ok(()));
    }
}
