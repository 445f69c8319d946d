//! Unit tests of the PDF rebuild, on documents built with lopdf.

use lopdf::{dictionary, Document, Object, Stream, StringFormat};

use super::*;

const CANARIES: &[&str] = &[
    "INFO-CANARY",
    "XMP-CANARY",
    "ATTACHED-CANARY",
    "JS-CANARY",
    "ANNOT-CANARY",
    "PIECE-CANARY",
    "COMMENT-CANARY",
    "ACTUALTEXT-CANARY",
    "FORM-META-CANARY",
    "ICC-CANARY",
    "EXIF-CANARY",
    "OUTLINE-CANARY",
];

fn string(text: &str) -> Object {
    Object::String(text.as_bytes().to_vec(), StringFormat::Literal)
}

/// A minimal JPEG with an EXIF segment carrying a canary.
fn jpeg() -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    let mut segment = |marker: u8, body: &[u8]| {
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
    };
    segment(0xE1, b"Exif\0\0MM\0*EXIF-CANARY");
    segment(0xDB, &[0u8; 65]);
    segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    segment(0xDA, &[1, 1, 0, 0, 63, 0]);
    out.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD9]);
    out
}

/// A document with metadata everywhere a PDF can hold it, one page of text
/// and a form XObject with more text.
fn identifying_pdf(font: Dictionary) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(font);
    let xmp = |canary: &str| {
        Stream::new(
            dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
            format!("<x:xmpmeta><dc:creator>{canary}</dc:creator></x:xmpmeta>").into_bytes(),
        )
    };
    let form_meta = doc.add_object(xmp("FORM-META-CANARY"));
    let form = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 200.into(), 50.into()],
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            "Metadata" => form_meta, "PieceInfo" => dictionary! { "App" => string("PIECE-CANARY") },
        },
        b"BT /F1 12 Tf 0 0 Td (Form text) Tj ET".to_vec(),
    );
    let form_id = doc.add_object(form);
    let icc = doc.add_object(Stream::new(
        dictionary! { "N" => 3 },
        b"ICC-CANARY profile".to_vec(),
    ));
    let image = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 1, "Height" => 1,
            "ColorSpace" => vec![Object::Name(b"ICCBased".to_vec()), icc.into()],
            "BitsPerComponent" => 8, "Filter" => "DCTDecode",
        },
        jpeg(),
    );
    let image_id = doc.add_object(image);
    let content = b"% COMMENT-CANARY\n/Span << /ActualText (ACTUALTEXT-CANARY) >> BDC\n\
        BT /F1 24 Tf 72 700 Td (Hello world) Tj ET EMC\nq 10 0 0 10 72 600 cm /Im1 Do Q\n/Fm1 Do";
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.to_vec()));
    let annot = doc.add_object(dictionary! {
        "Type" => "Annot", "Subtype" => "Text", "T" => string("ANNOT-CANARY"),
        "Rect" => vec![0.into(), 0.into(), 10.into(), 10.into()],
    });
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Annots" => vec![annot.into()],
        "PieceInfo" => dictionary! { "App" => string("PIECE-CANARY") },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => font_id },
                "XObject" => dictionary! { "Im1" => image_id, "Fm1" => form_id },
                "Properties" => dictionary! { "P" => string("PIECE-CANARY") },
            },
        }),
    );
    let metadata = doc.add_object(xmp("XMP-CANARY"));
    let js = doc
        .add_object(dictionary! { "S" => "JavaScript", "JS" => string("app.alert('JS-CANARY')") });
    let attached = doc.add_object(Stream::new(
        dictionary! { "Type" => "EmbeddedFile" },
        b"ATTACHED-CANARY".to_vec(),
    ));
    let outline = doc.add_object(dictionary! { "Title" => string("OUTLINE-CANARY") });
    let catalog = doc.add_object(dictionary! {
        "Type" => "Catalog", "Pages" => pages_id, "Metadata" => metadata, "OpenAction" => js,
        "Outlines" => outline,
        "Names" => dictionary! { "EmbeddedFiles" => dictionary! { "Names" => vec![string("a.txt"), dictionary! { "EF" => dictionary! { "F" => attached } }.into()] } },
    });
    let info = doc.add_object(dictionary! { "Author" => string("INFO-CANARY"), "Title" => string("C:\\Users\\INFO-CANARY\\x.pdf") });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    doc.trailer
        .set("ID", vec![string("INFO-CANARY"), string("INFO-CANARY")]);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn helvetica() -> Dictionary {
    dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding" }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The saved bytes and every stream of the reloaded document, decompressed.
fn everything(bytes: &[u8]) -> Vec<u8> {
    let doc = Document::load_mem(bytes).expect("the output parses");
    let mut all = bytes.to_vec();
    for object in doc.objects.values() {
        if let Object::Stream(stream) = object {
            all.extend(
                stream
                    .decompressed_content()
                    .unwrap_or_else(|_| stream.content.clone()),
            );
        }
    }
    all
}

#[test]
fn metadata_everywhere_is_gone_and_text_is_kept() {
    let input = identifying_pdf(helvetica());
    let all_in = everything(&input);
    for canary in CANARIES {
        assert!(contains(&all_in, canary), "{canary} missing from the input");
    }
    let clean = clean(input.clone()).unwrap();
    let all_out = everything(&clean.bytes);
    for canary in CANARIES {
        assert!(!contains(&all_out, canary), "{canary} survived");
    }
    assert_eq!(clean.text.trim(), "Hello world\nForm text");
    let doc = Document::load_mem(&clean.bytes).unwrap();
    assert_eq!(doc.extract_text(&[1]).unwrap().trim(), "Hello world");
    assert!(!doc.trailer.has(b"Info") && !doc.trailer.has(b"ID"));
    let catalog = doc.catalog().unwrap();
    let keys: Vec<&[u8]> = catalog.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"Type"[..], b"Pages"]);
    let page = doc.get_dictionary(doc.page_iter().next().unwrap()).unwrap();
    assert!(!page.has(b"Annots") && page.has(b"MediaBox") && page.has(b"Resources"));
    // The JPEG is still a JPEG, without its EXIF; the ICC space is a device one.
    let image = doc
        .objects
        .values()
        .find_map(|o| o.as_stream().ok().filter(|s| s.dict.has(b"Width")))
        .unwrap();
    assert!(image.content.starts_with(&[0xFF, 0xD8]));
    assert_eq!(
        image.dict.get(b"ColorSpace").unwrap().as_name().unwrap(),
        b"DeviceRGB"
    );
}

#[test]
fn unreadable_fonts_are_refused() {
    let composite = dictionary! {
        "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "Custom", "Encoding" => "Identity-H",
    };
    assert!(matches!(
        clean(identifying_pdf(composite)),
        Err(PdfError::UnreadableText)
    ));
    let embedded =
        dictionary! { "Type" => "Font", "Subtype" => "TrueType", "BaseFont" => "ABCDEF+Custom" };
    assert!(matches!(
        clean(identifying_pdf(embedded)),
        Err(PdfError::UnreadableText)
    ));
    let type3 = dictionary! {
        "Type" => "Font", "Subtype" => "Type3", "Encoding" => "WinAnsiEncoding",
        "CharProcs" => dictionary! {}, "FontMatrix" => vec![0.001.into(); 6],
    };
    assert!(matches!(
        clean(identifying_pdf(type3)),
        Err(PdfError::UnreadableText)
    ));
}

#[test]
fn garbage_and_truncated_files_are_refused() {
    assert_eq!(
        clean(b"%PDF-1.7\nnot a pdf".to_vec()).err(),
        Some(PdfError::Broken)
    );
    let input = identifying_pdf(helvetica());
    assert!(clean(input[..input.len() / 3].to_vec()).is_err());
}

#[test]
fn stream_bombs_are_refused() {
    let mut input = Document::load_mem(&identifying_pdf(helvetica())).unwrap();
    // 80 MiB of spaces in the page's content stream: over MAX_STREAM_BYTES.
    let page = input.page_iter().next().unwrap();
    let content_id = input.get_page_contents(page)[0];
    let mut bomb = Stream::new(dictionary! {}, vec![b' '; 80 << 20]);
    bomb.compress().unwrap();
    assert!(bomb.content.len() < 1 << 20);
    input.objects.insert(content_id, Object::Stream(bomb));
    let mut bytes = Vec::new();
    input.save_to(&mut bytes).unwrap();
    assert_eq!(clean(bytes).err(), Some(PdfError::TooLarge));
}

#[test]
fn inflated_sizes_are_measured_without_trusting_the_stream() {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&vec![0u8; 2 << 20]).unwrap();
    let zlib = encoder.finish().unwrap();
    assert_eq!(copy::inflated_size(&zlib, 4 << 20), Ok(2 << 20));
    assert_eq!(copy::inflated_size(&zlib, 1 << 20), Err(PdfError::TooLarge));
    // A damaged tail still counts what inflated before it.
    let mut damaged = zlib[..zlib.len() - 8].to_vec();
    damaged.extend_from_slice(b"garbage!");
    assert!(copy::inflated_size(&damaged, 4 << 20).unwrap() > 1 << 20);
}
