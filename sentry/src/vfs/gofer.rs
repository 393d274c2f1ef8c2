//! The gofer filesystem: container files reached through the gofer, one
//! lisafs connection per mount.
//!
//! Each inode holds what the gofer gave for it (a control FD) and a cached
//! stat. On an *exclusive* mount (the root mount by default, as in runsc)
//! nothing but the sentry changes the tree, so the cache is trusted; on a
//! shared mount every walk revalidates a cached name against the host and
//! every `stat` asks the gofer.
//!
//! How an inode reaches its host file is [`HostFile`]: a lisafs control FD
//! today; directfs adds a host-FD variant beside it, so both modes share this
//! type and each operation's two paths stay side by side.
//!
//! File data moves through the host FD the gofer donates when it opens a
//! regular file, and through PRead/PWrite when there is none. FDs whose
//! owners are gone are closed in batches, one Close message per batch.
//!
//! Lock order inside: an inode's stat cache, a directory's listing and the
//! close batch are leaves; the connection's own lock is taken only inside a
//! `lisafs::Client` call, with none of them held.

use super::attr::{
    Dirent, FileType, NewAttrs, NewNode, RenameFlags, SetAttr, Stat, StatFs, TimeChange, XattrSet,
};
use super::file::FIRST_FS_OFF;
use super::inode::{FileOps, Filesystem, Inode, WritePos};
use crate::errno::{Errno, SysResult};
use crate::return_errno;
use crate::sync::lock;
use lisafs::message::{SetStatReq, WALK_COMPONENT_DOES_NOT_EXIST};
use lisafs::{Client, FdId, Mid, Socket};
use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// `statfs` magic of 9p, which is what Linux applications know gofer-backed
/// files as (runsc reports the same).
const V9FS_MAGIC: u64 = 0x0102_1997;
/// FDs released before a Close message is sent.
const CLOSE_BATCH: usize = 32;
/// Bytes of directory entries asked for per Getdents64.
const GETDENTS_CHUNK: u32 = 64 << 10;

/// How a gofer mount behaves.
#[derive(Debug, Clone, Copy)]
pub struct GoferOptions {
    /// Only the sentry changes this tree: cached names and stats are
    /// trusted without asking the gofer again.
    pub exclusive: bool,
}

impl Default for GoferOptions {
    fn default() -> Self {
        GoferOptions { exclusive: true }
    }
}

/// One mount's connection and what all its inodes share.
struct Conn {
    client: Client,
    dev: u64,
    exclusive: bool,
    /// FDs whose owners are gone, waiting for the next Close batch.
    to_close: Mutex<Vec<FdId>>,
}

impl Conn {
    fn release(&self, fd: FdId) {
        let batch = {
            let mut pending = lock(&self.to_close);
            pending.push(fd);
            if pending.len() < CLOSE_BATCH {
                return;
            }
            std::mem::take(&mut *pending)
        };
        self.close(batch);
    }

    fn flush(&self) {
        let batch = std::mem::take(&mut *lock(&self.to_close));
        if !batch.is_empty() {
            self.close(batch);
        }
    }

    fn close(&self, batch: Vec<FdId>) {
        // Nothing to report to anyone: on a broken connection the server's
        // FDs died with it.
        if let Err(e) = self.client.close(&batch) {
            tracing::debug!("gofer: closing {} FDs: {e}", batch.len());
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A filesystem served by a gofer over one lisafs connection.
pub struct GoferFs {
    conn: Arc<Conn>,
    root: Arc<GoferInode>,
}

impl GoferFs {
    /// Mounts the tree the gofer serves on `sock`.
    pub fn new(sock: Socket, opts: GoferOptions) -> SysResult<Arc<GoferFs>> {
        let mounted = Client::mount(sock, false)?;
        let conn = Arc::new(Conn {
            client: mounted.client,
            dev: super::anon_dev(),
            exclusive: opts.exclusive,
            to_close: Mutex::new(Vec::new()),
        });
        let root = GoferInode::new(&conn, mounted.root);
        // A bind mount of a single file has that file as its root.
        if !matches!(root.kind, FileType::Directory | FileType::Regular) {
            return_errno!(
                ENOTDIR,
                "gofer mount root is neither a directory nor a file"
            );
        }
        Ok(Arc::new(GoferFs { conn, root }))
    }

    /// Sends the pending Close batch now (the VFS calls this after pruning
    /// dentries, so the gofer can let go of their files).
    pub fn flush_closes(&self) {
        self.conn.flush();
    }

    pub fn dev(&self) -> u64 {
        self.conn.dev
    }
}

impl Filesystem for GoferFs {
    fn fs_type(&self) -> &'static str {
        "9p"
    }

    fn root(&self) -> SysResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn statfs(&self) -> SysResult<StatFs> {
        let s = self.conn.client.fstatfs(self.root.control_fd())?;
        Ok(StatFs {
            fs_type: V9FS_MAGIC,
            block_size: s.block_size,
            blocks: s.blocks,
            blocks_free: s.blocks_free,
            blocks_available: s.blocks_available,
            files: s.files,
            files_free: s.files_free,
            name_length: s.name_length,
            fragment_size: s.block_size,
            flags: 0,
        })
    }

    fn revalidates(&self) -> bool {
        !self.conn.exclusive
    }
}

/// How an inode reaches its host file.
enum HostFile {
    /// Through the gofer: a control FD on the lisafs connection.
    Lisafs(FdId),
}

/// The host's identity of a file, to notice a name now meaning another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HostId {
    ino: u64,
    dev: (u32, u32),
    kind: u32,
}

impl HostId {
    fn of(s: &lisafs::Statx) -> HostId {
        HostId {
            ino: s.ino,
            dev: (s.dev_major, s.dev_minor),
            kind: s.file_type(),
        }
    }
}

pub struct GoferInode {
    conn: Arc<Conn>,
    me: Weak<GoferInode>,
    host: HostFile,
    host_id: HostId,
    kind: FileType,
    stat: Mutex<Stat>,
    /// Something changed the file in a way the cached stat does not show
    /// (nlink, times); the next `stat` asks the gofer.
    stale: AtomicBool,
}

impl GoferInode {
    fn new(conn: &Arc<Conn>, inode: lisafs::Inode) -> Arc<GoferInode> {
        let stat = Self::convert(conn, &inode.stat);
        Arc::new_cyclic(|me| GoferInode {
            conn: conn.clone(),
            me: me.clone(),
            host: HostFile::Lisafs(inode.control_fd),
            host_id: HostId::of(&inode.stat),
            kind: stat.file_type().unwrap_or(FileType::Regular),
            stat: Mutex::new(stat),
            stale: AtomicBool::new(false),
        })
    }

    /// The sentry's view of a host stat: the mount's own device number, so
    /// host device numbers never reach the application.
    fn convert(conn: &Conn, s: &lisafs::Statx) -> Stat {
        let mut st = Stat::from(s);
        st.dev = conn.dev;
        st
    }

    fn client(&self) -> &Client {
        &self.conn.client
    }

    fn control_fd(&self) -> FdId {
        match self.host {
            HostFile::Lisafs(fd) => fd,
        }
    }

    fn mark_stale(&self) {
        self.stale.store(true, Ordering::Release);
    }

    fn refresh(&self) -> SysResult<Stat> {
        let s = self.client().fstat(self.control_fd())?;
        let st = Self::convert(&self.conn, &s);
        *lock(&self.stat) = st;
        self.stale.store(false, Ordering::Release);
        Ok(st)
    }

    fn downcast(inode: &dyn Inode) -> SysResult<&GoferInode> {
        match inode.as_any().downcast_ref::<GoferInode>() {
            Some(g) => Ok(g),
            None => return_errno!(EXDEV),
        }
    }

    fn child(&self, inode: lisafs::Inode) -> Arc<dyn Inode> {
        self.mark_stale();
        GoferInode::new(&self.conn, inode)
    }

    fn me(&self) -> SysResult<Arc<GoferInode>> {
        self.me.upgrade().ok_or(crate::errno!(ESTALE))
    }
}

impl Drop for GoferInode {
    fn drop(&mut self) {
        match self.host {
            HostFile::Lisafs(fd) => self.conn.release(fd),
        }
    }
}

fn timestamp(t: Option<TimeChange>) -> lisafs::Timestamp {
    match t {
        Some(TimeChange::At(t)) => lisafs::Timestamp {
            sec: t.sec,
            nsec: t.nsec,
            pad: 0,
        },
        Some(TimeChange::Now) => lisafs::Timestamp {
            sec: 0,
            nsec: libc::UTIME_NOW as u32,
            pad: 0,
        },
        None => lisafs::Timestamp {
            sec: 0,
            nsec: libc::UTIME_OMIT as u32,
            pad: 0,
        },
    }
}

impl Inode for GoferInode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        if self.conn.exclusive && !self.stale.load(Ordering::Acquire) {
            return Ok(*lock(&self.stat));
        }
        self.refresh()
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(self.kind)
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        let mut req = SetStatReq {
            fd: self.control_fd(),
            ..SetStatReq::default()
        };
        if let Some(m) = attr.mode {
            req.mask |= libc::STATX_MODE;
            req.mode = m & 0o7777;
        }
        if let Some(u) = attr.uid {
            req.mask |= libc::STATX_UID;
            req.uid = u;
        }
        if let Some(g) = attr.gid {
            req.mask |= libc::STATX_GID;
            req.gid = g;
        }
        if let Some(s) = attr.size {
            req.mask |= libc::STATX_SIZE;
            req.size = s;
        }
        if attr.atime.is_some() {
            req.mask |= libc::STATX_ATIME;
        }
        if attr.mtime.is_some() {
            req.mask |= libc::STATX_MTIME;
        }
        req.atime = timestamp(attr.atime);
        req.mtime = timestamp(attr.mtime);
        let resp = self.client().set_stat(&req);
        self.mark_stale();
        let resp = resp?;
        if resp.failure_mask != 0 {
            let e = Errno::from_raw(resp.failure_errno as i32).unwrap_or(Errno::EIO);
            return Err(e.into());
        }
        Ok(())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let resp = self.client().walk(self.control_fd(), &[name])?;
        match resp.inodes.into_iter().next() {
            Some(i) if resp.status != WALK_COMPONENT_DOES_NOT_EXIST => {
                Ok(GoferInode::new(&self.conn, i))
            }
            Some(i) => {
                // Cannot happen with one component, but never leak an FD.
                self.conn.release(i.control_fd);
                return_errno!(ENOENT)
            }
            None => return_errno!(ENOENT),
        }
    }

    fn revalidate(&self, name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        let Ok(child) = GoferInode::downcast(&**child) else {
            return Ok(false);
        };
        let stats = self.client().walk_stat(self.control_fd(), &[name], false)?;
        let Some(s) = stats.first() else {
            return Ok(false);
        };
        if HostId::of(s) != child.host_id {
            return Ok(false);
        }
        *lock(&child.stat) = Self::convert(&self.conn, s);
        Ok(true)
    }

    fn create(&self, name: &[u8], node: &NewNode, attrs: &NewAttrs) -> SysResult<Arc<dyn Inode>> {
        let (fd, perm, uid, gid) = (self.control_fd(), attrs.perm & 0o7777, attrs.uid, attrs.gid);
        let c = self.client();
        let inode = match node {
            NewNode::Regular => c.mknod_at(fd, name, libc::S_IFREG | perm, 0, 0, uid, gid)?,
            NewNode::Directory => c.mkdir_at(fd, name, perm, uid, gid)?,
            NewNode::Symlink { target } => c.symlink_at(fd, name, target, uid, gid)?,
            NewNode::Special { kind, rdev } => {
                let (major, minor) = (super::attr::major(*rdev), super::attr::minor(*rdev));
                c.mknod_at(fd, name, kind.mode_bits() | perm, major, minor, uid, gid)?
            }
        };
        Ok(self.child(inode))
    }

    fn create_open(
        &self,
        name: &[u8],
        attrs: &NewAttrs,
        flags: u32,
    ) -> SysResult<(Arc<dyn Inode>, Box<dyn FileOps>)> {
        let access = flags & libc::O_ACCMODE as u32;
        let (inode, open_fd, host) = self.client().open_create_at(
            self.control_fd(),
            name,
            access,
            attrs.perm & 0o7777,
            attrs.uid,
            attrs.gid,
        )?;
        self.mark_stale();
        let child = GoferInode::new(&self.conn, inode);
        let file = GoferFile {
            inode: child.clone(),
            open_fd,
            host,
        };
        Ok((child, Box::new(file)))
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        let t = GoferInode::downcast(&**target)?;
        let inode = self
            .client()
            .link_at(self.control_fd(), t.control_fd(), name)?;
        t.mark_stale();
        Ok(self.child(inode))
    }

    fn unlink(&self, name: &[u8], child: &dyn Inode) -> SysResult<()> {
        self.mark_stale();
        if let Ok(c) = GoferInode::downcast(child) {
            c.mark_stale();
        }
        Ok(self.client().unlink_at(self.control_fd(), name, 0)?)
    }

    fn rmdir(&self, name: &[u8], child: &dyn Inode) -> SysResult<()> {
        self.mark_stale();
        if let Ok(c) = GoferInode::downcast(child) {
            c.mark_stale();
        }
        Ok(self
            .client()
            .unlink_at(self.control_fd(), name, libc::AT_REMOVEDIR as u32)?)
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &dyn Inode,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> SysResult<()> {
        let nd = GoferInode::downcast(new_dir)?;
        self.mark_stale();
        nd.mark_stale();
        let (od, nd) = (self.control_fd(), nd.control_fd());
        let c = self.client();
        if flags.bits() == 0 {
            c.rename_at(od, old_name, nd, new_name)?;
        } else if c.supports(Mid::RenameAt2) {
            c.rename_at2(od, old_name, nd, new_name, flags.bits())?;
        } else {
            return_errno!(EINVAL, "gofer cannot rename with flags");
        }
        Ok(())
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        if self.kind != FileType::Symlink {
            return_errno!(EINVAL);
        }
        Ok(self.client().readlink_at(self.control_fd())?)
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        let access = flags & libc::O_ACCMODE as u32;
        match self.kind {
            FileType::Regular => {
                let (open_fd, host) = self.client().open_at(self.control_fd(), access)?;
                Ok(Box::new(GoferFile {
                    inode: self.me()?,
                    open_fd,
                    host,
                }))
            }
            FileType::Directory => {
                let (open_fd, _) = self
                    .client()
                    .open_at(self.control_fd(), libc::O_RDONLY as u32)?;
                Ok(Box::new(GoferDir {
                    inode: self.me()?,
                    listing: Mutex::new(Listing {
                        open_fd,
                        entries: None,
                    }),
                }))
            }
            FileType::Symlink => return_errno!(ELOOP),
            // Pipes, sockets and devices are the sentry's, never the host's.
            _ => return_errno!(ENXIO),
        }
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        Ok(self.client().getxattr(self.control_fd(), name, 0)?)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], how: XattrSet) -> SysResult<()> {
        self.mark_stale();
        Ok(self
            .client()
            .setxattr(self.control_fd(), name, value, how.bits())?)
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(self.client().listxattr(self.control_fd(), 0)?)
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        self.mark_stale();
        Ok(self.client().removexattr(self.control_fd(), name)?)
    }
}

/// An open regular file: an open FD on the connection and, when the gofer
/// donated one, the host FD reads and writes go through.
struct GoferFile {
    inode: Arc<GoferInode>,
    open_fd: FdId,
    host: Option<OwnedFd>,
}

impl GoferFile {
    fn size_now(&self) -> SysResult<u64> {
        match &self.host {
            Some(fd) => Ok(rustix::fs::fstat(fd)?.st_size as u64),
            None => Ok(self.inode.client().fstat(self.open_fd)?.size),
        }
    }
}

impl Drop for GoferFile {
    fn drop(&mut self) {
        self.inode.conn.release(self.open_fd);
    }
}

impl FileOps for GoferFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let mut done = 0;
        while done < buf.len() {
            let at = off + done as u64;
            let n = match &self.host {
                Some(fd) => rustix::io::pread(fd, &mut buf[done..], at)?,
                None => {
                    let want = (buf.len() - done).min(u32::MAX as usize) as u32;
                    let data = self.inode.client().pread(self.open_fd, at, want)?;
                    buf[done..done + data.len()].copy_from_slice(&data);
                    data.len()
                }
            };
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        let off = match pos {
            WritePos::At(o) => o,
            WritePos::End => self.size_now()?,
        };
        if off
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > i64::MAX as u64)
        {
            return_errno!(EFBIG);
        }
        let n = match &self.host {
            Some(fd) => {
                let mut done = 0;
                while done < buf.len() {
                    let n = rustix::io::pwrite(fd, &buf[done..], off + done as u64)?;
                    if n == 0 {
                        break;
                    }
                    done += n;
                }
                done
            }
            None => self.inode.client().pwrite(self.open_fd, off, buf)?,
        };
        {
            let mut st = lock(&self.inode.stat);
            st.size = st.size.max(off + n as u64);
        }
        self.inode.mark_stale();
        Ok((n, off + n as u64))
    }

    fn fsync(&self) -> SysResult<()> {
        Ok(self.inode.client().fsync(&[self.open_fd])?)
    }

    fn fallocate(&self, mode: u32, off: u64, len: u64) -> SysResult<()> {
        self.inode.mark_stale();
        Ok(self
            .inode
            .client()
            .fallocate(self.open_fd, mode, off, len)?)
    }

    fn host_fd(&self) -> SysResult<Option<OwnedFd>> {
        match &self.host {
            Some(fd) => Ok(Some(rustix::io::fcntl_dupfd_cloexec(fd, 0)?)),
            None => Ok(None),
        }
    }
}

/// An open directory. lisafs reads a directory from its open FD's own
/// position and cannot seek, so the whole listing is read once and offsets
/// are indexes into it; reading from the start again (after `rewinddir`)
/// reopens the directory for a fresh listing.
struct GoferDir {
    inode: Arc<GoferInode>,
    listing: Mutex<Listing>,
}

struct Listing {
    open_fd: FdId,
    entries: Option<Vec<Dirent>>,
}

impl GoferDir {
    fn fetch(&self, open_fd: FdId) -> SysResult<Vec<Dirent>> {
        let mut out = Vec::new();
        loop {
            let batch = self.inode.client().getdents64(open_fd, GETDENTS_CHUNK)?;
            if batch.is_empty() {
                return Ok(out);
            }
            for d in batch {
                if d.name == b"." || d.name == b".." {
                    continue;
                }
                let next_off = FIRST_FS_OFF + out.len() as u64 + 1;
                out.push(Dirent {
                    name: d.name,
                    ino: d.ino,
                    kind: d.kind,
                    next_off,
                });
            }
        }
    }
}

impl Drop for GoferDir {
    fn drop(&mut self) {
        let fd = lock(&self.listing).open_fd;
        self.inode.conn.release(fd);
    }
}

impl FileOps for GoferDir {
    fn readdir(&self, off: u64, emit: &mut dyn FnMut(Dirent) -> bool) -> SysResult<()> {
        let mut l = lock(&self.listing);
        if off <= FIRST_FS_OFF && l.entries.is_some() {
            let (fresh, _) = self
                .inode
                .client()
                .open_at(self.inode.control_fd(), libc::O_RDONLY as u32)?;
            let old = std::mem::replace(&mut l.open_fd, fresh);
            self.inode.conn.release(old);
            l.entries = None;
        }
        if l.entries.is_none() {
            l.entries = Some(self.fetch(l.open_fd)?);
        }
        let entries = l.entries.as_ref().expect("just filled");
        let start = off.saturating_sub(FIRST_FS_OFF) as usize;
        for d in entries.iter().skip(start) {
            if !emit(d.clone()) {
                break;
            }
        }
        Ok(())
    }

    fn fsync(&self) -> SysResult<()> {
        // Directory changes are made by the gofer synchronously.
        Ok(())
    }
}
