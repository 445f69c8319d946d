//! GIF metadata removal by a hand-written block walker.
//!
//! Written by hand because no maintained crate rewrites a GIF's blocks
//! without decoding and re-encoding its frames (which would change pixels
//! and palettes, and cost memory proportional to the frame count), and the
//! format is small: a header, an optional global palette, then a sequence
//! of blocks until the trailer (GIF89a specification, sections 17–27).
//!
//! Kept: the header and logical screen, palettes, image descriptors with
//! their LZW data, graphic control extensions (frame delays and
//! transparency) and the `NETSCAPE2.0` / `ANIMEXTS1.0` loop extension
//! (three bytes: how many times an animation repeats), both rebuilt from
//! their fixed sub-block so extra sub-blocks never leave. Dropped: comment
//! extensions, plain-text extensions, every other application extension
//! (XMP, ICC profiles, editors' private data) and anything after the
//! trailer. A truncated or malformed file is an error, never passed.

use super::image::ImageError;

const TRAILER: u8 = 0x3B;
const IMAGE: u8 = 0x2C;
const EXTENSION: u8 = 0x21;
const GRAPHIC_CONTROL: u8 = 0xF9;
const APPLICATION: u8 = 0xFF;

/// `data` without comments, application data or trailing bytes; refused
/// when malformed or when the canvas or a frame exceeds `max_pixels`.
pub(crate) fn clean(data: &[u8], max_pixels: u64) -> Result<Vec<u8>, ImageError> {
    let mut reader = Reader { data, at: 0 };
    let header = reader.take(13)?;
    if !(header.starts_with(b"GIF87a") || header.starts_with(b"GIF89a")) {
        return Err(ImageError::Broken);
    }
    let width = u64::from(u16::from_le_bytes([header[6], header[7]]));
    let height = u64::from(u16::from_le_bytes([header[8], header[9]]));
    check(width, height, max_pixels)?;
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(header);
    if header[10] & 0x80 != 0 {
        out.extend_from_slice(reader.take(palette_len(header[10]))?);
    }
    loop {
        match reader.byte()? {
            TRAILER => {
                out.push(TRAILER);
                return Ok(out);
            }
            IMAGE => {
                let descriptor = reader.take(9)?;
                let w = u64::from(u16::from_le_bytes([descriptor[4], descriptor[5]]));
                let h = u64::from(u16::from_le_bytes([descriptor[6], descriptor[7]]));
                check(w, h, max_pixels)?;
                out.push(IMAGE);
                out.extend_from_slice(descriptor);
                if descriptor[8] & 0x80 != 0 {
                    out.extend_from_slice(reader.take(palette_len(descriptor[8]))?);
                }
                out.push(reader.byte()?); // LZW minimum code size
                let start = reader.at;
                reader.skip_sub_blocks()?;
                out.extend_from_slice(&data[start..reader.at]);
            }
            EXTENSION => {
                let label = reader.byte()?;
                let start = reader.at;
                let first = reader.sub_block()?;
                let second = if first.is_empty() {
                    first // already at the terminator
                } else {
                    reader.sub_block()?
                };
                let keep = match label {
                    GRAPHIC_CONTROL => first.len() == 4,
                    APPLICATION => {
                        matches!(first, b"NETSCAPE2.0" | b"ANIMEXTS1.0")
                            && matches!(second, [1, _, _])
                    }
                    _ => false,
                };
                reader.at = start;
                reader.skip_sub_blocks()?;
                if keep {
                    // Rebuilt from the fixed sub-blocks only: any further
                    // sub-block could carry arbitrary bytes.
                    out.extend_from_slice(&[EXTENSION, label, first.len() as u8]);
                    out.extend_from_slice(first);
                    if label == APPLICATION {
                        out.push(3);
                        out.extend_from_slice(second);
                    }
                    out.push(0);
                }
            }
            _ => return Err(ImageError::Broken),
        }
    }
}

fn check(width: u64, height: u64, max_pixels: u64) -> Result<(), ImageError> {
    if width.saturating_mul(height) > max_pixels {
        Err(ImageError::TooLarge)
    } else {
        Ok(())
    }
}

/// Bytes of a colour table from its packed flags byte.
fn palette_len(flags: u8) -> usize {
    3 * (1 << ((flags & 0x07) + 1))
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], ImageError> {
        let end = self.at.checked_add(len).ok_or(ImageError::Broken)?;
        let slice = self.data.get(self.at..end).ok_or(ImageError::Broken)?;
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, ImageError> {
        Ok(self.take(1)?[0])
    }

    /// One data sub-block (length byte then bytes); empty at a terminator.
    fn sub_block(&mut self) -> Result<&'a [u8], ImageError> {
        let len = self.byte()? as usize;
        self.take(len)
    }

    /// Skips sub-blocks up to and including the zero-length terminator.
    fn skip_sub_blocks(&mut self) -> Result<(), ImageError> {
        while !self.sub_block()?.is_empty() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gif() -> Vec<u8> {
        let mut out = b"GIF89a\x01\0\x01\0\x80\0\0".to_vec();
        out.extend_from_slice(&[0, 0, 0, 255, 255, 255]); // palette
        out.extend_from_slice(b"\x21\xfe\x0eCOMMENT-SECRET\0");
        out.extend_from_slice(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0");
        out.extend_from_slice(b"\x21\xff\x0bXMP DataXMP\x0aXMP-SECRET\0");
        out.extend_from_slice(b"\x21\xf9\x04\x01\0\0\0\0");
        out.extend_from_slice(b"\x2c\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0");
        out.extend_from_slice(b"\x3bTRAILER-SECRET");
        out
    }

    #[test]
    fn comments_and_application_data_go() {
        let input = gif();
        let out = clean(&input, 100).unwrap();
        let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        for secret in [&b"COMMENT-SECRET"[..], b"XMP-SECRET", b"TRAILER-SECRET"] {
            assert!(has(&input, secret) && !has(&out, secret));
        }
        assert!(has(&out, b"NETSCAPE2.0") && has(&out, b"\x02\x02\x44\x01\0"));
        assert_eq!(out.last(), Some(&TRAILER));
    }

    #[test]
    fn extensions_keep_only_their_fixed_sub_blocks() {
        let mut input = b"GIF89a\x01\0\x01\0\x80\0\0".to_vec();
        input.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        input.extend_from_slice(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\x0bLOOP-SECRET\0");
        input.extend_from_slice(b"\x21\xf9\x04\x01\0\0\0\x0aGCE1SECRET\0");
        input.extend_from_slice(b"\x21\xf9\x0aGCE2SECRET\0");
        input.extend_from_slice(b"\x2c\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0\x3b");
        let out = clean(&input, 100).unwrap();
        let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        for secret in [&b"LOOP-SECRET"[..], b"GCE1SECRET", b"GCE2SECRET"] {
            assert!(has(&input, secret) && !has(&out, secret), "{secret:?}");
        }
        assert!(has(
            &out,
            b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0\x21\xf9\x04\x01\0\0\0\0\x2c"
        ));
    }

    #[test]
    fn empty_extensions_are_dropped() {
        let empty = b"GIF89a\x01\0\x01\0\0\0\0\x21\xfe\0\x3b";
        assert_eq!(clean(empty, 100).unwrap(), b"GIF89a\x01\0\x01\0\0\0\0\x3b");
    }

    #[test]
    fn truncated_and_huge_files_are_refused() {
        let input = gif();
        assert_eq!(clean(&input[..40], 100), Err(ImageError::Broken));
        let mut huge = input.clone();
        huge[6..10].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(clean(&huge, 100_000_000), Err(ImageError::TooLarge));
    }
}
