//! PNG metadata removal, read straight from the submitted bytes.
//!
//! A chunk walker (PNG specification, section 5) written by hand instead of
//! `img-parts` for the same reason as `jpeg.rs`: one output copy instead of
//! two, so a large screenshot does not triple the daemon's memory. Every
//! chunk's length and CRC are checked (a corrupt file is refused, not
//! passed); only the chunks needed to render the image are copied, and an
//! ancillary chunk whose size is not the one its specification fixes is
//! dropped too (extra bytes in it could carry anything).

use super::image::{check_size, ImageError};
use super::pieces::Pieces;

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// PNG chunks needed to render an image faithfully. Everything else (text
/// chunks, which hold XMP and author fields, `eXIf`, `tIME`, ICC profiles
/// in `iCCP`, private chunks) is dropped.
const KEPT: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

/// Whether a kept ancillary chunk has a size its specification allows.
/// `colour` is the IHDR colour type and `palette` the PLTE entry count.
fn size_ok(kind: &[u8; 4], len: usize, colour: u8, palette: usize) -> bool {
    match kind {
        b"gAMA" => len == 4,
        b"cHRM" => len == 32,
        b"sRGB" => len == 1,
        b"pHYs" => len == 9,
        b"acTL" => len == 8,
        b"fcTL" => len == 26,
        b"tRNS" => match colour {
            0 => len == 2,
            2 => len == 6,
            3 => len <= palette,
            _ => false,
        },
        b"bKGD" => match colour {
            3 => len == 1,
            0 | 4 => len == 2,
            _ => len == 6,
        },
        b"sBIT" => match colour {
            0 => len == 1,
            2 | 3 => len == 3,
            4 => len == 2,
            _ => len == 4,
        },
        _ => true, // critical chunks and fdAT hold image data
    }
}

/// The cleaned PNG, or an error when malformed or over the pixel limit.
pub(crate) fn clean(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    Ok(plan(data)?.copy(data))
}

/// [`clean`] written over the file's own buffer (no second copy).
pub(crate) fn clean_in_place(data: Vec<u8>) -> Result<Vec<u8>, ImageError> {
    let pieces = plan(&data)?;
    Ok(pieces.in_place(data))
}

/// The chunks the cleaned PNG keeps, as ranges of `data`.
fn plan(data: &[u8]) -> Result<Pieces, ImageError> {
    let mut rest = data.strip_prefix(SIGNATURE).ok_or(ImageError::Broken)?;
    let mut out = Pieces::default();
    out.keep(0..SIGNATURE.len());
    let mut first = true;
    let (mut colour, mut palette) = (0u8, 0usize);
    loop {
        let len = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(ImageError::Broken)?;
        let chunk = rest.get(..len + 12).ok_or(ImageError::Broken)?;
        let kind: &[u8; 4] = chunk[4..8].try_into().map_err(|_| ImageError::Broken)?;
        let body = &chunk[8..8 + len];
        let crc = u32::from_be_bytes(
            chunk[8 + len..]
                .try_into()
                .map_err(|_| ImageError::Broken)?,
        );
        if crc32fast::hash(&chunk[4..8 + len]) != crc {
            return Err(ImageError::Broken);
        }
        if first {
            if kind != b"IHDR" || len < 8 {
                return Err(ImageError::Broken);
            }
            let width = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            let height = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            check_size(u64::from(width), u64::from(height))?;
            colour = *body.get(9).ok_or(ImageError::Broken)?;
            first = false;
        }
        if kind == b"PLTE" {
            palette = len / 3;
        }
        if KEPT.contains(&kind) && size_ok(kind, len, colour, palette) {
            let start = data.len() - rest.len();
            out.keep(start..start + chunk.len());
        }
        rest = &rest[len + 12..];
        if kind == b"IEND" {
            return Ok(out);
        }
    }
}
