//! The headers written at delivery time.
//!
//! A queued message is stored without `Date`, without leak's `Received` line
//! and without DKIM signatures: any of them written at submission would tell
//! the recipient when the message was written, whatever the random delay.
//! At a message's first attempt the scheduler fixes its stamp (the attempt
//! time rounded down, see [`stamp_time`]) in the store; every attempt, for
//! every recipient domain, then sends [`outgoing`]: the signatures, then
//! `Received: by <hostname> (leak); <stamp>`, then `Date: <stamp>`, then the
//! stored message. Retries therefore carry the same `Date`, and the
//! signatures (which have no `t=`) come out the same too.
//!
//! A stored message that already has a `Date` field was queued by an older
//! leak that stamped and signed at submission: it is sent as stored.

use leak_dkim::{DkimError, Signer};

/// The first-attempt time `now` rounded down to a multiple of `rounding`
/// (at least a second): the recipient learns the hour and minute, not the
/// second.
pub fn stamp_time(now: u64, rounding: std::time::Duration) -> u64 {
    let step = rounding.as_secs().max(1);
    now - now % step
}

/// The message as it goes on the wire for the stamp `stamp`: DKIM signatures
/// over the stamped message, then the message itself. The stored bytes are
/// taken and the fields written in front of them within the same buffer, so
/// a large message is not held twice while it is signed and sent.
pub fn outgoing(
    mut stored: Vec<u8>,
    stamp: u64,
    hostname: &str,
    signer: &Signer,
    expires: Option<u64>,
) -> Result<Vec<u8>, DkimError> {
    if has_date(&stored) {
        return Ok(stored);
    }
    let date = mail_builder::headers::date::Date::new(stamp as i64).to_rfc822();
    let stamped = format!("Received: by {hostname} (leak); {date}\r\nDate: {date}\r\n");
    // Room for the fields in front, so that each insertion moves the
    // message within its buffer instead of copying it to a new one.
    stored.reserve(stamped.len() + SIGNATURE_ROOM);
    stored.splice(0..0, stamped.into_bytes());
    let signatures = signer.sign_expiring(&stored, expires)?;
    stored.splice(0..0, signatures);
    Ok(stored)
}

/// Bytes reserved for the DKIM-Signature fields (an RSA-2048 and an
/// Ed25519 signature take about 1 KB together).
const SIGNATURE_ROOM: usize = 4096;

/// Whether the header section has a `Date` field.
fn has_date(message: &[u8]) -> bool {
    message
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .any(|line| line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_round_down() {
        let five = Duration::from_secs(300);
        assert_eq!(stamp_time(1_795_154_599, five), 1_795_154_400);
        assert_eq!(stamp_time(1_795_154_400, five), 1_795_154_400);
        assert_eq!(stamp_time(1_795_154_599, Duration::ZERO), 1_795_154_599);
    }

    fn signer(dir: &std::path::Path) -> Signer {
        let spec = leak_dkim::KeySpec {
            selector: "s".into(),
            algorithm: leak_dkim::Algorithm::Ed25519,
            private_key: dir.join("k.pem"),
        };
        leak_dkim::generate_key(spec.algorithm, 0, &spec.private_key).unwrap();
        Signer::load("anon.test", &[spec]).unwrap()
    }

    #[test]
    fn outgoing_adds_signature_received_and_date_in_front() {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer(dir.path());
        let stored = b"From: a@anon.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let out = outgoing(
            stored.to_vec(),
            1_795_154_400,
            "mail.anon.test",
            &signer,
            None,
        )
        .unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let tail = "Received: by mail.anon.test (leak); Fri, 20 Nov 2026 06:00:00 +0000\r\n\
                    Date: Fri, 20 Nov 2026 06:00:00 +0000\r\n\
                    From: a@anon.test\r\nSubject: hi\r\n\r\nbody\r\n";
        assert!(text.starts_with("DKIM-Signature: "), "{text}");
        assert!(text.ends_with(tail), "{text}");
        assert_eq!(
            outgoing(
                stored.to_vec(),
                1_795_154_400,
                "mail.anon.test",
                &signer,
                None
            )
            .unwrap(),
            out,
            "a retry sends the same bytes"
        );
        // Queued by an older leak: already dated and signed, sent as stored.
        let legacy = b"DKIM-Signature: v=1\r\nDate: x\r\nFrom: a@anon.test\r\n\r\nb\r\n";
        assert_eq!(
            outgoing(legacy.to_vec(), 0, "h", &signer, None).unwrap(),
            legacy
        );
    }

    #[test]
    fn date_is_found_in_the_header_section_only() {
        assert!(has_date(b"From: a@b\r\nDATE: x\r\n\r\nbody"));
        assert!(!has_date(b"From: a@b\r\n\r\nDate: in the body\r\n"));
        assert!(!has_date(b"From: a@b\r\nX-Date: y\r\n\r\n"));
    }
}
