//! Filestores: where tmpfs keeps file data. The `memory` filestore gives each
//! file its own memfd, so a file-backed `mmap` can map the memfd natively.
//! A `host directory` store (a file per tmpfs file in a directory) and the
//! `self` store (extents of one hidden file in the container's rootfs,
//! created through the gofer, with freed ranges punched out) implement the
//! same two traits.

use crate::errno::SysResult;
use rustix::fs::{FallocateFlags, MemfdFlags};
use std::os::fd::OwnedFd;

/// A place to keep the data of tmpfs regular files.
pub trait Filestore: Send + Sync {
    /// The name `--overlay2` uses for it (`memory`, `self`, a directory).
    fn kind(&self) -> &'static str;
    /// Storage for one new file, empty. Called lazily, the first time a file
    /// gets data, so empty files cost nothing.
    fn allocate(&self) -> SysResult<Box<dyn StoreFile>>;
}

/// The data of one file. Reads past the length return nothing; holes read
/// as zeros. Released when dropped.
pub trait StoreFile: Send + Sync {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize>;
    fn write_at(&self, off: u64, buf: &[u8]) -> SysResult<usize>;
    fn set_len(&self, len: u64) -> SysResult<()>;
    /// `fallocate(2)` modes: allocate, keep size, punch hole, zero range.
    fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()>;
    /// 512-byte blocks actually used, for `st_blocks`.
    fn blocks(&self) -> SysResult<u64>;
    /// An FD to `mmap` the data from, if this store has one per file.
    fn host_fd(&self) -> SysResult<Option<OwnedFd>>;
}

/// Every file in its own memfd.
#[derive(Debug, Default)]
pub struct MemoryFilestore;

impl Filestore for MemoryFilestore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn allocate(&self) -> SysResult<Box<dyn StoreFile>> {
        let fd = rustix::fs::memfd_create("vigil-tmpfs", MemfdFlags::CLOEXEC)?;
        Ok(Box::new(MemFile { fd }))
    }
}

struct MemFile {
    fd: OwnedFd,
}

impl StoreFile for MemFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let mut done = 0;
        // pread may be short for large buffers; loop until EOF.
        while done < buf.len() {
            let n = rustix::io::pread(&self.fd, &mut buf[done..], off + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> SysResult<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = rustix::io::pwrite(&self.fd, &buf[done..], off + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn set_len(&self, len: u64) -> SysResult<()> {
        Ok(rustix::fs::ftruncate(&self.fd, len)?)
    }

    fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        Ok(rustix::fs::fallocate(
            &self.fd,
            FallocateFlags::from_bits_retain(mode),
            off,
            len,
        )?)
    }

    fn blocks(&self) -> SysResult<u64> {
        Ok(rustix::fs::fstat(&self.fd)?.st_blocks as u64)
    }

    fn host_fd(&self) -> SysResult<Option<OwnedFd>> {
        Ok(Some(rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?))
    }
}
