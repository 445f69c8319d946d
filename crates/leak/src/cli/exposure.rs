//! Warnings (not errors) about secrets other local users could read, and
//! about who may submit without an account: what `check-config` prints on
//! stderr and `serve` logs at start. They do not stop anything, because some
//! setups need them (a TLS key readable through an `ssl-cert` group, a
//! trusted application server on the LAN), but each is worth a second look.
//! The deliverability warnings (`deliverability.rs`) are added to them.

use leak_config::{Config, Problem};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Every warning for `config`. Files that cannot be read are left to the
/// errors `check-config` reports anyway.
pub fn warnings(config: &Config) -> Vec<Problem> {
    let mut warnings = Vec::new();
    if let Some(tls) = &config.tls {
        private_key("tls.key", &tls.key, &mut warnings);
    }
    for (index, key) in config.dkim.keys.iter().enumerate() {
        let name = format!("dkim.key[{index}].private_key");
        private_key(&name, &key.private_key, &mut warnings);
    }
    if config.cluster.is_none() {
        users_file(config, &mut warnings);
    }
    trusted_networks(config, &mut warnings);
    warnings.extend(super::deliverability::warnings(config));
    warnings
}

/// Group and other read bits.
const READABLE_BY_OTHERS: u32 = 0o044;

fn private_key(name: &str, path: &Path, warnings: &mut Vec<Problem>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.mode() & READABLE_BY_OTHERS != 0 {
        warnings.push(Problem::new(
            name,
            format!(
                "private key {} is readable by group or others (mode {:04o}): `chmod 600` it unless a group must read it",
                path.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
}

/// The users file holds password hashes: it should belong to whoever runs
/// leak and be private to them. "Whoever runs leak" is the user running this
/// check or the owner of the data directory (the service user, when an
/// administrator runs the check as root).
fn users_file(config: &Config, warnings: &mut Vec<Problem>) {
    let path = &config.auth.users_file;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let me = crate::process::effective_uid();
    let service = std::fs::metadata(&config.server.data_dir)
        .map(|m| m.uid())
        .ok();
    if meta.uid() != me && Some(meta.uid()) != service {
        warnings.push(Problem::new(
            "auth.users_file",
            format!(
                "{} belongs to uid {}, neither the user running this check (uid {me}) nor the owner of server.data_dir: whoever owns it can add accounts",
                path.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & READABLE_BY_OTHERS != 0 {
        warnings.push(Problem::new(
            "auth.users_file",
            format!(
                "{} is readable by group or others (mode {:04o}): the password hashes should be private, `chmod 600` it",
                path.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
}

/// Trusted clients submit without an account and without an hourly limit.
fn trusted_networks(config: &Config, warnings: &mut Vec<Problem>) {
    for (index, text) in config.auth.trusted_networks.iter().enumerate() {
        let Some(network) = leak_config::parse_network(text) else {
            continue;
        };
        if !is_loopback(&network) {
            warnings.push(Problem::new(
                format!("auth.trusted_networks[{index}]"),
                format!(
                    "{network} is wider than loopback: every host in it may send anonymous mail without an account or an hourly limit"
                ),
            ));
        }
    }
}

fn is_loopback(network: &ipnet::IpNet) -> bool {
    let loopback: [ipnet::IpNet; 2] = [
        "127.0.0.0/8".parse().expect("valid network"),
        "::1/128".parse().expect("valid network"),
    ];
    loopback.iter().any(|l| l.contains(network))
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_networks() {
        for net in ["127.0.0.2/32", "127.0.0.0/8", "::1/128"] {
            assert!(is_loopback(&net.parse().unwrap()), "{net}");
        }
        for net in ["0.0.0.0/0", "10.0.0.0/8", "126.0.0.0/7", "::/0"] {
            assert!(!is_loopback(&net.parse().unwrap()), "{net}");
        }
    }
}
