//! leak-moderation: the built-in classifier that refuses insults, slurs,
//! threats, sexual harassment and incitement to self-harm in French and
//! English, and lets everything else through — confessions, blunt criticism,
//! love letters, medical and legal vocabulary. Two opinions: curated rules,
//! and a learned model whose uncertain band is held for human review (see
//! `docs/moderation.md`).
//!
//! It is a pure function over text: no I/O, no async, lexicons embedded at
//! build time. The daemon builds one [`Classifier`] at start (it is
//! `Send + Sync`) and calls [`Classifier::classify`] per message.
//!
//! # Layout
//!
//! - `normalize.rs` — characters to plain ASCII tokens: case, accents,
//!   look-alike Unicode (`decancer`), invisible characters, leetspeak, masks
//!   (`f*ck`), and the punctuation between tokens as flags (including the
//!   first and last word of a closed quotation).
//! - `disguise.rs` — rebuilds words split by separators or spaces
//!   (`s.a.l.o.p.e`, `f u c k`).
//! - `lexicon.rs` — parses `lexicons/*.txt` (word classes and rules) and the
//!   operator's lists; word look-up with leetspeak, wildcard, squeezed
//!   repeats and plurals; shape classes (unlisted adjectives by suffix).
//!   A token's classes are one `Classes` bitset (128 classes at most).
//! - `table.rs` — the frozen word → id table every token is looked up in
//!   (short words compared as packed integers).
//! - `wordcache.rs` — a per-message cache of word look-ups (a long message
//!   repeats a few hundred words).
//! - `index.rs` — rule bitsets: which rules may start on a token, and
//!   which may match in a sentence at all (a pre-filter on their words).
//! - `matcher.rs` — the rule engine: reported quotations and allow rules
//!   neutralise, block rules decide, the most severe match wins; chains
//!   (`%N`) read modifiers of any vocabulary up to a breaker word, and an
//!   open slot (`-x`) reads one noun no list holds, so a frame that carries
//!   the meaning alone (« t'es qu'un X », "you piece of X") needs no list
//!   of every X.
//! - `lib.rs` — the public API; annotates each token with its classes,
//!   giving shape classes in context (after "you", an article, another
//!   adjective; a hyphenated compound such as `attention-seeking` is read
//!   as a whole) and marking both halves of a compound with `hyph`.
//! - `lexicons/` — the curated French and English lists and rules; its
//!   `README.md` documents the format and the policy choices.
//! - `learned/` — the learned first stage: hashed word and character
//!   n-grams, a logistic regression whose weights (`model/weights.bin`) are
//!   embedded, and the deterministic trainer (`examples/train.rs` runs it
//!   on `data/train/`).
//! - `decide.rs` — the two opinions combined into block, hold or allow
//!   ([`Classifier::decide`]); [`Classifier::classify`] is the rules alone.
//! - `eval.rs` — recall and false positives per language and category, for
//!   `leak moderation eval` and the trainer's cross-validation report.
//!
//! # Why words only count when aimed at someone
//!
//! Whole tokens are matched, never substrings, so `Scunthorpe`, `concours`
//! or `assassin` cannot trip it. Most insult words only block when they are
//! aimed at the reader ("t'es qu'un connard", "you're such an idiot",
//! "espèce de …", a vocative "Salut connard,"); the same word about oneself
//! ("j'ai été un vrai connard avec toi", "I was an asshole") is a
//! confession and passes. Slurs and a few phrases ("fils de pute",
//! "go kill yourself") block wherever they appear.
//!
//! # Why frames rather than more words
//!
//! Blind sets of realistic traffic level off near 85 % recall when only
//! words and fixed phrases are listed: senders keep finding nouns and verbs
//! no list holds. Frames read the structure instead: contempt (« espèce de
//! X », "you're nothing but a X"), an intention with a harm verb and the
//! reader's body or property ("I will break every finger you type with"),
//! a sexual intention aimed at the reader. Each frame lists its exceptions
//! (consolation, fondness, things) rather than its insults.

mod decide;
mod disguise;
pub mod eval;
mod index;
pub mod learned;
mod lexicon;
mod matcher;
mod normalize;
mod table;
mod wordcache;

use std::fmt;

pub use decide::{combined_outcome, model_outcome, Decision, Outcome, MIN_WORDS, MODEL_REASON};
use index::Index;
pub use learned::features::Lang;
use lexicon::{Classes, Lexicon, ShapeFits};
use matcher::{Annotated, Hit, Scope};
use normalize::{Tokens, SENT};

thread_local! {
    /// Token and annotation buffers reused between messages on one thread:
    /// a 100 KB message needs a few hundred KB of them, and allocating and
    /// freeing that much per message costs more than classifying it.
    static SCRATCH: std::cell::Cell<(Tokens, Annotated)> = std::cell::Cell::default();
}

/// The largest normalised text whose buffers a thread keeps for the next
/// message: a large text attachment's (tens of MB of tokens and
/// annotations) is freed, not kept by every worker thread that once read
/// one.
const MAX_KEPT_SCRATCH: usize = 1 << 20;

/// Texts up to this many bytes are read by the rules at once.
const RULES_WINDOW: usize = 256 * 1024;

/// What each window of a longer text re-reads of the one before.
const RULES_OVERLAP: usize = 4 * 1024;

/// Where the window of the rules starting at byte `start` ends: after the
/// first line end past `start + RULES_WINDOW`, at a character boundary
/// there for a text without line ends, or at the text's end.
fn window_end(text: &str, start: usize) -> usize {
    let target = start + RULES_WINDOW;
    if target >= text.len() {
        return text.len();
    }
    match text.as_bytes()[target..]
        .iter()
        .take(RULES_WINDOW)
        .position(|b| *b == b'\n')
    {
        Some(newline) => target + newline + 1,
        None => text.ceil_char_boundary(target),
    }
}

/// The start of the line holding byte `at` when it starts within
/// [`RULES_OVERLAP`] bytes before `at`, else the character boundary at or
/// before `at`.
fn line_start_before(text: &str, at: usize) -> usize {
    let at = text.floor_char_boundary(at);
    let floor = at.saturating_sub(RULES_OVERLAP);
    match text.as_bytes()[floor..at].iter().rposition(|b| *b == b'\n') {
        Some(newline) => floor + newline + 1,
        None => text.floor_char_boundary(floor),
    }
}

/// The embedded lexicons, in load order.
const LEXICONS: [&str; 3] = [
    include_str!("../lexicons/common.txt"),
    include_str!("../lexicons/en.txt"),
    include_str!("../lexicons/fr.txt"),
];

/// What the classifier looks at: everything a recipient will read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Input<'a> {
    /// The `Subject` header, decoded.
    pub subject: &'a str,
    /// The body as text (plain parts, and HTML parts rendered as text).
    pub text: &'a str,
    /// The custom pseudonym the sender chose, or empty.
    pub pseudonym: &'a str,
}

/// Why a message is refused: the kinds of harm the service will not carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    Insult,
    Slur,
    Threat,
    SexualHarassment,
    SelfHarmIncitement,
}

impl Category {
    /// The key used in lexicon files and operator lists (`threat: …`).
    pub fn from_key(key: &str) -> Option<Category> {
        Some(match key {
            "insult" => Category::Insult,
            "slur" => Category::Slur,
            "threat" => Category::Threat,
            "sexual" | "sexual-harassment" => Category::SexualHarassment,
            "selfharm" | "self-harm" => Category::SelfHarmIncitement,
            _ => return None,
        })
    }

    /// A one-line reason in English and French, plain ASCII so it fits an
    /// SMTP reply as it is.
    pub fn reason(self) -> &'static str {
        match self {
            Category::Insult => "the message contains an insult / le message contient une insulte",
            Category::Slur => {
                "the message contains a slur / le message contient une injure discriminatoire"
            }
            Category::Threat => "the message contains a threat / le message contient une menace",
            Category::SexualHarassment => {
                "the message contains sexual harassment / le message contient du contenu sexuel harcelant"
            }
            Category::SelfHarmIncitement => {
                "the message incites self-harm / le message incite au suicide ou a l'automutilation"
            }
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Insult => "insult",
            Category::Slur => "slur",
            Category::Threat => "threat",
            Category::SexualHarassment => "sexual harassment",
            Category::SelfHarmIncitement => "incitement to self-harm",
        })
    }
}

/// The classifier's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Block {
        category: Category,
        /// For the sender: plain words, English and French, one line.
        reason: String,
        /// For the operator only: the normalised words and the rule that
        /// matched, so lists can be tuned. Never send it to the sender.
        matched: String,
        /// A hit the model has no say on: the operator's own block list
        /// (`block_words_file`), or the pseudonym (which the model does not
        /// read). It blocks whatever the model's score.
        firm: bool,
    },
}

/// The moderation classifier: lexicons and rules compiled once.
pub struct Classifier {
    lex: Lexicon,
    index: Index,
    /// The class `hyph`: both halves of a hyphenated compound ("tone-deaf",
    /// "brain-dead", "stuck-up"), a sign that the words before an insult
    /// noun describe it. Elisions and contractions (« t'es », « qu'un »,
    /// "you're") have a half of one or two letters after a short word and
    /// do not count.
    hyph: Classes,
    /// The operator's single-word allow entries, normalised: the learned
    /// model does not see them (see `decide.rs`).
    model_skip: Vec<Vec<u8>>,
}

impl Classifier {
    /// Built-in French and English lexicons plus the operator's lists (one
    /// entry per line, `#` comments and blank lines ignored, see
    /// [`parse_word_list`]). A block entry blocks wherever it appears, as an
    /// insult unless prefixed with a category key (`threat: …`, `slur: …`,
    /// `sexual: …`, `selfharm: …`); an allow entry neutralises those words
    /// wherever they appear (a name such as `Dick`, a local place name).
    pub fn new(extra_block: &[String], extra_allow: &[String]) -> Classifier {
        let block: Vec<(Category, String)> = extra_block
            .iter()
            .map(|entry| match entry.split_once(':') {
                Some((key, rest)) if Category::from_key(key.trim()).is_some() => (
                    Category::from_key(key.trim()).unwrap_or(Category::Insult),
                    rest.trim().to_owned(),
                ),
                _ => (Category::Insult, entry.trim().to_owned()),
            })
            .collect();
        let lex = Lexicon::build(&LEXICONS, &block, extra_allow);
        let index = Index::new(&lex);
        // Parse and check the embedded model now, at start, rather than on
        // the first message.
        decide::model();
        let hyph = lex.class_mask("hyph");
        let model_skip = extra_allow
            .iter()
            .filter_map(|w| learned::features::normalized_word(w.trim()))
            .collect();
        Classifier {
            lex,
            index,
            hyph,
            model_skip,
        }
    }

    /// The built-in lexicons alone.
    pub fn builtin() -> Classifier {
        Classifier::new(&[], &[])
    }

    /// Classifies one message. The subject and the body are read as
    /// separate sentences; the pseudonym is also held to the stricter name
    /// rules (an insult word in a name blocks even if aimed at no one).
    pub fn classify(&self, input: &Input) -> Verdict {
        let body = self.scan_body(input.subject, input.text);
        let mut name_tokens = normalize::tokenize_name(input.pseudonym);
        let name = self.scan(
            &mut name_tokens,
            &mut Annotated::default(),
            Scope::Pseudonym,
        );
        let (hit, text, from_name) = match (body, name) {
            (Some(b), Some(n)) if n.0.severity > b.0.severity => (n.0, n.1, true),
            (Some(b), _) => (b.0, b.1, false),
            (None, Some(n)) => (n.0, n.1, true),
            (None, None) => return Verdict::Allow,
        };
        let rule = &self.lex.rules[hit.rule];
        let prefix = if from_name { "pseudonym: " } else { "" };
        Verdict::Block {
            category: hit.category,
            reason: hit.category.reason().to_owned(),
            matched: format!("{prefix}\"{text}\" [rule: {}]", rule.source),
            firm: rule.operator || from_name,
        }
    }

    /// The most severe hit of the rules in the subject and the text (the
    /// first of equal ones). A text longer than [`RULES_WINDOW`] bytes (a
    /// large text attachment) is read window by window, each starting on a
    /// line and re-reading [`RULES_OVERLAP`] bytes of the window before, far
    /// more than any rule spans: its tokens and annotations cost about five
    /// times the text, 150 MB for a 25 MB CSV read at once. A quotation
    /// opened more than a window earlier is not seen as one.
    fn scan_body(&self, subject: &str, text: &str) -> Option<(Hit, String)> {
        let mut best: Option<(Hit, String)> = None;
        let mut start = 0;
        loop {
            let end = window_end(text, start);
            let from = line_start_before(text, start.saturating_sub(RULES_OVERLAP));
            let subject = if start == 0 { subject } else { "" };
            if let Some(hit) = self.scan_window(subject, &text[from..end]) {
                if best.as_ref().is_none_or(|b| hit.0.severity > b.0.severity) {
                    best = Some(hit);
                }
            }
            if end >= text.len() {
                return best;
            }
            start = end;
        }
    }

    fn scan_window(&self, subject: &str, text: &str) -> Option<(Hit, String)> {
        let (mut tokens, mut annotated) = SCRATCH.with(|s| s.take());
        tokens.buf.clear();
        tokens.toks.clear();
        let tokens = normalize::tokenize_into(subject, tokens);
        let mut tokens = normalize::tokenize_into(text, tokens);
        let hit = self.scan(&mut tokens, &mut annotated, Scope::All);
        if tokens.buf.capacity() <= MAX_KEPT_SCRATCH {
            SCRATCH.with(|s| s.set((tokens, annotated)));
        }
        hit
    }

    /// Merges disguises, annotates and scans; returns the hit and the
    /// matched words.
    fn scan(
        &self,
        tokens: &mut Tokens,
        text: &mut Annotated,
        scope: Scope,
    ) -> Option<(Hit, String)> {
        disguise::merge(tokens, &self.lex);
        let n = tokens.toks.len();
        text.ids.clear();
        text.classes.clear();
        text.flags.clear();
        text.neutral.clear();
        text.neutral.resize(n, false);
        text.quoted = false;
        text.words.reset(n);
        for (i, tok) in tokens.toks.iter().enumerate() {
            let (id, fits) = text.words.lookup(&self.lex, tokens, i);
            let mut classes = self.lex.classes(id);
            if tok.flags & normalize::SPELLED != 0 {
                classes = self.lex.spelled_classes(classes);
            }
            if fits != 0 {
                classes |= self.shape(fits, tok.flags, &mut text.classes, &text.flags);
            }
            if tok.flags & normalize::GLUED != 0 && i > 0 && tok.end - tok.start >= 2 {
                let prev = &tokens.toks[i - 1];
                let (a, b) = (prev.end - prev.start, tok.end - tok.start);
                if a >= 4 || (a >= 3 && b >= 3) {
                    classes |= self.hyph;
                    text.classes[i - 1] |= self.hyph;
                }
            }
            text.ids.push(id);
            text.classes.push(classes);
            text.flags.push(tok.flags);
            text.quoted |= tok.flags & normalize::QUOTE_START != 0;
        }
        let hit = matcher::scan(&self.lex, &self.index, text, scope)?;
        let words: Vec<String> = (hit.start..hit.end)
            .map(|i| String::from_utf8_lossy(tokens.text(i)).into_owned())
            .collect();
        Some((hit, words.join(" ")))
    }
}

impl Classifier {
    /// The shape classes of the next token (spelling `fits`, flags
    /// `flags`) after the tokens annotated so far. A word glued to the one
    /// before it by a hyphen (`attention-seeking`, `home-wrecking`) is read
    /// with the whole compound: when the word before the compound opens the
    /// shape, both halves get it, so "an attention-seeking whore" reads
    /// like "a brown-nosing dunce" whatever the first half is.
    fn shape(&self, fits: ShapeFits, flags: u16, classes: &mut [Classes], prev: &[u16]) -> Classes {
        // The classes of token `i`, or `MAX` if the token after it opens a
        // sentence (a shape may start one).
        let before = |classes: &[Classes], i: usize| {
            let next = prev.get(i + 1).copied().unwrap_or(flags);
            if next & SENT == 0 {
                classes[i]
            } else {
                Classes::MAX
            }
        };
        let Some(last) = classes.len().checked_sub(1) else {
            return self.lex.shape_gate(fits, Classes::MAX);
        };
        let gate = self.lex.shape_gate(fits, before(classes, last));
        if gate != 0 || flags & normalize::GLUED == 0 {
            return gate;
        }
        let outer = match last {
            0 => Classes::MAX,
            _ => before(classes, last - 1),
        };
        let gate = self.lex.shape_gate(fits, outer);
        classes[last] |= gate;
        gate
    }
}

/// Parses the operator's one-entry-per-line format: surrounding whitespace
/// trimmed, blank lines and lines starting with `#` skipped, and a ` #`
/// comment at the end of a line removed (a `#` inside a word is a mask).
pub fn parse_word_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let line = line.trim();
            let cut = line
                .find(" #")
                .or_else(|| line.find("\t#"))
                .unwrap_or(line.len());
            line[..cut].trim()
        })
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
