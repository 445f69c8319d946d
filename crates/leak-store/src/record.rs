//! On-disk record formats. Every record starts with a format version byte and a
//! crc32 checksum, so a damaged or foreign record is recognised instead of misread.
//!
//! - Sealed value (envelopes and kv values in sled):
//!   `[version u8][crc32 BE u32 of payload][payload]`.
//! - Envelope payload: a [`BodyRef`] (`segment u64, offset u64, len u64, crc u32`,
//!   big-endian) followed by the [`QueuedMessage`] as JSON.
//! - Body record in a segment file:
//!   `[version u8][crc32 BE u32 of the rest][body len u64 BE][id len u8][id][body]`.
//!   The id inside the record lets a read prove the bytes belong to that message.

use crate::QueuedMessage;

/// The only format version this code writes and reads.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Version byte plus checksum.
const SEAL_LEN: usize = 5;

/// Size of an encoded [`BodyRef`].
const BODY_REF_LEN: usize = 8 + 8 + 8 + 4;

/// Where a message's body record lives: written into the envelope so a body can
/// be found (and checked) without scanning segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyRef {
    /// Segment file number (`segments/<number as 16 hex>.seg`).
    pub segment: u64,
    /// Byte offset of the record's first byte in the segment.
    pub offset: u64,
    /// Length of the whole record, header included.
    pub len: u64,
    /// The record's own checksum, compared on read as a second guard.
    pub crc: u32,
}

/// Wraps `payload` with the version byte and its checksum.
pub(crate) fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEAL_LEN + payload.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks a sealed value and returns its payload, or why it is unreadable.
pub(crate) fn unseal(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < SEAL_LEN {
        return Err(format!("record too short ({} bytes)", bytes.len()));
    }
    check_version(bytes[0])?;
    let stored = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let payload = &bytes[SEAL_LEN..];
    let actual = crc32fast::hash(payload);
    if stored != actual {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {actual:08x})"
        ));
    }
    Ok(payload)
}

fn check_version(version: u8) -> Result<(), String> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(format!("unknown format version {version}"))
    }
}

/// Encodes an envelope value for the sled `envelopes` tree.
pub(crate) fn encode_envelope(body: &BodyRef, message: &QueuedMessage) -> Vec<u8> {
    let json = serde_json::to_vec(message).expect("a QueuedMessage always serialises");
    let mut payload = Vec::with_capacity(BODY_REF_LEN + json.len());
    payload.extend_from_slice(&body.segment.to_be_bytes());
    payload.extend_from_slice(&body.offset.to_be_bytes());
    payload.extend_from_slice(&body.len.to_be_bytes());
    payload.extend_from_slice(&body.crc.to_be_bytes());
    payload.extend_from_slice(&json);
    seal(&payload)
}

/// Decodes an envelope value, or says why it is damaged.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<(BodyRef, QueuedMessage), String> {
    let payload = unseal(bytes)?;
    if payload.len() < BODY_REF_LEN {
        return Err("envelope too short for its body reference".to_string());
    }
    let u64_at = |at: usize| u64::from_be_bytes(payload[at..at + 8].try_into().expect("8 bytes"));
    let body = BodyRef {
        segment: u64_at(0),
        offset: u64_at(8),
        len: u64_at(16),
        crc: u32::from_be_bytes(payload[24..28].try_into().expect("4 bytes")),
    };
    let message = serde_json::from_slice(&payload[BODY_REF_LEN..])
        .map_err(|e| format!("undecodable envelope: {e}"))?;
    Ok((body, message))
}

/// The header of a body record and the record's checksum. The caller writes
/// the header and then the body bytes themselves (no copy of the body).
pub(crate) fn body_header(id: &str, body: &[u8]) -> (Vec<u8>, u32) {
    let id_len = u8::try_from(id.len()).expect("message ids are short");
    let mut header = Vec::with_capacity(SEAL_LEN + 9 + id.len());
    header.push(FORMAT_VERSION);
    header.extend_from_slice(&[0; 4]);
    header.extend_from_slice(&(body.len() as u64).to_be_bytes());
    header.push(id_len);
    header.extend_from_slice(id.as_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[SEAL_LEN..]);
    hasher.update(body);
    let crc = hasher.finalize();
    header[1..SEAL_LEN].copy_from_slice(&crc.to_be_bytes());
    (header, crc)
}

/// Checks a body record read back from a segment against its envelope's
/// reference and returns the body bytes, or why they are damaged.
pub(crate) fn decode_body(
    record: Vec<u8>,
    id: &str,
    expected: &BodyRef,
) -> Result<Vec<u8>, String> {
    let payload = unseal(&record)?;
    if crc32fast::hash(payload) != expected.crc {
        return Err("body checksum differs from the envelope's".to_string());
    }
    if payload.len() < 9 {
        return Err("body record too short".to_string());
    }
    let body_len = u64::from_be_bytes(payload[0..8].try_into().expect("8 bytes"));
    let id_len = usize::from(payload[8]);
    let id_end = 9 + id_len;
    if payload.len() < id_end || &payload[9..id_end] != id.as_bytes() {
        return Err("body record belongs to another message".to_string());
    }
    if (payload.len() - id_end) as u64 != body_len {
        return Err("body record length mismatch".to_string());
    }
    let start = SEAL_LEN + id_end;
    let mut record = record;
    record.drain(..start);
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> QueuedMessage {
        QueuedMessage {
            id: "0123456789abcdef".into(),
            created: 7,
            size: 3,
            account: "alice".into(),
            notify: None,
            return_path: "bounce@anon.example".into(),
            held: false,
            hold_reason: None,
            is_report: false,
            recipients: vec![crate::Recipient::new("bob@example.org", 7)],
            history: vec![],
            stamped: None,
        }
    }

    #[test]
    fn envelope_round_trips_and_detects_flips() {
        let r = BodyRef {
            segment: 3,
            offset: 99,
            len: 40,
            crc: 0xdead_beef,
        };
        let bytes = encode_envelope(&r, &message());
        assert_eq!(decode_envelope(&bytes).unwrap(), (r, message()));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode_envelope(&bad).is_err(), "flip at {i} went unnoticed");
        }
        assert!(decode_envelope(&bytes[..3]).is_err());
    }

    #[test]
    fn body_record_round_trips_and_checks_owner() {
        let (header, crc) = body_header("abc", b"hello");
        let mut record = header.clone();
        record.extend_from_slice(b"hello");
        let r = BodyRef {
            segment: 1,
            offset: 0,
            len: record.len() as u64,
            crc,
        };
        assert_eq!(decode_body(record.clone(), "abc", &r).unwrap(), b"hello");
        assert!(decode_body(record.clone(), "abd", &r).is_err());
        let mut flipped = record.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode_body(flipped, "abc", &r).is_err());
        let mut versioned = record;
        versioned[0] = 9;
        assert!(decode_body(versioned, "abc", &r)
            .unwrap_err()
            .contains("version 9"));
    }
}
