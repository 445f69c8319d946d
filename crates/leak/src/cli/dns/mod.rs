//! `leak dns records` and `leak dns check`: the DNS records an operator must
//! publish for `anonymizer.domain` and `server.hostname`, and a check of what
//! the world actually sees through `[dns] nameservers`.
//!
//! - `mod.rs`: the commands and [`expected`], the record set both share.
//! - `check.rs`: the queries and the comparison.

mod check;

use super::parse_config;
use crate::{CliResult, Failure};
use clap::Subcommand;
use leak_config::Config;
use std::net::IpAddr;
use std::path::Path;

#[derive(Subcommand)]
pub enum DnsCommand {
    /// Print every record to publish (zone-file syntax) and the PTR to request.
    Records {
        /// A public address leak sends from (repeatable): used in SPF, the
        /// host's A/AAAA record and the PTR request.
        #[arg(long = "address", value_name = "IP")]
        addresses: Vec<IpAddr>,
    },
    /// Query the published records through [dns] nameservers; exit 1 if anything is missing or wrong.
    Check,
}

/// One record to publish. `value` holds TXT strings (each at most 255
/// characters, as zone files require) or the single RDATA of other types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub kind: Kind,
    pub value: Vec<String>,
    /// Why it is needed, printed as a zone-file comment.
    pub why: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mx,
    Txt,
    A,
    Aaaa,
    /// In the provider's reverse zone, not the operator's.
    Ptr,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Mx => "MX",
            Kind::Txt => "TXT",
            Kind::A => "A",
            Kind::Aaaa => "AAAA",
            Kind::Ptr => "PTR",
        }
    }
}

pub fn run(config_path: &Path, command: DnsCommand) -> CliResult {
    let config = parse_config(config_path)?;
    match command {
        DnsCommand::Records { addresses } => {
            for record in expected(&config, &addresses)? {
                println!("; {}", record.why);
                println!("{}", zone_line(&record));
            }
            Ok(())
        }
        DnsCommand::Check => check::run(&config),
    }
}

/// Every record leak needs, for the given sending addresses (none: SPF uses
/// the `mx` mechanism and the A/AAAA and PTR records are left out).
pub fn expected(config: &Config, addresses: &[IpAddr]) -> Result<Vec<Expected>, Failure> {
    let domain = config.anonymizer.domain.trim_end_matches('.');
    let host = config.server.hostname.trim_end_matches('.');
    let mut records = vec![Expected {
        name: domain.to_string(),
        kind: Kind::Mx,
        value: vec![format!("10 {host}")],
        why: "bounces, complaints and opt-out mail come back to the anonymizer domain",
    }];
    let spf_hosts: String = if addresses.is_empty() {
        " mx".to_string()
    } else {
        addresses.iter().map(|ip| spf_mechanism(*ip)).collect()
    };
    records.push(txt(
        domain,
        format!("v=spf1{spf_hosts} -all"),
        "SPF for the envelope sender (MAIL FROM is at the anonymizer domain)",
    ));
    records.push(txt(
        host,
        "v=spf1 a -all".to_string(),
        "SPF for the EHLO name",
    ));
    for key in &config.dkim.keys {
        let spec = crate::serve::settings::dkim_key(key);
        let value = leak_dkim::dns_txt_value(&spec.private_key, spec.algorithm)
            .map_err(Failure::refused)?;
        records.push(txt(
            &format!("{}._domainkey.{domain}", spec.selector),
            value,
            "DKIM public key: receivers verify leak's signatures with it",
        ));
    }
    records.push(txt(
        &format!("_dmarc.{domain}"),
        "v=DMARC1; p=reject; adkim=s; aspf=s".to_string(),
        "DMARC: nobody else may send as the anonymizer domain (start with p=none and a rua= report address if you prefer)",
    ));
    for ip in addresses {
        let kind = if ip.is_ipv4() { Kind::A } else { Kind::Aaaa };
        records.push(Expected {
            name: host.to_string(),
            kind,
            value: vec![ip.to_string()],
            why: "the host's address, which its PTR must match (forward-confirmed reverse DNS)",
        });
        records.push(Expected {
            name: reverse_name(*ip),
            kind: Kind::Ptr,
            value: vec![host.to_string()],
            why: "ask your hosting provider for this PTR: receivers refuse mail from addresses whose PTR does not name the host",
        });
    }
    Ok(records)
}

fn txt(name: &str, value: String, why: &'static str) -> Expected {
    Expected {
        name: name.to_string(),
        kind: Kind::Txt,
        value: split_txt(&value),
        why,
    }
}

fn spf_mechanism(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!(" ip4:{v4}"),
        IpAddr::V6(v6) => format!(" ip6:{v6}"),
    }
}

/// TXT character-strings are at most 255 octets (RFC 1035 §3.3); a longer
/// value (a 2048-bit RSA key) is published as several strings of one record.
pub fn split_txt(value: &str) -> Vec<String> {
    value
        .as_bytes()
        .chunks(255)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect()
}

/// The record as one zone-file line (names fully qualified).
fn zone_line(record: &Expected) -> String {
    let rdata = match record.kind {
        Kind::Txt => record
            .value
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(" "),
        Kind::Mx | Kind::Ptr => format!("{}.", record.value.join(" ")),
        Kind::A | Kind::Aaaa => record.value.join(" "),
    };
    let rdata = if record.kind == Kind::Txt && record.value.len() > 1 {
        format!("( {rdata} )")
    } else {
        rdata
    };
    format!("{}. IN {} {rdata}", record.name, record.kind.label())
}

/// `in-addr.arpa` / `ip6.arpa` name of an address.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let nibbles: Vec<String> = v6
                .octets()
                .iter()
                .rev()
                .flat_map(|byte| [byte & 0xf, byte >> 4])
                .map(|nibble| format!("{nibble:x}"))
                .collect();
            format!("{}.ip6.arpa", nibbles.join("."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_txt_values_are_split_at_255_octets() {
        let value = format!("p={}", "A".repeat(400));
        let parts = split_txt(&value);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= 255));
        assert_eq!(parts.concat(), value);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("203.0.113.25".parse().unwrap()),
            "25.113.0.203.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::25".parse().unwrap());
        assert!(v6.starts_with("5.2.0.0.0.0.0.0."), "{v6}");
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa"), "{v6}");
    }

    #[test]
    fn multi_string_txt_is_one_parenthesised_record() {
        let record = txt("s._domainkey.a.test", "x".repeat(300), "why");
        let line = zone_line(&record);
        assert!(
            line.starts_with("s._domainkey.a.test. IN TXT ( \""),
            "{line}"
        );
        assert!(line.ends_with("\" )"), "{line}");
    }
}
