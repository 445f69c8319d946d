//! The rule engine: token patterns with word classes, optional and repeated
//! elements, bounded gaps and clause anchors, matched over annotated tokens.
//!
//! Allow rules run first and mark the tokens they cover as neutral (so
//! "j'ai été un connard avec toi" stops counting as an insult aimed at the
//! reader); block rules then run over what is left and the most severe match
//! wins. A match never crosses a sentence boundary, and a gap (`~N`) never
//! skips a negation (`not`, `jamais`…), so "I will never hurt you" passes.

use crate::lexicon::Lexicon;
use crate::normalize::{CLAUSE, QUOTE_END, QUOTE_START, SENT};
use crate::Category;

/// How many times a pattern element may repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rep {
    One,
    Opt,
    /// Zero to [`MAX_STAR`] times.
    Star,
}

const MAX_STAR: usize = 4;

/// One element of a compiled pattern.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// A token whose word id is listed or whose classes intersect.
    Match {
        words: Box<[u32]>,
        classes: u64,
        rep: Rep,
    },
    /// Skip up to N tokens (never a negation).
    Gap(u8),
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
}

/// How many mandatory class elements per rule the sentence pre-filter keeps.
const NEEDS: usize = 3;

/// Rules indexed by their first matching element, so each token only tries
/// the rules that can start on it.
pub(crate) struct Index {
    by_word: Vec<Vec<u32>>,
    by_class: Vec<Vec<u32>>,
    /// Per rule, the class masks of its class-only mandatory elements: a
    /// sentence must hold each of them for the rule to be tried there.
    /// (Up to [`NEEDS`] of them, inline, 0 for none: it is only a pre-filter.)
    needs: Vec<[u64; NEEDS]>,
    neg: u64,
}

impl Index {
    pub fn new(lex: &Lexicon) -> Index {
        let mut by_word = vec![Vec::new(); lex.word_count()];
        let mut by_class = vec![Vec::new(); 64];
        for (r, rule) in lex.rules.iter().enumerate() {
            let first = rule.steps.iter().find_map(|s| match s {
                Step::Match { words, classes, .. } => Some((words, *classes)),
                _ => None,
            });
            let Some((words, classes)) = first else {
                continue;
            };
            for &w in words.iter() {
                by_word[w as usize].push(r as u32);
            }
            for (bit, list) in by_class.iter_mut().enumerate() {
                if classes & (1 << bit) != 0 {
                    list.push(r as u32);
                }
            }
        }
        let needs = lex
            .rules
            .iter()
            .map(|rule| {
                let needs = rule.steps.iter().filter_map(|s| match s {
                    Step::Match {
                        words,
                        classes,
                        rep: Rep::One,
                    } if words.is_empty() => Some(*classes),
                    _ => None,
                });
                let mut inline = [0; NEEDS];
                inline.iter_mut().zip(needs).for_each(|(slot, n)| *slot = n);
                inline
            })
            .collect();
        Index {
            by_word,
            by_class,
            needs,
            neg: lex.class_mask("neg"),
        }
    }
}

/// Whether every mandatory element of `rule` is satisfied by some token of
/// the text (`classes`: union of token classes, `present`: word-id bitset).
/// Most rules need an insult or violent word, so on ordinary text this
/// removes nearly all of them before any matching.
fn possible(rule: &Rule, classes: u64, present: &[u64]) -> bool {
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
    pub classes: Vec<u64>,
    pub flags: Vec<u8>,
    pub neutral: Vec<bool>,
    /// Whether some token opens a closed quotation.
    pub quoted: bool,
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
    neg: u64,
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

    fn hit(&self, ti: usize, words: &[u32], classes: u64) -> bool {
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
                        if !self.usable(t) || self.text.classes[t] & self.neg != 0 {
                            return None;
                        }
                    }
                    if let Some(end) = self.run(steps, si + 1, ti + skip) {
                        return Some(end);
                    }
                }
                None
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
    let active = active_rules(lex, text, scope);
    let sentence = sentence_classes(text);
    pass(lex, index, text, &sentence, |r| {
        active[r as usize] && is_allow(lex, r)
    });
    pass(lex, index, text, &sentence, |r| {
        active[r as usize] && !is_allow(lex, r)
    })
}

/// How far before or after a quotation a reporting verb may stand.
const REPORT_REACH: usize = 8;

/// Neutralises quotations that report what someone else wrote or said:
/// "Someone wrote 'kill yourself' under my post", "« sale pute », m'a-t-il
/// dit". A reporting verb (class `report`) must stand within a few words
/// before or after the quotation, in the same sentence; a bare quotation
/// stays live, so quotation marks alone cannot hide an insult. Slurs
/// (`keep`) are never neutralised.
fn reported_quotes(text: &mut Annotated, report: u64, keep: u64) {
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

fn is_allow(lex: &Lexicon, r: u32) -> bool {
    matches!(lex.rules[r as usize].action, Action::Allow)
}

/// Rules that apply to `scope` and whose every mandatory element some token
/// of the text satisfies.
fn active_rules(lex: &Lexicon, text: &Annotated, scope: Scope) -> Vec<bool> {
    let union = text.classes.iter().fold(0, |a, c| a | c);
    let mut present = vec![0u64; lex.word_count() / 64 + 1];
    for &id in text.ids.iter().filter(|&&id| id != crate::lexicon::UNKNOWN) {
        present[id as usize / 64] |= 1 << (id % 64);
    }
    lex.rules
        .iter()
        .map(|r| (r.scope == Scope::All || r.scope == scope) && possible(r, union, &present))
        .collect()
}

/// For each token, the union of classes of the sentence it is in.
fn sentence_classes(text: &Annotated) -> Vec<u64> {
    let mut sentence = vec![0u64; text.ids.len()];
    let mut start = 0;
    for end in 1..=text.ids.len() {
        if end == text.ids.len() || text.flags[end] & SENT != 0 {
            let union = text.classes[start..end].iter().fold(0, |a, c| a | c);
            sentence[start..end].iter_mut().for_each(|u| *u = union);
            start = end;
        }
    }
    sentence
}

/// One pass over the tokens with the rules `wanted` selects: allow matches
/// mark their tokens neutral, block matches compete for the verdict.
fn pass(
    lex: &Lexicon,
    index: &Index,
    text: &mut Annotated,
    sentence: &[u64],
    wanted: impl Fn(u32) -> bool,
) -> Option<Hit> {
    // The class index restricted to this pass's live rules.
    let by_class: Vec<Vec<u32>> = index
        .by_class
        .iter()
        .map(|l| l.iter().copied().filter(|&r| wanted(r)).collect())
        .collect();
    let mut best: Option<Hit> = None;
    let mut candidates: Vec<u32> = Vec::new();
    for (ti, &sentence) in sentence.iter().enumerate() {
        if text.neutral[ti] {
            continue;
        }
        let by_word = index
            .by_word
            .get(text.ids[ti] as usize)
            .map_or(&[][..], |v| &v[..]);
        let mut bits = text.classes[ti];
        candidates.clear();
        candidates.extend(by_word.iter().copied().filter(|&r| wanted(r)));
        while bits != 0 {
            let bit = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            candidates.extend_from_slice(&by_class[bit]);
        }
        for &r in &candidates {
            if index.needs[r as usize]
                .iter()
                .any(|&n| n != 0 && n & sentence == 0)
            {
                continue;
            }
            let rule = &lex.rules[r as usize];
            let Some((start, end)) = match_rule(rule, text, index.neg, ti) else {
                continue;
            };
            match rule.action {
                Action::Allow => text.neutral[start..end].iter_mut().for_each(|n| *n = true),
                Action::Block { category, severity } => {
                    if best.is_none_or(|b| severity > b.severity) {
                        let rule = r as usize;
                        best = Some(Hit {
                            rule,
                            start,
                            end,
                            category,
                            severity,
                        });
                    }
                }
            }
        }
    }
    best
}

/// Tries a rule whose first matching element sits on token `ti`: any
/// leading zero-width steps are checked at `ti` too.
fn match_rule(rule: &Rule, text: &Annotated, neg: u64, ti: usize) -> Option<(usize, usize)> {
    let ctx = Ctx {
        text,
        neg,
        start: ti,
    };
    let end = ctx.run(&rule.steps, 0, ti)?;
    (end > ti).then_some((ti, end))
}
