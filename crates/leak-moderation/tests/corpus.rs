//! Accuracy on the labelled corpus: recall on abusive messages and false
//! positives on benign ones, per language.
//!
//! `fixtures/corpus.tsv` is the tuning set (the lexicons were tuned while
//! looking at its failures, with words and short phrases only, never whole
//! sentences); the thresholds (recall >= 95 %, false positives
//! <= 2 % per language) apply to it. `fixtures/heldout.tsv` was written
//! after tuning stopped and measured once; its test asserts floors just under
//! that measurement, so over-fitting and regressions both show.

use std::collections::BTreeMap;

use leak_moderation::{Classifier, Input, Verdict};

const DEV: &str = include_str!("fixtures/corpus.tsv");
const HELDOUT: &str = include_str!("fixtures/heldout.tsv");

/// Counts for one language: abusive caught / total, benign blocked / total.
#[derive(Default, Debug)]
struct Score {
    abusive: usize,
    caught: usize,
    benign: usize,
    blocked: usize,
    misses: Vec<String>,
}

impl Score {
    fn recall(&self) -> f64 {
        self.caught as f64 / self.abusive.max(1) as f64
    }
    fn false_positive_rate(&self) -> f64 {
        self.blocked as f64 / self.benign.max(1) as f64
    }
}

fn score(c: &Classifier, corpus: &str, scores: &mut BTreeMap<String, Score>) {
    for line in corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut cols = line.splitn(3, '\t');
        let (Some(lang), Some(label), Some(text)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("bad corpus line: {line:?}");
        };
        let verdict = c.classify(&Input {
            subject: "",
            text,
            pseudonym: "",
        });
        let blocked = matches!(verdict, Verdict::Block { .. });
        let s = scores.entry(lang.to_owned()).or_default();
        match label {
            "abusive" => {
                s.abusive += 1;
                s.caught += usize::from(blocked);
                if !blocked {
                    s.misses.push(format!("missed: {text}"));
                }
            }
            "benign" => {
                s.benign += 1;
                s.blocked += usize::from(blocked);
                if let Verdict::Block { matched, .. } = verdict {
                    s.misses
                        .push(format!("false positive: {text}  <- {matched}"));
                }
            }
            other => panic!("bad label {other:?}"),
        }
    }
}

fn report(name: &str, scores: &BTreeMap<String, Score>) {
    for (lang, s) in scores {
        println!(
            "{name} {lang}: recall {:.1}% ({}/{}), false positives {:.1}% ({}/{})",
            100.0 * s.recall(),
            s.caught,
            s.abusive,
            100.0 * s.false_positive_rate(),
            s.blocked,
            s.benign
        );
        s.misses.iter().for_each(|m| println!("  {m}"));
    }
}

/// Scores one fixture file and prints the per-language report.
fn measure(name: &str, corpus: &str) -> BTreeMap<String, Score> {
    let c = Classifier::builtin();
    let mut scores = BTreeMap::new();
    score(&c, corpus, &mut scores);
    report(name, &scores);
    scores
}

#[test]
fn tuning_corpus_accuracy_per_language() {
    let dev = measure("tuning", DEV);
    for lang in ["en", "fr"] {
        let s = &dev[lang];
        assert!(
            s.abusive >= 150 && s.benign >= 150,
            "{lang}: corpus too small: {s:?}"
        );
        assert!(
            s.recall() >= 0.95,
            "{lang}: recall {:.3} < 0.95",
            s.recall()
        );
        assert!(
            s.false_positive_rate() <= 0.02,
            "{lang}: FP {:.3} > 0.02",
            s.false_positive_rate()
        );
    }
}

/// Floors for the held-out set: what was measured the one time it was run
/// (see `fixtures/heldout.tsv`), minus a margin of about two messages, so
/// that a change which makes the classifier generalise worse fails here.
/// Ninth held-out set (written blind, realistic traffic in settings the
/// earlier sets did not use), measured once: en recall 62/70, FP 0/70; fr
/// recall 54/70, FP 0/70. Floors: recall 60/70 (en) and 52/70 (fr), FP at
/// most 2/70.
/// (language, minimum recall, maximum false-positive rate)
const HELDOUT_FLOORS: [(&str, f64, f64); 2] = [("en", 0.85, 0.029), ("fr", 0.74, 0.029)];

#[test]
fn heldout_accuracy_stays_above_measured_floor() {
    let held = measure("held-out", HELDOUT);
    for (lang, min_recall, max_fp) in HELDOUT_FLOORS {
        let s = &held[lang];
        assert!(
            s.abusive >= 60 && s.benign >= 60,
            "{lang}: held-out set too small: {s:?}"
        );
        assert!(
            s.recall() >= min_recall,
            "{lang}: held-out recall {:.3} < floor {min_recall}",
            s.recall()
        );
        assert!(
            s.false_positive_rate() <= max_fp,
            "{lang}: held-out FP {:.3} > ceiling {max_fp}",
            s.false_positive_rate()
        );
    }
}
