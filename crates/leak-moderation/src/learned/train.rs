//! The trainer: a deterministic logistic regression over the hashed
//! features, cross-validation, and the choice of thresholds.
//!
//! Everything here is sequential and in `f64`: the same data gives the same
//! weights bit for bit on every run (no threads, no random numbers, no
//! float reductions in a varying order). Optimisation is full-batch
//! Adagrad for a fixed number of epochs on the class-balanced logistic loss
//! with an L2 penalty; each (language, label) group weighs the same, so a
//! language or a label with more lines does not dominate.
//!
//! Thresholds come from out-of-fold scores only (each line scored by a
//! model that never saw it; folds by a hash of the line's text), per
//! guessed language and for the worst writer: `block` lets at most
//! [`BLOCK_FP`] of any one writer's benign lines through to a block, `hold`
//! at most [`HOLD_FP`] to a hold or a block. Pooling the writers let one
//! writer's hard negatives be held at 9 % while the pool was at 5 %.

use super::features::{extract, Features, Lang, BUCKETS};
use super::model::{sigmoid, Model, Thresholds};
use crate::decide::MIN_WORDS;

/// The share of any one writer's benign training lines the block threshold
/// may block (out-of-fold): under the 1 % the project allows on real
/// traffic, leaving room for the rules' own blocks.
pub const BLOCK_FP: f64 = 0.005;
/// The share of any one writer's benign training lines held or blocked by
/// the model (out-of-fold): under the 6 % held this model aims at on a
/// writer it never read (8 % allowed), with a margin for the rules' hits
/// the model doubts (held too).
pub const HOLD_FP: f64 = 0.045;

/// The rules' tuning corpus (`tests/fixtures/corpus.tsv`), as a source:
/// trained on, measured, but not one of the writers the thresholds are
/// chosen for. Its benign lines are near-misses written against the rules'
/// word lists (a swear word not aimed at the reader, a name that is also a
/// slur), short and unlike mail; letting them set the thresholds raised the
/// English hold threshold from about 0.64 to 0.78 and cost about ten points
/// of caught-or-held on every writer.
pub const CORPUS_SOURCE: &str = "corpus";

/// A writer counts in the choice of a language's thresholds with at least
/// this many benign lines in it (the odd line of the other language in a
/// writer's file does not make a writer).
pub const MIN_WRITER_LINES: usize = 100;

/// Optimisation settings. The defaults were picked by cross-validated AUC
/// on the training data (few epochs at a modest rate generalise better than
/// a tight fit: stopping early is the regulariser, so the L2 term is off).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub epochs: usize,
    pub learning_rate: f64,
    pub l2: f64,
    pub folds: u64,
    /// [`BLOCK_FP`] unless trying another share.
    pub block_fp: f64,
    /// [`HOLD_FP`] unless trying another share.
    pub hold_fp: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            epochs: 60,
            learning_rate: 0.2,
            l2: 0.0,
            folds: 5,
            block_fp: BLOCK_FP,
            hold_fp: HOLD_FP,
        }
    }
}

/// One labelled line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub abusive: bool,
    /// The language the writer gave (`en`, `fr`).
    pub lang: String,
    pub category: String,
    pub text: String,
    /// Who wrote it (the trainer sets the file's writer; empty otherwise).
    pub source: String,
}

/// Parses a labelled TSV: `label lang category text` with that header, or
/// the older `lang label text` of `tests/fixtures/*.tsv` (category
/// `corpus`). `#` lines and blank lines are skipped.
pub fn parse_tsv(text: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with("label\t") {
            continue;
        }
        let new: Vec<&str> = line.splitn(4, '\t').collect();
        let old: Vec<&str> = line.splitn(3, '\t').collect();
        let (label, lang, category, text) = match (&new[..], &old[..]) {
            ([label @ ("abusive" | "benign"), lang, category, text], _) => {
                (*label, *lang, *category, *text)
            }
            (_, [lang, label @ ("abusive" | "benign"), text]) => (*label, *lang, "corpus", *text),
            _ => {
                return Err(format!(
                    "line {}: expected label, lang, category, text",
                    n + 1
                ))
            }
        };
        out.push(Example {
            abusive: label == "abusive",
            lang: lang.to_owned(),
            category: category.to_owned(),
            text: text.to_owned(),
            source: String::new(),
        });
    }
    Ok(out)
}

/// The key two lines are duplicates under: lower case, single spaces.
pub fn dedupe_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Drops later duplicates (by [`dedupe_key`]), whatever their label.
pub fn dedupe(examples: Vec<Example>) -> Vec<Example> {
    let mut seen = std::collections::HashSet::new();
    examples
        .into_iter()
        .filter(|e| seen.insert(dedupe_key(&e.text)))
        .collect()
}

/// A model being trained, in `f64`.
#[derive(Clone, Debug)]
pub struct Trained {
    pub bias: [f64; 2],
    pub weights: Vec<f64>,
}

impl Trained {
    /// The probability the trainer gives to `f` (the reference the shipped
    /// scorer must agree with).
    pub fn score(&self, f: &Features) -> f64 {
        let sum: f64 = f.buckets.iter().map(|&b| self.weights[b as usize]).sum();
        let n = f.buckets.len().max(1) as f64;
        sigmoid(self.bias[f.lang as usize] + sum / n.sqrt())
    }

    /// The shippable model: weights rounded to `f32`.
    pub fn to_model(&self, thresholds: [Thresholds; 2]) -> Model {
        Model {
            bias: [self.bias[0] as f32, self.bias[1] as f32],
            thresholds,
            weights: self.weights.iter().map(|&w| w as f32).collect(),
        }
    }
}

/// Per-row weights: each (language, label) group weighs the same in total.
fn row_weights(rows: &[(&Features, bool)]) -> Vec<f64> {
    let mut counts = [[0usize; 2]; 2];
    for (f, y) in rows {
        counts[f.lang as usize][usize::from(*y)] += 1;
    }
    let groups = counts.iter().flatten().filter(|&&c| c > 0).count().max(1) as f64;
    rows.iter()
        .map(|(f, y)| 1.0 / (groups * counts[f.lang as usize][usize::from(*y)] as f64))
        .collect()
}

/// Fits the model on `rows` (features, abusive).
pub fn fit(rows: &[(&Features, bool)], opts: &Options) -> Trained {
    let c = row_weights(rows);
    let scale: Vec<f64> = rows
        .iter()
        .map(|(f, _)| 1.0 / (f.buckets.len().max(1) as f64).sqrt())
        .collect();
    let mut model = Trained {
        bias: [0.0; 2],
        weights: vec![0.0; BUCKETS],
    };
    let mut grad = vec![0.0; BUCKETS];
    let mut acc = vec![0.0; BUCKETS];
    let mut acc_bias = [0.0; 2];
    const EPS: f64 = 1e-8;
    for _ in 0..opts.epochs {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut grad_bias = [0.0; 2];
        for (i, (f, y)) in rows.iter().enumerate() {
            let p = model.score(f);
            let r = c[i] * (p - f64::from(u8::from(*y)));
            grad_bias[f.lang as usize] += r;
            let rs = r * scale[i];
            for &b in &f.buckets {
                grad[b as usize] += rs;
            }
        }
        for ((w, g), a) in model.weights.iter_mut().zip(&grad).zip(acc.iter_mut()) {
            let g = g + opts.l2 * *w;
            if g != 0.0 {
                *a += g * g;
                *w -= opts.learning_rate * g / (a.sqrt() + EPS);
            }
        }
        for l in 0..2 {
            let g = grad_bias[l];
            acc_bias[l] += g * g;
            model.bias[l] -= opts.learning_rate * g / (acc_bias[l].sqrt() + EPS);
        }
    }
    model
}

/// The fold of a line: a hash of its text, so a line keeps its fold when
/// others are added.
pub fn fold_of(text: &str, folds: u64) -> u64 {
    let h = dedupe_key(text)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    h % folds
}

/// Out-of-fold scores: each line scored by a model fitted on the other folds.
pub fn cross_validate(examples: &[Example], features: &[Features], opts: &Options) -> Vec<f64> {
    let folds: Vec<u64> = examples
        .iter()
        .map(|e| fold_of(&e.text, opts.folds))
        .collect();
    let mut scores = vec![0.0; examples.len()];
    for k in 0..opts.folds {
        let rows: Vec<(&Features, bool)> = (0..examples.len())
            .filter(|&i| folds[i] != k)
            .map(|i| (&features[i], examples[i].abusive))
            .collect();
        let model = fit(&rows, opts);
        for i in (0..examples.len()).filter(|&i| folds[i] == k) {
            scores[i] = model.score(&features[i]);
        }
    }
    scores
}

/// The smallest `f32` strictly above `x` (for `x` in `[0, 1]`).
fn just_above(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x {
        f
    } else {
        f32::from_bits(f.to_bits() + 1)
    }
}

/// A threshold that lets at most `share` of `total` benign lines reach it
/// (`benign` holds their scores).
fn threshold_for(benign: &mut [f64], share: f64, total: usize) -> f32 {
    if total == 0 {
        return 0.5;
    }
    benign.sort_by(|a, b| b.total_cmp(a));
    let allowed = (share * total as f64).floor() as usize;
    match benign.get(allowed) {
        Some(&s) => just_above(s),
        None => just_above(0.0),
    }
}

/// Thresholds per guessed language from out-of-fold scores: for each
/// writer (`Example::source`) the threshold its own benign lines allow,
/// then the strictest of them, so that no writer's share is over the limit.
pub fn choose_thresholds(
    features: &[Features],
    examples: &[Example],
    oof: &[f64],
    opts: &Options,
) -> [Thresholds; 2] {
    Lang::ALL.map(|lang| {
        let mut writers: Vec<&str> = examples.iter().map(|e| e.source.as_str()).collect();
        writers.sort_unstable();
        writers.dedup();
        let (mut block, mut hold) = (0.0f32, 0.0f32);
        for writer in writers.into_iter().filter(|&w| w != CORPUS_SOURCE) {
            // Shares of the lines the model may act on: shorter ones are
            // left to the rules and would dilute the share.
            let mut eligible: Vec<f64> = (0..examples.len())
                .filter(|&i| {
                    features[i].lang == lang
                        && !examples[i].abusive
                        && examples[i].source == writer
                        && features[i].words >= MIN_WORDS
                })
                .map(|i| oof[i])
                .collect();
            let total = eligible.len();
            if total < MIN_WRITER_LINES {
                continue;
            }
            block = block.max(threshold_for(&mut eligible, opts.block_fp, total));
            hold = hold.max(threshold_for(&mut eligible, opts.hold_fp, total));
        }
        if block == 0.0 {
            block = 0.5;
        }
        Thresholds {
            block,
            hold: hold.min(block),
        }
    })
}

/// Everything one training run produces.
pub struct Run {
    pub model: Model,
    /// The trainer's own `f64` model, for the parity check.
    pub trained: Trained,
    pub features: Vec<Features>,
    /// Out-of-fold scores, one per example.
    pub oof: Vec<f64>,
}

/// Cross-validates, chooses thresholds, fits on everything.
pub fn train(examples: &[Example], opts: &Options) -> Run {
    let features: Vec<Features> = examples.iter().map(|e| extract(&e.text)).collect();
    let oof = cross_validate(examples, &features, opts);
    let thresholds = choose_thresholds(&features, examples, &oof, opts);
    let rows: Vec<(&Features, bool)> = features
        .iter()
        .zip(examples)
        .map(|(f, e)| (f, e.abusive))
        .collect();
    let trained = fit(&rows, opts);
    Run {
        model: trained.to_model(thresholds),
        trained,
        features,
        oof,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORPUS: &str = include_str!("../../tests/fixtures/corpus.tsv");

    /// A few hundred corpus lines, both labels and languages.
    fn sample() -> Vec<Example> {
        let all = parse_tsv(CORPUS).expect("the corpus parses");
        all.into_iter().step_by(12).collect()
    }

    fn fit_sample(examples: &[Example], epochs: usize) -> (Vec<Features>, Trained) {
        let features: Vec<Features> = examples.iter().map(|e| extract(&e.text)).collect();
        let rows: Vec<(&Features, bool)> = features
            .iter()
            .zip(examples)
            .map(|(f, e)| (f, e.abusive))
            .collect();
        let opts = Options {
            epochs,
            ..Options::default()
        };
        let trained = fit(&rows, &opts);
        (features, trained)
    }

    #[test]
    fn parses_both_formats_and_dedupes() {
        let text = "label\tlang\tcategory\ttext\nabusive\tfr\tthreat\tJe sais où tu vis\n\
                    # comment\nen\tbenign\tHello  there\nbenign\ten\tlove\thello there\n";
        let examples = parse_tsv(text).expect("parses");
        assert_eq!(examples.len(), 3);
        assert_eq!(examples[1].category, "corpus");
        assert!(!examples[1].abusive);
        assert_eq!(dedupe(examples).len(), 2);
        assert!(parse_tsv("maybe\tfr\tx\ty\n").is_err());
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let examples = sample();
        assert!(examples.len() > 250, "{}", examples.len());
        let (features, a) = fit_sample(&examples, 8);
        let (_, b) = fit_sample(&examples, 8);
        assert_eq!(a.bias, b.bias);
        assert!(a.weights == b.weights, "two runs gave different weights");
        // Fitted on them, the model ranks most abusive lines above benign.
        let right = examples
            .iter()
            .zip(&features)
            .filter(|(e, f)| (a.score(f) > 0.5) == e.abusive)
            .count();
        assert!(
            right * 10 > examples.len() * 9,
            "{right}/{}",
            examples.len()
        );
    }

    /// The trainer's `f64` scores and the shipped scorer's (`f32` weights
    /// read back from the file bytes, features recomputed from the text).
    #[test]
    fn trainer_and_shipped_scorer_agree() {
        let examples = sample();
        let (features, trained) = fit_sample(&examples, 8);
        let t = Thresholds {
            block: 0.9,
            hold: 0.6,
        };
        let bytes = trained.to_model([t, t]).to_bytes();
        let model = Model::from_bytes(&bytes).expect("the written model loads");
        for (e, f) in examples.iter().zip(&features) {
            let (runtime, lang) = model.score(&e.text);
            assert_eq!(lang, f.lang);
            let diff = (trained.score(f) - runtime).abs();
            assert!(diff < 1e-5, "{diff} on {:?}", e.text);
        }
    }

    #[test]
    fn thresholds_cap_the_benign_share() {
        let mk = |abusive, text: &str| Example {
            abusive,
            lang: "en".into(),
            category: "x".into(),
            text: text.into(),
            source: String::new(),
        };
        let examples: Vec<Example> = (0..200)
            .map(|i| {
                mk(
                    i % 2 == 0,
                    &format!("this is the line number {i} of the set"),
                )
            })
            .collect();
        let features: Vec<Features> = examples.iter().map(|e| extract(&e.text)).collect();
        // Benign scores 0.00, 0.01, …, 0.99; abusive 0.995.
        let oof: Vec<f64> = (0..200)
            .map(|i| {
                if i % 2 == 0 {
                    0.995
                } else {
                    f64::from(i / 2) / 100.0
                }
            })
            .collect();
        let [en, _] = choose_thresholds(&features, &examples, &oof, &Options::default());
        assert!(en.hold < en.block && en.block < 0.995, "{en:?}");
        let blocked = (0..200)
            .filter(|&i| i % 2 == 1 && oof[i] >= f64::from(en.block))
            .count();
        let held = (0..200)
            .filter(|&i| i % 2 == 1 && oof[i] >= f64::from(en.hold))
            .count();
        // 100 benign lines: exactly the allowed numbers reach each threshold.
        let allowed = |share: f64| (share * 100.0).floor() as usize;
        assert_eq!((blocked, held), (allowed(BLOCK_FP), allowed(HOLD_FP)));
    }
}
