//! Locking as the whole sentry does it.
#![deny(unsafe_code)]

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data even if a thread panicked while holding it: a
/// panic in one system call must not wedge the sandbox, and every update
/// under the sentry's locks leaves the data consistent (single assignments
/// or whole-value replacements).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
