//! Times DKIM signing of a 4 KB message with a fresh Ed25519 and RSA-2048 key
//! through leak's signer (aws-lc-rs for RSA), then the bare RSA-2048
//! signature with aws-lc-rs and with ring on the same key and data,
//! interleaved, so that the ratio holds whatever else the machine runs:
//! `cargo run --release -p leak-dkim --example sign_bench`.

use leak_dkim::{generate_key, Algorithm, KeySpec, Signer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use std::time::{Duration, Instant};

const ROUNDS: u32 = 500;

fn main() {
    let dir = std::env::temp_dir().join(format!("leak-sign-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut message = b"From: \"Quelqu'un\" <someone@anon.example>\r\nTo: bob@example.test\r\nSubject: bench\r\nDate: Thu, 26 Nov 2026 07:00:00 +0000\r\nMessage-ID: <x@anon.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    while message.len() < 4096 {
        message.extend_from_slice(b"A line of text in the body of the message, for signing.\r\n");
    }
    for (name, algorithm) in [
        ("ed25519", Algorithm::Ed25519),
        ("rsa-2048", Algorithm::Rsa),
    ] {
        let path = dir.join(format!("{name}.pem"));
        generate_key(algorithm, 2048, &path).unwrap();
        let signer = Signer::load(
            "anon.example",
            &[KeySpec {
                selector: "s".into(),
                algorithm,
                private_key: path,
            }],
        )
        .unwrap();
        let started = Instant::now();
        for _ in 0..ROUNDS {
            signer.sign(&message).unwrap();
        }
        let each = started.elapsed() / ROUNDS;
        println!("leak signer, {name}: {each:?} per 4 KB message");
    }
    bare_rsa(&dir.join("rsa-2048.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One RSA-2048 PKCS#1 v1.5 SHA-256 signature over 512 bytes (what DKIM
/// signs: the canonical headers), by each library in turn, ten rounds.
fn bare_rsa(pem: &std::path::Path) {
    let pem = std::fs::read(pem).unwrap();
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(&pem).unwrap() else {
        panic!("leak writes PKCS#8")
    };
    let der = der.secret_pkcs8_der();
    let aws = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der).unwrap();
    let ring = ring::signature::RsaKeyPair::from_pkcs8(der).unwrap();
    let (aws_rng, ring_rng) = (
        aws_lc_rs::rand::SystemRandom::new(),
        ring::rand::SystemRandom::new(),
    );
    let data = [7u8; 512];
    let mut signature = vec![0u8; 256];
    let (mut aws_total, mut ring_total) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..10 {
        let started = Instant::now();
        for _ in 0..ROUNDS / 10 {
            aws.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_rng,
                &data,
                &mut signature,
            )
            .unwrap();
        }
        aws_total += started.elapsed();
        let started = Instant::now();
        for _ in 0..ROUNDS / 10 {
            ring.sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring_rng,
                &data,
                &mut signature,
            )
            .unwrap();
        }
        ring_total += started.elapsed();
    }
    let (aws_each, ring_each) = (aws_total / ROUNDS, ring_total / ROUNDS);
    println!(
        "bare RSA-2048 signature: aws-lc-rs {aws_each:?}, ring {ring_each:?}, ring/aws-lc-rs {:.2}",
        ring_each.as_secs_f64() / aws_each.as_secs_f64()
    );
}
