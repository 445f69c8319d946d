//! A cleaned file described as pieces of the original plus a few new bytes,
//! written either as a new buffer or over the original one.
//!
//! The JPEG and PNG cleaners keep most of a file as it is (the pixels) and
//! drop or rebuild a few small blocks, so they describe their output as an
//! ordered list of [`Piece`]s instead of writing it. [`Pieces::copy`]
//! assembles a new buffer from a borrowed file; [`Pieces::in_place`]
//! assembles it inside the file's own buffer when every kept range is at
//! or after the place it moves to, which is what cleaning a large
//! attachment needs: the file is not held twice (docs/performance.md).

use std::ops::Range;

/// One piece of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Bytes of the input, kept as they are.
    Kept(Range<usize>),
    /// New bytes (a rebuilt header segment).
    New(Vec<u8>),
}

/// The output, in order.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    pieces: Vec<Piece>,
    /// Pieces before this index are never extended ([`Pieces::mark`]).
    sealed: usize,
}

impl Pieces {
    /// Appends input bytes `range`, merged with the previous piece when it
    /// ends where `range` starts.
    pub(crate) fn keep(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        if self.pieces.len() > self.sealed {
            if let Some(Piece::Kept(last)) = self.pieces.last_mut() {
                if last.end == range.start {
                    last.end = range.end;
                    return;
                }
            }
        }
        self.pieces.push(Piece::Kept(range));
    }

    /// Appends new bytes.
    pub(crate) fn add(&mut self, bytes: Vec<u8>) {
        self.pieces.push(Piece::New(bytes));
    }

    /// Inserts new bytes at a [`Pieces::mark`].
    pub(crate) fn insert(&mut self, mark: usize, bytes: Vec<u8>) {
        self.pieces.insert(mark, Piece::New(bytes));
    }

    /// Marks the current end of the output, for a later [`Pieces::insert`]
    /// there (what is kept after it is not merged into what came before).
    pub(crate) fn mark(&mut self) -> usize {
        self.sealed = self.pieces.len();
        self.sealed
    }

    fn output_len(&self) -> usize {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Kept(range) => range.len(),
                Piece::New(bytes) => bytes.len(),
            })
            .sum()
    }

    /// The output as a new buffer.
    pub(crate) fn copy(&self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.output_len());
        for piece in &self.pieces {
            match piece {
                Piece::Kept(range) => out.extend_from_slice(&input[range.clone()]),
                Piece::New(bytes) => out.extend_from_slice(bytes),
            }
        }
        out
    }

    /// The output written over `input`'s own buffer, front to back. Each
    /// write must land before what is still to be read: a kept range moves
    /// only towards the start, and new bytes only overwrite input that no
    /// later piece keeps. When that does not hold (a rebuilt segment longer
    /// than what it replaces), a new buffer is assembled instead.
    pub(crate) fn in_place(&self, mut input: Vec<u8>) -> Vec<u8> {
        if !self.fits_in_place(input.len()) {
            return self.copy(&input);
        }
        let mut at = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Kept(range) => {
                    input.copy_within(range.clone(), at);
                    at += range.len();
                }
                Piece::New(bytes) => {
                    input[at..at + bytes.len()].copy_from_slice(bytes);
                    at += bytes.len();
                }
            }
        }
        input.truncate(at);
        input
    }

    /// Whether every piece can be written at its output position without
    /// overwriting input a later piece still reads (and within the buffer).
    fn fits_in_place(&self, input_len: usize) -> bool {
        // Where the next kept range starts, after each piece (one backward
        // pass: a hostile file can make many pieces).
        let mut next_read = vec![usize::MAX; self.pieces.len()];
        let mut upcoming = usize::MAX;
        for (index, piece) in self.pieces.iter().enumerate().rev() {
            next_read[index] = upcoming;
            if let Piece::Kept(range) = piece {
                upcoming = range.start;
            }
        }
        let mut at = 0;
        for (piece, next) in self.pieces.iter().zip(next_read) {
            let end = match piece {
                Piece::Kept(range) if at > range.start => return false,
                Piece::Kept(range) => at + range.len(),
                Piece::New(bytes) => at + bytes.len(),
            };
            if end > next || end > input_len {
                return false;
            }
            at = end;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_and_copy_agree() {
        let input = b"0123456789abcdef".to_vec();
        let mut pieces = Pieces::default();
        pieces.keep(0..2);
        let mark = pieces.mark();
        pieces.keep(2..3);
        pieces.add(b"X".to_vec());
        pieces.keep(5..8);
        pieces.keep(8..10);
        pieces.insert(mark, b"YY".to_vec());
        pieces.keep(12..16);
        let copied = pieces.copy(&input);
        assert_eq!(copied, b"01YY2X56789cdef");
        assert_eq!(pieces.in_place(input), copied);
    }

    #[test]
    fn new_bytes_that_would_overwrite_kept_input_force_a_copy() {
        let input = b"0123456789".to_vec();
        let mut pieces = Pieces::default();
        pieces.add(b"ABCDE".to_vec());
        pieces.keep(2..10);
        assert!(!pieces.fits_in_place(input.len()));
        assert_eq!(pieces.in_place(input), b"ABCDE23456789");
    }
}
