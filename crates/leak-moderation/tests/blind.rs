//! The blind sets of the second wave, French and English, each written
//! after the model it first measured was trained, by writers who never saw
//! the training data, the rules or the model, and measured **once** each on
//! 2026-12-04 and 2026-12-05 (figures in `docs/moderation.md`, "Blind
//! evaluation"): A and B against the model trained on writers 1-3, C and D
//! against the model trained on writers 1-6, E to H against the model
//! trained on writers 1-9, I to L against the model trained on writers
//! 1-17, M to P against the model trained on writers 1-25, Q to T
//! against the model trained on writers 1-33 (the shipped one). From now
//! on they
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

/// Measured blind once with the first model: A-fr 60.0/85.6/4.2/3.7, A-en
/// 55.6/79.4/3.2/4.3, B-fr 65.5/92.0/3.1/5.6, B-en 66.2/86.9/3.6/3.6
/// (blocked, caught or held, benign blocked, benign held). With the model
/// trained on writers 1-6 (regression figures, no longer blind: these sets
/// were seen by the first measurement): A-fr
/// 65.0/89.4/1.1/6.8, A-en 65.6/79.4/1.6/4.9, B-fr 70.0/91.5/1.0/8.2, B-en
/// 71.7/88.4/1.5/5.1.
/// Sets C and D, measured once against the model trained on writers 1-6:
/// C-fr 62.2/89.4/1.1/3.9, C-en 70.6/85.0/0.0/5.6, D-fr 61.1/86.1/0.6/2.8,
/// D-en 57.8/80.6/0.0/2.2.
///
/// With the model trained on writers 1-9 (regression figures): A-fr
/// 66.1/88.3/1.6/5.3, A-en 62.2/83.9/2.2/5.4, B-fr 73.0/91.0/0.5/7.7,
/// B-en 72.2/91.9/1.0/7.1, C-fr 68.3/89.4/1.1/3.3, C-en 65.0/91.1/0.0/5.6,
/// D-fr 64.4/83.3/0.0/3.3, D-en 55.6/84.4/0.0/2.8.
/// Sets E to H, measured once against the model trained on writers 1-9 on
/// 2026-12-05: E-fr 65.6/85.0/1.1/4.4, F-fr 63.3/89.4/0.0/5.0, G-en
/// 65.0/91.1/0.6/5.6, H-en 63.9/88.3/0.0/5.6.
///
/// With the model trained on writers 1-17 (2026-12-05 14:05), about one point of margin
/// each (blocked and caught-or-held floors one point under, rounded down
/// to a half point; ceilings about one point over, rounded up): A-fr
/// 62.2/91.7/1.6/6.3, A-en 62.8/85.6/0.5/4.3, B-fr 66.5/93.5/0.5/6.6,
/// B-en 66.7/89.4/1.5/5.6, C-fr 66.7/91.1/0.6/3.9, C-en 59.4/90.0/0.0/6.7,
/// D-fr 65.0/89.4/0.0/2.2, D-en 56.1/87.8/0.0/2.2, E-fr 63.3/91.7/0.6/4.4,
/// F-fr 67.2/91.1/0.6/3.3, G-en 64.4/92.2/0.6/3.3, H-en 60.6/91.7/0.0/1.7.
/// Sets I to L, measured once against the model trained on writers 1-17
/// on 2026-12-05
/// (one line of L that also occurs in the training data left out before
/// the measurement): I-fr 64.4/93.3/0.0/5.6, J-fr 64.4/91.7/1.1/3.9, K-en
/// 63.3/91.7/0.6/5.0, L-en 66.7/91.7/0.6/4.5.
/// Sets M to P, measured once against the model trained on writers 1-25
/// on 2026-12-05 (five lines that share at least 60 % of their word
/// trigrams with a training or earlier blind line left out before the
/// measurement): M-fr 58.3/90.6/0.0/4.6, N-fr 71.7/93.3/0.5/3.5, O-en
/// 64.2/89.4/0.0/2.5, P-en 68.2/95.0/1.0/1.5.
///
/// With the model trained on writers 1-25 (2026-12-05 18:20 UTC): A-fr
/// 61.1/93.9/1.1/6.3, A-en 63.9/87.8/0.5/5.4, B-fr 68.0/93.0/1.0/5.1, B-en
/// 69.2/89.9/1.0/5.6, C-fr 69.4/93.3/0.6/3.3, C-en 63.9/89.4/0.0/4.4, D-fr
/// 63.3/88.9/0.0/2.8, D-en 61.1/85.6/0.0/1.7, E-fr 66.1/92.8/0.0/3.9, F-fr
/// 66.7/92.8/0.0/3.9, G-en 70.0/94.4/0.6/2.2, H-en 66.7/93.3/0.0/2.2, I-fr
/// 66.1/94.4/0.0/5.0, J-fr 63.9/93.3/1.1/3.9, K-en 70.0/92.2/0.6/4.4, L-en
/// 69.4/92.8/0.6/4.5.
/// Sets Q to T, measured once against the model trained on writers 1-33
/// on 2026-12-05 (eighteen lines that share at least 60 % of their word
/// trigrams with a training, corpus, heldout or earlier blind line left
/// out before the measurement): Q-fr 67.8/94.4/0.5/5.1, R-fr
/// 69.3/96.6/0.0/6.5, S-en 67.8/96.1/0.0/4.5, T-en 70.3/94.3/0.0/3.6.
///
/// The floors and ceilings below are the figures of the shipped model
/// (trained on writers 1-33, 2026-12-05 18:47 UTC), blocked and
/// caught-or-held floors about one point under (rounded down to a half
/// point), ceilings about one point over (rounded up): A-fr
/// 63.9/92.8/1.1/6.3, A-en 65.0/88.3/0.5/4.9, B-fr 69.0/92.5/1.0/5.1, B-en
/// 69.2/89.4/1.0/6.1, C-fr 72.8/93.3/0.6/3.3, C-en 61.7/90.0/0.0/3.9, D-fr
/// 64.4/90.0/0.0/2.8, D-en 60.6/88.9/0.0/2.8, E-fr 67.2/93.9/0.0/4.4, F-fr
/// 70.6/92.8/0.0/3.9, G-en 69.4/93.9/0.6/3.3, H-en 65.6/95.6/0.0/2.8, I-fr
/// 66.1/94.4/0.0/5.6, J-fr 65.6/93.9/1.1/3.9, K-en 68.3/92.8/0.6/4.4, L-en
/// 72.2/93.3/0.6/4.5, M-fr 61.7/92.8/0.0/2.0, N-fr 69.4/94.4/0.0/3.0, O-en
/// 64.2/89.4/0.0/2.5, P-en 69.3/96.1/0.5/2.5, and Q to T
/// as measured.
/// None of these sets is blind any more: they guard against regressions
/// only.
const SETS: [BlindSet; 24] = [
    set(
        include_str!("fixtures/blind/blind-A-fr.tsv"),
        "fr",
        [62.5, 91.5, 2.0, 7.5],
    ),
    set(
        include_str!("fixtures/blind/blind-A-en.tsv"),
        "en",
        [64.0, 87.0, 1.5, 6.0],
    ),
    set(
        include_str!("fixtures/blind/blind-B-fr.tsv"),
        "fr",
        [68.0, 91.5, 2.0, 6.0],
    ),
    set(
        include_str!("fixtures/blind/blind-B-en.tsv"),
        "en",
        [68.0, 88.0, 2.0, 7.0],
    ),
    set(
        include_str!("fixtures/blind/blind-C-fr.tsv"),
        "fr",
        [71.5, 92.0, 1.5, 4.5],
    ),
    set(
        include_str!("fixtures/blind/blind-C-en.tsv"),
        "en",
        [60.5, 89.0, 1.0, 5.0],
    ),
    set(
        include_str!("fixtures/blind/blind-D-fr.tsv"),
        "fr",
        [63.0, 89.0, 1.0, 4.0],
    ),
    set(
        include_str!("fixtures/blind/blind-D-en.tsv"),
        "en",
        [59.5, 87.5, 1.0, 4.0],
    ),
    set(
        include_str!("fixtures/blind/blind-E-fr.tsv"),
        "fr",
        [66.0, 92.5, 1.0, 5.5],
    ),
    set(
        include_str!("fixtures/blind/blind-F-fr.tsv"),
        "fr",
        [69.5, 91.5, 1.0, 5.0],
    ),
    set(
        include_str!("fixtures/blind/blind-G-en.tsv"),
        "en",
        [68.0, 92.5, 1.5, 4.5],
    ),
    set(
        include_str!("fixtures/blind/blind-H-en.tsv"),
        "en",
        [64.5, 94.5, 1.0, 4.0],
    ),
    set(
        include_str!("fixtures/blind/blind-I-fr.tsv"),
        "fr",
        [65.0, 93.0, 1.0, 6.5],
    ),
    set(
        include_str!("fixtures/blind/blind-J-fr.tsv"),
        "fr",
        [64.5, 92.5, 2.0, 5.0],
    ),
    set(
        include_str!("fixtures/blind/blind-K-en.tsv"),
        "en",
        [67.0, 91.5, 1.5, 5.5],
    ),
    set(
        include_str!("fixtures/blind/blind-L-en.tsv"),
        "en",
        [71.0, 92.0, 1.5, 5.5],
    ),
    set(
        include_str!("fixtures/blind/blind-M-fr.tsv"),
        "fr",
        [60.5, 91.5, 1.0, 3.0],
    ),
    set(
        include_str!("fixtures/blind/blind-N-fr.tsv"),
        "fr",
        [68.0, 93.0, 1.0, 4.0],
    ),
    set(
        include_str!("fixtures/blind/blind-O-en.tsv"),
        "en",
        [63.0, 88.0, 1.0, 3.5],
    ),
    set(
        include_str!("fixtures/blind/blind-P-en.tsv"),
        "en",
        [68.0, 95.0, 1.5, 3.5],
    ),
    set(
        include_str!("fixtures/blind/blind-Q-fr.tsv"),
        "fr",
        [66.5, 93.0, 1.5, 6.0],
    ),
    set(
        include_str!("fixtures/blind/blind-R-fr.tsv"),
        "fr",
        [68.0, 95.5, 1.0, 7.5],
    ),
    set(
        include_str!("fixtures/blind/blind-S-en.tsv"),
        "en",
        [66.5, 95.0, 1.0, 5.5],
    ),
    set(
        include_str!("fixtures/blind/blind-T-en.tsv"),
        "en",
        [69.0, 93.0, 1.0, 4.5],
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
    let mut tallies = Vec::new();
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
        println!(
            "set {index} ({}): {t:?} {:?} {:?} {:?} {:?}",
            set.lang,
            t.blocked_recall(),
            t.caught_or_held(),
            t.blocked_fp(),
            t.held_fp()
        );
        tallies.push((index, set, t));
    }
    for (index, set, t) in tallies {
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
