//! The word table: a read-only map from a normalised word to its lexicon id,
//! built once and probed for every token of every message.
//!
//! A general `HashMap<Box<[u8]>, u32>` hashes the length and the bytes, then
//! compares keys with `memcmp`. Most words are eight bytes or shorter, so
//! here such a word *is* its key: its bytes packed into a `u64`, compared in
//! one instruction, with no pointer to follow. Longer words are keyed by a
//! 64-bit hash and checked against their stored bytes only when the hash
//! matches. Open addressing, linear probing, at most half full.

/// One slot: `len == 0` marks an empty one.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    len: u32,
    id: u32,
}

/// Word bytes to lexicon id.
#[derive(Default)]
pub(crate) struct WordTable {
    slots: Box<[Slot]>,
    /// The bytes of words longer than eight bytes, by slot (empty otherwise).
    long: Box<[Box<[u8]>]>,
    shift: u32,
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// The packed bytes of a short word, or a hash of a long one.
#[inline]
fn key_of(w: &[u8]) -> u64 {
    if w.len() <= 8 {
        // A byte loop: `copy_from_slice` of a variable length is a call.
        return w
            .iter()
            .enumerate()
            .fold(0, |k, (i, &b)| k | u64::from(b) << (8 * i));
    }
    let mut h = w.len() as u64;
    let mut chunks = w.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(b)).wrapping_mul(MUL);
    }
    let mut b = [0u8; 8];
    b[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (h.rotate_left(23) ^ u64::from_le_bytes(b)).wrapping_mul(MUL)
}

impl WordTable {
    /// Builds the table from `(word, id)` pairs; words must be distinct and
    /// non-empty.
    pub fn build<'a>(entries: impl ExactSizeIterator<Item = (&'a [u8], u32)>) -> WordTable {
        let bits = (entries.len() * 2)
            .max(16)
            .next_power_of_two()
            .trailing_zeros();
        let size = 1usize << bits;
        let mut table = WordTable {
            slots: vec![Slot::default(); size].into(),
            long: vec![Box::default(); size].into(),
            shift: 64 - bits,
        };
        for (w, id) in entries {
            let key = key_of(w);
            let mut i = table.home(key);
            while table.slots[i].len != 0 {
                i = (i + 1) & (size - 1);
            }
            table.slots[i] = Slot {
                key,
                len: w.len() as u32,
                id,
            };
            if w.len() > 8 {
                table.long[i] = w.into();
            }
        }
        table
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(MUL) >> self.shift) as usize
    }

    /// The id of `w`, if it is in the table.
    #[inline]
    pub fn get(&self, w: &[u8]) -> Option<u32> {
        if w.is_empty() || self.slots.is_empty() {
            return None;
        }
        let key = key_of(w);
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = self.slots[i];
            if s.len == 0 {
                return None;
            }
            if s.key == key && s.len as usize == w.len() && (w.len() <= 8 || *self.long[i] == *w) {
                return Some(s.id);
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_short_and_long_words_and_nothing_else() {
        let words: [&[u8]; 5] = [b"a", b"con", b"connard", b"motherfucker", b"mother"];
        let table = WordTable::build(words.iter().enumerate().map(|(i, w)| (*w, i as u32)));
        for (i, w) in words.iter().enumerate() {
            assert_eq!(table.get(w), Some(i as u32));
        }
        for miss in [
            &b"co"[..],
            b"connards",
            b"motherfuckers",
            b"",
            b"motherfuckex",
        ] {
            assert_eq!(table.get(miss), None);
        }
        assert_eq!(WordTable::default().get(b"con"), None);
    }
}
