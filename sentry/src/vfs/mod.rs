//! The virtual filesystem: the mount tree, path resolution, permission
//! checks and open file descriptions, over filesystems that implement the
//! traits of [`inode`] ([`tmpfs`] and [`gofer`] today).
//!
//! The VFS does everything that must not differ between filesystems: it
//! walks paths one component at a time, follows symlinks (so a symlink can
//! never escape the task's root), crosses mounts both ways, enforces
//! read-only mounts and checks discretionary permissions with the caller's
//! [`Credentials`]. Filesystems see single names and already-permitted
//! operations.
//!
//! # Lock order
//!
//! Outer to inner; a thread holding one lock only takes locks below it.
//!
//! 1. `Vfs::rename_lock`: serializes renames, so ancestry (`EINVAL` for
//!    moving a directory into itself) cannot change during one.
//! 2. `Dentry::dir_lock` of directories: exclusive to change a directory's
//!    names, shared to fill the dentry cache on a lookup. Two directories
//!    (rename) are taken ancestor first, otherwise lower dentry id first.
//! 3. Filesystem-internal locks, taken inside `Inode`/`FileOps` calls
//!    (tmpfs directory and inode data, the gofer connection); each
//!    filesystem documents its own order below this point.
//! 4. `FileDescription::offset`, taken around a `FileOps` call, so it sits
//!    with 3: no filesystem calls back into a description.
//! 5. Leaf locks, never held across a call out: `Dentry::children`,
//!    `Dentry::link`, the mount table.

#![deny(unsafe_code)]

pub mod anon;
pub mod attr;
pub mod creds;
pub mod dentry;
pub mod devfs;
pub mod file;
pub mod gofer;
pub mod inode;
pub mod mount;
mod ops;
pub mod pipe;
pub mod procfs;
mod resolve;
pub mod synthetic;
pub mod sysfs;
pub mod tmpfs;

pub use attr::{
    Dirent, FileType, NewAttrs, NewNode, RenameFlags, SetAttr, Stat, StatFs, TimeChange, Timespec,
    XattrSet,
};
pub use creds::{Access, CapSet, Capability, Credentials};
pub use dentry::Dentry;
pub use file::FileDescription;
pub use inode::{FileOps, Filesystem, Inode, WritePos};
pub use mount::{Mount, VfsPath};

use crate::errno::{Errno, SysResult};
use crate::return_errno;
use mount::MountTable;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Longest path accepted, including the terminating NUL (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Longest single component (`NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Most symlinks followed in one resolution (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

static NEXT_ANON_DEV: AtomicU32 = AtomicU32::new(1);

/// A device number for a filesystem with no device of its own (major 0,
/// as Linux gives tmpfs and network filesystems).
pub fn anon_dev() -> u64 {
    attr::makedev(0, NEXT_ANON_DEV.fetch_add(1, Ordering::Relaxed))
}

/// The filesystem context of a task: its mount namespace, its root
/// (changed by `chroot`), its working directory, umask and credentials.
/// Forks and exec keep it, so a process never leaves its namespace.
#[derive(Clone, Debug)]
pub struct FsContext {
    pub vfs: Arc<Vfs>,
    pub root: VfsPath,
    pub cwd: VfsPath,
    pub umask: u32,
    pub creds: Credentials,
}

impl FsContext {
    /// A context at the root of `vfs` with root credentials and umask 022.
    pub fn new(vfs: &Arc<Vfs>) -> FsContext {
        let root = vfs.root();
        FsContext {
            vfs: vfs.clone(),
            cwd: root.clone(),
            root,
            umask: 0o022,
            creds: Credentials::root(),
        }
    }
}

/// Where a relative path starts: the working directory, or a directory FD's
/// location (the `dirfd` of the `*at` calls).
#[derive(Clone, Copy, Debug)]
pub enum At<'a> {
    Cwd,
    Dir(&'a VfsPath),
}

/// A mount namespace: the mount tree and the operations on paths in it.
pub struct Vfs {
    root: Arc<Mount>,
    mounts: MountTable,
    rename_lock: Mutex<()>,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs")
            .field("root", &self.root.id())
            .finish_non_exhaustive()
    }
}

/// The stat of the file at `p` (the filesystem fills in its own device).
pub fn stat_of(p: &VfsPath) -> SysResult<Stat> {
    p.dentry.inode().stat()
}

impl Vfs {
    /// A namespace whose root mount is `fs`.
    pub fn new(fs: Arc<dyn Filesystem>, readonly: bool) -> SysResult<Vfs> {
        let root = Dentry::new_root(fs.root()?)?;
        if !root.is_dir() {
            return_errno!(ENOTDIR);
        }
        Ok(Vfs {
            root: Mount::new(fs, root, readonly, None),
            mounts: MountTable::default(),
            rename_lock: Mutex::new(()),
        })
    }

    /// The root of the namespace, where tasks start before any `chroot`.
    pub fn root(&self) -> VfsPath {
        VfsPath::new(self.root.clone(), self.root.root().clone())
    }

    /// Mounts `fs` on the directory at `path` (followed), or on the file
    /// there if the filesystem's root is a file (a bind mount of a file).
    /// The filesystem's root becomes visible there; what was there is
    /// hidden until unmount.
    pub fn mount(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        fs: Arc<dyn Filesystem>,
        readonly: bool,
    ) -> SysResult<Arc<Mount>> {
        let target = self.lookup(cx, at, path, true)?;
        let root = Dentry::new_root(fs.root()?)?;
        if root.is_dir() != target.dentry.is_dir() {
            if root.is_dir() {
                return_errno!(ENOTDIR);
            }
            return_errno!(EISDIR);
        }
        let m = Mount::new(fs, root, readonly, Some((target.mount, target.dentry)));
        self.mounts.insert(m.clone());
        Ok(m)
    }

    /// Bind-mounts the directory or file at `src` on `dst` (both followed),
    /// non-recursively: mounts under `src` are not carried along.
    pub fn bind_mount(
        &self,
        cx: &FsContext,
        src: (At<'_>, &[u8]),
        dst: (At<'_>, &[u8]),
        readonly: bool,
    ) -> SysResult<Arc<Mount>> {
        let source = self.lookup(cx, src.0, src.1, true)?;
        let target = self.lookup(cx, dst.0, dst.1, true)?;
        if source.dentry.is_dir() != target.dentry.is_dir() {
            let e = if source.dentry.is_dir() {
                Errno::ENOTDIR
            } else {
                Errno::EISDIR
            };
            return Err(e.into());
        }
        let m = Mount::new(
            source.mount.fs().clone(),
            source.dentry,
            readonly,
            Some((target.mount, target.dentry)),
        );
        self.mounts.insert(m.clone());
        Ok(m)
    }

    /// Unmounts the mount whose root is at `path`.
    pub fn umount(&self, cx: &FsContext, at: At<'_>, path: &[u8]) -> SysResult<()> {
        let p = self.lookup(cx, at, path, true)?;
        if !p.is_mount_root() {
            return_errno!(EINVAL, "not a mount point");
        }
        if p.mount.parent().is_none() || !self.mounts.remove(&p.mount) {
            return_errno!(EBUSY);
        }
        Ok(())
    }

    /// Changes whether the mount at `path` is read-only (`MS_REMOUNT|MS_RDONLY`).
    pub fn remount(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        readonly: bool,
    ) -> SysResult<()> {
        let p = self.lookup(cx, at, path, true)?;
        if !p.is_mount_root() {
            return_errno!(EINVAL, "not a mount point");
        }
        p.mount.set_readonly(readonly);
        Ok(())
    }

    /// Every mount of the namespace, the root first and then in the order
    /// they were made (so a mount comes after the one it sits on), for
    /// `/proc/PID/mounts` and `mountinfo`. Mounts hidden under later ones
    /// are listed too, as Linux lists them.
    pub fn mounts(&self) -> Vec<Arc<Mount>> {
        let mut all = self.mounts.all();
        all.sort_by_key(|m| m.id());
        all.insert(0, self.root.clone());
        all
    }

    /// Drops cached dentries that nothing uses, releasing what their inodes
    /// hold on the host (gofer control FDs). Returns how many were dropped.
    pub fn prune_dentries(&self) -> usize {
        let mut n = self.root.root().prune();
        for r in self.mounts.roots() {
            n += r.prune();
        }
        n
    }

    /// The mount on top of `p`, if `p` is covered: where a walk goes next.
    fn cross_down(&self, mut p: VfsPath) -> VfsPath {
        while p.dentry.has_mounts() {
            match self.mounts.covering(&p) {
                Some(m) => p = VfsPath::new(m.clone(), m.root().clone()),
                None => break,
            }
        }
        p
    }

    /// Whether something is mounted on `p` (it cannot be removed or renamed).
    fn is_busy(&self, p: &VfsPath) -> bool {
        p.is_mount_root() || (p.dentry.has_mounts() && self.mounts.covering(p).is_some())
    }

    /// The path of `p` as seen from `root`, for `getcwd` and
    /// `/proc/self/fd` links. A location outside `root` (after `chroot`)
    /// comes back prefixed `(unreachable)`, and an unlinked one suffixed
    /// ` (deleted)`, as Linux shows them.
    pub fn path_of(&self, root: &VfsPath, p: &VfsPath) -> Vec<u8> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut cur = p.clone();
        let mut reachable = true;
        loop {
            if cur.same(root) {
                break;
            }
            if cur.is_mount_root() {
                match cur.mount.parent() {
                    Some((m, d)) => {
                        cur = VfsPath::new(m.clone(), d.clone());
                        continue;
                    }
                    None => {
                        reachable = false;
                        break;
                    }
                }
            }
            match cur.dentry.parent() {
                Some(parent) => {
                    names.push(cur.dentry.name());
                    cur = VfsPath::new(cur.mount.clone(), parent);
                }
                None => {
                    // A detached dentry (its directory was removed).
                    names.push(cur.dentry.name());
                    reachable = false;
                    break;
                }
            }
        }
        let mut out = Vec::new();
        if !reachable {
            out.extend_from_slice(b"(unreachable)");
        }
        for n in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(n);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        if p.dentry.is_deleted() {
            out.extend_from_slice(b" (deleted)");
        }
        out
    }
}
