//! `leak dns check`: asks the configured resolvers (`[dns] nameservers`, else
//! the system's) for every record of [`super::expected`] and for the
//! forward-confirmed reverse DNS of `server.hostname`, and prints one line per
//! check: `ok`, `missing` or `wrong`, with what was expected.

use super::{expected, Expected, Kind};
use crate::{CliResult, Failure};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use leak_config::Config;
use std::net::IpAddr;
use std::time::Duration;

/// One check's result.
enum Verdict {
    Ok(String),
    Missing(String),
    Wrong(String),
}

pub fn run(config: &Config) -> CliResult {
    let records = expected(config, &[])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::environment)?;
    let verdicts = runtime.block_on(async {
        let nameservers: Vec<_> = config
            .dns
            .nameservers
            .iter()
            .filter_map(|n| leak_config::parse_nameserver(n))
            .collect();
        let resolver = leak_delivery::build_resolver(&nameservers, Duration::from_secs(5))
            .map_err(|e| Failure::environment(anyhow::anyhow!("cannot use the resolver: {e}")))?;
        let mut verdicts = Vec::new();
        for record in &records {
            verdicts.push(check_record(&resolver, record).await);
        }
        verdicts.extend(check_forward_confirmed(&resolver, &config.server.hostname).await);
        Ok::<_, Failure>(verdicts)
    })?;
    let mut problems = 0;
    for verdict in &verdicts {
        let (word, text) = match verdict {
            Verdict::Ok(text) => ("ok     ", text),
            Verdict::Missing(text) => ("missing", text),
            Verdict::Wrong(text) => ("wrong  ", text),
        };
        problems += usize::from(!matches!(verdict, Verdict::Ok(_)));
        println!("{word} {text}");
    }
    if problems > 0 {
        return Err(Failure::refused(anyhow::anyhow!(
            "{problems} DNS record(s) missing or wrong: `leak dns records` prints what to publish"
        )));
    }
    Ok(())
}

/// The answers of one type for `name`, as text (TXT strings joined, MX as
/// "pref host", names without the trailing dot); empty when there are none.
async fn answers(resolver: &TokioResolver, name: &str, kind: RecordType) -> Vec<String> {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let Ok(lookup) = resolver.lookup(fqdn.as_str(), kind).await else {
        return Vec::new();
    };
    lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            RData::MX(mx) => Some(format!(
                "{} {}",
                mx.preference,
                bare(&mx.exchange.to_ascii())
            )),
            RData::PTR(ptr) => Some(bare(&ptr.0.to_ascii())),
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(aaaa) => Some(aaaa.0.to_string()),
            _ => None,
        })
        .collect()
}

fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn check_record(resolver: &TokioResolver, record: &Expected) -> Verdict {
    let want = record.value.concat();
    let label = format!("{} {} ({})", record.kind.label(), record.name, record.why);
    match record.kind {
        Kind::Mx => {
            let found = answers(resolver, &record.name, RecordType::MX).await;
            let host = want
                .split_once(' ')
                .map(|(_, h)| bare(h))
                .unwrap_or_default();
            if found.is_empty() {
                Verdict::Missing(format!("{label}: publish MX {want}."))
            } else if found.iter().any(|mx| mx.ends_with(&format!(" {host}"))) {
                Verdict::Ok(label)
            } else {
                Verdict::Wrong(format!("{label}: found {found:?}, none names {host}"))
            }
        }
        Kind::Txt => check_txt(resolver, record, &label, &want).await,
        // Addresses and PTRs are checked from what the host name resolves to.
        Kind::A | Kind::Aaaa | Kind::Ptr => Verdict::Ok(label),
    }
}

/// SPF and DMARC: one record of the right version must exist (its policy is
/// the operator's choice); DKIM: the published key must be leak's key.
async fn check_txt(
    resolver: &TokioResolver,
    record: &Expected,
    label: &str,
    want: &str,
) -> Verdict {
    let found = answers(resolver, &record.name, RecordType::TXT).await;
    let version = want
        .split(';')
        .next()
        .unwrap_or(want)
        .split(' ')
        .next()
        .unwrap_or(want);
    let same_kind: Vec<&String> = found.iter().filter(|t| t.starts_with(version)).collect();
    match same_kind.as_slice() {
        [] => Verdict::Missing(format!("{label}: publish TXT \"{want}\"")),
        [one] if version == "v=DKIM1" => {
            if public_key(one) == public_key(want) {
                Verdict::Ok(label.to_string())
            } else {
                Verdict::Wrong(format!(
                    "{label}: the published p= is not the configured key's"
                ))
            }
        }
        [_] => Verdict::Ok(label.to_string()),
        _ => Verdict::Wrong(format!(
            "{label}: {} records start with {version}; there must be one",
            same_kind.len()
        )),
    }
}

/// The `p=` tag of a DKIM record, without white space.
fn public_key(record: &str) -> String {
    record
        .split(';')
        .filter_map(|tag| tag.trim().strip_prefix("p="))
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

/// The host name must have addresses, and each address a PTR naming the host
/// (forward-confirmed reverse DNS: receivers check the EHLO name this way).
async fn check_forward_confirmed(resolver: &TokioResolver, hostname: &str) -> Vec<Verdict> {
    let host = bare(hostname);
    let mut addresses = answers(resolver, &host, RecordType::A).await;
    addresses.extend(answers(resolver, &host, RecordType::AAAA).await);
    if addresses.is_empty() {
        return vec![Verdict::Missing(format!(
            "A/AAAA {host} (server.hostname must resolve to the sending addresses)"
        ))];
    }
    let mut verdicts = vec![Verdict::Ok(format!(
        "A/AAAA {host}: {}",
        addresses.join(", ")
    ))];
    for address in addresses {
        let Ok(ip) = address.parse::<IpAddr>() else {
            continue;
        };
        let names = answers(resolver, &super::reverse_name(ip), RecordType::PTR).await;
        let label = format!("PTR {ip} (ask your hosting provider)");
        verdicts.push(if names.is_empty() {
            Verdict::Missing(format!("{label}: should name {host}"))
        } else if names.contains(&host) {
            Verdict::Ok(format!("{label} -> {host}"))
        } else {
            Verdict::Wrong(format!("{label}: names {names:?}, not {host}"))
        });
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::public_key;

    #[test]
    fn dkim_keys_compare_without_white_space() {
        assert_eq!(
            public_key("v=DKIM1; k=rsa; p=AB CD"),
            public_key("v=DKIM1;k=rsa;p=ABCD")
        );
    }
}
