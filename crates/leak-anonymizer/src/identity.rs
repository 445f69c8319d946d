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
//! matched as written, with or without a `+tag`, and URL-encoded (`%40`).
//!
//! The pseudonym itself is chosen in `pseudonym.rs`.

use unicode_normalization::UnicodeNormalization;

/// Characters that may separate the words of a name ("Jean Dupont",
/// "jean.dupont", "jean_dupont", "Dupont, Jean", "Jean-Pierre").
const NAME_SEPARATORS: &[char] = &[' ', '.', '_', '-', ','];

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
    /// there as whole words.
    fn match_at(&self, hay: &[char], at: usize) -> Option<usize> {
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
                if pos == start && !after_initial {
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
}

/// Where an identifying string was found: char offsets in the text, and
/// whether it is an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) is_address: bool,
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
        self.addresses.push(folded.replacen('@', "%40", 1));
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
    }

    /// True when `address` is one of the sender's real addresses (any case,
    /// with or without a `+tag`).
    pub(crate) fn is_own_address(&self, address: &str) -> bool {
        let wanted = without_tag(&fold_str(address.trim()));
        self.addresses.iter().any(|own| without_tag(own) == wanted)
    }

    /// True when `text` mentions any identifying name or address, or any
    /// single word of the sender's names.
    pub(crate) fn is_mentioned_in(&self, text: &str) -> bool {
        let folded = fold(text);
        !self.find(text).is_empty()
            || folded
                .split(|c| !c.is_alphanumeric())
                .map(|w| w.iter().collect::<String>())
                .any(|w| self.standalone.contains(&w))
    }

    /// Every identifying string in `text`, left to right, not overlapping:
    /// addresses and names anywhere, single name words on a line of their
    /// own.
    pub(crate) fn find(&self, text: &str) -> Vec<Found> {
        let mut found = self.find_whole(text);
        self.find_standalone(text, &mut found);
        found
    }

    /// Every identifying address and whole name in `text`, without the
    /// single words alone on a line: for a subject, which is not a
    /// sign-off.
    fn find_whole(&self, text: &str) -> Vec<Found> {
        let folded = fold(text);
        let mut found = Vec::new();
        let mut at = 0;
        while at < folded.len() {
            // Names and addresses start at a word boundary.
            let inside_word = at > 0 && folded[at - 1].is_alphanumeric();
            if inside_word {
                at += 1;
                continue;
            }
            match self.match_at(&folded, at) {
                Some((len, is_address)) => {
                    found.push(Found {
                        start: at,
                        end: at + len,
                        is_address,
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
    fn find_standalone(&self, text: &str, found: &mut Vec<Found>) {
        if self.standalone.is_empty() {
            return;
        }
        let mut line_start = 0;
        for line in text.split('\n') {
            let chars: Vec<char> = line.chars().collect();
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

    /// Replaces the addresses and whole names in a one-line phrase (a
    /// subject), where a single word of a name is not a sign-off.
    pub(crate) fn scrub_phrase(&self, text: &str) -> String {
        self.replace(text, &self.find_whole(text))
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

    /// What a found string is replaced with.
    pub(crate) fn replacement_for(&self, found: &Found) -> &str {
        if found.is_address {
            &self.replacement_address
        } else {
            &self.replacement_name
        }
    }

    /// The length (in chars) of the longest identifying string starting at
    /// `at`, and whether it is an address.
    fn match_at(&self, folded: &[char], at: usize) -> Option<(usize, bool)> {
        let address = self
            .addresses
            .iter()
            .find_map(|needle| address_at(folded, at, needle));
        if let Some(len) = address {
            return Some((len, true));
        }
        self.patterns
            .iter()
            .filter_map(|pattern| pattern.match_at(folded, at))
            .max()
            .map(|len| (len, false))
    }
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

/// Lower-cases `text` one char for one char, so positions in the folded
/// text are positions in the original.
fn fold(text: &str) -> Vec<char> {
    text.chars().map(fold_char).collect()
}

/// Lower-cases, removes diacritics ("É" → "e") and unifies spaces, one
/// char for one char, so "Zébulon" and "ZEBULON" match the same needle.
fn fold_char(c: char) -> char {
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
    fn declared_aliases_count_whole() {
        let id = identity_of(&[("", "x@corp.example")], "", &["Zebulon", "Le Grand Z"]);
        assert_eq!(id.scrub("Dis à Zebulon"), "Dis à Quelqu'un");
        assert_eq!(id.scrub("c'est le grand z!"), "c'est Quelqu'un!");
        assert!(id.is_own_address("JD1987+x@Home.example"));
        assert!(!id.is_own_address("jd1988@home.example"));
    }
}
