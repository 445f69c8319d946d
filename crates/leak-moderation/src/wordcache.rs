//! A per-message cache of word look-ups: a long message repeats the same
//! few hundred words thousands of times, and a small table that stays in
//! the processor's first-level cache answers faster than the lexicon's
//! large one (and skips the repeated-letter test an unknown word needs).
//!
//! Only plain words of one to eight bytes are cached, keyed by their bytes
//! packed into a `u64` (one padded 8-byte load from the token buffer);
//! longer words (the lexicon's table hashes them about as fast) and
//! rewritten tokens (leetspeak `1`, masks, repeats) go to the lexicon each
//! time. Direct-mapped: a slot holds one word, a collision replaces it.

use crate::lexicon::{Lexicon, ShapeFits};
use crate::normalize::{Tokens, ELONGATED, LEET_ONE, MASKED};

/// Slots (a power of two): 32 KB.
const SLOTS: usize = 2048;

/// Messages shorter than this are looked up without the cache.
const MIN_TOKENS: usize = 512;

/// One cached word: its packed bytes (0 = empty), id and shape fits.
#[derive(Clone, Copy, Default)]
struct Entry {
    key: u64,
    id: u32,
    shapes: ShapeFits,
}

/// Word → (lexicon id, shapes its spelling fits), for one message.
#[derive(Default)]
pub(crate) struct WordCache {
    slots: Vec<Entry>,
}

impl WordCache {
    /// Empties the cache before a message of `tokens` tokens: it must not
    /// outlive one classifier's lexicon. A short message (a subject, a
    /// pseudonym) is not worth clearing 32 KB for and bypasses it.
    pub fn reset(&mut self, tokens: usize) {
        self.slots.clear();
        if tokens >= MIN_TOKENS {
            self.slots.resize(SLOTS, Entry::default());
        }
    }

    /// The id of token `i` and, if it has no class, the shapes its
    /// spelling fits (before the context test, see
    /// [`Lexicon::shape_gate`]).
    pub fn lookup(&mut self, lex: &Lexicon, tokens: &Tokens, i: usize) -> (u32, ShapeFits) {
        let flags = tokens.toks[i].flags;
        let key = match tokens.packed(i) {
            Some(key) if flags & (LEET_ONE | MASKED | ELONGATED) == 0 && !self.slots.is_empty() => {
                key
            }
            _ => return compute(lex, tokens.text(i), flags),
        };
        let slot = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 53) as usize & (SLOTS - 1);
        let e = self.slots[slot];
        if e.key == key {
            return (e.id, e.shapes);
        }
        let (id, shapes) = compute(lex, tokens.text(i), flags);
        self.slots[slot] = Entry { key, id, shapes };
        (id, shapes)
    }
}

fn compute(lex: &Lexicon, w: &[u8], flags: u16) -> (u32, ShapeFits) {
    let id = lex.lookup(w, flags);
    let shapes = if lex.classes(id) == 0 {
        lex.shape_fits(w)
    } else {
        0
    };
    (id, shapes)
}
