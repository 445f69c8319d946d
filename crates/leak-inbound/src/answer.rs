//! The messages leak sends back: the automatic answer to a reply sent to a
//! pseudonym, and the confirmation of an opt-out by mail.
//!
//! Both follow RFC 3834: they carry `Auto-Submitted: auto-replied`, go to
//! the envelope sender (or the opted-out writer), and are never sent in
//! answer to a null sender, to automatic mail (`Auto-Submitted` other than
//! `no`, `Precedence: bulk|junk|list`, Microsoft's `X-Auto-Response-Suppress`),
//! to list mail (`List-Id`, `List-Unsubscribe`) or to daemon addresses
//! ([`may_answer`]). The caller also answers one address at most once a day.

use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::MessageBuilder;
use mail_parser::{HeaderName, Message};

/// Whether an automatic answer to this message is allowed (RFC 3834 §2).
pub fn may_answer(mail_from: &str, message: &Message<'_>) -> bool {
    if mail_from.is_empty() {
        return false;
    }
    let local = mail_from
        .rsplit_once('@')
        .map_or(mail_from, |(l, _)| l)
        .to_ascii_lowercase();
    let daemon = [
        "mailer-daemon",
        "postmaster",
        "noreply",
        "no-reply",
        "listserv",
        "majordomo",
    ];
    if daemon.contains(&local.as_str())
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.starts_with("bounce")
    {
        return false;
    }
    let text = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if text("Auto-Submitted").is_some_and(|v| !v.starts_with("no")) {
        return false;
    }
    if text("Precedence").is_some_and(|v| ["bulk", "junk", "list"].contains(&v.as_str())) {
        return false;
    }
    let automatic = [
        "List-Id",
        "List-Unsubscribe",
        "List-Post",
        "X-Auto-Response-Suppress",
        "X-Autoreply",
        "X-Autorespond",
        "Feedback-ID",
    ];
    let report = message
        .header(HeaderName::ContentType)
        .and_then(|value| value.as_content_type())
        .is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        });
    !report
        && !automatic
            .iter()
            .any(|name| message.header_raw(*name).is_some())
}

/// What an answer needs to say.
pub struct Answer<'a> {
    /// The address the answer comes from (the pseudonym or the opt-out
    /// address written to).
    pub from: &'a str,
    pub to: &'a str,
    /// `Message-ID` of the message answered, for threading.
    pub in_reply_to: Option<&'a str>,
    /// The original subject (already decoded), for `Auto: …`.
    pub subject: &'a str,
    /// The recipient's one-click opt-out page, when `[web]` is set.
    pub optout_url: Option<&'a str>,
    /// `anonymizer.optout_address`.
    pub optout_address: Option<&'a str>,
    /// `anonymizer.domain`, for the Message-ID.
    pub domain: &'a str,
    pub now: i64,
}

/// The automatic answer to a reply sent to a pseudonym.
pub fn auto_reply(answer: &Answer<'_>) -> Result<Vec<u8>, std::io::Error> {
    let how = how_to_stop(answer);
    let body = format!(
        "Ce message est une réponse automatique.\n\n\
Le message auquel vous répondez a été envoyé anonymement : son expéditeur ne peut pas être \
identifié, et votre réponse ne lui a pas été transmise. Elle n'est pas conservée.\n\n{fr}\n\n\
---\n\n\
This is an automatic reply.\n\n\
The message you are replying to was sent anonymously: its sender cannot be identified, and \
your reply was not passed on to them. It is not kept.\n\n{en}\n",
        fr = how.0,
        en = how.1
    );
    build(answer, &format!("Auto: {}", subject(answer.subject)), body)
}

/// The confirmation of an opt-out requested by mail.
pub fn optout_confirmation(answer: &Answer<'_>) -> Result<Vec<u8>, std::io::Error> {
    let body = "Votre adresse ne recevra plus de messages anonymes de ce serveur.\n\
Si vous n'avez pas demandé cela, vous pouvez ignorer ce message.\n\n---\n\n\
Your address will not receive anonymous messages from this server any more.\n\
If you did not ask for this, you can ignore this message.\n"
        .to_string();
    build(answer, "Désinscription confirmée / Opt-out confirmed", body)
}

/// The French and English sentences on how to stop anonymous mail.
fn how_to_stop(answer: &Answer<'_>) -> (String, String) {
    match (answer.optout_url, answer.optout_address) {
        (Some(url), _) => (
            format!("Pour ne plus recevoir de messages anonymes via ce serveur : {url}"),
            format!("To stop receiving anonymous messages through this server: {url}"),
        ),
        (None, Some(address)) => (
            format!("Pour ne plus recevoir de messages anonymes via ce serveur, écrivez à {address}."),
            format!("To stop receiving anonymous messages through this server, write to {address}."),
        ),
        (None, None) => (
            "Pour ne plus recevoir de messages anonymes via ce serveur, écrivez à l'administrateur du serveur.".into(),
            "To stop receiving anonymous messages through this server, write to its administrator.".into(),
        ),
    }
}

/// The original subject on one line, at most 120 characters.
fn subject(original: &str) -> String {
    let one_line: String = original
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    one_line.trim().to_string()
}

fn build(answer: &Answer<'_>, subject: &str, body: String) -> Result<Vec<u8>, std::io::Error> {
    let mut builder = MessageBuilder::new()
        .from(answer.from)
        .to(answer.to)
        .subject(Text::new(subject.to_string()))
        .date(answer.now)
        .message_id(format!("{}@{}", random_hex(), answer.domain))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .text_body(body);
    if let Some(id) = answer.in_reply_to.filter(|id| is_message_id(id)) {
        builder = builder
            .in_reply_to(id.to_string())
            .references(id.to_string());
    }
    builder.write_to_vec()
}

fn is_message_id(id: &str) -> bool {
    id.len() <= 250
        && id.contains('@')
        && !id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

/// 128 random bits in hex, for the Message-ID.
fn random_hex() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn parse(text: &str) -> Message<'_> {
        MessageParser::default().parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn never_answers_automatic_mail() {
        let human = parse("From: a@x.test\r\nSubject: re\r\n\r\nhi\r\n");
        assert!(may_answer("a@x.test", &human));
        assert!(!may_answer("", &human), "null sender");
        assert!(!may_answer("MAILER-DAEMON@x.test", &human));
        assert!(!may_answer("owner-list@x.test", &human));
        for header in [
            "Auto-Submitted: auto-replied",
            "Precedence: bulk",
            "List-Id: <l.x.test>",
            "X-Auto-Response-Suppress: All",
        ] {
            let text = format!("From: a@x.test\r\n{header}\r\nSubject: re\r\n\r\nhi\r\n");
            assert!(!may_answer("a@x.test", &parse(&text)), "{header}");
        }
        let no = parse("From: a@x.test\r\nAuto-Submitted: no\r\n\r\nhi\r\n");
        assert!(may_answer("a@x.test", &no));
    }

    #[test]
    fn the_answer_is_marked_and_bilingual() {
        let answer = Answer {
            from: "someone@anon.example",
            to: "bob@x.test",
            in_reply_to: Some("abc@x.test"),
            subject: "Re: hello\r\nBcc: evil@x.test",
            optout_url: Some("https://anon.example/optout/TOKEN"),
            optout_address: None,
            domain: "anon.example",
            now: 1_800_000_000,
        };
        let text = String::from_utf8(auto_reply(&answer).unwrap()).unwrap();
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(text.contains("In-Reply-To: <abc@x.test>"));
        assert!(!text.contains("\r\nBcc:"));
        let parsed = MessageParser::default().parse(text.as_bytes()).unwrap();
        let body = parsed.body_text(0).unwrap();
        assert!(body.contains("anonymement") && body.contains("anonymously"));
        assert!(body.contains("https://anon.example/optout/TOKEN"));
    }
}
