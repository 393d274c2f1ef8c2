//! The few facts the platform reads from the host's procfs about its stubs,
//! through a directory FD opened while `/proc` is still reachable.
//!
//! The text comes from the host kernel, but it is parsed strictly anyway:
//! anything missing or malformed is an error, never a guess or a panic.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{HostTid, PlatformError};

/// `/proc/<tid>/status` is about 1.5 KiB; anything far larger is not it.
const STATUS_MAX: usize = 64 * 1024;

/// Opens the host's `/proc` as a directory FD.
pub fn open_proc() -> Result<OwnedFd, PlatformError> {
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = unsafe {
        libc::open(
            c"/proc".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(PlatformError::os("open /proc"));
    }
    // SAFETY: open returned a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads `/proc/<tid>/status`. A thread that no longer exists is `Gone`.
pub fn read_status(proc: &OwnedFd, tid: HostTid) -> Result<String, PlatformError> {
    read(proc, tid, "status", STATUS_MAX)
}

/// The stub's `/proc/<tid>/maps`, for the sandbox's own `/proc/PID/maps`.
pub fn read_maps(proc: &OwnedFd, tid: HostTid) -> Result<String, PlatformError> {
    read(proc, tid, "maps", 4 << 20)
}

/// Opens the pid namespace of `tid` (`/proc/<tid>/ns/pid`), for a new stub
/// to join. The namespace file is a magic link: it must be followed.
pub fn open_pid_ns(proc: &OwnedFd, tid: HostTid) -> Result<OwnedFd, PlatformError> {
    open_at(proc, tid, "ns/pid", libc::O_RDONLY | libc::O_CLOEXEC)
}

/// Opens `/proc/<tid>/<file>` with `flags`. A thread that no longer exists
/// is `Gone`.
fn open_at(proc: &OwnedFd, tid: HostTid, file: &str, flags: i32) -> Result<OwnedFd, PlatformError> {
    if tid.0 <= 0 {
        return Err(PlatformError::Gone(tid));
    }
    let path = std::ffi::CString::new(format!("{}/{file}", tid.0))
        .map_err(|_| PlatformError::Gone(tid))?;
    // SAFETY: a NUL-terminated relative path under a directory FD we own.
    let fd = unsafe { libc::openat(proc.as_raw_fd(), path.as_ptr(), flags) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => PlatformError::Gone(tid),
            _ => PlatformError::Os {
                what: "open a /proc/<tid> file",
                source: e,
            },
        });
    }
    // SAFETY: openat returned a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn read(proc: &OwnedFd, tid: HostTid, file: &str, max: usize) -> Result<String, PlatformError> {
    let fd = open_at(
        proc,
        tid,
        file,
        libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
    )?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            if buf.len() >= max {
                return Err(PlatformError::Procfs {
                    tid,
                    reason: "procfs file too large",
                });
            }
            buf.resize(buf.len() * 2, 0);
        }
        // SAFETY: reads into the unfilled tail of a live buffer.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[len..].as_mut_ptr().cast(),
                buf.len() - len,
            )
        };
        match n {
            0 => break,
            n if n > 0 => len += n as usize,
            _ => {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // The thread died between open and read.
                    Some(libc::ESRCH) => return Err(PlatformError::Gone(tid)),
                    _ => {
                        return Err(PlatformError::Os {
                            what: "read /proc/<tid>/status",
                            source: e,
                        })
                    }
                }
            }
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| PlatformError::Procfs {
        tid,
        reason: "status is not UTF-8",
    })
}

/// The fields of the single line of `status` named `key` (without colon).
fn fields<'a>(status: &'a str, key: &str) -> Option<std::str::SplitWhitespace<'a>> {
    let mut found = None;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            if found.is_some() {
                return None; // a repeated key is not a status file
            }
            found = Some(rest.split_whitespace());
        }
    }
    found
}

/// A decimal without sign, leading `+` or junk, that fits an `i32`.
fn strict_i32(s: &str) -> Option<i32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The thread's id in the innermost pid namespace it belongs to: the last
/// field of `NSpid:`. The line must list at least two namespaces (the
/// procfs mount's and the stub tree's own) and only positive ids.
pub fn ns_tid(status: &str, tid: HostTid) -> Result<i32, PlatformError> {
    let bad = |reason| PlatformError::Procfs { tid, reason };
    let ids = fields(status, "NSpid").ok_or(bad("no single NSpid line"))?;
    let mut n = 0;
    let mut last = 0;
    for f in ids {
        last = strict_i32(f)
            .filter(|v| *v > 0)
            .ok_or(bad("malformed NSpid"))?;
        n += 1;
    }
    if n < 2 {
        return Err(bad("not in a nested pid namespace"));
    }
    Ok(last)
}

/// A signal mask line of the status file (`SigCgt`, `SigPnd`, ...).
fn mask(status: &str, key: &'static str, tid: HostTid) -> Result<u64, PlatformError> {
    let bad = |reason| PlatformError::Procfs { tid, reason };
    let mut f = fields(status, key).ok_or(bad("missing or repeated signal mask line"))?;
    let hex = f.next().ok_or(bad("empty signal mask"))?;
    if f.next().is_some() || hex.is_empty() || hex.len() > 16 {
        return Err(bad("malformed signal mask"));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("malformed signal mask"));
    }
    u64::from_str_radix(hex, 16).map_err(|_| bad("malformed signal mask"))
}

/// The signals the process has handlers for (`SigCgt:`, bit `n - 1` for
/// signal `n`).
pub fn caught(status: &str, tid: HostTid) -> Result<u64, PlatformError> {
    mask(status, "SigCgt", tid)
}

/// Whether the process has a handler installed for `sig` (`SigCgt:`).
pub fn catches(status: &str, sig: i32, tid: HostTid) -> Result<bool, PlatformError> {
    let m = mask(status, "SigCgt", tid)?;
    Ok((1..=64).contains(&sig) && m & (1u64 << (sig - 1)) != 0)
}

/// Whether a signal is pending for the thread and not blocked by it
/// (`SigPnd`/`ShdPnd` against `SigBlk`): it would be delivered as soon as
/// the thread returned to user mode.
pub fn signal_deliverable(status: &str, tid: HostTid) -> Result<bool, PlatformError> {
    let pending = mask(status, "SigPnd", tid)? | mask(status, "ShdPnd", tid)?;
    Ok(pending & !mask(status, "SigBlk", tid)? != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: HostTid = HostTid(4242);

    #[test]
    fn ns_tid_takes_the_innermost_id() {
        let s = "Name:\tx\nTgid:\t4242\nPid:\t4242\nNSpid:\t4242\t7\nSigCgt:\t0000000000004002\n";
        assert_eq!(ns_tid(s, T).unwrap(), 7);
        let s = "NSpid:\t9\t4242\t3\n";
        assert_eq!(ns_tid(s, T).unwrap(), 3);
    }

    #[test]
    fn ns_tid_rejects_missing_or_malformed() {
        for s in [
            "",
            "Pid:\t4242\n",
            "NSpid:\t4242\n",
            "NSpid:\n",
            "NSpid:\t4242\t-1\n",
            "NSpid:\t4242\t0\n",
            "NSpid:\t4242\t+7\n",
            "NSpid:\t4242\t7x\n",
            "NSpid:\t4242\t99999999999\n",
            "NSpid:\t4242\t7\nNSpid:\t4242\t8\n",
            "NSpidX:\t4242\t7\n",
        ] {
            assert!(ns_tid(s, T).is_err(), "{s:?}");
        }
    }

    #[test]
    fn caught_signals_come_from_sigcgt() {
        let s = "SigCgt:\t0000000000004002\n";
        assert!(catches(s, 2, T).unwrap());
        assert!(catches(s, 15, T).unwrap());
        assert!(!catches(s, 11, T).unwrap());
        assert!(!catches(s, 0, T).unwrap());
        assert!(!catches(s, 65, T).unwrap());
        for bad in [
            "",
            "SigCgt:\n",
            "SigCgt:\tzz\n",
            "SigCgt:\t00000000000000001\n",
        ] {
            assert!(catches(bad, 2, T).is_err(), "{bad:?}");
        }
    }
}
