//! Typed, bounds-checked access to a stub's memory from the sentry.
//!
//! All copies go through `process_vm_readv`/`process_vm_writev`, which honour
//! the stub's page protections and fail instead of faulting the sentry. An
//! address range that is not (fully) mapped yields [`MemoryError::Fault`],
//! which the kernel turns into `EFAULT` for the application.

use std::io;

use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::notify::Listener;
use super::sys::TASK_SIZE_4LEVEL;
use super::HostTid;

/// Why a copy to or from a stub failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// Some byte of the range is not mapped with the needed access: the
    /// application passed a bad pointer (`EFAULT`).
    #[error("bad address {addr:#x} (+{len})")]
    Fault { addr: u64, len: usize },
    /// The thread is gone, or the notification it was blocked in is no longer
    /// pending, so the address space it named can no longer be trusted.
    #[error("stub thread {} is gone", .0.0)]
    Gone(HostTid),
    /// A string did not end within its allowed length (`ENAMETOOLONG`-like).
    #[error("string at {addr:#x} is longer than {max} bytes")]
    TooLong { addr: u64, max: usize },
    #[error("stub memory access failed: {0}")]
    Io(#[source] io::Error),
}

/// The memory of one stub thread (its whole address space).
///
/// When obtained from a trapped system call it is tied to that notification:
/// every read is checked with `SECCOMP_IOCTL_NOTIF_ID_VALID` afterwards, and
/// every write before, so a thread id that was recycled after its thread died
/// never gets data from or into the wrong process.
pub struct Memory<'a> {
    tid: HostTid,
    guard: Option<(&'a Listener, u64)>,
}

impl<'a> Memory<'a> {
    /// Memory of a thread the caller knows is alive and cannot be recycled
    /// meanwhile (it is stopped under ptrace, or pending in a notification
    /// that the caller validates itself).
    pub fn of_thread(tid: HostTid) -> Memory<'static> {
        Memory { tid, guard: None }
    }

    pub(crate) fn of_notification(tid: HostTid, listener: &'a Listener, id: u64) -> Self {
        Memory {
            tid,
            guard: Some((listener, id)),
        }
    }

    /// The thread whose address space this is.
    pub fn tid(&self) -> HostTid {
        self.tid
    }

    fn still_valid(&self) -> Result<(), MemoryError> {
        match self.guard {
            Some((listener, id)) if !listener.id_valid(id) => Err(MemoryError::Gone(self.tid)),
            _ => Ok(()),
        }
    }

    fn check_range(addr: u64, len: usize) -> Result<(), MemoryError> {
        let end = addr.checked_add(len as u64);
        match end {
            Some(end) if end <= TASK_SIZE_4LEVEL << 9 => Ok(()),
            _ => Err(MemoryError::Fault { addr, len }),
        }
    }

    /// Fills `buf` from `addr`; all or nothing.
    pub fn read_bytes(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        Self::check_range(addr, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let n = self.transfer(addr, buf.as_mut_ptr(), buf.len(), false)?;
        self.still_valid()?;
        if n != buf.len() {
            return Err(MemoryError::Fault {
                addr,
                len: buf.len(),
            });
        }
        Ok(())
    }

    /// Copies `data` to `addr`; a fault part-way leaves a prefix written, as
    /// a host `copy_to_user` would.
    pub fn write_bytes(&self, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        Self::check_range(addr, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.still_valid()?;
        let n = self.transfer(addr, data.as_ptr() as *mut u8, data.len(), true)?;
        if n != data.len() {
            return Err(MemoryError::Fault {
                addr,
                len: data.len(),
            });
        }
        Ok(())
    }

    /// Reads a `T` (any plain-data type) at `addr`.
    pub fn read<T: FromBytes + IntoBytes>(&self, addr: u64) -> Result<T, MemoryError> {
        let mut v = T::new_zeroed();
        self.read_bytes(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Writes a `T` (any plain-data type) at `addr`.
    pub fn write<T: IntoBytes + Immutable>(&self, addr: u64, value: &T) -> Result<(), MemoryError> {
        self.write_bytes(addr, value.as_bytes())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    /// Reads page by page, so a string that ends just before an unmapped page
    /// is still read.
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, MemoryError> {
        const PAGE: u64 = 4096;
        let mut out = Vec::new();
        let mut cur = addr;
        loop {
            let room = max + 1 - out.len();
            let to_page_end = (PAGE - cur % PAGE) as usize;
            let chunk = room.min(to_page_end);
            Self::check_range(cur, chunk)?;
            let start = out.len();
            out.resize(start + chunk, 0);
            let n = self.transfer(cur, out[start..].as_mut_ptr(), chunk, false)?;
            if n != chunk {
                return Err(MemoryError::Fault {
                    addr: cur,
                    len: chunk,
                });
            }
            if let Some(nul) = out[start..].iter().position(|&b| b == 0) {
                out.truncate(start + nul);
                self.still_valid()?;
                return Ok(out);
            }
            if out.len() > max {
                return Err(MemoryError::TooLong { addr, max });
            }
            cur += chunk as u64;
        }
    }

    /// One `process_vm_{read,write}v`; returns how many bytes moved. A fault
    /// on the first byte is reported as zero bytes moved.
    fn transfer(
        &self,
        addr: u64,
        local: *mut u8,
        len: usize,
        write: bool,
    ) -> Result<usize, MemoryError> {
        let local_iov = libc::iovec {
            iov_base: local.cast(),
            iov_len: len,
        };
        let remote_iov = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        let mut done = 0usize;
        while done < len {
            let l = libc::iovec {
                iov_base: local_iov.iov_base.wrapping_byte_add(done),
                iov_len: len - done,
            };
            let r = libc::iovec {
                iov_base: remote_iov.iov_base.wrapping_byte_add(done),
                iov_len: len - done,
            };
            // SAFETY: `l` describes `len - done` bytes of a live buffer owned
            // by the caller (readable for writes, writable for reads); the
            // kernel validates the remote range itself.
            let n = unsafe {
                if write {
                    libc::process_vm_writev(self.tid.0, &l, 1, &r, 1, 0)
                } else {
                    libc::process_vm_readv(self.tid.0, &l, 1, &r, 1, 0)
                }
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EFAULT) => Ok(done),
                    Some(libc::ESRCH) => Err(MemoryError::Gone(self.tid)),
                    _ => Err(MemoryError::Io(e)),
                };
            }
            if n == 0 {
                break;
            }
            done += n as usize;
        }
        Ok(done)
    }
}
