//! Times DKIM signing of a 4 KB message with a fresh Ed25519 and RSA-2048 key:
//! `cargo run --release -p leak-dkim --example sign_bench`.

use leak_dkim::{generate_key, Algorithm, KeySpec, Signer};
use std::time::Instant;

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
        let rounds = 500;
        let started = Instant::now();
        for _ in 0..rounds {
            signer.sign(&message).unwrap();
        }
        let each = started.elapsed() / rounds;
        println!("{name}: {each:?} per 4 KB message");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
