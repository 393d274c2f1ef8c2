//! vigil's application kernel (the *sentry*).
//!
//! Untrusted application processes run as *stub* host processes whose system
//! calls, outside a small native allowlist, are served by this crate instead
//! of the host kernel. Its foundation is the [`platform`]: creating stubs,
//! intercepting their system calls, reading and writing their memory,
//! observing their lifecycle and installing a new program image at `execve`.
//! Everything above it (tasks, fd tables, VFS, the syscall table, the loader)
//! never names seccomp or ptrace.
//!
//! `unsafe` code belongs in [`platform`] only.

pub mod boot;
pub mod errno;
pub mod kernel;
pub mod loader;
pub mod platform;
pub mod seccomp;
pub mod sync;
pub mod syscalls;
pub mod tty;
pub mod vfs;
