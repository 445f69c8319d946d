//! The store's on-disk record decoding must turn any damaged bytes into an
//! error, never a panic: a damaged record is reported, not a crash loop. The
//! first byte picks the record kind (envelope from sled, body from a segment).

#![no_main]

use leak_store::inspect::{decode_body_record, decode_envelope_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, record)) = data.split_first() else {
        return;
    };
    if kind & 1 == 0 {
        if let Ok(message) = decode_envelope_record(record) {
            assert!(
                message.id.len() <= record.len(),
                "decoded more than was there"
            );
        }
    } else if let Ok(body) = decode_body_record(record, "0123456789abcdef") {
        assert!(body.len() < record.len(), "a body record has a header");
    }
});
