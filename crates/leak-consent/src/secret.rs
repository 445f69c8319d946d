//! The server secret: 32 random bytes, generated once, readable by the
//! daemon only. Everything keyed by it (suppression entries, opt-out tokens)
//! uses a sub-key derived with HMAC-SHA256 and a fixed label, so one leaked
//! sub-key reveals nothing about the others.

use aws_lc_rs::hmac;
use std::io::Write;
use std::path::{Path, PathBuf};

const LENGTH: usize = 32;

/// Why the secret could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the server secret {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the server secret {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the server secret {0} is not 64 hexadecimal characters")]
    Malformed(PathBuf),
}

/// The server secret (never printed: `Debug` shows nothing of it).
#[derive(Clone)]
pub struct Secret([u8; LENGTH]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from bytes (tests, and callers with their own storage).
    pub fn from_bytes(bytes: [u8; LENGTH]) -> Secret {
        Secret(bytes)
    }

    /// Reads the secret at `path` (hex), creating it with mode 0600 when it
    /// does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Secret, SecretError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; LENGTH]>::try_from(b).ok())
                    .ok_or_else(|| SecretError::Malformed(path.to_path_buf()))?;
                Ok(Secret(bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(SecretError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn create(path: &Path) -> Result<Secret, SecretError> {
        use std::os::unix::fs::OpenOptionsExt;
        let bytes: [u8; LENGTH] = rand::random();
        let error = |source| SecretError::Create {
            path: path.to_path_buf(),
            source,
        };
        // create_new: two daemons starting at once cannot overwrite each other.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(error)?;
        file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(error)?;
        Ok(Secret(bytes))
    }

    /// A keyed fingerprint (hex): the sub-key of a fixed label. Nodes of a
    /// cluster compare it to know they share a secret without showing it.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.derive("leak-cluster consent secret fingerprint"))
    }

    /// The sub-key for one purpose.
    pub(crate) fn derive(&self, label: &str) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = hmac::sign(&key, label.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.secret");
        let first = Secret::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Secret::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        assert_ne!(first.derive("a"), first.derive("b"));
        let other = Secret::from_bytes([7; LENGTH]);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_ne!(first.fingerprint(), other.fingerprint());
        assert!(!first.fingerprint().contains(&hex::encode(first.0)));
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(
            Secret::load_or_create(&path),
            Err(SecretError::Malformed(_))
        ));
    }
}
