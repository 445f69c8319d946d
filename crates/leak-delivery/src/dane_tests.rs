//! TLSA matching and the DANE verifier, against fixed certificates made
//! with openssl (`testdata/`): `ca.der` (a CA), `leaf.der` (mx.dane.test,
//! issued by the CA), `other.der` (self-signed, also naming mx.dane.test,
//! another key). The SPKI digest below was computed with openssl, not here.

use super::*;

const CA: &[u8] = include_bytes!("testdata/ca.der");
const LEAF: &[u8] = include_bytes!("testdata/leaf.der");
const OTHER: &[u8] = include_bytes!("testdata/other.der");
/// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum` of leaf.der.
const LEAF_SPKI_SHA256: &str = "146f875b8d26172fb2df6686ea0845f1079e9ce81c71ef66a19a522feea8eb82";

fn cert(der: &'static [u8]) -> CertificateDer<'static> {
    CertificateDer::from(der)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn record(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
    Tlsa {
        usage,
        selector,
        matching,
        data,
    }
}

fn sha(alg: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
}

fn name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).unwrap()
}

fn verify(records: Vec<Tlsa>, chain: &[&'static [u8]], host: &str) -> bool {
    let verifier = DaneVerifier {
        records: TlsaSet(records.into()),
        provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
    };
    let intermediates: Vec<_> = chain[1..].iter().map(|c| cert(c)).collect();
    verifier
        .verify_server_cert(
            &cert(chain[0]),
            &intermediates,
            &name(host),
            &[],
            UnixTime::now(),
        )
        .is_ok()
}

#[test]
fn spki_and_full_certificate_records_match_only_their_certificate() {
    let spki = record(3, 1, 1, hex(LEAF_SPKI_SHA256));
    assert!(spki.matches(&cert(LEAF)));
    assert!(!spki.matches(&cert(OTHER)));
    assert!(!spki.matches(&cert(CA)));

    let full512 = record(3, 0, 2, sha(&aws_lc_rs::digest::SHA512, LEAF));
    assert!(full512.matches(&cert(LEAF)));
    assert!(!full512.matches(&cert(OTHER)));

    let exact = record(3, 0, 0, LEAF.to_vec());
    assert!(exact.matches(&cert(LEAF)));
    assert!(!exact.matches(&cert(OTHER)));

    // The right digest under the wrong matching type does not match.
    let wrong_type = record(3, 1, 2, hex(LEAF_SPKI_SHA256));
    assert!(!wrong_type.matches(&cert(LEAF)));
    // Garbage is no certificate.
    assert!(!spki.matches(&CertificateDer::from(&b"not a certificate"[..])));
}

#[test]
fn only_dane_ta_and_dane_ee_records_are_usable_for_smtp() {
    let data = hex(LEAF_SPKI_SHA256);
    assert!(record(3, 1, 1, data.clone()).usable());
    assert!(record(2, 0, 2, data.clone()).usable());
    assert!(!record(0, 1, 1, data.clone()).usable(), "PKIX-TA");
    assert!(!record(1, 1, 1, data.clone()).usable(), "PKIX-EE");
    assert!(!record(3, 2, 1, data.clone()).usable(), "unknown selector");
    assert!(
        !record(3, 1, 3, data.clone()).usable(),
        "unknown matching type"
    );
    assert!(!record(3, 1, 1, Vec::new()).usable(), "no data");
}

#[test]
fn dane_ee_skips_name_checks_and_rejects_other_keys() {
    let ee = || vec![record(3, 1, 1, hex(LEAF_SPKI_SHA256))];
    assert!(verify(ee(), &[LEAF], "mx.dane.test"));
    // RFC 7672 §3.1.1: no name check for DANE-EE.
    assert!(verify(ee(), &[LEAF], "anything.example"));
    assert!(!verify(ee(), &[OTHER], "mx.dane.test"));
    // One matching record among others is enough.
    let mixed = vec![
        record(3, 0, 1, sha(&aws_lc_rs::digest::SHA256, OTHER)),
        record(3, 0, 1, sha(&aws_lc_rs::digest::SHA256, LEAF)),
    ];
    assert!(verify(mixed, &[LEAF], "mx.dane.test"));
}

#[test]
fn dane_ta_needs_the_anchor_in_the_chain_and_the_mx_name() {
    let ta = || vec![record(2, 0, 1, sha(&aws_lc_rs::digest::SHA256, CA))];
    assert!(verify(ta(), &[LEAF, CA], "mx.dane.test"));
    assert!(
        !verify(ta(), &[LEAF, CA], "mx.elsewhere.test"),
        "name checked"
    );
    assert!(!verify(ta(), &[LEAF], "mx.dane.test"), "anchor not sent");
    assert!(
        !verify(ta(), &[OTHER, CA], "mx.dane.test"),
        "not issued by it"
    );
    // A DANE-TA record naming the leaf itself does not make a CA of it
    // for another certificate.
    let leaf_as_ta = vec![record(2, 0, 1, sha(&aws_lc_rs::digest::SHA256, LEAF))];
    assert!(!verify(leaf_as_ta, &[OTHER, LEAF], "mx.dane.test"));
}

#[test]
fn proofs_summarize_to_the_weakest() {
    use Proof::*;
    assert_eq!(summarize([].into_iter()), None);
    assert_eq!(summarize([Secure, Secure].into_iter()), Some(Secure));
    assert_eq!(summarize([Secure, Insecure].into_iter()), Some(Insecure));
    assert_eq!(
        summarize([Insecure, Bogus, Secure].into_iter()),
        Some(Bogus)
    );
}
