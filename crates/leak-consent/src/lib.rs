//! leak-consent: what lets recipients refuse anonymous mail, and keeps them
//! refused however their address is written.
//!
//! Used by the submission pipeline (RCPT checks, `List-Unsubscribe` links),
//! the web opt-out page (`leak-web`), the inbound listener (`leak-inbound`:
//! bounces, complaints, opt-out mail) and the admin socket (`leak optout`).
//!
//! # Layout
//!
//! - `normalize.rs`: [`normalize_address`], the one form every list and the
//!   per-recipient daily limit compare addresses in (lowercase, `+tag`
//!   dropped, Gmail dots dropped, IDN domains as A-labels).
//! - `secret.rs`: [`Secret`], the server secret (32 random bytes in a 0600
//!   file) and the sub-keys derived from it.
//! - `token.rs`: opt-out tokens: the normalised address encrypted and
//!   authenticated under a key derived from the secret, so a link is
//!   self-contained (no database lookup), carries no address in clear and
//!   cannot be forged for another address.
//! - `suppression.rs`: [`Suppression`], the list of addresses leak must not
//!   mail (opt-outs, hard bounces, complaints), keyed by an HMAC of the
//!   normalised address, with each entry's source and date; it still reads
//!   the SHA-256 entries written before it existed.

mod normalize;
mod secret;
mod suppression;
mod token;

pub use normalize::normalize_address;
pub use secret::{Secret, SecretError};
pub use suppression::{Entry, KeyedEntry, SharedList, Source, Suppression, LEGACY_TREE, TREE};
pub use token::TokenError;
