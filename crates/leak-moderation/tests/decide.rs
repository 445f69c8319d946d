//! The full decision (rules + learned model) on `fixtures/heldout.tsv`: not
//! in the model's training data, but seen while the rules were tuned, so
//! these are regression floors, not a blind measurement (see
//! `docs/moderation.md`). Floors sit just under the measured figures.

use leak_moderation::eval::Report;
use leak_moderation::learned::train::parse_tsv;
use leak_moderation::{Classifier, Input};

const HELDOUT: &str = include_str!("fixtures/heldout.tsv");

#[test]
fn heldout_floors_with_the_learned_stage() {
    let classifier = Classifier::builtin();
    let mut report = Report::default();
    for line in parse_tsv(HELDOUT).expect("heldout parses") {
        let decision = classifier.decide(&Input {
            subject: "",
            text: &line.text,
            pseudonym: "",
        });
        report.add(&line.lang, &line.category, line.abusive, decision.outcome);
    }
    println!("{}", report.table());
    // (lang, caught or held, blocked) floors in percent; no benign line
    // blocked, at most 6 of 70 held (8.6 %; the blind target is 8 %). Measured
    // with the model trained on writers 1-6: en 70.0 / 100.0, fr 77.1 /
    // 91.4 (blocked / caught or held), 0 benign blocked, 0 and 2 held; with
    // the model trained on writers 1-9: en 72.9 / 100.0, fr 71.4 / 91.4,
    // 0 benign blocked, 0 and 2 held; with the model trained on writers
    // 1-17: en 70.0 / 98.6, fr 67.1 / 91.4, 0 benign blocked, 0 and 4
    // held (more held, fewer blocked, as on every blind set); with the
    // model trained on writers 1-25: en 77.1 / 98.6, fr 67.1 / 88.6, 0
    // benign blocked, 0 and 6 held (French: a news report of a stabbing,
    // a slur painted on a car reported to the police, "mon petit
    // couillon", a jester in a school play, a long dance video, a child
    // with Down syndrome; 8.6 % of this set's 70, over the blind target's
    // 8 %, left as measured rather than tuned); with the model trained on
    // writers 1-33: en 78.6 / 98.6, fr 65.7 / 88.6, 0 benign blocked, 0
    // and 6 held. The
    // rules' hits the model would allow are held, not blocked: 21 English
    // insults of this set the rules were tuned on moved from block to hold.
    for (lang, caught, blocked) in [("en", 98.0, 77.0), ("fr", 87.5, 64.5)] {
        let t = report.by_lang[lang];
        assert!(t.caught_or_held().unwrap_or(0.0) >= caught, "{lang}: {t:?}");
        assert!(
            t.blocked_recall().unwrap_or(0.0) >= blocked,
            "{lang}: {t:?}"
        );
        assert_eq!(t.benign_blocked, 0, "{lang}: {t:?}");
        assert!(t.benign_held <= 6, "{lang}: {t:?}");
    }
}
