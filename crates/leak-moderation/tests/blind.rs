//! The four blind sets of the second wave (two writers, French and English),
//! written after the model was trained by writers who never saw the training
//! data, the rules or the model, and measured **once** each on 2026-12-04
//! (figures in `docs/moderation.md`, "Blind evaluation"). From now on they
//! are regression floors: they must never be added to the training data or
//! used to tune thresholds or rules, and a new blind measurement needs new
//! sets. Floors sit one or two points under the measured figures; ceilings
//! one or two points over.

use leak_moderation::eval::Report;
use leak_moderation::learned::train::parse_tsv;
use leak_moderation::{Classifier, Input};

/// One blind set and its floors and ceilings, in percent.
struct BlindSet {
    text: &'static str,
    lang: &'static str,
    blocked: f64,
    caught_or_held: f64,
    blocked_fp: f64,
    held_fp: f64,
}

/// Measured once: A-fr 60.0/85.6/4.2/3.7, A-en 55.6/79.4/3.2/4.3,
/// B-fr 65.5/92.0/3.1/5.6, B-en 66.2/86.9/3.6/3.6 (blocked, caught or held,
/// benign blocked, benign held).
const SETS: [BlindSet; 4] = [
    set(
        include_str!("fixtures/blind/blind-A-fr.tsv"),
        "fr",
        [58.0, 84.0, 5.5, 5.0],
    ),
    set(
        include_str!("fixtures/blind/blind-A-en.tsv"),
        "en",
        [54.0, 78.0, 4.5, 5.5],
    ),
    set(
        include_str!("fixtures/blind/blind-B-fr.tsv"),
        "fr",
        [64.0, 90.0, 4.5, 7.0],
    ),
    set(
        include_str!("fixtures/blind/blind-B-en.tsv"),
        "en",
        [64.0, 85.0, 5.0, 5.0],
    ),
];

const fn set(text: &'static str, lang: &'static str, bounds: [f64; 4]) -> BlindSet {
    BlindSet {
        text,
        lang,
        blocked: bounds[0],
        caught_or_held: bounds[1],
        blocked_fp: bounds[2],
        held_fp: bounds[3],
    }
}

#[test]
fn blind_sets_stay_at_their_measured_figures() {
    let classifier = Classifier::builtin();
    for (index, set) in SETS.iter().enumerate() {
        let mut report = Report::default();
        for line in parse_tsv(set.text).expect("blind set parses") {
            let decision = classifier.decide(&Input {
                subject: "",
                text: &line.text,
                pseudonym: "",
            });
            report.add(&line.lang, &line.category, line.abusive, decision.outcome);
        }
        let t = report.by_lang[set.lang];
        let what = format!("set {index} ({}): {t:?}", set.lang);
        assert!(t.blocked_recall().unwrap_or(0.0) >= set.blocked, "{what}");
        assert!(
            t.caught_or_held().unwrap_or(0.0) >= set.caught_or_held,
            "{what}"
        );
        assert!(t.blocked_fp().unwrap_or(100.0) <= set.blocked_fp, "{what}");
        assert!(t.held_fp().unwrap_or(100.0) <= set.held_fp, "{what}");
    }
}
