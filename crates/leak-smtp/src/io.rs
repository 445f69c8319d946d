//! Buffered reading of command lines and message data, with limits and
//! timeouts, and batching of replies: replies are queued and written only when
//! the client has nothing more buffered, which is what PIPELINING expects.

use crate::reply::Reply;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Why reading from the client stopped.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The client closed the connection.
    Closed,
    /// Nothing arrived within the allowed time.
    Timeout,
    Io(std::io::Error),
}

/// A command line, or the fact that it was too long (and has been skipped).
pub(crate) enum Line {
    Complete(Vec<u8>),
    TooLong,
}

/// One client connection's byte stream.
pub(crate) struct Connection<S> {
    stream: S,
    input: Vec<u8>,
    output: Vec<u8>,
}

const READ_CHUNK: usize = 16 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            input: Vec::with_capacity(READ_CHUNK),
            output: Vec::with_capacity(512),
        }
    }

    /// Queues a reply; it is written before the next read that would block.
    pub fn queue(&mut self, reply: &Reply) {
        self.output.extend_from_slice(&reply.to_wire());
    }

    /// Queues raw reply bytes (multi-line EHLO).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Writes every queued reply now.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
        }
        self.stream.flush().await
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.input
    }

    /// Drops the first `count` buffered bytes.
    pub fn consume(&mut self, count: usize) {
        self.input.drain(..count);
    }

    /// Forgets everything buffered: plaintext pipelined after STARTTLS
    /// (CVE-2011-0411) must never be read as if it came over TLS.
    pub fn discard_buffered(&mut self) -> usize {
        let count = self.input.len();
        self.input.clear();
        count
    }

    /// Reads more bytes, flushing queued replies first. Waits at most `timeout`.
    pub async fn fill(&mut self, timeout: Duration) -> Result<(), ReadFailure> {
        self.fill_until(Instant::now() + timeout).await
    }

    /// Reads more bytes, flushing queued replies first; gives up at `deadline`.
    pub async fn fill_until(&mut self, deadline: Instant) -> Result<(), ReadFailure> {
        let write = tokio::time::timeout_at(deadline, self.flush()).await;
        match write {
            Err(_) => return Err(ReadFailure::Timeout),
            Ok(result) => result.map_err(ReadFailure::Io)?,
        }
        let mut chunk = [0u8; READ_CHUNK];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(ReadFailure::Timeout),
            Ok(Err(error)) => Err(ReadFailure::Io(error)),
            Ok(Ok(0)) => Err(ReadFailure::Closed),
            Ok(Ok(read)) => {
                self.input.extend_from_slice(&chunk[..read]);
                Ok(())
            }
        }
    }

    /// Reads one line ending in LF, at most `max` bytes including the line end.
    /// A longer line is skipped up to its LF and reported as [`Line::TooLong`].
    /// `deadline` bounds the whole line, not each read: a client trickling
    /// one byte at a time cannot stretch it.
    pub async fn read_line_until(
        &mut self,
        max: usize,
        deadline: Instant,
    ) -> Result<Line, ReadFailure> {
        let mut skipping = false;
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                return Ok(if skipping || line.len() > max {
                    Line::TooLong
                } else {
                    Line::Complete(line)
                });
            }
            if self.input.len() > max {
                skipping = true;
                self.input.clear();
            }
            self.fill_until(deadline).await?;
        }
    }

    /// Gives back the stream (for the TLS handshake after STARTTLS).
    pub fn into_inner(self) -> S {
        self.stream
    }
}
