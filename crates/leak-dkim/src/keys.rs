//! Key files: reading them for signing, generating new ones, and the DNS record
//! an operator publishes for each.

use crate::rsa_key::RsaKey;
use crate::{der, Algorithm, DkimError};
use base64::Engine as _;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::dkim::generate::DkimKeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// RSA moduli leak accepts: RFC 8301 asks signers for at least 2048 bits
/// (and leak refuses less when it loads a key); mail-auth verifies at most 8192.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// A private key as mail-auth uses it.
pub(crate) enum LoadedKey {
    Ed25519(Box<Ed25519Key>),
    Rsa(RsaKey),
}

fn bad(path: &Path, reason: impl Into<String>) -> DkimError {
    DkimError::BadKey {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads and parses a PEM private key of the given algorithm.
pub(crate) fn load_key(path: &Path, algorithm: Algorithm) -> Result<LoadedKey, DkimError> {
    let pem = std::fs::read(path).map_err(|source| DkimError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| bad(path, format!("not a PEM private key ({e})")))?;
    match algorithm {
        Algorithm::Ed25519 => match der {
            PrivateKeyDer::Pkcs8(der) => Ed25519Key::from_pkcs8_der(der.secret_pkcs8_der())
                .map(|key| LoadedKey::Ed25519(Box::new(key)))
                .map_err(|e| bad(path, format!("not an Ed25519 PKCS#8 key ({e})"))),
            _ => Err(bad(
                path,
                "an Ed25519 key must be PKCS#8 (BEGIN PRIVATE KEY)",
            )),
        },
        Algorithm::Rsa => RsaKey::from_der(&der)
            .map(LoadedKey::Rsa)
            .map_err(|e| bad(path, e)),
    }
}

/// Writes a new private key to `out` as PKCS#8 PEM, mode 0600. Refuses to
/// overwrite an existing file, so a live key is never lost by a typo.
/// `bits` applies to RSA only.
pub fn generate_key(algorithm: Algorithm, bits: usize, out: &Path) -> Result<(), DkimError> {
    let pkcs8 = match algorithm {
        Algorithm::Ed25519 => {
            Ed25519Key::generate_pkcs8().map_err(|e| DkimError::Generate(e.to_string()))?
        }
        Algorithm::Rsa => {
            if !RSA_BITS.contains(&bits) {
                return Err(DkimError::Generate(format!(
                    "RSA key size {bits} outside {}..={} bits",
                    RSA_BITS.start(),
                    RSA_BITS.end()
                )));
            }
            let pair =
                DkimKeyPair::generate_rsa(bits).map_err(|e| DkimError::Generate(e.to_string()))?;
            der::rsa_pkcs8_from_pkcs1(pair.private_key())
        }
    };
    let pem = to_pem("PRIVATE KEY", &pkcs8);
    let write_err = |source| DkimError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(write_err)?;
    file.write_all(pem.as_bytes()).map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

/// The one-line zone entry to publish for a key:
/// `S._domainkey.<domain> IN TXT "v=DKIM1; k=ed25519; p=<base64>"`.
pub fn dns_record(
    selector: &str,
    domain: &str,
    private_key: &Path,
    algorithm: Algorithm,
) -> Result<String, DkimError> {
    let value = dns_txt_value(private_key, algorithm)?;
    Ok(format!("{selector}._domainkey.{domain} IN TXT \"{value}\""))
}

/// The TXT value to publish for a key: `v=DKIM1; k=<alg>; p=<base64>`. For
/// Ed25519 `p=` is the raw 32-byte public key (RFC 8463); for RSA the DER
/// SubjectPublicKeyInfo (RFC 6376).
pub fn dns_txt_value(private_key: &Path, algorithm: Algorithm) -> Result<String, DkimError> {
    let public = match load_key(private_key, algorithm)? {
        LoadedKey::Ed25519(key) => key.public_key(),
        LoadedKey::Rsa(key) => der::rsa_spki_from_pkcs1(key.public_pkcs1()),
    };
    let p = base64::engine::general_purpose::STANDARD.encode(public);
    Ok(format!("v=DKIM1; k={}; p={p}", algorithm.dns_name()))
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}
