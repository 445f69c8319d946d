//! DKIM for leak: every configured key signs every message leak sends, so that
//! receivers can tell the anonymized mail really comes from the anonymizer domain.
//!
//! Signatures are relaxed/relaxed with `d=` the anonymizer domain, over the
//! headers in [`SIGNED_HEADERS`] that the message has, with those in
//! [`OVERSIGNED_HEADERS`] over-signed: listed once more than they occur, so
//! nobody can add a second `From`, `Subject` or `To`, nor a `Cc` or
//! `List-Unsubscribe` the message did not have, without breaking the
//! signature. [`Signer::sign_expiring`] adds an expiry (`x=`), so a signed
//! anonymous message cannot be replayed for long on the domain's reputation.
//!
//! # Layout
//!
//! - `lib.rs`: the public types ([`Algorithm`], [`KeySpec`], [`DkimError`]) and
//!   the [`Signer`].
//! - `keys.rs`: key files — loading, [`generate_key`], [`dns_record`].
//! - `der.rs`: the few DER structures mail-auth does not write for us
//!   (PKCS#8 around a PKCS#1 RSA key, SubjectPublicKeyInfo for the DNS record).
//!
//! Canonicalization, hashing and the signature's serialisation are
//! `mail-auth`'s; this crate decides what is signed and how keys are stored.
//! Signatures carry no `t=` (signing time, optional per RFC 6376 §3.5):
//! mail-auth's `DkimSigner::sign` always stamps the current second, which would
//! tell the recipient when the message was signed more precisely than the
//! rounded `Date` leak writes, so [`Signer::sign`] drives mail-auth's public
//! building blocks (`Signature::canonicalize`, `SigningKey::hash`/`sign`)
//! itself, the way `DkimSigner::sign` does, without the timestamp. Without
//! `t=` the same message signed twice gives the same signature. RFC 6376
//! §3.5 allows `x=` without `t=`: it is an absolute Unix time either way
//! (the caller rounds it, so it dates nothing more precisely than `Date`).

mod der;
mod keys;
mod rsa_key;

pub use keys::{dns_record, dns_txt_value, generate_key};

use base64::Engine;
use keys::LoadedKey;
use mail_auth::common::crypto::{Ed25519Key, HashAlgorithm, SigningKey};
use mail_auth::common::headers::{HeaderStream, HeaderWriter, Writable, Writer};
use mail_auth::dkim::{Canonicalization, DkimSigner, Done, Signature};
use rsa_key::RsaKey;
use std::path::PathBuf;

/// The headers leak signs when a message has them (RFC 6376 §5.4 recommends
/// these; the List-Unsubscribe pair per RFC 8058).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// The headers listed once more than they occur (RFC 6376 §8.15): those a
/// replayer would add or duplicate to change what the reader sees, and the
/// List-Unsubscribe pair, whose addition would make the message look like
/// bulk mail the domain sent.
pub const OVERSIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// A DKIM key type. RFC 8463 recommends signing with both during the
/// transition to Ed25519, since many receivers still verify only RSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ed25519,
    Rsa,
}

impl Algorithm {
    /// The `k=` tag value in the DNS record.
    pub fn dns_name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa => "rsa",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dns_name())
    }
}

/// One `[[dkim.key]]` table of the config: which key signs under which selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The `s=` tag; the record lives at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// What kind of key `private_key` holds.
    pub algorithm: Algorithm,
    /// A PEM private key (PKCS#8; PKCS#1 is also accepted for RSA).
    pub private_key: PathBuf,
}

/// Why a DKIM key could not be loaded, generated or used. Each variant names the
/// file or selector involved, so `check-config` can point at the culprit.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("DKIM key {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("DKIM key {path}: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("DKIM key {path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("DKIM key generation failed: {0}")]
    Generate(String),
    #[error("no DKIM keys configured")]
    NoKeys,
    #[error("message has no From header; DKIM requires signing it")]
    NoFrom,
    #[error("DKIM signing with selector {selector} failed: {reason}")]
    Sign { selector: String, reason: String },
}

/// A loaded key with its signature template. Signing only reads it (the
/// per-message header list goes into a copy of the template), so concurrent
/// signatures need no lock.
enum KeySigner {
    Ed25519(Box<DkimSigner<Ed25519Key, Done>>),
    Rsa(Box<DkimSigner<RsaKey, Done>>),
}

/// All configured keys, ready to sign for one domain. Built once at startup
/// (and by `check-config`, which is how a bad key file is reported early).
pub struct Signer {
    keys: Vec<(String, KeySigner)>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let selectors: Vec<&str> = self.keys.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("Signer")
            .field("selectors", &selectors)
            .finish()
    }
}

impl Signer {
    /// Loads every key; the first unreadable or malformed one is an error naming
    /// its file and why. `domain` becomes every signature's `d=`.
    pub fn load(domain: &str, keys: &[KeySpec]) -> Result<Signer, DkimError> {
        if keys.is_empty() {
            return Err(DkimError::NoKeys);
        }
        let mut loaded = Vec::with_capacity(keys.len());
        for spec in keys {
            let signer = match keys::load_key(&spec.private_key, spec.algorithm)? {
                LoadedKey::Ed25519(key) => {
                    KeySigner::Ed25519(Box::new(build(*key, domain, &spec.selector)))
                }
                LoadedKey::Rsa(key) => KeySigner::Rsa(Box::new(build(key, domain, &spec.selector))),
            };
            loaded.push((spec.selector.clone(), signer));
        }
        Ok(Signer { keys: loaded })
    }

    /// Signs `message` (headers and body, CRLF line endings) with every key.
    /// Returns the `DKIM-Signature` header lines (one per key, each
    /// CRLF-terminated, without `t=`) to prepend to the message unchanged.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        self.sign_expiring(message, None)
    }

    /// [`Signer::sign`] with `x=` set to `expires` (Unix seconds) when given:
    /// verifiers treat the signature as absent after that time.
    pub fn sign_expiring(
        &self,
        message: &[u8],
        expires: Option<u64>,
    ) -> Result<Vec<u8>, DkimError> {
        let headers = headers_to_sign(message)?;
        let expires = expires.unwrap_or(0);
        let mut body_hashes = BodyHashes::default();
        let mut out = Vec::new();
        for (selector, signer) in &self.keys {
            let result = match signer {
                KeySigner::Ed25519(s) => sign_with(s, &headers, message, expires, &mut body_hashes),
                KeySigner::Rsa(s) => sign_with(s, &headers, message, expires, &mut body_hashes),
            };
            let header = result.map_err(|e| DkimError::Sign {
                selector: selector.clone(),
                reason: e.to_string(),
            })?;
            out.extend_from_slice(header.as_bytes());
        }
        Ok(out)
    }

    /// The selectors of the loaded keys, in config order.
    pub fn selectors(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(s, _)| s.as_str())
    }
}

fn build<T: SigningKey>(key: T, domain: &str, selector: &str) -> DkimSigner<T, Done> {
    DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(["From"])
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

/// What `DkimSigner::sign` does, minus the `t=` it always sets: canonicalize
/// the listed headers and the body, hash the body, sign the headers followed by
/// the signature header with an empty `b=`.
/// The body hashes (`bh=`, base64) of one message, computed once for all the
/// keys that hash the body alike. Ed25519-SHA256 and RSA-SHA256 both hash
/// the body with SHA-256; with the same body canonicalization and no `l=`
/// (leak never writes one) the `bh=` is the same, so the second key reuses
/// the first one's instead of canonicalizing and hashing the body again.
#[derive(Default)]
struct BodyHashes {
    known: Vec<((HashAlgorithm, Canonicalization), Vec<u8>)>,
}

impl BodyHashes {
    /// The `bh=` for `signature`'s hash and body canonicalization: the one
    /// already computed, or `compute()`'s, remembered.
    fn get_or_compute(
        &mut self,
        signature: &Signature,
        compute: impl FnOnce() -> Vec<u8>,
    ) -> Vec<u8> {
        let kind = (HashAlgorithm::from(signature.a), signature.cb);
        if let Some((_, known)) = self.known.iter().find(|(k, _)| *k == kind) {
            return known.clone();
        }
        let computed = compute();
        self.known.push((kind, computed.clone()));
        computed
    }
}

fn sign_with<T: SigningKey>(
    signer: &DkimSigner<T, Done>,
    headers: &[String],
    message: &[u8],
    expires: u64,
    body_hashes: &mut BodyHashes,
) -> mail_auth::Result<String> {
    let mut signature = signer.template.clone();
    signature.h = headers.to_vec();
    let (_, canonical_headers, signed_headers, canonical_body) =
        signature.canonicalize(Fields::new(message));
    if signed_headers.is_empty() {
        return Err(mail_auth::Error::NoHeadersFound);
    }
    let base64 = base64::engine::general_purpose::STANDARD;
    signature.bh = body_hashes.get_or_compute(&signature, || {
        // mail-auth hands the canonical body to its writer a byte at a
        // time; gathered here first, it is hashed in one call.
        let mut gathered = Gathered(Vec::with_capacity(message.len()));
        canonical_body.write(&mut gathered);
        let body_hash = signer.key.hash(gathered.0.as_slice());
        base64.encode(body_hash.as_ref()).into_bytes()
    });
    signature.t = 0; // 0 is left out when written
    signature.x = expires; // 0 is left out too
    signature.h = signed_headers;
    let b = signer.key.sign(Signable {
        headers: canonical_headers,
        signature: &signature,
    })?;
    signature.b = base64.encode(b).into_bytes();
    Ok(signature.to_header())
}

/// A canonical body being gathered. mail-auth's canonicalization writes it
/// a byte at a time; this writer's `write` is defined here, so each call
/// inlines to a push instead of a call into mail-auth's own `Vec` writer or
/// hasher.
struct Gathered(Vec<u8>);

impl Writer for Gathered {
    #[inline]
    fn write(&mut self, buf: &[u8]) {
        self.0.extend_from_slice(buf);
    }
}

/// The data a DKIM signature covers (RFC 6376 §3.7): the canonical signed
/// headers, then the `DKIM-Signature` header itself with `b=` empty.
struct Signable<'a, H: Writable> {
    headers: H,
    signature: &'a Signature,
}

impl<H: Writable> Writable for Signable<'_, H> {
    fn write(self, writer: &mut impl Writer) {
        self.headers.write(writer);
        self.signature.write(writer, false);
    }
}

/// The header fields and body of a message, as mail-auth's canonicalization
/// reads them (its own iterator is crate-private): each field's name, and its
/// value from after the colon through the line end of its last continuation
/// line; the body starts after the empty line.
struct Fields<'x> {
    message: &'x [u8],
    pos: usize,
    body: Option<usize>,
}

impl<'x> Fields<'x> {
    fn new(message: &'x [u8]) -> Self {
        Fields {
            message,
            pos: 0,
            body: None,
        }
    }
}

impl<'x> HeaderStream<'x> for Fields<'x> {
    fn next_header(&mut self) -> Option<(&'x [u8], &'x [u8])> {
        loop {
            if self.body.is_some() {
                return None;
            }
            let rest = &self.message[self.pos..];
            if rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
                let blank = if rest.starts_with(b"\r\n") {
                    2
                } else {
                    rest.len().min(1)
                };
                self.body = Some(self.pos + blank);
                return None;
            }
            // The field ends at the first line end not followed by a space or tab.
            let mut end = rest.len();
            let mut i = 0;
            while let Some(nl) = rest[i..].iter().position(|&b| b == b'\n') {
                let after = i + nl + 1;
                if !matches!(rest.get(after), Some(b' ' | b'\t')) {
                    end = after;
                    break;
                }
                i = after;
            }
            let field = &rest[..end];
            self.pos += end;
            if let Some(colon) = field.iter().position(|&b| b == b':') {
                return Some((&field[..colon], &field[colon + 1..]));
            }
            // A line without a colon is not a field: skip it.
        }
    }

    fn body(&mut self) -> &'x [u8] {
        while self.next_header().is_some() {}
        &self.message[self.body.unwrap_or(self.message.len())..]
    }
}

/// The [`SIGNED_HEADERS`] the message has, then each of
/// [`OVERSIGNED_HEADERS`] once more. mail-auth signs every occurrence of a
/// listed name and null-signs (lists in `h=` without a field) each name it
/// does not find, and a name listed twice is found only once: so a present
/// name listed again, or an absent one listed once, ends up in `h=` once more
/// than it occurs.
fn headers_to_sign(message: &[u8]) -> Result<Vec<String>, DkimError> {
    let mut present = vec![false; SIGNED_HEADERS.len()];
    for name in header_names(message) {
        if let Some(i) = SIGNED_HEADERS
            .iter()
            .position(|h| h.as_bytes().eq_ignore_ascii_case(name))
        {
            present[i] = true;
        }
    }
    if !present[0] {
        return Err(DkimError::NoFrom);
    }
    let mut list: Vec<String> = SIGNED_HEADERS
        .iter()
        .zip(&present)
        .filter(|(_, &p)| p)
        .map(|(h, _)| h.to_string())
        .collect();
    list.extend(OVERSIGNED_HEADERS.iter().map(|h| h.to_string()));
    Ok(list)
}

/// The field names of the header section, in order (continuation lines skipped).
fn header_names(message: &[u8]) -> impl Iterator<Item = &[u8]> {
    message
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .filter(|line| !matches!(line.first(), Some(b' ' | b'\t')))
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some(line[..colon].trim_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_signs_and_lists_present_headers_once_more() {
        let msg = b"From: a@x.test\r\nSubject: hi\r\nX-Other: 1\r\nTo: b@y.test\r\n\r\nbody\r\n";
        let list = headers_to_sign(msg).unwrap();
        let mut expected = vec!["From", "To", "Subject"];
        expected.extend(OVERSIGNED_HEADERS);
        assert_eq!(list, expected);
    }

    #[test]
    fn fields_follow_folding_and_find_the_body() {
        let msg = b"A: 1\r\nB: x\r\n\ty\r\nno colon\r\nC:z\r\n\r\nbody\r\nD: not a header\r\n";
        let mut fields = Fields::new(msg);
        let mut seen = Vec::new();
        while let Some((name, value)) = fields.next_header() {
            seen.push((name.to_vec(), value.to_vec()));
        }
        assert_eq!(
            seen,
            [
                (b"A".to_vec(), b" 1\r\n".to_vec()),
                (b"B".to_vec(), b" x\r\n\ty\r\n".to_vec()),
                (b"C".to_vec(), b"z\r\n".to_vec()),
            ]
        );
        assert_eq!(fields.body(), b"body\r\nD: not a header\r\n");
        assert_eq!(Fields::new(b"A: 1\n\nbody").body(), b"body");
        assert_eq!(Fields::new(b"A: 1\r\n").body(), b"");
    }

    /// The `bh=` tag of each DKIM-Signature in `headers`, in order.
    fn body_hash_tags(headers: &[u8]) -> Vec<String> {
        let text = String::from_utf8(headers.to_vec()).unwrap();
        let unfolded = text.replace("\r\n\t", "").replace("\r\n ", "");
        unfolded
            .split("bh=")
            .skip(1)
            .map(|rest| rest.split(';').next().unwrap().trim().to_string())
            .collect()
    }

    #[test]
    fn both_keys_carry_the_same_relaxed_body_hash() {
        let dir = tempfile::tempdir().unwrap();
        let specs: Vec<KeySpec> = [("ed", Algorithm::Ed25519), ("rsa", Algorithm::Rsa)]
            .into_iter()
            .map(|(selector, algorithm)| {
                let path = dir.path().join(format!("{selector}.pem"));
                generate_key(algorithm, 2048, &path).unwrap();
                KeySpec {
                    selector: selector.into(),
                    algorithm,
                    private_key: path,
                }
            })
            .collect();
        let signer = Signer::load("anon.test", &specs).unwrap();
        let body = "Hello  there \r\n\r\n\r\n";
        let message = format!("From: a@anon.test\r\nSubject: hi\r\n\r\n{body}");
        let tags = body_hash_tags(&signer.sign(message.as_bytes()).unwrap());
        // Relaxed body canonicalization (RFC 6376 §3.4.4): runs of blanks
        // become one space, trailing blanks and empty lines at the end go.
        let expected = base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            b"Hello there\r\n",
        ));
        assert_eq!(tags, [expected.clone(), expected]);
    }

    #[test]
    fn refuses_message_without_from() {
        let msg = b"Subject: hi\r\n\r\nbody\r\n";
        assert!(matches!(headers_to_sign(msg), Err(DkimError::NoFrom)));
    }
}
