//! RSA-SHA256 signatures through aws-lc-rs (AWS-LC's assembly). mail-auth's
//! rust-crypto RSA (the pure Rust `rsa` crate) took about 1.5 ms per
//! signature and half of the daemon's CPU under load; ring took 0.6 ms;
//! AWS-LC's RSA-2048 is about twice as fast again (docs/performance.md), and
//! it is the provider rustls uses here too, so the daemon carries one crypto
//! library. The key is shared (`Arc`), so each message gets its own
//! mail-auth signer and concurrent sessions sign in parallel, without a lock.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use mail_auth::common::crypto::{Algorithm, CryptoError, Sha256, SigningKey};
use mail_auth::common::headers::Writable;
use rustls_pki_types::PrivateKeyDer;
use std::sync::Arc;

/// An RSA private key ready for DKIM signing.
#[derive(Clone)]
pub(crate) struct RsaKey(Arc<RsaKeyPair>);

impl RsaKey {
    /// From a PKCS#8 or PKCS#1 DER key of 2048 to 8192 bits.
    pub fn from_der(der: &PrivateKeyDer<'_>) -> Result<RsaKey, String> {
        let pair = match der {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err("not an RSA key".into()),
        }
        .map_err(|e| format!("not a usable RSA key ({e})"))?;
        let bits = pair.public_modulus_len() * 8;
        if bits < 2048 {
            return Err("an RSA key under 2048 bits: RFC 8301 asks for at least 2048".to_owned());
        }
        if bits > 8192 {
            return Err(format!(
                "an RSA key of {bits} bits: at most 8192 are verified"
            ));
        }
        Ok(RsaKey(Arc::new(pair)))
    }

    /// The public key as a PKCS#1 `RSAPublicKey` DER.
    pub fn public_pkcs1(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }
}

impl SigningKey for RsaKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        // aws-lc-rs hashes the data itself.
        let mut data = Vec::with_capacity(512);
        input.write(&mut data);
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                &data,
                &mut signature,
            )
            .map_err(|e| mail_auth::Error::Crypto(CryptoError::Library(e.to_string())))?;
        Ok(signature)
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }
}
