//! The moderation classifier (normaliser, disguise merging, lexicon scan) must
//! judge any text without panicking. The input is split on `\x01` into
//! subject, body and pseudonym so each field sees arbitrary text.

#![no_main]

use std::sync::OnceLock;

use leak_moderation::{Classifier, Input, Verdict};
use libfuzzer_sys::fuzz_target;

/// Built once: compiling the lexicons is far slower than one classification.
fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(Classifier::builtin)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(3, '\x01');
    let input = Input {
        subject: fields.next().unwrap_or(""),
        text: fields.next().unwrap_or(""),
        pseudonym: fields.next().unwrap_or(""),
    };
    let verdict = classifier().classify(&input);
    if let Verdict::Block { reason, .. } = &verdict {
        assert!(!reason.is_empty(), "a block must say why");
    }
    // Same input, same verdict: nothing depends on hidden state.
    assert_eq!(verdict, classifier().classify(&input));
});
