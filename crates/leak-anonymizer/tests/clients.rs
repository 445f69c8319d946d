//! Realistic submissions as the common clients write them
//! (tests/fixtures/*.eml), each seeded with canaries: the sender's names and
//! addresses, IP, host name, client, time zone and organisation. No canary may
//! survive anywhere in the rebuilt message, raw or decoded, and the content
//! the recipient needs must.

mod common;

use common::{check_structure, contains_canary, decoded_contents, load, run};
use img_parts::jpeg::{markers, Jpeg};
use img_parts::png::Png;
use img_parts::Bytes;
use mail_parser::{MessageParser, MimeHeaders};

/// Canaries of the persona, seeded in every fixture in one form or another.
const PERSONA: &[&str] = &[
    "Vanderkamp",
    "Zébulon",
    "Zebulon",
    "zvk@",
    "zvanderkamp",
    "canary-corp",
    "canary-isp",
    "canary-home",
    "gmail.example",
    "203.0.113.77",
    "2001:db8:cafe::77",
    "zeb-laptop",
    "+0200",
    "CEST",
    "GMT+02:00",
    "-0700",
    "PDT",
    "Canary Holdings",
    "Directeur technique",
    "12 34 56 78",
    "CANARY4242",
    "CANARYKEYDATA",
    "FINGERPRINT4242",
    "CAF00D4242",
    "creation-date",
    "modification-date",
    "secret.keeper",
    "hidden.example",
];

struct Case {
    file: &'static str,
    mail_from: &'static str,
    /// Client-specific canaries: software names, Message-ID and boundary
    /// styles.
    canaries: &'static [&'static str],
    subject: &'static str,
    /// Strings the recipient must still read in the text bodies.
    text: &'static [&'static str],
    /// Strings that must still be in the HTML bodies.
    html: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "thunderbird.eml",
        mail_from: "zebulon.vanderkamp@canary-corp.example",
        canaries: &[
            "Thunderbird",
            "Gecko",
            "Mozilla",
            "moz-",
            "5f2c1a9e",
            "0B1ybSYcL9Ac2bCr3nq5m0Kp",
            "dRGsWaE9o2Pq7nYv1XkLm3Jc",
            "OpenPGP",
            "Autocrypt",
            "Content-Language",
            "CanaryShot",
            "mid:",
        ],
        subject: "Re: Compte rendu de la réunion",
        text: &[
            "Le budget du projet Hirondelle est validé : 42 000 euros pour 2027.",
            "> Peux-tu m'envoyer le compte rendu ?",
        ],
        html: &[
            "<b>Hirondelle</b>",
            "Peux-tu m'envoyer le compte rendu ?",
            "<blockquote type=\"cite\">",
        ],
    },
    Case {
        file: "apple-mail.eml",
        mail_from: "zebulon.vanderkamp@canary-corp.example",
        canaries: &[
            "iPhone",
            "smtpclient.apple",
            "Apple-Mail",
            "x-apple-part-url",
            "6D4E1A2B",
            "CanaryCam",
            "SN-CANARY",
            "Exif",
        ],
        subject: "Photos du chantier",
        text: &[
            "Voici la photo du mur porteur, prise ce matin.",
            "Tu peux m’envoyer une photo du mur ?",
        ],
        html: &[],
    },
    Case {
        file: "outlook.eml",
        mail_from: "zebulon.vanderkamp@canary-corp.example",
        canaries: &[
            "Microsoft",
            "outlook.com",
            "MsoNormal",
            "WordSection",
            "urn:schemas",
            "DB7PR01MB4242",
            "Thread-Index",
            "MSIP_Label",
            "aptos.woff2",
            "logo.png",
            "divRplyFwdMsg",
            "6:30 PM",
            "q2-figures.csv\"; size",
        ],
        subject: "Re: Quarterly figures",
        text: &[
            "The Q2 revenue was 1.27 million; details in the attached sheet.",
            "Could you send the Q2 numbers?",
        ],
        html: &["<b>1.27 million</b>", "Could you send the Q2 numbers?"],
    },
    Case {
        file: "gmail.eml",
        mail_from: "zeb.vanderkamp.perso@gmail.example",
        canaries: &[
            "gmail.com",
            "google",
            "1e100",
            "gmail_",
            "CABx4242",
            "000000000000a1b2c3d4e5f60708",
            "9:15",
            "CANARYbodyhash",
            "CANARYsignature",
        ],
        subject: "Re: Randonnée de dimanche",
        text: &[
            "Rendez-vous au parking du col de la Faucille à 8h30. Prends des bâtons.",
            "> On part à quelle heure ?",
        ],
        html: &[
            "Rendez-vous au parking du col de la Faucille à 8h30.",
            "On part à quelle heure ?",
        ],
    },
    Case {
        file: "k9.eml",
        mail_from: "zvk@canary-isp.example",
        canaries: &[
            "K-9",
            "Android",
            "A1B2C3D4-CANARY",
            "AB12CD34EF56GH78IJ90KL12MN34OP",
            "BEGIN PGP",
            "signature.asc",
            "pgp-sha512",
            "9:15:02",
        ],
        subject: "Re: Les clefs de la cave",
        text: &[
            "Les clefs sont chez la gardienne, boîte 12.",
            ">Tu as laissé les clefs où ?",
        ],
        html: &[],
    },
    Case {
        file: "mutt.eml",
        mail_from: "zvk@canary-isp.example",
        canaries: &[
            "NeoMutt",
            "4hx3k2jqz5wbmn7y",
            "SMP PREEMPT",
            "BEGIN PGP",
            "Hash: SHA512",
            "18:30",
            "~zvk",
        ],
        subject: "Re: Patch for the parser",
        text: &[
            "It does now; the fix is in commit 4f2a9c1, see parser.rs line 120.",
            "> Does the parser handle folded headers?",
        ],
        html: &[],
    },
    Case {
        file: "smtplib.eml",
        mail_from: "zebulon.vanderkamp@canary-corp.example",
        canaries: &[
            "canary-newsletter",
            "Python",
            "smtplib",
            "===============",
            "4242123456789012345",
            "178161133142",
            "track.",
            "open.gif",
            "static.",
            "fetch(",
            "onclick",
            "generated on",
            "Zeb V.",
        ],
        subject: "Canary Garden newsletter: June",
        text: &[
            "June at the garden: the tomatoes are in, and the compost workshop is on the 27th.",
        ],
        html: &[
            "<a href=\"https://garden.example/compost\">compost workshop</a>",
            "June at the garden</h1>",
            "Questions? Reply to this mail.",
        ],
    },
];

fn assert_no_canary(case: &Case, output: &[u8]) {
    let message = MessageParser::default().parse(output).expect("parses");
    let decoded = decoded_contents(&message);
    for canary in PERSONA.iter().chain(case.canaries) {
        assert!(
            !contains_canary(output, canary),
            "{}: canary {canary:?} in output:\n{}",
            case.file,
            String::from_utf8_lossy(output)
        );
        for content in &decoded {
            assert!(
                !contains_canary(content, canary),
                "{}: canary {canary:?} in decoded part:\n{}",
                case.file,
                String::from_utf8_lossy(content)
            );
        }
    }
}

#[test]
fn fixtures_carry_their_canaries() {
    // Guards the test below: a canary missing from every input proves nothing.
    for case in CASES {
        let input = load(case.file);
        let message = MessageParser::default()
            .parse(&input)
            .expect("fixture parses");
        let decoded = decoded_contents(&message);
        for canary in case.canaries {
            let found = contains_canary(&input, canary)
                || decoded
                    .iter()
                    .any(|content| contains_canary(content, canary));
            assert!(found, "{}: canary {canary:?} not seeded", case.file);
        }
    }
    let all: Vec<Vec<u8>> = CASES.iter().map(|case| load(case.file)).collect();
    for canary in PERSONA {
        assert!(
            all.iter().any(|input| contains_canary(input, canary)),
            "persona canary {canary:?} not seeded"
        );
    }
}

#[test]
fn no_canary_survives_and_content_is_kept() {
    for case in CASES {
        let out = run(&load(case.file), case.mail_from);
        assert_no_canary(case, &out.message);
        let message = check_structure(&out.message);
        assert_eq!(message.subject(), Some(case.subject), "{}", case.file);
        assert_eq!(out.subject, case.subject, "{}", case.file);
        let text: String = message
            .text_bodies()
            .filter_map(|p| p.text_contents())
            .collect();
        for kept in case.text {
            assert!(
                text.contains(kept),
                "{}: lost {kept:?} from text:\n{text}",
                case.file
            );
            assert!(
                out.text.contains(kept.trim_start_matches(['>', ' '])),
                "{}: moderation text lacks {kept:?}",
                case.file
            );
        }
        let html: String = message
            .html_bodies()
            .filter_map(|p| p.text_contents())
            .collect();
        for kept in case.html {
            assert!(
                html.contains(kept),
                "{}: lost {kept:?} from html:\n{html}",
                case.file
            );
        }
        assert!(
            text.contains("sent anonymously through mail.anon.example"),
            "{}: no notice",
            case.file
        );
        assert!(
            text.contains("optout@anon.example"),
            "{}: no opt-out",
            case.file
        );
    }
}

#[test]
fn headers_are_rebuilt() {
    let out = run(
        &load("outlook.eml"),
        "zebulon.vanderkamp@canary-corp.example",
    );
    let message = check_structure(&out.message);
    let from = message.from().and_then(|f| f.first()).expect("from");
    assert_eq!(from.address(), Some("someone@anon.example"));
    assert_eq!(from.name(), Some("Quelqu'un"));
    assert_eq!(
        (
            out.category.as_str(),
            out.pseudonym.as_str(),
            out.custom_pseudonym
        ),
        ("someone", "Quelqu'un", false)
    );
    let to: Vec<_> = message
        .to()
        .unwrap()
        .iter()
        .map(|a| a.address().unwrap().to_string())
        .collect();
    assert_eq!(to, ["bob.martin@recipient.example"]);
    // Display names are the sender's address-book names: dropped.
    let cc = message.cc().unwrap().first().unwrap();
    assert_eq!(
        (cc.name(), cc.address()),
        (None, Some("alice@recipient.example"))
    );
    assert!(message.to().unwrap().iter().all(|a| a.name().is_none()));
    assert!(message.bcc().is_none());
    let id = message.message_id().unwrap();
    let (left, right) = id.split_once('@').unwrap();
    assert_eq!(right, "anon.example");
    assert!(
        left.len() == 32 && left.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let raw = String::from_utf8(out.message.clone()).unwrap();
    assert!(raw.contains("\r\nList-Unsubscribe: <mailto:optout@anon.example>\r\n"));
    // Neither Date nor a trace line: delivery adds both at the first attempt,
    // so the submission time never reaches the stored message.
    let names = top_level_names(&out.message);
    assert!(
        !names.iter().any(|n| n == "Received" || n == "Date"),
        "{names:?}"
    );
}

fn top_level_names(bytes: &[u8]) -> Vec<String> {
    common::top_level_header_names(bytes)
}

#[test]
fn display_name_never_becomes_the_pseudonym() {
    let input = load("smtplib.eml");
    let text = String::from_utf8(input).unwrap().replace(
        "From: Zebulon Vanderkamp <zebulon.vanderkamp@canary-corp.example>",
        "From: \"Le Jardinier\" <friend@anon.example>",
    );
    let out = run(text.as_bytes(), "zebulon.vanderkamp@canary-corp.example");
    assert_eq!(
        (out.pseudonym.as_str(), out.custom_pseudonym),
        ("Un ami", false)
    );
}

#[test]
fn a_self_copy_in_cc_is_refused() {
    let input = load("thunderbird.eml");
    let text = String::from_utf8(input).unwrap().replace(
        "Cc: Alice Durand <alice@recipient.example>",
        "Cc: Alice Durand <alice@recipient.example>, Z <Z.Vanderkamp@canary-home.example>",
    );
    let aliases = vec!["z.vanderkamp@canary-home.example".to_string()];
    let sub = leak_anonymizer::Submission {
        data: text.as_bytes(),
        mail_from: "zebulon.vanderkamp@canary-corp.example",
        account: "zvanderkamp",
        aliases: &aliases,
        notify: None,
    };
    let result = leak_anonymizer::anonymize(&sub, &common::options());
    assert_eq!(
        result.err(),
        Some(leak_anonymizer::AnonymizeError::OwnAddress)
    );
}

#[test]
fn custom_pseudonym_from_the_anonymous_domain() {
    let input = load("smtplib.eml");
    let text = String::from_utf8(input).unwrap().replace(
        "From: Zebulon Vanderkamp <zebulon.vanderkamp@canary-corp.example>",
        "From: \"Zebulon Vanderkamp\" <friend+Le.Jardinier@anon.example>",
    );
    let out = run(text.as_bytes(), "zebulon.vanderkamp@canary-corp.example");
    assert_eq!(
        (
            out.category.as_str(),
            out.pseudonym.as_str(),
            out.custom_pseudonym
        ),
        ("friend", "Le Jardinier", true)
    );
    // From may be the first line: look for it as a whole line.
    let raw = format!("\r\n{}", String::from_utf8_lossy(&out.message));
    assert!(
        raw.contains("\r\nFrom: \"Le Jardinier\" <friend@anon.example>\r\n"),
        "{raw}"
    );
    assert!(!raw.contains("Vanderkamp"), "{raw}");
}

#[test]
fn images_lose_metadata_but_keep_pixels() {
    let input = load("apple-mail.eml");
    let original_jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/photo-gps.jpg"
    ))
    .unwrap();
    let before = Jpeg::from_bytes(Bytes::from(original_jpeg.clone())).unwrap();
    assert!(
        before
            .segments()
            .iter()
            .any(|s| s.marker() == markers::APP1),
        "fixture has EXIF"
    );

    let out = run(&input, "zebulon.vanderkamp@canary-corp.example");
    let message = check_structure(&out.message);
    let attachment = message.attachments().next().expect("the photo is kept");
    assert_eq!(attachment.attachment_name(), Some("IMG_4242.jpeg"));
    assert_eq!(
        attachment.content_type().map(|ct| ct.ctype()),
        Some("image")
    );
    let after = Jpeg::from_bytes(Bytes::copy_from_slice(attachment.contents())).unwrap();
    assert!(after.segments().iter().all(|s| s.marker() != markers::APP1));
    let scan = |jpeg: &Jpeg| {
        jpeg.segments()
            .iter()
            .find(|s| s.marker() == markers::SOS)
            .map(|s| s.contents().clone())
    };
    assert_eq!(scan(&before), scan(&after), "pixel data unchanged");

    let tb = run(
        &load("thunderbird.eml"),
        "zebulon.vanderkamp@canary-corp.example",
    );
    let message = check_structure(&tb.message);
    let png = message
        .attachments()
        .find(|a| a.content_type().and_then(|c| c.subtype()) == Some("png"))
        .expect("png kept");
    assert_eq!(png.attachment_name(), Some("Capture d'écran.png"));
    let png = Png::from_bytes(Bytes::copy_from_slice(png.contents())).unwrap();
    assert!(png.chunk_by_type(*b"IDAT").is_some());
    assert!(png.chunk_by_type(*b"tEXt").is_none() && png.chunk_by_type(*b"iTXt").is_none());
    assert_eq!(
        message.attachments().count(),
        1,
        "the public key is dropped"
    );
}

#[test]
fn csv_attachment_is_kept_verbatim() {
    let out = run(
        &load("outlook.eml"),
        "zebulon.vanderkamp@canary-corp.example",
    );
    let message = check_structure(&out.message);
    let csv = message.attachments().next().expect("csv kept");
    assert_eq!(csv.attachment_name(), Some("q2-figures.csv"));
    // A text attachment keeps its own line ends (this one is a Unix file)
    // and reaches moderation like the body.
    assert_eq!(
        csv.contents(),
        b"region,revenue\nnord,420000\nsud,850000\nKPI-Q2-CANTON,1\n"
    );
    assert!(out.text.contains("sud,850000"), "{}", out.text);
}
