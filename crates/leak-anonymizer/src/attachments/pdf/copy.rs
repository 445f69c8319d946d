//! Copying the objects a page needs into the new document, through
//! allow-lists.
//!
//! [`Copier`] follows references from the kept page attributes and
//! resources, gives every object it reaches a new number and copies it with
//! only the keys in [`KEPT_KEYS`] (the keys that fonts, font descriptors,
//! images, form XObjects, graphics states, patterns, shadings, functions,
//! colour spaces and CMaps need to draw). Everything else — `/Metadata`,
//! `/PieceInfo`, `/LastModified`, `/OC`, `/StructParent(s)`, `/Name`,
//! `/OPI`, `/Lang`, `/URI`, private application data — is simply never
//! copied. Resource dictionaries ([`Ctx::Resources`]) keep only the
//! resource categories, and the name maps under them ([`Ctx::NameMap`])
//! keep their names (content streams refer to them).
//!
//! Streams: JPEG images go through the JPEG cleaner; form XObjects and
//! tiling patterns have their content rewritten (`content.rs`); JPEG 2000
//! images are refused (their boxes can hold XML metadata); other streams
//! (fonts, image pixels, functions, CMaps) keep their bytes, after their
//! decompressed size is counted against [`MAX_DECOMPRESSED_BYTES`].
//! Type3 fonts are refused: their glyphs are content streams whose text
//! cannot be read.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use super::{content, PdfError, MAX_DECOMPRESSED_BYTES, MAX_OBJECTS, MAX_STREAM_BYTES};
use crate::attachments::image::MAX_PIXELS;
use crate::attachments::jpeg;

/// Keys kept in any dictionary reached from a page's resources.
#[rustfmt::skip]
const KEPT_KEYS: &[&[u8]] = &[
    // Fonts, encodings, CID fonts.
    b"Type", b"Subtype", b"BaseFont", b"FirstChar", b"LastChar", b"Widths",
    b"FontDescriptor", b"Encoding", b"ToUnicode", b"DescendantFonts",
    b"CIDSystemInfo", b"Registry", b"Ordering", b"Supplement", b"DW", b"W",
    b"DW2", b"W2", b"CIDToGIDMap", b"FontBBox", b"FontMatrix", b"BaseEncoding",
    b"Differences", b"CMapName", b"UseCMap", b"WMode",
    // Font descriptors and font programs.
    b"FontName", b"FontFamily", b"FontStretch", b"FontWeight", b"Flags",
    b"ItalicAngle", b"Ascent", b"Descent", b"Leading", b"CapHeight", b"XHeight",
    b"StemV", b"StemH", b"AvgWidth", b"MaxWidth", b"MissingWidth", b"FontFile",
    b"FontFile2", b"FontFile3", b"CharSet", b"Style", b"Panose", b"FD", b"CIDSet",
    b"Length1", b"Length2", b"Length3",
    // Images and their filters.
    b"Width", b"Height", b"ColorSpace", b"BitsPerComponent", b"ImageMask",
    b"Mask", b"SMask", b"Decode", b"Interpolate", b"Intent", b"Filter",
    b"DecodeParms", b"SMaskInData", b"Matte", b"Predictor", b"Colors",
    b"Columns", b"EarlyChange", b"K", b"EncodedByteAlign", b"Rows",
    b"EndOfLine", b"EndOfBlock", b"BlackIs1", b"DamagedRowsBeforeError",
    b"ColorTransform", b"JBIG2Globals",
    // Form XObjects and transparency groups.
    b"BBox", b"Matrix", b"Resources", b"Group", b"FormType", b"S", b"CS", b"I",
    // Graphics states, soft masks, halftones.
    b"LW", b"LC", b"LJ", b"ML", b"D", b"RI", b"OP", b"op", b"OPM", b"Font",
    b"BG", b"BG2", b"UCR", b"UCR2", b"TR", b"TR2", b"HT", b"FL", b"SM", b"SA",
    b"BM", b"CA", b"ca", b"AIS", b"TK", b"G", b"BC", b"HalftoneType",
    b"Frequency", b"Angle", b"SpotFunction", b"Xsquare", b"Ysquare", b"Width2",
    b"Height2", b"TransferFunction", b"AccurateScreens",
    // Patterns, shadings, functions.
    b"PatternType", b"PaintType", b"TilingType", b"XStep", b"YStep", b"Shading",
    b"ExtGState", b"ShadingType", b"Background", b"AntiAlias", b"Domain",
    b"Coords", b"Extend", b"BitsPerCoordinate", b"BitsPerFlag",
    b"VerticesPerRow", b"Function", b"FunctionType", b"Range", b"Size",
    b"BitsPerSample", b"Order", b"Encode", b"C0", b"C1", b"N", b"Functions",
    b"Bounds", b"Alternate",
];

/// The categories kept in a resource dictionary. `/Properties` (marked
/// content property lists) goes with the marked content itself.
#[rustfmt::skip]
const RESOURCE_KEYS: &[&[u8]] = &[
    b"Font", b"XObject", b"ExtGState", b"ColorSpace", b"Pattern", b"Shading", b"ProcSet",
];

/// Filters whose output leak can measure (and lopdf can decode).
#[rustfmt::skip]
const DECODABLE_FILTERS: &[&[u8]] = &[
    b"FlateDecode", b"Fl", b"LZWDecode", b"LZW", b"ASCIIHexDecode", b"AHx",
    b"ASCII85Decode", b"A85", b"RunLengthDecode", b"RL",
];

/// How a dictionary is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// Keys from [`KEPT_KEYS`] only.
    General,
    /// A `/Resources` dictionary: [`RESOURCE_KEYS`] only.
    Resources,
    /// A resource category: its keys are names content streams use.
    NameMap,
}

/// The object copier; `dst` is the document being built.
pub(super) struct Copier {
    /// The parsed submission; objects are moved out of it as they are
    /// copied, so the two documents together hold one copy of the data.
    src: Document,
    pub(super) dst: Document,
    /// Source object → new object.
    map: HashMap<ObjectId, ObjectId>,
    /// Objects numbered but not copied yet.
    queue: Vec<(ObjectId, ObjectId, Ctx)>,
    /// Decompressed bytes still allowed ([`MAX_DECOMPRESSED_BYTES`]).
    budget: usize,
}

impl Copier {
    pub(super) fn new(src: Document) -> Self {
        Copier {
            src,
            dst: Document::new(),
            map: HashMap::new(),
            queue: Vec::new(),
            budget: MAX_DECOMPRESSED_BYTES,
        }
    }

    /// Counts `bytes` of decompressed data against the document's budget.
    pub(super) fn spend(&mut self, bytes: usize) -> Result<(), PdfError> {
        self.budget = self.budget.checked_sub(bytes).ok_or(PdfError::TooLarge)?;
        Ok(())
    }

    /// The source document, for the page attributes.
    pub(super) fn src(&self) -> &Document {
        &self.src
    }

    /// Copies every object reached so far, and those they reach, then
    /// frees the source and returns the new document.
    pub(super) fn finish(mut self) -> Result<Document, PdfError> {
        while let Some((old, new, ctx)) = self.queue.pop() {
            let object = match self.src.objects.remove(&old) {
                Some(object) => self.value(object, ctx)?,
                None => Object::Null,
            };
            self.dst.objects.insert(new, object);
        }
        Ok(self.dst)
    }

    /// The copy of `object`: references renumbered (the target is queued),
    /// dictionaries and streams through the allow-lists.
    pub(super) fn value(&mut self, object: Object, ctx: Ctx) -> Result<Object, PdfError> {
        Ok(match object {
            Object::Reference(id) => Object::Reference(self.reference(id, ctx)?),
            Object::Array(items) => {
                if let Some(device) = self.icc_replacement(&items)? {
                    return Ok(device);
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.value(item, Ctx::General)?);
                }
                Object::Array(out)
            }
            Object::Dictionary(dict) => Object::Dictionary(self.dict(dict, ctx)?),
            Object::Stream(stream) => Object::Stream(self.stream(stream)?),
            other => other,
        })
    }

    fn reference(&mut self, old: ObjectId, ctx: Ctx) -> Result<ObjectId, PdfError> {
        if let Some(&new) = self.map.get(&old) {
            return Ok(new);
        }
        if self.map.len() >= MAX_OBJECTS {
            return Err(PdfError::TooLarge);
        }
        let new = self.dst.new_object_id();
        self.map.insert(old, new);
        self.queue.push((old, new, ctx));
        Ok(new)
    }

    fn dict(&mut self, dict: Dictionary, ctx: Ctx) -> Result<Dictionary, PdfError> {
        if dict.has_type(b"Font") && is_name(dict.get(b"Subtype").ok(), b"Type3") {
            return Err(PdfError::UnreadableText);
        }
        let mut out = Dictionary::new();
        for (key, value) in dict.into_iter() {
            let (kept, child) = match ctx {
                Ctx::General => {
                    let child = if key == b"Resources" {
                        Ctx::Resources
                    } else {
                        Ctx::General
                    };
                    (KEPT_KEYS.contains(&key.as_slice()), child)
                }
                Ctx::Resources => (RESOURCE_KEYS.contains(&key.as_slice()), Ctx::NameMap),
                Ctx::NameMap => (true, Ctx::General),
            };
            if kept && key != b"Length" {
                let value = self.value(value, child)?;
                out.set(key, value);
            }
        }
        Ok(out)
    }

    /// A stream: its dictionary through the allow-list, its content
    /// cleaned (JPEG), rewritten (forms, tiling patterns) or measured.
    fn stream(&mut self, stream: Stream) -> Result<Stream, PdfError> {
        let mut dict = self.dict(stream.dict.clone(), Ctx::General)?;
        let filters: Vec<Vec<u8>> = stream
            .filters()
            .unwrap_or_default()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let has = |name: &[u8]| filters.iter().any(|f| f == name);
        if is_name(stream.dict.get(b"Subtype").ok(), b"Image") {
            check_pixels(&stream.dict)?;
        }
        if has(b"JPXDecode") {
            return Err(PdfError::Unsupported);
        }
        if has(b"DCTDecode") || has(b"DCT") {
            if filters.len() != 1 {
                return Err(PdfError::Unsupported);
            }
            self.spend(stream.content.len())?;
            let cleaned = jpeg::clean(&stream.content).map_err(|_| PdfError::Broken)?;
            return Ok(Stream::new(dict, cleaned).with_compression(false));
        }
        let is_form = is_name(stream.dict.get(b"Subtype").ok(), b"Form");
        let is_tiling = matches!(stream.dict.get(b"PatternType"), Ok(Object::Integer(1)));
        if is_form || is_tiling {
            let raw = stream.decompressed_content_with_limit(MAX_STREAM_BYTES.min(self.budget))?;
            self.spend(raw.len())?;
            dict.remove(b"Filter");
            dict.remove(b"DecodeParms");
            return Ok(Stream::new(dict, content::clean(&raw)?));
        }
        let decodable = filters
            .iter()
            .all(|f| DECODABLE_FILTERS.contains(&f.as_slice()));
        let limit = MAX_STREAM_BYTES.min(self.budget);
        let measured = if filters.len() == 1 && (has(b"FlateDecode") || has(b"Fl")) {
            inflated_size(&stream.content, limit)?
        } else if decodable && !filters.is_empty() {
            stream.decompressed_content_with_limit(limit)?.len()
        } else {
            stream.content.len()
        };
        self.spend(measured)?;
        Ok(Stream::new(dict, stream.content).with_compression(false))
    }

    /// `[/ICCBased stream]` becomes the device colour space with the same
    /// number of components: the profile can name its device and owner.
    fn icc_replacement(&self, items: &[Object]) -> Result<Option<Object>, PdfError> {
        if !is_name(items.first(), b"ICCBased") {
            return Ok(None);
        }
        let profile = match items.get(1) {
            Some(Object::Reference(id)) => self.src.get_object(*id)?,
            Some(other) => other,
            None => return Err(PdfError::Broken),
        };
        let components = profile
            .as_stream()
            .ok()
            .and_then(|s| s.dict.get(b"N").ok())
            .and_then(|n| n.as_i64().ok());
        let device = match components {
            Some(1) => "DeviceGray",
            Some(3) => "DeviceRGB",
            Some(4) => "DeviceCMYK",
            _ => return Err(PdfError::Broken),
        };
        Ok(Some(Object::Name(device.as_bytes().to_vec())))
    }
}

/// The inflated size of a zlib stream, read through without keeping it (a
/// scanned page's image would otherwise be held once more, whole), or
/// [`PdfError::TooLarge`] past `limit` bytes.
pub(super) fn inflated_size(data: &[u8], limit: usize) -> Result<usize, PdfError> {
    /// Counts what is written to it.
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let decoder = flate2::read::ZlibDecoder::new(data);
    let mut bounded = std::io::Read::take(decoder, limit as u64 + 1);
    let mut counter = Counter(0);
    // A damaged stream counts what could be inflated before the damage:
    // viewers show as much.
    let _ = std::io::copy(&mut bounded, &mut counter);
    if counter.0 > limit {
        return Err(PdfError::TooLarge);
    }
    Ok(counter.0)
}

fn is_name(object: Option<&Object>, name: &[u8]) -> bool {
    matches!(object, Some(Object::Name(n)) if n == name)
}

/// Refuses images over the pixel limit the image cleaners use.
fn check_pixels(dict: &Dictionary) -> Result<(), PdfError> {
    let side = |key: &[u8]| dict.get(key).and_then(Object::as_i64).unwrap_or(0);
    let (width, height) = (side(b"Width"), side(b"Height"));
    if width <= 0 || height <= 0 {
        return Err(PdfError::Broken);
    }
    if (width as u64).saturating_mul(height as u64) > MAX_PIXELS {
        return Err(PdfError::TooLarge);
    }
    Ok(())
}
