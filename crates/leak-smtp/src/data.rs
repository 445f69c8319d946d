//! The DATA receiver: a sans-I/O state machine fed with whatever chunks the
//! network delivers. It un-stuffs leading dots, finds the `CRLF.CRLF`
//! terminator, and refuses what would let a message be read two ways:
//!
//! - bare LF, bare CR and NUL are fatal (SMTP smuggling, CVE-2023-51764): the
//!   session answers and closes, since the client's idea of where the message
//!   ends can no longer be trusted;
//! - a line over 1000 octets or a message over the size limit is read to its
//!   end and then refused, keeping the session usable.

/// What went wrong with a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("bare LF in message")]
    BareLf,
    #[error("bare CR in message")]
    BareCr,
    #[error("NUL byte in message")]
    Nul,
    #[error("line longer than 1000 octets")]
    LineTooLong,
    #[error("message larger than the size limit")]
    TooBig,
}

impl DataError {
    /// Fatal errors end the session: the end of the message is ambiguous.
    pub fn is_fatal(self) -> bool {
        matches!(self, DataError::BareLf | DataError::BareCr | DataError::Nul)
    }
}

/// Where the receiver stands after a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum DataStatus {
    /// The terminator has not been seen yet.
    NeedMore,
    /// The terminator was seen: the message (CRLF lines, un-stuffed, without
    /// the terminating `.CRLF`) or why it is refused.
    Done(Result<Vec<u8>, DataError>),
    /// A fatal error: stop reading, answer, close.
    Fatal(DataError),
}

/// Longest line allowed by RFC 5321 4.5.3.1.6, without its CRLF.
const MAX_LINE: usize = 998;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    /// A line began with a dot: stuffing or the terminator.
    Dot,
    /// `CR` after a lone dot: the terminator if `LF` follows.
    DotCr,
    Body,
    Cr,
}

/// Receives one message. Feed it chunks with [`DataReceiver::feed`].
#[derive(Debug)]
pub struct DataReceiver {
    state: State,
    message: Vec<u8>,
    line_len: usize,
    max_size: usize,
    error: Option<DataError>,
}

impl DataReceiver {
    /// A receiver refusing messages over `max_size` bytes (after un-stuffing).
    pub fn new(max_size: usize) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            message: Vec::new(),
            line_len: 0,
            max_size,
            error: None,
        }
    }

    /// Consumes bytes from `input` and returns how many it used and where it
    /// stands. Bytes after the terminator are not consumed: they are the next
    /// pipelined command.
    pub fn feed(&mut self, input: &[u8]) -> (usize, DataStatus) {
        for (index, &byte) in input.iter().enumerate() {
            match self.step(byte) {
                Ok(false) => {}
                Ok(true) => {
                    let result = match self.error {
                        Some(error) => Err(error),
                        None => Ok(std::mem::take(&mut self.message)),
                    };
                    return (index + 1, DataStatus::Done(result));
                }
                Err(fatal) => return (index + 1, DataStatus::Fatal(fatal)),
            }
        }
        (input.len(), DataStatus::NeedMore)
    }

    /// One byte; `Ok(true)` at the end of the terminator.
    fn step(&mut self, byte: u8) -> Result<bool, DataError> {
        match (self.state, byte) {
            (State::LineStart, b'.') => {
                self.line_len = 1;
                self.state = State::Dot;
            }
            (State::Dot, b'\r') => self.state = State::DotCr,
            (State::DotCr, b'\n') => return Ok(true),
            (State::DotCr, _) | (State::Cr, _) if byte != b'\n' => return Err(DataError::BareCr),
            (State::Cr, b'\n') => {
                self.push(b"\r\n");
                self.line_len = 0;
                self.state = State::LineStart;
            }
            (_, b'\r') => self.state = State::Cr,
            (_, b'\n') => return Err(DataError::BareLf),
            (_, 0) => return Err(DataError::Nul),
            (_, _) => {
                self.line_len += 1;
                if self.line_len > MAX_LINE {
                    self.error.get_or_insert(DataError::LineTooLong);
                }
                self.push(&[byte]);
                self.state = State::Body;
            }
        }
        Ok(false)
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.message.len() + bytes.len() > self.max_size {
            self.error = Some(DataError::TooBig);
            self.message = Vec::new();
            return;
        }
        self.message.extend_from_slice(bytes);
    }
}

/// Dot-stuffs a CRLF message and appends the terminator: what a client sends
/// after `354`. The inverse of [`DataReceiver`] for well-formed messages.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 8);
    let mut line_start = true;
    for &byte in message {
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        line_start = byte == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive_in_chunks(input: &[u8], chunk: usize) -> (usize, DataStatus) {
        let mut receiver = DataReceiver::new(1 << 20);
        let mut offset = 0;
        for piece in input.chunks(chunk) {
            let (used, status) = receiver.feed(piece);
            offset += used;
            if status != DataStatus::NeedMore {
                return (offset, status);
            }
        }
        (offset, DataStatus::NeedMore)
    }

    #[test]
    fn unstuffs_and_stops_at_terminator_in_any_chunking() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        for chunk in 1..wire.len() {
            let (used, status) = receive_in_chunks(wire, chunk);
            assert_eq!(
                status,
                DataStatus::Done(Ok(b"Subject: x\r\n\r\n.leading dot\r\n".to_vec())),
                "chunk size {chunk}"
            );
            assert_eq!(&wire[used..], b"QUIT\r\n");
        }
    }

    #[test]
    fn refuses_smuggling_bytes() {
        for (wire, error) in [
            (&b"a\nb\r\n.\r\n"[..], DataError::BareLf),
            (b"a\rb\r\n.\r\n", DataError::BareCr),
            (b"a\r\n.\n", DataError::BareLf),
            (b"a\r\n.\rX", DataError::BareCr),
            (b"a\0b\r\n.\r\n", DataError::Nul),
        ] {
            assert_eq!(
                receive_in_chunks(wire, 3).1,
                DataStatus::Fatal(error),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn long_lines_and_big_messages_are_read_to_the_end_then_refused() {
        let mut wire = vec![b'x'; 999];
        wire.extend_from_slice(b"\r\n.\r\nNEXT");
        let (used, status) = receive_in_chunks(&wire, 100);
        assert_eq!(status, DataStatus::Done(Err(DataError::LineTooLong)));
        assert_eq!(&wire[used..], b"NEXT");

        let mut ok = vec![b'x'; 998];
        ok.extend_from_slice(b"\r\n.\r\n");
        assert!(matches!(
            receive_in_chunks(&ok, 7).1,
            DataStatus::Done(Ok(_))
        ));

        let mut receiver = DataReceiver::new(10);
        let (_, status) = receiver.feed(b"0123456789ABC\r\n.\r\n");
        assert_eq!(status, DataStatus::Done(Err(DataError::TooBig)));
    }

    #[test]
    fn stuffing_then_receiving_is_identity() {
        let message = b".\r\n..\r\nSubject: .\r\n\r\n.x\r\n";
        let mut receiver = DataReceiver::new(1 << 20);
        let (_, status) = receiver.feed(&dot_stuff(message));
        assert_eq!(status, DataStatus::Done(Ok(message.to_vec())));
    }
}
