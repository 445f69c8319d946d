//! Reading what comes back: delivery status notifications (RFC 3464),
//! common non-standard bounces, and feedback reports (ARF, RFC 5965).
//!
//! ARF reports are parsed by `mail-auth`. DSNs are parsed by hand over
//! `mail-parser`'s MIME tree: the `message/delivery-status` part is a list of
//! header-style field blocks (one per recipient) that neither crate exposes
//! as values; this reads only `Final-Recipient`/`Original-Recipient`,
//! `Action`, `Status` and `Diagnostic-Code`.

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// How a bounce is counted and acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceClass {
    /// 5.x.x: the address does not take mail; it is suppressed.
    Hard,
    /// 4.x.x or "delayed": the sending side keeps retrying.
    Soft,
    /// A message at the bounce address that is no bounce leak can read.
    Unknown,
}

impl BounceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            BounceClass::Hard => "hard",
            BounceClass::Soft => "soft",
            BounceClass::Unknown => "unknown",
        }
    }
}

/// One recipient named in a bounce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounced {
    /// The recipient's address, if the report names it.
    pub recipient: Option<String>,
    pub class: BounceClass,
    /// `5.1.1`, or the first words of the diagnostic when there is no code.
    pub status: String,
}

/// The recipients a bounce message reports on (empty: not a bounce).
pub fn parse_bounce(message: &[u8]) -> Vec<Bounced> {
    let Some(parsed) = MessageParser::default().parse(message) else {
        return Vec::new();
    };
    for part in &parsed.parts {
        // RFC 6533's global-delivery-status has the same fields in UTF-8.
        if part.is_content_type("message", "delivery-status")
            || part.is_content_type("message", "global-delivery-status")
        {
            let text = match &part.body {
                PartType::Text(text) => text.as_bytes().to_vec(),
                PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.to_vec(),
                _ => parsed
                    .raw_message
                    .get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or_default()
                    .to_vec(),
            };
            return delivery_status(&String::from_utf8_lossy(&text));
        }
    }
    // No DSN part: a non-standard bounce (qmail, old Exchange, autoresponders
    // that quote the SMTP reply). Look for an SMTP reply code with an
    // enhanced status code in the text.
    let text = parsed.body_text(0).unwrap_or_default();
    free_text_status(&text)
        .map(|(class, status)| {
            vec![Bounced {
                recipient: first_angle_address(&text),
                class,
                status,
            }]
        })
        .unwrap_or_default()
}

/// The per-recipient blocks of a `message/delivery-status` body.
fn delivery_status(text: &str) -> Vec<Bounced> {
    let unfolded = text
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    let mut out = Vec::new();
    for block in unfolded.split("\n\n") {
        let field = |name: &str| {
            block.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
        };
        let recipient = field("Final-Recipient").or_else(|| field("Original-Recipient"));
        let Some(recipient) = recipient else {
            continue; // the per-message block
        };
        let address = recipient
            .split_once(';')
            .map_or(recipient.as_str(), |(_, a)| a)
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        let status = field("Status").unwrap_or_default();
        let action = field("Action").unwrap_or_default().to_ascii_lowercase();
        let class = match (action.as_str(), status.chars().next()) {
            ("delivered" | "relayed" | "expanded", _) => continue,
            ("delayed", _) | (_, Some('4')) => BounceClass::Soft,
            (_, Some('5')) => BounceClass::Hard,
            ("failed", _) => BounceClass::Hard,
            _ => BounceClass::Unknown,
        };
        let status = status
            .split_whitespace()
            .next()
            .map(str::to_string)
            .or_else(|| field("Diagnostic-Code"))
            .unwrap_or_else(|| action.clone());
        out.push(Bounced {
            recipient: (!address.is_empty()).then_some(address),
            class,
            status,
        });
    }
    out
}

/// `550 5.1.1`-style codes in free text: the first enhanced status code.
fn free_text_status(text: &str) -> Option<(BounceClass, String)> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '#')
        .find_map(|word| {
            let parts: Vec<&str> = word.trim_end_matches([',', ';', ':']).split('.').collect();
            let numeric = parts.len() == 3
                && parts.iter().all(|p| !p.is_empty() && p.len() <= 3)
                && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()));
            match (numeric, parts.first()) {
                (true, Some(&"5")) => Some((BounceClass::Hard, parts.join("."))),
                (true, Some(&"4")) => Some((BounceClass::Soft, parts.join("."))),
                _ => None,
            }
        })
}

fn first_angle_address(text: &str) -> Option<String> {
    let start = text.find('<')?;
    let end = text[start..].find('>')? + start;
    let inner = &text[start + 1..end];
    (inner.contains('@') && !inner.contains(char::is_whitespace)).then(|| inner.to_string())
}

/// What a feedback report says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    /// `abuse`, `fraud`, … (RFC 5965 Feedback-Type).
    pub feedback_type: String,
    /// `Original-Rcpt-To`, when the reporter left it in.
    pub rcpt_to: Option<String>,
    /// The reported message's header block (or whole message), which holds
    /// leak's `List-Unsubscribe` link even when providers redact addresses.
    pub original: String,
}

/// The complaint in an ARF report, or `None` if `message` is not one.
pub fn parse_complaint(message: &[u8]) -> Option<Complaint> {
    let feedback = mail_auth::report::Feedback::parse_rfc5322(message).ok()?;
    let feedback_type = format!("{:?}", feedback.feedback_type()).to_ascii_lowercase();
    let original = feedback
        .message()
        .or(feedback.headers())
        .unwrap_or_default()
        .to_string();
    Some(Complaint {
        feedback_type,
        rcpt_to: feedback.original_rcpt_to().map(|a| {
            a.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        }),
        original,
    })
}

/// The opt-out token in a `List-Unsubscribe` header of `original`, whatever
/// the base URL: the part after `/optout/` up to `>`.
pub fn optout_token(original: &str) -> Option<String> {
    let unfolded = original.replace("\r\n ", " ").replace("\n ", " ");
    let line = unfolded
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("list-unsubscribe:"))?;
    let start = line.find("/optout/")? + "/optout/".len();
    let token: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: MAILER-DAEMON@mx.example\r\nTo: bounce-abc@anon.example\r\n\
Subject: Undelivered\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n\
--b\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example\r\n\r\n\
Final-Recipient: rfc822; Gone@Example.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n\
Final-Recipient: rfc822; <later@example.test>\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n\
Final-Recipient: rfc822; fine@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n\
--b--\r\n";

    #[test]
    fn rfc3464_recipients_and_classes() {
        let bounced = parse_bounce(DSN.as_bytes());
        assert_eq!(
            bounced,
            vec![
                Bounced {
                    recipient: Some("Gone@Example.test".into()),
                    class: BounceClass::Hard,
                    status: "5.1.1".into()
                },
                Bounced {
                    recipient: Some("later@example.test".into()),
                    class: BounceClass::Soft,
                    status: "4.2.2".into()
                },
            ]
        );
    }

    #[test]
    fn non_standard_bounce_best_effort() {
        let qmail = "From: MAILER-DAEMON@old.example\r\nSubject: failure notice\r\n\r\n\
Hi. This is the qmail-send program.\r\n<nobody@old.example>:\r\n\
Remote host said: 550 5.1.1 mailbox unavailable\r\n";
        let bounced = parse_bounce(qmail.as_bytes());
        assert_eq!(bounced.len(), 1);
        assert_eq!(bounced[0].class, BounceClass::Hard);
        assert_eq!(bounced[0].status, "5.1.1");
        assert_eq!(bounced[0].recipient.as_deref(), Some("nobody@old.example"));
        assert!(parse_bounce(b"Subject: hello\r\n\r\nversion 1.2.3 is out\r\n").is_empty());
    }

    #[test]
    fn tokens_in_list_unsubscribe() {
        let headers =
            "From: x\r\nList-Unsubscribe: <https://a.example/optout/AbC-_1>,\r\n <mailto:o@a>\r\n";
        assert_eq!(optout_token(headers).as_deref(), Some("AbC-_1"));
        assert_eq!(optout_token("From: x\r\n"), None);
    }
}
