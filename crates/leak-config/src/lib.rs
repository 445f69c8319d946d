//! leak's configuration file: the TOML structure operators write, its defaults,
//! and the validation behind `leak check-config`.
//!
//! # Layout
//!
//! - `model.rs`: the serde structs, one per `[section]`, each field documented,
//!   `deny_unknown_fields` everywhere, defaults defined once as functions.
//! - `units.rs`: human-readable sizes (`"25MB"`).
//! - `load.rs`: reading the file, collecting *every* deserialisation error with
//!   its key path (not only the first), resolving relative paths against the
//!   config file's folder.
//! - `validate.rs`: checks serde cannot express (ranges, references between
//!   keys, files that must exist), again reporting every problem.
//!
//! Checks that need other crates (TLS certificates, DKIM keys, the users file)
//! are done by the binary, which adds its [`Problem`]s to the same list.

mod load;
mod model;
mod units;
mod validate;

pub use load::{load, parse, resolve_paths};
pub use model::*;
pub use units::{ByteSize, DelayRange};
pub use validate::{is_valid_selector, parse_nameserver, parse_network, validate};

use std::fmt;

/// One thing wrong with a config file, tied to the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `limits.max_recipients` or `listener[1].bind`.
    /// Empty when the problem is with the file as a whole.
    pub key: String,
    /// What is wrong, in words an operator understands.
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Loading failed: every problem found, in file order as far as possible.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in {path}", problems.len())]
pub struct ConfigError {
    pub path: String,
    pub problems: Vec<Problem>,
}
