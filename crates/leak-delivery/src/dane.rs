//! DANE for SMTP (RFC 7672): TLSA records, published in a DNSSEC-signed
//! zone, say which certificate an MX host must present.
//!
//! - [`Dane`]: a DNSSEC-validating hickory resolver (its own cache) used for
//!   the two lookups DANE depends on: the domain's MX RRset, which must be
//!   secure for DANE to apply (RFC 7672 §2.2.1), and `_25._tcp.<mx>` TLSA.
//!   Trust anchors: the IANA root keys built into hickory, plus the DNSKEY
//!   records of `dns.dnssec_trust_anchor` (private roots, test zones).
//! - [`TlsaSet`] and [`Tlsa::matches`]: which records are usable and whether
//!   a certificate matches one. Only DANE-TA(2) and DANE-EE(3) are usable
//!   for SMTP (RFC 7672 §3.1.3); PKIX-TA(0)/PKIX-EE(1) and unknown
//!   selectors or matching types are skipped.
//! - [`connector`]: a rustls client whose [`DaneVerifier`] accepts the peer
//!   when a usable record matches: DANE-EE against the end-entity
//!   certificate, with no name or expiry check (§3.1.1); DANE-TA against a
//!   certificate of the presented chain, which then serves as the only
//!   trust anchor for a webpki path check that includes the MX host name
//!   (§3.1.2). A DANE-TA record matching no certificate the peer sends
//!   (the anchor not in the chain) does not authenticate it.
//!
//! Hand-written matching: no maintained crate implements RFC 7672 matching
//! over rustls; certificate parsing and path building are rustls-webpki's.

use crate::dane_probe::ZoneProof;
use crate::DeliveryError;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// One TLSA record (RFC 6698 §2.1), as numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

/// DANE-TA: the record names a trust anchor of the chain.
const DANE_TA: u8 = 2;
/// DANE-EE: the record names the server's own certificate or key.
const DANE_EE: u8 = 3;

impl Tlsa {
    /// Whether SMTP may use this record (RFC 7672 §3.1.3): DANE-TA or
    /// DANE-EE, full certificate or SPKI, exact or SHA-256/512.
    pub fn usable(&self) -> bool {
        matches!(self.usage, DANE_TA | DANE_EE)
            && self.selector <= 1
            && self.matching <= 2
            && !self.data.is_empty()
    }

    /// Whether `cert` (DER) matches the record's selector and matching type.
    pub fn matches(&self, cert: &CertificateDer<'_>) -> bool {
        let selected = match self.selector {
            0 => cert.as_ref().to_vec(),
            1 => match webpki::EndEntityCert::try_from(cert) {
                Ok(parsed) => parsed.subject_public_key_info().as_ref().to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        let digest = |alg| aws_lc_rs::digest::digest(alg, &selected).as_ref().to_vec();
        let associated = match self.matching {
            0 => selected,
            1 => digest(&aws_lc_rs::digest::SHA256),
            2 => digest(&aws_lc_rs::digest::SHA512),
            _ => return false,
        };
        associated == self.data
    }
}

impl std::fmt::Display for Tlsa {
    /// Presentation format, as in a zone file (and a TLS-RPT policy string).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        self.data.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The usable TLSA records of one MX host (never empty).
#[derive(Debug, Clone)]
pub(crate) struct TlsaSet(pub Arc<[Tlsa]>);

/// What the TLSA lookup for one MX host found.
#[derive(Debug, Clone)]
pub(crate) enum TlsaLookup {
    /// Validated records, at least one usable.
    Usable(TlsaSet),
    /// Validated records, none usable: the host cannot be authenticated.
    Unusable,
    /// No TLSA records (validated denial, or an insecure zone): no DANE.
    Absent,
    /// The answer failed DNSSEC validation.
    Bogus,
    /// SERVFAIL, timeout…: the host's status is unknown.
    Failed(String),
}

/// Whether a domain's MX RRset is DNSSEC-validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MxProof {
    /// Validated, with the MX host names (empty: no MX, the domain itself).
    Secure(Vec<String>),
    /// Unsigned (or no MX: the implicit MX is the domain's own name).
    Insecure,
    Bogus,
    Failed(String),
}

/// The validating resolver behind DANE.
pub(crate) struct Dane {
    resolver: TokioResolver,
}

impl Dane {
    /// A validating resolver on `nameservers` (else the system's), trusting
    /// the IANA root keys and the DNSKEY records of `extra_anchors`.
    pub fn new(
        nameservers: &[SocketAddr],
        timeout: Duration,
        extra_anchors: Option<&Path>,
    ) -> Result<Dane, DeliveryError> {
        let anchors = trust_anchors(extra_anchors)?;
        let resolver = crate::dns::resolver_builder(nameservers, timeout)
            .map_err(|e| DeliveryError::Resolver(e.to_string()))?
            .with_trust_anchor(Arc::new(anchors))
            .build()
            .map_err(|e| DeliveryError::Resolver(e.to_string()))?;
        Ok(Dane { resolver })
    }

    /// Whether `domain`'s MX RRset (or its validated absence) is secure.
    pub async fn mx_proof(&self, domain: &str) -> MxProof {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), RecordType::MX).await {
            Ok(lookup) => {
                let mut hosts = Vec::new();
                let mut proofs = Vec::new();
                for record in lookup.answers() {
                    if let RData::MX(mx) = &record.data {
                        proofs.push(record.proof);
                        let host = mx.exchange.to_ascii();
                        hosts.push(host.trim_end_matches('.').to_string());
                    }
                }
                match summarize(proofs.into_iter()) {
                    Some(Proof::Secure) => MxProof::Secure(hosts),
                    Some(Proof::Bogus) => MxProof::Bogus,
                    _ => MxProof::Insecure,
                }
            }
            Err(err) => match negative(&err) {
                Some(Proof::Bogus) => MxProof::Bogus,
                // No MX: the host is the domain itself; its TLSA decides.
                Some(Proof::Secure) => MxProof::Secure(Vec::new()),
                Some(_) => MxProof::Insecure,
                None => MxProof::Failed(err.to_string()),
            },
        }
    }

    /// The TLSA records at `_25._tcp.<host>` for port 25 (RFC 7672 §2.2.2:
    /// the port in the name is always 25's, whatever port tests connect to).
    pub async fn tlsa(&self, host: &str) -> TlsaLookup {
        let name = format!("_25._tcp.{}.", host.trim_end_matches('.'));
        match self.resolver.lookup(name.as_str(), RecordType::TLSA).await {
            Ok(lookup) => {
                let mut records = Vec::new();
                let mut proofs = Vec::new();
                for record in lookup.answers() {
                    if let RData::TLSA(t) = &record.data {
                        proofs.push(record.proof);
                        records.push(Tlsa {
                            usage: t.cert_usage.into(),
                            selector: t.selector.into(),
                            matching: t.matching.into(),
                            data: t.cert_data.clone(),
                        });
                    }
                }
                match summarize(proofs.into_iter()) {
                    None => TlsaLookup::Absent,
                    Some(Proof::Bogus) => TlsaLookup::Bogus,
                    Some(Proof::Secure) => {
                        let usable: Vec<Tlsa> = records.into_iter().filter(Tlsa::usable).collect();
                        if usable.is_empty() {
                            TlsaLookup::Unusable
                        } else {
                            TlsaLookup::Usable(TlsaSet(usable.into()))
                        }
                    }
                    // Unsigned TLSA records mean nothing (RFC 7672 §2.2).
                    Some(_) => TlsaLookup::Absent,
                }
            }
            Err(err) => match negative(&err) {
                Some(Proof::Bogus) => TlsaLookup::Bogus,
                Some(_) => TlsaLookup::Absent,
                None => TlsaLookup::Failed(err.to_string()),
            },
        }
    }
}

impl Dane {
    /// Whether `zone`'s SOA RRset (at its apex) validates: what the probe
    /// of `dane = "auto"` asks (`dane_probe.rs`).
    pub async fn zone_proof(&self, zone: &str) -> ZoneProof {
        let apex = format!("{}.", zone.trim_end_matches('.'));
        match self.resolver.lookup(apex.as_str(), RecordType::SOA).await {
            Ok(lookup) => {
                let proofs = lookup
                    .answers()
                    .iter()
                    .filter(|r| matches!(r.data, RData::SOA(_)))
                    .map(|r| r.proof);
                match summarize(proofs) {
                    Some(Proof::Secure) => ZoneProof::Secure,
                    Some(Proof::Bogus) => ZoneProof::Bogus,
                    Some(_) => ZoneProof::Insecure,
                    None => ZoneProof::Failed("no SOA record in the answer".into()),
                }
            }
            Err(err) => match negative(&err) {
                Some(Proof::Bogus) => ZoneProof::Bogus,
                Some(_) => ZoneProof::Failed("no SOA record (not a zone apex?)".into()),
                None => ZoneProof::Failed(err.to_string()),
            },
        }
    }
}

/// The zones (apex names, root as `.`) whose DNSKEY records `path` holds:
/// the probe's candidates besides the root. Unreadable files give none
/// (`Dane::new` reports them).
pub(crate) fn anchor_zones(path: &Path) -> Vec<String> {
    use hickory_resolver::proto::serialize::txt::trust_anchor::{Entry, Parser};
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(entries) = Parser::new(text).parse() else {
        return Vec::new();
    };
    let mut zones: Vec<String> = Vec::new();
    for entry in entries {
        #[allow(irrefutable_let_patterns)] // `Entry` is non-exhaustive
        let Entry::DNSKEY(record) = entry
        else {
            continue;
        };
        let zone = record.name().to_ascii();
        if !zones.contains(&zone) {
            zones.push(zone);
        }
    }
    zones
}

/// The weakest proof of a set of records: any bogus → bogus, all secure →
/// secure, else insecure; `None` for no records.
fn summarize(proofs: impl Iterator<Item = Proof>) -> Option<Proof> {
    let mut result = None;
    for proof in proofs {
        result = Some(match (result, proof) {
            (_, Proof::Bogus) | (Some(Proof::Bogus), _) => Proof::Bogus,
            (None | Some(Proof::Secure), Proof::Secure) => Proof::Secure,
            _ => Proof::Insecure,
        });
    }
    result
}

/// For a failed lookup: `Some(proof)` of a negative answer (no such name or
/// no records; `Secure` when DNSSEC proved it), `None` for other failures.
fn negative(err: &NetError) -> Option<Proof> {
    match err {
        NetError::Dns(DnsError::DnssecBogus) => Some(Proof::Bogus),
        NetError::Dns(DnsError::Nsec { proof, .. }) => Some(*proof),
        NetError::Dns(DnsError::NoRecordsFound(no))
            if matches!(
                no.response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            let proofs = no
                .authorities
                .iter()
                .flat_map(|a| a.iter())
                .map(|r| r.proof);
            Some(summarize(proofs).unwrap_or(Proof::Insecure))
        }
        _ => None,
    }
}

/// The IANA root keys plus the DNSKEY lines of `extra` (zone-file syntax,
/// as `dnssec-keygen` writes them; DS lines are not supported by hickory).
fn trust_anchors(extra: Option<&Path>) -> Result<TrustAnchors, DeliveryError> {
    let Some(path) = extra else {
        return Ok(TrustAnchors::default());
    };
    let mut anchors = TrustAnchors::from_file(path)
        .map_err(|e| DeliveryError::TrustAnchor(format!("{}: {e}", path.display())))?;
    let roots = TrustAnchors::default();
    for i in 0..roots.len() {
        if let Some(key) = roots.get(i) {
            anchors.insert(key);
        }
    }
    Ok(anchors)
}

/// A STARTTLS client that accepts the peer only if a record of `records`
/// matches its certificates (see the module docs).
pub(crate) fn connector(records: TlsaSet) -> Result<TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = DaneVerifier {
        records,
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Authenticates the peer by its TLSA records.
#[derive(Debug)]
struct DaneVerifier {
    records: TlsaSet,
    provider: Arc<CryptoProvider>,
}

impl DaneVerifier {
    /// DANE-TA: `anchor` (a certificate of the chain that matched) as the
    /// only root of a webpki path check, host name included.
    fn chain_to(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let mut roots = RootCertStore::empty();
        if roots.add(anchor.clone().into_owned()).is_err() {
            return false;
        }
        if anchor == end_entity {
            // A self-issued end-entity certificate named by a DANE-TA record.
            return webpki::EndEntityCert::try_from(end_entity)
                .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(server_name).is_ok());
        }
        let Ok(verifier) =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
        else {
            return false;
        };
        verifier
            .verify_server_cert(end_entity, intermediates, server_name, &[], now)
            .is_ok()
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        for record in self.records.0.iter() {
            let ok = match record.usage {
                DANE_EE => record.matches(end_entity),
                DANE_TA => std::iter::once(end_entity)
                    .chain(intermediates)
                    .filter(|cert| record.matches(cert))
                    .any(|anchor| {
                        self.chain_to(anchor, end_entity, intermediates, server_name, now)
                    }),
                _ => false,
            };
            if ok {
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(rustls::Error::General(
            "no TLSA record matches the certificate".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[path = "dane_tests.rs"]
mod tests;
