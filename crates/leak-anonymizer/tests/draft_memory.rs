//! `Draft::write` frees the moderation text before it writes the message:
//! with a large text attachment, that text is as large as the attachment,
//! and holding it during the write cost the daemon one more copy of it at
//! its peak (a 25 MB CSV: 3.8x the attachment instead of 2.85x;
//! docs/performance.md, "Other formats, and text attachments").
//!
//! This test binary counts the heap's live bytes with its own allocator
//! (a `realloc` counts only its change in size, as `mremap` does for
//! resident memory) and checks the peak reached while writing. A global
//! allocator is `unsafe` by definition: the workspace denies unsafe code,
//! and this test binary, alone, allows it for that forwarding wrapper.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;

mod common;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded to `System` with the same arguments;
// the counters are only read, never used to allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A 4 MB CSV attachment, base64-encoded, after a short body.
fn message_with_a_large_csv() -> (Vec<u8>, usize) {
    let csv: String = (0..60_000)
        .map(|n| {
            format!(
                "2026-11-{:02},Réunion,Bâtiment {n},relevé conforme\r\n",
                n % 28 + 1
            )
        })
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(csv.as_bytes());
    let data = format!(
        "From: a@b.example\r\nTo: c@d.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         the export\r\n--b\r\nContent-Type: text/csv; charset=utf-8\r\n\
         Content-Disposition: attachment; filename=export.csv\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    );
    (data.into_bytes(), csv.len())
}

#[test]
fn the_moderation_text_is_freed_before_the_message_is_written() {
    let (data, text_len) = message_with_a_large_csv();
    let sender = leak_anonymizer::Sender {
        mail_from: "a@b.example",
        account: "a",
        aliases: &[],
        notify: None,
    };
    let draft = leak_anonymizer::draft_owned(data, &sender, &common::options()).expect("draft");
    assert!(
        draft.text.len() > text_len,
        "the CSV is in the moderation text"
    );

    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let message = draft.write().expect("written");
    let peak_growth = PEAK.load(Ordering::SeqCst) - before;

    // The write allocates the output and a little scratch, and frees each
    // part's text as it is encoded; with the moderation text freed first,
    // the peak stays well below the output's size (measured: 1.2 MB for a
    // 4.4 MB output). Held during the write, the text would put the peak
    // at the output's size (measured: 4.4 MB).
    assert!(
        peak_growth + text_len / 2 <= message.len(),
        "peak grew by {peak_growth} bytes while writing {} (text {text_len})",
        message.len()
    );
}
