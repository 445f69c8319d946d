//! The DATA receiver under arbitrary chunking. Input layout: one flag byte
//! (bit 0 picks a small size limit so `TooBig` is reached), one byte giving
//! the number of cuts (0-15), two bytes per cut (a position in the wire,
//! modulo its length), then the wire bytes themselves.
//!
//! Checked:
//! - no panic, and the receiver never claims more bytes than it was given;
//! - the outcome and the bytes consumed do not depend on the chunking;
//! - `Done(Ok(msg))` never holds a bare CR, a bare LF or a NUL, and ends in
//!   CRLF unless empty;
//! - `dot_stuff(msg)` received again yields `msg` and consumes all of it;
//! - any CRLF message built from the same bytes survives stuffing then
//!   receiving unchanged.

#![no_main]

use leak_smtp::{dot_stuff, DataReceiver, DataStatus};
use libfuzzer_sys::fuzz_target;

/// What feeding a wire produced: the final status (if any) and how many
/// bytes the receiver consumed.
type Outcome = (Option<DataStatus>, usize);

fn receive(max_size: usize, wire: &[u8], cuts: &[usize]) -> Outcome {
    let mut receiver = DataReceiver::new(max_size);
    let mut consumed = 0;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        let chunk = &wire[start..end];
        let (used, status) = receiver.feed(chunk);
        assert!(used <= chunk.len(), "consumed {used} of {}", chunk.len());
        consumed += used;
        if status != DataStatus::NeedMore {
            return (Some(status), consumed);
        }
        assert_eq!(used, chunk.len(), "NeedMore must consume the whole chunk");
        start = end;
    }
    (None, consumed)
}

fn assert_clean(message: &[u8]) {
    for (i, &byte) in message.iter().enumerate() {
        match byte {
            b'\r' => assert_eq!(message.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && message[i - 1] == b'\r', "bare LF at {i}"),
            0 => panic!("NUL at {i}"),
            _ => {}
        }
    }
    assert!(message.is_empty() || message.ends_with(b"\r\n"));
}

fn assert_round_trip(max_size: usize, message: &[u8]) {
    let stuffed = dot_stuff(message);
    let (status, consumed) = receive(max_size, &stuffed, &[]);
    assert_eq!(status, Some(DataStatus::Done(Ok(message.to_vec()))));
    assert_eq!(consumed, stuffed.len());
}

/// A well-formed CRLF message from arbitrary bytes: lines split on LF, CR and
/// NUL removed, lines cut so that, once dot-stuffed, they fit the 998-octet
/// wire limit of RFC 5321 4.5.3.1.6 (a leading dot costs one more octet).
fn well_formed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    for line in bytes.split(|&b| b == b'\n') {
        let mut kept: Vec<u8> = line
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != 0)
            .take(998)
            .collect();
        if kept.first() == Some(&b'.') {
            kept.truncate(997);
        }
        out.extend_from_slice(&kept);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (Some(&flags), Some(&count)) = (data.first(), data.get(1)) else {
        return;
    };
    let count = usize::from(count % 16);
    let Some(cut_bytes) = data.get(2..2 + 2 * count) else {
        return;
    };
    let wire = &data[2 + 2 * count..];
    let max_size = if flags & 1 == 1 { 64 } else { 1 << 20 };
    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (wire.len() + 1))
        .collect();
    cuts.sort_unstable();

    let chunked = receive(max_size, wire, &cuts);
    let whole = receive(max_size, wire, &[]);
    assert_eq!(chunked, whole, "chunking changed the outcome");

    if let (Some(DataStatus::Done(Ok(message))), consumed) = &chunked {
        assert!(wire[..*consumed].ends_with(b".\r\n"));
        assert!(message.len() <= max_size);
        assert_clean(message);
        assert_round_trip(max_size, message);
    }
    assert_round_trip(1 << 24, &well_formed(wire));
});
