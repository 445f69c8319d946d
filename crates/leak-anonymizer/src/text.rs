//! Scrubbing of `text/plain` bodies.
//!
//! Line-based passes, applied in this order by [`scrub_plain`]:
//! 1. PGP armour: a clear-signed message keeps its text but loses its
//!    `Hash:` header and signature; signature and public-key blocks go.
//! 2. Quoted-reply attributions and forwarded-message header blocks go, in
//!    any client language (see `quotes.rs`): they name people and give the
//!    sender's local time.
//! 3. Signatures go where the structure says there is one: after a `-- `
//!    (or bare `--`) separator when what follows is short and ends the text
//!    at that quote level; without a separator, a last paragraph of short
//!    contact lines (phone, address, e-mail, web site) after the text.
//! 4. Client taglines ("Sent from my iPhone", "Von meinem iPhone gesendet",
//!    "Sent with Spark"…), which name the client and its language, go.
//! 5. The sender's names and addresses are replaced by the pseudonym.
//!
//! Lines are kept byte for byte otherwise (trailing spaces included), so a
//! `format=flowed` body stays flowed.

use crate::identity::Identity;
use crate::quotes::{own_text_end, strip_quote_headers, strip_quote_prefix};

/// Applies every pass above to a plain-text body.
#[cfg(test)]
pub(crate) fn scrub_plain(text: &str, identity: &Identity) -> String {
    scrub_plain_with_signature(text, identity, None).0
}

/// Applies every pass above to a plain-text body, and returns the lines of
/// the sender's signature that were removed (whitespace collapsed), so the
/// HTML alternative of the same message can lose the same lines.
/// `flowed` is `Some(delsp)` for a `format=flowed` body, whose names may
/// run over a soft line break.
pub(crate) fn scrub_plain_with_signature(
    text: &str,
    identity: &Identity,
    flowed: Option<bool>,
) -> (String, Vec<String>) {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let lines: Vec<&str> = strip_pgp(&lines)
        .into_iter()
        .filter(|line| !is_client_line(line))
        .collect();
    // The sender's own text stops where a quoted or forwarded message
    // starts; its signature, marked or not, is at its end.
    let own_end = own_text_end(&lines);
    let mut kept = strip_trailing_signature(&strip_signatures(&lines[..own_end]), identity);
    let signature = removed_lines(&lines[..own_end], &kept);
    kept.extend_from_slice(&lines[own_end..]);
    let kept = strip_signatures(&strip_quote_headers(&kept));
    let kept = kept.join("\n");
    let scrubbed = match flowed {
        Some(delsp) => identity.scrub_flowed(&kept, delsp),
        None => identity.scrub(&kept),
    };
    (scrubbed, signature)
}

/// The non-blank lines of `all` missing from `kept` (a subsequence of it),
/// whitespace collapsed.
fn removed_lines(all: &[&str], kept: &[&str]) -> Vec<String> {
    let mut kept = kept.iter().peekable();
    let mut removed = Vec::new();
    for line in all {
        if kept.peek() == Some(&line) {
            kept.next();
        } else if !line.trim().is_empty() {
            removed.push(collapse_spaces(line));
        }
    }
    removed
}

/// A line with its runs of whitespace (non-breaking spaces included) made
/// single spaces, trimmed.
pub(crate) fn collapse_spaces(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Appends leak's notice to a body, separated by a rule.
pub(crate) fn append_notice(text: &str, notice: &str) -> String {
    let mut out = text.trim_end_matches(['\r', '\n']).to_string();
    out.push_str("\n\n---\n");
    out.push_str(notice);
    out.push('\n');
    out
}

/// What a line is inside an armoured PGP section.
#[derive(PartialEq)]
enum PgpState {
    Outside,
    /// Between `BEGIN PGP SIGNED MESSAGE` and the blank line ending its
    /// armour headers (`Hash: SHA256`).
    SignedHeaders,
    /// The signed text: kept, with dash-escaping undone.
    SignedText,
    /// A signature or key block: dropped up to its `END` line.
    Dropped,
}

fn strip_pgp<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(lines.len());
    let mut state = PgpState::Outside;
    for &line in lines {
        let bare = line.trim_end();
        let content = strip_quote_prefix(bare).1;
        match state {
            _ if content == "-----BEGIN PGP SIGNED MESSAGE-----" => {
                state = PgpState::SignedHeaders;
            }
            _ if content.starts_with("-----BEGIN PGP SIGNATURE")
                || content.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK") =>
            {
                state = PgpState::Dropped;
            }
            PgpState::Dropped => {
                if content.starts_with("-----END PGP") {
                    state = PgpState::Outside;
                }
            }
            PgpState::SignedHeaders => {
                if content.is_empty() {
                    state = PgpState::SignedText;
                }
            }
            PgpState::SignedText => out.push(line.strip_prefix("- ").unwrap_or(line)),
            PgpState::Outside => out.push(line),
        }
    }
    out
}

/// Longest signature after a `-- ` separator, in non-blank lines; a bare
/// `--` (which also ends ordinary text) gets a shorter limit.
const MAX_MARKED_SIGNATURE: usize = 15;
const MAX_BARE_SIGNATURE: usize = 5;

/// Longest line of a signature, in chars.
const MAX_SIGNATURE_LINE: usize = 100;

/// Drops signature blocks after a `-- ` or `--` separator, at any quote
/// level, when the block is short and nothing else follows it at its level
/// (a `--` in the middle of the text keeps what follows).
fn strip_signatures<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let (prefix, text) = strip_quote_prefix(lines[i]);
        let marked = text == "-- ";
        if marked || text.trim_end() == "--" {
            let level = prefix.replace(' ', "");
            let same_level = |line: &&&str| strip_quote_prefix(line).0.replace(' ', "") == level;
            let end = i + 1 + lines[i + 1..].iter().take_while(same_level).count();
            let block = &lines[i + 1..end];
            let rest_at_level = lines[end..]
                .iter()
                .filter(same_level)
                .any(|line| !strip_quote_prefix(line).1.trim().is_empty());
            let limit = if marked {
                MAX_MARKED_SIGNATURE
            } else {
                MAX_BARE_SIGNATURE
            };
            let filled = block.iter().filter(|l| !l.trim().is_empty()).count();
            let short_lines = block
                .iter()
                .all(|l| l.chars().count() <= MAX_SIGNATURE_LINE);
            // A bare `--` also ends ordinary text: only one paragraph of
            // short, non-sentence lines counts as a signature after it.
            // Blank lines that end the text (a final CRLF) do not count.
            let filled_end = block
                .iter()
                .rposition(|l| !strip_quote_prefix(l).1.trim().is_empty())
                .map_or(0, |last| last + 1);
            let paragraph = &block[..filled_end];
            let bare_ok = marked
                || (!paragraph
                    .iter()
                    .any(|l| strip_quote_prefix(l).1.trim().is_empty())
                    && !paragraph.iter().any(|l| is_prose(l)));
            if !rest_at_level && filled <= limit && short_lines && bare_ok {
                i = end;
                continue;
            }
        }
        out.push(lines[i]);
        i += 1;
    }
    out
}

/// A sentence rather than a signature line: seven words or more ending
/// with sentence punctuation.
fn is_prose(line: &str) -> bool {
    let line = line.trim();
    line.split_whitespace().count() >= 7 && line.ends_with(['.', '!', '?', ':', ',', ';'])
}

/// Closing words kept at the top of an unmarked signature paragraph.
const SIGN_OFFS: &[&str] = &[
    "cordialement",
    "bien cordialement",
    "bien à vous",
    "regards",
    "best regards",
    "kind regards",
    "best",
    "cheers",
    "thanks",
    "merci",
    "mit freundlichen grüßen",
    "viele grüße",
    "beste grüße",
    "saludos",
    "un saludo",
    "atentamente",
    "cordiali saluti",
    "saluti",
    "met vriendelijke groet",
    "groeten",
    "atenciosamente",
    "abraços",
];

/// Drops a signature written without a separator: the last paragraph of
/// the text (only blank or quoted lines after it, some text before it) when
/// it is 2 to 8 short lines, one of which is contact information (a phone number, an e-mail
/// address or web site, a street address) and it is signed (after a
/// sign-off line, or opening with the sender's name). Leading sign-off
/// lines ("Cordialement,") stay.
fn strip_trailing_signature<'a>(lines: &[&'a str], identity: &Identity) -> Vec<&'a str> {
    let own = |line: &&str| !line.trim().is_empty() && !line.trim_start().starts_with('>');
    let Some(last) = lines.iter().rposition(own) else {
        return lines.to_vec();
    };
    let first = lines[..=last]
        .iter()
        .rposition(|line| !own(line))
        .map_or(0, |i| i + 1);
    let mut start = first;
    while start <= last && is_sign_off(lines[start]) {
        start += 1;
    }
    if start > last {
        return lines.to_vec();
    }
    // A signature follows the text it signs: a lone paragraph is the text.
    let has_text_before = lines[..first].iter().any(own);
    let block = &lines[start..=last];
    // And it is signed: after a sign-off, or opening with the sender's name
    // (an address at the end of an invitation is the text).
    let signed = start > first || !identity.find(block[0]).is_empty();
    let is_signature = has_text_before
        && signed
        && (2..=8).contains(&block.len())
        && block
            .iter()
            .all(|l| l.trim().chars().count() <= 72 && !l.trim_end().ends_with(['?', '!']))
        && block.iter().any(|l| is_contact_line(l));
    if !is_signature {
        return lines.to_vec();
    }
    lines[..start]
        .iter()
        .chain(&lines[last + 1..])
        .copied()
        .collect()
}

fn is_sign_off(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    lower.ends_with(',') || SIGN_OFFS.contains(&lower.trim_end_matches(['.', '!']))
}

/// A phone number (8 or more digits among phone punctuation, maybe after a
/// label such as "Tél." or "Mobile:"), an e-mail address, a web address or
/// a street address.
fn is_contact_line(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    let digits = lower.chars().filter(char::is_ascii_digit).count();
    let phone_part = lower.trim_start_matches(|c: char| c.is_alphabetic() || ".:é ".contains(c));
    let phone = digits >= 8
        && phone_part
            .chars()
            .all(|c| c.is_ascii_digit() || " +./-()".contains(c));
    let email = lower.split_whitespace().any(|word| {
        word.split_once('@').is_some_and(|(local, domain)| {
            local.chars().any(char::is_alphanumeric)
                && domain.contains('.')
                && domain.chars().next().is_some_and(char::is_alphanumeric)
        })
    });
    let web = email || lower.contains("www.") || lower.contains("http");
    const STREETS: &[&str] = &[
        "rue ",
        "avenue",
        "boulevard",
        "bd ",
        "chemin",
        "place ",
        "allée",
        "street",
        "st.",
        "road",
        "straße",
        "strasse",
        "str.",
        "weg ",
        "calle",
        "via ",
        "rua ",
        "laan",
        "straat",
    ];
    let street = lower.starts_with(|c: char| c.is_ascii_digit())
        && STREETS.iter().any(|s| lower.contains(s));
    let postal = lower
        .split_whitespace()
        .next()
        .is_some_and(|w| w.len() == 5 && w.chars().all(|c| c.is_ascii_digit()))
        && lower.split_whitespace().count() >= 2;
    phone || web || street || postal
}

/// Taglines: (start, end) of the line, lower-cased; an empty end matches
/// any.
const TAGLINES: &[(&str, &str)] = &[
    ("sent from my ", ""),
    ("sent from outlook", ""),
    ("sent from mail for", ""),
    ("sent from yahoo mail", ""),
    ("sent with proton", ""),
    ("sent with spark", ""),
    ("sent with blackberry", ""),
    ("sent via ", ""),
    ("sent using ", ""),
    ("get outlook for ", ""),
    ("envoyé de mon ", ""),
    ("envoyé depuis mon ", ""),
    ("envoyé à partir de ", ""),
    ("envoyé avec ", ""),
    ("envoyé de l'application", ""),
    ("obtenir outlook pour ", ""),
    ("télécharger outlook pour ", ""),
    ("téléchargez outlook pour ", ""),
    ("von meinem ", "gesendet"),
    ("gesendet von meinem ", ""),
    ("gesendet von outlook", ""),
    ("gesendet mit ", ""),
    ("outlook für ", "herunterladen"),
    ("holen sie sich outlook für ", ""),
    ("enviado desde mi ", ""),
    ("enviado desde outlook", ""),
    ("enviado do meu ", ""),
    ("enviado de meu ", ""),
    ("obtener outlook para ", ""),
    ("inviato da ", ""),
    ("inviato dal mio ", ""),
    ("verzonden vanaf mijn ", ""),
    ("verstuurd vanaf mijn ", ""),
    ("verzonden met ", ""),
    ("skickat från min ", ""),
    ("sendt fra min ", ""),
];

/// True for the taglines mobile and webmail clients add, in the languages
/// of the common clients ("Sent from my iPhone", "Envoyé de mon iPad",
/// "Von meinem iPhone gesendet", "Sent with Spark", "Gesendet von Outlook
/// für Android", K-9's "Sent from my Android device with K-9 Mail").
pub(crate) fn is_client_line(line: &str) -> bool {
    let bare = strip_quote_prefix(line.trim()).1.trim().to_lowercase();
    if bare.chars().count() > 120 {
        return false;
    }
    let bare = bare.trim_end_matches(['.', '!']);
    TAGLINES
        .iter()
        .any(|(start, end)| bare.starts_with(start) && bare.ends_with(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        let mut id =
            crate::identity::tests::identity_of(&[("Jean Dupont", "jean@corp.example")], "", &[]);
        id.replace_with("someone@anon.example", "Someone");
        id
    }

    #[test]
    fn removes_attributions_signatures_and_taglines() {
        let input = "Hello Bob,\r\n\r\nSee you.\r\n\r\nSent from my iPhone\r\n-- \r\nJean Dupont\r\nCorp Inc\r\n\r\nOn Mon, 23 Nov 2026 at 14:02, Bob <bob@x.example> wrote:\r\n> Hi Jean\r\n> -- \r\n> Bob\r\n";
        let out = scrub_plain(input, &identity());
        assert_eq!(out, "Hello Bob,\n\nSee you.\n\n> Hi Someone\n");
    }

    #[test]
    fn removes_wrapped_and_french_attributions() {
        let input = "Oui.\nOn Mon, Nov 23, 2026 at 2:02 PM Bob Martin <bob@x.example>\nwrote:\n> a\nLe lun. 23 nov. 2026 à 14:02, Bob <bob@x.example> a écrit :\n>> b";
        assert_eq!(scrub_plain(input, &identity()), "Oui.\n> a\n>> b");
    }

    #[test]
    fn removes_outlook_header_block() {
        let input = "Yes.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday, 14:02\nSubject: x\n\nold text";
        assert_eq!(scrub_plain(input, &identity()), "Yes.\n\n\nold text");
    }

    #[test]
    fn pgp_clearsign_keeps_text_and_drops_signature() {
        let input = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSigned text\n- -- not a sig\n-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\nafter\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQIN\n-----END PGP PUBLIC KEY BLOCK-----";
        let out = scrub_plain(input, &identity());
        assert_eq!(out, "Signed text\n-- not a sig\nafter");
    }

    #[test]
    fn a_bare_double_dash_in_the_middle_keeps_the_rest() {
        let input = "Plan.\n--\nCe tiret double n'est pas une signature, la suite reste.\nFin";
        assert_eq!(scrub_plain(input, &identity()), input);
        let input = "Plan:\n--\nFirst we meet.\nThen we walk.\n\nThen we eat.\nThen we talk.\n\nThen we sleep.\nThen we go.\nThe end.";
        assert_eq!(scrub_plain(input, &identity()), input);
        let input =
            "Text.\n-- \nA long paragraph after the marker.\n\nAnd more text that follows it.";
        let more: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let input = format!("{input}\n{more}");
        assert_eq!(scrub_plain(&input, &identity()), input);
        assert_eq!(scrub_plain("Text.\n--\nJ.\nCorp", &identity()), "Text.");
        // Red-team case: the same with the final line end a client writes.
        let signed = "See you at the meeting tomorrow.\r\n\r\n--\r\nJean\r\nSenior Engineer, Real Corp\r\nTel +33 6 12 34 56 78\r\n";
        assert_eq!(
            scrub_plain(signed, &identity()).trim_end(),
            "See you at the meeting tomorrow."
        );
    }

    #[test]
    fn unmarked_trailing_signature_goes_and_sign_off_stays() {
        let input = "Voici le devis.\n\nCordialement,\nJean Dupont\nDirecteur technique\nCanary Holdings\n12 rue des Lilas, 75011 Paris\nTél. : +33 1 23 45 67 89\n\n> Le devis ?";
        assert_eq!(
            scrub_plain(input, &identity()),
            "Voici le devis.\n\nCordialement,\n\n> Le devis ?"
        );
        let input = "Liste des courses :\n\nLait\nŒufs\nPain";
        assert_eq!(scrub_plain(input, &identity()), input);
        let input = "On fête samedi.\n\nAdresse de la fête :\n12 rue des Lilas\n75011 Paris";
        assert_eq!(scrub_plain(input, &identity()), input);
        let input = "On fête samedi.\n\nJean Dupont\nCanary Holdings\n+33 1 23 45 67 89";
        assert_eq!(scrub_plain(input, &identity()), "On fête samedi.\n");
        let input = "Mein Telefon ist kaputt.\nRuf mich an unter 01 23 45 67 89, bitte!";
        assert_eq!(scrub_plain(input, &identity()), input);
        let alone = "Answer first.\nWrite to https://lists.example/join";
        assert_eq!(scrub_plain(alone, &identity()), alone);
        let diff = "Fix.\n\n--- a/x.rs\n+++ b/x.rs\n@@ -1 +1 @@\n-a\n+b";
        assert_eq!(scrub_plain(diff, &identity()), diff);
    }

    #[test]
    fn removed_signature_lines_are_reported() {
        let input =
            "Voici.\n\nCordialement,\nJean Dupont\nCanary  Holdings\nTél. : +33 1 23 45 67 89\n";
        let (_, signature) = scrub_plain_with_signature(input, &identity(), None);
        assert_eq!(
            signature,
            ["Jean Dupont", "Canary Holdings", "Tél. : +33 1 23 45 67 89"]
        );
    }

    #[test]
    fn taglines_in_other_languages() {
        for tagline in [
            "Von meinem iPhone gesendet",
            "Sent with Spark",
            "Gesendet von Outlook für Android",
            "Envoyé de mon iPhone",
            "Enviado desde mi iPhone",
            "Inviato da iPhone",
            "Verzonden vanaf mijn iPhone",
            "Outlook für Android herunterladen",
        ] {
            assert_eq!(
                scrub_plain(&format!("Oui.\n\n{tagline}\n"), &identity()),
                "Oui.\n\n",
                "{tagline}"
            );
        }
        let kept = "Sent with love from Paris.";
        assert_eq!(scrub_plain(kept, &identity()), kept);
    }

    #[test]
    fn flowed_lines_keep_their_trailing_spaces() {
        let input = "A long paragraph that the client \nsoft-wrapped for flowed \ntransport.\n";
        assert_eq!(scrub_plain(input, &identity()), input);
    }

    #[test]
    fn notice_is_appended_after_a_rule() {
        assert_eq!(append_notice("Hi\n\n", "N"), "Hi\n\n---\nN\n");
    }
}
