//! Allocator tuning for the daemon.
//!
//! glibc gives each thread that meets contention its own malloc arena, up to
//! eight per core. leak's work is short-lived buffers handed between threads
//! (a message body read on an async worker, rebuilt on a blocking thread,
//! written by the store's writer thread), so with many arenas the freed
//! memory ends up scattered over all of them and stays mapped. Two arenas
//! keep it reusable: with 100,000 deferred messages the daemon's RSS went
//! from 193 MB to 144 MB, with no measurable cost in throughput
//! (docs/performance.md).
//!
//! glibc also raises its mmap threshold on the fly each time a large block is
//! freed, after which the 19 MiB that every argon2id verification allocates
//! comes from the heap and stays there: an AUTH flood left gigabytes mapped
//! after it ended. A fixed threshold (which turns the dynamic one off) makes
//! every block of 1 MiB or more its own mapping, handed back to the kernel
//! on free, and a trim threshold returns freed heap tops promptly. Measured
//! with 200 parallel wrong-password AUTH (two verifications at a time): peak
//! RSS 488 MB and 431 MB kept after the flood with glibc's defaults, 57 MB
//! and 38 MB with these thresholds (docs/operations.md).

/// Environment variable with which an operator overrides the choice.
const OPERATOR_OVERRIDE: &str = "MALLOC_ARENA_MAX";

/// Arenas the daemon allows itself.
const ARENAS: i32 = 2;

/// Environment variables with which an operator sets the thresholds instead.
const THRESHOLD_OVERRIDES: [&str; 2] = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"];

/// Blocks this large or larger are mapped on their own and unmapped on free.
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Free memory at the top of the heap beyond this is returned to the kernel.
const TRIM_THRESHOLD: i32 = 8 << 20;

/// Caps glibc's malloc arenas, unless the operator set `MALLOC_ARENA_MAX`.
/// Called at the start of `leak serve`, before any other thread exists.
pub fn limit_malloc_arenas() {
    if std::env::var_os(OPERATOR_OVERRIDE).is_some() {
        return;
    }
    set_arena_max(ARENAS);
}

/// Fixes the mmap and trim thresholds, unless the operator set either.
/// Called at the start of `leak serve`, before any other thread exists.
pub fn return_large_blocks() {
    if THRESHOLD_OVERRIDES
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        return;
    }
    set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds(mmap: i32, trim: i32) {
    // SAFETY: as in set_arena_max: plain parameters, single thread.
    let accepted = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
    };
    if !accepted {
        tracing::debug!("malloc did not accept the mmap/trim thresholds");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds(_mmap: i32, _trim: i32) {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(arenas: i32) {
    // SAFETY: mallopt only changes a malloc parameter; it takes no pointers
    // and is called while the process has a single thread.
    let accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    if accepted != 1 {
        tracing::debug!("malloc did not accept M_ARENA_MAX = {arenas}");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) {}
