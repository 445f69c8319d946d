//! Metadata removal for the image formats leak can rewrite: JPEG, PNG,
//! WebP (with `img-parts`) and GIF (`gif.rs`).
//!
//! Phones and cameras write the place a photo was taken (GPS), the camera's
//! serial number, the owner's name and the editing software into the image
//! container; colour profiles carry the device and owner name. The pixels
//! are kept untouched; only the container's metadata segments or chunks
//! are dropped, and everything not known to be needed for decoding goes
//! (ICC profiles included: viewers assume sRGB without one). A JPEG keeps
//! its EXIF orientation as a one-tag EXIF block, so portrait photos are not
//! shown sideways. Images over [`MAX_PIXELS`] are refused: a decompression
//! bomb for whoever opens them.

use img_parts::jpeg::JpegSegment;
use img_parts::jpeg::{markers, Jpeg};
use img_parts::png::Png;
use img_parts::webp::{WebP, CHUNK_XMP};
use img_parts::{Bytes, ImageEXIF};

use super::gif;
use super::sniff::{sniff, Kind};

/// Largest image accepted, in pixels (100 megapixels: above any phone or
/// camera photo people mail, far below a decompression bomb).
pub(crate) const MAX_PIXELS: u64 = 100_000_000;

/// Why an image could not be cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ImageError {
    /// The container could not be read, so its metadata cannot be removed.
    #[error("image container could not be read")]
    Broken,
    /// Wider × higher than [`MAX_PIXELS`], or no size could be read.
    #[error("image too large")]
    TooLarge,
}

/// A cleaned image and its real media type.
pub(crate) struct CleanImage {
    pub(crate) bytes: Vec<u8>,
    pub(crate) media_type: &'static str,
}

/// Returns `data` without metadata when it is a JPEG, PNG, WebP or GIF
/// image, `Ok(None)` when it is none of those, and an error when it is one
/// (by its magic bytes) but cannot be parsed or is too large: such a file
/// could still carry metadata, so the caller must not pass it through.
pub(crate) fn clean_image(data: &[u8]) -> Result<Option<CleanImage>, ImageError> {
    let (bytes, media_type) = match sniff(data) {
        Kind::Jpeg => (strip_jpeg(Bytes::copy_from_slice(data))?, "image/jpeg"),
        Kind::Png => (strip_png(Bytes::copy_from_slice(data))?, "image/png"),
        Kind::WebP => (strip_webp(Bytes::copy_from_slice(data))?, "image/webp"),
        Kind::Gif => (gif::clean(data, MAX_PIXELS)?, "image/gif"),
        _ => return Ok(None),
    };
    Ok(Some(CleanImage { bytes, media_type }))
}

/// [`clean_image`]'s bytes only (the `data:` URI cleaner keeps its own type).
pub(crate) fn strip_metadata(data: &[u8]) -> Result<Option<Vec<u8>>, ImageError> {
    Ok(clean_image(data)?.map(|image| image.bytes))
}

fn check_size(width: u64, height: u64) -> Result<(), ImageError> {
    if width == 0 || height == 0 || width.saturating_mul(height) > MAX_PIXELS {
        Err(ImageError::TooLarge)
    } else {
        Ok(())
    }
}

/// Keeps only the segments needed to decode the picture: JFIF (APP0),
/// Adobe colour transform (APP14) and the non-APP segments, plus a new
/// EXIF block holding only the orientation when the photo had one. EXIF and
/// XMP (APP1), ICC profiles (APP2), IPTC (APP13), MPF and other APP segments
/// and comments are dropped, and so is anything after the image's end
/// marker (phones append secondary images and vendor trailers there).
fn strip_jpeg(bytes: Bytes) -> Result<Vec<u8>, ImageError> {
    let mut jpeg = Jpeg::from_bytes(bytes).map_err(|_| ImageError::Broken)?;
    let (width, height) = jpeg_size(&jpeg).ok_or(ImageError::Broken)?;
    check_size(width, height)?;
    let orientation = jpeg
        .segments()
        .iter()
        .filter(|segment| segment.marker() == markers::APP1)
        .find_map(|segment| exif_orientation(segment.contents()));
    jpeg.segments_mut().retain(|segment| {
        let contents = segment.contents();
        match segment.marker() {
            markers::APP0 => contents.starts_with(b"JFIF\0"),
            markers::APP14 => contents.starts_with(b"Adobe"),
            markers::COM => false,
            marker => !(markers::APP0..=markers::APP15).contains(&marker),
        }
    });
    if let Some(orientation) = orientation.filter(|o| (2..=8).contains(o)) {
        let at = usize::from(
            jpeg.segments()
                .first()
                .is_some_and(|s| s.marker() == markers::APP0),
        );
        let exif = JpegSegment::new_with_contents(markers::APP1, orientation_exif(orientation));
        jpeg.segments_mut().insert(at, exif);
    }
    let encoded = jpeg.encoder().bytes();
    Ok(clean_after_first_scan(&encoded))
}

/// Width and height from the first start-of-frame segment.
fn jpeg_size(jpeg: &Jpeg) -> Option<(u64, u64)> {
    let sof = jpeg.segments().iter().find(
        |segment| matches!(segment.marker(), 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF),
    )?;
    let c = sof.contents();
    let height = u16::from_be_bytes([*c.get(1)?, *c.get(2)?]);
    let width = u16::from_be_bytes([*c.get(3)?, *c.get(4)?]);
    Some((u64::from(width), u64::from(height)))
}

/// The Orientation tag (0x0112) of IFD0 in an APP1 `Exif` segment.
fn exif_orientation(app1: &[u8]) -> Option<u16> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let big = match tiff.get(..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at + 2)?;
        Some(if big {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    (0..count.min(256)).find_map(|i| {
        let entry = ifd + 2 + i * 12;
        (u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3).then(|| u16_at(entry + 8))?
    })
}

/// An APP1 `Exif` segment with one tag: the orientation.
fn orientation_exif(orientation: u16) -> Bytes {
    let mut out = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    out.extend_from_slice(&orientation.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Bytes::from(out)
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
/// chunks, which hold XMP and author fields, `eXIf`, `tIME`, ICC profiles
/// in `iCCP`, private chunks) is dropped.
const PNG_KEPT_CHUNKS: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
    b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

fn strip_png(bytes: Bytes) -> Result<Vec<u8>, ImageError> {
    let mut png = Png::from_bytes(bytes).map_err(|_| ImageError::Broken)?;
    let ihdr = png.chunk_by_type(*b"IHDR").ok_or(ImageError::Broken)?;
    let c = ihdr.contents();
    let width = c.get(0..4).ok_or(ImageError::Broken)?;
    let height = c.get(4..8).ok_or(ImageError::Broken)?;
    check_size(
        u64::from(u32::from_be_bytes(
            width.try_into().map_err(|_| ImageError::Broken)?,
        )),
        u64::from(u32::from_be_bytes(
            height.try_into().map_err(|_| ImageError::Broken)?,
        )),
    )?;
    png.chunks_mut()
        .retain(|chunk| PNG_KEPT_CHUNKS.contains(&&chunk.kind()));
    Ok(png.encoder().bytes().to_vec())
}

/// WebP chunks that hold the picture; EXIF, XMP, ICCP and unknown chunks go.
const WEBP_KEPT_CHUNKS: &[&[u8; 4]] = &[b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"];

fn strip_webp(bytes: Bytes) -> Result<Vec<u8>, ImageError> {
    let mut webp = WebP::from_bytes(bytes).map_err(|_| ImageError::Broken)?;
    let (width, height) = webp.dimensions().ok_or(ImageError::Broken)?;
    check_size(u64::from(width), u64::from(height))?;
    webp.chunks_mut()
        .retain(|chunk| WEBP_KEPT_CHUNKS.contains(&&chunk.id()));
    webp.remove_chunks_by_id(CHUNK_XMP);
    // Rewrites the VP8X flags to match the chunks left.
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
        segment(markers::SOF0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
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

    #[test]
    fn orientation_survives_alone() {
        let mut input = jpeg_with_metadata();
        // Replace the EXIF segment by one with Orientation = 6 and a serial.
        let exif = b"Exif\0\0II*\0\x08\0\0\0\x02\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\x31\xa4\x02\0\x04\0\0\0SN42\0\0\0\0";
        let at = input.windows(4).position(|w| w == b"Exif").unwrap() - 4;
        let old_len = u16::from_be_bytes([input[at + 2], input[at + 3]]) as usize;
        let mut segment = vec![0xFF, markers::APP1];
        segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        segment.extend_from_slice(exif);
        input.splice(at..at + 2 + old_len, segment);
        assert_eq!(exif_orientation(exif), Some(6));
        let out = strip_metadata(&input).unwrap().unwrap();
        assert!(!contains(&out, b"SN42"));
        let jpeg = Jpeg::from_bytes(Bytes::from(out)).unwrap();
        let app1 = jpeg
            .segments()
            .iter()
            .find(|s| s.marker() == markers::APP1)
            .unwrap();
        assert_eq!(exif_orientation(app1.contents()), Some(6));
    }

    #[test]
    fn huge_dimensions_are_refused() {
        let mut png = Png::from_bytes(Bytes::from_static(
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\0IEND\xaeB`\x82",
        ))
        .unwrap();
        let mut ihdr = png.chunk_by_type(*b"IHDR").unwrap().contents().to_vec();
        ihdr[0..8].copy_from_slice(&[0, 1, 0, 0, 0, 1, 0, 0]);
        png.chunks_mut()[0] = PngChunk::new(*b"IHDR", Bytes::from(ihdr));
        let input = png.encoder().bytes().to_vec();
        assert!(matches!(strip_metadata(&input), Err(ImageError::TooLarge)));
    }
}
