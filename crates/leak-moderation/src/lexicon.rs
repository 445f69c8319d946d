//! The lexicon: word classes and rules, parsed once from the embedded
//! `lexicons/*.txt` files and the operator's lists.
//!
//! File format (see `lexicons/README.md`): `[class NAME]` or
//! `[class NAME +content]` sections list words; `[rule CATEGORY SEVERITY]`,
//! `[name CATEGORY SEVERITY]` (pseudonym only) and `[allow]` sections hold one
//! pattern a line; `[alias]` maps SMS spellings to words, and a class line
//! `left … / @class` lists compounds. Words are normalised exactly as
//! message text is, so an entry may be written with accents. "Content"
//! words (insults, slurs, crude and violent verbs) are the only ones the
//! disguise merger and the wildcard look-up may produce, so that `t'es`
//! never turns into `tes`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::matcher::{Action, Rep, Rule, Scope, Step};
use crate::normalize::{tokenize, ELONGATED, LEET_ONE, MASKED};
use crate::table::WordTable;
use crate::Category;

/// A small multiplicative hasher: word look-ups dominate the classifier's
/// time, and SipHash's DoS resistance buys nothing for a fixed key set.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A normalised word's bytes.
type Word = Box<[u8]>;

/// Id of a token that is not in the lexicon.
pub(crate) const UNKNOWN: u32 = u32::MAX;

/// A set of word classes, one bit each: wide enough for every class of
/// the built-in lexicons with room for growth.
pub(crate) type Classes = u128;

/// The most classes a lexicon may define (one bit each).
const MAX_CLASSES: usize = Classes::BITS as usize;

/// The shapes a word's spelling fits, one bit per shape section.
pub(crate) type ShapeFits = u32;

/// Everything the classifier knows, built once.
#[derive(Default)]
pub(crate) struct Lexicon {
    ids: FxMap<Box<[u8]>, u32>,
    /// `ids` frozen into the fast table message tokens are looked up in.
    table: WordTable,
    /// Words with doubled letters squeezed (`connard` → `conard`), for
    /// elongated tokens only.
    collapsed: FxMap<Box<[u8]>, u32>,
    words: Vec<Box<[u8]>>,
    classes: Vec<Classes>,
    content: Vec<bool>,
    /// Words listed in a `+content` class (insults, slurs, crude words), as
    /// opposed to long literal words of block rules (`cant`, `never`): a
    /// mask (`c*nt`) resolves to one of these first.
    listed: Vec<bool>,
    /// Classes marked `+spelled`: spelling one of their words letter by
    /// letter is a signal of its own.
    spelled: Classes,
    /// The `spelled` class those words get (0 if the lexicon has none).
    spelled_bit: Classes,
    /// `(alias, canonical)` pairs from `[alias]` sections, resolved last.
    aliases: Vec<(Word, Word)>,
    /// Content word ids by length, for masked tokens such as `f*ck`.
    by_len: Vec<Vec<u32>>,
    class_names: Vec<String>,
    shapes: Vec<Shape>,
    pub rules: Vec<Rule>,
}

/// A word class recognised by spelling rather than listed: an unlisted word
/// ending in one of `suffixes` (and in none of `except`) belongs to it when
/// it follows a word of one of the `after` classes, or another word of the
/// shape, or starts a clause. This is how "you sweaty pig" or "Dear
/// clueless idiot" are read without listing every adjective.
struct Shape {
    bit: Classes,
    suffixes: Vec<Box<[u8]>>,
    except: Vec<Box<[u8]>>,
    after_names: Vec<String>,
    after: Classes,
    /// Bytes some suffix ends with: a quick test before comparing suffixes.
    last: [bool; 256],
}

/// Letters a word must keep in front of a shape suffix (`ugly` is not `-ly`).
const SHAPE_STEM: usize = 3;

/// Where a section's lines go.
#[derive(Clone, Copy)]
enum Section {
    None,
    Class(usize, bool),
    Alias,
    Shape(usize),
    Rule(Action, Scope),
}

impl Lexicon {
    /// Builds the lexicon from embedded files, then operator entries.
    /// Panics on a malformed built-in file (a unit test builds it).
    pub fn build(files: &[&str], block: &[(Category, String)], allow: &[String]) -> Lexicon {
        let mut lex = Lexicon::default();
        for text in files {
            lex.load(text, true);
        }
        for text in files {
            lex.load(text, false);
        }
        for (category, phrase) in block {
            let action = Action::Block {
                category: *category,
                severity: 3,
            };
            lex.add_phrase(phrase, action, true);
        }
        for phrase in allow {
            lex.add_phrase(phrase, Action::Allow, false);
        }
        lex.finish();
        lex
    }

    /// Reads class sections (`classes_pass`) or rule sections of one file.
    fn load(&mut self, text: &str, classes_pass: bool) {
        let mut section = Section::None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = self
                    .section(head)
                    .unwrap_or_else(|e| panic!("lexicon line {}: {e}", n + 1));
                continue;
            }
            match section {
                Section::Class(bit, content) if classes_pass => {
                    for w in self.class_line(line) {
                        let id = self.intern_text(&w);
                        self.classes[id as usize] |= 1 << bit;
                        self.content[id as usize] |= content;
                        self.listed[id as usize] |= content;
                    }
                }
                Section::Alias if classes_pass => {
                    let pair: Vec<&str> = line.split_whitespace().collect();
                    let [alias, canonical] = pair[..] else {
                        panic!("lexicon line {}: an alias line is two words", n + 1);
                    };
                    let norm = |w: &str| -> Word { tokenize(w).text(0).into() };
                    self.aliases.push((norm(alias), norm(canonical)));
                }
                Section::Shape(i) if classes_pass => {
                    for w in line.split_whitespace() {
                        let (list, w) = match w.strip_prefix('!') {
                            Some(w) => (&mut self.shapes[i].except, w),
                            None => (&mut self.shapes[i].suffixes, w),
                        };
                        list.push(w.as_bytes().into());
                    }
                }
                Section::Rule(action, scope) if !classes_pass => {
                    let rules = self.compile(line, action, scope);
                    let rules =
                        rules.unwrap_or_else(|e| panic!("lexicon line {}: {e}: {line}", n + 1));
                    self.rules.extend(rules);
                }
                Section::None => panic!("lexicon line {}: text outside a section", n + 1),
                _ => {}
            }
        }
    }

    fn section(&mut self, head: &str) -> Result<Section, String> {
        let parts: Vec<&str> = head.split_whitespace().collect();
        match parts.as_slice() {
            ["class", name, rest @ ..] => {
                let bit = self.class_bit(name, true)?;
                if rest.contains(&"+spelled") {
                    self.spelled |= 1 << bit;
                }
                Ok(Section::Class(bit, rest.contains(&"+content")))
            }
            ["alias"] => Ok(Section::Alias),
            ["shape", name, "after", after @ ..] => {
                let bit = self.class_bit(name, true)?;
                if self.shapes.len() >= ShapeFits::BITS as usize {
                    return Err("too many shapes".into());
                }
                let i = match self.shapes.iter().position(|s| s.bit == 1 << bit) {
                    Some(i) => i,
                    None => {
                        let after_names = after
                            .iter()
                            .map(|a| a.trim_start_matches('@').to_owned())
                            .collect();
                        self.shapes.push(Shape {
                            bit: 1 << bit,
                            suffixes: Vec::new(),
                            except: Vec::new(),
                            after_names,
                            after: 0,
                            last: [false; 256],
                        });
                        self.shapes.len() - 1
                    }
                };
                Ok(Section::Shape(i))
            }
            ["allow"] => Ok(Section::Rule(Action::Allow, Scope::All)),
            [kind @ ("rule" | "name"), cat, sev] => {
                let category = Category::from_key(cat).ok_or(format!("unknown category {cat}"))?;
                let severity = sev.parse().map_err(|_| format!("bad severity {sev}"))?;
                let scope = if *kind == "rule" {
                    Scope::All
                } else {
                    Scope::Pseudonym
                };
                Ok(Section::Rule(Action::Block { category, severity }, scope))
            }
            _ => Err(format!("unknown section [{head}]")),
        }
    }

    /// The words of one class line: whitespace-separated words, or, on a
    /// line `left … / @class`, every word of the left list glued to every
    /// word already in the class (`cum shit / @tail` lists `cumstain`,
    /// `shitstain`, `cumbag`…): compounds of crude words are an open family.
    fn class_line(&self, line: &str) -> Vec<String> {
        let Some((left, right)) = line.split_once('/') else {
            return line.split_whitespace().map(str::to_owned).collect();
        };
        let name = right.trim().trim_start_matches('@');
        let bit = self
            .class_bit_of(name)
            .unwrap_or_else(|| panic!("compound of an unknown class @{name}"));
        let tails: Vec<String> = (0..self.words.len())
            .filter(|&id| self.classes[id] & (1 << bit) != 0)
            .map(|id| String::from_utf8_lossy(&self.words[id]).into_owned())
            .collect();
        left.split_whitespace()
            .flat_map(|a| tails.iter().map(move |b| format!("{a}{b}")))
            .collect()
    }

    fn class_bit_of(&self, name: &str) -> Option<usize> {
        self.class_names.iter().position(|c| c == name)
    }

    fn class_bit(&mut self, name: &str, create: bool) -> Result<usize, String> {
        if let Some(i) = self.class_names.iter().position(|c| c == name) {
            return Ok(i);
        }
        if !create {
            return Err(format!("unknown class @{name}"));
        }
        if self.class_names.len() >= MAX_CLASSES {
            return Err("too many classes".into());
        }
        self.class_names.push(name.to_owned());
        Ok(self.class_names.len() - 1)
    }

    /// Interns one written word, normalised; it must be a single token.
    fn intern_text(&mut self, w: &str) -> u32 {
        let t = tokenize(w);
        assert!(t.toks.len() == 1, "lexicon entry {w:?} is not one word");
        self.intern(t.text(0))
    }

    fn intern(&mut self, w: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(w) {
            return id;
        }
        let id = self.words.len() as u32;
        self.ids.insert(w.into(), id);
        self.words.push(w.into());
        self.classes.push(0);
        self.content.push(false);
        self.listed.push(false);
        id
    }

    /// Compiles one pattern line (see `lexicons/README.md`).
    /// A leading optional element (`^ @greet? @insult $`) is expanded into
    /// two rules, with and without it, so every rule has a fixed first word.
    fn compile(&mut self, line: &str, action: Action, scope: Scope) -> Result<Vec<Rule>, String> {
        let mut steps = Vec::new();
        for piece in line.split_whitespace() {
            steps.push(match piece {
                "^" => Step::Start,
                "$" => Step::End,
                p if p.starts_with('~') => Step::Gap(p[1..].parse().map_err(|_| "bad gap")?),
                p if p.starts_with('%') => Step::Chain(p[1..].parse().map_err(|_| "bad chain")?),
                p if p.starts_with('!') && p.len() > 1 => {
                    let (words, classes) = self.alternatives(&p[1..], action)?;
                    Step::NotAfter { words, classes }
                }
                p if p.starts_with('-') && p.len() > 1 => {
                    let (words, classes) = self.alternatives(&p[1..], Action::Allow)?;
                    Step::Other { words, classes }
                }
                p => {
                    let (body, rep) = match p.as_bytes()[p.len() - 1] {
                        b'?' if p.len() > 1 => (&p[..p.len() - 1], Rep::Opt),
                        b'*' if p.len() > 1 => (&p[..p.len() - 1], Rep::Star),
                        _ => (p, Rep::One),
                    };
                    let (words, classes) = self.alternatives(body, action)?;
                    Step::Match {
                        words,
                        classes,
                        rep,
                    }
                }
            });
        }
        let mut variants = vec![steps];
        let mut rules = Vec::new();
        while let Some(mut steps) = variants.pop() {
            let first = steps.iter().position(|s| matches!(s, Step::Match { .. }));
            let first = first.ok_or("a pattern needs a word or class")?;
            if steps[..first]
                .iter()
                .any(|s| matches!(s, Step::Other { .. }))
            {
                return Err("a pattern cannot start with an open slot".into());
            }
            if let Step::Match { rep, .. } = &mut steps[first] {
                match rep {
                    Rep::One => {
                        rules.push(Rule {
                            steps: steps.into(),
                            action,
                            scope,
                            source: line.into(),
                            operator: false,
                        });
                        continue;
                    }
                    Rep::Star => {
                        return Err("a pattern cannot start with a repeated element".into())
                    }
                    Rep::Opt => *rep = Rep::One,
                }
            }
            let mut without = steps.clone();
            without.remove(first);
            variants.push(steps);
            variants.push(without);
        }
        Ok(rules)
    }

    /// The words and classes of one element (`a|b|@c`). A literal word of
    /// four letters or more in a block rule counts as content.
    fn alternatives(
        &mut self,
        body: &str,
        action: Action,
    ) -> Result<(Box<[u32]>, Classes), String> {
        let (mut words, mut classes) = (Vec::new(), 0 as Classes);
        for alt in body.split('|') {
            match alt.strip_prefix('@') {
                Some(name) => classes |= 1 << self.class_bit(name, false)?,
                None => {
                    let id = self.intern_text(alt);
                    let block = matches!(action, Action::Block { .. });
                    self.content[id as usize] |= block && self.words[id as usize].len() >= 4;
                    words.push(id);
                }
            }
        }
        Ok((words.into(), classes))
    }

    /// An operator's entry: a literal phrase of one or more words.
    fn add_phrase(&mut self, phrase: &str, action: Action, content: bool) {
        let t = tokenize(phrase);
        if t.toks.is_empty() {
            return;
        }
        let mut steps = Vec::new();
        for i in 0..t.toks.len() {
            let id = self.intern(t.text(i));
            self.content[id as usize] |= content;
            steps.push(Step::Match {
                words: Box::new([id]),
                classes: 0,
                rep: Rep::One,
            });
        }
        self.rules.push(Rule {
            steps: steps.into(),
            action,
            scope: Scope::All,
            source: phrase.into(),
            operator: content,
        });
    }

    fn finish(&mut self) {
        self.spelled_bit = self.class_mask("spelled");
        for i in 0..self.shapes.len() {
            let names = std::mem::take(&mut self.shapes[i].after_names);
            let after = names
                .iter()
                .map(|n| self.class_mask(n))
                .fold(0, |a, m| a | m);
            let shape = &mut self.shapes[i];
            shape.after = after | shape.bit;
            for suffix in &shape.suffixes {
                if let Some(&b) = suffix.last() {
                    shape.last[b as usize] = true;
                }
            }
        }
        self.add_plurals();
        self.add_aliases();
        self.table = WordTable::build(self.ids.iter().map(|(w, &id)| (&w[..], id)));
        for id in 0..self.words.len() {
            let w = &self.words[id];
            let key = collapse(w);
            let content = self.content[id];
            match self.collapsed.get(&key[..]) {
                Some(&old) if self.content[old as usize] || !content => {}
                _ => {
                    self.collapsed.insert(key.into(), id as u32);
                }
            }
            if content {
                if self.by_len.len() <= w.len() {
                    self.by_len.resize(w.len() + 1, Vec::new());
                }
                self.by_len[w.len()].push(id as u32);
            }
        }
    }

    /// Lets the plural of a content word (`degeneres`, `blaireaux`) find the
    /// singular's id, unless the plural is a word of its own.
    fn add_plurals(&mut self) {
        let mut aliases = Vec::new();
        for (id, w) in self.words.iter().enumerate() {
            if !self.content[id] || w.len() < 3 || matches!(w.last(), Some(b's' | b'x' | b'*')) {
                continue;
            }
            let mut plural = w.to_vec();
            plural.push(if w.ends_with(b"eau") || w.ends_with(b"eu") {
                b'x'
            } else {
                b's'
            });
            aliases.push((plural, id as u32));
        }
        for (plural, id) in aliases {
            self.ids.entry(plural.into()).or_insert(id);
        }
    }

    /// Lets an SMS spelling (`fe`, `jsais`) find its word's id (`fais`,
    /// `sais`), so every rule reads both. An alias that is a word of its
    /// own, or whose word is not in the lexicon, is a mistake in the file.
    fn add_aliases(&mut self) {
        for (alias, canonical) in std::mem::take(&mut self.aliases) {
            let id = *self.ids.get(&canonical).unwrap_or_else(|| {
                panic!(
                    "alias of an unknown word {:?}",
                    String::from_utf8_lossy(&canonical)
                )
            });
            let old = self.ids.insert(alias.clone(), id);
            assert!(
                old.is_none(),
                "alias {:?} is already a word",
                String::from_utf8_lossy(&alias)
            );
        }
    }

    /// The shapes an unlisted word's spelling fits, whatever precedes it,
    /// as a bitset over shape numbers (not class bits: it stays small in
    /// the per-message word cache); see [`Lexicon::shape_gate`].
    pub fn shape_fits(&self, w: &[u8]) -> ShapeFits {
        let ends = |s: &[u8]| {
            w.len() >= s.len() && w.iter().rev().zip(s.iter().rev()).all(|(a, b)| a == b)
        };
        let mut fits: ShapeFits = 0;
        for (i, shape) in self.shapes.iter().enumerate() {
            if !w.last().is_some_and(|&b| shape.last[b as usize]) {
                continue;
            }
            let fit = |s: &[u8]| w.len() >= s.len() + SHAPE_STEM && ends(s);
            if shape.suffixes.iter().any(|s| fit(s)) && !shape.except.iter().any(|e| ends(e)) {
                fits |= 1 << i;
            }
        }
        fits
    }

    /// The shape classes a word that fits `fits` gets after a word of
    /// classes `before` (`Classes::MAX` at the start of a clause).
    #[inline]
    pub fn shape_gate(&self, fits: ShapeFits, before: Classes) -> Classes {
        if fits == 0 {
            return 0;
        }
        self.shapes
            .iter()
            .enumerate()
            .filter(|(i, s)| fits & (1 << i) != 0 && s.after & before != 0)
            .fold(0, |a, (_, s)| a | s.bit)
    }

    /// The id of a normalised token, trying leetspeak `1` as `i` then `l`,
    /// masks as wildcards and squeezed repeats; [`UNKNOWN`] if none fits.
    pub fn lookup(&self, w: &[u8], flags: u16) -> u32 {
        if flags & LEET_ONE != 0 {
            for letter in [b'i', b'l'] {
                let v: Vec<u8> = w
                    .iter()
                    .map(|&b| if b == b'1' { letter } else { b })
                    .collect();
                let id = self.lookup(&v, (flags & !LEET_ONE) | elongated(&v));
                if id != UNKNOWN {
                    return id;
                }
            }
            return UNKNOWN;
        }
        if flags & MASKED != 0 {
            return self.wildcard(w);
        }
        if let Some(id) = self.table.get(w) {
            return id;
        }
        if flags & ELONGATED != 0 || elongated(w) != 0 {
            if let Some(&id) = self.collapsed.get(&collapse(w)[..]) {
                return id;
            }
        }
        UNKNOWN
    }

    /// Matches `f*ck` against content words of the same length: at least
    /// two letters known, the first among them, at most half masked. A word
    /// listed in a content class wins over a long literal of a rule (`c*nt`
    /// is `cunt`, not `cant`). With no such word, the masks may stand for
    /// nothing at all (`p*d` is `pd`), if a content word is left.
    fn wildcard(&self, w: &[u8]) -> u32 {
        let masked = w.iter().filter(|&&b| b == b'*').count();
        if w.first() == Some(&b'*') || w.len() - masked < 2 || masked * 2 > w.len() {
            return UNKNOWN;
        }
        let candidates = self.by_len.get(w.len()).map_or(&[][..], |v| &v[..]);
        let mut found = UNKNOWN;
        for &id in candidates {
            let cand = &self.words[id as usize];
            if w.iter()
                .zip(cand.iter())
                .all(|(&a, &b)| a == b'*' || a == b)
            {
                if self.listed[id as usize] {
                    return id;
                }
                if found == UNKNOWN {
                    found = id;
                }
            }
        }
        if found != UNKNOWN {
            return found;
        }
        let bare: Vec<u8> = w.iter().copied().filter(|&b| b != b'*').collect();
        match self.table.get(&bare) {
            Some(id) if self.listed[id as usize] => id,
            _ => UNKNOWN,
        }
    }

    /// Class bits of a word id.
    pub fn classes(&self, id: u32) -> Classes {
        self.classes.get(id as usize).copied().unwrap_or(0)
    }

    /// The classes of a word spelled letter by letter (`r e t a r d`): its
    /// own, plus the `spelled` class if one of them is marked `+spelled`.
    pub fn spelled_classes(&self, classes: Classes) -> Classes {
        if classes & self.spelled != 0 {
            classes | self.spelled_bit
        } else {
            classes
        }
    }

    /// Whether the disguise merger may produce this word.
    pub fn is_content(&self, id: u32) -> bool {
        self.content.get(id as usize).copied().unwrap_or(false)
    }

    /// The bit mask of a class by name (0 if the lexicon has none).
    pub fn class_mask(&self, name: &str) -> Classes {
        self.class_names
            .iter()
            .position(|c| c == name)
            .map_or(0, |i| 1 << i)
    }

    /// Number of words interned (used to size per-word rule indexes).
    pub fn word_count(&self) -> usize {
        self.words.len()
    }
}

fn elongated(w: &[u8]) -> u16 {
    let triple = w.windows(3).any(|x| x[0] == x[1] && x[1] == x[2]);
    if triple {
        ELONGATED
    } else {
        0
    }
}

/// Squeezes every run of one letter to a single letter.
fn collapse(w: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(w.len());
    for &b in w {
        if out.last() != Some(&b) {
            out.push(b);
        }
    }
    out
}
