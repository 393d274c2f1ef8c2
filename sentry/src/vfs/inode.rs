//! The three traits every filesystem implements.
//!
//! - [`Filesystem`]: one mounted instance (tmpfs, a gofer connection, later
//!   directfs and the rootfs overlay): its root, `statfs`, and whether its
//!   cached names can change behind the sentry's back.
//! - [`Inode`]: one file. Directory operations take single-component names
//!   (never `/`, `.` or `..`) because the VFS resolves paths, follows
//!   symlinks, crosses mounts and checks permissions itself; an inode only
//!   does what it is told.
//! - [`FileOps`]: the filesystem half of an open file description: I/O at an
//!   explicit offset, directory reading by offset cookie, sync, allocation,
//!   and the host FD for `mmap`. The file offset, `O_APPEND` and seeking
//!   live in the VFS's [`FileDescription`](super::FileDescription), shared by
//!   `dup`'d FDs.
//!
//! The rootfs overlay is meant to be an `Inode` whose upper and lower halves
//! are themselves `Arc<dyn Inode>`s (whiteouts are `NewNode::Special` char
//! 0:0, opaque directories an xattr), and directfs a second way for the
//! gofer inode type to reach the host, so neither needs anything beyond
//! these traits.

use super::attr::{
    Dirent, FileType, NewAttrs, NewNode, RenameFlags, SetAttr, Stat, StatFs, XattrSet,
};
use crate::errno::SysResult;
use crate::return_errno;
use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::Arc;

/// A filesystem instance. Mount it once; further mounts of it are bind
/// mounts, so that one dentry tree caches it.
pub trait Filesystem: Send + Sync {
    /// The type name `/proc/mounts` shows (`tmpfs`, `9p`).
    fn fs_type(&self) -> &'static str;
    fn root(&self) -> SysResult<Arc<dyn Inode>>;
    fn statfs(&self) -> SysResult<StatFs>;
    /// Whether names may change without the sentry doing it (a gofer mount
    /// shared with the host), so cached lookups must be revalidated with
    /// [`Inode::revalidate`] on every walk.
    fn revalidates(&self) -> bool {
        false
    }
}

/// Where an `O_APPEND`-aware write goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePos {
    At(u64),
    /// At the end of file, decided atomically with the write (`O_APPEND`).
    End,
}

/// A file of some filesystem. Methods that do not apply to the file's type
/// have defaults returning the error Linux gives.
pub trait Inode: Send + Sync + Any {
    /// For implementations that need their own type back from a `dyn Inode`
    /// (rename and link between two directories of one filesystem).
    fn as_any(&self) -> &dyn Any;

    fn stat(&self) -> SysResult<Stat>;

    /// The file's type, which never changes for an inode; filesystems that
    /// know it without a round trip override this.
    fn file_type(&self) -> SysResult<FileType> {
        Ok(self.stat()?.file_type().unwrap_or(FileType::Regular))
    }

    /// Applies attribute changes the VFS has already permitted; updates ctime.
    fn setattr(&self, attr: &SetAttr) -> SysResult<()>;

    /// Finds `name` in this directory (`ENOENT` if absent).
    fn lookup(&self, _name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        return_errno!(ENOTDIR)
    }

    /// Whether `child`, cached under `name` in this directory, is still what
    /// the name refers to. Only called when [`Filesystem::revalidates`].
    fn revalidate(&self, _name: &[u8], _child: &Arc<dyn Inode>) -> SysResult<bool> {
        Ok(true)
    }

    /// Creates `name` (which the VFS found absent under the directory lock).
    fn create(
        &self,
        _name: &[u8],
        _node: &NewNode,
        _attrs: &NewAttrs,
    ) -> SysResult<Arc<dyn Inode>> {
        return_errno!(ENOTDIR)
    }

    /// Creates and opens a regular file, as `open(O_CREAT)` does; a
    /// filesystem with an atomic create-and-open (lisafs OpenCreateAt)
    /// overrides this.
    fn create_open(
        &self,
        name: &[u8],
        attrs: &NewAttrs,
        flags: u32,
    ) -> SysResult<(Arc<dyn Inode>, Box<dyn FileOps>)> {
        let inode = self.create(name, &NewNode::Regular, attrs)?;
        let file = inode.open(flags)?;
        Ok((inode, file))
    }

    /// Adds `name` as a hard link to `target` (of the same filesystem);
    /// returns the inode the new name refers to.
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        return_errno!(ENOTDIR)
    }

    /// Removes the non-directory `name`, whose inode the VFS passes as
    /// `child` (so a filesystem that caches attributes can update its nlink).
    fn unlink(&self, _name: &[u8], _child: &dyn Inode) -> SysResult<()> {
        return_errno!(ENOTDIR)
    }

    /// Removes the empty directory `name` (`ENOTEMPTY` otherwise).
    fn rmdir(&self, _name: &[u8], _child: &dyn Inode) -> SysResult<()> {
        return_errno!(ENOTDIR)
    }

    /// Renames `old_name` in this directory to `new_name` in `new_dir`, a
    /// directory of the same filesystem. The VFS has checked permissions,
    /// types, loops and `RENAME_NOREPLACE`; the filesystem checks emptiness.
    fn rename(
        &self,
        _old_name: &[u8],
        _new_dir: &dyn Inode,
        _new_name: &[u8],
        _flags: RenameFlags,
    ) -> SysResult<()> {
        return_errno!(ENOTDIR)
    }

    /// For a "magic" link (`/proc/PID/fd/N`, `/proc/PID/exe`): the file it
    /// stands for, which path resolution jumps to instead of reading the
    /// link's text.
    fn magic_target(&self) -> Option<super::mount::VfsPath> {
        None
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        return_errno!(EINVAL)
    }

    /// Opens the file for I/O. `flags` are `open(2)` flags; only the access
    /// mode matters to most filesystems (the VFS handles `O_TRUNC` with
    /// `setattr` and keeps `O_APPEND` itself).
    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>>;

    fn getxattr(&self, _name: &[u8]) -> SysResult<Vec<u8>> {
        return_errno!(EOPNOTSUPP)
    }

    fn setxattr(&self, _name: &[u8], _value: &[u8], _how: XattrSet) -> SysResult<()> {
        return_errno!(EOPNOTSUPP)
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }

    fn removexattr(&self, _name: &[u8]) -> SysResult<()> {
        return_errno!(EOPNOTSUPP)
    }
}

/// The filesystem side of an open file description.
pub trait FileOps: Send + Sync {
    /// Reads at `off` like `pread(2)`: short only at end of file.
    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> SysResult<usize> {
        return_errno!(EINVAL)
    }

    /// Writes like `pwrite(2)`; returns the bytes written and the offset
    /// just past them (which is how `O_APPEND` learns where it wrote).
    fn write_at(&self, _pos: WritePos, _buf: &[u8]) -> SysResult<(usize, u64)> {
        return_errno!(EINVAL)
    }

    /// Emits directory entries from cookie `off` (>= 2: the VFS produces `.`
    /// and `..` itself) until `emit` returns false or the directory ends.
    /// Each entry's `next_off` resumes after it, stably across changes to
    /// the directory.
    fn readdir(&self, _off: u64, _emit: &mut dyn FnMut(Dirent) -> bool) -> SysResult<()> {
        return_errno!(ENOTDIR)
    }

    fn fsync(&self) -> SysResult<()> {
        Ok(())
    }

    fn fallocate(&self, _mode: u32, _off: u64, _len: u64) -> SysResult<()> {
        return_errno!(EOPNOTSUPP)
    }

    /// A host FD whose contents are this file's, for a file-backed `mmap`
    /// to map natively; `None` if the file has no such FD.
    fn host_fd(&self) -> SysResult<Option<OwnedFd>> {
        Ok(None)
    }

    /// `poll` readiness (`POLLIN`, `POLLOUT`, ... bits). Files that never
    /// block, like regular files, are always ready.
    fn readiness(&self) -> u32 {
        (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM) as u32
    }

    /// Notified whenever the readiness may have changed, for files whose
    /// operations can fail with `EAGAIN`: a blocked call listens *before*
    /// retrying, so no wake-up is lost.
    fn event(&self) -> Option<&event_listener::Event> {
        None
    }

    /// Finishes an `open(2)` that Linux would block in (a FIFO opened for
    /// only reading or only writing, without `O_NONBLOCK`, until the other
    /// side opens): `EAGAIN` until the open may return, waiting on
    /// [`event`](FileOps::event). Other files are open at once.
    fn try_complete_open(&self) -> crate::errno::SysResult<()> {
        Ok(())
    }

    /// For layers above the VFS that need their own file type back (the
    /// terminal layer's `ioctl`s find a terminal end this way).
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// The `FileOps` of an `O_PATH` descriptor or a file with no I/O: every
/// operation fails as Linux fails it.
pub struct NoIo;

impl FileOps for NoIo {}
