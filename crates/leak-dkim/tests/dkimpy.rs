//! leak's DKIM signatures checked by an independent verifier, Python's dkimpy
//! (Debian `python3-dkim`), against the records `dns_record` prints.

use leak_dkim::{dns_record, generate_key, Algorithm, DkimError, KeySpec, Signer};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/dkimpy.rs"]
mod dkimpy;

const DOMAIN: &str = "anon.example";

fn keys(dir: &Path) -> Vec<KeySpec> {
    let ed = dir.join("ed.pem");
    let rsa = dir.join("rsa.pem");
    generate_key(Algorithm::Ed25519, 0, &ed).unwrap();
    generate_key(Algorithm::Rsa, 2048, &rsa).unwrap();
    vec![
        KeySpec {
            selector: "leak-ed".into(),
            algorithm: Algorithm::Ed25519,
            private_key: ed,
        },
        KeySpec {
            selector: "leak-rsa".into(),
            algorithm: Algorithm::Rsa,
            private_key: rsa,
        },
    ]
}

const MESSAGE: &[u8] = b"From: \"Quelqu'un\" <someone@anon.example>\r\n\
To: bob@example.test\r\n\
Subject: a   folded\r\n  subject\r\n\
Date: Thu, 26 Nov 2026 05:00:00 +0000\r\n\
Message-ID: <abc@anon.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Bob,\r\n\
.leading dot line\r\n\
\r\n";

#[test]
fn both_signatures_verify_with_dkimpy() {
    let dir = tempfile::tempdir().unwrap();
    let specs = keys(dir.path());
    let records: Vec<String> = specs
        .iter()
        .map(|k| dns_record(&k.selector, DOMAIN, &k.private_key, k.algorithm).unwrap())
        .collect();
    assert!(
        records[0].starts_with("leak-ed._domainkey.anon.example IN TXT \"v=DKIM1; k=ed25519; p=")
    );
    assert!(
        records[1].starts_with("leak-rsa._domainkey.anon.example IN TXT \"v=DKIM1; k=rsa; p=MIIB")
    );

    let signer = Signer::load(DOMAIN, &specs).unwrap();
    let headers = signer.sign(MESSAGE).unwrap();
    let text = String::from_utf8(headers.clone()).unwrap();
    assert_eq!(text.matches("DKIM-Signature:").count(), 2);
    assert!(text.ends_with("\r\n"));
    assert!(text.contains("a=ed25519-sha256") && text.contains("a=rsa-sha256"));
    assert!(text.contains("d=anon.example") && text.contains("c=relaxed/relaxed"));
    // From over-signed: listed twice although the message has one.
    let unfolded = text.replace("\r\n\t", "");
    let h = unfolded
        .split("h=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(h.matches("From").count(), 2, "h={h}");
    // No signing time: it would date the message to the second.
    assert!(
        !unfolded.contains(" t=") && !unfolded.contains(";t="),
        "{unfolded}"
    );
    assert_eq!(
        signer.sign(MESSAGE).unwrap(),
        headers,
        "without t= a message always gets the same signature"
    );
    // Over-signed: each listed once more than it occurs, so an absent Cc is
    // listed once and a present Subject twice; MIME-Version is signed once.
    let count = |name: &str| {
        h.split(':')
            .filter(|n| n.eq_ignore_ascii_case(name))
            .count()
    };
    for (name, listed) in [
        ("To", 2),
        ("Cc", 1),
        ("Subject", 2),
        ("Date", 2),
        ("Message-ID", 2),
        ("Content-Type", 2),
        ("List-Unsubscribe", 1),
        ("List-Unsubscribe-Post", 1),
        ("MIME-Version", 1),
    ] {
        assert_eq!(count(name), listed, "{name} in h={h}");
    }

    let mut signed = headers.clone();
    signed.extend_from_slice(MESSAGE);
    assert_eq!(dkimpy::verify(dir.path(), &signed, &records), ["ok", "ok"]);

    // The verifier is not a rubber stamp: a changed subject breaks both.
    let tampered = String::from_utf8(signed)
        .unwrap()
        .replace("folded", "forged");
    assert_eq!(
        dkimpy::verify(dir.path(), tampered.as_bytes(), &records),
        ["fail", "fail"]
    );
    // Neither is an added Cc, nor a second Subject above the first.
    let signed = String::from_utf8(headers.iter().chain(MESSAGE).copied().collect()).unwrap();
    for added in ["Cc: eve@example.test\r\n", "Subject: pay here\r\n"] {
        let at = headers.len(); // the message's first field, after the signatures
        let forged = format!("{}{added}{}", &signed[..at], &signed[at..]);
        assert_eq!(
            dkimpy::verify(dir.path(), forged.as_bytes(), &records),
            ["fail", "fail"],
            "{added}"
        );
    }
}

#[test]
fn expiry_is_absolute_and_enforced_by_dkimpy() {
    let dir = tempfile::tempdir().unwrap();
    let specs = keys(dir.path());
    let records: Vec<String> = specs
        .iter()
        .map(|k| dns_record(&k.selector, DOMAIN, &k.private_key, k.algorithm).unwrap())
        .collect();
    let signer = Signer::load(DOMAIN, &specs).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed_until = |expires: u64| {
        let mut signed = signer.sign_expiring(MESSAGE, Some(expires)).unwrap();
        let text = String::from_utf8(signed.clone())
            .unwrap()
            .replace("\r\n\t", "");
        assert!(text.contains(&format!("x={expires}")), "{text}");
        assert!(!text.contains(" t=") && !text.contains(";t="), "{text}");
        signed.extend_from_slice(MESSAGE);
        signed
    };
    let week = signed_until(now + 7 * 24 * 3600);
    assert_eq!(dkimpy::verify(dir.path(), &week, &records), ["ok", "ok"]);
    // dkimpy allows 10 hours of clock slop past x=; a day past fails.
    let past = signed_until(now - 24 * 3600);
    assert_eq!(
        dkimpy::verify(dir.path(), &past, &records),
        ["fail", "fail"]
    );
}

#[test]
fn generated_keys_are_private_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pem");
    generate_key(Algorithm::Ed25519, 0, &path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&path).unwrap();
    assert!(String::from_utf8_lossy(&before).starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let err = generate_key(Algorithm::Ed25519, 0, &path).unwrap_err();
    assert!(matches!(err, DkimError::Write { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(generate_key(Algorithm::Rsa, 512, &dir.path().join("small.pem")).is_err());
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let spec = |p: PathBuf, algorithm| KeySpec {
        selector: "s".into(),
        algorithm,
        private_key: p,
    };
    let err = Signer::load(DOMAIN, &[spec(missing.clone(), Algorithm::Ed25519)]).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let err = Signer::load(DOMAIN, &[spec(garbage, Algorithm::Rsa)]).unwrap_err();
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    // An Ed25519 key configured as RSA is refused, not misused.
    let ed = dir.path().join("ed.pem");
    generate_key(Algorithm::Ed25519, 0, &ed).unwrap();
    let err = Signer::load(DOMAIN, &[spec(ed, Algorithm::Rsa)]).unwrap_err();
    assert!(matches!(err, DkimError::BadKey { .. }), "{err}");
    assert!(matches!(Signer::load(DOMAIN, &[]), Err(DkimError::NoKeys)));
}

#[test]
fn loads_keys_written_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let ed = dir.path().join("ossl-ed.pem");
    let rsa = dir.path().join("ossl-rsa.pem");
    let gen = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .status()
            .expect("openssl");
        assert!(st.success());
    };
    gen(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        ed.to_str().unwrap(),
    ]);
    gen(&[
        "genrsa",
        "-traditional",
        "-out",
        rsa.to_str().unwrap(),
        "2048",
    ]);
    let specs = [
        KeySpec {
            selector: "e".into(),
            algorithm: Algorithm::Ed25519,
            private_key: ed,
        },
        KeySpec {
            selector: "r".into(),
            algorithm: Algorithm::Rsa,
            private_key: rsa,
        },
    ];
    let signer = Signer::load(DOMAIN, &specs).unwrap();
    let records: Vec<String> = specs
        .iter()
        .map(|k| dns_record(&k.selector, DOMAIN, &k.private_key, k.algorithm).unwrap())
        .collect();
    let mut signed = signer.sign(MESSAGE).unwrap();
    signed.extend_from_slice(MESSAGE);
    assert_eq!(dkimpy::verify(dir.path(), &signed, &records), ["ok", "ok"]);
}
