//! The test message: a few headers and `size` bytes of body in 78-character
//! lines, like smtp-source's `-l`. Each message gets its own Message-ID and
//! Subject number, so nothing downstream can deduplicate them.

/// Characters per body line, before CRLF.
const LINE: usize = 78;

/// Builds message number `seq`, CRLF-terminated and safe to send after DATA
/// as is (no line starts with a dot).
pub fn build(seq: usize, from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut out = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: leak-bench message {seq}\r\n\
         Message-ID: <{seq}.leak-bench@bench.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    out.reserve(size + size / LINE * 2 + 2);
    let mut left = size;
    let mut line_no = 0usize;
    while left > 0 {
        // Like smtp-source: a line number, then filler.
        let number = (line_no % 10).to_string();
        let len = left.min(LINE);
        out.extend_from_slice(number.as_bytes());
        out.extend(std::iter::repeat_n(b'X', len.saturating_sub(1)));
        out.extend_from_slice(b"\r\n");
        left -= len;
        line_no += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(message: &[u8]) -> &[u8] {
        let at = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header/body separator");
        &message[at + 4..]
    }

    #[test]
    fn body_has_the_requested_size_without_line_ends() {
        for size in [0, 1, 77, 78, 79, 4096, 10_000] {
            let message = build(7, "a@b.test", "c@d.test", size);
            let body = body_of(&message);
            let payload = body.iter().filter(|&&b| b != b'\r' && b != b'\n').count();
            assert_eq!(payload, size, "size {size}");
        }
    }

    #[test]
    fn lines_are_crlf_short_and_never_start_with_a_dot() {
        let message = build(3, "a@b.test", "c@d.test", 4096);
        assert!(message.ends_with(b"\r\n"));
        for line in message.split(|&b| b == b'\n') {
            assert!(line.len() <= 1000);
            assert!(!line.starts_with(b"."));
            if !line.is_empty() {
                assert!(line.ends_with(b"\r"), "bare LF in {line:?}");
            }
        }
    }

    #[test]
    fn messages_differ_by_sequence_number() {
        let a = build(1, "a@b.test", "c@d.test", 100);
        let b = build(2, "a@b.test", "c@d.test", 100);
        assert_ne!(a, b);
        assert!(String::from_utf8_lossy(&b).contains("Message-ID: <2.leak-bench@bench.test>"));
    }
}
