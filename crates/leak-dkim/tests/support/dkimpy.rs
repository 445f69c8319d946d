//! An independent DKIM verifier for tests: Python's dkimpy (Debian
//! `python3-dkim`), fed the zone lines `leak_dkim::dns_record` prints.
//! Shared by leak-dkim's and leak-delivery's tests through `#[path]`.

use std::path::Path;
use std::process::Command;

/// Verifies every DKIM-Signature of the message file argv[1] against the zone
/// lines in argv[2]; prints one `ok`/`fail` line per signature.
const VERIFY_PY: &str = r#"
import sys, re, dkim
records = {}
for line in open(sys.argv[2]):
    m = re.match(r'^(\S+) IN TXT "(.*)"$', line.strip())
    records[m.group(1).lower()] = m.group(2).encode()
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return records.get(name.rstrip('.').lower())
msg = open(sys.argv[1], 'rb').read()
d = dkim.DKIM(msg)
count = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])
for i in range(count):
    try:
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException:  # e.g. "x= value is past", raised, not returned
        ok = False
    print('ok' if ok else 'fail')
"#;

/// The Python with dkimpy: `LEAK_TEST_PYTHON`, or the system's.
fn python() -> String {
    std::env::var("LEAK_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_string())
}

/// Runs dkimpy over `message` with `records` as the only DNS; one `ok` or
/// `fail` per signature, in header order. Writes its files into `dir`.
pub fn verify(dir: &Path, message: &[u8], records: &[String]) -> Vec<String> {
    let msg_path = dir.join("dkimpy-message.eml");
    let zone_path = dir.join("dkimpy-zone.txt");
    std::fs::write(&msg_path, message).unwrap();
    std::fs::write(&zone_path, records.join("\n") + "\n").unwrap();
    let out = Command::new(python())
        .args(["-c", VERIFY_PY])
        .arg(&msg_path)
        .arg(&zone_path)
        .output()
        .expect("run python3 (dkimpy: apt-get install python3-dkim)");
    assert!(
        out.status.success(),
        "dkimpy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}
