//! Failure reports (RFC 3464 delivery status notifications) to the submitting
//! account's notify address.
//!
//! A report is meant for the sender and for no one else: the notify address's
//! mail system may also be the refused recipient's (both at one provider),
//! and must not be able to pair the report with the refused message by
//! anything but what the sender needs. So a report carries only, for each
//! failed recipient, its address, the status and the remote reason, plus
//! leak's queue id and the subject — in French and in English — and no
//! header of the refused message, no submission or arrival time, no MX host
//! name. It is queued with its own random delay (`report_delay`, drawn by the
//! caller), goes out on a connection of its own (see `client.rs`), and gets
//! its `Date` and DKIM signature at delivery like every leak message. It
//! comes from `mailer-daemon@<anonymizer domain>` with the null envelope
//! sender, and is marked `is_report` so that it never causes another report.

use leak_store::{QueuedMessage, Recipient};
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

/// A recipient that failed, for the report.
#[derive(Debug, Clone)]
pub(crate) struct FailedRecipient {
    pub address: String,
    /// The remote reply or local error that decided it.
    pub reply: String,
    /// Failed because the queue lifetime ran out (status 4.4.7).
    pub expired: bool,
}

/// Who the report is from and what the reporting MTA is called.
pub(crate) struct ReportContext<'a> {
    pub hostname: &'a str,
    pub return_domain: &'a str,
}

/// The subject of every report, in both languages.
pub(crate) const REPORT_SUBJECT: &str = "Message non distribué / Undelivered message";

/// Builds the report for `original`, first due at `due`; returns it ready to
/// enqueue (unsigned, undated: both come at delivery), or `None` when no
/// report is due (no notify address, or a report itself).
pub(crate) fn build(
    ctx: &ReportContext<'_>,
    original: &QueuedMessage,
    original_body: &[u8],
    failed: &[FailedRecipient],
    now: u64,
    due: u64,
) -> Result<Option<(QueuedMessage, Vec<u8>)>, String> {
    let notify = match &original.notify {
        Some(n) if !original.is_report && !failed.is_empty() => n.clone(),
        _ => return Ok(None),
    };
    let id = leak_store::new_message_id();
    let subject = subject_of(original_body);
    let text = human_text(&original.id, subject.as_deref(), failed);
    let dsn = delivery_status(ctx.hostname, failed);
    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", text),
            MimePart::raw(format!(
                "Content-Type: message/delivery-status\r\n\r\n{dsn}"
            )),
        ],
    );
    let from = format!("mailer-daemon@{}", ctx.return_domain);
    let message = MessageBuilder::new()
        .from(("Mail Delivery System", from.as_str()))
        .to(notify.as_str())
        .subject(REPORT_SUBJECT)
        .message_id(format!("{id}@{}", ctx.return_domain))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(body)
        .write_to_vec()
        .map_err(|e| format!("building report: {e}"))?;
    let message = without_date(message);
    let queued = QueuedMessage {
        id,
        created: now,
        size: message.len() as u64,
        account: original.account.clone(),
        notify: None,
        return_path: String::new(),
        held: false,
        hold_reason: None,
        is_report: true,
        recipients: vec![Recipient::new(notify, due)],
        history: Vec::new(),
        stamped: None,
    };
    Ok(Some((queued, message)))
}

/// mail-builder writes a `Date` of its own when none is given: drop it, the
/// message is dated at delivery (see `stamp.rs`). Used for reports, the
/// review-deadline notice and the inbound listener's answers.
pub fn without_date(message: Vec<u8>) -> Vec<u8> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 2);
    let mut out = Vec::with_capacity(message.len());
    let mut skipping = false;
    for line in message[..end].split_inclusive(|&b| b == b'\n') {
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            skipping = line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&message[end..]);
    out
}

/// The decoded subject of the stored message, if it has one.
fn subject_of(body: &[u8]) -> Option<String> {
    let headers = mail_parser::MessageParser::default().parse_headers(body)?;
    let subject = headers.subject()?;
    let line: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    Some(line.trim().to_owned()).filter(|s| !s.is_empty())
}

fn human_text(queue_id: &str, subject: Option<&str>, failed: &[FailedRecipient]) -> String {
    let mut text = String::from(
        "Votre message anonyme n'a pas pu être remis au(x) destinataire(s) ci-dessous.\r\n\
         Your anonymous message could not be delivered to the recipient(s) below.\r\n\r\n",
    );
    text.push_str(&format!("Identifiant / Queue id : {queue_id}\r\n"));
    if let Some(subject) = subject {
        text.push_str(&format!("Objet / Subject : {subject}\r\n"));
    }
    for f in failed {
        let (fr, en) = if f.expired {
            (
                "délai de remise dépassé",
                "not delivered before the queue lifetime ran out",
            )
        } else {
            (
                "refusé par le serveur du destinataire",
                "refused by the receiving server",
            )
        };
        text.push_str(&format!(
            "\r\nDestinataire / Recipient : <{}>\r\n\
             Statut / Status : {} ({fr} / {en})\r\n\
             Raison / Reason : {}\r\n",
            f.address,
            status_code(f),
            f.reply
        ));
    }
    text.push_str(
        "\r\nCet avis est envoyé après un délai aléatoire.\r\n\
         This notice is sent after a random delay.\r\n",
    );
    text
}

/// The `message/delivery-status` body: the reporting MTA, then one block per
/// recipient (no arrival date, no remote host: see the module docs).
fn delivery_status(hostname: &str, failed: &[FailedRecipient]) -> String {
    let mut dsn = format!("Reporting-MTA: dns; {hostname}\r\n");
    for f in failed {
        dsn.push_str(&format!(
            "\r\nFinal-Recipient: {}\r\nAction: failed\r\nStatus: {}\r\n\
             Diagnostic-Code: smtp; {}\r\n",
            crate::intl::final_recipient(&f.address),
            status_code(f),
            f.reply
        ));
    }
    dsn
}

/// The enhanced status code (RFC 3463): from the reply when it has one.
fn status_code(f: &FailedRecipient) -> String {
    if f.expired {
        return "4.4.7".into();
    }
    let mut words = f.reply.split_whitespace();
    let basic = words.next().unwrap_or("");
    if let Some(esc) = words.next() {
        let parts: Vec<&str> = esc.split('.').collect();
        let numeric = parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if parts.len() == 3 && numeric && matches!(parts[0], "4" | "5") {
            return esc.to_string();
        }
    }
    if basic.starts_with('4') {
        "4.0.0".into()
    } else {
        "5.0.0".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reply: &str, expired: bool) -> FailedRecipient {
        FailedRecipient {
            address: "bob@example.test".into(),
            reply: reply.into(),
            expired,
        }
    }

    #[test]
    fn status_codes() {
        assert_eq!(
            status_code(&failed("550 5.1.1 no such user", false)),
            "5.1.1"
        );
        assert_eq!(status_code(&failed("554 go away", false)), "5.0.0");
        assert_eq!(status_code(&failed("451 4.3.0 later", true)), "4.4.7");
        assert_eq!(status_code(&failed("550 5.1.10 null MX", false)), "5.1.10");
    }
}
