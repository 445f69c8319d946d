//! Measures the shipped classifier (model + rules, `Classifier::decide`) on
//! labelled TSV files, grouped by file: the same figures as `leak moderation
//! eval`, plus *why* benign lines were blocked or held (the rules, the model,
//! or both), which `eval` does not say.
//!
//!     cargo run --release -p leak-moderation --example measure -- FILE.tsv...
//!
//! Used to measure new writers' lines before they join the training data
//! (an out-of-sample figure) and to diagnose wrongly blocked benign lines
//! by cause rather than line by line.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use leak_moderation::eval::Report;
use leak_moderation::learned::model::Model;
use leak_moderation::learned::train::parse_tsv;
use leak_moderation::{model_outcome, Classifier, Input, Outcome, Verdict};

/// Benign lines blocked or held, by cause.
#[derive(Default)]
struct Causes {
    benign: usize,
    /// Blocked by the rules while the model would have allowed.
    rules_only: usize,
    /// Blocked by the rules while the model would also have held or blocked.
    rules_and_model: usize,
    /// Blocked by the model alone.
    model_block: usize,
    /// Held (always the model).
    model_hold: usize,
    /// Of `rules_only`, the matched rules' categories.
    rule_categories: BTreeMap<String, usize>,
}

fn main() -> ExitCode {
    let classifier = Classifier::builtin();
    let shipped = Model::builtin();
    let mut report = Report::default();
    let mut causes: BTreeMap<String, Causes> = BTreeMap::new();
    for file in std::env::args().skip(1) {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let lines = match parse_tsv(&text) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let stem = Path::new(&file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let writer = stem.rsplit('-').next().unwrap_or(stem);
        for line in lines {
            let group = format!("{}/{writer}", line.lang);
            let d = classifier.decide(&Input {
                subject: "",
                text: &line.text,
                pseudonym: "",
            });
            report.add(&group, &line.category, line.abusive, d.outcome);
            if line.abusive {
                continue;
            }
            let c = causes.entry(group).or_default();
            c.benign += 1;
            // What the model alone would have done (ignoring the abstention
            // on other languages, which the rules' hits do not depend on).
            let (_, features) = shipped.score_skipping(&line.text, &[]);
            let model = model_outcome(d.score, features.words, shipped.thresholds(d.lang));
            match (&d.rules, d.outcome) {
                (Verdict::Block { category, .. }, _) => {
                    if model == Outcome::Allow {
                        c.rules_only += 1;
                        *c.rule_categories.entry(category.to_string()).or_default() += 1;
                    } else {
                        c.rules_and_model += 1;
                    }
                }
                (Verdict::Allow, Outcome::Block) => c.model_block += 1,
                (Verdict::Allow, Outcome::Hold) => c.model_hold += 1,
                (Verdict::Allow, Outcome::Allow) => {}
            }
        }
    }
    println!("{}", report.table());
    println!("| group | benign | blocked: rules only | blocked: rules and model | blocked: model only | held (model) | rules-only by category |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (group, c) in &causes {
        let cats: Vec<String> = c
            .rule_categories
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "| {group} | {} | {} | {} | {} | {} | {} |",
            c.benign,
            c.rules_only,
            c.rules_and_model,
            c.model_block,
            c.model_hold,
            cats.join(", ")
        );
    }
    ExitCode::SUCCESS
}
