//! Quoted-reply attributions and forwarded-message header blocks in plain
//! text, in the languages of the common clients.
//!
//! Both name people and carry the writer's local time (dates with seconds
//! and UTC offsets tell where the sender lives), so both go. They are only
//! recognised where the structure says so, never from a phrase alone:
//! - an attribution ("On … wrote:", "Le … a écrit :", "Am … schrieb …:",
//!   "El … escribió:", "Il … ha scritto:", "Op … schreef …:",
//!   "Em … escreveu:", mutt's "* Bob <b@x> [date]:") contains a date and is
//!   followed by a quoted block (`>` lines), so "Le président a écrit :" in
//!   the middle of a paragraph stays;
//! - a header block is two or more `Label: value` lines (From/De/Von/Da,
//!   Sent/Date/Envoyé/Gesendet/Enviado, To/À/An/Para, Subject/Objet/Betreff/
//!   Asunto…) with a sender and a date or subject; the separator above it
//!   ("-----Original Message-----", "-------- Forwarded Message --------",
//!   a line of underscores, "Begin forwarded message:") goes only when such
//!   a block follows.

/// Verbs that end an attribution line, lower-cased.
const ATTRIBUTION_VERBS: &[&str] = &[
    "wrote",
    "writes",
    "a écrit",
    "schrieb",
    "escribió",
    "escribio",
    "ha scritto",
    "schreef",
    "escreveu",
    "skrev",
    "kirjoitti",
    "napisał",
    "napisal",
    "napisał(a)",
    "napisal(a)",
    "pisze",
    "пишет",
    "написал",
    "написал(а)",
    "書きました",
    "写道",
    "寫道",
];

/// Words that open an attribution a client may wrap over two or three lines.
const ATTRIBUTION_OPENERS: &[&str] = &["on", "le", "am", "el", "il", "op", "em", "den", "w", "*"];

/// Header labels of forwarded and quoted messages, by role.
const FROM_LABELS: &[&str] = &[
    "from",
    "de",
    "von",
    "da",
    "van",
    "från",
    "fra",
    "reply-to",
    "od",
    "差出人",
    "送信者",
    "发件人",
];
const DATE_LABELS: &[&str] = &[
    "sent",
    "date",
    "envoyé",
    "envoye",
    "gesendet",
    "datum",
    "enviado",
    "enviada",
    "fecha",
    "data",
    "inviato",
    "verzonden",
    "skickat",
    "sendt",
    "date d'envoi",
    "wysłano",
    "wyslano",
    "送信日時",
    "日付",
    "发送时间",
];
const TO_LABELS: &[&str] = &[
    "to",
    "à",
    "a",
    "an",
    "para",
    "aan",
    "till",
    "til",
    "cc",
    "cci",
    "bcc",
    "kopie",
    "pour",
    "do",
    "dw",
    "宛先",
    "收件人",
];
const SUBJECT_LABELS: &[&str] = &[
    "subject",
    "objet",
    "sujet",
    "betreff",
    "asunto",
    "assunto",
    "oggetto",
    "onderwerp",
    "ämne",
    "emne",
    "temat",
    "件名",
    "主题",
];

/// Lines that announce a forwarded message, lower-cased and trimmed.
const FORWARD_ANNOUNCES: &[&str] = &[
    "begin forwarded message:",
    "début du message réexpédié :",
    "début du message réexpédié:",
    "anfang der weitergeleiteten nachricht:",
    "inicio del mensaje reenviado:",
    "inizio messaggio inoltrato:",
    "begin van doorgestuurd bericht:",
    "início da mensagem reencaminhada:",
    "mensagem encaminhada:",
];

/// The longest of [`FORWARD_ANNOUNCES`], in chars.
const MAX_ANNOUNCE_CHARS: usize = 40;

/// Most lines of a header block (long To/Cc lists wrap).
const MAX_BLOCK_LINES: usize = 30;

/// Splits a line into its quote prefix (`> > `) and the rest.
pub(crate) fn strip_quote_prefix(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c != '>' && c != ' ')
        .unwrap_or(line.len());
    let prefix = &line[..end];
    if prefix.contains('>') {
        (prefix, &line[end..])
    } else {
        ("", line)
    }
}

/// The text of a line without quote prefix and surrounding spaces.
fn content(line: &str) -> &str {
    strip_quote_prefix(line.trim()).1.trim()
}

fn is_blank(line: &str) -> bool {
    content(line).is_empty()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// True for a line (or wrapped lines joined) that reads like an attribution:
/// an attribution verb, a date (some digit) and a final colon, or mutt's
/// "* Name <addr> [date]:". Whether a quoted block follows is checked by
/// the caller.
pub(crate) fn is_attribution(line: &str) -> bool {
    // Both forms end with a colon and hold a digit: most lines are ruled
    // out before anything is lowercased (lowercasing keeps both).
    let text = content(line);
    if !text.ends_with([':', '：']) || !text.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let lower = text.to_lowercase();
    if lower.chars().count() > 400 || !lower.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let mutt = lower.starts_with("* ") && lower.ends_with("]:") && lower.contains(" [");
    // Japanese and Chinese clients end it with a full-width colon.
    let Some(head) = lower.strip_suffix([':', '：']) else {
        return false;
    };
    let head = head.trim_end();
    // The verb is at the end ("… a écrit :", "… wrote:") or just before the
    // writer's name ("Am … schrieb Jean <j@x>:", "Op … schreef Jean:").
    let tail_words: Vec<&str> = head.rsplit(' ').take(8).collect();
    let tail = tail_words.into_iter().rev().collect::<Vec<_>>().join(" ");
    let verb = ATTRIBUTION_VERBS
        .iter()
        .any(|verb| head.ends_with(verb) || tail.contains(&format!("{verb} ")));
    mutt || verb
}

/// The number of lines (1 to 3) of the attribution starting at `i` that a
/// quoted block follows, or 0.
fn attribution_at(lines: &[&str], i: usize) -> usize {
    if is_attribution(lines[i]) {
        return if quoted_block_follows(lines, i + 1) {
            1
        } else {
            0
        };
    }
    // Wrapped over two or three lines: only when the first line opens
    // like one ("On …", "Le …").
    if !opens_attribution(lines[i]) {
        return 0;
    }
    let mut joined = lines[i].trim().to_string();
    for len in 2..=3 {
        let Some(next) = lines.get(i + len - 1) else {
            return 0;
        };
        if is_blank(next) || is_quoted(next) {
            return 0;
        }
        joined.push(' ');
        joined.push_str(next.trim());
        if is_attribution(&joined) {
            return if quoted_block_follows(lines, i + len) {
                len
            } else {
                0
            };
        }
    }
    0
}

/// True when `line` starts with one of the words attributions open with,
/// followed by a space.
fn opens_attribution(line: &str) -> bool {
    let first = content(line).to_lowercase();
    ATTRIBUTION_OPENERS.iter().any(|w| {
        first
            .strip_prefix(w)
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// True when the next non-blank line from `from` is quoted.
fn quoted_block_follows(lines: &[&str], from: usize) -> bool {
    lines[from.min(lines.len())..]
        .iter()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| is_quoted(line))
}

/// The role of a `Label: value` line of a header block, if it is one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Label {
    From,
    Date,
    To,
    Subject,
}

pub(crate) fn label_of(line: &str) -> Option<Label> {
    let text = content(line);
    let (label, _) = text.split_once([':', '：'])?;
    let label = label.trim().trim_matches('*').trim().to_lowercase();
    if label.chars().count() > 20 {
        return None;
    }
    let is = |set: &[&str]| set.contains(&label.as_str());
    if is(FROM_LABELS) {
        Some(Label::From)
    } else if is(DATE_LABELS) {
        Some(Label::Date)
    } else if is(TO_LABELS) {
        Some(Label::To)
    } else if is(SUBJECT_LABELS) {
        Some(Label::Subject)
    } else {
        None
    }
}

/// The number of lines of the header block starting at `i` (its labelled
/// lines and the wrapped lines between them, up to the first blank line),
/// or 0 when there is no block there: it needs a sender and a date or a
/// subject, and — unless a separator announced it — an address or both a
/// date and a subject, so that "De : Paris / À : Lyon / Date : 12 mai" in
/// an itinerary stays.
fn header_block_at(lines: &[&str], i: usize, announced: bool) -> usize {
    let mut labels = Vec::new();
    let mut len = 0;
    let mut unlabelled = 0;
    let mut address = false;
    while let Some(line) = lines.get(i + len) {
        if is_blank(line) || len >= MAX_BLOCK_LINES {
            break;
        }
        match label_of(line) {
            Some(label) => labels.push(label),
            None if labels.is_empty() => return 0,
            None => unlabelled += 1,
        }
        address |= line.contains('@');
        len += 1;
    }
    let has = |l: Label| labels.contains(&l);
    let ok = labels.len() >= 2
        && unlabelled <= labels.len()
        && has(Label::From)
        && (has(Label::Date) || has(Label::Subject))
        && (announced || address || (has(Label::Date) && has(Label::Subject)));
    if ok {
        len
    } else {
        0
    }
}

/// The indices of `runs` (the text runs of an HTML body, in order; empty
/// ones included) where a quoted message's header block starts that names
/// its sender without an address (Outlook's `<b>From:</b> Jean Dupont` /
/// `Sent:` / `To:` / `Subject:` above a reply, in a bordered `<div>`). Like
/// the unannounced plain-text block, it needs a sender, a date and a
/// subject among its consecutive labelled runs (and the values after bare
/// labels), so an itinerary ("De : Paris / À : Lyon / Date : …") stays.
pub(crate) fn header_block_starts(runs: &[String]) -> Vec<usize> {
    let filled: Vec<(usize, &str)> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| (i, run.trim()))
        .filter(|(_, run)| !run.is_empty())
        .collect();
    let mut starts = Vec::new();
    for (n, (index, run)) in filled.iter().enumerate() {
        if label_of(run) != Some(Label::From) || run.contains('@') {
            continue;
        }
        let mut labels = Vec::new();
        let mut value_follows = false;
        for (_, line) in filled[n..].iter().take(MAX_BLOCK_LINES) {
            match label_of(line) {
                Some(label) => {
                    labels.push(label);
                    value_follows = line
                        .split_once([':', '：'])
                        .is_some_and(|(_, v)| v.trim().is_empty());
                }
                None if value_follows => value_follows = false,
                None => break,
            }
        }
        let has = |l: Label| labels.contains(&l);
        if has(Label::Date) && has(Label::Subject) {
            starts.push(*index);
        }
    }
    starts
}

/// True for the lines clients put above a forwarded or quoted message's
/// headers: rules of dashes or underscores (with or without words such as
/// "Original Message", "Forwarded Message", "Message transféré") and
/// "Begin forwarded message:" in several languages.
pub(crate) fn is_separator(line: &str) -> bool {
    let text = content(line);
    let rule = |c: char| {
        text.starts_with(c)
            && text.chars().take_while(|x| *x == c).count() >= 4
            && text.chars().count() <= 80
    };
    // Lowercasing never shortens a text in chars: a longer line is no
    // announce, and is not lowercased.
    let announces = || {
        text.chars().count() <= MAX_ANNOUNCE_CHARS
            && FORWARD_ANNOUNCES.contains(&text.to_lowercase().as_str())
    };
    rule('-') || rule('_') || rule('=') || announces()
}

/// How many lines from `i` are a quote header: a separator and the header
/// block after it, a header block, or an attribution; 0 for none.
fn quote_header_at(lines: &[&str], i: usize) -> usize {
    if is_separator(lines[i]) {
        let mut next = i + 1;
        while next < lines.len() && is_blank(lines[next]) && next - i <= 2 {
            next += 1;
        }
        let block = header_block_at(lines, next, true);
        if block > 0 {
            return next + block - i;
        }
    }
    let block = header_block_at(lines, i, false);
    if block > 0 {
        return block;
    }
    attribution_at(lines, i)
}

/// Where the first quoted or forwarded message starts (its attribution,
/// separator or header block): the sender's own text ends there.
pub(crate) fn own_text_end(lines: &[&str]) -> usize {
    (0..lines.len())
        .find(|&i| quote_header_at(lines, i) > 0)
        .unwrap_or(lines.len())
}

/// Drops attribution lines and forwarded-message header blocks (with their
/// separator), as described in the module docs.
pub(crate) fn strip_quote_headers<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        match quote_header_at(lines, i) {
            0 => {
                out.push(lines[i]);
                i += 1;
            }
            skip => i += skip,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(text: &str) -> String {
        let lines: Vec<&str> = text.split('\n').collect();
        strip_quote_headers(&lines).join("\n")
    }

    #[test]
    fn every_forward_announce_fits_the_length_checked_first() {
        for announce in FORWARD_ANNOUNCES {
            assert!(announce.chars().count() <= MAX_ANNOUNCE_CHARS, "{announce}");
            assert!(is_separator(&announce.to_uppercase()), "{announce}");
        }
    }

    #[test]
    fn attributions_in_every_client_language() {
        for attribution in [
            "On Mon, 23 Nov 2026 at 14:02, Bob <bob@x.example> wrote:",
            "Le lun. 23 nov. 2026 à 14:02, Bob <bob@x.example> a écrit :",
            "Am 23.11.2026 um 14:02 schrieb Bob Martin <bob@x.example>:",
            "El lun, 23 nov 2026 a las 14:02, Bob (<bob@x.example>) escribió:",
            "Il giorno lun 23 nov 2026 alle ore 14:02 Bob <bob@x.example> ha scritto:",
            "Op ma 23 nov. 2026 om 14:02 schreef Bob <bob@x.example>:",
            "Em seg., 23 de nov. de 2026 às 14:02, Bob <bob@x.example> escreveu:",
            "* Bob Martin <bob@x.example> [2026-11-23 14:02:05 +0530]:",
        ] {
            let text = format!("Oui.\n\n{attribution}\n> question\n");
            assert_eq!(strip(&text), "Oui.\n\n> question\n", "{attribution}");
        }
        let wrapped =
            "Oui.\nOn Mon, Nov 23, 2026 at 2:02 PM Bob Martin <bob@x.example>\nwrote:\n> a";
        assert_eq!(strip(wrapped), "Oui.\n> a");
    }

    #[test]
    fn polish_japanese_and_chinese_attributions() {
        for attribution in [
            "W dniu 23.11.2026 o 14:02, Bob Martin pisze:",
            "pon., 23 lis 2026 o 14:02 Bob Martin <bob@x.example> napisał(a):",
            "2026/11/23 14:02 に Bob Martin さんは書きました:",
            "2026年11月23日(月) 14:02 Bob <bob@x.example>さんは書きました：",
            "Bob <bob@x.example> 于2026年11月23日周一 14:02写道：",
        ] {
            let text = format!("Tak.\n\n{attribution}\n> pytanie\n");
            assert_eq!(strip(&text), "Tak.\n\n> pytanie\n", "{attribution}");
        }
        let wrapped = "Tak.\nW dniu 23.11.2026 o 14:02, Bob Martin\npisze:\n> a";
        assert_eq!(strip(wrapped), "Tak.\n> a");
        let prose = "Mój brat pisze: 2 razy dziennie.\nTo wszystko.";
        assert_eq!(strip(prose), prose);
    }

    #[test]
    fn html_runs_of_a_header_block_without_address() {
        let runs = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let outlook = runs(&[
            "Voici.",
            "",
            "From: Jean Dupont",
            "Sent: Monday, November 23, 2026 2:02 PM",
            "To: Bob",
            "Subject: Plan",
            "Le plan ?",
        ]);
        assert_eq!(header_block_starts(&outlook), [2]);
        let japanese = runs(&[
            "差出人: 山田 太郎",
            "送信日時: 2026年11月23日 14:02",
            "宛先: Bob",
            "件名: 計画",
        ]);
        assert_eq!(header_block_starts(&japanese), [0]);
        let polish = runs(&[
            "Od: Jan Kowalski",
            "Wysłano: 23.11.2026 14:02",
            "Do: Bob",
            "Temat: Plan",
        ]);
        assert_eq!(header_block_starts(&polish), [0]);
        let itinerary = runs(&["De : Paris", "À : Lyon", "Date : 12 mai", "Bon voyage."]);
        assert!(header_block_starts(&itinerary).is_empty());
        let split = runs(&["From: Jean", "Sent: Monday", "Bla bla.", "Subject: Plan"]);
        assert!(header_block_starts(&split).is_empty());
    }

    #[test]
    fn attribution_phrases_inside_text_stay() {
        for text in [
            "Le président a écrit :\nque la séance est levée.",
            "Le 3 mai, le président a écrit :\nnous viendrons.",
            "Am Ende schrieb er:\nNein.",
        ] {
            assert_eq!(strip(text), text);
        }
    }

    #[test]
    fn forwarded_header_blocks_in_every_client_language() {
        for block in [
            // Outlook, EN / FR / DE / ES
            "-----Original Message-----\nFrom: Bob <bob@x.example>\nSent: Monday, November 23, 2026 2:02:05 PM\nTo: Jean\nSubject: Plan",
            "________________________________\nDe : Bob <bob@x.example>\nEnvoyé : lundi 23 novembre 2026 14:02\nÀ : Jean\nObjet : Plan",
            "________________________________\nVon: Bob <bob@x.example>\nGesendet: Montag, 23. November 2026 14:02\nAn: Jean\nBetreff: Plan",
            "________________________________\nDe: Bob <bob@x.example>\nEnviado: lunes, 23 de noviembre de 2026 14:02\nPara: Jean\nAsunto: Plan",
            // Apple Mail
            "Begin forwarded message:\n\nFrom: Bob <bob@x.example>\nSubject: Plan\nDate: 23 November 2026 at 14:02:05 GMT+5:30\nTo: Jean <j@y.example>",
            // Thunderbird
            "-------- Forwarded Message --------\nSubject: \tPlan\nDate: \tMon, 23 Nov 2026 14:02:05 +0530\nFrom: \tBob <bob@x.example>\nTo: \tJean <j@y.example>",
            // Gmail
            "---------- Forwarded message ---------\nFrom: *Bob* <bob@x.example>\nDate: Mon, Nov 23, 2026 at 2:02 PM\nSubject: Plan\nTo: <j@y.example>",
        ] {
            let text = format!("Voir plus bas.\n\n{block}\n\nLe plan est prêt.");
            assert_eq!(strip(&text), "Voir plus bas.\n\n\nLe plan est prêt.", "{block}");
        }
    }

    #[test]
    fn rules_without_a_header_block_stay() {
        let text = "Liste :\n____________________\nLa suite du texte.\n\n-----\nFin.";
        assert_eq!(strip(text), text);
        let text = "From: the garden\nWe grew tomatoes.";
        assert_eq!(strip(text), text);
        let text = "Voyage :\nDe : Paris\nÀ : Lyon\nDate : 12 mai à 14:30\n\nBon voyage.";
        assert_eq!(strip(text), text);
    }
}
