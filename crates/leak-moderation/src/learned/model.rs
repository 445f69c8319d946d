//! The model file and the scorer.
//!
//! `model/weights.bin` is written by the trainer (`examples/train.rs`) and
//! embedded with `include_bytes!`. Layout, all little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `LEAKLR01` |
//! | 4 | `u32` bucket bits (must equal [`BUCKET_BITS`]) |
//! | 4 | `u32` languages (2: en, fr) |
//! | 4 × 2 | `f32` bias per language |
//! | 4 × 2 | `f32` block threshold per language (a probability) |
//! | 4 × 2 | `f32` hold threshold per language |
//! | 4 × 2^bits | `f32` weight per bucket |
//! | 8 | the first 8 bytes of the SHA-256 of everything before |
//!
//! A message's score is `sigmoid(bias[lang] + sum(w[b]) / sqrt(n))` over its
//! `n` present buckets, summed in `f64` in the order the buckets were first
//! seen (the trainer sums in the same order, so both agree to rounding).

use sha2::{Digest, Sha256};

use super::features::{extract_skipping, Features, Lang, BUCKETS, BUCKET_BITS};

const MAGIC: &[u8; 8] = b"LEAKLR01";
const HEADER: usize = 8 + 4 + 4 + 3 * 2 * 4;

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("model file: bad magic or size")]
    Format,
    #[error("model file: checksum mismatch")]
    Checksum,
}

/// The thresholds of one language, probabilities in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A score at or above it blocks.
    pub block: f32,
    /// A score at or above it (and below `block`) is held for review.
    pub hold: f32,
}

/// A trained logistic regression over hashed features.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub bias: [f32; 2],
    pub thresholds: [Thresholds; 2],
    pub weights: Vec<f32>,
}

/// The 8-byte checksum of `bytes`.
fn checksum(bytes: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(bytes);
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    f32::from_le_bytes(b)
}

impl Model {
    /// The model shipped with the crate.
    pub fn builtin() -> Model {
        // The file is checked by the crate's tests and by `train --check`:
        // a broken one cannot be released.
        Model::from_bytes(include_bytes!("../../model/weights.bin"))
            .expect("the embedded moderation model is valid")
    }

    /// Parses and checks a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let size = HEADER + 4 * BUCKETS + 8;
        if bytes.len() != size || &bytes[..8] != MAGIC {
            return Err(ModelError::Format);
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if u32_at(8) != BUCKET_BITS || u32_at(12) != 2 {
            return Err(ModelError::Format);
        }
        if checksum(&bytes[..size - 8]) != bytes[size - 8..] {
            return Err(ModelError::Checksum);
        }
        let at = |i: usize| f32_at(bytes, 16 + 4 * i);
        let weights = bytes[HEADER..size - 8]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Model {
            bias: [at(0), at(1)],
            thresholds: [
                Thresholds {
                    block: at(2),
                    hold: at(4),
                },
                Thresholds {
                    block: at(3),
                    hold: at(5),
                },
            ],
            weights,
        })
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 4 * BUCKETS + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BUCKET_BITS.to_le_bytes());
        out.extend_from_slice(&2u32.to_le_bytes());
        let t = &self.thresholds;
        for v in [
            self.bias[0],
            self.bias[1],
            t[0].block,
            t[1].block,
            t[0].hold,
            t[1].hold,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in &self.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// The thresholds for `lang`.
    pub fn thresholds(&self, lang: Lang) -> Thresholds {
        self.thresholds[lang as usize]
    }

    /// The probability that `features` are abusive.
    pub fn score_features(&self, features: &Features) -> f64 {
        let sum: f64 = features
            .buckets
            .iter()
            .map(|&b| f64::from(self.weights[b as usize]))
            .sum();
        let n = features.buckets.len().max(1) as f64;
        sigmoid(f64::from(self.bias[features.lang as usize]) + sum / n.sqrt())
    }

    /// The probability that `text` is abusive, and its guessed language.
    pub fn score(&self, text: &str) -> (f64, Lang) {
        let (score, features) = self.score_skipping(text, &[]);
        (score, features.lang)
    }

    /// [`Model::score`] without the (normalised) words in `skip`; also
    /// returns the features.
    pub fn score_skipping(&self, text: &str, skip: &[Vec<u8>]) -> (f64, Features) {
        let features = extract_skipping(text, skip);
        (self.score_features(&features), features)
    }
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Model {
        let mut weights = vec![0.0; BUCKETS];
        weights[7] = 1.5;
        weights[BUCKETS - 1] = -0.25;
        Model {
            bias: [-1.0, 0.5],
            thresholds: [
                Thresholds {
                    block: 0.9,
                    hold: 0.5,
                },
                Thresholds {
                    block: 0.8,
                    hold: 0.4,
                },
            ],
            weights,
        }
    }

    #[test]
    fn file_round_trips_and_rejects_damage() {
        let model = small();
        let mut bytes = model.to_bytes();
        assert_eq!(Model::from_bytes(&bytes), Ok(model));
        bytes[HEADER + 28] ^= 1;
        assert_eq!(Model::from_bytes(&bytes), Err(ModelError::Checksum));
        assert_eq!(Model::from_bytes(&bytes[1..]), Err(ModelError::Format));
    }

    #[test]
    fn score_is_bias_plus_normalised_sum() {
        let model = small();
        let f = Features {
            buckets: vec![7, 3, (BUCKETS - 1) as u32, 9],
            lang: Lang::Fr,
            words: 2,
        };
        let expected = sigmoid(0.5 + (1.5 - 0.25) / 2.0);
        assert!((model.score_features(&f) - expected).abs() < 1e-12);
    }

    #[test]
    fn builtin_model_loads_with_ordered_thresholds() {
        let model = Model::builtin();
        for lang in Lang::ALL {
            let t = model.thresholds(lang);
            assert!(
                0.0 < t.hold && t.hold <= t.block && t.block < 1.0,
                "{lang:?} {t:?}"
            );
        }
    }
}
