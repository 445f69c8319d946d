//! The rule index: which rules may start on a token, and which may match
//! in a sentence at all, as bitsets over rule numbers.
//!
//! A pattern is only tried where it can succeed. Every rule's first element
//! says which tokens it may start on (by word, or by class). Its other
//! mandatory elements ("needs") say what its sentence must hold: a match
//! never crosses a sentence boundary, so "I will kill you" is not tried in a
//! sentence without a violent verb. Both tests are a few bitwise operations per
//! sentence and per starting token, instead of a loop over every rule that
//! starts with `@me` for every "I" of a long message.

use crate::lexicon::{Classes, Lexicon};
use crate::matcher::{Action, Rep, Rule, Step};

/// How many mandatory elements per rule the sentence filter keeps.
const NEEDS: usize = 4;

/// The Bloom bit of a word id (a sentence's words as one `u64`).
pub(crate) fn bloom(id: u32) -> u64 {
    1 << (id.wrapping_mul(0x9e37_79b9) >> 26)
}

/// A mandatory pattern element: met by a sentence holding one of its
/// classes or, probably, one of its words.
#[derive(Clone, Copy, Default)]
struct Need {
    classes: Classes,
    words: u64,
}

/// Rule bitsets, each `words` `u64`s long, rule `r` at bit `r % 64` of
/// word `r / 64`.
pub(crate) struct Index {
    /// Length of one rule bitset in `u64`s.
    pub words: usize,
    /// Rules starting with word `w`: `word_rules[word_start[w]..word_start[w + 1]]`.
    word_start: Vec<u32>,
    word_rules: Vec<u32>,
    /// Per class bit, the rules whose first element accepts the class.
    first_class: Vec<u64>,
    /// Classes some rule starts with.
    first_classes: Classes,
    /// Per rule, its mandatory elements after the first.
    needs: Vec<[Need; NEEDS]>,
    /// Allow rules (the others block).
    allow: Vec<u64>,
    /// Word ids some rule needs (a bitset): only they go into a
    /// sentence's Bloom mask, so common words no rule names (`brk`,
    /// articles) do not fill it up.
    needed: Vec<u64>,
    /// What gaps and chains never skip.
    pub stops: Stops,
}

/// The classes a gap (`~N`) or a chain (`%N`) never skips: negations for
/// both, and for chains the words that open a new clause or point at
/// someone else (`brk`: verbs, prepositions, determiners).
#[derive(Clone, Copy, Default)]
pub(crate) struct Stops {
    pub neg: Classes,
    pub brk: Classes,
    /// Halves of hyphenated compounds: a breaker among them does not break.
    pub hyph: Classes,
}

fn set(bits: &mut [u64], r: usize) {
    bits[r / 64] |= 1 << (r % 64);
}

fn or_into(out: &mut [u64], from: &[u64]) {
    out.iter_mut().zip(from).for_each(|(o, f)| *o |= f);
}

impl Index {
    pub fn new(lex: &Lexicon) -> Index {
        let words = lex.rules.len().div_ceil(64).max(1);
        let mut ix = Index {
            words,
            word_start: Vec::new(),
            word_rules: Vec::new(),
            first_class: vec![0; Classes::BITS as usize * words],
            first_classes: 0,
            needs: lex.rules.iter().map(needs).collect(),
            allow: vec![0; words],
            needed: vec![0; lex.word_count().div_ceil(64)],
            stops: Stops {
                neg: lex.class_mask("neg"),
                brk: lex.class_mask("brk") | lex.class_mask("neg"),
                hyph: lex.class_mask("hyph"),
            },
        };
        let mut by_word = vec![Vec::new(); lex.word_count()];
        for (r, rule) in lex.rules.iter().enumerate() {
            if matches!(rule.action, Action::Allow) {
                set(&mut ix.allow, r);
            }
            for step in rule.steps.iter() {
                if let Step::Match {
                    words,
                    rep: Rep::One,
                    ..
                } = step
                {
                    words.iter().for_each(|&w| set(&mut ix.needed, w as usize));
                }
            }
            let first = rule.steps.iter().find_map(|s| match s {
                Step::Match { words, classes, .. } => Some((words, *classes)),
                _ => None,
            });
            let Some((first_words, classes)) = first else {
                continue;
            };
            ix.first_classes |= classes;
            for &w in first_words.iter() {
                by_word[w as usize].push(r as u32);
            }
            for bit in (0..Classes::BITS as usize).filter(|b| classes & (1 << b) != 0) {
                set(&mut ix.first_class[bit * words..(bit + 1) * words], r);
            }
        }
        for list in &by_word {
            ix.word_start.push(ix.word_rules.len() as u32);
            ix.word_rules.extend_from_slice(list);
        }
        ix.word_start.push(ix.word_rules.len() as u32);
        ix
    }

    /// The rules whose first element is word `id`.
    fn word_rules(&self, id: u32) -> &[u32] {
        match (
            self.word_start.get(id as usize),
            self.word_start.get(id as usize + 1),
        ) {
            (Some(&a), Some(&b)) => &self.word_rules[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The Bloom bit of word `id` in a sentence's mask, or 0 if no rule
    /// needs the word.
    pub fn bloom_of(&self, id: u32) -> u64 {
        let needed = self
            .needed
            .get(id as usize / 64)
            .is_some_and(|b| b & (1 << (id % 64)) != 0);
        if needed {
            bloom(id)
        } else {
            0
        }
    }

    /// Whether rule `r` is an allow rule.
    pub fn is_allow(&self, r: usize) -> bool {
        self.allow[r / 64] & (1 << (r % 64)) != 0
    }

    /// Whether some rule may start on a token with this id and classes.
    pub fn may_start(&self, id: u32, classes: Classes) -> bool {
        classes & self.first_classes != 0 || !self.word_rules(id).is_empty()
    }

    /// Whether a sentence holding these classes and (Bloom) words meets
    /// every need of rule `r`.
    pub fn needs_met(&self, r: usize, (classes, words): (Classes, u64)) -> bool {
        self.needs[r].iter().all(|n| {
            (n.classes == 0 && n.words == 0) || n.classes & classes != 0 || n.words & words != 0
        })
    }

    /// Sets `out` to the rules of `live` that may start on a token with
    /// this id and classes.
    pub fn start_rules(&self, id: u32, classes: Classes, live: &[u64], out: &mut [u64]) {
        let w = self.words;
        out.iter_mut().for_each(|o| *o = 0);
        let mut bits = classes & self.first_classes;
        while bits != 0 {
            let at = bits.trailing_zeros() as usize * w;
            bits &= bits - 1;
            or_into(out, &self.first_class[at..at + w]);
        }
        for &r in self.word_rules(id) {
            set(out, r as usize);
        }
        out.iter_mut().zip(live).for_each(|(o, l)| *o &= l);
    }
}

/// The mandatory elements of a rule after its first (up to [`NEEDS`],
/// word-only ones first: they are the rarest).
fn needs(rule: &Rule) -> [Need; NEEDS] {
    let mandatory = rule.steps.iter().filter_map(|s| match s {
        Step::Match {
            words,
            classes,
            rep: Rep::One,
        } => Some(Need {
            classes: *classes,
            words: words.iter().fold(0, |m, &w| m | bloom(w)),
        }),
        _ => None,
    });
    let (words, classes): (Vec<Need>, Vec<Need>) = mandatory.skip(1).partition(|n| n.classes == 0);
    let mut out = [Need::default(); NEEDS];
    out.iter_mut()
        .zip(words.into_iter().chain(classes))
        .for_each(|(slot, n)| *slot = n);
    out
}
