//! Append-only segment files holding message bodies, under `<data_dir>/segments/`.
//!
//! Only the writer thread appends, always to the newest segment, and never to a
//! segment written by an earlier run: a torn record at the tail of an old
//! segment (crash mid-write) is never referenced and never in the way. A segment
//! is deleted once no envelope references it, which bounds disk use and makes
//! deleted bodies really go away.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::record::{self, BodyRef};
use crate::stats::Stats;

/// File name of segment `number`.
pub(crate) fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016x}.seg"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Every segment file in `dir` and its length.
pub(crate) fn list_segments(dir: &Path) -> io::Result<BTreeMap<u64, u64>> {
    let mut found = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(number) = entry.file_name().to_str().and_then(parse_segment_name) else {
            continue;
        };
        found.insert(number, entry.metadata()?.len());
    }
    Ok(found)
}

/// Reads the raw record `at` points to.
pub(crate) fn read_record(dir: &Path, at: &BodyRef) -> io::Result<Vec<u8>> {
    let file = File::open(segment_path(dir, at.segment))?;
    let len = usize::try_from(at.len).map_err(|_| io::Error::other("record too large"))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, at.offset)?;
    Ok(buf)
}

/// The segment being appended to.
struct Active {
    number: u64,
    file: File,
    /// Where the next record goes (bytes written so far).
    len: u64,
    /// Written since its last fdatasync.
    dirty: bool,
}

/// The writer's view of the segments: the active one and how many live
/// envelopes reference each.
pub(crate) struct Segments {
    dir: PathBuf,
    /// A segment is closed once it grows past this.
    roll_size: u64,
    /// The number the next new segment gets; never reused within a run.
    next_number: u64,
    current: Option<Active>,
    /// Live envelopes per segment.
    refs: HashMap<u64, u64>,
    /// Segments whose count may have dropped to zero since the last cleanup.
    candidates: HashSet<u64>,
    /// A failed fdatasync since the last [`Segments::sync`]: that call must
    /// fail too, as the appends it covers may not be durable.
    failed_sync: Option<io::Error>,
    stats: Arc<Stats>,
}

impl Segments {
    /// Takes over `dir` given the reference counts rebuilt from the envelopes,
    /// deleting every segment nothing references.
    pub(crate) fn open(
        dir: PathBuf,
        roll_size: u64,
        refs: HashMap<u64, u64>,
        existing: &BTreeMap<u64, u64>,
        stats: Arc<Stats>,
    ) -> io::Result<Segments> {
        let highest = existing
            .keys()
            .chain(refs.keys())
            .copied()
            .max()
            .unwrap_or(0);
        let mut segments = Segments {
            dir,
            roll_size,
            next_number: highest + 1,
            current: None,
            refs,
            candidates: existing.keys().copied().collect(),
            failed_sync: None,
            stats,
        };
        segments.delete_unreferenced();
        Ok(segments)
    }

    /// Appends one body record to the active segment (rolling first if it is
    /// full) and returns where it went. Not durable until [`Segments::sync`].
    pub(crate) fn append(&mut self, id: &str, body: &[u8]) -> io::Result<BodyRef> {
        let (header, crc) = record::body_header(id, body);
        let len = (header.len() + body.len()) as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|a| a.len > 0 && a.len + len > self.roll_size)
        {
            self.close_current();
        }
        if self.current.is_none() {
            self.current = Some(self.create()?);
        }
        let active = self.current.as_mut().expect("just ensured");
        let offset = active.len;
        active.dirty = true;
        let written = active
            .file
            .write_all_at(&header, offset)
            .and_then(|()| active.file.write_all_at(body, offset + header.len() as u64));
        if let Err(e) = written {
            // The file's tail is unknown now: never append to it again.
            self.close_current();
            return Err(e);
        }
        active.len += len;
        Ok(BodyRef {
            segment: active.number,
            offset,
            len,
            crc,
        })
    }

    /// Makes every append since the last call durable (one fdatasync, if
    /// anything was written), or fails if any of them may not be.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if let Some(active) = self.current.as_mut().filter(|a| a.dirty) {
            active.dirty = false;
            match active.file.sync_data() {
                Ok(()) => self.stats.count_segment_sync(),
                // The file's state is unknown now: never append to it again.
                Err(e) => {
                    self.failed_sync = Some(e);
                    self.close_current();
                }
            }
        }
        match self.failed_sync.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A live envelope now references `segment`.
    pub(crate) fn add_ref(&mut self, segment: u64) {
        *self.refs.entry(segment).or_insert(0) += 1;
    }

    /// An envelope referencing `segment` is gone.
    pub(crate) fn release(&mut self, segment: u64) {
        if let Some(count) = self.refs.get_mut(&segment) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.refs.remove(&segment);
                self.candidates.insert(segment);
            }
        }
    }

    /// Deletes every segment no envelope references. Only call once the
    /// removals that released them are durable.
    pub(crate) fn delete_unreferenced(&mut self) {
        for number in std::mem::take(&mut self.candidates) {
            if self.refs.contains_key(&number) {
                continue;
            }
            if self.current.as_ref().is_some_and(|a| a.number == number) {
                self.current = None;
            }
            match fs::remove_file(segment_path(&self.dir, number)) {
                Ok(()) => {
                    self.stats.count_segment_deleted();
                    tracing::debug!(segment = number, "deleted unreferenced segment");
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(segment = number, "cannot delete segment: {e}");
                    self.candidates.insert(number);
                }
            }
        }
    }

    /// Stops appending to the active segment, syncing it first; a failed
    /// sync is remembered for the next [`Segments::sync`].
    fn close_current(&mut self) {
        let Some(active) = self.current.take() else {
            return;
        };
        if active.dirty {
            match active.file.sync_data() {
                Ok(()) => self.stats.count_segment_sync(),
                Err(e) => self.failed_sync = Some(e),
            }
        }
        if !self.refs.contains_key(&active.number) {
            self.candidates.insert(active.number);
        }
    }

    /// Creates the next segment file and makes its directory entry durable.
    fn create(&mut self) -> io::Result<Active> {
        let number = self.next_number;
        self.next_number += 1;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(crate::private::FILE_MODE)
            .open(segment_path(&self.dir, number))?;
        File::open(&self.dir)?.sync_all()?;
        self.stats.count_segment_created();
        // Until an envelope references it, it is a deletion candidate.
        self.candidates.insert(number);
        Ok(Active {
            number,
            file,
            len: 0,
            dirty: false,
        })
    }
}
