//! Rebuilding the MIME tree.
//!
//! [`Rebuilder`] walks the parsed message part by part and builds a new
//! `mail-builder` tree from the decoded content only. Part headers are
//! reduced to Content-Type (type, charset, name), Content-Disposition (type,
//! filename), Content-ID (renamed) and Content-Transfer-Encoding (chosen by
//! the builder); boundaries are new and random; preambles and epilogues are
//! never copied. Signatures (`multipart/signed`, PGP and S/MIME signature
//! parts, key attachments) and vCards are dropped; encrypted content is
//! refused because it cannot be checked.

use std::borrow::Cow;
use std::collections::HashMap;

use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::{BodyPart, MimePart};
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

use crate::attachments::sniff;
use crate::attachments::{self, AttachmentPolicy, Outcome, Reason, Refusal, DROPPED_TYPES};
use crate::html::{self, scrub_html};
use crate::identity::Identity;
use crate::limits::MAX_NESTING;
use crate::moderation_text::ModerationText;
use crate::resources::Resources;
use crate::text::{self, scrub_plain_with_signature};
use crate::{random_hex, AnonymizeError};

/// Content types whose content cannot be inspected.
const ENCRYPTED_TYPES: &[&str] = &[
    "multipart/encrypted",
    "application/pgp-encrypted",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
];

/// A rebuilt message body and its text for moderation.
pub(crate) struct Rebuilt {
    pub(crate) root: MimePart<'static>,
    pub(crate) text: String,
}

/// Shared context of one anonymization.
pub(crate) struct Context<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) domain: &'a str,
    pub(crate) policy: AttachmentPolicy,
}

/// The decoded body of every binary part, by part id, taken out of the
/// parsed message so that each can be handed to its cleaner and freed once
/// cleaned (`None` for other parts).
pub(crate) fn take_binaries(message: &mut Message<'_>) -> Vec<Option<Vec<u8>>> {
    message
        .parts
        .iter_mut()
        .map(|part| match &mut part.body {
            PartType::Binary(body) | PartType::InlineBinary(body) => {
                Some(std::mem::take(body).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// The decoded text of every text attachment (a text part that is not a
/// body: named, or not `text/plain`), by part id, taken out of the parsed
/// message like [`take_binaries`], so a large one is freed once scrubbed
/// (`None` for other parts).
pub(crate) fn take_text_attachments(message: &mut Message<'_>) -> Vec<Option<String>> {
    message
        .parts
        .iter_mut()
        .map(|part| {
            let attachment = matches!(part.body, PartType::Text(_))
                && !is_body_text(part, &content_type_of(part));
            match &mut part.body {
                PartType::Text(body) if attachment => Some(std::mem::take(body).into_owned()),
                _ => None,
            }
        })
        .collect()
}

/// Walks one (possibly nested) message.
pub(crate) struct Rebuilder<'m, 'x> {
    message: &'m Message<'x>,
    /// The raw header block of each part, by part id.
    raw_headers: &'m [Vec<u8>],
    /// The decoded binary bodies ([`take_binaries`]), each taken when its
    /// part is rebuilt.
    binaries: Vec<Option<Vec<u8>>>,
    /// The decoded text attachments ([`take_text_attachments`]), each
    /// taken when its part is rebuilt.
    texts: Vec<Option<String>>,
    ctx: &'m Context<'m>,
    /// Old Content-ID → new random Content-ID, for this message's parts.
    cids: HashMap<String, String>,
    /// The notice and the parts it is appended to (the last displayed text
    /// and HTML bodies); `None` for nested messages.
    notice: Option<&'m str>,
    footer_text: Option<u32>,
    footer_html: Option<u32>,
    /// Whether the notice made it into some part (a footer target can be
    /// dropped, e.g. a vCard the parser took for a body).
    footer_applied: bool,
    text: ModerationText,
    /// The sender's signature lines found in the plain-text bodies, removed
    /// from the HTML alternative as well.
    signature: Vec<String>,
}

impl<'m, 'x> Rebuilder<'m, 'x> {
    pub(crate) fn new(
        message: &'m Message<'x>,
        raw_headers: &'m [Vec<u8>],
        (binaries, texts): (Vec<Option<Vec<u8>>>, Vec<Option<String>>),
        ctx: &'m Context<'m>,
        notice: Option<&'m str>,
    ) -> Self {
        let cids = message
            .parts
            .iter()
            .filter_map(|part| part.content_id())
            .map(|old| {
                let old = old.trim().trim_matches(['<', '>']).to_string();
                (old, format!("{}@{}", random_hex(), ctx.domain))
            })
            .collect();
        let is_body = |id: &&u32, html: bool| {
            message.parts.get(**id as usize).is_some_and(|part| {
                let kind = if html {
                    matches!(part.body, PartType::Html(_))
                } else {
                    matches!(part.body, PartType::Text(_))
                };
                kind && !is_attachment(part)
            })
        };
        Rebuilder {
            message,
            raw_headers,
            binaries,
            texts,
            ctx,
            cids,
            notice,
            footer_text: message
                .text_body
                .iter()
                .rfind(|id| is_body(id, false))
                .copied(),
            footer_html: message
                .html_body
                .iter()
                .rfind(|id| is_body(id, true))
                .copied(),
            footer_applied: false,
            text: ModerationText::default(),
            signature: Vec::new(),
        }
    }

    /// Rebuilds the whole body. A message whose every part was dropped (or a
    /// message with only attachments) still gets the notice, as its own part.
    pub(crate) fn rebuild(mut self) -> Result<Rebuilt, AnonymizeError> {
        let root = self.part(0, 1)?;
        let root = match (root, self.notice) {
            (Some(root), Some(notice)) if !self.footer_applied => multipart(
                "mixed",
                vec![text_part("plain", text::append_notice("", notice)), root],
            ),
            (Some(root), _) => root,
            (None, Some(notice)) => text_part("plain", text::append_notice("", notice)),
            (None, None) => text_part("plain", String::new()),
        };
        Ok(Rebuilt {
            root,
            text: std::mem::take(&mut self.text).finish(),
        })
    }

    /// Rebuilds part `id` at nesting `depth` (1 for the root). The depth
    /// was checked by `limits::check_tree`; it is checked again here so the
    /// recursion is bounded whatever the part table holds.
    fn part(&mut self, id: u32, depth: usize) -> Result<Option<MimePart<'static>>, AnonymizeError> {
        if depth > MAX_NESTING {
            return Err(AnonymizeError::TooDeep);
        }
        let Some(part) = self.message.parts.get(id as usize) else {
            return Ok(None);
        };
        let content_type = content_type_of(part);
        if ENCRYPTED_TYPES.contains(&content_type.as_str()) {
            return Err(AnonymizeError::Encrypted);
        }
        if DROPPED_TYPES.contains(&content_type.as_str()) {
            return Ok(None);
        }
        let name = part.attachment_name();
        let refused = |reason| AnonymizeError::Attachment(Refusal::new(name, reason));
        let (rebuilt, attachment) = match &part.body {
            PartType::Multipart(children) => return self.multipart(&content_type, children, depth),
            PartType::Text(body) if is_body_text(part, &content_type) => {
                if body.contains("-----BEGIN PGP MESSAGE") {
                    return Err(AnonymizeError::Encrypted);
                }
                if has_foreign_armour(body) {
                    return Err(refused(Reason::KeyOrSignature));
                }
                // A card or an invitation sent as the body is still one.
                match sniff::sniff_text(body) {
                    sniff::Kind::Card => return Err(refused(Reason::Card)),
                    sniff::Kind::Calendar => return Err(refused(Reason::Calendar)),
                    _ => {}
                }
                (self.text(id, part, body), false)
            }
            PartType::Text(body) => {
                let body = self
                    .texts
                    .get_mut(id as usize)
                    .and_then(Option::take)
                    .unwrap_or_else(|| body.to_string());
                attachments::check_text(name, &content_type, &body, self.ctx.policy)
                    .map_err(AnonymizeError::Attachment)?;
                (self.text_attachment(part, &content_type, body), true)
            }
            PartType::Html(body) => {
                if body.contains("-----BEGIN PGP MESSAGE") {
                    return Err(AnonymizeError::Encrypted);
                }
                if sniff::has_armour(body) {
                    return Err(refused(Reason::KeyOrSignature));
                }
                if is_attachment(part) && self.ctx.policy != AttachmentPolicy::Clean {
                    return Err(refused(match self.ctx.policy {
                        AttachmentPolicy::Images => Reason::ImagesOnly,
                        _ => Reason::NoAttachments,
                    }));
                }
                (self.html(id, body), false)
            }
            PartType::Binary(_) | PartType::InlineBinary(_) => {
                // Moved into the cleaner, which frees it as soon as it can.
                let body = self
                    .binaries
                    .get_mut(id as usize)
                    .and_then(Option::take)
                    .unwrap_or_default();
                match attachments::clean_binary(
                    name,
                    &content_type,
                    body,
                    self.ctx.policy,
                    self.ctx.identity,
                )
                .map_err(AnonymizeError::Attachment)?
                {
                    Outcome::Image(bytes, media_type) => (
                        MimePart::new(
                            ContentType::new(media_type),
                            BodyPart::Binary(Cow::Owned(bytes)),
                        ),
                        false,
                    ),
                    Outcome::Text(text) => (self.text_attachment(part, "text/plain", text), true),
                    Outcome::Pdf(bytes, text) => {
                        // Text inside a PDF cannot be rewritten: one that
                        // names the sender is refused; the rest is moderated.
                        if !self.ctx.identity.find(&text).is_empty() {
                            return Err(refused(Reason::PdfIdentity));
                        }
                        self.push_text(&text);
                        let pdf = ContentType::new("application/pdf");
                        (
                            MimePart::new(pdf, BodyPart::Binary(Cow::Owned(bytes))),
                            false,
                        )
                    }
                    Outcome::Document(bytes, media_type, text) => {
                        self.push_text(&text);
                        (
                            MimePart::new(
                                ContentType::new(media_type),
                                BodyPart::Binary(Cow::Owned(bytes)),
                            ),
                            false,
                        )
                    }
                }
            }
            // The prescan and the tree check refuse these first.
            PartType::Message(_) => return Err(AnonymizeError::NestedMessage),
        };
        let decorated = self.decorate(id, part, rebuilt, attachment);
        Ok(Some(decorated))
    }

    fn multipart(
        &mut self,
        content_type: &str,
        children: &[u32],
        depth: usize,
    ) -> Result<Option<MimePart<'static>>, AnonymizeError> {
        let subtype = content_type.strip_prefix("multipart/").unwrap_or("mixed");
        if subtype == "signed" {
            // The first child is the signed content; the rest is the signature.
            return match children.first() {
                Some(first) => self.part(*first, depth + 1),
                None => Ok(None),
            };
        }
        let mut parts = Vec::with_capacity(children.len());
        for child in children {
            if let Some(part) = self.part(*child, depth + 1)? {
                parts.push(part);
            }
        }
        Ok((!parts.is_empty()).then(|| multipart(subtype, parts)))
    }

    /// A body text part: scrubbed (attributions, signatures, armour),
    /// moderated, the notice appended to the last one; `format=flowed` kept.
    /// The signature found here is also removed from the HTML alternative.
    fn text(&mut self, id: u32, part: &MessagePart<'_>, body: &str) -> MimePart<'static> {
        let (scrubbed, signature) =
            scrub_plain_with_signature(body, self.ctx.identity, flowed(part));
        self.signature.extend(signature);
        self.push_text(&scrubbed);
        let with_notice = match self.notice {
            Some(notice) if self.footer_text == Some(id) => {
                self.footer_applied = true;
                text::append_notice(&scrubbed, notice)
            }
            _ => scrubbed,
        };
        keep_flowed(part, text_part("plain", with_notice))
    }

    /// A text attachment: the identity scrubbed out, moderated like the
    /// body, sent in its own charset with its own line ends.
    fn text_attachment(
        &mut self,
        part: &MessagePart<'_>,
        content_type: &str,
        body: String,
    ) -> MimePart<'static> {
        let mut text = self.ctx.identity.scrub(&body);
        drop(body);
        let declared = part.content_type().and_then(|ct| ct.attribute("charset"));
        let (encoded, charset) = attachments::text::encode(&mut text, declared);
        let base64 = base64_lines(encoded.as_deref().unwrap_or(text.as_bytes()));
        drop(encoded);
        // Moderation reads what the recipient gets, control characters
        // removed; the text is moved there, not copied.
        self.text.push_owned(text);
        let kept = ["csv", "markdown", "x-markdown", "tab-separated-values"];
        let subtype = content_type
            .strip_prefix("text/")
            .filter(|sub| kept.contains(sub))
            .unwrap_or("plain");
        // Encoded here: the builder may write a text attachment as 7bit,
        // bare CRs and all, and the file keeps its own line ends.
        MimePart::new(
            ContentType::new(format!("text/{subtype}")).attribute("charset", charset),
            BodyPart::Binary(Cow::Owned(base64)),
        )
        .transfer_encoding("base64")
    }

    fn html(&mut self, id: u32, body: &str) -> MimePart<'static> {
        let resources = Resources::new(&self.cids);
        let output = scrub_html(body, self.ctx.identity, &resources, &self.signature);
        self.push_text(&output.text);
        let with_notice = match self.notice {
            Some(notice) if self.footer_html == Some(id) => {
                self.footer_applied = true;
                html::append_notice(&output.html, notice)
            }
            _ => output.html,
        };
        text_part("html", with_notice)
    }

    /// Adds the Content-Disposition (type and filename only; always
    /// `attachment` for text attachments, so the builder encodes their line
    /// ends) and the renamed Content-ID of the original part. The file name
    /// is moderated: the recipient reads it.
    fn decorate(
        &mut self,
        id: u32,
        part: &MessagePart<'_>,
        mut rebuilt: MimePart<'static>,
        text_attachment: bool,
    ) -> MimePart<'static> {
        let filename = part.attachment_name().map(|name| {
            let raw = self
                .raw_headers
                .get(id as usize)
                .map_or(&[][..], Vec::as_slice);
            self.clean_filename(windows_basename(raw, name))
        });
        if let Some(name) = &filename {
            self.push_text(name);
        }
        let disposition = part.content_disposition();
        if disposition.is_some() || text_attachment {
            let kind = if disposition.is_some_and(|d| d.is_inline()) && !text_attachment {
                "inline"
            } else {
                "attachment"
            };
            let mut header = ContentType::new(kind);
            if let Some(name) = &filename {
                header = header.attribute("filename", name.clone());
            }
            rebuilt = rebuilt.header("Content-Disposition", header);
        }
        if let Some(name) = filename {
            // The Content-Type comes first and is the only one: add `name`.
            if let Some((_, mail_builder::headers::HeaderType::ContentType(ct))) =
                rebuilt.headers.first_mut()
            {
                ct.attributes
                    .push((Cow::Borrowed("name"), Cow::Owned(name)));
            }
        }
        if let Some(old) = part.content_id() {
            if let Some(new) = Resources::new(&self.cids).new_cid(old) {
                rebuilt = rebuilt.cid(new.to_string());
            }
        }
        rebuilt
    }

    /// A file name without path, control characters or the sender's names.
    fn clean_filename(&self, name: &str) -> String {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
        let scrubbed = self.ctx.identity.scrub(cleaned.trim());
        if scrubbed.is_empty() {
            "attachment".to_string()
        } else {
            scrubbed
        }
    }

    fn push_text(&mut self, text: &str) {
        self.text.push(text);
    }
}

/// `type/subtype`, lower-cased and restricted to token characters; parts
/// without a usable type get the MIME default for their kind.
fn content_type_of(part: &MessagePart<'_>) -> String {
    let declared = part.content_type().map(|ct| {
        format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        )
    });
    let is_token = |s: &str| {
        s.split_once('/').is_some_and(|(t, st)| {
            let ok = |x: &str| {
                !x.is_empty()
                    && x.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
            };
            ok(t) && ok(st)
        })
    };
    match (declared.filter(|ct| is_token(ct)), &part.body) {
        (Some(ct), PartType::Text(_)) if ct.starts_with("text/") => ct,
        (Some(ct), PartType::Html(_)) if ct == "text/html" => ct,
        (Some(ct), PartType::Multipart(_)) if ct.starts_with("multipart/") => ct,
        (Some(ct), PartType::Binary(_) | PartType::InlineBinary(_)) => ct,
        (Some(ct), _) if ENCRYPTED_TYPES.contains(&ct.as_str()) => ct,
        (_, PartType::Text(_)) => "text/plain".into(),
        (_, PartType::Html(_)) => "text/html".into(),
        (_, PartType::Multipart(_)) => "multipart/mixed".into(),
        (_, PartType::Message(_)) => "message/rfc822".into(),
        _ => "application/octet-stream".into(),
    }
}

fn is_attachment(part: &MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|cd| cd.is_attachment())
}

/// A `text/plain` part shown as the message body: not an attachment and
/// without a file name (a named part is a file, judged as one).
fn is_body_text(part: &MessagePart<'_>, content_type: &str) -> bool {
    content_type == "text/plain" && !is_attachment(part) && part.attachment_name().is_none()
}

/// Armour in a body that `text.rs` does not remove (it removes PGP
/// signatures, clear-signing and public key blocks): certificates, private
/// keys, PKCS#7.
fn has_foreign_armour(body: &str) -> bool {
    let without_pgp = body.replace("-----BEGIN PGP", "");
    sniff::has_armour(&without_pgp)
}

/// The parsed file name cut after the last backslash of its raw header
/// value. Quoted-string unescaping turns `"C:\Users\jdupont\photo.jpg"`
/// into `C:Usersjdupontphoto.jpg`, so the path (and the user name in it) is
/// only visible in the raw bytes; the cut is applied only when the parsed
/// name ends with the raw tail, so an unusual header never makes it worse.
fn windows_basename<'n>(raw_header: &[u8], parsed: &'n str) -> &'n str {
    let raw = String::from_utf8_lossy(raw_header);
    let lower = raw.to_ascii_lowercase();
    for key in ["filename=\"", "name=\""] {
        let Some(at) = lower.find(key) else { continue };
        let value_start = at + key.len();
        let Some(len) = raw[value_start..].find(['"', '\r', '\n']) else {
            continue;
        };
        let value = &raw[value_start..value_start + len];
        if let Some((_, tail)) = value.rsplit_once('\\') {
            if !tail.is_empty() && parsed.ends_with(tail) {
                return &parsed[parsed.len() - tail.len()..];
            }
        }
    }
    parsed
}

/// A text part of the rebuilt message. Its content is made safe to put on
/// the wire whatever the builder's transfer encoding: line ends become CRLF
/// and every other C0 control (NUL included) and DEL is removed, so a
/// quoted-printable or base64 `CRLF NUL . CRLF` submitted inside a text part
/// can never come out as raw bytes towards the recipient's server.
pub(crate) fn text_part(subtype: &str, text: String) -> MimePart<'static> {
    let normalized = wire_safe_text(&text);
    MimePart::new(
        ContentType::new(format!("text/{subtype}")).attribute("charset", "utf-8"),
        BodyPart::Text(Cow::Owned(normalized)),
    )
}

/// `Some(delsp)` for a `format=flowed` text part, `None` otherwise.
fn flowed(part: &MessagePart<'_>) -> Option<bool> {
    let param = |name: &str| {
        part.content_type()
            .and_then(|ct| ct.attribute(name))
            .map(|v| v.trim().to_ascii_lowercase())
    };
    (param("format").as_deref() == Some("flowed")).then(|| param("delsp").as_deref() == Some("yes"))
}

/// Keeps `format=flowed` (and `delsp=yes`) of a text part: its lines keep
/// their trailing spaces, so the recipient's client re-flows the paragraphs
/// instead of showing them hard-wrapped.
fn keep_flowed(part: &MessagePart<'_>, mut rebuilt: MimePart<'static>) -> MimePart<'static> {
    let Some(delsp) = flowed(part) else {
        return rebuilt;
    };
    if let Some((_, mail_builder::headers::HeaderType::ContentType(ct))) =
        rebuilt.headers.first_mut()
    {
        ct.attributes
            .push((Cow::Borrowed("format"), Cow::Borrowed("flowed")));
        if delsp {
            ct.attributes
                .push((Cow::Borrowed("delsp"), Cow::Borrowed("yes")));
        }
    }
    rebuilt
}

/// `bytes` in base64, 76 characters per CRLF-terminated line (RFC 2045).
/// Encoded 57 input bytes (one line) at a time, so a large attachment is
/// not held as one long base64 string besides its lines.
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let lines = bytes.len().div_ceil(57);
    let mut out = Vec::with_capacity(lines * 78);
    let mut line = String::with_capacity(76);
    for chunk in bytes.chunks(57) {
        line.clear();
        base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut line);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `text` with CRLF line ends only, no control character but TAB, and no
/// bidi override (U+202D, U+202E): an override shows letters in another
/// order than the one moderation read (`\u{202E}toidi` displays "idiot").
pub(crate) fn wire_safe_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            '\t' => out.push('\t'),
            c if c.is_ascii_control() => {}
            '\u{202D}' | '\u{202E}' => {}
            c => out.push(c),
        }
    }
    out
}

fn multipart(subtype: &str, parts: Vec<MimePart<'static>>) -> MimePart<'static> {
    MimePart::new(
        ContentType::new(format!("multipart/{subtype}"))
            .attribute("boundary", format!("=_{}", random_hex())),
        BodyPart::Multipart(parts),
    )
}

#[cfg(test)]
mod tests {
    use super::{base64_lines, windows_basename};

    #[test]
    fn base64_lines_are_the_whole_encoding_cut_at_76() {
        use base64::Engine;
        for len in [0, 1, 2, 56, 57, 58, 114, 1000, 4099] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let whole = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let expected: String = whole
                .as_bytes()
                .chunks(76)
                .map(|line| format!("{}\r\n", std::str::from_utf8(line).unwrap()))
                .collect();
            assert_eq!(base64_lines(&bytes), expected.into_bytes(), "{len}");
        }
    }

    #[test]
    fn windows_paths_are_cut_from_the_raw_value() {
        let raw = b"Content-Type: image/jpeg;\r\n name=\"C:\\Users\\jdupont\\Desktop\\photo.jpg\"\r\nContent-Disposition: attachment;\r\n filename=\"C:\\Users\\jdupont\\Desktop\\photo.jpg\"\r\n";
        assert_eq!(
            windows_basename(raw, "C:UsersjdupontDesktopphoto.jpg"),
            "photo.jpg"
        );
        assert_eq!(
            windows_basename(b"Content-Type: text/plain; name=\"a.txt\"\r\n", "a.txt"),
            "a.txt"
        );
    }
}
