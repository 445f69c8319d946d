//! The second red team's findings (issue 11), each through `anonymize` as
//! the sender's client writes the message: the sender's name or address
//! must not survive in any decoded part, and the innocent text around it
//! must arrive as written.

mod common;

use common::{check_structure, decoded_contents, options};
use leak_anonymizer::{anonymize, Anonymized, Submission};
use mail_parser::MimeHeaders;

const FROM: &str = "From: Jean Dupont <jean.dupont@corp.example>\r\n";

/// Anonymizes a message of the sender Jean Dupont (`jean.dupont@corp.example`,
/// account `jean`) made of `head` (extra header lines) and one part.
fn send(head: &str, content_type: &str, body: &str) -> Anonymized {
    let data = format!(
        "{FROM}To: bob@x.example\r\nSubject: rt\r\n{head}MIME-Version: 1.0\r\n\
         Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    );
    let sub = Submission {
        data: data.as_bytes(),
        mail_from: "jean.dupont@corp.example",
        account: "jean",
        aliases: &[],
        notify: None,
    };
    anonymize(&sub, &options()).unwrap_or_else(|e| panic!("refused: {e}"))
}

/// Every decoded body, header value and file name of the output, joined.
fn delivered(out: &Anonymized) -> String {
    let message = check_structure(&out.message);
    decoded_contents(&message)
        .iter()
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sender's name or address in any case, in what was delivered or
/// what moderation read.
fn assert_no_sender(out: &Anonymized, context: &str) {
    let all = delivered(out);
    for hay in [&all, &out.text] {
        let lower = hay.to_lowercase();
        assert!(!lower.contains("dupont"), "{context}: {hay}");
        assert!(!lower.contains("corp.example"), "{context}: {hay}");
    }
}

fn html(out: &Anonymized) -> String {
    let message = check_structure(&out.message);
    message.body_html(0).expect("html body").into_owned()
}

fn plain(out: &Anonymized) -> String {
    let message = check_structure(&out.message);
    message.body_text(0).expect("text body").into_owned()
}

#[test]
fn finding_1_outlook_html_reply_header_without_address_goes() {
    for block in [
        // Outlook desktop: a bordered div, names only.
        "<div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">\
         <p class=MsoNormal><b>From:</b> Jean Dupont<br><b>Sent:</b> Monday, November 23, 2026 2:02 PM\
         <br><b>To:</b> Bob Martin<br><b>Subject:</b> Plan<o:p></o:p></p></div>",
        // Outlook on the web: its own id, French labels.
        "<div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri\"><b>De&nbsp;:</b> Jean Dupont<br>\
         <b>Envoyé&nbsp;:</b> lundi 23 novembre 2026 14:02<br><b>À&nbsp;:</b> Bob Martin<br>\
         <b>Objet&nbsp;:</b> Plan</font></div>",
    ] {
        let body = format!(
            "<html><body><p>Voici ma réponse.</p><hr>{block}<div><p>Le plan est prêt ?</p></div></body></html>"
        );
        let out = send("", "text/html; charset=utf-8", &body);
        assert_no_sender(&out, block);
        let html = html(&out);
        assert!(!html.contains("14:02") && !html.contains("2:02 PM"), "{html}");
        assert!(html.contains("Voici ma réponse."), "{html}");
        assert!(html.contains("Le plan est prêt ?"), "{html}");
    }
    // An itinerary keeps its labelled lines: no subject, no header block.
    let itinerary = "<p>De : Paris</p><p>À : Lyon</p><p>Date : 12 mai</p><p>Bon voyage.</p>";
    let out = send("", "text/html; charset=utf-8", itinerary);
    assert!(html(&out).contains("De : Paris</p><p>À : Lyon</p><p>Date : 12 mai"));
}

#[test]
fn finding_1_polish_and_japanese_attributions_go() {
    for attribution in [
        "W dniu 23.11.2026 o 14:02, Bob Martin pisze:",
        "pon., 23 lis 2026 o 14:02 Bob Martin <bob@x.example> napisał(a):",
        "2026/11/23 14:02 に Bob Martin さんは書きました:",
        "2026年11月23日(月) 14:02 Bob Martin <bob@x.example>さんは書きました：",
    ] {
        let body = format!("Dziękuję.\r\n\r\n{attribution}\r\n> Pytanie?\r\n");
        let out = send("", "text/plain; charset=utf-8", &body);
        let text = plain(&out);
        assert!(!text.contains("14:02"), "{attribution}: {text}");
        assert!(
            text.contains("Dziękuję.") && text.contains("> Pytanie?"),
            "{text}"
        );
        let escaped = attribution.replace('<', "&lt;").replace('>', "&gt;");
        let html_body = format!(
            "<div>Dziękuję.</div><div>{escaped}</div><blockquote><div>Pytanie?</div></blockquote>"
        );
        let out = send("", "text/html; charset=utf-8", &html_body);
        let html = html(&out);
        assert!(!html.contains("14:02"), "{attribution}: {html}");
        assert!(html.contains("Pytanie?"), "{html}");
    }
    // Prose that mentions writing stays.
    let prose = "Mój brat pisze: wszystko dobrze.";
    assert!(plain(&send("", "text/plain; charset=utf-8", prose)).contains(prose));
}

#[test]
fn finding_2_names_split_by_invisible_characters_or_markup_go_whole() {
    for body in [
        "<p>Signé Je\u{AD}an Du\u{AD}pont.</p>",
        "<p>Signé Jean\u{200B} Dupont.</p>",
        "<p>Signé J\u{200C}ean D\u{200D}upont.</p>",
        "<p>Signé Jean \u{2060}Du\u{FEFF}pont.</p>",
        "<p>Signé Je&shy;an Dupont.</p>",
        "<p>Signé Jean<img src=\"https://t.example/x.gif\">Dupont.</p>",
        "<p>Signé Jean<o:p></o:p> Dupont.</p>",
        "<p>Signé Jean <nobr>Dupont</nobr>.</p>",
        "<p>Signé Jean<wbr>Dupont.</p>",
    ] {
        let out = send("", "text/html; charset=utf-8", body);
        assert_no_sender(&out, body);
        let html = html(&out);
        assert!(!html.contains("Jean"), "{body}: {html}");
        assert_eq!(html.matches("Quelqu'un").count(), 1, "{body}: {html}");
        assert!(html.contains("Signé "), "{html}");
    }
    let out = send(
        "",
        "text/plain; charset=utf-8",
        "Signé Je\u{AD}an Du\u{200B}pont.",
    );
    assert!(
        plain(&out).starts_with("Signé Quelqu'un."),
        "{}",
        plain(&out)
    );
    // Innocent words with soft hyphens stay as written.
    let innocent = "Jean\u{AD}ne viendra, Jean\u{AD}nette aussi.";
    let out = send("", "text/plain; charset=utf-8", innocent);
    assert!(plain(&out).starts_with(innocent), "{}", plain(&out));
}

#[test]
fn finding_2_a_name_over_a_flowed_soft_break_goes() {
    for (params, body) in [
        (
            "format=flowed",
            "Bonjour, je suis Jean \r\nDupont et je vous écris.\r\n",
        ),
        (
            "format=flowed; delsp=yes",
            "Bonjour, je suis Jean Du \r\npont et je vous écris.\r\n",
        ),
        (
            "format=flowed",
            "Oui.\r\n\r\n> Merci à Jean \r\n> Dupont pour tout.\r\n",
        ),
    ] {
        let out = send("", &format!("text/plain; charset=utf-8; {params}"), body);
        assert_no_sender(&out, body);
        let text = plain(&out);
        assert!(text.contains("Quelqu'un"), "{text}");
    }
    // A hard break between quote levels is no soft break.
    let body = "Jean \r\n> Martin a dit oui.\r\n";
    let out = send("", "text/plain; charset=utf-8; format=flowed", body);
    assert!(plain(&out).contains("> Martin a dit oui."));
}

#[test]
fn finding_3_address_variants_at_any_domain_go_whole() {
    for variant in [
        "jean_dupont@gmail.example",
        "dupont.jean@yahoo.example",
        "jdupont@outlook.example",
        "jean-dupont@proton.example",
        "Jean.Dupont+lists@home.example",
        "jean.dupont@other-job.example",
        "j.dupont@other-job.example",
    ] {
        let body = format!("Écris-moi à {variant} ce soir.");
        let out = send("", "text/plain; charset=utf-8", &body);
        let text = plain(&out);
        assert!(
            text.starts_with("Écris-moi à someone@anon.example ce soir."),
            "{variant}: {text}"
        );
        let domain = variant.split('@').nth(1).unwrap_or_default();
        assert!(!text.contains(domain), "{variant}: {text}");
    }
    // Someone else's address stays.
    let body = "Écris à jean.martin@gmail.example et à paul@dupontel.example.";
    let out = send("", "text/plain; charset=utf-8", body);
    assert!(plain(&out).starts_with(body), "{}", plain(&out));
}

#[test]
fn finding_4_css_escapes_are_decoded_before_matching() {
    let body = "<html><head><style>p::after { content: \"\\4a ean \\44 upont\" }</style></head>\
                <body><p style=\"--sig: '\\4a\\65 an Dupont'\">Salut</p>\
                <p style=\"font-family: 'Caf\\e9  Sans'\">x</p></body></html>";
    let out = send("", "text/html; charset=utf-8", body);
    assert_no_sender(&out, body);
    let html = html(&out);
    assert!(html.contains("content: \"Quelqu'un\""), "{html}");
    assert!(
        html.contains("--sig: 'Quelqu&#39;un'") || html.contains("--sig: 'Quelquun'"),
        "{html}"
    );
    // Innocent escaped text arrives decoded.
    assert!(html.contains("Café Sans"), "{html}");
    // Moderation read the decoded CSS string.
    assert!(!out.text.contains("4a ean"), "{}", out.text);
}

#[test]
fn finding_5_receipt_addresses_count_as_the_sender() {
    let head = "Disposition-Notification-To: Jean D <jd.private@home.example>\r\n\
                Return-Receipt-To: <receipts-jd@isp.example>\r\n";
    let body = "Accusé de réception demandé par jd.private@home.example \
                (receipts-jd@isp.example).";
    let out = send(head, "text/plain; charset=utf-8", body);
    let all = delivered(&out);
    assert!(!all.contains("jd.private"), "{all}");
    assert!(!all.contains("receipts-jd"), "{all}");
    assert!(!all.contains("Disposition-Notification"), "{all}");
    assert!(
        plain(&out).starts_with(
            "Accusé de réception demandé par someone@anon.example (someone@anon.example)."
        ),
        "{}",
        plain(&out)
    );
    // Being the sender's, a receipt address is refused as a recipient.
    let data = format!(
        "{FROM}To: bob@x.example\r\nCc: <jd.private@home.example>\r\nSubject: rt\r\n{head}\r\nx\r\n"
    );
    let sub = Submission {
        data: data.as_bytes(),
        mail_from: "jean.dupont@corp.example",
        account: "jean",
        aliases: &[],
        notify: None,
    };
    assert_eq!(
        anonymize(&sub, &options()).err(),
        Some(leak_anonymizer::AnonymizeError::OwnAddress)
    );
}

#[test]
fn finding_6_names_and_addresses_in_urls_go_and_links_stay_links() {
    let text = "Profil : https://example.org/u/jean.dupont?ref=jean%20dupont fin.\r\n\
                Écrire : mailto:jean.dupont@corp.example?subject=Jean%20Dupont\r\n\
                Autre : https://example.org/u/paul.martin?ref=jean fin.";
    let out = send("", "text/plain; charset=utf-8", text);
    assert_no_sender(&out, text);
    let plain = plain(&out);
    assert!(
        plain.contains("https://example.org/u/Quelqu%27un?ref=Quelqu%27un fin."),
        "{plain}"
    );
    assert!(
        plain.contains("mailto:someone@anon.example?subject=Quelqu%27un"),
        "{plain}"
    );
    assert!(
        plain.contains("Autre : https://example.org/u/paul.martin?ref=jean fin."),
        "{plain}"
    );
    let body = "<p><a href=\"https://example.org/u/jean.dupont?ref=jean%20dupont\">profil</a> \
                <a href=\"mailto:Jean.Dupont@corp.example\">écrire</a> \
                <a href=\"https://example.org/u/jean_dupont\">https://example.org/u/jean_dupont</a> \
                <a href=\"https://example.org/a%20b?q=1&amp;r=2\">autre</a></p>";
    let out = send("", "text/html; charset=utf-8", body);
    assert_no_sender(&out, body);
    let html = html(&out);
    assert!(
        html.contains("href=\"https://example.org/u/Quelqu%27un?ref=Quelqu%27un\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"mailto:someone@anon.example\""),
        "{html}"
    );
    assert!(
        html.contains(">https://example.org/u/Quelqu%27un</a>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://example.org/a%20b?q=1&amp;r=2\""),
        "{html}"
    );
}

#[test]
fn finding_7_every_attachment_name_is_scrubbed_and_keeps_its_extension() {
    use base64::Engine;
    let png_b64 = base64::engine::general_purpose::STANDARD.encode(image_bytes());
    let data = format!(
        "{FROM}To: bob@x.example\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCi-joint.\r\n\
         --b\r\nContent-Type: text/markdown; charset=utf-8\r\n\
         Content-Disposition: attachment; filename=\"jean-dupont-notes.md\"\r\n\r\n# Notes\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Disposition: attachment; filename=\"Je\u{AD}an Du\u{200B}pont.txt\"\r\n\r\ntexte\r\n\
         --b\r\nContent-Type: text/csv\r\n\
         Content-Disposition: attachment; filename*=utf-8''jdupont%5Fbudget.csv\r\n\r\na,b\r\n\
         --b\r\nContent-Type: image/png; name=\"photo de jean.dupont@corp.example.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: inline\r\n\r\n{png_b64}\r\n\
         --b--\r\n"
    );
    let sub = Submission {
        data: data.as_bytes(),
        mail_from: "jean.dupont@corp.example",
        account: "jean",
        aliases: &[],
        notify: None,
    };
    let out = anonymize(&sub, &options()).unwrap_or_else(|e| panic!("refused: {e}"));
    assert_no_sender(&out, "attachments");
    let message = check_structure(&out.message);
    let names: Vec<String> = message
        .parts
        .iter()
        .filter_map(|part| part.attachment_name().map(str::to_string))
        .collect();
    assert_eq!(
        names,
        [
            "Quelqu'un-notes.md",
            "Quelqu'un.txt",
            "Quelqu'un_budget.csv",
            "photo de someone@anon.example.png"
        ]
    );
    // The recipient reads the names: moderation reads them too.
    assert!(out.text.contains("Quelqu'un-notes.md"), "{}", out.text);
}

/// A 2×2 PNG.
fn image_bytes() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==",
        )
        .expect("png")
}
