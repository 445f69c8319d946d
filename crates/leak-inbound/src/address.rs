//! Which recipients the inbound listener takes, and what each one is for.
//!
//! Only addresses at `anonymizer.domain` that leak itself uses are
//! accepted; everything else is refused at RCPT TO, so the listener can
//! never be used as a relay (nothing it accepts is ever forwarded either).
//! The domain must match exactly (case aside): `user%other@domain`, source
//! routes and quoted local parts name no address leak uses and are refused
//! like any other unknown local part.

/// What mail to one accepted address is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `bounce-<queue id>@`: the VERP return path of one queued message.
    Bounce(String),
    /// `abuse@` or `postmaster@`: feedback-loop reports and complaints.
    Abuse,
    /// `anonymizer.optout_address`: "stop writing to me".
    Optout,
    /// `<category>@`: a reply to a pseudonym.
    Pseudonym,
}

/// The addresses leak answers for.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// `anonymizer.domain`, lowercase.
    pub domain: String,
    /// `anonymizer.optout_address`, lowercase.
    pub optout: Option<String>,
    /// Category keys (including the default one), lowercase.
    pub categories: Vec<String>,
}

impl Addresses {
    /// What `address` is for, or `None` when leak does not take mail for it.
    pub fn classify(&self, address: &str) -> Option<Target> {
        let lower = address.trim().to_ascii_lowercase();
        if self.optout.as_deref() == Some(lower.as_str()) {
            return Some(Target::Optout);
        }
        let (local, domain) = lower.rsplit_once('@')?;
        if domain != self.domain || local.is_empty() {
            return None;
        }
        if let Some(id) = local.strip_prefix("bounce-") {
            let plausible = !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            return plausible.then(|| Target::Bounce(id.to_string()));
        }
        if local == "abuse" || local == "postmaster" {
            return Some(Target::Abuse);
        }
        self.categories
            .iter()
            .any(|category| category == local)
            .then_some(Target::Pseudonym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses() -> Addresses {
        Addresses {
            domain: "anon.example".into(),
            optout: Some("optout@anon.example".into()),
            categories: vec!["someone".into(), "colleague".into()],
        }
    }

    #[test]
    fn leaks_own_addresses_only() {
        let a = addresses();
        assert_eq!(
            a.classify("bounce-0a1B@Anon.Example"),
            Some(Target::Bounce("0a1b".into()))
        );
        assert_eq!(a.classify("ABUSE@anon.example"), Some(Target::Abuse));
        assert_eq!(a.classify("postmaster@anon.example"), Some(Target::Abuse));
        assert_eq!(a.classify("optout@anon.example"), Some(Target::Optout));
        assert_eq!(
            a.classify("colleague@anon.example"),
            Some(Target::Pseudonym)
        );
        for refused in [
            "someone@elsewhere.test",
            "someone%elsewhere.test@anon.example",
            "\"someone@elsewhere.test\"@anon.example",
            "@anon.example:someone@elsewhere.test",
            "someone@elsewhere.test@anon.example",
            "someone@sub.anon.example",
            "bounce-@anon.example",
            "bounce-a/b@anon.example",
            "random@anon.example",
            "someone",
        ] {
            assert_eq!(a.classify(refused), None, "{refused}");
        }
    }
}
