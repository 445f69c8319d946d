//! Failure reports (RFC 3464 delivery status notifications) to the submitting
//! account's notify address.
//!
//! A report names the failed recipients and the remote replies, and carries
//! only the header section of the anonymized message as sent (never the body,
//! never anything of the submission). It comes from `mailer-daemon@<anonymizer
//! domain>` with the null envelope sender, is DKIM-signed like all leak mail,
//! and is itself marked `is_report` so that it never causes another report.

use leak_dkim::Signer;
use leak_store::{QueuedMessage, Recipient};
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

/// A recipient that failed, for the report.
#[derive(Debug, Clone)]
pub(crate) struct FailedRecipient {
    pub address: String,
    /// The remote reply or local error that decided it.
    pub reply: String,
    /// The MX host that answered, if any.
    pub mx: Option<String>,
    /// Failed because the queue lifetime ran out (status 4.4.7).
    pub expired: bool,
}

/// Who the report is from and what the reporting MTA is called.
pub(crate) struct ReportContext<'a> {
    pub hostname: &'a str,
    pub return_domain: &'a str,
    pub signer: &'a Signer,
}

/// Builds and signs the report for `original`; returns it ready to enqueue, or
/// `None` when no report is due (no notify address, or a report itself).
pub(crate) fn build(
    ctx: &ReportContext<'_>,
    original: &QueuedMessage,
    original_body: &[u8],
    failed: &[FailedRecipient],
    now: u64,
) -> Result<Option<(QueuedMessage, Vec<u8>)>, String> {
    let notify = match &original.notify {
        Some(n) if !original.is_report && !failed.is_empty() => n.clone(),
        _ => return Ok(None),
    };
    let id = leak_store::new_message_id();
    let text = human_text(failed);
    let dsn = delivery_status(ctx.hostname, original.created, failed);
    let headers = header_section(original_body);
    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            MimePart::new("text/plain", text),
            MimePart::raw(format!(
                "Content-Type: message/delivery-status\r\n\r\n{dsn}"
            )),
            MimePart::raw(
                [
                    b"Content-Type: text/rfc822-headers\r\n\r\n".as_slice(),
                    headers,
                ]
                .concat(),
            ),
        ],
    );
    let from = format!("mailer-daemon@{}", ctx.return_domain);
    let message = MessageBuilder::new()
        .from(("Mail Delivery System", from.as_str()))
        .to(notify.as_str())
        .subject("Undelivered Mail Returned to Sender")
        .message_id(format!("{id}@{}", ctx.return_domain))
        .date(now as i64)
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-replied"),
        )
        .body(body)
        .write_to_vec()
        .map_err(|e| format!("building report: {e}"))?;
    let mut signed = ctx
        .signer
        .sign(&message)
        .map_err(|e| format!("signing report: {e}"))?;
    signed.extend_from_slice(&message);
    let queued = QueuedMessage {
        id,
        created: now,
        size: signed.len() as u64,
        account: original.account.clone(),
        notify: None,
        return_path: String::new(),
        held: false,
        hold_reason: None,
        is_report: true,
        recipients: vec![Recipient::new(notify, now)],
        history: Vec::new(),
    };
    Ok(Some((queued, signed)))
}

fn human_text(failed: &[FailedRecipient]) -> String {
    let mut text = String::from(
        "Your anonymous message could not be delivered to the following recipients.\r\n\r\n",
    );
    for f in failed {
        let why = if f.expired {
            "it could not be delivered before the queue lifetime ran out"
        } else {
            "the receiving server refused it"
        };
        text.push_str(&format!(
            "<{}>: {why}.\r\n    {}\r\n\r\n",
            f.address, f.reply
        ));
    }
    text.push_str("The headers of the message as it was sent are attached.\r\n");
    text
}

/// The `message/delivery-status` body: per-message fields, then one block per recipient.
fn delivery_status(hostname: &str, arrival: u64, failed: &[FailedRecipient]) -> String {
    let arrival = mail_builder::headers::date::Date::new(arrival as i64).to_rfc822();
    let mut dsn = format!("Reporting-MTA: dns; {hostname}\r\nArrival-Date: {arrival}\r\n");
    for f in failed {
        dsn.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n",
            f.address,
            status_code(f)
        ));
        if let Some(mx) = &f.mx {
            dsn.push_str(&format!("Remote-MTA: dns; {mx}\r\n"));
        }
        dsn.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", f.reply));
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

/// The header section of a message (up to and including the blank line's CRLF).
fn header_section(message: &[u8]) -> &[u8] {
    if let Some(pos) = message.windows(4).position(|w| w == b"\r\n\r\n") {
        return &message[..pos + 2];
    }
    if let Some(pos) = message.windows(2).position(|w| w == b"\n\n") {
        return &message[..pos + 1];
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(reply: &str, expired: bool) -> FailedRecipient {
        FailedRecipient {
            address: "bob@example.test".into(),
            reply: reply.into(),
            mx: None,
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

    #[test]
    fn header_section_stops_at_blank_line() {
        assert_eq!(
            header_section(b"A: 1\r\nB: 2\r\n\r\nbody\r\n"),
            b"A: 1\r\nB: 2\r\n"
        );
    }
}
