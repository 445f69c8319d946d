//! Process-wide settings made once at start, before any thread exists, and
//! the effective uid: the places where the binary calls libc directly.

/// Makes a write to a closed pipe end the process quietly, as for any Unix
/// filter. Rust ignores SIGPIPE, so `leak queue list | head -1` would get
/// EPIPE from `println!`, which panics (exit 101). Not for `leak serve`: the
/// daemon must see EPIPE on a dropped socket as an error, not die of it.
#[allow(unsafe_code)]
pub fn default_sigpipe() {
    // SAFETY: signal() with SIG_DFL installs no handler code; called before
    // any other thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Sets the umask to 0o077, so that whatever the daemon or a library it
/// uses (sled) creates is private to the service user even when leak is
/// started by hand or from a container with umask 022. The store also sets
/// explicit modes where it creates files; this is the belt to those braces.
#[allow(unsafe_code)]
pub fn private_umask() {
    // SAFETY: umask only changes the process's file mode creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// The user this process acts as (to compare with a file's owner).
#[allow(unsafe_code)]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() }
}
