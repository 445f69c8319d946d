//! Who the sender really is, and what the recipient sees instead.
//!
//! [`Identity`] gathers every name and address that identifies the submitter
//! (the submitted `From`, `Sender` and `Reply-To`, the SMTP `MAIL FROM`, the
//! account name, its notify address and the aliases the operator declared)
//! and replaces them wherever they appear in text.
//!
//! Matching is by *whole* names and *whole* addresses, never by single
//! words: "Prends contact avec Paul" sent from `contact@…` or mentioning
//! "Alice Dupont" sent from `alice.martin@…` is left alone. A name is a
//! sequence of words ([`Pattern`]) matched with the usual variants — any case,
//! with or without accents, separated by spaces, dots, underscores or
//! hyphens, in `Firstname Lastname` or `Lastname, Firstname` order, with
//! initials (`A. Martin`, `J.-P. Dupont`, `Jean D.`). The single words of a
//! name are only replaced when they stand alone on a line (a sign-off such
//! as "Jean") or after a greeting ("Bonjour Jean,"), see [`Identity::find`].
//! A one-word local part or login ("contact", "info") is never matched on
//! its own; one mixing letters and digits ("jd1987") is. Addresses are
//! matched as written, with or without a `+tag`; an address at any domain
//! whose local part is one of the sender's name forms (`jean_dupont@`,
//! `dupont.jean@`, `jdupont@`) is replaced whole.
//!
//! Text is matched as the reader sees it ([`View`]): invisible characters
//! (soft hyphen, zero-width spaces and joiners) are skipped, `%XX` escapes
//! decoded (`jean%20dupont`, `%40`), and in a `format=flowed` body a soft
//! line break does not split a name. `html.rs` marks where a tag stood with
//! [`MARKUP_BOUNDARY`], so `Jean<img …>Dupont` is one name. What is found
//! maps back to the original characters; a name inside a URL is replaced
//! by the percent-encoded pseudonym, so the link stays one link.
//!
//! The pseudonym itself is chosen in `pseudonym.rs`.

use unicode_normalization::UnicodeNormalization;

/// Characters that may separate the words of a name ("Jean Dupont",
/// "jean.dupont", "jean_dupont", "Dupont, Jean", "Jean-Pierre", and
/// `jean+dupont` in a query string, where `+` stands for a space).
const NAME_SEPARATORS: &[char] = &[' ', '.', '_', '-', ',', '+'];

/// Characters that show nothing: the soft hyphen, zero-width spaces and
/// joiners, the word joiner, the byte-order mark and the invisible
/// operators. A name is matched as if they were not there
/// ("Je\u{AD}an Du\u{200B}pont" is "Jean Dupont").
const INVISIBLE: &[char] = &[
    '\u{AD}', '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{2061}', '\u{2062}',
    '\u{2063}', '\u{2064}', '\u{FEFF}',
];

/// What `html.rs` puts in the text it matches where an inline tag was
/// (`Jean<img …>Dupont`, `<b>J</b>ean`): invisible like the characters
/// above, and a place where two words of a name may meet without a
/// separator, since the tag may render as one.
pub(crate) const MARKUP_BOUNDARY: &str = "\u{2060}";

/// Shortest run-together form of a name kept as a pattern ("jdupont",
/// "jeandupont"): shorter ones ("jli") could be ordinary words.
const MIN_JOINED_NAME: usize = 5;

/// Most separator characters between two words of a name (", " is two).
const MAX_SEPARATOR_RUN: usize = 3;

/// One word of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// A whole word, folded ("dupont").
    Full(String),
    /// An initial: the letter and its dot ("J."); the last word of a name
    /// may lack the dot ("Zeb V").
    Initial(char),
}

/// A name as a sequence of words, matched with any separators between them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Word>);

impl Pattern {
    /// How many chars of `hay` the pattern covers from `at`, if it matches
    /// there as whole words. Two words may meet without a separator where
    /// `soft` says something invisible stood between them.
    fn match_at(&self, hay: &[char], soft: &[bool], at: usize) -> Option<usize> {
        if at > 0 && hay[at - 1].is_alphanumeric() {
            return None;
        }
        let mut pos = at;
        for (i, word) in self.0.iter().enumerate() {
            if i > 0 {
                let start = pos;
                while pos < hay.len()
                    && pos - start < MAX_SEPARATOR_RUN
                    && NAME_SEPARATORS.contains(&hay[pos])
                {
                    pos += 1;
                }
                let after_initial = matches!(self.0[i - 1], Word::Initial(_));
                let hidden_break = soft.get(pos).copied().unwrap_or(false);
                if pos == start && !after_initial && !hidden_break {
                    return None;
                }
            }
            match word {
                Word::Full(text) => {
                    for c in text.chars() {
                        if hay.get(pos) != Some(&c) {
                            return None;
                        }
                        pos += 1;
                    }
                    if hay.get(pos).is_some_and(|c| c.is_alphanumeric()) {
                        return None;
                    }
                }
                Word::Initial(letter) => {
                    if hay.get(pos) != Some(letter) {
                        return None;
                    }
                    pos += 1;
                    // "A Martin" could be an article: a leading initial
                    // needs its dot; a trailing one ("Zeb V") does not.
                    if hay.get(pos) == Some(&'.') {
                        pos += 1;
                    } else if i + 1 < self.0.len()
                        || hay.get(pos).is_some_and(|c| c.is_alphanumeric())
                    {
                        return None;
                    }
                }
            }
        }
        Some(pos - at)
    }
}

/// The strings that identify the submitter, and what replaces them.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    /// Folded real addresses (and their `%40` forms), replaced by
    /// `replacement_address`, longest first.
    addresses: Vec<String>,
    /// Names and handles, replaced by `replacement_name` wherever they occur
    /// as whole words.
    patterns: Vec<Pattern>,
    /// Single words of names (first names, last names, one-word display
    /// names): replaced only when a line holds nothing else.
    standalone: Vec<String>,
    replacement_address: String,
    replacement_name: String,
    replacement_name_in_url: String,
}

/// Where an identifying string was found: char offsets in the text, and
/// whether it is an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) is_address: bool,
    /// Inside a URL: replaced by a percent-encoded pseudonym.
    pub(crate) in_url: bool,
}

/// What the submission and the account tell about the sender.
#[derive(Debug, Default)]
pub(crate) struct Sources<'a> {
    /// (display name, address) of the submitted `From`, `Sender`, `Reply-To`.
    pub(crate) submitted: &'a [(String, String)],
    pub(crate) mail_from: &'a str,
    pub(crate) account: &'a str,
    /// Where the account's failure reports go.
    pub(crate) notify: Option<&'a str>,
    /// What the operator declared with `leak user add --alias`.
    pub(crate) aliases: &'a [String],
}

impl Identity {
    /// Collects the identifying strings. Addresses at `domain` (the
    /// pseudonymous ones) and their display names are not the sender's.
    pub(crate) fn new(sources: &Sources<'_>, domain: &str) -> Self {
        let mut id = Identity::default();
        for (name, address) in sources.submitted {
            if !is_at_domain(address, domain) {
                id.add_address(address, domain);
                id.add_name(name, false);
            }
        }
        id.add_address(sources.mail_from, domain);
        if sources.account.contains('@') {
            id.add_address(sources.account, domain);
        } else {
            id.add_handle(sources.account);
        }
        if let Some(notify) = sources.notify {
            id.add_address(notify, domain);
        }
        for alias in sources.aliases {
            if alias.contains('@') {
                id.add_address(alias, domain);
            } else {
                id.add_name(alias, true);
            }
        }
        id.tidy();
        id
    }

    /// Adds a phrase to scrub as a whole (not word by word), such as the
    /// submitted `Organization`, whose single words are too common.
    pub(crate) fn add_phrase(&mut self, phrase: &str) {
        let words = words_of(phrase);
        if words.len() >= 2 {
            self.patterns.push(Pattern(words));
        } else if let Some(Word::Full(word)) = words.into_iter().next() {
            self.standalone.push(word);
        }
        self.tidy();
    }

    fn add_address(&mut self, value: &str, domain: &str) {
        let value = value.trim().trim_matches(|c| c == '<' || c == '>');
        let Some((local, _)) = value.rsplit_once('@') else {
            return self.add_handle(value);
        };
        if local.is_empty() || is_at_domain(value, domain) {
            return;
        }
        let folded = fold_str(value);
        self.addresses.push(folded);
        let base = local.split('+').next().unwrap_or(local);
        self.add_handle(base);
    }

    /// A login or an address's local part: a dotted one ("alice.martin") is
    /// a name; a single word only counts when it mixes letters and digits
    /// ("jd1987"), since "contact" or "info" are ordinary words.
    fn add_handle(&mut self, handle: &str) {
        let words = words_of(handle);
        match words.as_slice() {
            [] => {}
            [Word::Full(word)] => {
                let has_digit = word.chars().any(|c| c.is_ascii_digit());
                let has_letter = word.chars().any(char::is_alphabetic);
                if has_digit && has_letter {
                    self.patterns.push(Pattern(words));
                }
            }
            [_] => {}
            _ => self.add_name_words(words),
        }
    }

    /// A display name or a declared alias. A one-word name is only replaced
    /// alone on a line, unless the operator declared it (`explicit`).
    fn add_name(&mut self, name: &str, explicit: bool) {
        let words = words_of(name);
        match words.as_slice() {
            [] => {}
            [Word::Full(word)] => {
                if explicit {
                    self.patterns.push(Pattern(words.clone()));
                }
                self.standalone.push(word.clone());
            }
            [_] => {}
            _ => self.add_name_words(words),
        }
    }

    /// The variants of a name of two or more words.
    fn add_name_words(&mut self, words: Vec<Word>) {
        for word in &words {
            if let Word::Full(text) = word {
                if text.chars().count() >= 2 && !text.chars().all(|c| c.is_ascii_digit()) {
                    self.standalone.push(text.clone());
                }
            }
        }
        self.patterns
            .extend(name_variants(&words).into_iter().map(Pattern));
        self.patterns.extend(
            joined_names(&words)
                .into_iter()
                .filter(|joined| joined.chars().count() >= MIN_JOINED_NAME)
                .map(|joined| Pattern(vec![Word::Full(joined)])),
        );
    }

    fn tidy(&mut self) {
        self.addresses.sort_by_key(|a| std::cmp::Reverse(a.len()));
        self.addresses.dedup();
        self.patterns.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        self.patterns.dedup();
        self.standalone.sort();
        self.standalone.dedup();
    }

    /// Sets what the real address and name are replaced with.
    pub(crate) fn replace_with(&mut self, address: &str, name: &str) {
        self.replacement_address = address.to_string();
        self.replacement_name = name.to_string();
        self.replacement_name_in_url = percent_encoded(name);
    }

    /// True when `address` is one of the sender's real addresses (any case,
    /// with or without a `+tag`).
    pub(crate) fn is_own_address(&self, address: &str) -> bool {
        let wanted = without_tag(&fold_str(address.trim()));
        self.addresses.iter().any(|own| without_tag(own) == wanted)
    }

    /// True when `address`, at any domain, has one of the sender's name
    /// forms (or a distinctive local part of theirs) as its local part:
    /// `jean.dupont@elsewhere.example` for Jean Dupont. In text such an
    /// address is replaced whole (`variant_address_at`).
    pub(crate) fn has_senders_name(&self, address: &str) -> bool {
        let view = View::of(address.trim(), None);
        self.variant_address_at(&view, 0) == Some(view.folded.len())
    }

    /// True when `text` mentions any identifying name or address, or any
    /// single word of the sender's names.
    pub(crate) fn is_mentioned_in(&self, text: &str) -> bool {
        let view = View::of(text, None);
        !self.find(text).is_empty()
            || view
                .folded
                .split(|c| !c.is_alphanumeric())
                .map(|w| w.iter().collect::<String>())
                .any(|w| self.standalone.contains(&w))
    }

    /// Every identifying string in `text`, left to right, not overlapping:
    /// addresses and names anywhere, single name words on a line of their
    /// own.
    pub(crate) fn find(&self, text: &str) -> Vec<Found> {
        self.find_in(text, None)
    }

    /// [`Identity::find`] in a `format=flowed` text (`Some(delsp)`), where
    /// a name may run over a soft line break ("Jean \n> Dupont").
    ///
    /// A text longer than [`WINDOW`] bytes (a large text attachment) is
    /// searched window by window, each reading [`WINDOW_CONTEXT`] bytes of
    /// context on both sides and keeping only what starts in its own span:
    /// the per-character tables of a [`View`] cost about 30 bytes a
    /// character, 700 MB for a 25 MB CSV read at once.
    pub(crate) fn find_in(&self, text: &str, flowed: Option<bool>) -> Vec<Found> {
        if text.len() <= WINDOW {
            return self.find_in_window(text, flowed);
        }
        let mut found: Vec<Found> = Vec::new();
        let (mut start, mut start_char) = (0, 0);
        while start < text.len() {
            let end = window_end(text, start);
            let before = floor_char_boundary(text, start.saturating_sub(WINDOW_CONTEXT));
            let after = ceil_char_boundary(text, (end + WINDOW_CONTEXT).min(text.len()));
            let context = text[before..start].chars().count();
            let span = text[start..end].chars().count();
            for f in self.find_in_window(&text[before..after], flowed) {
                if f.start < context || f.start >= context + span {
                    continue;
                }
                let shifted = Found {
                    start: f.start - context + start_char,
                    end: f.end - context + start_char,
                    ..f
                };
                // What the window before found may run into this span.
                if found.last().is_none_or(|last| last.end <= shifted.start) {
                    found.push(shifted);
                }
            }
            start = end;
            start_char += span;
        }
        found
    }

    fn find_in_window(&self, text: &str, flowed: Option<bool>) -> Vec<Found> {
        let view = View::of(text, flowed);
        let mut found = self.find_whole(&view);
        self.find_standalone(&view, &mut found);
        let mut found = view.to_original(text, found);
        if flowed.is_some() {
            // A sign-off alone on its written line ("Jean") still counts
            // when the line before it ends with a space.
            let lines = View::of(text, None);
            let mut alone = Vec::new();
            self.find_standalone(&lines, &mut alone);
            for extra in lines.to_original(text, alone) {
                if !found
                    .iter()
                    .any(|f| f.start < extra.end && extra.start < f.end)
                {
                    found.push(extra);
                }
            }
            found.sort_by_key(|f| f.start);
        }
        found
    }

    /// Every identifying address and whole name in `view`, without the
    /// single words alone on a line: for a subject, which is not a
    /// sign-off.
    fn find_whole(&self, view: &View) -> Vec<Found> {
        let folded = &view.folded;
        let mut found = Vec::new();
        let mut at = 0;
        while at < folded.len() {
            // Names and addresses start at a word boundary.
            let inside_word = at > 0 && folded[at - 1].is_alphanumeric();
            if inside_word {
                at += 1;
                continue;
            }
            match self.match_at(view, at) {
                Some((len, is_address)) => {
                    found.push(Found {
                        start: at,
                        end: at + len,
                        is_address,
                        in_url: false,
                    });
                    at += len;
                }
                None => at += 1,
            }
        }
        found
    }

    /// Adds the lines that hold nothing but one word of a name ("Jean",
    /// "Jean,"), the way a sign-off does.
    fn find_standalone(&self, view: &View, found: &mut Vec<Found>) {
        if self.standalone.is_empty() {
            return;
        }
        let mut line_start = 0;
        for chars in view.shown.split(|c| *c == '\n') {
            let is_edge = |c: &char| c.is_whitespace() || ",.!;:-–—".contains(*c);
            let is_lead = |c: &&char| is_edge(c) || **c == '>';
            let mut lead = chars.iter().take_while(is_lead).count();
            let greeting = greeting_len(&chars[lead..]);
            lead += greeting;
            let trail = chars.iter().rev().take_while(|c| is_edge(c)).count();
            if lead + trail < chars.len() {
                let mut word: String = chars[lead..chars.len() - trail]
                    .iter()
                    .copied()
                    .map(fold_char)
                    .collect();
                // "Hi Jean, how are you": the name ends at the first comma.
                let mut trail = trail;
                if let Some(comma) = word.find(',').filter(|_| greeting > 0) {
                    trail = chars.len() - lead - word[..comma].chars().count();
                    word.truncate(comma);
                }
                let start = line_start + lead;
                let end = line_start + chars.len() - trail;
                let overlaps = found.iter().any(|f| f.start < end && start < f.end);
                if !overlaps && self.standalone.contains(&word) {
                    found.push(Found {
                        start,
                        end,
                        is_address: false,
                        in_url: false,
                    });
                }
            }
            line_start += chars.len() + 1;
        }
        found.sort_by_key(|f| f.start);
    }

    /// Replaces every identifying string in `text` (see [`Identity::find`])
    /// in one pass, so a replacement is never itself rewritten.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.replace(text, &self.find(text))
    }

    /// [`Identity::scrub`] for a `format=flowed` text (see
    /// [`Identity::find_in`]).
    pub(crate) fn scrub_flowed(&self, text: &str, delsp: bool) -> String {
        self.replace(text, &self.find_in(text, Some(delsp)))
    }

    /// Replaces the addresses and whole names in a one-line phrase (a
    /// subject), where a single word of a name is not a sign-off.
    pub(crate) fn scrub_phrase(&self, text: &str) -> String {
        let view = View::of(text, None);
        let found = self.find_whole(&view);
        self.replace(text, &view.to_original(text, found))
    }

    fn replace(&self, text: &str, found: &[Found]) -> String {
        if found.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut next = found.iter().peekable();
        for (i, c) in text.chars().enumerate() {
            match next.peek() {
                Some(f) if i == f.start => {
                    out.push_str(self.replacement_for(f));
                    if f.end == f.start + 1 {
                        next.next();
                    }
                }
                Some(f) if i > f.start && i < f.end => {
                    if i + 1 == f.end {
                        next.next();
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// What a found string is replaced with: inside a URL, the pseudonym
    /// percent-encoded, so the link stays one link.
    pub(crate) fn replacement_for(&self, found: &Found) -> &str {
        match (found.is_address, found.in_url) {
            (true, _) => &self.replacement_address,
            (false, false) => &self.replacement_name,
            (false, true) => &self.replacement_name_in_url,
        }
    }

    /// The length (in chars of the view) of the longest identifying string
    /// starting at `at`, and whether it is an address.
    fn match_at(&self, view: &View, at: usize) -> Option<(usize, bool)> {
        let folded = &view.folded;
        let address = self
            .addresses
            .iter()
            .find_map(|needle| address_at(folded, at, needle))
            .or_else(|| self.variant_address_at(view, at));
        if let Some(len) = address {
            return Some((len, true));
        }
        self.patterns
            .iter()
            .filter_map(|pattern| pattern.match_at(folded, &view.soft, at))
            .max()
            .map(|len| (len, false))
    }

    /// The length of an address at `at`, at any domain, whose local part
    /// (without a `+tag`) is the sender's: one of their names in any of its
    /// forms (`jean_dupont@`, `dupont.jean@`, `jdupont@`, `jean-dupont@`)
    /// or a distinctive local part of theirs (`jd1987@`).
    fn variant_address_at(&self, view: &View, at: usize) -> Option<usize> {
        let folded = &view.folded;
        let (local_end, end) = email_at(folded, at)?;
        let local_end = folded[at..local_end]
            .iter()
            .position(|c| *c == '+')
            .map_or(local_end, |plus| at + plus);
        let local = &folded[at..local_end];
        let soft = &view.soft[at..local_end];
        self.patterns
            .iter()
            .any(|pattern| pattern.match_at(local, soft, 0) == Some(local.len()))
            .then_some(end - at)
    }
}

/// Texts up to this many bytes are searched at once (see
/// [`Identity::find_in`]).
const WINDOW: usize = 256 * 1024;

/// Context read on each side of a window: far longer than any name or
/// address leak looks for, even percent-encoded (at most a few hundred
/// characters), so what straddles a window's edge is found whole by the
/// window it starts in, with the characters before it to tell a word's
/// start.
const WINDOW_CONTEXT: usize = 16 * 1024;

/// Where the window starting at byte `start` ends: after the first line
/// end past `start + WINDOW`, or at a character boundary there when the
/// line goes on for another window (a text without line ends).
fn window_end(text: &str, start: usize) -> usize {
    let target = start + WINDOW;
    if target >= text.len() {
        return text.len();
    }
    let limit = (target + WINDOW).min(text.len());
    match text.as_bytes()[target..limit]
        .iter()
        .position(|b| *b == b'\n')
    {
        Some(newline) => target + newline + 1,
        None => ceil_char_boundary(text, target),
    }
}

/// The nearest character boundary at or before `at`.
fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The nearest character boundary at or after `at`.
fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Characters of an address's local part, as leak looks for them in text.
fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "._+-".contains(c)
}

/// An e-mail address starting at `at` in folded text: the end of its
/// local part (the `@`) and of its domain (two labels or more).
fn email_at(hay: &[char], at: usize) -> Option<(usize, usize)> {
    if at > 0 && (is_local_char(hay[at - 1]) || hay[at - 1] == '@') {
        return None;
    }
    let local_len = hay[at..]
        .iter()
        .take(MAX_LOCAL_CHARS + 1)
        .take_while(|c| is_local_char(**c))
        .count();
    let at_sign = at + local_len;
    if local_len == 0 || local_len > MAX_LOCAL_CHARS || hay.get(at_sign) != Some(&'@') {
        return None;
    }
    let domain_len = hay[at_sign + 1..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '-' || **c == '.')
        .count();
    let domain = &hay[at_sign + 1..at_sign + 1 + domain_len];
    let trimmed = domain.len() - domain.iter().rev().take_while(|c| **c == '.').count();
    let domain = &domain[..trimmed];
    let labels = domain.split(|c| *c == '.');
    let labels_ok = domain.contains(&'.') && labels.clone().all(|label| !label.is_empty());
    labels_ok.then_some((at_sign, at_sign + 1 + trimmed))
}

/// Longest local part leak looks at (RFC 5321's limit).
const MAX_LOCAL_CHARS: usize = 64;

/// A text as identity matching reads it, one entry per character read,
/// each mapped back to the characters of the original it stands for:
/// invisible characters are skipped (a name may run through them),
/// percent-encoded bytes are decoded (`jean%20dupont`, `%40` in links),
/// and in a `format=flowed` text a soft line break (with the next line's
/// quote prefix, and its space under `delsp=yes`) is skipped.
struct View {
    /// What the reader sees, decoded, not folded (for lines).
    shown: Vec<char>,
    /// `shown`, folded (see [`fold_char`]).
    folded: Vec<char>,
    /// Whether something invisible stood before each char.
    soft: Vec<bool>,
    /// The chars of the original each entry stands for: `[start, end)`.
    origin: Vec<(usize, usize)>,
}

impl View {
    fn of(text: &str, flowed: Option<bool>) -> View {
        let chars: Vec<char> = text.chars().collect();
        let mut view = View {
            shown: Vec::with_capacity(chars.len()),
            folded: Vec::with_capacity(chars.len()),
            soft: Vec::with_capacity(chars.len()),
            origin: Vec::with_capacity(chars.len()),
        };
        let mut soft = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !c.is_ascii() && INVISIBLE.contains(&c) {
                soft = true;
                i += 1;
                continue;
            }
            if let Some(delsp) = flowed {
                if let Some(skip) = soft_break_len(&chars, i) {
                    if !delsp {
                        view.push(' ', (i, i + 1), soft);
                    }
                    soft = true;
                    i += skip;
                    continue;
                }
            }
            if let Some((decoded, len)) = (c == '%').then(|| percent_decoded(&chars[i..])).flatten()
            {
                for (n, d) in decoded.iter().enumerate() {
                    let span = if n + 1 == decoded.len() {
                        (i, i + len)
                    } else {
                        (i, i)
                    };
                    view.push(*d, span, soft);
                    soft = false;
                }
                i += len;
                continue;
            }
            view.push(c, (i, i + 1), soft);
            soft = false;
            i += 1;
        }
        view
    }

    fn push(&mut self, c: char, origin: (usize, usize), soft: bool) {
        self.shown.push(c);
        self.folded.push(fold_char(c));
        self.soft.push(soft);
        self.origin.push(origin);
    }

    /// `found` (in positions of the view) in positions of `text`, each
    /// marked when it lies inside a URL.
    fn to_original(&self, text: &str, found: Vec<Found>) -> Vec<Found> {
        if found.is_empty() {
            return found;
        }
        let urls = url_spans(text);
        found
            .into_iter()
            .map(|f| {
                let start = self.origin[f.start..f.end]
                    .iter()
                    .map(|o| o.0)
                    .min()
                    .unwrap_or(0);
                let end = self.origin[f.end - 1].1.max(start + 1);
                Found {
                    start,
                    end,
                    is_address: f.is_address,
                    in_url: urls.iter().any(|(s, e)| *s <= start && start < *e),
                }
            })
            .collect()
    }
}

/// The length of a `format=flowed` soft line break at `i` (a space that
/// ends a line, the line end, and the quote marks and stuffed space of the
/// next line at the same quote level), or `None`; a signature separator
/// (`-- `) is not a soft break. Under `delsp=yes` the caller drops the
/// space; otherwise it keeps it as the text's.
fn soft_break_len(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != ' ' {
        return None;
    }
    let mut j = i + 1;
    if chars.get(j) == Some(&'\r') {
        j += 1;
    }
    if chars.get(j) != Some(&'\n') {
        return None;
    }
    let line_start = chars[..i]
        .iter()
        .rposition(|c| *c == '\n')
        .map_or(0, |p| p + 1);
    let line: String = chars[line_start..i].iter().collect();
    let bare = line.trim_start_matches(['>', ' ']);
    if bare == "--" || bare.is_empty() {
        return None;
    }
    let depth = line.chars().take_while(|c| *c == '>').count();
    j += 1;
    let next_depth = chars[j.min(chars.len())..]
        .iter()
        .take_while(|c| **c == '>')
        .count();
    if next_depth != depth {
        return None; // a change of quote level is a hard break
    }
    j += next_depth;
    if chars.get(j) == Some(&' ') {
        j += 1;
    }
    Some(j - i)
}

/// Percent-encoded bytes at the start of `chars` (`%20`, `%40`,
/// `%C3%A9`) that decode to printable UTF-8: the chars and how many
/// input chars they used.
fn percent_decoded(chars: &[char]) -> Option<(Vec<char>, usize)> {
    let mut bytes = Vec::new();
    let mut len = 0;
    while chars.get(len) == Some(&'%') && bytes.len() < 16 {
        let hex: String = chars.get(len + 1..len + 3)?.iter().collect();
        let Ok(byte) = u8::from_str_radix(&hex, 16) else {
            break;
        };
        bytes.push(byte);
        len += 3;
        if std::str::from_utf8(&bytes).is_ok() {
            break;
        }
    }
    let decoded: Vec<char> = std::str::from_utf8(&bytes).ok()?.chars().collect();
    let printable = !decoded.is_empty() && decoded.iter().all(|c| !c.is_control());
    printable.then_some((decoded, len))
}

/// The char ranges of the URLs in `text` (`http://`, `https://`,
/// `mailto:`, `www.` up to a space, a quote or an angle bracket).
fn url_spans(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < lower.len() {
        let starts = ["http://", "https://", "mailto:", "www."].iter().any(|p| {
            let p: Vec<char> = p.chars().collect();
            lower[i..].starts_with(&p)
        }) && (i == 0 || !lower[i - 1].is_alphanumeric());
        if starts {
            let len = chars[i..]
                .iter()
                .take_while(|c| !c.is_whitespace() && !"<>\"'".contains(**c))
                .count();
            spans.push((i, i + len));
            i += len.max(1);
        } else {
            i += 1;
        }
    }
    spans
}

/// `text` percent-encoded except for RFC 3986's unreserved characters.
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Words that open a greeting line ("Bonjour Jean,"): the name after them
/// is as good as alone on its line.
const GREETINGS: &[&str] = &[
    "hi", "hello", "hey", "dear", "bonjour", "bonsoir", "salut", "coucou", "cher", "chere",
    "hallo", "liebe", "lieber", "hola", "querido", "querida", "ciao", "caro", "cara", "hoi",
    "beste", "ola", "oi", "prezado", "prezada",
];

/// The length of a leading greeting word and the spaces after it, or 0.
fn greeting_len(chars: &[char]) -> usize {
    let word_len = chars.iter().take_while(|c| c.is_alphabetic()).count();
    let word: String = chars[..word_len].iter().copied().map(fold_char).collect();
    let spaces = chars[word_len..]
        .iter()
        .take_while(|c| c.is_whitespace())
        .count();
    if spaces > 0 && GREETINGS.contains(&word.as_str()) {
        word_len + spaces
    } else {
        0
    }
}

/// The words of a name: single letters become initials.
fn words_of(text: &str) -> Vec<Word> {
    fold_str(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_alphabetic() => Word::Initial(c),
                _ => Word::Full(w.to_string()),
            }
        })
        .collect()
}

/// The written forms of a name of two or more words: as given, last name
/// first, with initials for the first names, first and last name only,
/// and the last name as an initial ("Jean D.").
fn name_variants(words: &[Word]) -> Vec<Vec<Word>> {
    let initial = |w: &Word| match w {
        Word::Full(text) => Word::Initial(text.chars().next().unwrap_or(' ')),
        Word::Initial(c) => Word::Initial(*c),
    };
    let (last, rest) = words.split_last().expect("two or more words");
    let first = &rest[0];
    let mut variants = vec![words.to_vec()];
    let mut last_first = vec![last.clone()];
    last_first.extend(rest.iter().cloned());
    variants.push(last_first);
    let mut initials: Vec<Word> = rest.iter().map(initial).collect();
    initials.push(last.clone());
    variants.push(initials);
    if rest.len() > 1 {
        variants.push(vec![first.clone(), last.clone()]);
        variants.push(vec![initial(first), last.clone()]);
        variants.push(vec![last.clone(), first.clone()]);
    }
    if matches!(first, Word::Full(_)) && matches!(last, Word::Full(_)) {
        variants.push(vec![first.clone(), initial(last)]);
    }
    // A variant made of initials only would match "A. B." anywhere.
    variants.retain(|v| v.iter().any(|w| matches!(w, Word::Full(_))));
    variants.dedup();
    variants
}

/// A name of two or more words run together the way handles and file
/// names write it: first and last name ("jeandupont"), last and first
/// ("dupontjean"), the first initial and the last name ("jdupont").
fn joined_names(words: &[Word]) -> Vec<String> {
    let (Some(Word::Full(first)), Some(Word::Full(last))) = (words.first(), words.last()) else {
        return Vec::new();
    };
    let initial = first.chars().next().unwrap_or(' ');
    vec![
        format!("{first}{last}"),
        format!("{last}{first}"),
        format!("{initial}{last}"),
    ]
}

fn is_at_domain(address: &str, domain: &str) -> bool {
    address
        .trim()
        .trim_end_matches('>')
        .rsplit_once('@')
        .is_some_and(|(_, host)| host.eq_ignore_ascii_case(domain))
}

/// `local+tag@host` → `local@host`; other strings unchanged.
fn without_tag(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, host)) => {
            let base = local.split('+').next().unwrap_or(local);
            format!("{base}@{host}")
        }
        None => address.to_string(),
    }
}

/// Lower-cases, removes diacritics ("É" → "e") and unifies spaces, one
/// char for one char, so "Zébulon" and "ZEBULON" match the same needle.
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        // The common case, without the Unicode tables: the same answer
        // (ASCII's white space is tab to carriage return, and space).
        return match c {
            '\t'..='\r' | ' ' => ' ',
            _ => c.to_ascii_lowercase(),
        };
    }
    if c.is_whitespace() {
        return ' '; // "Jean&nbsp;Dupont" is still "Jean Dupont"
    }
    let lower = c.to_lowercase().next().unwrap_or(c);
    if lower.is_ascii() {
        return lower;
    }
    std::iter::once(lower).nfd().next().unwrap_or(lower)
}

/// Folds a needle the same way as the text it is searched in.
fn fold_str(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// Longest `+tag` matched in an address.
const MAX_TAG_CHARS: usize = 64;

/// The length of the address `needle` (folded, `local@host` or
/// `local%40host`) at `at` in `hay`, with or without a `+tag` after its
/// local part (`jean+news@corp.example`), not glued to other letters or
/// digits.
fn address_at(hay: &[char], at: usize, needle: &str) -> Option<usize> {
    let is_word = |c: &char| c.is_alphanumeric();
    if at > 0 && is_word(&hay[at - 1]) {
        return None;
    }
    let split = needle.find("%40").or_else(|| needle.find('@'))?;
    let (local, rest) = needle.split_at(split);
    let mut pos = at;
    let expect = |pos: &mut usize, text: &str| {
        text.chars().all(|c| {
            let ok = hay.get(*pos) == Some(&c);
            *pos += 1;
            ok
        })
    };
    if !expect(&mut pos, local) {
        return None;
    }
    if hay.get(pos) == Some(&'+') {
        pos += 1;
        let tag = hay[pos.min(hay.len())..]
            .iter()
            .take(MAX_TAG_CHARS)
            .take_while(|c| c.is_alphanumeric() || "._-".contains(**c))
            .count();
        pos += tag;
    }
    if !expect(&mut pos, rest) || hay.get(pos).is_some_and(is_word) {
        return None;
    }
    Some(pos - at)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An identity from (display name, address) pairs, a login and aliases,
    /// with the notify address `jd1987@home.example`.
    pub(crate) fn identity_of(
        submitted: &[(&str, &str)],
        account: &str,
        aliases: &[&str],
    ) -> Identity {
        let submitted: Vec<(String, String)> = submitted
            .iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect();
        let aliases: Vec<String> = aliases.iter().map(|a| a.to_string()).collect();
        let mut id = Identity::new(
            &Sources {
                submitted: &submitted,
                mail_from: submitted.first().map_or("", |(_, a)| a.as_str()),
                account,
                notify: Some("jd1987@home.example"),
                aliases: &aliases,
            },
            "anon.example",
        );
        id.replace_with("someone@anon.example", "Quelqu'un");
        id
    }

    fn identity() -> Identity {
        identity_of(
            &[("Jean Dupont", "jean.dupont@corp.example")],
            "jeannot",
            &["J. Dupont"],
        )
    }

    #[test]
    fn ascii_folds_as_the_unicode_rules_fold_it() {
        for c in (0..128u8).map(char::from) {
            let by_the_tables = if c.is_whitespace() {
                ' '
            } else {
                c.to_lowercase().next().unwrap_or(c)
            };
            assert_eq!(fold_char(c), by_the_tables, "{c:?}");
        }
        assert_eq!(fold_str("Zébulon\u{a0}ÉTÉ"), "zebulon ete");
    }

    #[test]
    fn whole_names_and_addresses_with_their_variants() {
        let id = identity();
        let out = id.scrub(
            "Hi, JEAN DUPONT <Jean.Dupont@corp.example> and jd1987@home.example. Jeanne stays.",
        );
        assert_eq!(
            out,
            "Hi, Quelqu'un <someone@anon.example> and someone@anon.example. Jeanne stays."
        );
        for variant in [
            "Jéan DÛPONT",
            "Dupont Jean",
            "Dupont, Jean",
            "J. Dupont",
            "J.Dupont",
            "jean.dupont",
            "jean_dupont",
            "Jean D.",
            "jean.dupont%40corp.example",
            "Jean.Dupont+news@corp.example",
        ] {
            let out = id.scrub(&format!("x {variant} y"));
            assert!(
                out == "x Quelqu'un y" || out == "x someone@anon.example y",
                "{variant}: {out}"
            );
        }
    }

    /// A text larger than a window is searched window by window: what
    /// straddles a window's edge (mid-line in a text without line ends,
    /// over a line end otherwise), in multi-byte text, is found as a search
    /// of the whole text at once finds it.
    #[test]
    fn large_texts_are_searched_window_by_window_with_the_same_result() {
        let id = identity();
        let pieces = [
            "Jean Dupont",
            "jean.dupont%40corp.example",
            "Jéan DÛPONT",
            "Dupont, Jean",
            "jd1987@home.example",
            "é€漢",
            "xjean.dupont",
            "Jean\nDupont",
            "\nJean\n",
        ];
        let mut one_line = String::new();
        let mut lines = String::new();
        let mut n = 0usize;
        while one_line.len() < 3 * WINDOW + WINDOW / 3 {
            // Filler of varying length, so matches fall on every offset.
            let filler = "ça va ".repeat(n % 13);
            one_line.push_str(&format!("{filler}{} ", pieces[n % pieces.len()]));
            lines.push_str(&format!("{filler}{}\n", pieces[n % pieces.len()]));
            n += 1;
        }
        let one_line = one_line.replace('\n', " ");
        for text in [&one_line, &lines] {
            assert!(text.len() > 3 * WINDOW);
            for flowed in [None, Some(false), Some(true)] {
                let windowed = id.find_in(text, flowed);
                let whole = id.find_in_window(text, flowed);
                assert!(whole.len() > 1000, "{}", whole.len());
                assert_eq!(windowed, whole, "flowed {flowed:?}");
            }
        }
        let scrubbed = id.scrub(&lines).replace("xjean.dupont", "");
        assert!(
            !scrubbed.to_lowercase().contains("dupont"),
            "{}",
            &scrubbed[..2000]
        );
        assert!(scrubbed.contains("é€漢"));
    }

    #[test]
    fn one_letter_and_short_logins_never_replace_words() {
        for (address, account) in [("a@corp.example", "a"), ("jo@corp.example", "jo")] {
            let id = identity_of(&[("", address)], account, &[]);
            let text = "a cat and a dog, jo-jo the clown, Jo said a word";
            assert_eq!(id.scrub(text), text, "{address}");
            assert!(!id.scrub(&format!("write to {address}")).contains(address));
        }
    }

    #[test]
    fn single_common_words_are_left_alone() {
        let id = identity_of(&[("", "contact@corp.example")], "contact", &[]);
        let text = "Prends contact avec Paul. Contact: demain.";
        assert_eq!(id.scrub(text), text);
        let id = identity_of(&[("Alice Martin", "alice.martin@corp.example")], "", &[]);
        for text in [
            "To: Alice Dupont",
            "Martin viendra",
            "a martin flew",
            "A Martin",
        ] {
            assert_eq!(id.scrub(text), text);
        }
        for text in [
            "Alice Martin",
            "Martin Alice",
            "A. Martin",
            "alice_martin",
            "alice.martin",
        ] {
            assert_eq!(id.scrub(text), "Quelqu'un", "{text}");
        }
    }

    #[test]
    fn a_first_name_alone_on_a_line_is_a_sign_off() {
        let id = identity();
        assert_eq!(id.scrub("Cheers,\nJean\n"), "Cheers,\nQuelqu'un\n");
        assert_eq!(
            id.scrub("Jean viendra.\n-- Jean,"),
            "Jean viendra.\n-- Quelqu'un,"
        );
        assert_eq!(
            id.scrub("Bonjour Jean,\nLiebe Jean"),
            "Bonjour Quelqu'un,\nLiebe Quelqu'un"
        );
        assert_eq!(
            id.scrub("Hi Jean, Jean was here"),
            "Hi Quelqu'un, Jean was here"
        );
        // A one-word login could be any word: never on its own.
        assert_eq!(id.scrub("Jeannot\nok"), "Jeannot\nok");
    }

    #[test]
    fn invisible_characters_do_not_split_a_name() {
        let id = identity();
        for text in [
            "x Je\u{AD}an Du\u{AD}pont y",
            "x Jean\u{200B} Dupont y",
            "x J\u{200C}ean D\u{200D}upont y",
            "x Jean\u{2060}\u{FEFF}Dupont y",
        ] {
            assert_eq!(id.scrub(text), "x Quelqu'un y", "{text:?}");
        }
        assert_eq!(id.scrub("Je\u{AD}an\n"), "Quelqu'un\n");
        // A soft hyphen inside another word does not end a name there.
        let text = "Jean\u{AD}ne et Jean\u{AD}nette";
        assert_eq!(id.scrub(text), text);
    }

    #[test]
    fn a_flowed_soft_break_does_not_split_a_name() {
        let id = identity();
        assert_eq!(
            id.scrub_flowed("Merci Jean \nDupont.\n", false),
            "Merci Quelqu'un.\n"
        );
        assert_eq!(
            id.scrub_flowed("> Merci Jean Du \n> pont.\n", true),
            "> Merci Quelqu'un.\n"
        );
        // Not flowed, or a change of quote level: the lines stay apart.
        let text = "Merci Jean \n> > Dupont a dit.\n";
        assert_eq!(id.scrub(text), text);
        let text = "Voici Jean \n> Martin a dit\n";
        assert_eq!(id.scrub_flowed(text, false), text);
        // A sign-off on its own written line after a soft break still goes.
        assert_eq!(
            id.scrub_flowed("Merci, \nJean\n", false),
            "Merci, \nQuelqu'un\n"
        );
    }

    #[test]
    fn the_senders_address_forms_go_whole_at_any_domain() {
        let id = identity();
        for variant in [
            "jean_dupont@gmail.example",
            "dupont.jean@yahoo.example",
            "jdupont@outlook.example",
            "jean-dupont@proton.example",
            "JeanDupont@proton.example",
            "j.dupont+x@home.example",
            "jeannot1@x.example",
        ] {
            let out = id.scrub(&format!("<{variant}>"));
            let expected = if variant.starts_with("jeannot") {
                format!("<{variant}>") // a one-word login is an ordinary word
            } else {
                "<someone@anon.example>".to_string()
            };
            assert_eq!(out, expected, "{variant}");
        }
        // File names write the name run together or last name first.
        for name in ["JeanDupont_CV.pdf", "Dupont_Jean_CV.pdf", "CV-J.Dupont.pdf"] {
            let out = id.scrub(name);
            assert!(!out.to_lowercase().contains("dupont"), "{name}: {out}");
            assert!(out.ends_with(".pdf"), "{name}: {out}");
        }
        let id = identity_of(&[("", "jd1987@home.example")], "", &[]);
        assert_eq!(id.scrub("jd1987@elsewhere.example"), "someone@anon.example");
        for other in [
            "jean@gmail.example",
            "paul.dupont@x.example",
            "dupont@x.example",
        ] {
            assert_eq!(identity().scrub(other), other);
        }
    }

    #[test]
    fn names_in_urls_are_replaced_percent_encoded() {
        let id = identity();
        assert_eq!(
            id.scrub("see https://x.example/u/jean.dupont?ref=jean%20dupont&q=Jean+Dupont now"),
            "see https://x.example/u/Quelqu%27un?ref=Quelqu%27un&q=Quelqu%27un now"
        );
        assert_eq!(
            id.scrub("mailto:Jean.Dupont%40corp.example?subject=J%C3%A9an%20Dupont"),
            "mailto:someone@anon.example?subject=Quelqu%27un"
        );
        // Outside a URL the pseudonym is written as is; innocent escapes stay.
        assert_eq!(id.scrub("jean%20dupont"), "Quelqu'un");
        let url = "https://x.example/a%20b/%C3%A9t%C3%A9?q=100%25";
        assert_eq!(id.scrub(url), url);
    }

    #[test]
    fn declared_aliases_count_whole() {
        let id = identity_of(&[("", "x@corp.example")], "", &["Zebulon", "Le Grand Z"]);
        assert_eq!(id.scrub("Dis à Zebulon"), "Dis à Quelqu'un");
        assert_eq!(id.scrub("c'est le grand z!"), "c'est Quelqu'un!");
        assert!(id.is_own_address("JD1987+x@Home.example"));
        assert!(!id.is_own_address("jd1988@home.example"));
    }

    #[test]
    fn addresses_carrying_the_senders_name_are_told_apart() {
        let id = identity();
        for named in [
            "jean.dupont@gmail.example",
            "Dupont_Jean@yahoo.example",
            "jdupont+list@home.example",
            " JeanDupont@proton.example ",
        ] {
            assert!(id.has_senders_name(named), "{named}");
        }
        for other in [
            "paul.dupont@x.example",
            "jean@x.example",
            "dupont@x.example",
            "jean.dupont.fan@x.example",
            "jean.dupont@localhost",
            "bob@example.test",
        ] {
            assert!(!id.has_senders_name(other), "{other}");
        }
    }
}
