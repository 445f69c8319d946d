//! MTA-STS (RFC 8461): a recipient domain publishing a policy gets
//! authenticated TLS to the MX hosts it names.
//!
//! The TXT record `_mta-sts.<domain>` (hickory) announces a policy and its
//! `id`; the policy itself comes over HTTPS from
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` (hyper over
//! tokio-rustls, certificate verified against the webpki roots plus
//! `delivery.tls_ca_file`, no redirects followed). Policies are cached by
//! domain for their `max_age` and fetched again only when the TXT `id`
//! changes. As §5 demands, a domain whose TXT record exists but whose
//! policy cannot be fetched, with nothing cached, is treated as having no
//! policy; a cached policy stays in force until it expires even when the
//! TXT record or the web server disappears. A failed fetch is remembered
//! too, by domain and TXT `id`, for [`RETRY_FAILED_FETCH`]: until then the
//! domain's deliveries take the failure (and report it) without asking the
//! web server again, so a broken policy host costs one fetch and its
//! timeout per five minutes, not one per delivery. A new TXT `id` is
//! fetched at once.
//!
//! What leak does with a policy (see `scheduler`): `enforce` → only MX hosts
//! matching its `mx` patterns, each with a verified certificate, else the
//! recipients are deferred; `testing` → delivered as without a policy, what
//! `enforce` would have refused reported through TLS-RPT; `none` → no
//! policy. A policy that cannot be had ([`StsLookup::Failed`]) is reported
//! through TLS-RPT by its RFC 8460 type: `sts-webpki-invalid` (the HTTPS
//! certificate), `sts-policy-invalid` (the text), `sts-policy-fetch-error`
//! (anything else: address, connection, HTTP status, timeout).

use crate::tls::TlsFailure;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls_pki_types::ServerName;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest policy body read (RFC 8461 §3.3 suggests senders cap it at 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
/// Longest cache lifetime a policy may ask for (RFC 8461 §3.2: one year).
const MAX_AGE: u64 = 31_557_600;
/// How long a failed fetch stands for a domain whose TXT `id` stays.
const RETRY_FAILED_FETCH: Duration = Duration::from_secs(300);

/// A policy's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed `mta-sts.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub mode: Mode,
    /// MX patterns: `mail.example.com` or `*.example.net` (one label).
    pub mx: Vec<String>,
    pub max_age: u64,
}

impl Policy {
    /// Parses the policy text (RFC 8461 §3.2); `None` when it is invalid.
    pub fn parse(text: &str) -> Option<Policy> {
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value == "STSv1"),
                "mode" => {
                    mode = match value {
                        "enforce" => Some(Mode::Enforce),
                        "testing" => Some(Mode::Testing),
                        "none" => Some(Mode::None),
                        _ => return None,
                    }
                }
                "max_age" => max_age = value.parse::<u64>().ok().map(|a| a.min(MAX_AGE)),
                "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
                _ => {}
            }
        }
        let mode = mode?;
        if version != Some(true) || (mode != Mode::None && mx.is_empty()) {
            return None;
        }
        Some(Policy {
            mode,
            mx,
            max_age: max_age?,
        })
    }

    /// Whether `host` matches one of the `mx` patterns (RFC 8461 §4.1: a
    /// wildcard covers exactly the left-most label).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => *pattern == host,
            })
    }
}

struct Cached {
    id: String,
    policy: Arc<Policy>,
    expires: Instant,
}

/// A fetch that failed, for the TXT `id` it was made under.
struct FailedFetch {
    id: String,
    failure: TlsFailure,
    until: Instant,
}

/// What [`MtaSts::policy`] found for a domain.
#[derive(Debug, Clone)]
pub(crate) enum StsLookup {
    /// No `_mta-sts` TXT record (and nothing cached).
    None,
    Policy(Arc<Policy>),
    /// A TXT record, but no policy could be had (nothing cached): why.
    Failed(TlsFailure),
}

/// Looks policies up and keeps them.
pub(crate) struct MtaSts {
    resolver: TokioResolver,
    connector: TlsConnector,
    /// 443; tests use their own.
    port: u16,
    timeout: Duration,
    cache: Mutex<HashMap<String, Cached>>,
    failed_fetches: Mutex<HashMap<String, FailedFetch>>,
}

impl MtaSts {
    pub fn new(
        resolver: TokioResolver,
        connector: TlsConnector,
        port: u16,
        timeout: Duration,
    ) -> MtaSts {
        MtaSts {
            resolver,
            connector,
            port,
            timeout,
            cache: Mutex::default(),
            failed_fetches: Mutex::default(),
        }
    }

    /// The policy in force for `domain` (ASCII): the cached one while its
    /// TXT `id` stays, else a fresh fetch; a failed fetch leaves a cached
    /// policy in force (RFC 8461 §5.1) and stands for
    /// [`RETRY_FAILED_FETCH`] under the same `id`.
    pub async fn policy(&self, domain: &str) -> StsLookup {
        let cached = self.cached(domain);
        let id = match self.txt_id(domain).await {
            Some(id) => id,
            None => return cached.map_or(StsLookup::None, |(_, p)| StsLookup::Policy(p)),
        };
        if let Some((cached_id, policy)) = &cached {
            if *cached_id == id {
                return StsLookup::Policy(policy.clone());
            }
        }
        let failed = |failure| {
            cached
                .clone()
                .map_or(StsLookup::Failed(failure), |(_, p)| StsLookup::Policy(p))
        };
        if let Some(failure) = self.recent_failure(domain, &id) {
            return failed(failure);
        }
        match tokio::time::timeout(self.timeout, self.fetch(domain)).await {
            Ok(Ok(policy)) => StsLookup::Policy(self.keep(domain, id, policy)),
            Ok(Err((failure, e))) => {
                tracing::warn!(%domain, error = %e, "MTA-STS policy not fetched");
                self.remember_failure(domain, id, failure);
                failed(failure)
            }
            Err(_) => {
                tracing::warn!(%domain, "MTA-STS policy fetch timed out");
                self.remember_failure(domain, id, TlsFailure::StsPolicyFetchError);
                failed(TlsFailure::StsPolicyFetchError)
            }
        }
    }

    /// Caches a fetched policy for its `max_age`; an earlier failure no
    /// longer stands.
    fn keep(&self, domain: &str, id: String, policy: Policy) -> Arc<Policy> {
        let policy = Arc::new(policy);
        let expires = Instant::now() + Duration::from_secs(policy.max_age);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            domain.to_owned(),
            Cached {
                id,
                policy: policy.clone(),
                expires,
            },
        );
        drop(cache);
        let mut failed = self
            .failed_fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        failed.remove(domain);
        policy
    }

    fn remember_failure(&self, domain: &str, id: String, failure: TlsFailure) {
        let now = Instant::now();
        let mut failed = self
            .failed_fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        failed.retain(|_, f| f.until > now);
        let until = now + RETRY_FAILED_FETCH;
        failed.insert(domain.to_owned(), FailedFetch { id, failure, until });
    }

    /// The failure of the last fetch for `domain`, while it stands and the
    /// TXT `id` is the one it was made under.
    fn recent_failure(&self, domain: &str, id: &str) -> Option<TlsFailure> {
        let failed = self
            .failed_fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        failed
            .get(domain)
            .filter(|f| f.id == id && f.until > Instant::now())
            .map(|f| f.failure)
    }

    fn cached(&self, domain: &str) -> Option<(String, Arc<Policy>)> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(domain) {
            Some(c) if c.expires > Instant::now() => Some((c.id.clone(), c.policy.clone())),
            Some(_) => {
                cache.remove(domain);
                None
            }
            None => None,
        }
    }

    /// The `id` of the one `v=STSv1` TXT record at `_mta-sts.<domain>`.
    async fn txt_id(&self, domain: &str) -> Option<String> {
        let name = format!("_mta-sts.{domain}.");
        let lookup = self
            .resolver
            .lookup(name.as_str(), RecordType::TXT)
            .await
            .ok()?;
        let records: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .filter(|t| t.starts_with("v=STSv1"))
            .collect();
        let [record] = records.as_slice() else {
            return None; // none, or several: no policy (§3.1)
        };
        record
            .split(';')
            .filter_map(|field| field.trim().strip_prefix("id="))
            .map(|id| id.trim().to_owned())
            .find(|id| {
                !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
            })
    }

    /// `GET /.well-known/mta-sts.txt` from `mta-sts.<domain>` over verified
    /// HTTPS; only a `200` with a valid policy counts. Failures carry their
    /// TLS-RPT type.
    async fn fetch(&self, domain: &str) -> Result<Policy, (TlsFailure, String)> {
        let host = format!("mta-sts.{domain}");
        let tls = self
            .connect(&host)
            .await
            .map_err(|e| (TlsFailure::StsPolicyFetchError, e))?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| (TlsFailure::StsPolicyFetchError, format!("{host}: {e}")))?;
        let tls = self.connector.connect(name, tls).await.map_err(|e| {
            let text = format!("{host}: certificate not verified: {e}");
            (TlsFailure::StsWebpkiInvalid, text)
        })?;
        let body = get_policy(&host, tls)
            .await
            .map_err(|e| (TlsFailure::StsPolicyFetchError, e))?;
        std::str::from_utf8(&body)
            .ok()
            .and_then(Policy::parse)
            .ok_or_else(|| {
                (
                    TlsFailure::StsPolicyInvalid,
                    format!("{host}: invalid policy"),
                )
            })
    }

    /// A TCP connection to `host`'s first address, on the policy port.
    async fn connect(&self, host: &str) -> Result<TcpStream, String> {
        let addr = self
            .resolver
            .lookup_ip(format!("{host}.").as_str())
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .iter()
            .next()
            .ok_or_else(|| format!("{host}: no address"))?;
        TcpStream::connect(SocketAddr::new(addr, self.port))
            .await
            .map_err(|e| format!("{host}: {e}"))
    }
}

/// The body of `GET /.well-known/mta-sts.txt` over `tls`, if the answer is
/// a `200` (what the body says is `fetch`'s to judge).
async fn get_policy(
    host: &str,
    tls: tokio_rustls::client::TlsStream<TcpStream>,
) -> Result<Bytes, String> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get("/.well-known/mta-sts.txt")
        .header(hyper::header::HOST, host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_POLICY)
        .collect()
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .to_bytes();
    driver.abort();
    if status != hyper::StatusCode::OK {
        return Err(format!("{host}: HTTP {status}"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies_and_matches_mx_patterns() {
        let text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\nmax_age: 604800\r\n";
        let policy = Policy::parse(text).unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.max_age, 604_800);
        assert!(policy.allows("mail.example.com"));
        assert!(policy.allows("MX1.example.net."));
        assert!(!policy.allows("a.b.example.net"));
        assert!(!policy.allows("example.net"));
        assert!(!policy.allows("evil.example.com"));
        assert!(
            Policy::parse("version: STSv1\nmode: testing\nmx: a.b\nmax_age: 99999999999\n")
                .is_some_and(|p| p.max_age == MAX_AGE && p.mode == Mode::Testing)
        );
        assert_eq!(
            Policy::parse("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n"),
            None
        );
        assert_eq!(
            Policy::parse("version: STSv1\nmode: enforce\nmax_age: 1\n"),
            None
        );
        assert_eq!(
            Policy::parse("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n"),
            None
        );
        assert_eq!(
            Policy::parse("version: STSv1\nmode: enforce\nmx: a\n"),
            None
        );
    }

    #[tokio::test]
    async fn a_failed_fetch_stands_for_its_domain_and_txt_id_until_a_policy_is_had() {
        let resolver =
            crate::dns::build_resolver(&["127.0.0.1:9".parse().unwrap()], Duration::from_secs(1))
                .unwrap();
        let connector = crate::tls::verifying_connector(None).unwrap();
        let sts = MtaSts::new(resolver, connector, 9, Duration::from_secs(1));
        assert_eq!(sts.recent_failure("a.test", "1"), None);
        sts.remember_failure("a.test", "1".into(), TlsFailure::StsWebpkiInvalid);
        assert_eq!(
            sts.recent_failure("a.test", "1"),
            Some(TlsFailure::StsWebpkiInvalid)
        );
        assert_eq!(
            sts.recent_failure("a.test", "2"),
            None,
            "a new id is fetched"
        );
        assert_eq!(sts.recent_failure("b.test", "1"), None);
        let policy = Policy::parse("version: STSv1\nmode: enforce\nmx: a\nmax_age: 60\n");
        sts.keep("a.test", "2".into(), policy.unwrap());
        assert_eq!(sts.recent_failure("a.test", "1"), None, "a policy ends it");
    }
}
