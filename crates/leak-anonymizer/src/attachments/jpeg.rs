//! JPEG metadata removal, read straight from the submitted bytes.
//!
//! A marker-segment walker (ITU T.81 annex B) written by hand instead of
//! `img-parts` because `img-parts` needs its own copy of the file and then
//! encodes another one: on a 20 MB photo those two copies would push the
//! daemon's peak memory past three times the attachment's size. Reading the
//! borrowed slice and writing one output keeps it to one copy. The walk is
//! the one a decoder does: segments with a 16-bit length up to the first
//! start-of-scan, then entropy-coded data in which `FF 00`, fill bytes and
//! restart markers belong to the scan and any other marker starts a segment
//! (tables and further scans of progressive images, kept; APP and comment
//! segments, dropped), up to the end-of-image marker; the rest is dropped.
//!
//! Kept before the scan: JFIF (APP0) rebuilt as its fixed 14-byte form
//! without thumbnail, the Adobe colour transform (APP14) cut to its fixed
//! 12 bytes (the transform flag matters for CMYK/YCCK), and every non-APP
//! segment. Bytes after those fixed fields could carry anything, so they
//! never leave. Dropped: EXIF and XMP (APP1), ICC profiles (APP2), IPTC
//! (APP13), MPF and other APP segments, the JPGn extensions 0xF0-0xFD,
//! comments. The EXIF
//! Orientation, when not 1, is written back alone as a one-tag EXIF block.

use super::image::{check_size, ImageError};
use super::pieces::Pieces;

const SOS: u8 = 0xDA;
const EOI: u8 = 0xD9;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;

fn is_metadata(marker: u8) -> bool {
    (APP0..=0xEF).contains(&marker) || (0xF0..=0xFD).contains(&marker) || marker == COM
}

/// Length of the fixed JFIF APP0 fields: identifier, version, units,
/// densities and a zero-sized thumbnail.
const JFIF_LEN: usize = 14;
/// Length of the fixed Adobe APP14 fields: identifier, version, two flag
/// words and the colour transform.
const ADOBE_LEN: usize = 12;

/// The APP0 or APP14 segment rebuilt from its fixed fields only, or `None`
/// when it is not JFIF/Adobe or too short to hold them.
fn rebuilt_app(marker: u8, contents: &[u8]) -> Option<Vec<u8>> {
    let fixed = match marker {
        APP0 if contents.starts_with(b"JFIF\0") => {
            let mut fixed = contents.get(..JFIF_LEN)?.to_vec();
            fixed[12] = 0; // thumbnail width
            fixed[13] = 0; // thumbnail height
            fixed
        }
        APP14 if contents.starts_with(b"Adobe") => contents.get(..ADOBE_LEN)?.to_vec(),
        _ => return None,
    };
    let mut segment = vec![0xFF, marker];
    segment.extend_from_slice(&((fixed.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&fixed);
    Some(segment)
}

fn is_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
}

/// The cleaned JPEG, or an error when the file is malformed (no frame
/// before the scan, truncated segments) or larger than the pixel limit.
pub(crate) fn clean(data: &[u8]) -> Result<Vec<u8>, ImageError> {
    Ok(plan(data)?.copy(data))
}

/// [`clean`] written over the file's own buffer when it fits there (it
/// does unless a rebuilt segment is longer than what it replaces).
pub(crate) fn clean_in_place(data: Vec<u8>) -> Result<Vec<u8>, ImageError> {
    let pieces = plan(&data)?;
    Ok(pieces.in_place(data))
}

/// What the cleaned JPEG keeps of `data`, and the segments it rebuilds.
fn plan(data: &[u8]) -> Result<Pieces, ImageError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(ImageError::Broken);
    }
    let mut out = Pieces::default();
    out.keep(0..2);
    let mut exif_at = out.mark();
    let mut orientation = None;
    let mut size = None;
    let mut i = 2;
    loop {
        if data.get(i) != Some(&0xFF) {
            return Err(ImageError::Broken);
        }
        while data.get(i + 1) == Some(&0xFF) {
            i += 1; // fill bytes before a marker
        }
        let marker = *data.get(i + 1).ok_or(ImageError::Broken)?;
        if matches!(marker, 0x00 | 0x01 | 0xD0..=0xD9) {
            return Err(ImageError::Broken); // no standalone marker belongs here
        }
        let len = data
            .get(i + 2..i + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .filter(|&len| len >= 2)
            .ok_or(ImageError::Broken)?;
        let segment = data.get(i..i + 2 + len).ok_or(ImageError::Broken)?;
        let segment_range = i..i + 2 + len;
        let contents = &segment[4..];
        if is_frame(marker) && size.is_none() {
            let field = |at: usize| {
                contents
                    .get(at..at + 2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
            };
            let (height, width) = (field(1), field(3));
            size = Some((
                u64::from(width.ok_or(ImageError::Broken)?),
                u64::from(height.ok_or(ImageError::Broken)?),
            ));
        }
        if marker == APP1 && orientation.is_none() {
            orientation = exif_orientation(contents);
        }
        if matches!(marker, APP0 | APP14) {
            if let Some(rebuilt) = rebuilt_app(marker, contents) {
                out.add(rebuilt);
                if marker == APP0 {
                    exif_at = out.mark();
                }
            }
        } else if !is_metadata(marker) {
            out.keep(segment_range);
        }
        i += 2 + len;
        if marker == SOS {
            break;
        }
    }
    let (width, height) = size.ok_or(ImageError::Broken)?;
    check_size(width, height)?;
    if let Some(orientation) = orientation.filter(|o| (2..=8).contains(o)) {
        out.insert(exif_at, orientation_segment(orientation));
    }
    keep_scans(data, i, &mut out);
    Ok(out)
}

/// Keeps the entropy-coded data from `data[from..]` and the segments
/// between scans, without APP or comment segments, up to and including the
/// end-of-image marker.
fn keep_scans(data: &[u8], from: usize, out: &mut Pieces) {
    let mut i = from;
    while i < data.len() {
        let start = i;
        // Runs of scan bytes up to the next marker are kept at once.
        while i < data.len() && !(data[i] == 0xFF && is_segment_marker(data.get(i + 1))) {
            i += 1;
        }
        out.keep(start..i);
        if i >= data.len() {
            return;
        }
        let marker = data[i + 1];
        if marker == EOI {
            out.keep(i..i + 2);
            return;
        }
        let len = data
            .get(i + 2..i + 4)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        let end = (i + 2 + len).min(data.len());
        if !is_metadata(marker) {
            out.keep(i..end);
        }
        i = end.max(i + 2);
    }
}

/// A marker that is not part of the scan: anything but a stuffed zero, a
/// fill byte or a restart marker.
fn is_segment_marker(next: Option<&u8>) -> bool {
    matches!(next, Some(&m) if !matches!(m, 0x00 | 0xFF | 0xD0..=0xD7))
}

/// The Orientation tag (0x0112) of IFD0 in an APP1 `Exif` segment.
pub(crate) fn exif_orientation(app1: &[u8]) -> Option<u16> {
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
        let entry = ifd.checked_add(2 + i * 12)?;
        (u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3).then(|| u16_at(entry + 8))?
    })
}

/// A whole APP1 segment whose EXIF holds one tag: the orientation.
fn orientation_segment(orientation: u16) -> Vec<u8> {
    let mut body = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    body.extend_from_slice(&orientation.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut segment = vec![0xFF, APP1];
    segment.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&body);
    segment
}
