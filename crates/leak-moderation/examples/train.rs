//! Trains the learned first stage and writes `model/weights.bin`.
//!
//! Run with `scripts/train-moderation.sh` (or `cargo run --release -p
//! leak-moderation --example train -- [--check] [--dry-run]`).
//!
//! Reads every `data/train/*.tsv` (sorted by name) and
//! `tests/fixtures/corpus.tsv`, drops duplicates, cross-validates (5 folds)
//! to choose the per-language thresholds, fits on everything, and prints the
//! cross-validated figures (model alone and combined with the rules) as a
//! Markdown table. Then it checks parity: every training line scored by the
//! trainer (`f64` weights) and by the shipped scorer reading the written
//! file (`f32` weights, features recomputed from the text) must agree within
//! 1e-5.
//!
//! `--check` writes nothing: it retrains and fails unless the result is
//! byte for byte the shipped file. `--dry-run` writes nothing either (for
//! trying `--epochs N`, `--lr X`, `--l2 X`). `--by-writer` adds a harder
//! figure: for each writer (the `wN` at the end of a file name; the corpus
//! is one more), a model trained (thresholds included) on the other
//! writers' lines alone, measured on that writer's lines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use leak_moderation::eval::Report;
use leak_moderation::learned::model::Model;
use leak_moderation::learned::train::{self, Example, Options, Run};
use leak_moderation::{combined_outcome, model_outcome, Classifier, Input, Outcome, Verdict};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<f64>().expect("a number"))
    };
    let mut opts = Options::default();
    if let Some(v) = value("--epochs") {
        opts.epochs = v as usize;
    }
    if let Some(v) = value("--lr") {
        opts.learning_rate = v;
    }
    if let Some(v) = value("--l2") {
        opts.l2 = v;
    }
    if let Some(v) = value("--block-fp") {
        opts.block_fp = v;
    }
    if let Some(v) = value("--hold-fp") {
        opts.hold_fp = v;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = match load(dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let run = train::train(&examples, &opts);
    eprintln!(
        "trained in {:.1} s ({opts:?})",
        started.elapsed().as_secs_f64()
    );
    report(&examples, &run);
    if flag("--by-writer") {
        by_writer(&examples, &opts);
    }
    let bytes = run.model.to_bytes();
    if !parity(&examples, &run, &bytes) {
        return ExitCode::FAILURE;
    }
    let out = dir.join("model/weights.bin");
    if flag("--check") {
        let shipped = std::fs::read(&out).unwrap_or_default();
        if shipped != bytes {
            eprintln!("retrained weights differ from {}", out.display());
            return ExitCode::FAILURE;
        }
        eprintln!("retrained weights are identical to {}", out.display());
    } else if !flag("--dry-run") {
        if let Err(e) = std::fs::write(&out, &bytes) {
            eprintln!("cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    }
    ExitCode::SUCCESS
}

/// The training files, in a fixed order, deduplicated.
fn load(dir: &Path) -> Result<Vec<Example>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("data/train"))
        .map_err(|e| format!("data/train: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
        .collect();
    files.sort();
    files.push(dir.join("tests/fixtures/corpus.tsv"));
    let mut all = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut lines = train::parse_tsv(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("{}: {} lines", file.display(), lines.len());
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let writer = stem.rsplit('-').next().unwrap_or(stem).to_owned();
        lines.iter_mut().for_each(|l| l.source = writer.clone());
        all.extend(lines);
    }
    let before = all.len();
    let all = train::dedupe(all);
    eprintln!(
        "{} lines after dropping {} duplicates",
        all.len(),
        before - all.len()
    );
    Ok(all)
}

/// Prints the cross-validated figures: AUC per language, then the outcomes
/// of the model alone and of the model with the rules.
fn report(examples: &[Example], run: &Run) {
    for lang in ["en", "fr"] {
        let (pos, neg): (Vec<f64>, Vec<f64>) = {
            let of = |abusive: bool| {
                examples
                    .iter()
                    .zip(&run.oof)
                    .filter(|(e, _)| e.lang == lang && e.abusive == abusive)
                    .map(|(_, &s)| s)
                    .collect::<Vec<f64>>()
            };
            (of(true), of(false))
        };
        println!("cross-validated AUC {lang}: {:.4}", auc(&pos, &neg));
    }
    for (name, with_rules) in [("model alone", false), ("model + rules", true)] {
        let classifier = Classifier::builtin();
        let mut r = Report::default();
        let mut writers = Report::default();
        // The rules' hits the model would allow (held, not blocked), per
        // writer: [abusive, benign].
        let mut doubted: std::collections::BTreeMap<String, [usize; 2]> = Default::default();
        for (i, e) in examples.iter().enumerate() {
            let t = run.model.thresholds(run.features[i].lang);
            let ruled = with_rules
                && matches!(
                    classifier.classify(&Input {
                        subject: "",
                        text: &e.text,
                        pseudonym: ""
                    }),
                    Verdict::Block { .. }
                );
            let (score, words) = (run.oof[i], run.features[i].words);
            let outcome = if with_rules {
                combined_outcome(ruled, score, words, t)
            } else {
                model_outcome(score, words, t)
            };
            if ruled && outcome != Outcome::Block {
                doubted
                    .entry(format!("{}/{}", e.lang, e.source))
                    .or_default()[usize::from(!e.abusive)] += 1;
            }
            r.add(&e.lang, &e.category, e.abusive, outcome);
            writers.add(
                &format!("{}/{}", e.lang, e.source),
                "(all)",
                e.abusive,
                outcome,
            );
        }
        println!(
            "\n### Cross-validated on training data: {name}\n\n{}",
            r.table()
        );
        let per_writer: String = writers
            .table()
            .lines()
            .take(2 + writers.by_lang.len())
            .map(|l| format!("{l}\n"))
            .collect();
        println!("\nPer writer ({name}):\n\n{per_writer}");
        if with_rules {
            println!(
                "Rules hits the model would allow, held instead of blocked (abusive, benign):\n"
            );
            for (group, [abusive, benign]) in &doubted {
                println!("- {group}: {abusive} abusive, {benign} benign");
            }
        }
    }
    for (lang, t) in ["en", "fr"].iter().zip(run.model.thresholds) {
        println!(
            "thresholds {lang}: block {:.4}, hold {:.4}",
            t.block, t.hold
        );
    }
}

/// Leave-one-writer-out: train (with its own cross-validated thresholds) on
/// every other writer, measure the model with the rules on this one.
fn by_writer(examples: &[Example], opts: &Options) {
    let mut writers: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
    writers.sort_unstable();
    writers.dedup();
    let classifier = Classifier::builtin();
    let mut r = Report::default();
    for writer in writers {
        let others: Vec<Example> = examples
            .iter()
            .filter(|e| e.source != writer)
            .cloned()
            .collect();
        let run = train::train(&others, opts);
        for e in examples.iter().filter(|e| e.source == writer) {
            let (score, features) = run.model.score_skipping(&e.text, &[]);
            let ruled = matches!(
                classifier.classify(&Input {
                    subject: "",
                    text: &e.text,
                    pseudonym: ""
                }),
                Verdict::Block { .. }
            );
            let t = run.model.thresholds(features.lang);
            let outcome = combined_outcome(ruled, score, features.words, t);
            r.add(
                &format!("{}/{writer}", e.lang),
                &e.category,
                e.abusive,
                outcome,
            );
        }
    }
    let table = r.table();
    let overall: String = table
        .lines()
        .filter(|l| {
            l.starts_with('|')
                && (l.contains("(all)") || l.starts_with("|---") || l.starts_with("| lang"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    println!("\n### Leave-one-writer-out: model + rules\n\n{overall}");
    println!("\n<details><summary>per category</summary>\n\n{table}\n</details>");
}

/// The probability that a random abusive line outscores a random benign one.
fn auc(pos: &[f64], neg: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = pos.iter().map(|&s| (s, true)).collect();
    all.extend(neg.iter().map(|&s| (s, false)));
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j + 1) as f64 / 2.0;
        rank_sum += rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n).max(1.0)
}

/// The trainer's scores against the shipped scorer's, on every line.
fn parity(examples: &[Example], run: &Run, bytes: &[u8]) -> bool {
    let model = match Model::from_bytes(bytes) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("the written model does not load: {e}");
            return false;
        }
    };
    let worst = examples
        .iter()
        .zip(&run.features)
        .map(|(e, f)| (run.trained.score(f) - model.score(&e.text).0).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "parity: largest score difference {worst:.2e} over {} lines",
        examples.len()
    );
    worst <= 1e-5
}
