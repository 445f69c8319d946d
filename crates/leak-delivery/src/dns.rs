//! Where mail for a domain goes: MX lookup (RFC 5321 §5.1) with hickory-resolver.
//!
//! MX hosts are sorted by preference, hosts of equal preference shuffled; a
//! domain without MX records is its own mail host (implicit MX); a null MX
//! (RFC 7505) or a domain that does not exist fails at once; everything else
//! that goes wrong (SERVFAIL, timeouts) is temporary. hickory's response cache
//! keeps every answer for its TTL (and NXDOMAIN for the SOA's negative TTL).

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{ResolverBuilder, TokioResolver};
use rand::seq::SliceRandom as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One host to try, in order, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxTarget {
    /// The MX host name (no trailing dot), used for logs and as the TLS name.
    pub host: String,
    /// Its IPv4 and IPv6 addresses, tried in order.
    pub addrs: Vec<IpAddr>,
}

/// Why a domain's mail hosts could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsFailure {
    /// The domain publishes a null MX: it accepts no mail (RFC 7505).
    #[error("550 5.1.10 {0} does not accept mail (null MX)")]
    NullMx(String),
    /// NXDOMAIN, or no MX and no address: nothing to deliver to, ever.
    #[error("550 5.1.2 {0}: {1}")]
    NoSuchDomain(String, &'static str),
    /// SERVFAIL, timeout, unreachable resolver…: try again later.
    #[error("451 4.4.3 DNS lookup for {0} failed: {1}")]
    Temporary(String, String),
}

impl DnsFailure {
    /// Permanent failures fail the recipient; temporary ones defer it.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, DnsFailure::Temporary(..))
    }
}

/// A hickory resolver on `nameservers` (UDP then TCP, each on its own port)
/// when given, else on the system's `/etc/resolv.conf`; one attempt per query
/// within `timeout`. Also used by `leak dns check`.
pub fn build_resolver(
    nameservers: &[SocketAddr],
    timeout: Duration,
) -> Result<TokioResolver, NetError> {
    resolver_builder(nameservers, timeout)?.build()
}

/// [`build_resolver`]'s builder, for resolvers that add to it (DANE's
/// validating one adds trust anchors).
pub(crate) fn resolver_builder(
    nameservers: &[SocketAddr],
    timeout: Duration,
) -> Result<ResolverBuilder<TokioRuntimeProvider>, NetError> {
    let mut builder = if nameservers.is_empty() {
        TokioResolver::builder_tokio()?
    } else {
        let servers = nameservers
            .iter()
            .map(|addr| {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for conn in &mut ns.connections {
                    conn.port = addr.port();
                }
                ns
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.ndots = 0;
    Ok(builder)
}

/// The MX resolver, shared by all delivery tasks (clones share one cache).
#[derive(Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
}

impl MxResolver {
    /// Uses `nameservers` (UDP then TCP, each on its own port) when given, else
    /// the system's `/etc/resolv.conf`.
    pub fn new(nameservers: &[SocketAddr], timeout: Duration) -> Result<Self, NetError> {
        Ok(MxResolver {
            resolver: build_resolver(nameservers, timeout)?,
        })
    }

    /// The hosts to try for `domain`, best first.
    pub async fn resolve(&self, domain: &str) -> Result<Vec<MxTarget>, DnsFailure> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let mut hosts = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => mx_hosts(domain, lookup.answers())?,
            Err(err) => match classify(&err) {
                Negative::NoRecords => vec![domain.to_string()], // implicit MX
                Negative::NxDomain => {
                    return Err(DnsFailure::NoSuchDomain(domain.into(), "no such domain"))
                }
                Negative::Other => {
                    return Err(DnsFailure::Temporary(domain.into(), err.to_string()))
                }
            },
        };
        if hosts.is_empty() {
            hosts.push(domain.to_string());
        }
        let implicit = hosts.len() == 1 && hosts[0].eq_ignore_ascii_case(domain);
        let mut targets = Vec::with_capacity(hosts.len());
        let mut last_temporary = None;
        for host in hosts {
            match self.addresses(&host).await {
                Ok(addrs) if !addrs.is_empty() => targets.push(MxTarget { host, addrs }),
                Ok(_) => {}
                Err(e) => last_temporary = Some(e),
            }
        }
        if targets.is_empty() {
            return Err(match last_temporary {
                Some(e) => DnsFailure::Temporary(domain.into(), e),
                None if implicit => {
                    DnsFailure::NoSuchDomain(domain.into(), "no MX and no address records")
                }
                None => DnsFailure::Temporary(domain.into(), "no MX host has an address".into()),
            });
        }
        Ok(targets)
    }

    /// A host's addresses; `Ok(empty)` when it definitely has none.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(err) => match classify(&err) {
                Negative::NoRecords | Negative::NxDomain => Ok(Vec::new()),
                Negative::Other => Err(format!("{host}: {err}")),
            },
        }
    }
}

/// MX answers to host names: null MX check, preference order, equal ones shuffled.
fn mx_hosts(
    domain: &str,
    answers: &[hickory_resolver::proto::rr::Record],
) -> Result<Vec<String>, DnsFailure> {
    let mut mxs: Vec<(u16, String)> = Vec::new();
    for record in answers {
        if let RData::MX(mx) = &record.data {
            if mx.exchange.is_root() {
                return Err(DnsFailure::NullMx(domain.into()));
            }
            let host = mx.exchange.to_ascii();
            mxs.push((mx.preference, host.trim_end_matches('.').to_string()));
        }
    }
    Ok(order_by_preference(mxs, &mut rand::thread_rng()))
}

/// Sorts by preference and shuffles each run of equal preferences (RFC 5321 §5.1).
fn order_by_preference(mut mxs: Vec<(u16, String)>, rng: &mut impl rand::Rng) -> Vec<String> {
    mxs.shuffle(rng);
    mxs.sort_by_key(|(pref, _)| *pref); // stable: keeps the shuffled order within a preference
    mxs.dedup_by(|a, b| a.1.eq_ignore_ascii_case(&b.1));
    mxs.into_iter().map(|(_, host)| host).collect()
}

enum Negative {
    /// The name exists but has no records of that type.
    NoRecords,
    NxDomain,
    /// SERVFAIL, REFUSED, timeouts, I/O: temporary.
    Other,
}

fn classify(err: &NetError) -> Negative {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            ResponseCode::NXDomain => Negative::NxDomain,
            ResponseCode::NoError => Negative::NoRecords,
            _ => Negative::Other,
        },
        _ => Negative::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn equal_preferences_are_shuffled_but_order_is_kept() {
        let input = vec![
            (20, "c".to_string()),
            (10, "a".to_string()),
            (10, "b".to_string()),
            (30, "d".to_string()),
        ];
        let mut seen_first = std::collections::HashSet::new();
        for seed in 0..64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let order = order_by_preference(input.clone(), &mut rng);
            assert_eq!(order.len(), 4);
            assert_eq!(&order[2..], ["c", "d"]);
            seen_first.insert(order[0].clone());
        }
        assert_eq!(
            seen_first.len(),
            2,
            "both equal-preference hosts come first sometimes"
        );
    }
}
