//! The rule engine: token patterns with word classes, optional and repeated
//! elements, bounded gaps and clause anchors, matched over annotated tokens.
//!
//! Allow rules run first and mark the tokens they cover as neutral (so
//! "j'ai été un connard avec toi" stops counting as an insult aimed at the
//! reader); block rules then run over what is left and the most severe match
//! wins. A match never crosses a sentence boundary, and a gap (`~N`) never
//! skips a negation (`not`, `jamais`…), so "I will never hurt you" passes.
//!
//! Two elements read structure rather than words: a chain (`%N`) takes up
//! to N modifier words of any vocabulary between a targeting head and an
//! insult noun ("you brain-dead Tory cunt") but stops at a breaker (class
//! `brk`: verbs, pronouns, determiners, prepositions), so "you know that
//! asshole John" is not read as one noun phrase; a look-behind (`!x`)
//! refuses a match right after a word ("ce sale con" is a third person),
//! and an open slot (`-x`) takes one word of any vocabulary but a few, so
//! that a frame (« t'es qu'un X », "you piece of X") reads nouns no list
//! holds.
//! The per-message buffer of starting tokens is kept between messages: a
//! 100 KB message has thousands, and allocating them afresh each time cost
//! more in page faults than the rules do.

use crate::index::{Index, Stops};
use crate::lexicon::{Classes, Lexicon};
use crate::normalize::{CLAUSE, GLUED, QUOTE_END, QUOTE_START, SENT};
use crate::Category;

/// How many times a pattern element may repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rep {
    One,
    Opt,
    /// Zero to [`MAX_STAR`] times.
    Star,
}

const MAX_STAR: usize = 6;

/// One element of a compiled pattern.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// A token whose word id is listed or whose classes intersect.
    Match {
        words: Box<[u32]>,
        classes: Classes,
        rep: Rep,
    },
    /// Skip up to N tokens (never a negation).
    Gap(u8),
    /// Skip up to N modifier words of any vocabulary (`%N`): never a
    /// breaker (`brk`, `neg`) unless it sits inside a hyphenated compound
    /// ("holier-than-thou"), never opening on a clause edge, and the token
    /// after a non-empty chain must not open a clause either (unless the
    /// pattern asks for an edge there, `%1 $`), so "you ditched Dave,
    /// bastard" is not read as one noun phrase.
    Chain(u8),
    /// Zero-width: the token before is not one of these (`!a|@b`), or a
    /// sentence starts here ("ce sale con" is about a third person).
    NotAfter { words: Box<[u32]>, classes: Classes },
    /// One word of any vocabulary but these (`-a|@b`): the open slot of a
    /// frame that carries the meaning alone (« t'es qu'un X », "you piece
    /// of X"). Never a breaker or a negation, never a word opening a new
    /// clause, never a word an allow rule neutralised.
    Other { words: Box<[u32]>, classes: Classes },
    /// Zero-width: a sentence starts here.
    Start,
    /// Zero-width: a clause starts or ends here (comma, sentence, edge).
    End,
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    Allow,
    Block { category: Category, severity: u8 },
}

/// Which text a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    All,
    Pseudonym,
}

/// A compiled pattern with its action and source text (shown to operators).
#[derive(Debug)]
pub(crate) struct Rule {
    pub steps: Box<[Step]>,
    pub action: Action,
    pub scope: Scope,
    pub source: Box<str>,
    /// An entry of the operator's block list (not a built-in rule).
    pub operator: bool,
}

/// Whether every mandatory element of `rule` is satisfied by some token of
/// the text (`classes`: union of token classes, `present`: word-id bitset).
/// Most rules need an insult or violent word, so on ordinary text this
/// removes nearly all of them before any matching.
fn possible(rule: &Rule, classes: Classes, present: &[u64]) -> bool {
    let has = |w: u32| {
        present
            .get(w as usize / 64)
            .is_some_and(|b| b & (1 << (w % 64)) != 0)
    };
    rule.steps.iter().all(|s| match s {
        Step::Match {
            words,
            classes: c,
            rep: Rep::One,
        } => c & classes != 0 || words.iter().any(|&w| has(w)),
        _ => true,
    })
}

/// The text as the engine sees it: word ids, class bits, flags, and the
/// neutral marks left by allow rules.
#[derive(Default)]
pub(crate) struct Annotated {
    pub ids: Vec<u32>,
    pub classes: Vec<Classes>,
    pub flags: Vec<u16>,
    pub neutral: Vec<bool>,
    /// Whether some token opens a closed quotation.
    pub quoted: bool,
    /// Look-ups of this message's words, reused between messages.
    pub words: crate::wordcache::WordCache,
    /// The starting tokens of the last scan, kept for their buffer.
    starts: Vec<Start>,
}

/// A block rule that matched: rule index and token span.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
    pub category: Category,
    pub severity: u8,
}

struct Ctx<'a> {
    text: &'a Annotated,
    stops: Stops,
    start: usize,
}

impl Ctx<'_> {
    fn len(&self) -> usize {
        self.text.ids.len()
    }

    /// Whether token `ti` may be part of the current match.
    fn usable(&self, ti: usize) -> bool {
        ti < self.len() && (ti == self.start || self.text.flags[ti] & SENT == 0)
    }

    /// Whether token `t` ends a chain: a breaker or a negation, unless it
    /// is part of a hyphenated compound (`than` in "holier-than-thou",
    /// `it` in "know-it-all"; not `es` in « t'es »).
    fn breaks(&self, t: usize) -> bool {
        let glued = |i: usize| self.text.flags.get(i).is_some_and(|f| f & GLUED != 0);
        let c = self.text.classes[t];
        c & self.stops.brk != 0 && c & self.stops.hyph == 0 && !(glued(t) && glued(t + 1))
    }

    /// Tries `steps[si..]` after a chain of up to `n` words from `ti`; a
    /// hyphenated compound ("holier-than-thou") counts as one word.
    fn chain(&self, steps: &[Step], si: usize, ti: usize, n: usize) -> Option<usize> {
        let flags = |i: usize| self.text.flags.get(i).copied().unwrap_or(SENT);
        let noun_next = !matches!(steps.get(si + 1), Some(Step::End) | None);
        let mut words = 0;
        for t in ti..ti + 3 * n + 1 {
            let edge = t > ti && noun_next && flags(t) & (CLAUSE | SENT) != 0;
            if !edge {
                if let Some(end) = self.run(steps, si + 1, t) {
                    return Some(end);
                }
            }
            if !self.usable(t) || self.text.neutral[t] || self.breaks(t) {
                return None;
            }
            if t == ti && flags(t) & CLAUSE != 0 {
                return None;
            }
            if t == ti || flags(t) & GLUED == 0 {
                words += 1;
            }
            if words > n {
                return None;
            }
        }
        None
    }

    fn hit(&self, ti: usize, words: &[u32], classes: Classes) -> bool {
        self.usable(ti)
            && !self.text.neutral[ti]
            && (self.text.classes[ti] & classes != 0 || words.contains(&self.text.ids[ti]))
    }

    /// Tries `steps[si..]` from token `ti`; returns the end of the match.
    fn run(&self, steps: &[Step], si: usize, ti: usize) -> Option<usize> {
        let Some(step) = steps.get(si) else {
            return Some(ti);
        };
        let flags = |i: usize| self.text.flags.get(i).copied().unwrap_or(SENT);
        match step {
            Step::Start => {
                (ti == 0 || flags(ti) & SENT != 0).then(|| self.run(steps, si + 1, ti))?
            }
            Step::End => (ti == 0 || flags(ti) & (SENT | CLAUSE) != 0)
                .then(|| self.run(steps, si + 1, ti))?,
            Step::Gap(n) => {
                for skip in 0..=*n as usize {
                    if skip > 0 {
                        let t = ti + skip - 1;
                        if !self.usable(t) || self.text.classes[t] & self.stops.neg != 0 {
                            return None;
                        }
                    }
                    if let Some(end) = self.run(steps, si + 1, ti + skip) {
                        return Some(end);
                    }
                }
                None
            }
            Step::Chain(n) => self.chain(steps, si, ti, *n as usize),
            Step::NotAfter { words, classes } => {
                let after = ti > 0
                    && flags(ti) & SENT == 0
                    && (self.text.classes[ti - 1] & classes != 0
                        || words.contains(&self.text.ids[ti - 1]));
                (!after).then(|| self.run(steps, si + 1, ti))?
            }
            Step::Other { words, classes } => {
                let open = self.usable(ti)
                    && !self.text.neutral[ti]
                    && !self.breaks(ti)
                    && (ti == self.start || flags(ti) & CLAUSE == 0)
                    && !self.hit(ti, words, *classes);
                open.then(|| self.run(steps, si + 1, ti + 1))?
            }
            Step::Match {
                words,
                classes,
                rep,
            } => {
                let max = match rep {
                    Rep::One => 1,
                    Rep::Opt => 1,
                    Rep::Star => MAX_STAR,
                };
                let mut n = 0;
                while n < max && self.hit(ti + n, words, *classes) {
                    n += 1;
                }
                let min = usize::from(*rep == Rep::One);
                (min..=n)
                    .rev()
                    .find_map(|k| self.run(steps, si + 1, ti + k))
            }
        }
    }
}

/// Runs allow rules (marking neutral tokens) then block rules; returns the
/// most severe block match, the earliest on a tie.
pub(crate) fn scan(
    lex: &Lexicon,
    index: &Index,
    text: &mut Annotated,
    scope: Scope,
) -> Option<Hit> {
    if text.quoted {
        reported_quotes(text, lex.class_mask("report"), lex.class_mask("slur"));
    }
    let active = active_rules(lex, index, text, scope);
    let mut starts = std::mem::take(&mut text.starts);
    starters(index, text, &mut starts);
    let blocks = allow_pass(lex, index, text, &starts, &active);
    text.starts = starts;
    block_pass(lex, index, text, &blocks)
}

/// How far before or after a quotation a reporting verb may stand.
const REPORT_REACH: usize = 8;

/// Neutralises quotations that report what someone else wrote or said:
/// "Someone wrote 'kill yourself' under my post", "« sale pute », m'a-t-il
/// dit". A reporting verb (class `report`) must stand within a few words
/// before or after the quotation, in the same sentence; a bare quotation
/// stays live, so quotation marks alone cannot hide an insult. Slurs
/// (`keep`) are never neutralised.
fn reported_quotes(text: &mut Annotated, report: Classes, keep: Classes) {
    if report == 0 {
        return;
    }
    let n = text.ids.len();
    let mut i = 0;
    while i < n {
        if text.flags[i] & QUOTE_START == 0 {
            i += 1;
            continue;
        }
        let Some(end) = (i..n).find(|&j| text.flags[j] & QUOTE_END != 0) else {
            return;
        };
        let mut before = false;
        let opens_sentence = text.flags[i] & SENT != 0;
        for k in (i.saturating_sub(REPORT_REACH)..i)
            .rev()
            .filter(|_| !opens_sentence)
        {
            before |= text.classes[k] & report != 0;
            if text.flags[k] & SENT != 0 {
                break;
            }
        }
        let after = (end + 1..n.min(end + 1 + REPORT_REACH))
            .take_while(|&k| text.flags[k] & SENT == 0)
            .any(|k| text.classes[k] & report != 0);
        if before || after {
            for k in i..=end {
                text.neutral[k] |= text.classes[k] & keep == 0;
            }
        }
        i = end + 1;
    }
}

/// Rules (as a bitset) that apply to `scope` and whose every mandatory
/// element some token of the text satisfies.
fn active_rules(lex: &Lexicon, index: &Index, text: &Annotated, scope: Scope) -> Vec<u64> {
    let union = text.classes.iter().fold(0, |a, c| a | c);
    let mut present = vec![0u64; lex.word_count() / 64 + 1];
    for &id in text.ids.iter().filter(|&&id| id != crate::lexicon::UNKNOWN) {
        present[id as usize / 64] |= 1 << (id % 64);
    }
    let mut active = vec![0u64; index.words];
    for (r, rule) in lex.rules.iter().enumerate() {
        if (rule.scope == Scope::All || rule.scope == scope) && possible(rule, union, &present) {
            active[r / 64] |= 1 << (r % 64);
        }
    }
    active
}

/// A token some rule may start on, with what its sentence holds: the union
/// of its tokens' classes and the Bloom mask of its word ids.
pub(crate) struct Start {
    token: usize,
    sentence: (Classes, u64),
}

/// The tokens some rule may start on, into `starts` (reused between
/// messages: a long message has thousands). Most tokens (unknown words, words no
/// rule starts with) are dropped here, once for both passes.
fn starters(index: &Index, text: &Annotated, starts: &mut Vec<Start>) {
    starts.clear();
    let (mut first, mut classes, mut words) = (0, 0, 0);
    for (token, (&id, &c)) in text.ids.iter().zip(&text.classes).enumerate() {
        if token > 0 && text.flags[token] & SENT != 0 {
            starts[first..]
                .iter_mut()
                .for_each(|s: &mut Start| s.sentence = (classes, words));
            (first, classes, words) = (starts.len(), 0, 0);
        }
        classes |= c;
        words |= index.bloom_of(id);
        if index.may_start(id, c) {
            starts.push(Start {
                token,
                sentence: (0, 0),
            });
        }
    }
    starts[first..]
        .iter_mut()
        .for_each(|s| s.sentence = (classes, words));
}

/// The allow pass over the starting tokens: allow matches mark their tokens
/// neutral. Returns the block rules worth trying afterwards, as (token,
/// rule) pairs, so candidates are gathered only once.
fn allow_pass(
    lex: &Lexicon,
    index: &Index,
    text: &mut Annotated,
    starts: &[Start],
    active: &[u64],
) -> Vec<(u32, u32)> {
    let mut blocks = Vec::new();
    let mut cache = StartCache::new(index.words);
    for s in starts {
        let ti = s.token;
        for &r in cache.rules(index, text.ids[ti], text.classes[ti], active) {
            let r = r as usize;
            if !index.needs_met(r, s.sentence) {
                continue;
            }
            if !index.is_allow(r) {
                blocks.push((ti as u32, r as u32));
            } else if !text.neutral[ti] {
                if let Some((start, end)) = match_rule(&lex.rules[r], text, index.stops, ti) {
                    text.neutral[start..end].iter_mut().for_each(|n| *n = true);
                }
            }
        }
    }
    blocks
}

/// Slots of the [`StartCache`] (a power of two).
const CACHE_SLOTS: usize = 256;
/// Rule numbers the cache may hold before it starts over, so a message of
/// many distinct words cannot grow it without bound.
const MAX_CACHED: usize = 1 << 16;

/// The live rules that may start on a word, per distinct (word, classes)
/// of one message: a long message says "I", "you", « je » thousands of
/// times, and the rule bitsets need only be combined once per word. A
/// direct-mapped cache: a slot holds one key, a collision recomputes.
struct StartCache {
    keys: Vec<(u32, Classes)>,
    /// Per slot, the range of `rules` its list occupies.
    ranges: Vec<(u32, u32)>,
    rules: Vec<u32>,
    bits: Vec<u64>,
}

impl StartCache {
    fn new(words: usize) -> StartCache {
        StartCache {
            keys: vec![(crate::lexicon::UNKNOWN, Classes::MAX); CACHE_SLOTS],
            ranges: vec![(0, 0); CACHE_SLOTS],
            rules: Vec::new(),
            bits: vec![0; words],
        }
    }

    /// The live rules starting on a token with this id and classes, in
    /// rule order.
    fn rules(&mut self, index: &Index, id: u32, classes: Classes, live: &[u64]) -> &[u32] {
        let folded = classes as u64 ^ (classes >> (Classes::BITS / 2)) as u64;
        let mix = (u64::from(id) ^ folded.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = (mix >> 56) as usize % CACHE_SLOTS;
        if self.keys[slot] != (id, classes) {
            if self.rules.len() > MAX_CACHED {
                self.rules.clear();
                self.keys
                    .iter_mut()
                    .for_each(|k| *k = (crate::lexicon::UNKNOWN, Classes::MAX));
            }
            index.start_rules(id, classes, live, &mut self.bits);
            let start = self.rules.len() as u32;
            for (word, &bits) in self.bits.iter().enumerate() {
                let mut bits = bits;
                while bits != 0 {
                    self.rules.push((word * 64) as u32 + bits.trailing_zeros());
                    bits &= bits - 1;
                }
            }
            self.keys[slot] = (id, classes);
            self.ranges[slot] = (start, self.rules.len() as u32);
        }
        let (a, b) = self.ranges[slot];
        &self.rules[a as usize..b as usize]
    }
}

/// The block pass: the most severe match wins, the earliest on a tie.
fn block_pass(
    lex: &Lexicon,
    index: &Index,
    text: &Annotated,
    blocks: &[(u32, u32)],
) -> Option<Hit> {
    let mut best: Option<Hit> = None;
    for &(ti, r) in blocks {
        let (ti, r) = (ti as usize, r as usize);
        if text.neutral[ti] {
            continue;
        }
        let rule = &lex.rules[r];
        let Action::Block { category, severity } = rule.action else {
            continue;
        };
        if best.is_some_and(|b| severity <= b.severity) {
            continue;
        }
        if let Some((start, end)) = match_rule(rule, text, index.stops, ti) {
            best = Some(Hit {
                rule: r,
                start,
                end,
                category,
                severity,
            });
        }
    }
    best
}

/// Tries a rule whose first matching element sits on token `ti`: any
/// leading zero-width steps are checked at `ti` too.
fn match_rule(rule: &Rule, text: &Annotated, stops: Stops, ti: usize) -> Option<(usize, usize)> {
    let ctx = Ctx {
        text,
        stops,
        start: ti,
    };
    let end = ctx.run(&rule.steps, 0, ti)?;
    (end > ti).then_some((ti, end))
}
