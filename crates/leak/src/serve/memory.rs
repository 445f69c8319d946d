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

/// Environment variable with which an operator overrides the choice.
const OPERATOR_OVERRIDE: &str = "MALLOC_ARENA_MAX";

/// Arenas the daemon allows itself.
const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas, unless the operator set `MALLOC_ARENA_MAX`.
/// Called at the start of `leak serve`, before any other thread exists.
pub fn limit_malloc_arenas() {
    if std::env::var_os(OPERATOR_OVERRIDE).is_some() {
        return;
    }
    set_arena_max(ARENAS);
}

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
