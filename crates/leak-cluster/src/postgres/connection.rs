//! `[cluster] database`: the URL, with libpq's TLS options, turned into
//! what tokio-postgres connects with — its `Config` and a rustls connector
//! (through `tokio-postgres-rustls`, the maintained adapter, on the
//! workspace's aws-lc-rs provider).
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` only and refuses
//! options it does not know, so the two options operators know from libpq
//! are read here and taken out of the URL before tokio-postgres sees it:
//!
//! | `sslmode`     | encrypted         | certificate checked                        |
//! |---------------|-------------------|--------------------------------------------|
//! | `disable`     | never             | —                                          |
//! | `prefer` (default) | if the server offers it | only with `sslrootcert` (chain) |
//! | `require`     | always            | only with `sslrootcert` (chain), as libpq  |
//! | `verify-ca`   | always            | chain to `sslrootcert` or the system roots |
//! | `verify-full` | always            | chain, and the host name (or IP) of the URL |
//!
//! `sslrootcert=/path/ca.pem` names the PEM file of the trusted CA
//! certificates; `sslrootcert=system` (or no `sslrootcert` with
//! `verify-*`) uses the system's roots. Any other `ssl…` option of libpq
//! (client certificates, CRLs) is refused with a clear message rather than
//! ignored. Errors never repeat the URL (it may hold the password).

use crate::ClusterError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, ClusterError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(ClusterError::Config(format!(
                "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
            )))
            }
        })
    }

    /// What tokio-postgres does on the wire: the `verify-*` modes are
    /// `require` plus a verifier.
    fn wire(self) -> WireMode {
        match self {
            SslMode::Disable => WireMode::Disable,
            SslMode::Prefer => WireMode::Prefer,
            _ => WireMode::Require,
        }
    }
}

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// No `sslrootcert`.
    Unset,
    /// `sslrootcert=system`.
    System,
    /// `sslrootcert=/path/ca.pem`.
    File(PathBuf),
}

/// What the daemon and the CLI connect with.
#[derive(Clone)]
pub struct Connection {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    /// For `leak status`: the mode and what it checks.
    pub summary: &'static str,
}

impl Connection {
    /// Reads `url` (a `postgres://` URL with libpq's `sslmode` and
    /// `sslrootcert`) and loads the root certificates it names.
    pub fn parse(url: &str) -> Result<Connection, ClusterError> {
        let (rest, mode, roots) = split_tls_options(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| ClusterError::Config(format!("not a usable PostgreSQL URL ({e})")))?;
        config.ssl_mode(mode.wire());
        let tls = MakeRustlsConnect::new(client_config(mode, &roots)?);
        let summary = summary(mode, &roots);
        Ok(Connection {
            config,
            tls,
            summary,
        })
    }
}

fn summary(mode: SslMode, roots: &Roots) -> &'static str {
    match (mode, roots) {
        (SslMode::Disable, _) => "sslmode=disable: not encrypted",
        (SslMode::Prefer, Roots::Unset) => {
            "sslmode=prefer: encrypted if the server offers it, certificate not checked"
        }
        (SslMode::Prefer, _) => "sslmode=prefer: encrypted if the server offers it, CA checked",
        (SslMode::Require, Roots::Unset) => "sslmode=require: encrypted, certificate not checked",
        (SslMode::Require, _) => "sslmode=require with sslrootcert: encrypted, CA checked",
        (SslMode::VerifyCa, _) => "sslmode=verify-ca: encrypted, CA checked",
        (SslMode::VerifyFull, _) => "sslmode=verify-full: encrypted, CA and host name checked",
    }
}

/// The URL without `sslmode` and `sslrootcert`, and their values
/// (`prefer` and unset when absent).
fn split_tls_options(url: &str) -> Result<(String, SslMode, Roots), ClusterError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut roots, mut kept) = (SslMode::Prefer, Roots::Unset, Vec::new());
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = SslMode::parse(&percent_decode(value)?)?,
            "sslrootcert" => {
                roots = match percent_decode(value)?.as_str() {
                    "" => return Err(ClusterError::Config("sslrootcert is empty".to_owned())),
                    "system" => Roots::System,
                    path => Roots::File(PathBuf::from(path)),
                }
            }
            // Passed on: tokio-postgres reads these itself.
            "sslnegotiation" => kept.push(pair),
            other if other.starts_with("ssl") => {
                return Err(ClusterError::Config(format!(
                    "option `{other}` is not supported (leak reads sslmode and sslrootcert)"
                )))
            }
            _ => kept.push(pair),
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((rest, mode, roots))
}

/// `%XX` escapes of a URL query value (a path may hold spaces or `&`).
fn percent_decode(value: &str) -> Result<String, ClusterError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let byte = value
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| ClusterError::Config("a bad %-escape in an ssl option".into()))?;
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ClusterError::Config("an ssl option is not UTF-8".into()))
}

/// The rustls configuration for `mode` and `roots` (see the module doc).
fn client_config(mode: SslMode, roots: &Roots) -> Result<ClientConfig, ClusterError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::Disable | SslMode::Prefer | SslMode::Require, Roots::Unset) => {
            Arc::new(Unverified(provider.clone()))
        }
        (SslMode::VerifyFull, _) => webpki(load_roots(roots)?, &provider)?,
        _ => Arc::new(ChainOnly(webpki(load_roots(roots)?, &provider)?)),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClusterError::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ClusterError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ClusterError::Config(format!("TLS roots: {e}")))
}

/// The CA certificates of `sslrootcert`, or the system's.
fn load_roots(roots: &Roots) -> Result<RootCertStore, ClusterError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let shown = path.display();
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ClusterError::Config(format!("sslrootcert {shown}: {e}")))?;
            let (added, _) = store.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(ClusterError::Config(format!(
                    "sslrootcert {shown} holds no usable CA certificate"
                )));
            }
        }
        Roots::Unset | Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ClusterError::Config(
                    "no system root certificates found: give sslrootcert=/path/ca.pem".to_owned(),
                ));
            }
        }
    }
    Ok(store)
}

/// `verify-ca` (and `prefer`/`require` with `sslrootcert`): the chain must
/// lead to a trusted root; the name in the certificate is not checked.
/// webpki checks the chain before the name, so a name error means the
/// chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verified {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without `sslrootcert`, as libpq: encrypted, the
/// certificate not checked (the handshake's signatures still are). An
/// attacker on the path can pose as the server; the docs say so.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
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
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Result<(String, SslMode, Roots), ClusterError> {
        split_tls_options(url)
    }

    #[test]
    fn libpq_options_are_taken_out_and_the_rest_is_kept() {
        let (rest, mode, roots) = split(
            "postgres://leak:pw@db:5432/leak?application_name=x&sslmode=verify-full&sslrootcert=/etc/leak/ca%20db.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://leak:pw@db:5432/leak?application_name=x&connect_timeout=3"
        );
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(roots, Roots::File("/etc/leak/ca db.pem".into()));
        let (rest, mode, roots) = split("postgres://leak@db/leak").unwrap();
        assert_eq!(
            (rest.as_str(), mode, roots),
            ("postgres://leak@db/leak", SslMode::Prefer, Roots::Unset)
        );
        let (_, mode, roots) =
            split("postgres://db/leak?sslmode=require&sslrootcert=system").unwrap();
        assert_eq!((mode, roots), (SslMode::Require, Roots::System));
    }

    #[test]
    fn unknown_modes_and_options_are_refused_without_the_password() {
        for (url, expected) in [
            (
                "postgres://u:hunter2@db/x?sslmode=verify",
                "sslmode `verify`",
            ),
            (
                "postgres://u:hunter2@db/x?sslcert=/c.pem",
                "`sslcert` is not supported",
            ),
            (
                "postgres://u:hunter2@db/x?sslrootcert=",
                "sslrootcert is empty",
            ),
            ("postgres://u:hunter2@db/x?sslrootcert=%zz", "%-escape"),
        ] {
            let error = Connection::parse(url).err().unwrap().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let error = Connection::parse("postgres://u:hunter2@db:notaport/x")
            .err()
            .unwrap()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn the_root_file_must_be_readable_and_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let url = format!(
            "postgres://db/x?sslmode=verify-full&sslrootcert={}",
            missing.display()
        );
        let error = Connection::parse(&url).err().unwrap().to_string();
        assert!(
            error.contains("sslrootcert") && error.contains("missing.pem"),
            "{error}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let url = format!(
            "postgres://db/x?sslmode=verify-ca&sslrootcert={}",
            empty.display()
        );
        let error = Connection::parse(&url).err().unwrap().to_string();
        assert!(error.contains("no usable CA certificate"), "{error}");
    }

    #[test]
    fn verify_modes_mean_tls_required_on_the_wire() {
        let connection = Connection::parse("postgres://db/x?sslmode=require").unwrap();
        assert_eq!(connection.config.get_ssl_mode(), WireMode::Require);
        let connection = Connection::parse("postgres://db/x").unwrap();
        assert_eq!(connection.config.get_ssl_mode(), WireMode::Prefer);
        let connection = Connection::parse("postgres://db/x?sslmode=disable").unwrap();
        assert_eq!(connection.config.get_ssl_mode(), WireMode::Disable);
    }
}
