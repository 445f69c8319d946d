//! The learned first stage: a logistic regression over hashed word and
//! character n-grams, trained on the labelled lines in `data/train/` and
//! `tests/fixtures/corpus.tsv`.
//!
//! - `features.rs` — normalised text → hashed buckets, and the language guess.
//! - `model.rs` — the weights file (`model/weights.bin`, embedded) and the scorer.
//! - `train.rs` — the deterministic trainer, cross-validation and thresholds
//!   (used by `examples/train.rs`, which writes the weights file).
//!
//! The rules stay the second opinion: see [`crate::Classifier::decide`].

pub mod features;
pub mod model;
pub mod train;
