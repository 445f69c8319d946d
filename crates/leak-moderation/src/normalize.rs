//! The normaliser: raw text in, a flat list of plain ASCII word tokens out.
//!
//! Every character is folded before it reaches a token: case is lowered,
//! accents are dropped (`é` → `e`, `œ` → `oe`), look-alike Unicode letters
//! (Cyrillic `а`, fullwidth `ｃ`, mathematical `𝓬`) go through `decancer`, and
//! invisible characters (zero-width space, soft hyphen, combining accents)
//! vanish without splitting the word they hide in. Leetspeak (`c0nn4rd`,
//! `@sshole`, `b!tch`) is resolved per token, and only in tokens that also hold
//! a letter, so numbers stay numbers. A `*` or `#` inside a word is kept as a
//! mask (`f*ck`) for the lexicon's wildcard look-up. Punctuation between
//! tokens is remembered as flags: a sentence boundary, a clause pause, or
//! "glued" (no whitespace, as in `s.a.l.o.p.e` or `t'es`), which the
//! disguise merger uses to rebuild split words. Quotation marks mark the
//! first and last token of a closed quotation; an apostrophe counts as one
//! only where it cannot be an elision (`'kill yourself'`, not `t'es`).

/// A sentence boundary (`.`, `!`, `?`, `;`, a blank line) precedes the token.
pub(crate) const SENT: u16 = 1;
/// A clause pause (`,` or `:`) precedes the token.
pub(crate) const CLAUSE: u16 = 2;
/// The token is attached to the previous one by punctuation, with no whitespace.
pub(crate) const GLUED: u16 = 4;
/// The token holds a mask character (`*`), as in `f*ck`.
pub(crate) const MASKED: u16 = 8;
/// The token repeats one letter three times or more (`fuuuck`). Set on
/// rewritten (leetspeak, merged) tokens; a plain word is checked for repeats
/// by the lexicon look-up, only when it misses.
pub(crate) const ELONGATED: u16 = 16;
/// The token holds a `1`, which leetspeak uses for both `i` and `l`.
pub(crate) const LEET_ONE: u16 = 32;
/// The token is the first inside a closed quotation (`"…"`, `« … »`, `'…'`).
pub(crate) const QUOTE_START: u16 = 64;
/// The token is the last inside a closed quotation.
pub(crate) const QUOTE_END: u16 = 128;
/// The token was rebuilt from letters spelled one by one (`r e t a r d`,
/// `s.a.l.o.p.e`): set by the disguise merger.
pub(crate) const SPELLED: u16 = 256;

/// One word: a byte range of [`Tokens::buf`] plus flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub start: u32,
    pub end: u32,
    pub flags: u16,
}

/// The normalised text: every token's bytes live in one buffer to avoid an
/// allocation per word.
#[derive(Default, Debug)]
pub(crate) struct Tokens {
    pub buf: Vec<u8>,
    pub toks: Vec<Token>,
}

impl Tokens {
    /// The bytes of token `i`.
    pub fn text(&self, i: usize) -> &[u8] {
        let t = self.toks[i];
        &self.buf[t.start as usize..t.end as usize]
    }

    /// The bytes of token `i` packed into a `u64` (first byte lowest), if
    /// it has eight bytes or fewer: one unaligned load when the buffer has
    /// eight bytes from the token's start, masked to its length.
    #[inline]
    pub fn packed(&self, i: usize) -> Option<u64> {
        let t = self.toks[i];
        let (start, len) = (t.start as usize, (t.end - t.start) as usize);
        if len == 0 || len > 8 {
            return None;
        }
        let key = match self.buf.get(start..start + 8).map(<[u8; 8]>::try_from) {
            Some(Ok(bytes)) => u64::from_le_bytes(bytes),
            _ => self.buf[start..start + len]
                .iter()
                .rev()
                .fold(0, |k, &b| k << 8 | u64::from(b)),
        };
        Some(key & (u64::MAX >> (64 - 8 * len)))
    }
}

/// What one input character means to the tokenizer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter(u8),
    /// Digits, `@` and `$`: letters in leetspeak, themselves otherwise.
    Leet(u8),
    Mask,
    Bang,
    Sep,
    Comma,
    Stop,
    Space,
    Newline,
    Ignore,
    /// A letter of another script, kept so the word stays one token.
    Foreign,
    /// A quotation mark that opens, closes, or toggles (`"`) a quotation.
    Quote(Quote),
}

/// What a quotation mark does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Open,
    Close,
    Toggle,
}

/// [`classify_ascii`] precomputed for every ASCII byte.
const ASCII: [Class; 128] = {
    let mut table = [Class::Ignore; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = classify_ascii(b as u8);
        b += 1;
    }
    table
};

fn ascii_class(b: u8) -> Class {
    ASCII[(b & 0x7f) as usize]
}

const fn classify_ascii(b: u8) -> Class {
    match b {
        b'a'..=b'z' => Class::Letter(b),
        b'A'..=b'Z' => Class::Letter(b + 32),
        b'0'..=b'9' | b'@' | b'$' => Class::Leet(b),
        b'*' | b'#' => Class::Mask,
        b'!' => Class::Bang,
        b'.' | b'?' | b';' => Class::Stop,
        b',' | b':' => Class::Comma,
        b' ' | b'\t' | b'\r' | 0x0c => Class::Space,
        b'\n' => Class::Newline,
        0..=0x1f | 0x7f => Class::Ignore,
        _ => Class::Sep,
    }
}

/// Folds the common Latin letters without a table look-up in `decancer`.
fn latin_fold(c: char) -> Option<&'static [u8]> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => b"a",
        'ç' | 'Ç' => b"c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => b"e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => b"i",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => b"o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => b"u",
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => b"y",
        'ñ' | 'Ñ' => b"n",
        'œ' | 'Œ' => b"oe",
        'æ' | 'Æ' => b"ae",
        'ß' => b"ss",
        _ => return None,
    })
}

/// Classifies one non-ASCII character, calling `emit` once per folded unit.
fn fold_non_ascii(c: char, emit: &mut impl FnMut(Class)) {
    if let Some(s) = latin_fold(c) {
        s.iter().for_each(|&b| emit(Class::Letter(b)));
        return;
    }
    match c {
        '\u{2019}' | '\u{2018}' | '\u{02bc}' | '\u{00b4}' | '\u{2032}' => return emit(Class::Sep),
        '\u{201c}' | '\u{201e}' | '\u{00ab}' | '\u{2039}' => {
            return emit(Class::Quote(Quote::Open))
        }
        '\u{201d}' | '\u{00bb}' | '\u{203a}' => return emit(Class::Quote(Quote::Close)),
        '\u{2026}' | '\u{3002}' | '\u{00a1}' | '\u{00bf}' => return emit(Class::Stop),
        '\u{00a0}' | '\u{202f}' | '\u{2000}'..='\u{200a}' | '\u{3000}' => {
            return emit(Class::Space)
        }
        '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{00ad}' => {
            return emit(Class::Ignore)
        }
        '\u{2028}' | '\u{2029}' => return emit(Class::Newline),
        _ => {}
    }
    match decancer::cure_char(c, decancer::Options::default()) {
        decancer::Translation::Character(d) if d.is_ascii() => emit(ascii_class(d as u8)),
        decancer::Translation::Character(d) => emit(if d.is_alphabetic() {
            Class::Foreign
        } else if d.is_whitespace() {
            Class::Space
        } else {
            Class::Sep
        }),
        decancer::Translation::String(s) => s.bytes().for_each(|b| emit(ascii_class(b))),
        decancer::Translation::None => emit(Class::Ignore),
    }
}

/// The tokenizer's state between two characters.
struct Builder {
    out: Tokens,
    /// Start of the token being built in `out.buf`, if one is open.
    open: Option<usize>,
    /// Punctuation seen since the last token (none, `CLAUSE` or `SENT`).
    pending: u16,
    /// Whether whitespace was seen since the last token.
    spaced: bool,
    /// Whether any separator at all was seen since the last token.
    separated: bool,
    newlines: u8,
    /// The open quotation, if any: index of its first token, and whether
    /// it opened with an apostrophe-like mark (only such a mark closes it).
    quote: Option<(usize, bool)>,
    /// Whether the open token holds lower-case ASCII letters only.
    plain: bool,
}

impl Builder {
    fn push(&mut self, class: Class) {
        match class {
            Class::Letter(b) | Class::Leet(b) => self.add(b),
            Class::Foreign => self.add(b'~'),
            Class::Mask => match self.open {
                Some(_) => {
                    self.plain = false;
                    self.out.buf.push(b'*');
                }
                None => self.separated = true,
            },
            Class::Bang => match self.open {
                Some(_) => {
                    self.plain = false;
                    self.out.buf.push(b'!');
                }
                None => self.pause(SENT),
            },
            Class::Ignore => {}
            Class::Quote(q) => self.close_then(|b| b.quote_mark(q, false)),
            Class::Sep => self.close_then(|_| {}),
            Class::Comma => self.close_then(|b| b.pause(CLAUSE)),
            Class::Stop => self.close_then(|b| b.pause(SENT)),
            Class::Space => self.close_then(|b| {
                b.spaced = true;
                b.newlines = 0;
            }),
            Class::Newline => self.close_then(|b| {
                b.spaced = true;
                b.newlines = b.newlines.saturating_add(1);
                if b.newlines >= 2 {
                    b.pending = SENT;
                    b.quote = None;
                }
            }),
        }
    }

    /// Opens or closes a quotation. A closed one marks its first and last
    /// tokens; one never closed (or cut by a blank line) marks nothing, so a
    /// stray mark cannot hide the rest of a message.
    fn quote_mark(&mut self, q: Quote, single: bool) {
        match (self.quote, q) {
            (None, Quote::Open | Quote::Toggle) => {
                self.quote = Some((self.out.toks.len(), single));
            }
            (Some((first, s)), Quote::Close | Quote::Toggle) if s == single => {
                self.quote = None;
                let last = self.out.toks.len();
                if last > first {
                    self.out.toks[first].flags |= QUOTE_START;
                    self.out.toks[last - 1].flags |= QUOTE_END;
                }
            }
            _ => {}
        }
    }

    /// An apostrophe-like mark: a quotation mark when it opens before a
    /// letter with no word open, or closes a word inside a single-quoted
    /// quotation before a non-letter; an apostrophe (`t'es`) otherwise.
    fn apostrophe(&mut self, next: Option<char>) {
        let letter_next = next.is_some_and(char::is_alphanumeric);
        if self.open.is_none() && letter_next && self.quote.is_none() {
            self.close_then(|b| b.quote_mark(Quote::Open, true));
        } else if self.open.is_some() && !letter_next && matches!(self.quote, Some((_, true))) {
            self.close_then(|b| b.quote_mark(Quote::Close, true));
        } else {
            self.push(Class::Sep);
        }
    }

    fn pause(&mut self, level: u16) {
        self.separated = true;
        self.pending = self.pending.max(level);
    }

    fn close_then(&mut self, f: impl FnOnce(&mut Self)) {
        self.close();
        self.separated = true;
        f(self);
    }

    fn add(&mut self, b: u8) {
        if self.open.is_none() {
            self.open = Some(self.out.buf.len());
            self.plain = true;
        }
        self.plain &= b.is_ascii_lowercase();
        self.out.buf.push(b);
    }

    /// Appends a run of ASCII letters, lower-cased: the hot path, one bulk
    /// copy instead of a branch per byte.
    fn letters(&mut self, run: &[u8]) {
        if self.open.is_none() {
            self.open = Some(self.out.buf.len());
            self.plain = true;
        }
        self.out.buf.extend(run.iter().map(|&b| b | 0x20));
    }

    /// Whitespace: ends the open token.
    fn space(&mut self) {
        self.close();
        self.separated = true;
        self.spaced = true;
        self.newlines = 0;
    }

    /// Ends the open token: resolves leetspeak, strips trailing masks and
    /// bangs, and records the flags.
    fn close(&mut self) {
        let Some(start) = self.open.take() else {
            return;
        };
        let mut bang = false;
        let mut flags = 0;
        // A word of plain letters (the common case) needs no rewriting; its
        // repeats (`fuuuck`) are looked for only if the lexicon misses it.
        if !self.plain {
            let buf = &mut self.out.buf;
            while buf.len() > start {
                match buf[buf.len() - 1] {
                    b'!' => bang = true,
                    b'*' => {}
                    _ => break,
                }
                buf.pop();
            }
            let word = &mut buf[start..];
            if word.iter().any(u8::is_ascii_lowercase) {
                flags = leet(word);
            } else if !word.iter().all(u8::is_ascii_digit) {
                buf.truncate(start);
            }
        }
        let buf = &self.out.buf;
        let end = buf.len();
        if end > start {
            flags |= self.gap_flags();
            self.out.toks.push(Token {
                start: start as u32,
                end: end as u32,
                flags,
            });
            self.pending = 0;
            self.spaced = false;
            self.separated = false;
            self.newlines = 0;
        }
        if bang {
            self.pause(SENT);
        }
    }

    fn gap_flags(&self) -> u16 {
        if self.out.toks.is_empty() {
            0
        } else if self.spaced {
            self.pending
        } else if self.separated {
            GLUED
        } else {
            0
        }
    }
}

/// Rewrites leetspeak in a token that holds a letter; returns token flags.
/// A `1` stays a `1` (it may be `i` or `l`; the lexicon tries both).
fn leet(word: &mut [u8]) -> u16 {
    let mut flags = 0;
    let mut run = (0u8, 0u8);
    for b in word.iter_mut() {
        *b = match *b {
            b'0' => b'o',
            b'3' => b'e',
            b'4' | b'@' => b'a',
            b'5' | b'$' => b's',
            b'7' => b't',
            b'8' => b'b',
            b'9' => b'g',
            b'!' => b'i',
            b'1' => {
                flags |= LEET_ONE;
                b'1'
            }
            b'*' => {
                flags |= MASKED;
                b'*'
            }
            other => other,
        };
        run = if run.0 == *b {
            (*b, run.1 + 1)
        } else {
            (*b, 1)
        };
        if run.1 >= 3 && b.is_ascii_lowercase() {
            flags |= ELONGATED;
        }
    }
    flags
}

/// Splits `text` into normalised tokens, appending to `out`. The first token
/// appended starts a new sentence, so separate fields never run together.
pub(crate) fn tokenize_into(text: &str, out: Tokens) -> Tokens {
    tokenize_with(text, out, false)
}

/// Tokenizes a pseudonym: like message text, but a capital after a small
/// letter also starts a new (glued) word, so `TaMereLaPute` reads as words.
pub(crate) fn tokenize_name(text: &str) -> Tokens {
    tokenize_with(text, Tokens::default(), true)
}

fn tokenize_with(text: &str, out: Tokens, split_case: bool) -> Tokens {
    let first = out.toks.len();
    let mut out = out;
    out.buf.reserve(text.len());
    out.toks.reserve(text.len() / 5);
    let mut b = Builder {
        out,
        open: None,
        pending: 0,
        spaced: false,
        separated: false,
        newlines: 0,
        quote: None,
        plain: true,
    };
    if split_case {
        let mut prev_lower = false;
        for c in text.chars() {
            if prev_lower && c.is_uppercase() {
                b.close_then(|_| {});
            }
            prev_lower = c.is_lowercase();
            if c.is_ascii() {
                b.push(ascii_class(c as u8));
            } else {
                fold_non_ascii(c, &mut |class| b.push(class));
            }
        }
    } else {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if byte.is_ascii_alphabetic() {
                // Fast path: a run of ASCII letters, copied in one go.
                let run = bytes[i..]
                    .iter()
                    .position(|b| !b.is_ascii_alphabetic())
                    .unwrap_or(bytes.len() - i);
                b.letters(&bytes[i..i + run]);
                i += run;
            } else if byte < 0x80 {
                if byte == b' ' {
                    b.space();
                } else if byte == b'\'' {
                    b.apostrophe(text[i + 1..].chars().next());
                } else if byte == b'"' {
                    b.push(Class::Quote(Quote::Toggle));
                } else {
                    b.push(ascii_class(byte));
                }
                i += 1;
            } else {
                let c = text[i..].chars().next().unwrap_or(' ');
                if matches!(c, '\u{2018}' | '\u{2019}') {
                    b.apostrophe(text[i + c.len_utf8()..].chars().next());
                } else {
                    fold_non_ascii(c, &mut |class| b.push(class));
                }
                i += c.len_utf8();
            }
        }
    }
    b.close();
    let mut out = b.out;
    if let Some(t) = out.toks.get_mut(first) {
        t.flags = (t.flags & !(GLUED | CLAUSE)) | SENT;
    }
    out
}

/// Tokenizes one string on its own.
pub(crate) fn tokenize(text: &str) -> Tokens {
    tokenize_into(text, Tokens::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let t = tokenize(text);
        (0..t.toks.len())
            .map(|i| String::from_utf8_lossy(t.text(i)).into_owned())
            .collect()
    }

    #[test]
    fn folds_case_accents_and_lookalikes() {
        assert_eq!(words("Enculé ÇA Œuvre"), ["encule", "ca", "oeuvre"]);
        assert_eq!(words("\u{0441}\u{043e}nnard"), ["connard"]); // Cyrillic с and о
        assert_eq!(words("ｃｏｎｎａｒｄ"), ["connard"]);
        assert_eq!(words("sal\u{200b}ope"), ["salope"]);
        assert_eq!(words("e\u{301}cole"), ["ecole"]);
    }

    #[test]
    fn resolves_leetspeak_only_inside_words() {
        assert_eq!(
            words("c0nn4rd @sshole b!tch a$$"),
            ["connard", "asshole", "bitch", "ass"]
        );
        assert_eq!(words("1d10t 2024"), ["1d1ot", "2024"]);
        assert_eq!(words("connard!!! *hug*"), ["connard", "hug"]);
        assert_eq!(words("f*ck enc*lé"), ["f*ck", "enc*le"]);
    }

    #[test]
    fn records_boundaries_and_glue() {
        let t = tokenize("Salut, toi. s.a.l tu");
        let f: Vec<u16> = t.toks.iter().map(|t| t.flags).collect();
        assert_eq!(f, [SENT, CLAUSE, SENT, GLUED, GLUED, 0]);
    }
}
