//! Files with no name in any mount: pipes, and the host FDs a sandbox is
//! given for its stdio. Each gets a detached dentry on an internal
//! filesystem, so every open file in the sentry is a [`FileDescription`]
//! with a path (shown as `pipe:[ino]`-style names in `/proc/PID/fd`).

use super::attr::{FileType, SetAttr, Stat, StatFs, Timespec};
use super::dentry::Dentry;
use super::file::FileDescription;
use super::inode::{FileOps, Filesystem, Inode, WritePos};
use super::mount::{Mount, VfsPath};
use crate::errno::{Errno, SysResult};
use crate::return_errno;
use crate::sync::lock;
use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// The filesystem all anonymous files live on (Linux's `pipefs`/`anon_inodefs`).
struct AnonFs {
    dev: u64,
}

impl Filesystem for AnonFs {
    fn fs_type(&self) -> &'static str {
        "anon"
    }

    fn root(&self) -> SysResult<Arc<dyn Inode>> {
        return_errno!(ENOENT, "anonymous files have no root")
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs {
            fs_type: 0x5049_5045, // PIPEFS_MAGIC
            block_size: 4096,
            name_length: 255,
            ..StatFs::default()
        })
    }
}

fn anon_fs() -> &'static Arc<AnonFs> {
    static FS: OnceLock<Arc<AnonFs>> = OnceLock::new();
    FS.get_or_init(|| {
        Arc::new(AnonFs {
            dev: super::anon_dev(),
        })
    })
}

/// Makes a new open file for an anonymous inode reopened through
/// `/proc/PID/fd/N`.
pub type Reopen = Box<dyn Fn(u32) -> SysResult<Box<dyn FileOps>> + Send + Sync>;

/// The inode of an anonymous file: attributes, and how to reopen it.
pub struct AnonInode {
    stat: Stat,
    reopen: Option<Reopen>,
}

impl AnonInode {
    /// An inode of type `kind` with permissions `perm`, owned by `uid`/`gid`;
    /// `reopen`, if given, serves opens through `/proc/PID/fd/N`.
    pub fn new(
        kind: FileType,
        perm: u32,
        uid: u32,
        gid: u32,
        reopen: Option<Reopen>,
    ) -> Arc<AnonInode> {
        let now = Timespec::now();
        let dev = anon_fs().dev;
        Arc::new(AnonInode {
            stat: Stat {
                dev,
                ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
                mode: kind.mode_bits() | perm,
                nlink: 1,
                uid,
                gid,
                blksize: 4096,
                atime: now,
                mtime: now,
                ctime: now,
                mask: libc::STATX_BASIC_STATS,
                ..Stat::default()
            },
            reopen,
        })
    }
}

impl Inode for AnonInode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        return_errno!(EPERM)
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        match &self.reopen {
            Some(reopen) => reopen(flags),
            None => return_errno!(ENXIO),
        }
    }
}

/// A new open file description for an anonymous file.
pub fn anon_file(
    inode: Arc<dyn Inode>,
    ops: Box<dyn FileOps>,
    flags: u32,
) -> SysResult<Arc<FileDescription>> {
    let dentry = Dentry::new_root(inode)?;
    let fs: Arc<dyn Filesystem> = anon_fs().clone();
    let mount = Mount::new(fs, dentry.clone(), false, None);
    Ok(Arc::new(FileDescription::new(
        VfsPath::new(mount, dentry),
        ops,
        flags,
    )))
}

/// A host FD handed to the sandbox (the container's stdio). Reads and
/// writes go straight to it; offsets are ignored, as for a pipe or tty.
///
/// A read never blocks a sentry thread: when no data is there it fails with
/// `EAGAIN`, and a watcher thread (one per host FD, idle unless a reader
/// waits) polls the FD and notifies [`HostFile::event`] once it is readable.
pub struct HostFile {
    fd: Arc<OwnedFd>,
    event: Arc<event_listener::Event>,
    wanted: Arc<(Mutex<bool>, Condvar)>,
}

impl HostFile {
    pub fn new(fd: OwnedFd) -> HostFile {
        let fd = Arc::new(fd);
        let event = Arc::new(event_listener::Event::new());
        let wanted = Arc::new((Mutex::new(false), Condvar::new()));
        let (wfd, wevent, wwanted) = (Arc::downgrade(&fd), event.clone(), wanted.clone());
        let spawned = std::thread::Builder::new()
            .name("sentry-hostfd".into())
            .spawn(move || watch(wfd, wevent, wwanted));
        if let Err(e) = spawned {
            tracing::warn!("host fd watcher: {e}; reads of it will block");
        }
        HostFile { fd, event, wanted }
    }

    fn read_ready(&self) -> bool {
        poll_in(&self.fd, Some(&rustix::time::Timespec::default()))
    }

    fn want_read(&self) {
        let (m, cv) = &*self.wanted;
        *lock(m) = true;
        cv.notify_one();
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        // Wake the watcher so it sees the FD is gone and exits.
        self.want_read();
    }
}

fn poll_in(fd: &OwnedFd, timeout: Option<&rustix::time::Timespec>) -> bool {
    let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, timeout), Ok(n) if n > 0)
}

/// Waits for readers' interest, then for the FD to become readable, and
/// tells the readers; ends when the file is dropped.
fn watch(
    fd: std::sync::Weak<OwnedFd>,
    event: Arc<event_listener::Event>,
    wanted: Arc<(Mutex<bool>, Condvar)>,
) {
    let (m, cv) = &*wanted;
    loop {
        {
            let mut w = lock(m);
            while !*w {
                w = cv.wait(w).unwrap_or_else(|p| p.into_inner());
            }
            *w = false;
        }
        let Some(fd) = fd.upgrade() else { return };
        // Wake at least once a second to notice the file going away.
        let second = rustix::time::Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        while !poll_in(&fd, Some(&second)) {
            if std::sync::Arc::strong_count(&fd) == 1 {
                return;
            }
        }
        event.notify(usize::MAX);
    }
}

fn host_errno(e: rustix::io::Errno) -> crate::errno::SysError {
    Errno::from_raw(e.raw_os_error())
        .unwrap_or(Errno::EIO)
        .into()
}

impl FileOps for HostFile {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        if !self.read_ready() {
            self.want_read();
            return_errno!(EAGAIN);
        }
        loop {
            match rustix::io::read(self.fd.as_fd(), &mut *buf) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(host_errno),
            }
        }
    }

    fn write_at(&self, _pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        loop {
            match rustix::io::write(self.fd.as_fd(), buf) {
                Err(rustix::io::Errno::INTR) => continue,
                // The reader of the container's output is gone.
                Err(rustix::io::Errno::PIPE) => return_errno!(EPIPE),
                r => return r.map(|n| (n, 0)).map_err(host_errno),
            }
        }
    }

    fn readiness(&self) -> u32 {
        let mut r = (libc::POLLOUT | libc::POLLWRNORM) as u32;
        if self.read_ready() {
            r |= (libc::POLLIN | libc::POLLRDNORM) as u32;
        } else {
            // A poller that finds nothing to read waits on the event: the
            // watcher must be armed to fire it, as for a waiting reader.
            self.want_read();
        }
        r
    }

    fn event(&self) -> Option<&event_listener::Event> {
        Some(&self.event)
    }
}

/// A host file shared by several open descriptions (a stdio FD reopened
/// through `/proc/self/fd`).
impl FileOps for Arc<HostFile> {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.as_ref().read_at(off, buf)
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.as_ref().write_at(pos, buf)
    }

    fn readiness(&self) -> u32 {
        self.as_ref().readiness()
    }

    fn event(&self) -> Option<&event_listener::Event> {
        self.as_ref().event()
    }
}
