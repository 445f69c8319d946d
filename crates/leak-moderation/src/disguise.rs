//! The disguise merger: rebuilds words split by separators or spaces.
//!
//! Two kinds of runs are tried: tokens glued by punctuation with no
//! whitespace (`s.a.l.o.p.e`, `con-nard`, `f_u_c_k`) and single letters
//! separated by spaces (`f u c k`, `c o n n a r d`). Inside a run, the
//! longest span from each position that spells a lexicon word replaces its
//! pieces with one token. Glued runs may only produce content words (insults,
//! slurs, crude or violent words), so French elisions such as `t'es` or
//! `qu'un` keep their pieces; spaced letters may produce any known word of
//! three letters or more, so `y o u` becomes `you` next to `f u c k`.
//! A word spelled out letter by letter is flagged [`SPELLED`]: the lexicon
//! may treat that disguise as a signal of its own (see `+spelled` classes).

use crate::lexicon::{Lexicon, UNKNOWN};
use crate::normalize::{Token, Tokens, CLAUSE, ELONGATED, GLUED, QUOTE_END, SENT, SPELLED};

/// Longest run span tried, in pieces.
const MAX_SPAN: usize = 24;

fn single(t: &Tokens, i: usize) -> bool {
    let tok = t.toks[i];
    tok.end - tok.start == 1 && t.buf[tok.start as usize].is_ascii_lowercase()
}

/// Whether token `i` continues the run that token `i - 1` is in.
fn linked(t: &Tokens, i: usize) -> bool {
    let f = t.toks[i].flags;
    f & GLUED != 0 || (f & (SENT | CLAUSE) == 0 && single(t, i - 1) && single(t, i))
}

/// Replaces disguised spans in `t` by merged tokens, in place: a merged
/// token replaces two or more, so the write position never passes the read
/// position and no second token vector is needed.
pub(crate) fn merge(t: &mut Tokens, lex: &Lexicon) {
    let n = t.toks.len();
    let Some(first) = (1..n).find(|&i| linked(t, i)) else {
        return;
    };
    let mut scratch = Vec::new();
    let mut w = first - 1;
    let mut i = first - 1;
    while i < n {
        if i + 1 == n || !linked(t, i + 1) {
            t.toks[w] = t.toks[i];
            w += 1;
            i += 1;
            continue;
        }
        let mut end = i + 2;
        while end < n && linked(t, end) {
            end += 1;
        }
        let mut k = i;
        while k < end {
            let tok = match best_span(t, lex, k, end, &mut scratch) {
                Some((stop, spelled)) => {
                    let start = t.buf.len() as u32;
                    t.buf.extend_from_slice(&scratch);
                    let flags = (t.toks[k].flags & !GLUED)
                        | (t.toks[stop - 1].flags & QUOTE_END)
                        | elongated(&scratch)
                        | if spelled { SPELLED } else { 0 };
                    k = stop;
                    Token {
                        start,
                        end: t.buf.len() as u32,
                        flags,
                    }
                }
                None => {
                    k += 1;
                    t.toks[k - 1]
                }
            };
            t.toks[w] = tok;
            w += 1;
        }
        i = end;
    }
    t.toks.truncate(w);
}

/// The end of the longest span starting at `k` that spells a word, leaving
/// that word in `scratch`, and whether it was spelled letter by letter
/// (three pieces or more, every one a single letter: `r e t a r d`,
/// `s.a.l.o.p.e`, but not `con-nard`).
fn best_span(
    t: &Tokens,
    lex: &Lexicon,
    k: usize,
    end: usize,
    scratch: &mut Vec<u8>,
) -> Option<(usize, bool)> {
    let last = end.min(k + MAX_SPAN);
    for stop in (k + 2..=last).rev() {
        scratch.clear();
        let mut all_single = true;
        let mut letters = true;
        for j in k..stop {
            letters &= single(t, j);
            scratch.extend_from_slice(t.text(j));
            all_single &= single(t, j);
            // Spaced letters may not jump over glued multi-letter pieces.
            if j > k && t.toks[j].flags & GLUED == 0 && !(single(t, j) && single(t, j - 1)) {
                all_single = false;
            }
        }
        // "sister's" is a possessive or "is", never a plural to rebuild.
        if t.text(stop - 1) == b"s" && t.text(stop - 2).len() > 1 {
            continue;
        }
        // Two letters are a word only inside a long spaced run ("n i q u e
        // t a m e r e"), never in ordinary text ("il y a").
        if scratch.len() < 3 && !(all_single && end - k >= 4 && scratch.len() == 2) {
            continue;
        }
        let id = lex.lookup(scratch, elongated(scratch));
        if id != UNKNOWN && (lex.is_content(id) || all_single) {
            return Some((stop, letters && stop - k >= 3));
        }
    }
    None
}

fn elongated(w: &[u8]) -> u16 {
    if w.windows(3).any(|x| x[0] == x[1] && x[1] == x[2]) {
        ELONGATED
    } else {
        0
    }
}
