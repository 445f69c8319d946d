//! The TLS clients used for STARTTLS to MX hosts.
//!
//! - [`connector`]: opportunistic. Like other MTAs without DANE or MTA-STS,
//!   leak encrypts and does not authenticate the MX host's certificate by
//!   default: MX names are not bound to the recipient domain in a way a
//!   certificate could prove, and refusing self-signed certificates would
//!   only push mail back to cleartext.
//! - [`verifying_connector`]: for domains whose policy is `verify`
//!   (`[[delivery.domain]]`): the certificate must chain to a webpki root
//!   (Mozilla's list, built in through `webpki-root-certs`) or to a CA of
//!   `delivery.tls_ca_file`, and name the MX host (rustls' webpki verifier).
//! - [`testing_connector`]: for MTA-STS policies in `testing` mode: the
//!   same check, whose verdict is only noted (for TLS-RPT); the session
//!   goes on either way, as with [`connector`].

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::RootCertStore;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// A connector that verifies the MX certificate against the webpki roots
/// plus the certificates of `extra_ca` (PEM), and the host name.
pub fn verifying_connector(extra_ca: Option<&Path>) -> Result<TlsConnector, crate::DeliveryError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(extra_ca)?)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The webpki verifier of [`verifying_connector`], for [`testing_connector`].
pub(crate) fn webpki_verifier(
    extra_ca: Option<&Path>,
) -> Result<Arc<WebPkiServerVerifier>, crate::DeliveryError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(extra_ca)?), provider)
        .build()
        .map_err(|e| crate::DeliveryError::TlsCa(e.to_string()))
}

/// A connector that accepts any certificate (as [`connector`]) but notes in
/// the returned flag whether `verifier` would have accepted it.
pub(crate) fn testing_connector(
    verifier: Arc<WebPkiServerVerifier>,
) -> Result<(TlsConnector, Arc<AtomicBool>), rustls::Error> {
    let verified = Arc::new(AtomicBool::new(false));
    let noting = NotingVerifier {
        inner: verifier,
        verified: verified.clone(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(noting))
        .with_no_client_auth();
    Ok((TlsConnector::from(Arc::new(config)), verified))
}

/// The webpki roots plus the certificates of `extra_ca` (PEM).
fn roots(extra_ca: Option<&Path>) -> Result<RootCertStore, crate::DeliveryError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    if let Some(path) = extra_ca {
        let bad = |e: String| crate::DeliveryError::TlsCa(format!("{}: {e}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no certificate in the file".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(roots)
}

/// Runs the webpki check, notes its verdict, and accepts the certificate
/// whatever it says (the handshake signatures are still checked).
#[derive(Debug)]
struct NotingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verified: Arc<AtomicBool>,
}

impl ServerCertVerifier for NotingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        self.verified.store(verdict.is_ok(), Ordering::Relaxed);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A connector that accepts any certificate but still checks the handshake
/// signatures (so the session key really belongs to the peer we talk to).
pub fn connector() -> Result<TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How one MX host must be authenticated, as the domain's policy decided
/// (`scheduler/policy.rs`).
#[derive(Debug, Clone)]
pub(crate) enum HostTls {
    /// STARTTLS when offered, any certificate; cleartext otherwise
    /// (unless `delivery.tls = "required"`).
    Opportunistic,
    /// `[[delivery.domain]] tls = "verify"`: a webpki-verified certificate.
    Verify,
    /// An MTA-STS policy in `enforce` mode: verified as for `Verify`.
    MtaSts,
    /// An MTA-STS policy in `testing` mode: used as `Opportunistic`, and
    /// what `MtaSts` would have refused is noted for TLS-RPT: a host
    /// outside the policy's `mx` patterns (`listed` false), no STARTTLS, a
    /// certificate webpki does not accept.
    StsTesting { listed: bool },
    /// DANE: the certificate must match one of these TLSA records.
    Dane(crate::dane::TlsaSet),
}

impl HostTls {
    /// Whether the host must present an authenticated certificate.
    pub fn authenticated(&self) -> bool {
        !matches!(self, HostTls::Opportunistic | HostTls::StsTesting { .. })
    }
}

/// One MX host with the authentication its policy demands.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub target: crate::MxTarget,
    pub tls: HostTls,
}

/// How a delivered message travelled, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsUsed {
    Dane,
    MtaSts,
    Verify,
    Opportunistic,
    Plaintext,
}

impl TlsUsed {
    /// Every mode, for zero-initialised metrics.
    pub const ALL: [TlsUsed; 5] = [
        TlsUsed::Dane,
        TlsUsed::MtaSts,
        TlsUsed::Verify,
        TlsUsed::Opportunistic,
        TlsUsed::Plaintext,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsUsed::Dane => "dane",
            TlsUsed::MtaSts => "mta-sts",
            TlsUsed::Verify => "verify",
            TlsUsed::Opportunistic => "opportunistic",
            TlsUsed::Plaintext => "plaintext",
        }
    }
}

/// Why a host failed its domain's TLS policy: the result types of TLS-RPT
/// (RFC 8460 §4.3), also the metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    StarttlsNotSupported,
    CertificateNotTrusted,
    TlsaInvalid,
    DnssecInvalid,
    DaneRequired,
    StsPolicyFetchError,
    StsPolicyInvalid,
    StsWebpkiInvalid,
    ValidationFailure,
}

impl TlsFailure {
    /// The RFC 8460 `result-type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsFailure::StarttlsNotSupported => "starttls-not-supported",
            TlsFailure::CertificateNotTrusted => "certificate-not-trusted",
            TlsFailure::TlsaInvalid => "tlsa-invalid",
            TlsFailure::DnssecInvalid => "dnssec-invalid",
            TlsFailure::DaneRequired => "dane-required",
            TlsFailure::StsPolicyFetchError => "sts-policy-fetch-error",
            TlsFailure::StsPolicyInvalid => "sts-policy-invalid",
            TlsFailure::StsWebpkiInvalid => "sts-webpki-invalid",
            TlsFailure::ValidationFailure => "validation-failure",
        }
    }

    /// Every type, for zero-initialised metrics.
    pub const ALL: [TlsFailure; 9] = [
        TlsFailure::StarttlsNotSupported,
        TlsFailure::CertificateNotTrusted,
        TlsFailure::TlsaInvalid,
        TlsFailure::DnssecInvalid,
        TlsFailure::DaneRequired,
        TlsFailure::StsPolicyFetchError,
        TlsFailure::StsPolicyInvalid,
        TlsFailure::StsWebpkiInvalid,
        TlsFailure::ValidationFailure,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `testdata/`: see `dane_tests.rs` (a CA, its leaf for mx.dane.test,
    /// and a self-signed certificate for the same name).
    const CA: &[u8] = include_bytes!("testdata/ca.der");
    const LEAF: &[u8] = include_bytes!("testdata/leaf.der");
    const OTHER: &[u8] = include_bytes!("testdata/other.der");

    /// What the testing verifier notes, and that it accepts every time.
    fn noted(cert: &'static [u8], host: &str) -> bool {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(CA)).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let verified = Arc::new(AtomicBool::new(false));
        let verifier = NotingVerifier {
            inner,
            verified: verified.clone(),
        };
        let name = ServerName::try_from(host.to_string()).unwrap();
        let accepted = verifier.verify_server_cert(
            &CertificateDer::from(cert),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(accepted.is_ok(), "testing mode never refuses");
        verified.load(Ordering::Relaxed)
    }

    #[test]
    fn testing_verifier_notes_the_webpki_verdict_and_accepts_anyway() {
        assert!(noted(LEAF, "mx.dane.test"));
        assert!(!noted(LEAF, "other.dane.test"), "wrong name");
        assert!(!noted(OTHER, "mx.dane.test"), "not from a trusted CA");
    }
}
