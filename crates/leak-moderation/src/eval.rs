//! Measuring the classifier on a labelled TSV: recall per language and per
//! category (blocked; caught-or-held), and the benign lines blocked and held,
//! as a text table and as JSON. `leak moderation eval FILE.tsv` and the
//! trainer's cross-validation report both print through here.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::decide::Outcome;

/// Counts for one group of lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub abusive: usize,
    pub blocked: usize,
    /// Abusive lines held (not blocked).
    pub held: usize,
    pub benign: usize,
    pub benign_blocked: usize,
    pub benign_held: usize,
}

impl Tally {
    fn add(&mut self, abusive: bool, outcome: Outcome) {
        let (block, hold) = (outcome == Outcome::Block, outcome == Outcome::Hold);
        if abusive {
            self.abusive += 1;
            self.blocked += usize::from(block);
            self.held += usize::from(hold);
        } else {
            self.benign += 1;
            self.benign_blocked += usize::from(block);
            self.benign_held += usize::from(hold);
        }
    }

    /// Share of abusive lines blocked, in percent (`None` without any).
    pub fn blocked_recall(&self) -> Option<f64> {
        pct(self.blocked, self.abusive)
    }
    /// Share of abusive lines blocked or held, in percent.
    pub fn caught_or_held(&self) -> Option<f64> {
        pct(self.blocked + self.held, self.abusive)
    }
    /// Share of benign lines blocked, in percent.
    pub fn blocked_fp(&self) -> Option<f64> {
        pct(self.benign_blocked, self.benign)
    }
    /// Share of benign lines held, in percent.
    pub fn held_fp(&self) -> Option<f64> {
        pct(self.benign_held, self.benign)
    }
}

fn pct(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| 100.0 * n as f64 / d as f64)
}

/// Tallies per language and per (language, category).
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub by_lang: BTreeMap<String, Tally>,
    pub by_category: BTreeMap<(String, String), Tally>,
}

impl Report {
    /// Counts one line.
    pub fn add(&mut self, lang: &str, category: &str, abusive: bool, outcome: Outcome) {
        self.by_lang
            .entry(lang.to_owned())
            .or_default()
            .add(abusive, outcome);
        self.by_category
            .entry((lang.to_owned(), category.to_owned()))
            .or_default()
            .add(abusive, outcome);
    }

    /// A Markdown table: one row per language, then per language and category.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| lang | category | abusive | blocked | caught or held | benign | blocked FP | held FP |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} %"));
        let mut row = |lang: &str, category: &str, t: &Tally| {
            let _ = writeln!(
                out,
                "| {lang} | {category} | {} | {} | {} | {} | {} | {} |",
                t.abusive,
                cell(t.blocked_recall()),
                cell(t.caught_or_held()),
                t.benign,
                cell(t.blocked_fp()),
                cell(t.held_fp()),
            );
        };
        for (lang, t) in &self.by_lang {
            row(lang, "(all)", t);
        }
        for ((lang, category), t) in &self.by_category {
            row(lang, category, t);
        }
        out
    }

    /// The same figures as JSON: `{"by_lang": {...}, "by_category": {"en": {...}}}`.
    pub fn json(&self) -> String {
        let mut out = String::from("{\"by_lang\":{");
        for (i, (lang, t)) in self.by_lang.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(out, "{sep}{}:{}", quote(lang), tally_json(t));
        }
        out.push_str("},\"by_category\":{");
        let mut last_lang: Option<&str> = None;
        for ((lang, category), t) in &self.by_category {
            match last_lang {
                Some(l) if l == lang => out.push(','),
                Some(_) => {
                    let _ = write!(out, "}},{}:{{", quote(lang));
                }
                None => {
                    let _ = write!(out, "{}:{{", quote(lang));
                }
            }
            last_lang = Some(lang);
            let _ = write!(out, "{}:{}", quote(category), tally_json(t));
        }
        if last_lang.is_some() {
            out.push('}');
        }
        out.push_str("}}");
        out
    }
}

fn tally_json(t: &Tally) -> String {
    let num = |v: Option<f64>| v.map_or("null".to_owned(), |v| format!("{v:.2}"));
    format!(
        "{{\"abusive\":{},\"blocked\":{},\"held\":{},\"benign\":{},\"benign_blocked\":{},\
         \"benign_held\":{},\"blocked_recall_pct\":{},\"caught_or_held_pct\":{},\
         \"blocked_fp_pct\":{},\"held_fp_pct\":{}}}",
        t.abusive,
        t.blocked,
        t.held,
        t.benign,
        t.benign_blocked,
        t.benign_held,
        num(t.blocked_recall()),
        num(t.caught_or_held()),
        num(t.blocked_fp()),
        num(t.held_fp()),
    )
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_and_renders() {
        let mut r = Report::default();
        r.add("fr", "threat", true, Outcome::Block);
        r.add("fr", "threat", true, Outcome::Hold);
        r.add("fr", "threat", true, Outcome::Allow);
        r.add("fr", "love", false, Outcome::Hold);
        r.add("fr", "love", false, Outcome::Allow);
        r.add("en", "x\"y", false, Outcome::Block);
        let fr = r.by_lang["fr"];
        assert_eq!(fr.blocked_recall().map(|v| v.round()), Some(33.0));
        assert_eq!(fr.caught_or_held().map(|v| v.round()), Some(67.0));
        assert_eq!(fr.held_fp(), Some(50.0));
        assert_eq!(fr.blocked_fp(), Some(0.0));
        assert!(r
            .table()
            .contains("| fr | threat | 3 | 33.3 % | 66.7 % | 0 | - | - |"));
        let json = r.json();
        assert!(
            json.starts_with("{\"by_lang\":{\"en\":{\"abusive\":0"),
            "{json}"
        );
        assert!(json.contains("\"x\\\"y\":{"), "{json}");
        assert!(json.contains("},\"fr\":{\"love\":"), "{json}");
        assert!(json.ends_with("}}}}"), "{json}");
    }
}
