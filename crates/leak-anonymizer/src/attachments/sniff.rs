//! What a part really is, judged from its bytes. The declared Content-Type
//! and the file name are chosen by the submitter (or mislabelled by a
//! client), so they are never trusted to let a part through; they are only
//! used to refuse (a declared `text/calendar` is refused even if its bytes
//! look like plain text).

/// The kinds leak tells apart. Only [`Kind::Jpeg`], [`Kind::Png`],
/// [`Kind::WebP`], [`Kind::Gif`], [`Kind::Pdf`] and [`Kind::Text`] can be
/// cleaned; every
/// other kind is named so the refusal can tell the user what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Jpeg,
    Png,
    WebP,
    Gif,
    /// HEIC, HEIF, AVIF, JPEG XL, JPEG 2000, TIFF (and camera raw files,
    /// which are TIFF), BMP, ICO, PSD: image containers leak cannot rewrite.
    OtherImage(&'static str),
    Svg,
    /// Rich Text Format: a document format, refused like Office files.
    Rtf,
    /// An HTML file attached as a file (never through the HTML scrubber).
    Html,
    Pdf,
    /// A ZIP archive.
    Zip,
    /// An OOXML (DOCX, XLSX, PPTX) or OpenDocument file: a ZIP naming
    /// `[Content_Types].xml` or starting with an ODF `mimetype` member.
    OfficeZip,
    /// Compound File Binary: legacy Office documents and Outlook `.msg`.
    Ole,
    /// Other archives and compressed files.
    Archive,
    /// Exchange's `winmail.dat`.
    Tnef,
    Executable,
    /// OpenPGP packets, X.509 / PKCS#7 in DER or PEM, SSH keys.
    KeyOrSignature,
    /// PGP-encrypted content (armoured or binary).
    Encrypted,
    Calendar,
    Card,
    /// A mail message or a header block (`.eml`, delivery reports).
    Message,
    /// Readable UTF-8 text without control characters.
    Text,
    Unknown,
}

/// The kind of a binary body.
pub(crate) fn sniff(data: &[u8]) -> Kind {
    let starts = |magic: &[u8]| data.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Kind::Jpeg;
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Kind::Png;
    }
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        return Kind::WebP;
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Kind::Gif;
    }
    if let Some(kind) = iso_media(data) {
        return kind;
    }
    let image = |name| Kind::OtherImage(name);
    match data {
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => return image("TIFF"),
        [b'I', b'I', 43, 0, ..] | [b'M', b'M', 0, 43, ..] => return image("TIFF"),
        [b'B', b'M', ..] if data.len() > 14 => return image("BMP"),
        [0, 0, 1, 0, ..] => return image("ICO"),
        [0xFF, 0x0A, ..] => return image("JPEG XL"),
        [b'8', b'B', b'P', b'S', ..] => return image("PSD"),
        _ => {}
    }
    if starts(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return image("JPEG XL");
    }
    if starts(b"\0\0\0\x0cjP  \r\n\x87\n") || starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return image("JPEG 2000");
    }
    if starts(b"%PDF-") || find(&data[..data.len().min(1024)], b"%PDF-").is_some() {
        return Kind::Pdf;
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        // Member names are in the local headers and in the central
        // directory at the end: look at both ends only.
        let head = &data[..data.len().min(64 * 1024)];
        let tail = &data[data.len().saturating_sub(1 << 20)..];
        let office = [
            &b"[Content_Types].xml"[..],
            b"mimetypeapplication/vnd.oasis.opendocument",
        ];
        return if office
            .iter()
            .any(|name| find(head, name).is_some() || find(tail, name).is_some())
        {
            Kind::OfficeZip
        } else {
            Kind::Zip
        };
    }
    if starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Kind::Ole;
    }
    if starts(&[0x78, 0x9F, 0x3E, 0x22]) {
        return Kind::Tnef;
    }
    let archives: &[&[u8]] = &[
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\0",
        b"7z\xbc\xaf\x27\x1c",
        b"Rar!\x1a\x07",
        b"\x28\xb5\x2f\xfd",
        b"MSCF",
        b"!<arch>",
        b"\x04\x22\x4d\x18",
    ];
    if archives.iter().any(|magic| starts(magic))
        || data.get(257..262).is_some_and(|ustar| ustar == b"ustar")
    {
        return Kind::Archive;
    }
    let executables: &[&[u8]] = &[
        b"\x7fELF",
        b"MZ",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
        b"\0asm",
        b"#!",
    ];
    if executables.iter().any(|magic| starts(magic)) {
        return Kind::Executable;
    }
    if is_openpgp_packet(data) {
        return Kind::KeyOrSignature;
    }
    if is_der_sequence(data) {
        return Kind::KeyOrSignature;
    }
    match std::str::from_utf8(data) {
        Ok(text) => sniff_text(text),
        Err(_) => Kind::Unknown,
    }
}

/// The kind of content that decoded as text: what it says it is in its
/// first lines, or [`Kind::Text`] when it is readable text with nothing
/// leak must refuse.
pub(crate) fn sniff_text(text: &str) -> Kind {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let head: String = trimmed.chars().take(4096).collect::<String>();
    if let Some(kind) = embedded_object(text) {
        return kind;
    }
    if text.contains("-----BEGIN PGP MESSAGE") {
        return Kind::Encrypted;
    }
    if has_armour(text) {
        return Kind::KeyOrSignature;
    }
    let lower = head.to_ascii_lowercase();
    if lower.contains("<svg") {
        return Kind::Svg;
    }
    if lower.starts_with("{\\rtf") {
        return Kind::Rtf;
    }
    const HTML_MARKERS: &[&str] = &[
        "<html",
        "<!doctype",
        "<head",
        "<meta",
        "<body",
        "<script",
        "<style",
    ];
    let start: String = lower.chars().take(1024).collect();
    if HTML_MARKERS.iter().any(|marker| start.contains(marker)) {
        return Kind::Html;
    }
    if looks_like_message(trimmed) || has_mail_header_line(text) {
        return Kind::Message;
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\x0c'))
    {
        return Kind::Unknown;
    }
    Kind::Text
}

/// Armoured keys, signatures and certificates anywhere in a text:
/// OpenPGP, PEM (X.509, PKCS#7, private keys) and OpenSSH.
pub(crate) fn has_armour(text: &str) -> bool {
    const MARKERS: &[&str] = &[
        "-----BEGIN PGP",
        "-----BEGIN CERTIFICATE",
        "-----BEGIN X509",
        "-----BEGIN TRUSTED CERTIFICATE",
        "-----BEGIN PKCS7",
        "-----BEGIN CMS",
        "-----BEGIN PRIVATE KEY",
        "-----BEGIN ENCRYPTED PRIVATE KEY",
        "-----BEGIN RSA PRIVATE KEY",
        "-----BEGIN EC PRIVATE KEY",
        "-----BEGIN OPENSSH PRIVATE KEY",
        "-----BEGIN PUBLIC KEY",
        "-----BEGIN SSH2 PUBLIC KEY",
        "ssh-rsa AAAA",
        "ssh-ed25519 AAAA",
    ];
    MARKERS.iter().any(|marker| text.contains(marker))
}

/// A card or calendar object starting on any line of the text, not only
/// the first: one pasted after a paragraph still carries its contact data.
fn embedded_object(text: &str) -> Option<Kind> {
    text.lines().find_map(|line| {
        let line = line.trim_start_matches('\u{feff}').trim_start();
        let begins = |marker: &str| {
            line.get(..marker.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(marker))
        };
        if begins("BEGIN:VCARD") {
            Some(Kind::Card)
        } else if begins("BEGIN:VCALENDAR") || begins("BEGIN:VEVENT") {
            Some(Kind::Calendar)
        } else {
            None
        }
    })
}

/// A line anywhere in the text that starts with a header only a mail's
/// trace or client adds: a pasted header block names servers, addresses and
/// software even after a paragraph of prose.
fn has_mail_header_line(text: &str) -> bool {
    const TRACE_HEADERS: &[&str] = &[
        "received:",
        "return-path:",
        "x-mailer:",
        "user-agent:",
        "message-id:",
        "dkim-signature:",
        "x-originating-ip:",
        "authentication-results:",
    ];
    text.lines().any(|line| {
        TRACE_HEADERS.iter().any(|header| {
            line.get(..header.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(header))
        })
    })
}

/// A header block at the start: at least two `Name: value` lines among the
/// first ones, one of them a header only mail carries.
fn looks_like_message(text: &str) -> bool {
    const MAIL_HEADERS: &[&str] = &[
        "received",
        "return-path",
        "message-id",
        "mime-version",
        "delivered-to",
        "dkim-signature",
        "reporting-ua",
        "original-recipient",
        "final-recipient",
        "reporting-mta",
        "arrival-date",
        "x-mailer",
        "user-agent",
        "from",
    ];
    let mut header_lines = 0;
    let mut mail_header = false;
    for line in text.lines().take(8) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        let is_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !is_name {
            return false;
        }
        header_lines += 1;
        mail_header |= MAIL_HEADERS.contains(&name.to_ascii_lowercase().as_str());
    }
    header_lines >= 2 && mail_header
}

/// ISO base media files (`ftyp` box): HEIC/HEIF, AVIF and the video
/// containers that share the format.
fn iso_media(data: &[u8]) -> Option<Kind> {
    if data.get(4..8)? != b"ftyp" {
        return None;
    }
    let brand = data.get(8..12)?;
    let kind = match brand {
        b"avif" | b"avis" => Kind::OtherImage("AVIF"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
            Kind::OtherImage("HEIC")
        }
        b"crx " => Kind::OtherImage("CR3"),
        _ => Kind::Unknown,
    };
    Some(kind)
}

/// An OpenPGP packet header (new or old format) for the packet types found
/// at the start of keys, signatures and encrypted messages.
fn is_openpgp_packet(data: &[u8]) -> bool {
    let Some(&first) = data.first() else {
        return false;
    };
    if first & 0x80 == 0 || data.len() < 8 {
        return false;
    }
    let tag = if first & 0x40 != 0 {
        first & 0x3F
    } else {
        (first >> 2) & 0x0F
    };
    // 1 PKESK, 2 signature, 3 SKESK, 4 one-pass signature, 5/6 keys,
    // 8 compressed data, 18 encrypted data.
    matches!(tag, 1 | 2 | 3 | 4 | 5 | 6 | 8 | 18) && (0x84..=0xC6).contains(&first)
}

/// DER `SEQUENCE` with a long-form length covering the file: the shape of
/// X.509 certificates and PKCS#7 / CMS signatures (`.cer`, `.p7s`).
fn is_der_sequence(data: &[u8]) -> bool {
    match data {
        [0x30, 0x82, hi, lo, 0x30 | 0x06, ..] => {
            let len = ((*hi as usize) << 8 | *lo as usize) + 4;
            len == data.len() || len + 2 >= data.len() && len <= data.len()
        }
        [0x30, 0x83, a, b, c, 0x30 | 0x06, ..] => {
            let len = ((*a as usize) << 16 | (*b as usize) << 8 | *c as usize) + 5;
            len <= data.len() && len + 2 >= data.len()
        }
        [0x30, 0x80, 0x06, ..] => true,
        _ => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(sniff(b"\xff\xd8\xff\xe0rest"), Kind::Jpeg);
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Kind::Gif);
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Kind::OtherImage("HEIC")
        );
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), Kind::OtherImage("AVIF"));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Kind::OtherImage("TIFF"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Kind::Pdf);
        assert_eq!(sniff(b"PK\x03\x04\x14\0"), Kind::Zip);
        assert_eq!(
            sniff(b"PK\x03\x04\x14\0\0\0\0\0[Content_Types].xml"),
            Kind::OfficeZip
        );
        assert_eq!(sniff(b"\x78\x9f\x3e\x22\x01\x00"), Kind::Tnef);
        assert_eq!(sniff(b"\x7fELF\x02\x01"), Kind::Executable);
        assert_eq!(sniff(b"hello,world\r\n1,2\r\n"), Kind::Text);
        assert_eq!(sniff(b"\x01\x02\x03\xff"), Kind::Unknown);
    }

    #[test]
    fn text_shapes() {
        assert_eq!(sniff_text("BEGIN:VCARD\r\nFN:Jean\r\n"), Kind::Card);
        assert_eq!(sniff_text("begin:vcalendar\r\n"), Kind::Calendar);
        assert_eq!(
            sniff_text("see\n-----BEGIN PGP SIGNATURE-----\nx\n"),
            Kind::KeyOrSignature
        );
        assert_eq!(
            sniff_text("-----BEGIN CERTIFICATE-----\n"),
            Kind::KeyOrSignature
        );
        assert_eq!(
            sniff_text("hi\n-----BEGIN PGP MESSAGE-----\n"),
            Kind::Encrypted
        );
        assert_eq!(sniff_text("<?xml version=\"1.0\"?><svg/>"), Kind::Svg);
        assert_eq!(
            sniff_text("Received: from x\r\nFrom: a@b\r\nSubject: s\r\n\r\nbody"),
            Kind::Message
        );
        assert_eq!(sniff_text("Name: x\nAge: 3\n"), Kind::Text);
        let prose = "Notes for the meeting.\n".repeat(400);
        for (tail, kind) in [
            ("BEGIN:VCARD\r\nFN:Jean\r\n", Kind::Card),
            ("  begin:vevent\r\n", Kind::Calendar),
            ("BEGIN:VCALENDAR\r\n", Kind::Calendar),
            ("Received: from mx\r\n", Kind::Message),
            ("X-Originating-IP: [192.0.2.1]\n", Kind::Message),
            ("authentication-results: mx; spf=pass\n", Kind::Message),
            ("-----BEGIN RSA PRIVATE KEY-----\n", Kind::KeyOrSignature),
        ] {
            assert_eq!(sniff_text(&format!("{prose}{tail}")), kind, "{tail}");
        }
        assert_eq!(sniff_text("I received: nothing\n"), Kind::Text);
        assert_eq!(sniff_text("\u{feff} {\\rtf1\\ansi hello}"), Kind::Rtf);
        for html in [
            "<!DOCTYPE html><p>x",
            "\n<HTML><body>x",
            "notes\n<script>x()</script>",
        ] {
            assert_eq!(sniff_text(html), Kind::Html, "{html}");
        }
        assert_eq!(sniff_text("a < b and c > d\n"), Kind::Text);
        assert_eq!(sniff_text("fn main() {}\n"), Kind::Text);
    }
}
