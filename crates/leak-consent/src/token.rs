//! Opt-out tokens: `base64url(version || nonce || ChaCha20-Poly1305(address))`.
//!
//! The issue asks for a token that needs no database lookup, shows no
//! address in clear and cannot be forged for another address. An HMAC alone
//! would need a stored map from tag to address; instead the normalised
//! address is encrypted and authenticated (AEAD, `ring`) under a key derived
//! from the server secret. The nonce is itself an HMAC of the address under a
//! second derived key (a synthetic IV, as in AES-SIV): the token of one
//! address is always the same link, two addresses never share a nonce, and
//! opening checks that the nonce matches the decrypted address.

use crate::normalize::normalize_address;
use crate::secret::Secret;
use aws_lc_rs::{aead, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const VERSION: u8 = 1;
const AAD: &[u8] = b"leak opt-out token v1";

/// Why a token was refused. Deliberately vague: the web page says only
/// that the link is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the opt-out link is not valid")]
    Invalid,
}

/// Makes and opens tokens for one server secret.
pub(crate) struct Tokens {
    seal: aead::LessSafeKey,
    nonce: hmac::Key,
}

impl Tokens {
    pub(crate) fn new(secret: &Secret) -> Tokens {
        let key = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &secret.derive("token-aead"))
            .expect("32 bytes is the ChaCha20-Poly1305 key length");
        Tokens {
            seal: aead::LessSafeKey::new(key),
            nonce: hmac::Key::new(hmac::HMAC_SHA256, &secret.derive("token-nonce")),
        }
    }

    fn nonce_for(&self, normalized: &str) -> [u8; aead::NONCE_LEN] {
        let tag = hmac::sign(&self.nonce, normalized.as_bytes());
        let mut nonce = [0u8; aead::NONCE_LEN];
        nonce.copy_from_slice(&tag.as_ref()[..aead::NONCE_LEN]);
        nonce
    }

    /// The token of `address` (normalised first).
    pub(crate) fn make(&self, address: &str) -> String {
        let normalized = normalize_address(address);
        let nonce = self.nonce_for(&normalized);
        let mut sealed = normalized.into_bytes();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(AAD),
                &mut sealed,
            )
            .expect("sealing a short address cannot fail");
        let mut out = Vec::with_capacity(1 + nonce.len() + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The normalised address a token was made for.
    pub(crate) fn open(&self, token: &str) -> Result<String, TokenError> {
        if token.len() > 1024 {
            return Err(TokenError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| TokenError::Invalid)?;
        let (&version, rest) = bytes.split_first().ok_or(TokenError::Invalid)?;
        if version != VERSION || rest.len() < aead::NONCE_LEN + aead::MAX_TAG_LEN {
            return Err(TokenError::Invalid);
        }
        let (nonce, sealed) = rest.split_at(aead::NONCE_LEN);
        let nonce: [u8; aead::NONCE_LEN] = nonce.try_into().map_err(|_| TokenError::Invalid)?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .seal
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(AAD),
                &mut sealed,
            )
            .map_err(|_| TokenError::Invalid)?;
        let address = String::from_utf8(plain.to_vec()).map_err(|_| TokenError::Invalid)?;
        if self.nonce_for(&address) != nonce {
            return Err(TokenError::Invalid);
        }
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(byte: u8) -> Tokens {
        Tokens::new(&Secret::from_bytes([byte; 32]))
    }

    #[test]
    fn round_trip_without_the_address_in_clear() {
        let t = tokens(7);
        let token = t.make("Carol+x@Example.test");
        assert_eq!(token, t.make("carol@example.test"), "one link per mailbox");
        assert!(!token.to_lowercase().contains("carol"));
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(t.open(&token).unwrap(), "carol@example.test");
    }

    #[test]
    fn forged_altered_or_foreign_tokens_are_refused() {
        let t = tokens(7);
        let token = t.make("carol@example.test");
        assert_eq!(tokens(8).open(&token), Err(TokenError::Invalid));
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            t.open(&URL_SAFE_NO_PAD.encode(&bytes)),
            Err(TokenError::Invalid)
        );
        for junk in ["", "AA", "not base64!", &"A".repeat(2000)] {
            assert_eq!(t.open(junk), Err(TokenError::Invalid));
        }
    }
}
