//! The SMTP command parser (`smtp_proto::Request::parse`, as called by
//! leak-smtp's session on every command line) must turn any bytes into a
//! request or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_proto::Request;

fuzz_target!(|data: &[u8]| {
    // Raw bytes, as they may arrive without a line ending.
    let _ = Request::parse(&mut data.iter());
    // The same bytes as a complete line, as the session hands them over.
    let mut line = data.to_vec();
    line.extend_from_slice(b"\r\n");
    let _ = Request::parse(&mut line.iter());
});
