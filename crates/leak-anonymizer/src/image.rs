//! Metadata stripping for image attachments (JPEG, PNG, WebP).
//!
//! Phones and cameras write the place a photo was taken (GPS), the camera's
//! serial number, the owner's name and the editing software into the image
//! container. The pixels are kept untouched; only the container's metadata
//! segments or chunks are dropped, using `img-parts` to read and write the
//! containers. Anything we are not sure is harmless is dropped: the image
//! still renders, at worst without its rotation hint.

use img_parts::jpeg::{markers, Jpeg};
use img_parts::png::Png;
use img_parts::webp::{WebP, CHUNK_XMP};
use img_parts::{Bytes, ImageEXIF};

/// Why an image could not be cleaned.
#[derive(Debug, thiserror::Error)]
#[error("image container could not be read")]
pub(crate) struct ImageError;

/// What kind of image a body is, judged by its magic bytes (never by the
/// declared content type, which the submitter controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Jpeg,
    Png,
    WebP,
}

impl ImageKind {
    /// Recognises the container from the first bytes of `data`.
    pub(crate) fn sniff(data: &[u8]) -> Option<Self> {
        if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
            Some(Self::WebP)
        } else {
            None
        }
    }
}

/// Returns `data` without metadata when it is a JPEG, PNG or WebP image,
/// `Ok(None)` when it is none of those, and an error when it claims to be one
/// (by its magic bytes) but cannot be parsed: such a file could still carry
/// metadata, so the caller must not pass it through.
pub(crate) fn strip_metadata(data: &[u8]) -> Result<Option<Vec<u8>>, ImageError> {
    let Some(kind) = ImageKind::sniff(data) else {
        return Ok(None);
    };
    let bytes = Bytes::copy_from_slice(data);
    let cleaned = match kind {
        ImageKind::Jpeg => strip_jpeg(bytes)?,
        ImageKind::Png => strip_png(bytes)?,
        ImageKind::WebP => strip_webp(bytes)?,
    };
    Ok(Some(cleaned))
}

/// Keeps only the segments needed to decode the picture: JFIF (APP0), ICC
/// colour profiles (APP2 `ICC_PROFILE`), Adobe colour transform (APP14) and
/// the non-APP segments. EXIF and XMP (APP1), IPTC (APP13), MPF and other APP
/// segments and comments are dropped, and so is anything after the image's
/// end marker (phones append secondary images and vendor trailers there).
fn strip_jpeg(bytes: Bytes) -> Result<Vec<u8>, ImageError> {
    let mut jpeg = Jpeg::from_bytes(bytes).map_err(|_| ImageError)?;
    jpeg.segments_mut().retain(|segment| {
        let contents = segment.contents();
        match segment.marker() {
            markers::APP0 => contents.starts_with(b"JFIF\0"),
            markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
            markers::APP14 => contents.starts_with(b"Adobe"),
            markers::COM => false,
            marker => !(markers::APP0..=markers::APP15).contains(&marker),
        }
    });
    let encoded = jpeg.encoder().bytes();
    Ok(clean_after_first_scan(&encoded))
}

/// `img-parts` keeps everything after the first start-of-scan as opaque
/// entropy data. This walks that tail marker by marker (as a decoder would),
/// drops APP and comment segments found between scans of progressive images,
/// and cuts the file after the end-of-image marker.
fn clean_after_first_scan(encoded: &[u8]) -> Vec<u8> {
    let Some(sos) = find_first_sos(encoded) else {
        return encoded.to_vec();
    };
    let mut out = encoded[..sos].to_vec();
    let mut i = sos;
    while i < encoded.len() {
        let byte = encoded[i];
        let next = encoded.get(i + 1).copied();
        if byte != 0xFF {
            out.push(byte);
            i += 1;
            continue;
        }
        match next {
            // Stuffed zero, fill byte, restart markers: part of the scan.
            Some(0x00) | Some(0xFF) | Some(0xD0..=0xD7) => {
                out.push(byte);
                i += 1;
            }
            Some(0xD9) => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return out;
            }
            Some(marker) => {
                let len_hi = encoded.get(i + 2).copied().unwrap_or(0) as usize;
                let len_lo = encoded.get(i + 3).copied().unwrap_or(0) as usize;
                let end = (i + 2 + (len_hi << 8 | len_lo)).min(encoded.len());
                let is_metadata =
                    (markers::APP0..=markers::APP15).contains(&marker) || marker == markers::COM;
                if !is_metadata {
                    out.extend_from_slice(&encoded[i..end]);
                }
                i = end.max(i + 2);
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Offset of the first byte after the first SOS segment header, if any.
fn find_first_sos(encoded: &[u8]) -> Option<usize> {
    let mut i = 2; // after SOI
    while i + 4 <= encoded.len() {
        if encoded[i] != 0xFF {
            return None;
        }
        let marker = encoded[i + 1];
        let len = (encoded[i + 2] as usize) << 8 | encoded[i + 3] as usize;
        let end = i + 2 + len;
        if marker == markers::SOS {
            return Some(end.min(encoded.len()));
        }
        i = end;
    }
    None
}

/// PNG chunks needed to render an image faithfully. Everything else (text
/// chunks, which hold XMP and author fields, `eXIf`, `tIME`, private chunks)
/// is dropped.
const PNG_KEPT_CHUNKS: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"bKGD", b"pHYs", b"cICP", b"mDCv", b"cLLi", b"acTL", b"fcTL", b"fdAT",
];

fn strip_png(bytes: Bytes) -> Result<Vec<u8>, ImageError> {
    let mut png = Png::from_bytes(bytes).map_err(|_| ImageError)?;
    png.chunks_mut()
        .retain(|chunk| PNG_KEPT_CHUNKS.contains(&&chunk.kind()));
    Ok(png.encoder().bytes().to_vec())
}

fn strip_webp(bytes: Bytes) -> Result<Vec<u8>, ImageError> {
    let mut webp = WebP::from_bytes(bytes).map_err(|_| ImageError)?;
    webp.remove_chunks_by_id(CHUNK_XMP);
    webp.set_exif(None);
    Ok(webp.encoder().bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use img_parts::png::PngChunk;

    /// A structurally valid JPEG: SOI, JFIF, EXIF, comment, DQT, SOS with a
    /// few entropy bytes, EOI, then a trailer.
    fn jpeg_with_metadata() -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        let mut segment = |marker: u8, body: &[u8]| {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            out.extend_from_slice(body);
        };
        segment(markers::APP0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        segment(markers::APP1, b"Exif\0\0MM\0*GPS-SECRET");
        segment(markers::APP13, b"Photoshop 3.0\0IPTC-SECRET");
        segment(markers::COM, b"COMMENT-SECRET");
        segment(markers::DQT, &[0u8; 65]);
        segment(markers::SOS, &[1, 1, 0, 0, 63, 0]);
        out.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        out.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x08]);
        out.extend_from_slice(b"LATE-X");
        out.extend_from_slice(&[0x78, 0xFF, 0xD9]);
        out.extend_from_slice(b"TRAILER-SECRET");
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn jpeg_metadata_is_dropped_and_scan_kept() {
        let input = jpeg_with_metadata();
        let out = strip_metadata(&input).unwrap().unwrap();
        for secret in [
            &b"GPS-SECRET"[..],
            b"IPTC-SECRET",
            b"COMMENT-SECRET",
            b"TRAILER-SECRET",
            b"LATE-X",
        ] {
            assert!(contains(&input, secret));
            assert!(!contains(&out, secret), "{secret:?} survived");
        }
        assert!(contains(&out, b"JFIF"));
        assert!(contains(&out, &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]));
        assert!(out.ends_with(&[0x78, 0xFF, 0xD9]));
        Jpeg::from_bytes(Bytes::from(out)).expect("output still parses");
    }

    #[test]
    fn png_text_chunks_are_dropped() {
        let mut png = Png::from_bytes(Bytes::from_static(
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\0IEND\xaeB`\x82",
        ))
        .unwrap();
        let text = PngChunk::new(*b"tEXt", Bytes::from_static(b"Author\0PNG-SECRET"));
        png.chunks_mut().insert(1, text);
        let input = png.encoder().bytes().to_vec();
        assert!(contains(&input, b"PNG-SECRET"));
        let out = strip_metadata(&input).unwrap().unwrap();
        assert!(!contains(&out, b"PNG-SECRET"));
        assert!(contains(&out, b"IHDR"));
    }

    #[test]
    fn non_images_pass_and_broken_images_fail() {
        assert!(strip_metadata(b"%PDF-1.7").unwrap().is_none());
        assert!(strip_metadata(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF]).is_err());
    }
}
