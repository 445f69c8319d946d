//! Submission accounts: the users file that `leak user add|remove|list` manages
//! and that the daemon checks AUTH against.
//!
//! The file is TOML, one table per account, mode 0600, written atomically
//! (temporary file, fsync, rename):
//!
//! ```toml
//! [users.alice]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$…"
//! notify = "alice@example.org"          # where delivery-failure reports go
//! aliases = ["Alice Martin", "alice@old.example"]  # scrubbed from messages too
//! ```

mod cache;

pub use cache::CredentialCache;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Why the users file could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid users file: {message}")]
    Invalid { path: String, message: String },
    #[error("account `{0}` already exists")]
    Exists(String),
    #[error("no account `{0}`")]
    NotFound(String),
    #[error("invalid account name `{0}`: use letters, digits, '.', '-', '_' or '@'")]
    BadName(String),
    #[error("invalid alias `{0}`: give a name of one or more words or an e-mail address")]
    BadAlias(String),
    #[error("the password must not be empty")]
    EmptyPassword,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// One submission account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The argon2id PHC string.
    pub password: String,
    /// Where delivery-failure reports for this account's messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    /// Other real names and addresses of this person, scrubbed from messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// The whole users file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    #[serde(default)]
    pub users: BTreeMap<String, Account>,
}

impl Users {
    /// Reads the file; a missing file is an empty set of accounts.
    pub fn load(path: &Path) -> Result<Users, AccountsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Users::default()),
            Err(source) => {
                return Err(AccountsError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let users: Users = toml::from_str(&text).map_err(|e| AccountsError::Invalid {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })?;
        for (name, account) in &users.users {
            check_hash(&account.password).map_err(|problem| AccountsError::Invalid {
                path: path.display().to_string(),
                message: format!("account `{name}`: {problem}"),
            })?;
        }
        Ok(users)
    }

    /// Writes the file atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), AccountsError> {
        let text = toml::to_string(self).map_err(|e| AccountsError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_private_atomically(path, text.as_bytes()).map_err(|source| AccountsError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// Adds an account with an argon2id hash of `password`.
    pub fn add(
        &mut self,
        name: &str,
        password: &str,
        notify: Option<String>,
    ) -> Result<(), AccountsError> {
        self.add_with_aliases(name, password, notify, Vec::new())
    }

    /// Adds an account with the person's other names and addresses
    /// (`leak user add --alias`), which the anonymizer scrubs from messages
    /// and refuses as recipients.
    pub fn add_with_aliases(
        &mut self,
        name: &str,
        password: &str,
        notify: Option<String>,
        aliases: Vec<String>,
    ) -> Result<(), AccountsError> {
        if let Some(alias) = aliases.iter().find(|a| !valid_alias(a)) {
            return Err(AccountsError::BadAlias(alias.clone()));
        }
        if !valid_name(name) {
            return Err(AccountsError::BadName(name.to_owned()));
        }
        if self.users.contains_key(name) {
            return Err(AccountsError::Exists(name.to_owned()));
        }
        if password.is_empty() {
            return Err(AccountsError::EmptyPassword);
        }
        let account = Account {
            password: hash_password(password)?,
            notify,
            aliases,
        };
        self.users.insert(name.to_owned(), account);
        Ok(())
    }

    /// Replaces an account's password with a new argon2id hash.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), AccountsError> {
        if password.is_empty() {
            return Err(AccountsError::EmptyPassword);
        }
        let account = self
            .users
            .get_mut(name)
            .ok_or_else(|| AccountsError::NotFound(name.to_owned()))?;
        account.password = hash_password(password)?;
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), AccountsError> {
        self.users
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| AccountsError::NotFound(name.to_owned()))
    }

    /// The account if `password` is right. Runs argon2: call it off the async
    /// executor. An unknown name costs the same as a wrong password.
    pub fn verify(&self, name: &str, password: &str) -> Option<&Account> {
        match self.users.get(name) {
            Some(account) if verify_password(&account.password, password) => Some(account),
            Some(_) => None,
            None => {
                // Equalise timing so that probing for account names is pointless.
                let _ = verify_password(DUMMY_HASH, password);
                None
            }
        }
    }
}

impl Users {
    /// The account if `cache` holds a recent verification of this name and
    /// password against the account's current hash. Cheap (one HMAC): fit
    /// for the async executor.
    pub fn verify_from_cache(
        &self,
        cache: &CredentialCache,
        name: &str,
        password: &str,
    ) -> Option<&Account> {
        self.users
            .get(name)
            .filter(|account| cache.check(name, password, &account.password))
    }

    /// `verify` with the cache in front: a hit skips argon2id, a success is
    /// remembered, a failure never is. Runs argon2 on a miss: call it off
    /// the async executor.
    pub fn verify_cached(
        &self,
        cache: &CredentialCache,
        name: &str,
        password: &str,
    ) -> Option<&Account> {
        if let Some(account) = self.verify_from_cache(cache, name, password) {
            return Some(account);
        }
        let account = self.verify(name, password)?;
        cache.remember(name, password, &account.password);
        Some(account)
    }
}

/// A valid hash of a random password, verified against when the name is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0Rlq3w/rMpwBXIfxs6AQNHxMTXJx2MKZI9WJV0NfR+Y";

fn hash_password(password: &str) -> Result<String, AccountsError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountsError::Hash(e.to_string()))
}

/// The costs a stored hash may ask for. A hand-edited (or planted) hash
/// with `m=1048576` would make every AUTH attempt allocate 1 GiB: the users
/// file is refused at load instead, and such a hash is never verified.
/// Generous next to what `leak user add` writes (m=19456, t=2, p=1, the
/// OWASP minimum) and to the usual "strong" profile (m=65536, t=3, p=4).
pub const MAX_MEMORY_KIB: u32 = 65_536;
/// Most passes over memory allowed in a stored hash.
pub const MAX_TIME_COST: u32 = 10;
/// Most lanes allowed in a stored hash.
pub const MAX_PARALLELISM: u32 = 4;

/// Checks a stored hash: an argon2id PHC string within the cost caps.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("unreadable password hash ({e})"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "password hash is {}, not argon2id",
            parsed.algorithm
        ));
    }
    let params = argon2::Params::try_from(&parsed)
        .map_err(|e| format!("unreadable argon2 parameters ({e})"))?;
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if m > MAX_MEMORY_KIB || t > MAX_TIME_COST || p > MAX_PARALLELISM {
        return Err(format!(
            "argon2 cost m={m},t={t},p={p} is above the limit \
             m={MAX_MEMORY_KIB},t={MAX_TIME_COST},p={MAX_PARALLELISM}: remove the account from the file and add it again with `leak user add`"
        ));
    }
    Ok(())
}

fn verify_password(hash: &str, password: &str) -> bool {
    // Checked again here so that no path verifies an over-cost hash.
    if check_hash(hash).is_err() {
        return false;
    }
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

/// An alias is a name (any words, at least one letter or digit) or an
/// address (`local@domain`, no spaces), on one line.
fn valid_alias(alias: &str) -> bool {
    let alias = alias.trim();
    let is_address = |a: &str| {
        a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !a.chars().any(char::is_whitespace)
        })
    };
    alias.chars().count() <= 200
        && !alias.chars().any(char::is_control)
        && alias.chars().any(char::is_alphanumeric)
        && (!alias.contains('@') || is_address(alias))
}

/// tmp → fsync → rename → fsync dir, mode 0600 from the start.
fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("users")
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn over_cost_hashes_are_refused_at_load_and_never_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let absurd = "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$0Rlq3w/rMpwBXIfxs6AQNHxMTXJx2MKZI9WJV0NfR+Y";
        std::fs::write(&path, format!("[users.mallory]\npassword = \"{absurd}\"\n")).unwrap();
        let error = Users::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("mallory") && error.contains("m=1048576"),
            "{error}"
        );
        assert!(!verify_password(absurd, "x"));
        assert!(check_hash(DUMMY_HASH).is_ok());
        let argon2i = DUMMY_HASH.replace("argon2id", "argon2i");
        assert!(check_hash(&argon2i).is_err());
        assert!(check_hash(&DUMMY_HASH.replace("t=2", "t=11")).is_err());
        assert!(check_hash(&DUMMY_HASH.replace("p=1", "p=5")).is_err());
    }

    #[test]
    fn add_save_load_verify_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut users = Users::load(&path).unwrap();
        assert!(users.users.is_empty());
        users
            .add("alice", "correct horse", Some("alice@real.example".into()))
            .unwrap();
        assert!(matches!(
            users.add("alice", "x", None),
            Err(AccountsError::Exists(_))
        ));
        assert!(matches!(
            users.add("bad name", "x", None),
            Err(AccountsError::BadName(_))
        ));
        users.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("correct horse"));

        let users = Users::load(&path).unwrap();
        let account = users
            .verify("alice", "correct horse")
            .expect("right password");
        assert_eq!(account.notify.as_deref(), Some("alice@real.example"));
        assert!(users.verify("alice", "wrong").is_none());
        assert!(users.verify("bob", "correct horse").is_none());

        let mut users = users;
        users.remove("alice").unwrap();
        assert!(matches!(
            users.remove("alice"),
            Err(AccountsError::NotFound(_))
        ));
    }

    #[test]
    fn aliases_are_stored_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let mut users = Users::default();
        let aliases = vec!["Jean Dupont".to_string(), "jd1987@example.org".to_string()];
        users
            .add_with_aliases("jean", "pw", None, aliases.clone())
            .unwrap();
        for bad in ["", "  ", "a@b@c.example", "x\ny", "jd @x.example"] {
            assert!(
                matches!(
                    users.add_with_aliases("other", "pw", None, vec![bad.to_string()]),
                    Err(AccountsError::BadAlias(_))
                ),
                "{bad:?}"
            );
        }
        users.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("jd1987@example.org"), "{text}");
        assert_eq!(Users::load(&path).unwrap().users["jean"].aliases, aliases);
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn invalid_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, "[users.alice]\npasword = 'x'\n").unwrap();
        assert!(matches!(
            Users::load(&path),
            Err(AccountsError::Invalid { .. })
        ));
    }

    #[test]
    fn the_cache_skips_nothing_a_password_change_or_removal_should_stop() {
        let cache = CredentialCache::new(std::time::Duration::from_secs(300));
        let mut users = Users::default();
        users.add("alice", "old password", None).unwrap();
        assert!(users
            .verify_from_cache(&cache, "alice", "old password")
            .is_none());
        assert!(users
            .verify_cached(&cache, "alice", "old password")
            .is_some());
        assert!(users
            .verify_from_cache(&cache, "alice", "old password")
            .is_some());
        // A failure is not remembered.
        assert!(users.verify_cached(&cache, "alice", "guess").is_none());
        assert!(users.verify_from_cache(&cache, "alice", "guess").is_none());

        // The new hash does not match the cached tag, even before a clear.
        let mut changed = users.clone();
        changed.set_password("alice", "new password").unwrap();
        assert!(changed
            .verify_from_cache(&cache, "alice", "old password")
            .is_none());
        assert!(changed
            .verify_cached(&cache, "alice", "old password")
            .is_none());
        assert!(changed
            .verify_cached(&cache, "alice", "new password")
            .is_some());
        assert!(matches!(
            changed.set_password("nobody", "x"),
            Err(AccountsError::NotFound(_))
        ));
        assert!(matches!(
            changed.set_password("alice", ""),
            Err(AccountsError::EmptyPassword)
        ));

        // A removed account is not served from the cache.
        users
            .verify_cached(&cache, "alice", "old password")
            .unwrap();
        users.remove("alice").unwrap();
        assert!(users
            .verify_from_cache(&cache, "alice", "old password")
            .is_none());
    }
}
