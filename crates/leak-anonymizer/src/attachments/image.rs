//! Metadata removal for the image formats leak can rewrite: JPEG, PNG,
//! WebP (with `img-parts`) and GIF (`gif.rs`); JPEG and PNG are walked
//! from the borrowed bytes (`jpeg.rs`, `png.rs`) to keep one copy in memory.
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

use img_parts::webp::{WebP, CHUNK_XMP};
use img_parts::{Bytes, ImageEXIF};

use super::sniff::{sniff, Kind};
use super::{gif, jpeg, png};

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
        Kind::Jpeg => (jpeg::clean(data)?, "image/jpeg"),
        Kind::Png => (png::clean(data)?, "image/png"),
        Kind::WebP => (strip_webp(Bytes::copy_from_slice(data))?, "image/webp"),
        Kind::Gif => (gif::clean(data, MAX_PIXELS)?, "image/gif"),
        _ => return Ok(None),
    };
    Ok(Some(CleanImage { bytes, media_type }))
}

/// What [`clean_owned_image`] made of a file.
pub(crate) enum Owned {
    /// The cleaned image.
    Image(CleanImage),
    /// Not an image: the bytes, given back untouched.
    NotImage(Vec<u8>),
}

/// [`clean_image`] for a file the caller gives up: JPEG and PNG are
/// cleaned inside the file's own buffer, so a large photo is not held
/// twice; the other formats are copied and the original freed.
pub(crate) fn clean_owned_image(data: Vec<u8>) -> Result<Owned, ImageError> {
    let (bytes, media_type) = match sniff(&data) {
        Kind::Jpeg => (jpeg::clean_in_place(data)?, "image/jpeg"),
        Kind::Png => (png::clean_in_place(data)?, "image/png"),
        Kind::WebP | Kind::Gif => {
            return Ok(match clean_image(&data)? {
                Some(image) => Owned::Image(image),
                None => Owned::NotImage(data),
            })
        }
        _ => return Ok(Owned::NotImage(data)),
    };
    Ok(Owned::Image(CleanImage { bytes, media_type }))
}

pub(crate) fn check_size(width: u64, height: u64) -> Result<(), ImageError> {
    if width == 0 || height == 0 || width.saturating_mul(height) > MAX_PIXELS {
        Err(ImageError::TooLarge)
    } else {
        Ok(())
    }
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
    Ok(Vec::from(webp.encoder().bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachments::jpeg::exif_orientation;
    use img_parts::jpeg::{markers, Jpeg};
    use img_parts::png::{Png, PngChunk};

    fn strip_metadata(data: &[u8]) -> Result<Option<Vec<u8>>, ImageError> {
        Ok(clean_image(data)?.map(|image| image.bytes))
    }

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
    fn png_ancillary_chunks_of_wrong_size_are_dropped() {
        let mut png = Png::from_bytes(Bytes::from_static(
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\0IEND\xaeB`\x82",
        ))
        .unwrap();
        let gama = PngChunk::new(*b"gAMA", Bytes::from_static(b"\0\0\xb1\x8fGAMA-SECRET"));
        let phys = PngChunk::new(
            *b"pHYs",
            Bytes::from_static(b"\0\0\x0b\x13\0\0\x0b\x13\x01"),
        );
        png.chunks_mut().insert(1, gama);
        png.chunks_mut().insert(1, phys);
        let input = png.encoder().bytes().to_vec();
        let out = strip_metadata(&input).unwrap().unwrap();
        assert!(contains(&input, b"GAMA-SECRET"));
        assert!(!contains(&out, b"GAMA-SECRET"));
        assert!(!contains(&out, b"gAMA"));
        assert!(contains(&out, b"pHYs"), "a well-sized pHYs is kept");
    }

    #[test]
    fn jpeg_app0_and_app14_keep_only_fixed_fields() {
        let input = jpeg_with_metadata();
        // Insert after SOI: a JFIF APP0 with a thumbnail and trailing bytes,
        // an Adobe APP14 with trailing bytes, and a JPG extension segment.
        let mut extra = Vec::new();
        let mut segment = |marker: u8, body: &[u8]| {
            extra.extend_from_slice(&[0xFF, marker]);
            extra.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            extra.extend_from_slice(body);
        };
        segment(
            markers::APP0,
            b"JFIF\0\x01\x02\x01\0\x48\0\x48\x01\x01THUMB-SECRET",
        );
        segment(markers::APP14, b"Adobe\0\x64\0\0\0\0\x02ADOBE-SECRET");
        segment(0xF1, b"JPGN-SECRET");
        let mut data = input[..2].to_vec();
        data.extend_from_slice(&extra);
        data.extend_from_slice(&input[2..]);
        let out = strip_metadata(&data).unwrap().unwrap();
        for secret in [&b"THUMB-SECRET"[..], b"ADOBE-SECRET", b"JPGN-SECRET"] {
            assert!(contains(&data, secret));
            assert!(!contains(&out, secret), "{secret:?} survived");
        }
        let jfif = [
            0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 2, 1, 0, 0x48, 0, 0x48, 0, 0,
        ];
        assert!(contains(&out, &jfif), "JFIF rebuilt without thumbnail");
        let adobe = [
            0xFF, 0xEE, 0, 14, b'A', b'd', b'o', b'b', b'e', 0, 0x64, 0, 0, 0, 0, 2,
        ];
        assert!(contains(&out, &adobe), "Adobe transform kept");
        Jpeg::from_bytes(Bytes::from(out)).expect("output still parses");
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
    fn cleaning_in_place_gives_the_same_bytes() {
        let mut oriented = jpeg_with_metadata();
        let exif = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0";
        let at = oriented.windows(4).position(|w| w == b"Exif").unwrap() - 4;
        let old_len = u16::from_be_bytes([oriented[at + 2], oriented[at + 3]]) as usize;
        let mut segment = vec![0xFF, markers::APP1];
        segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        segment.extend_from_slice(exif);
        oriented.splice(at..at + 2 + old_len, segment);
        for input in [jpeg_with_metadata(), oriented] {
            let copied = crate::attachments::jpeg::clean(&input).unwrap();
            let in_place = crate::attachments::jpeg::clean_in_place(input.clone()).unwrap();
            assert_eq!(in_place, copied);
        }
        let mut png = Png::from_bytes(Bytes::from_static(
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\0IEND\xaeB`\x82",
        ))
        .unwrap();
        png.chunks_mut().insert(
            1,
            PngChunk::new(*b"tEXt", Bytes::from_static(b"Author\0PNG-SECRET")),
        );
        let input = png.encoder().bytes().to_vec();
        let copied = crate::attachments::png::clean(&input).unwrap();
        assert!(!contains(&copied, b"PNG-SECRET"));
        assert_eq!(
            crate::attachments::png::clean_in_place(input).unwrap(),
            copied
        );
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
