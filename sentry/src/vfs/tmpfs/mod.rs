//! tmpfs: a filesystem that lives in the sentry. Names and attributes are in
//! memory; regular file data lives in a [`Filestore`]. It is the upper layer
//! of the rootfs overlay and backs `/tmp`, `/dev/shm` and friends.
//!
//! Lock order inside tmpfs (below the VFS's directory locks): a directory's
//! entries (two directories: lower inode number first), then a file's data,
//! then any inode's attributes (`Meta`). Nothing is held across a call into
//! another filesystem.

pub mod filestore;

pub use filestore::{Filestore, MemoryFilestore, StoreFile};

use super::attr::{
    Dirent, FileType, NewAttrs, NewNode, RenameFlags, SetAttr, Stat, StatFs, Timespec, XattrSet,
};
use super::file::FIRST_FS_OFF;
use super::inode::{FileOps, Filesystem, Inode, WritePos};
use super::pipe::Pipe;
use crate::errno::SysResult;
use crate::return_errno;
use crate::sync::lock;
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

/// What a directory's `st_size` grows by per entry, as Linux's tmpfs counts.
const DIRENT_SIZE: u64 = 20;
const TMPFS_MAGIC: u64 = 0x0102_1994;
const BLOCK_SIZE: u32 = 4096;

/// What every inode of one tmpfs shares.
struct Shared {
    dev: u64,
    next_ino: AtomicU64,
    store: Arc<dyn Filestore>,
}

/// One tmpfs instance.
pub struct Tmpfs {
    shared: Arc<Shared>,
    root: Arc<TmpfsInode>,
}

impl Tmpfs {
    /// A tmpfs whose root directory has `mode` (e.g. `0o1777` for `/tmp`)
    /// and owner `uid`/`gid`.
    pub fn new(store: Arc<dyn Filestore>, mode: u32, uid: u32, gid: u32) -> Arc<Tmpfs> {
        let shared = Arc::new(Shared {
            dev: super::anon_dev(),
            next_ino: AtomicU64::new(1),
            store,
        });
        let attrs = NewAttrs {
            perm: mode & 0o7777,
            uid,
            gid,
        };
        let root = TmpfsInode::new(&shared, &NewNode::Directory, &attrs);
        Arc::new(Tmpfs { shared, root })
    }

    /// A tmpfs with file data in memfds, root `0o1777` owned by root.
    pub fn new_memory() -> Arc<Tmpfs> {
        Tmpfs::new(Arc::new(MemoryFilestore), 0o1777, 0, 0)
    }

    pub fn dev(&self) -> u64 {
        self.shared.dev
    }
}

impl Filesystem for Tmpfs {
    fn fs_type(&self) -> &'static str {
        "tmpfs"
    }

    fn root(&self) -> SysResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn statfs(&self) -> SysResult<StatFs> {
        // Like an unlimited tmpfs: no size or inode limit to report.
        Ok(StatFs {
            fs_type: TMPFS_MAGIC,
            block_size: i64::from(BLOCK_SIZE),
            fragment_size: i64::from(BLOCK_SIZE),
            name_length: super::NAME_MAX as u64,
            ..StatFs::default()
        })
    }
}

/// Attributes that every kind of inode has.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    btime: Timespec,
}

/// A regular file's data: the size is tmpfs's; the store is created on the
/// first write, truncate or mmap.
struct FileData {
    store: Option<Box<dyn StoreFile>>,
    size: u64,
}

impl FileData {
    fn store(&mut self, shared: &Shared) -> SysResult<&dyn StoreFile> {
        if self.store.is_none() {
            let s = shared.store.allocate()?;
            s.set_len(self.size)?;
            self.store = Some(s);
        }
        Ok(self.store.as_deref().expect("just allocated"))
    }
}

/// A directory's entries. Cookies only increase, so a `getdents64` offset
/// stays valid however the directory changes.
#[derive(Default)]
struct DirData {
    by_name: HashMap<Vec<u8>, u64>,
    by_cookie: BTreeMap<u64, (Vec<u8>, Arc<TmpfsInode>)>,
    next_cookie: u64,
}

impl DirData {
    fn get(&self, name: &[u8]) -> Option<&Arc<TmpfsInode>> {
        self.by_name.get(name).map(|c| &self.by_cookie[c].1)
    }

    fn insert(&mut self, name: &[u8], inode: Arc<TmpfsInode>) {
        let cookie = self.next_cookie.max(FIRST_FS_OFF);
        self.next_cookie = cookie + 1;
        self.by_name.insert(name.to_vec(), cookie);
        self.by_cookie.insert(cookie, (name.to_vec(), inode));
    }

    fn remove(&mut self, name: &[u8]) -> Option<Arc<TmpfsInode>> {
        let c = self.by_name.remove(name)?;
        self.by_cookie.remove(&c).map(|(_, i)| i)
    }

    fn len(&self) -> u64 {
        self.by_name.len() as u64
    }
}

enum Body {
    Regular(Mutex<FileData>),
    Directory(Mutex<DirData>),
    Symlink(Vec<u8>),
    /// FIFOs, sockets, devices: the sentry gives them behaviour on open.
    Special(u64),
}

pub struct TmpfsInode {
    shared: Arc<Shared>,
    me: Weak<TmpfsInode>,
    ino: u64,
    kind: FileType,
    meta: Mutex<Meta>,
    body: Body,
    xattrs: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// A FIFO's buffer, made on first open and shared by all its openers.
    fifo: OnceLock<Arc<Pipe>>,
}

impl TmpfsInode {
    fn new(shared: &Arc<Shared>, node: &NewNode, attrs: &NewAttrs) -> Arc<TmpfsInode> {
        let now = Timespec::now();
        let kind = node.file_type();
        let body = match node {
            NewNode::Regular => Body::Regular(Mutex::new(FileData {
                store: None,
                size: 0,
            })),
            NewNode::Directory => Body::Directory(Mutex::new(DirData::default())),
            NewNode::Symlink { target } => Body::Symlink(target.clone()),
            NewNode::Special { rdev, .. } => Body::Special(*rdev),
        };
        Arc::new_cyclic(|me| TmpfsInode {
            shared: shared.clone(),
            me: me.clone(),
            ino: shared.next_ino.fetch_add(1, Ordering::Relaxed),
            kind,
            meta: Mutex::new(Meta {
                mode: kind.mode_bits() | (attrs.perm & 0o7777),
                uid: attrs.uid,
                gid: attrs.gid,
                nlink: if kind == FileType::Directory { 2 } else { 1 },
                atime: now,
                mtime: now,
                ctime: now,
                btime: now,
            }),
            body,
            xattrs: Mutex::new(BTreeMap::new()),
            fifo: OnceLock::new(),
        })
    }

    fn dir(&self) -> SysResult<MutexGuard<'_, DirData>> {
        match &self.body {
            Body::Directory(d) => Ok(lock(d)),
            _ => return_errno!(ENOTDIR),
        }
    }

    fn data(&self) -> SysResult<MutexGuard<'_, FileData>> {
        match &self.body {
            Body::Regular(d) => Ok(lock(d)),
            Body::Directory(_) => return_errno!(EISDIR),
            _ => return_errno!(EINVAL),
        }
    }

    fn meta(&self) -> MutexGuard<'_, Meta> {
        lock(&self.meta)
    }

    /// A change to this directory's names: mtime and ctime.
    fn touch_dir(&self, now: Timespec) {
        let mut m = self.meta();
        m.mtime = now;
        m.ctime = now;
    }

    fn touch_ctime(&self, now: Timespec) {
        self.meta().ctime = now;
    }

    fn add_nlink(&self, delta: i32) {
        let mut m = self.meta();
        m.nlink = m.nlink.saturating_add_signed(delta);
    }

    /// Linux's `relatime`: atime moves only if it is not newer than mtime or
    /// ctime, or is a day old.
    fn touch_atime(&self) {
        let now = Timespec::now();
        let mut m = self.meta();
        if m.atime <= m.mtime || m.atime <= m.ctime || now.sec - m.atime.sec >= 24 * 3600 {
            m.atime = now;
        }
    }

    fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    fn downcast(inode: &dyn Inode) -> SysResult<&TmpfsInode> {
        match inode.as_any().downcast_ref::<TmpfsInode>() {
            Some(t) => Ok(t),
            None => return_errno!(EXDEV),
        }
    }
}

impl Inode for TmpfsInode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        let (size, blocks) = match &self.body {
            Body::Regular(d) => {
                let d = lock(d);
                let blocks = match &d.store {
                    Some(s) => s.blocks()?,
                    None => 0,
                };
                (d.size, blocks)
            }
            Body::Directory(d) => ((lock(d).len() + 2) * DIRENT_SIZE, 0),
            Body::Symlink(t) => (t.len() as u64, 0),
            Body::Special(_) => (0, 0),
        };
        let rdev = match self.body {
            Body::Special(r) => r,
            _ => 0,
        };
        let m = self.meta();
        Ok(Stat {
            dev: self.shared.dev,
            ino: self.ino,
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev,
            size,
            blksize: BLOCK_SIZE,
            blocks,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
            btime: m.btime,
            mask: libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            attributes: 0,
        })
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(self.kind)
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        let now = Timespec::now();
        if let Some(size) = attr.size {
            let mut d = self.data()?;
            if size != d.size || d.store.is_some() {
                let store = d.store(&self.shared)?;
                store.set_len(size)?;
            }
            d.size = size;
            // truncate(2) always updates mtime and ctime on Linux tmpfs.
            let mut m = self.meta();
            m.mtime = now;
            m.ctime = now;
        }
        let mut m = self.meta();
        if let Some(mode) = attr.mode {
            m.mode = (m.mode & libc::S_IFMT) | (mode & 0o7777);
        }
        if let Some(uid) = attr.uid {
            m.uid = uid;
        }
        if let Some(gid) = attr.gid {
            m.gid = gid;
        }
        if let Some(t) = attr.atime {
            m.atime = t.resolve(now);
        }
        if let Some(t) = attr.mtime {
            m.mtime = t.resolve(now);
        }
        m.ctime = now;
        Ok(())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        match self.dir()?.get(name) {
            Some(i) => Ok(i.clone()),
            None => return_errno!(ENOENT),
        }
    }

    fn create(&self, name: &[u8], node: &NewNode, attrs: &NewAttrs) -> SysResult<Arc<dyn Inode>> {
        let mut dir = self.dir()?;
        if dir.get(name).is_some() {
            return_errno!(EEXIST);
        }
        let inode = TmpfsInode::new(&self.shared, node, attrs);
        dir.insert(name, inode.clone());
        drop(dir);
        if inode.is_dir() {
            self.add_nlink(1);
        }
        self.touch_dir(inode.meta().ctime);
        Ok(inode)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        let t = TmpfsInode::downcast(&**target)?;
        let t = t.me.upgrade().ok_or(crate::errno!(ENOENT))?;
        let mut dir = self.dir()?;
        if dir.get(name).is_some() {
            return_errno!(EEXIST);
        }
        dir.insert(name, t.clone());
        drop(dir);
        let now = Timespec::now();
        t.add_nlink(1);
        t.touch_ctime(now);
        self.touch_dir(now);
        Ok(t)
    }

    fn unlink(&self, name: &[u8], _child: &dyn Inode) -> SysResult<()> {
        let mut dir = self.dir()?;
        match dir.get(name) {
            None => return_errno!(ENOENT),
            Some(c) if c.is_dir() => return_errno!(EISDIR),
            Some(_) => {}
        }
        let child = dir.remove(name).expect("present");
        drop(dir);
        let now = Timespec::now();
        child.add_nlink(-1);
        child.touch_ctime(now);
        self.touch_dir(now);
        Ok(())
    }

    fn rmdir(&self, name: &[u8], _child: &dyn Inode) -> SysResult<()> {
        let mut dir = self.dir()?;
        match dir.get(name) {
            None => return_errno!(ENOENT),
            Some(c) if !c.is_dir() => return_errno!(ENOTDIR),
            Some(c) if c.dir()?.len() > 0 => return_errno!(ENOTEMPTY),
            Some(_) => {}
        }
        let child = dir.remove(name).expect("present");
        drop(dir);
        let now = Timespec::now();
        {
            let mut m = child.meta();
            m.nlink = 0;
            m.ctime = now;
        }
        self.add_nlink(-1);
        self.touch_dir(now);
        Ok(())
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &dyn Inode,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> SysResult<()> {
        let new_dir = TmpfsInode::downcast(new_dir)?;
        let same = self.ino == new_dir.ino;
        // Two directories: lower inode number first.
        let (mut od, mut nd) = if same {
            (self.dir()?, None)
        } else if self.ino < new_dir.ino {
            let a = self.dir()?;
            (a, Some(new_dir.dir()?))
        } else {
            let b = new_dir.dir()?;
            (self.dir()?, Some(b))
        };
        let src = od.get(old_name).cloned().ok_or(crate::errno!(ENOENT))?;
        let dst = match &nd {
            Some(n) => n.get(new_name).cloned(),
            None => od.get(new_name).cloned(),
        };
        if let Some(d) = &dst {
            if flags.noreplace {
                return_errno!(EEXIST);
            }
            if !flags.exchange {
                match (src.is_dir(), d.is_dir()) {
                    (true, false) => return_errno!(ENOTDIR),
                    (false, true) => return_errno!(EISDIR),
                    (true, true) if d.dir()?.len() > 0 => return_errno!(ENOTEMPTY),
                    _ => {}
                }
            }
        } else if flags.exchange {
            return_errno!(ENOENT);
        }
        let now = Timespec::now();
        if flags.exchange {
            let dst = dst.expect("checked");
            od.remove(old_name);
            match nd.as_mut() {
                Some(n) => {
                    n.remove(new_name);
                    n.insert(new_name, src.clone());
                }
                None => {
                    od.remove(new_name);
                    od.insert(new_name, src.clone());
                }
            }
            od.insert(old_name, dst.clone());
            drop((od, nd));
            if !same && src.is_dir() != dst.is_dir() {
                // The directory among the two changes parent: move its `..`.
                let (gains, loses) = if src.is_dir() {
                    (new_dir, self)
                } else {
                    (self, new_dir)
                };
                gains.add_nlink(1);
                loses.add_nlink(-1);
            }
            dst.touch_ctime(now);
        } else {
            od.remove(old_name);
            let target = nd.as_mut().unwrap_or(&mut od);
            if let Some(d) = target.remove(new_name) {
                let mut m = d.meta();
                if d.is_dir() {
                    m.nlink = 0;
                } else {
                    m.nlink = m.nlink.saturating_sub(1);
                }
                m.ctime = now;
            }
            target.insert(new_name, src.clone());
            drop((od, nd));
            if let Some(d) = &dst {
                if d.is_dir() {
                    // The replaced directory's `..` is gone from the target.
                    new_dir.add_nlink(-1);
                }
            }
            if src.is_dir() && !same {
                self.add_nlink(-1);
                new_dir.add_nlink(1);
            }
        }
        src.touch_ctime(now);
        self.touch_dir(now);
        if !same {
            new_dir.touch_dir(now);
        }
        Ok(())
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        match &self.body {
            Body::Symlink(t) => {
                self.touch_atime();
                Ok(t.clone())
            }
            _ => return_errno!(EINVAL),
        }
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        let me = self.me.upgrade().ok_or(crate::errno!(ENOENT))?;
        match self.body {
            Body::Regular(_) | Body::Directory(_) => Ok(Box::new(TmpfsFile { inode: me })),
            Body::Symlink(_) => return_errno!(ELOOP),
            // Pipes and devices get their behaviour from the sentry's
            // implementations of them, not from tmpfs.
            Body::Special(_) if self.kind == FileType::Fifo => {
                let pipe = self.fifo.get_or_init(Pipe::new);
                Ok(Box::new(pipe.open_fifo(flags)?))
            }
            Body::Special(rdev) => super::devfs::open_device(self.kind, rdev, flags),
        }
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        match lock(&self.xattrs).get(name) {
            Some(v) => Ok(v.clone()),
            None => return_errno!(ENODATA),
        }
    }

    fn setxattr(&self, name: &[u8], value: &[u8], how: XattrSet) -> SysResult<()> {
        let mut x = lock(&self.xattrs);
        match (how, x.contains_key(name)) {
            (XattrSet::Create, true) => return_errno!(EEXIST),
            (XattrSet::Replace, false) => return_errno!(ENODATA),
            _ => {}
        }
        x.insert(name.to_vec(), value.to_vec());
        drop(x);
        self.touch_ctime(Timespec::now());
        Ok(())
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(lock(&self.xattrs).keys().cloned().collect())
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        if lock(&self.xattrs).remove(name).is_none() {
            return_errno!(ENODATA);
        }
        self.touch_ctime(Timespec::now());
        Ok(())
    }
}

/// An open tmpfs file or directory.
struct TmpfsFile {
    inode: Arc<TmpfsInode>,
}

impl FileOps for TmpfsFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let d = self.inode.data()?;
        let n = if off >= d.size || buf.is_empty() {
            0
        } else {
            let want = buf.len().min((d.size - off) as usize);
            let got = match d.store.as_deref() {
                Some(s) => s.read_at(off, &mut buf[..want])?,
                None => 0,
            };
            // Whatever the store does not hold up to the size is a hole.
            buf[got..want].fill(0);
            want
        };
        drop(d);
        self.inode.touch_atime();
        Ok(n)
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        let mut d = self.inode.data()?;
        let off = match pos {
            WritePos::At(o) => o,
            WritePos::End => d.size,
        };
        let end = off
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= i64::MAX as u64);
        let Some(_) = end else { return_errno!(EFBIG) };
        if buf.is_empty() {
            return Ok((0, off));
        }
        let n = d.store(&self.inode.shared)?.write_at(off, buf)?;
        d.size = d.size.max(off + n as u64);
        drop(d);
        let now = Timespec::now();
        let mut m = self.inode.meta();
        m.mtime = now;
        m.ctime = now;
        Ok((n, off + n as u64))
    }

    fn readdir(&self, off: u64, emit: &mut dyn FnMut(Dirent) -> bool) -> SysResult<()> {
        // Snapshot the entries so no tmpfs lock is held while emitting.
        let entries: Vec<(u64, Vec<u8>, u64, FileType)> = self
            .inode
            .dir()?
            .by_cookie
            .range(off..)
            .map(|(c, (n, i))| (*c, n.clone(), i.ino, i.kind))
            .collect();
        for (cookie, name, ino, kind) in entries {
            let d = Dirent {
                name,
                ino,
                kind: kind.dirent_type(),
                next_off: cookie + 1,
            };
            if !emit(d) {
                break;
            }
        }
        self.inode.touch_atime();
        Ok(())
    }

    fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        let mut d = self.inode.data()?;
        let store = d.store(&self.inode.shared)?;
        store.fallocate(mode, off, len)?;
        let keep = mode & (libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE) as u32 != 0;
        if !keep {
            d.size = d.size.max(off + len);
        }
        drop(d);
        let now = Timespec::now();
        let mut m = self.inode.meta();
        m.mtime = now;
        m.ctime = now;
        Ok(())
    }

    fn host_fd(&self) -> SysResult<Option<OwnedFd>> {
        let mut d = self.inode.data()?;
        d.store(&self.inode.shared)?.host_fd()
    }
}

#[cfg(test)]
mod tests;
