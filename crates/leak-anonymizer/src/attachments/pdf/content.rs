//! Content streams rewritten from an allow-list of drawing operators.
//!
//! A content stream is parsed into operations (lopdf) and written anew with
//! only the operators of ISO 32000 that draw: graphics state, paths,
//! clipping, text, colour, shading, XObjects and inline images. Comments
//! (`% ...`, dropped by the parser), marked content (`BMC`, `BDC`, `EMC`,
//! `MP`, `DP`, whose property lists carry `/ActualText`, `/Alt`, `/Lang`
//! and optional-content references), compatibility sections and unknown
//! operators never reach the new stream. Dropping the marked-content
//! operators as a whole keeps the rest balanced; content hidden as
//! optional becomes visible, and its text is moderated like the rest.
//! Inline images keep an allow-list of their keys; a JPEG inline image is
//! cleaned like any JPEG.

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Object, Stream};

use super::PdfError;
use crate::attachments::jpeg;

/// The operators kept, by group (ISO 32000-1 table 51).
#[rustfmt::skip]
const OPERATORS: &[&str] = &[
    // General graphics state, special graphics state.
    "w", "J", "j", "M", "d", "ri", "i", "gs", "q", "Q", "cm",
    // Path construction, painting, clipping.
    "m", "l", "c", "v", "y", "h", "re", "S", "s", "f", "F", "f*", "B", "B*", "b", "b*", "n",
    "W", "W*",
    // Text objects, state, positioning, showing.
    "BT", "ET", "Tc", "Tw", "Tz", "TL", "Tf", "Tr", "Ts", "Td", "TD", "Tm", "T*", "Tj", "TJ",
    "'", "\"",
    // Type 3 glyph metrics, colour, shading, XObjects, inline images.
    "d0", "d1", "CS", "cs", "SC", "SCN", "sc", "scn", "G", "g", "RG", "rg", "K", "k", "sh",
    "Do", "BI",
];

/// Keys an inline image may keep (full names and their abbreviations).
#[rustfmt::skip]
const INLINE_IMAGE_KEYS: &[&[u8]] = &[
    b"BitsPerComponent", b"BPC", b"ColorSpace", b"CS", b"Decode", b"D", b"DecodeParms",
    b"DP", b"Filter", b"F", b"Height", b"H", b"ImageMask", b"IM", b"Interpolate", b"I",
    b"Width", b"W", b"Intent",
];

/// The content stream `data` with only the kept operators.
pub(super) fn clean(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    let content = Content::decode(data).map_err(|_| PdfError::Broken)?;
    let mut kept = Vec::with_capacity(content.operations.len());
    for operation in content.operations {
        if !OPERATORS.contains(&operation.operator.as_str()) {
            continue;
        }
        if operation.operator == "BI" {
            match inline_image(&operation)? {
                Some(image) => kept.push(image),
                None => continue,
            }
        } else {
            kept.push(operation);
        }
    }
    Content { operations: kept }
        .encode()
        .map_err(|_| PdfError::Broken)
}

/// An inline image with its allowed keys, JPEG data cleaned; `None` for an
/// image the parser could not read (lopdf leaves it empty).
fn inline_image(operation: &Operation) -> Result<Option<Operation>, PdfError> {
    let Some(Object::Stream(image)) = operation.operands.first() else {
        return Ok(None);
    };
    let mut dict = Dictionary::new();
    for (key, value) in image.dict.iter() {
        if INLINE_IMAGE_KEYS.contains(&key.as_slice()) {
            dict.set(key.clone(), value.clone());
        }
    }
    let filter = dict.get(b"Filter").or_else(|_| dict.get(b"F")).ok();
    let names: Vec<&[u8]> = match filter {
        Some(Object::Name(name)) => vec![name.as_slice()],
        Some(Object::Array(items)) => items.iter().filter_map(|o| o.as_name().ok()).collect(),
        _ => Vec::new(),
    };
    let content = if names.iter().any(|n| *n == b"DCTDecode" || *n == b"DCT") {
        if names.len() != 1 {
            return Err(PdfError::Unsupported);
        }
        jpeg::clean(&image.content).map_err(|_| PdfError::Broken)?
    } else if names.iter().any(|n| *n == b"JPXDecode") {
        return Err(PdfError::Unsupported);
    } else {
        image.content.clone()
    };
    let stream = Stream::new(dict, content).with_compression(false);
    Ok(Some(Operation::new("BI", vec![Object::Stream(stream)])))
}
