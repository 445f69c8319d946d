//! Scrubbing must not garble innocent text: a message whose text never
//! mentions the sender arrives with its words unchanged, even when its
//! words include the sender's first name, the local part of the sender's
//! address or other common words that are also names ("contact", "martin",
//! "alice", "paul"). Lines have three words or more: a line holding nothing
//! but the sender's first name is a sign-off, which is replaced on purpose.

mod common;

use common::{check_structure, options};
use leak_anonymizer::{anonymize, Submission};
use proptest::prelude::*;

/// Common French and English words, names among them.
const WORDS: &[&str] = &[
    "contact", "martin", "alice", "paul", "jean", "pierre", "marie", "rose", "olive", "prends",
    "avec", "demain", "le", "la", "les", "un", "une", "de", "du", "des", "et", "ou", "mais",
    "pour", "dans", "sur", "chez", "nous", "vous", "ils", "elle", "il", "je", "tu", "bonjour",
    "merci", "réunion", "projet", "équipe", "bureau", "maison", "jardin", "voiture", "travail",
    "the", "a", "an", "and", "or", "but", "with", "from", "to", "of", "in", "on", "at", "for",
    "meeting", "project", "team", "office", "house", "garden", "car", "work", "today", "tomorrow",
    "see", "you", "soon", "please", "call", "me", "info", "admin", "support", "hello", "dear",
    "will", "bring", "cake", "café", "très", "bien", "mot", "word", "page", "note", "dupont",
    "durand", "bernard", "thomas", "petit", "robert", "richard", "grand", "noir", "blanc",
];

/// Senders: (display name the client fills in, address). Their last names
/// (or whole single-word local parts) are kept out of the generated text
/// only where a whole-name form could otherwise appear by chance.
const SENDERS: &[(&str, &str, &[&str])] = &[
    ("Alice Martin", "alice.martin@corp.example", &["martin"]),
    ("Paul Girard", "paul_girard@corp.example", &["girard"]),
    ("Jean Dupont", "jean.dupont@corp.example", &["dupont"]),
    ("Contact", "contact@corp.example", &[]),
    ("Info", "info@corp.example", &[]),
    ("Marie Rose Petit", "mrp@corp.example", &["petit"]),
];

fn sender_and_text() -> impl Strategy<Value = (usize, Vec<Vec<String>>, Vec<String>)> {
    (0..SENDERS.len()).prop_flat_map(|sender| {
        let excluded = SENDERS[sender].2;
        let words: Vec<&'static str> = WORDS
            .iter()
            .copied()
            .filter(|w| !excluded.contains(w))
            .collect();
        let word = prop::sample::select(words)
            .prop_flat_map(|w| prop_oneof![Just(w.to_string()), Just(capitalized(w))]);
        let line = prop::collection::vec(word.clone(), 3..12);
        let lines = prop::collection::vec(line, 1..12);
        let subject = prop::collection::vec(word, 1..6);
        (Just(sender), lines, subject)
    })
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_that_never_mentions_the_sender_arrives_unchanged(
        (sender, lines, subject) in sender_and_text()
    ) {
        let (name, address, _) = SENDERS[sender];
        let body: Vec<String> = lines.iter().map(|l| l.join(" ")).collect();
        let body = body.join("\r\n");
        let subject = subject.join(" ");
        let data = format!(
            "From: {name} <{address}>\r\nTo: Bob <bob@x.example>\r\nSubject: {subject}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        );
        let login = address.split('@').next().unwrap_or("");
        let sub = Submission {
            data: data.as_bytes(),
            mail_from: address,
            account: login,
            aliases: &[],
            notify: Some("real.person@home.example"),
        };
        let out = anonymize(&sub, &options()).expect("anonymized");
        let message = check_structure(&out.message);
        prop_assert_eq!(message.subject(), Some(subject.as_str()));
        let text = message.body_text(0).expect("text body");
        let text = text.split("\r\n\r\n---\r\n").next().unwrap_or("");
        prop_assert_eq!(text.trim_end(), body.as_str());
    }

    #[test]
    fn html_that_never_mentions_the_sender_arrives_unchanged(
        (sender, lines, _) in sender_and_text(),
        bold in prop::collection::vec(any::<bool>(), 64),
    ) {
        let (name, address, _) = SENDERS[sender];
        // Every line a <div>, some words in <b>: runs of inline elements.
        let mut flags = bold.iter().cycle();
        let html: Vec<String> = lines
            .iter()
            .map(|line| {
                let words: Vec<String> = line
                    .iter()
                    .map(|w| if *flags.next().unwrap_or(&false) { format!("<b>{w}</b>") } else { w.clone() })
                    .collect();
                format!("<div>{}</div>", words.join(" "))
            })
            .collect();
        let html = format!("<html><body>{}</body></html>", html.join("\r\n"));
        let data = format!(
            "From: {name} <{address}>\r\nTo: bob@x.example\r\nSubject: x\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n"
        );
        let sub = Submission {
            data: data.as_bytes(),
            mail_from: address,
            account: "",
            aliases: &[],
            notify: None,
        };
        let out = anonymize(&sub, &options()).expect("anonymized");
        let message = check_structure(&out.message);
        let rebuilt = message.body_html(0).expect("html body");
        let expected = html.replace("<html><body>", "").replace("</body></html>", "");
        prop_assert!(rebuilt.contains(&expected), "{rebuilt}");
    }

    #[test]
    fn urls_that_never_mention_the_sender_arrive_unchanged(
        (sender, lines, _) in sender_and_text(),
        escapes in prop::collection::vec(prop::sample::select(vec!["%20", "%40", "%C3%A9", "+", "-", "_", ".", "%2F", "%25"]), 64),
    ) {
        let (name, address, _) = SENDERS[sender];
        // Each line a URL of its words: a path, then a query whose words
        // are joined by percent escapes and separators.
        let mut glue = escapes.iter().cycle();
        let urls: Vec<String> = lines
            .iter()
            .map(|line| {
                let (path, query) = line.split_at(line.len() / 2);
                let query: Vec<String> = query
                    .iter()
                    .map(|w| format!("{w}{}", glue.next().unwrap_or(&"")))
                    .collect();
                format!("https://example.org/{}?q={}", path.join("/"), query.concat())
            })
            .collect();
        let body = urls.join("\r\n");
        let html: Vec<String> = urls
            .iter()
            .map(|url| format!("<p><a href=\"{url}\">{url}</a></p>"))
            .collect();
        let html = html.concat();
        let data = format!(
            "From: {name} <{address}>\r\nTo: bob@x.example\r\nSubject: x\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
             --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
        );
        let sub = Submission {
            data: data.as_bytes(),
            mail_from: address,
            account: "",
            aliases: &[],
            notify: None,
        };
        let out = anonymize(&sub, &options()).expect("anonymized");
        let message = check_structure(&out.message);
        let text = message.body_text(0).expect("text body");
        prop_assert!(text.starts_with(&body), "{text}");
        let rebuilt = message.body_html(0).expect("html body");
        prop_assert!(rebuilt.contains(&html), "{rebuilt}");
    }
}
