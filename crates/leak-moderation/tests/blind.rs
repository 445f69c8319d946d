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

/// (file, lang, blocked ≥, caught or held ≥, benign blocked ≤, benign held ≤),
/// in percent, as measured once: A-fr 60.0/85.6/4.2/3.7, A-en 55.6/79.4/3.2/4.3,
/// B-fr 65.5/92.0/3.1/5.6, B-en 66.2/86.9/3.6/3.6.
const SETS: [(&str, &str, f64, f64, f64, f64); 4] = [
    (include_str!("fixtures/blind/blind-A-fr.tsv"), "fr", 58.0, 84.0, 5.5, 5.0),
    (include_str!("fixtures/blind/blind-A-en.tsv"), "en", 54.0, 78.0, 4.5, 5.5),
    (include_str!("fixtures/blind/blind-B-fr.tsv"), "fr", 64.0, 90.0, 4.5, 7.0),
    (include_str!("fixtures/blind/blind-B-en.tsv"), "en", 64.0, 85.0, 5.0, 5.0),
];

#[test]
fn blind_sets_stay_at_their_measured_figures() {
    let classifier = Classifier::builtin();
    for (index, (text, lang, blocked, caught, blocked_fp, held_fp)) in SETS.iter().enumerate() {
        let mut report = Report::default();
        for line in parse_tsv(text).expect("blind set parses") {
            let decision = classifier.decide(&Input {
                subject: "",
                text: &line.text,
                pseudonym: "",
            });
            report.add(&line.lang, &line.category, line.abusive, decision.outcome);
        }
        let t = report.by_lang[*lang];
        let set = format!("set {index} ({lang}): {t:?}");
        assert!(t.blocked_recall().unwrap_or(0.0) >= *blocked, "{set}");
        assert!(t.caught_or_held().unwrap_or(0.0) >= *caught, "{set}");
        assert!(t.blocked_fp().unwrap_or(100.0) <= *blocked_fp, "{set}");
        assert!(t.held_fp().unwrap_or(100.0) <= *held_fp, "{set}");
    }
}
