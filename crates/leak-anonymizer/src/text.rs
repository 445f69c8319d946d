//! Scrubbing of `text/plain` bodies.
//!
//! Line-based passes, applied in this order by [`scrub_plain`]:
//! 1. PGP armour: a clear-signed message keeps its text but loses its
//!    `Hash:` header and signature; signature and public-key blocks go.
//! 2. Quoted-reply attribution lines ("On … X <x@y> wrote:", "Le … a écrit :")
//!    and Outlook's "-----Original Message-----" header blocks go: they name
//!    people and give the sender's local time.
//! 3. Signature blocks after a `-- ` separator go, at every quote level.
//! 4. "Sent from my iPhone"-style lines, which name the client, go.
//! 5. The sender's names and addresses are replaced by the pseudonym.

use crate::identity::Identity;

/// Applies every pass above to a plain-text body.
pub(crate) fn scrub_plain(text: &str, identity: &Identity) -> String {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let lines = strip_pgp(&lines);
    let lines = strip_attributions(&lines);
    let lines = strip_signatures(&lines);
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|line| !is_client_line(line))
        .collect();
    identity.scrub(&kept.join("\n"))
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

/// Splits a line into its quote prefix (`> > `) and the rest.
fn strip_quote_prefix(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c != '>' && c != ' ')
        .unwrap_or(line.len());
    // Keep a single space that only separates the prefix from the text.
    let prefix = &line[..end];
    if prefix.contains('>') {
        (prefix, &line[end..])
    } else {
        ("", line)
    }
}

/// True for a line that opens a quoted reply ("On Mon, 23 Nov 2026 at 14:02,
/// Jean <j@x> wrote:", "Le lun. 23 nov. 2026 à 14:02, Jean a écrit :",
/// mutt's "* Jean <j@x> [2026-11-23 14:02 +0100]:").
pub(crate) fn is_attribution(line: &str) -> bool {
    let line = strip_quote_prefix(line.trim()).1.trim();
    let lower = line.to_lowercase();
    let english = (lower.starts_with("on ") || lower.contains(" on "))
        && (lower.ends_with("wrote:") || lower.ends_with("writes:"));
    let french =
        lower.starts_with("le ") && (lower.ends_with("a écrit :") || lower.ends_with("a écrit:"));
    // Mutt: "* Bob Martin <bob@x.example> [2026-06-15 18:30 +0200]:"
    let mutt = lower.starts_with("* ") && lower.ends_with("]:") && lower.contains(" [");
    english || french || mutt
}

/// True when `line` (joined with the next one) is an attribution that a
/// client wrapped over two lines.
fn starts_wrapped_attribution(line: &str, next: &str) -> bool {
    let lower = strip_quote_prefix(line.trim()).1.to_lowercase();
    (lower.starts_with("on ") || lower.starts_with("le "))
        && !is_attribution(line)
        && is_attribution(&format!("{} {}", line.trim(), next.trim()))
}

/// True for the separators Outlook puts above a quoted message's headers.
fn is_original_message_separator(line: &str) -> bool {
    let bare = strip_quote_prefix(line.trim()).1.trim();
    let lower = bare.to_lowercase();
    (lower.starts_with("-----")
        && (lower.contains("original message") || lower.contains("message d'origine")))
        || (bare.len() >= 20 && bare.chars().all(|c| c == '_'))
}

fn strip_attributions<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let next = lines.get(i + 1).copied().unwrap_or("");
        if is_attribution(line) {
            i += 1;
        } else if starts_wrapped_attribution(line, next) {
            i += 2;
        } else if is_original_message_separator(line) {
            // Drop the separator and the header block up to the blank line.
            i += 1;
            while i < lines.len() && !strip_quote_prefix(lines[i].trim()).1.trim().is_empty() {
                i += 1;
            }
        } else {
            out.push(line);
            i += 1;
        }
    }
    out
}

/// Drops every `-- ` signature block: from the separator to the end of the
/// text, or to the first line at a different quote level.
fn strip_signatures<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(lines.len());
    let mut in_signature: Option<String> = None;
    for &line in lines {
        let (prefix, content) = strip_quote_prefix(line);
        let prefix = prefix.replace(' ', "");
        if let Some(level) = &in_signature {
            if *level == prefix {
                continue;
            }
            in_signature = None;
        }
        if content == "-- " || content.trim_end() == "--" {
            in_signature = Some(prefix);
            continue;
        }
        out.push(line);
    }
    out
}

/// True for the taglines mobile and webmail clients add ("Sent from my
/// iPhone", "Envoyé de mon iPad", "Get Outlook for Android", K-9's "Sent from
/// my Android device with K-9 Mail").
pub(crate) fn is_client_line(line: &str) -> bool {
    let bare = strip_quote_prefix(line.trim()).1.trim().to_lowercase();
    if bare.len() > 120 {
        return false;
    }
    const PREFIXES: &[&str] = &[
        "sent from my ",
        "sent from outlook",
        "sent from mail for",
        "sent from yahoo mail",
        "sent with proton",
        "sent via ",
        "get outlook for ",
        "envoyé de mon ",
        "envoyé depuis mon ",
        "envoyé à partir de ",
        "envoyé avec ",
        "obtenir outlook pour ",
        "télécharger outlook pour ",
        "téléchargez outlook pour ",
    ];
    PREFIXES.iter().any(|prefix| bare.starts_with(prefix))
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
    fn notice_is_appended_after_a_rule() {
        assert_eq!(append_notice("Hi\n\n", "N"), "Hi\n\n---\nN\n");
    }
}
