//! Warnings about settings that work but cost the delivered mail its
//! reputation at receivers: part of [`super::exposure::warnings`], so
//! `check-config` prints them and `serve` logs them at start.

use leak_config::{Config, DkimAlgorithm, Problem};

/// Every deliverability warning for `config`.
pub fn warnings(config: &Config) -> Vec<Problem> {
    let mut warnings = Vec::new();
    let hostname = config.server.hostname.trim_end_matches('.');
    // An empty hostname is an error `validate` reports already.
    if !hostname.is_empty() && !is_fully_qualified(hostname) {
        warnings.push(Problem::new(
            "server.hostname",
            format!(
                "`{hostname}` is not a fully qualified domain name: receivers' spam filters \
                 (rspamd, SpamAssassin) score a HELO like this (about +3); use the public \
                 name whose A/AAAA and PTR records point at this server"
            ),
        ));
    }
    let has_rsa = config
        .dkim
        .keys
        .iter()
        .any(|k| k.algorithm == DkimAlgorithm::Rsa);
    if !config.dkim.keys.is_empty() && !has_rsa {
        warnings.push(Problem::new(
            "dkim",
            "no RSA key configured: many receivers cannot verify Ed25519 signatures (RFC 8463) \
             and see the mail as unsigned; add an RSA key beside it \
             (`leak dkim generate --algorithm rsa`)",
        ));
    }
    warnings
}

/// A name with at least two labels, not `localhost` or under `.localhost`
/// or `.local`, and not an IP address literal.
fn is_fully_qualified(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains('.')
        && lower.parse::<std::net::IpAddr>().is_err()
        && !lower.ends_with(".localhost")
        && !lower.ends_with(".local")
        && !lower.ends_with(".localdomain")
}

#[cfg(test)]
mod tests {
    use super::is_fully_qualified;

    #[test]
    fn fully_qualified_names() {
        for good in ["mail.anon.example", "mx1.example.org"] {
            assert!(is_fully_qualified(good), "{good}");
        }
        for bad in [
            "localhost",
            "mail",
            "box.localdomain",
            "a.local",
            "127.0.0.1",
        ] {
            assert!(!is_fully_qualified(bad), "{bad}");
        }
    }
}
