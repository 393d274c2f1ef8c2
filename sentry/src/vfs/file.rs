//! Open file descriptions: what an FD refers to, shared by `dup`'d FDs and
//! across `fork`. The description owns the file offset, the status flags
//! (`O_APPEND`, `O_NONBLOCK`) and the access mode; the filesystem's
//! [`FileOps`] does I/O at explicit offsets.

use super::attr::{Dirent, FileType, Stat};
use super::inode::{FileOps, WritePos};
use super::mount::VfsPath;
use crate::errno::SysResult;
use crate::return_errno;
use crate::sync::lock;
use std::os::fd::OwnedFd;
use std::sync::Mutex;

/// Flags `fcntl(F_SETFL)` may change.
const SETTABLE_FLAGS: u32 =
    (libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME) as u32;

/// `getdents64` offsets of the entries the VFS emits itself.
const DOT_OFF: u64 = 0;
const DOTDOT_OFF: u64 = 1;
/// Where a filesystem's own entries start.
pub const FIRST_FS_OFF: u64 = 2;

pub struct FileDescription {
    path: VfsPath,
    ops: Box<dyn FileOps>,
    /// `open(2)` flags: access mode and status flags.
    flags: Mutex<u32>,
    /// The offset; its lock also serializes read/write/seek on this
    /// description, as Linux's `f_pos_lock` does.
    offset: Mutex<u64>,
}

impl std::fmt::Debug for FileDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDescription")
            .field("dentry", &self.path.dentry)
            .field("flags", &self.flags())
            .finish()
    }
}

impl FileDescription {
    pub(super) fn new(path: VfsPath, ops: Box<dyn FileOps>, flags: u32) -> FileDescription {
        // Creation-only flags are not part of the description.
        let kept =
            flags & !((libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY) as u32);
        FileDescription {
            path,
            ops,
            flags: Mutex::new(kept),
            offset: Mutex::new(0),
        }
    }

    /// Where this description was opened: for `fstat`, `fchmod`,
    /// `/proc/self/fd` links and `*at` calls relative to a directory FD.
    pub fn path(&self) -> &VfsPath {
        &self.path
    }

    pub fn ops(&self) -> &dyn FileOps {
        &*self.ops
    }

    pub fn flags(&self) -> u32 {
        *lock(&self.flags)
    }

    /// `fcntl(F_SETFL)`: only the status flags change.
    pub fn set_status_flags(&self, flags: u32) {
        let mut f = lock(&self.flags);
        *f = (*f & !SETTABLE_FLAGS) | (flags & SETTABLE_FLAGS);
    }

    fn is_path_only(&self) -> bool {
        self.flags() & libc::O_PATH as u32 != 0
    }

    pub fn readable(&self) -> bool {
        let acc = self.flags() & libc::O_ACCMODE as u32;
        !self.is_path_only() && (acc == libc::O_RDONLY as u32 || acc == libc::O_RDWR as u32)
    }

    pub fn writable(&self) -> bool {
        let acc = self.flags() & libc::O_ACCMODE as u32;
        !self.is_path_only() && (acc == libc::O_WRONLY as u32 || acc == libc::O_RDWR as u32)
    }

    fn check_read(&self) -> SysResult<()> {
        if !self.readable() {
            return_errno!(EBADF, "not open for reading");
        }
        if self.path.dentry.is_dir() {
            return_errno!(EISDIR);
        }
        Ok(())
    }

    fn check_write(&self) -> SysResult<()> {
        if !self.writable() {
            return_errno!(EBADF, "not open for writing");
        }
        Ok(())
    }

    pub fn stat(&self) -> SysResult<Stat> {
        super::stat_of(&self.path)
    }

    /// `read(2)`: at the description's offset, which advances.
    pub fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        self.check_read()?;
        let mut off = lock(&self.offset);
        let n = self.ops.read_at(*off, buf)?;
        *off += n as u64;
        Ok(n)
    }

    /// `pread(2)`: the offset is neither used nor changed.
    pub fn pread(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.check_read()?;
        if off > i64::MAX as u64 {
            return_errno!(EINVAL);
        }
        self.ops.read_at(off, buf)
    }

    fn write_pos(&self, off: u64) -> WritePos {
        if self.flags() & libc::O_APPEND as u32 != 0 {
            WritePos::End
        } else {
            WritePos::At(off)
        }
    }

    /// `write(2)`: at the offset, or at the end with `O_APPEND`; the offset
    /// ends up just past the data either way.
    pub fn write(&self, buf: &[u8]) -> SysResult<usize> {
        self.check_write()?;
        let mut off = lock(&self.offset);
        let (n, end) = self.ops.write_at(self.write_pos(*off), buf)?;
        *off = end;
        Ok(n)
    }

    /// `pwrite(2)`. As on Linux, `O_APPEND` wins over the given offset.
    pub fn pwrite(&self, buf: &[u8], off: u64) -> SysResult<usize> {
        self.check_write()?;
        if off > i64::MAX as u64 {
            return_errno!(EINVAL);
        }
        Ok(self.ops.write_at(self.write_pos(off), buf)?.0)
    }

    /// `lseek(2)` with `SEEK_SET`, `SEEK_CUR` or `SEEK_END`. A directory's
    /// offset is a `getdents64` cookie, so only `SEEK_SET` to a cookie
    /// (or `SEEK_CUR` by 0) makes sense there.
    pub fn seek(&self, off: i64, whence: i32) -> SysResult<u64> {
        if self.is_path_only() {
            return_errno!(EBADF);
        }
        let kind = self.path.dentry.kind();
        if matches!(kind, FileType::Fifo | FileType::Socket) {
            return_errno!(ESPIPE);
        }
        let mut cur = lock(&self.offset);
        let base: i64 = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => *cur as i64,
            libc::SEEK_END if kind == FileType::Directory => return_errno!(EINVAL),
            libc::SEEK_END => self.stat()?.size as i64,
            _ => return_errno!(EINVAL),
        };
        let new = base.checked_add(off).ok_or(crate::errno!(EOVERFLOW))?;
        if new < 0 {
            return_errno!(EINVAL);
        }
        *cur = new as u64;
        Ok(*cur)
    }

    pub fn offset(&self) -> u64 {
        *lock(&self.offset)
    }

    /// The offset if no operation on this description is under way, for
    /// `/proc/PID/fdinfo`, which may be read by an operation on this very
    /// description (a `getdents` of `/proc/self/fd`); never waits.
    pub fn offset_if_idle(&self) -> Option<u64> {
        match self.offset.try_lock() {
            Ok(off) => Some(*off),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(*p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Reads directory entries from the offset for `getdents64`, at most
    /// `max_bytes` of them in `linux_dirent64` form; the offset advances
    /// past the returned entries. `.` and `..` come first, from the VFS.
    pub fn getdents(&self, max_bytes: usize) -> SysResult<Vec<Dirent>> {
        if self.is_path_only() {
            return_errno!(EBADF);
        }
        if !self.path.dentry.is_dir() {
            return_errno!(ENOTDIR);
        }
        let mut off = lock(&self.offset);
        let mut out = Vec::new();
        let mut used = 0usize;
        let mut full = false;
        let mut fits = |d: &Dirent, out: &mut Vec<Dirent>| {
            let size = dirent64_size(d.name.len());
            if used + size > max_bytes {
                full = true;
                return false;
            }
            used += size;
            out.push(d.clone());
            true
        };
        if *off == DOT_OFF {
            let ino = self.path.dentry.inode().stat()?.ino;
            let d = Dirent {
                name: b".".to_vec(),
                ino,
                kind: libc::DT_DIR,
                next_off: DOTDOT_OFF,
            };
            if !fits(&d, &mut out) {
                return finish(out, full);
            }
            *off = DOTDOT_OFF;
        }
        if *off == DOTDOT_OFF {
            let parent = self.path.dentry.parent();
            let ino = match parent {
                Some(p) => p.inode().stat()?.ino,
                None => self.path.dentry.inode().stat()?.ino,
            };
            let d = Dirent {
                name: b"..".to_vec(),
                ino,
                kind: libc::DT_DIR,
                next_off: FIRST_FS_OFF,
            };
            if !fits(&d, &mut out) {
                return finish(out, full);
            }
            *off = FIRST_FS_OFF;
        }
        let mut next = *off;
        let res = self.ops.readdir(*off, &mut |d| {
            if !fits(&d, &mut out) {
                return false;
            }
            next = d.next_off;
            true
        });
        *off = next;
        match res {
            // Entries already gathered are returned; the error will recur.
            Err(e) if out.is_empty() => Err(e),
            _ => finish(out, full),
        }
    }

    pub fn fsync(&self) -> SysResult<()> {
        if self.is_path_only() {
            return_errno!(EBADF);
        }
        self.ops.fsync()
    }

    pub fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        self.check_write()?;
        if len == 0 || off.checked_add(len).is_none_or(|e| e > i64::MAX as u64) {
            return_errno!(EINVAL);
        }
        if self.path.dentry.is_dir() {
            return_errno!(EISDIR);
        }
        if self.path.mount.readonly() {
            return_errno!(EROFS);
        }
        self.ops.fallocate(mode, off, len)
    }

    /// A host FD for a file-backed `mmap` of this file, if it has one.
    pub fn host_fd(&self) -> SysResult<Option<OwnedFd>> {
        if self.is_path_only() {
            return_errno!(EBADF);
        }
        self.ops.host_fd()
    }
}

/// An empty result because not even one entry fitted is `EINVAL`, as
/// `getdents64` reports a too-small buffer; an empty one at the end is fine.
fn finish(out: Vec<Dirent>, full: bool) -> SysResult<Vec<Dirent>> {
    if out.is_empty() && full {
        return_errno!(EINVAL, "buffer too small for a directory entry");
    }
    Ok(out)
}

/// Size of a `struct linux_dirent64` with a name of `len` bytes, padded to 8.
pub fn dirent64_size(len: usize) -> usize {
    (8 + 8 + 2 + 1 + len + 1).next_multiple_of(8)
}
