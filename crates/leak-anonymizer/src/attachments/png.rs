//! PNG metadata removal, read straight from the submitted bytes.
//!
//! A chunk walker (PNG specification, section 5) written by hand instead of
//! `img-parts` for the same reason as `jpeg.rs`: one output copy instead of
//! two, so a large screenshot does not triple the daemon's memory. Every
//! chunk's length and CRC are checked (a corrupt file is refused, not
//! passed); only the chunks needed to render the image are copied.

use super::image::{check_size, ImageError};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// PNG chunks needed to render an image faithfully. Everything else (text
/// chunks, which hold XMP and author fields, `eXIf`, `tIME`, ICC profiles
/// in `iCCP`, private chunks) is dropped.
const KEPT: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

/// The cleaned PNG, or an error when malformed or over the pixel limit.
pub(crate) fn clean(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut rest = data.strip_prefix(SIGNATURE).ok_or(ImageError::Broken)?;
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(SIGNATURE);
    let mut first = true;
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
            first = false;
        }
        if KEPT.contains(&kind) {
            out.extend_from_slice(chunk);
        }
        rest = &rest[len + 12..];
        if kind == b"IEND" {
            return Ok(out);
        }
    }
}
