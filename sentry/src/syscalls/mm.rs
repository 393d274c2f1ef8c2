//! File-backed `mmap`: the one place a host FD enters a stub. Anonymous
//! mappings never get here (they are native); for a file, the sentry puts
//! the file's host FD at the application's descriptor number in the stub's
//! own FD table and lets the call run natively, so page-cache sharing and
//! `MAP_SHARED` coherence come from the host.

use crate::errno::{Errno, SysResult};
use crate::kernel::task::Task;
use crate::platform::SyscallTrap;
use crate::return_errno;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// Checks the mapping against the descriptor's access mode and returns the
/// host FD to map.
fn backing_fd(task: &Task, args: &[u64; 6]) -> SysResult<OwnedFd> {
    let (prot, flags, fd) = (args[2] as i32, args[3] as i32, args[4] as i32);
    let file = task.files.get(fd)?;
    if !file.readable() {
        return_errno!(EACCES);
    }
    let shared = flags & libc::MAP_TYPE == libc::MAP_SHARED
        || flags & libc::MAP_TYPE == libc::MAP_SHARED_VALIDATE;
    if shared && prot & libc::PROT_WRITE != 0 && !file.writable() {
        return_errno!(EACCES);
    }
    match file.host_fd()? {
        Some(host) => Ok(host),
        // The file has no host representation (a device, a pipe).
        None => return_errno!(ENODEV),
    }
}

/// Serves a trapped file-backed `mmap`; returns what `--strace` shows.
pub fn mmap(task: &Arc<Task>, trap: SyscallTrap) -> Result<&'static str, Errno> {
    let args = trap.args;
    let fd = args[4] as i32;
    let host = match backing_fd(task, &args) {
        Ok(h) => h,
        Err(e) => {
            let _ = trap.reply_errno(e.errno.as_raw());
            return Err(e.errno);
        }
    };
    let reply = trap.into_reply();
    if reply.add_fd(host.as_fd(), Some(fd), true).is_err() {
        // The thread is gone, or its fd table is full: the call fails.
        let _ = reply.errno(libc::ENOMEM);
        return Err(Errno::ENOMEM);
    }
    // The host now maps the file natively, with the caller's arguments.
    let _ = reply.continue_mmap();
    Ok("mapped natively")
}
