//! The host file system behind lisafs: each served file is an `O_PATH` FD
//! reached by single-component, no-symlink `openat2` steps from a mount root,
//! so no request can make the gofer follow a host symlink or leave the tree.
//!
//! Turning an `O_PATH` FD into something that can be read, written, chmod'ed
//! or have xattrs is done through this process's `/proc/self/fd`: reopening
//! the FD's magic link reaches exactly the file the FD names, where reopening
//! by parent and name could race with a rename.

use lisafs::message::{Dirent64, SetStatReq, SetStatResp, StatFs, Statx, Timestamp};
use lisafs::server::{Backend, Created, Name, Owner};
use lisafs::Errno;
use rustix::fs::{
    AtFlags, FallocateFlags, FileType, Mode, OFlags, RawDir, RenameFlags, ResolveFlags, StatxFlags,
    Timespec, Timestamps, XattrFlags,
};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// An FD of this process's `/proc/self/fd`, opened before the jail hides
/// `/proc`; files are reopened through it.
pub struct ProcSelfFd(OwnedFd);

impl ProcSelfFd {
    pub fn open() -> std::io::Result<Arc<Self>> {
        let fd = rustix::fs::open(
            "/proc/self/fd",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Arc::new(ProcSelfFd(fd)))
    }

    /// The magic link of `fd`, relative to `/proc/self/fd`.
    fn link(fd: BorrowedFd<'_>) -> String {
        fd.as_raw_fd().to_string()
    }

    /// Opens the file `fd` names with `flags`. Following the magic link is
    /// the point here, so no `O_NOFOLLOW`: callers only reopen FDs of
    /// regular files and directories.
    fn reopen(&self, fd: BorrowedFd<'_>, flags: OFlags) -> Result<OwnedFd, Errno> {
        rustix::fs::openat(
            &self.0,
            Self::link(fd),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }
}

/// A file in the served tree: an `O_PATH` FD that never follows a symlink,
/// and its file type (which cannot change for an inode).
pub struct Node {
    fd: OwnedFd,
    kind: FileType,
}

/// A file opened for I/O (or a directory opened for reading entries).
pub struct File {
    fd: OwnedFd,
}

/// Serves one mount whose root is `root` (an `O_PATH` FD).
pub struct HostBackend {
    root: OwnedFd,
    proc: Arc<ProcSelfFd>,
}

const STATX_MASK: StatxFlags = StatxFlags::BASIC_STATS.union(StatxFlags::BTIME);

/// What a single walk step may resolve: one component, beneath the
/// directory, and never through a symlink of any kind.
const STEP: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

fn statx_of<P: rustix::path::Arg>(
    fd: BorrowedFd<'_>,
    name: P,
    flags: AtFlags,
) -> Result<Statx, Errno> {
    let s = rustix::fs::statx(fd, name, flags | AtFlags::SYMLINK_NOFOLLOW, STATX_MASK)?;
    let ts = |t: rustix::fs::StatxTimestamp| Timestamp {
        sec: t.tv_sec,
        nsec: t.tv_nsec,
        pad: 0,
    };
    Ok(Statx {
        mask: s.stx_mask,
        blksize: s.stx_blksize,
        attributes: s.stx_attributes.bits(),
        nlink: s.stx_nlink,
        uid: s.stx_uid,
        gid: s.stx_gid,
        mode: s.stx_mode,
        pad: 0,
        ino: s.stx_ino,
        size: s.stx_size,
        blocks: s.stx_blocks,
        attributes_mask: s.stx_attributes_mask.bits(),
        atime: ts(s.stx_atime),
        btime: ts(s.stx_btime),
        ctime: ts(s.stx_ctime),
        mtime: ts(s.stx_mtime),
        rdev_major: s.stx_rdev_major,
        rdev_minor: s.stx_rdev_minor,
        dev_major: s.stx_dev_major,
        dev_minor: s.stx_dev_minor,
    })
}

fn stat_fd(fd: BorrowedFd<'_>) -> Result<Statx, Errno> {
    statx_of(fd, "", AtFlags::EMPTY_PATH)
}

fn kind_of(stat: &Statx) -> FileType {
    FileType::from_raw_mode(u32::from(stat.mode))
}

fn name_str<'a>(name: &Name<'a>) -> &'a std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(name.as_bytes())
}

fn cstring(b: &[u8]) -> Result<std::ffi::CString, Errno> {
    std::ffi::CString::new(b).map_err(|_| Errno::INVAL)
}

/// Flags a client may pass to OpenAt/OpenCreateAt. The sentry keeps file
/// offsets and `O_APPEND` semantics itself (and `pwrite` on an `O_APPEND`
/// host FD ignores the offset), so only the access mode and truncation
/// reach the host.
fn open_flags(flags: i32) -> Result<OFlags, Errno> {
    let acc = flags & libc::O_ACCMODE;
    if acc == libc::O_ACCMODE {
        return Err(Errno::INVAL);
    }
    Ok(OFlags::from_bits_retain(
        (acc | (flags & libc::O_TRUNC)) as u32,
    ))
}

impl HostBackend {
    /// Serves the tree under `root`. The gofer creates files with exactly the
    /// modes it is asked for (the application's umask was applied by the
    /// sentry), so this clears the process umask.
    pub fn new(root: OwnedFd, proc: Arc<ProcSelfFd>) -> Self {
        rustix::process::umask(Mode::empty());
        Self { root, proc }
    }

    fn step(&self, dir: &Node, name: Name<'_>, flags: OFlags) -> Result<OwnedFd, Errno> {
        rustix::fs::openat2(
            &dir.fd,
            name_str(&name),
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            STEP,
        )
    }

    fn node_at(&self, dir: &Node, name: Name<'_>) -> Result<(Node, Statx), Errno> {
        let fd = self.step(dir, name, OFlags::PATH)?;
        let stat = stat_fd(fd.as_fd())?;
        let kind = kind_of(&stat);
        Ok((Node { fd, kind }, stat))
    }

    /// Gives a freshly created `name` its requested owner; on failure the
    /// file is removed again so a failed create leaves nothing behind.
    fn chown_new(
        &self,
        dir: &Node,
        name: Name<'_>,
        node: &Node,
        owner: Owner,
        is_dir: bool,
    ) -> Result<(), Errno> {
        let (euid, egid) = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let uid = owner.uid.filter(|&u| u != euid);
        let gid = owner.gid.filter(|&g| g != egid);
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        let res = rustix::fs::chownat(
            &node.fd,
            "",
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        );
        if let Err(e) = res {
            let flags = if is_dir {
                AtFlags::REMOVEDIR
            } else {
                AtFlags::empty()
            };
            let _ = rustix::fs::unlinkat(&dir.fd, name_str(&name), flags);
            return Err(e);
        }
        Ok(())
    }

    /// Finishes a create done by name: opens the new file and sets its owner.
    fn created(
        &self,
        dir: &Node,
        name: Name<'_>,
        owner: Owner,
        is_dir: bool,
    ) -> Result<(Node, Statx), Errno> {
        let (node, _) = self.node_at(dir, name)?;
        self.chown_new(dir, name, &node, owner, is_dir)?;
        let stat = stat_fd(node.fd.as_fd())?;
        Ok((node, stat))
    }

    /// An FD on which xattr calls work: xattrs are only served for regular
    /// files and directories, the only kinds the gofer ever opens.
    fn xattr_fd(&self, node: &Node) -> Result<OwnedFd, Errno> {
        match node.kind {
            FileType::RegularFile | FileType::Directory => self
                .proc
                .reopen(node.fd.as_fd(), OFlags::RDONLY | OFlags::NONBLOCK),
            _ => Err(Errno::OPNOTSUPP),
        }
    }
}

impl Backend for HostBackend {
    type Node = Node;
    type File = File;

    fn mount(&self) -> Result<(Node, Statx), Errno> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.root, 0)?;
        let stat = stat_fd(fd.as_fd())?;
        let kind = kind_of(&stat);
        Ok((Node { fd, kind }, stat))
    }

    fn host_fd(&self, node: &Node) -> Result<OwnedFd, Errno> {
        rustix::io::fcntl_dupfd_cloexec(&node.fd, 0)
    }

    fn stat(&self, node: &Node) -> Result<Statx, Errno> {
        stat_fd(node.fd.as_fd())
    }

    fn stat_file(&self, file: &File) -> Result<Statx, Errno> {
        stat_fd(file.fd.as_fd())
    }

    fn set_stat(&self, node: &Node, req: &SetStatReq) -> SetStatResp {
        let mut resp = SetStatResp::default();
        let mut fail = |bit: u32, r: Result<(), Errno>| {
            if let Err(e) = r {
                resp.failure_mask |= bit;
                resp.failure_errno = e.raw_os_error() as u32;
            }
        };
        if req.mask & libc::STATX_MODE != 0 {
            let r = if node.kind == FileType::Symlink {
                Err(Errno::OPNOTSUPP)
            } else {
                // fchmod does not work on O_PATH FDs; the magic link does.
                let mode = Mode::from_bits_truncate(req.mode & 0o7777);
                rustix::fs::chmodat(
                    &self.proc.0,
                    ProcSelfFd::link(node.fd.as_fd()),
                    mode,
                    AtFlags::empty(),
                )
            };
            fail(libc::STATX_MODE, r);
        }
        let ids = req.mask & (libc::STATX_UID | libc::STATX_GID);
        if ids != 0 {
            let uid = (req.mask & libc::STATX_UID != 0).then(|| rustix::fs::Uid::from_raw(req.uid));
            let gid = (req.mask & libc::STATX_GID != 0).then(|| rustix::fs::Gid::from_raw(req.gid));
            let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
            fail(ids, rustix::fs::chownat(&node.fd, "", uid, gid, flags));
        }
        if req.mask & libc::STATX_SIZE != 0 {
            let r = match node.kind {
                FileType::RegularFile => self
                    .proc
                    .reopen(node.fd.as_fd(), OFlags::WRONLY)
                    .and_then(|fd| rustix::fs::ftruncate(&fd, req.size)),
                FileType::Directory => Err(Errno::ISDIR),
                _ => Err(Errno::INVAL),
            };
            fail(libc::STATX_SIZE, r);
        }
        let times = req.mask & (libc::STATX_ATIME | libc::STATX_MTIME);
        if times != 0 {
            let ts = |set: bool, t: &Timestamp| Timespec {
                tv_sec: t.sec,
                tv_nsec: if set {
                    i64::from(t.nsec)
                } else {
                    rustix::fs::UTIME_OMIT
                },
            };
            let stamps = Timestamps {
                last_access: ts(req.mask & libc::STATX_ATIME != 0, &req.atime),
                last_modification: ts(req.mask & libc::STATX_MTIME != 0, &req.mtime),
            };
            let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
            fail(times, rustix::fs::utimensat(&node.fd, "", &stamps, flags));
        }
        resp
    }

    fn lookup(&self, dir: &Node, name: Name<'_>) -> Result<(Node, Statx), Errno> {
        if dir.kind != FileType::Directory {
            return Err(Errno::NOTDIR);
        }
        self.node_at(dir, name)
    }

    fn stat_at(&self, dir: &Node, name: Name<'_>) -> Result<Statx, Errno> {
        if dir.kind != FileType::Directory {
            return Err(Errno::NOTDIR);
        }
        statx_of(dir.fd.as_fd(), name_str(&name), AtFlags::empty())
    }

    fn open(&self, node: &Node, flags: i32) -> Result<(File, Option<OwnedFd>), Errno> {
        let flags = open_flags(flags)?;
        match node.kind {
            FileType::RegularFile => {
                let fd = self.proc.reopen(node.fd.as_fd(), flags)?;
                let donated = rustix::io::fcntl_dupfd_cloexec(&fd, 0)?;
                Ok((File { fd }, Some(donated)))
            }
            FileType::Directory => {
                if flags.intersects(OFlags::WRONLY | OFlags::RDWR | OFlags::TRUNC) {
                    return Err(Errno::ISDIR);
                }
                let fd = self
                    .proc
                    .reopen(node.fd.as_fd(), OFlags::RDONLY | OFlags::DIRECTORY)?;
                Ok((File { fd }, None))
            }
            FileType::Symlink => Err(Errno::LOOP),
            // What open(2) says for a socket file.
            FileType::Socket => Err(Errno::NXIO),
            // Devices and FIFOs are never opened on the host: a device node
            // in an image must not reach host hardware, and the sentry
            // implements FIFOs itself.
            _ => Err(Errno::PERM),
        }
    }

    fn create(
        &self,
        dir: &Node,
        name: Name<'_>,
        flags: i32,
        mode: u32,
        owner: Owner,
    ) -> Result<Created<Node, File>, Errno> {
        if mode & libc::S_IFMT != 0 && mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Errno::INVAL);
        }
        let flags = open_flags(flags)? | OFlags::CREATE | OFlags::EXCL;
        let fd = rustix::fs::openat2(
            &dir.fd,
            name_str(&name),
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_bits_truncate(mode & 0o7777),
            STEP,
        )?;
        // The node is the very file just created, not whatever the name
        // points to by now.
        let node = Node {
            fd: self.proc.reopen(fd.as_fd(), OFlags::PATH)?,
            kind: FileType::RegularFile,
        };
        self.chown_new(dir, name, &node, owner, false)?;
        let stat = stat_fd(fd.as_fd())?;
        let host_fd = Some(rustix::io::fcntl_dupfd_cloexec(&fd, 0)?);
        Ok(Created {
            node,
            stat,
            file: File { fd },
            host_fd,
        })
    }

    fn fsync(&self, file: &File) -> Result<(), Errno> {
        rustix::fs::fsync(&file.fd)
    }

    fn pwrite(&self, file: &File, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        rustix::io::pwrite(&file.fd, data, offset)
    }

    fn pread(&self, file: &File, offset: u64, count: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; count];
        let n = rustix::io::pread(&file.fd, &mut buf[..], offset)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn mkdir(
        &self,
        dir: &Node,
        name: Name<'_>,
        mode: u32,
        owner: Owner,
    ) -> Result<(Node, Statx), Errno> {
        rustix::fs::mkdirat(
            &dir.fd,
            name_str(&name),
            Mode::from_bits_truncate(mode & 0o7777),
        )?;
        self.created(dir, name, owner, true)
    }

    fn mknod(
        &self,
        dir: &Node,
        name: Name<'_>,
        mode: u32,
        _dev: (u32, u32),
        owner: Owner,
    ) -> Result<(Node, Statx), Errno> {
        let kind = match mode & libc::S_IFMT {
            0 | libc::S_IFREG => FileType::RegularFile,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            // No device node is ever created on the host for a sandbox.
            libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::PERM),
            _ => return Err(Errno::INVAL),
        };
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        rustix::fs::mknodat(&dir.fd, name_str(&name), kind, perm, 0)?;
        self.created(dir, name, owner, false)
    }

    fn symlink(
        &self,
        dir: &Node,
        name: Name<'_>,
        target: &[u8],
        owner: Owner,
    ) -> Result<(Node, Statx), Errno> {
        rustix::fs::symlinkat(cstring(target)?.as_c_str(), &dir.fd, name_str(&name))?;
        self.created(dir, name, owner, false)
    }

    fn link(&self, dir: &Node, target: &Node, name: Name<'_>) -> Result<(Node, Statx), Errno> {
        match target.kind {
            FileType::Directory => return Err(Errno::PERM),
            // Linking the FD itself needs CAP_DAC_READ_SEARCH (the gofer has
            // it); it is the only way to hard-link a symlink without
            // following it.
            FileType::Symlink => rustix::fs::linkat(
                &target.fd,
                "",
                &dir.fd,
                name_str(&name),
                AtFlags::EMPTY_PATH,
            )?,
            _ => rustix::fs::linkat(
                &self.proc.0,
                ProcSelfFd::link(target.fd.as_fd()),
                &dir.fd,
                name_str(&name),
                AtFlags::SYMLINK_FOLLOW,
            )?,
        }
        self.node_at(dir, name)
    }

    fn statfs(&self, node: &Node) -> Result<StatFs, Errno> {
        let s = rustix::fs::fstatfs(&node.fd)?;
        Ok(StatFs {
            fs_type: s.f_type as u64,
            block_size: s.f_bsize,
            blocks: s.f_blocks,
            blocks_free: s.f_bfree,
            blocks_available: s.f_bavail,
            files: s.f_files,
            files_free: s.f_ffree,
            name_length: s.f_namelen as u64,
        })
    }

    fn fallocate(&self, file: &File, mode: u32, offset: u64, length: u64) -> Result<(), Errno> {
        rustix::fs::fallocate(
            &file.fd,
            FallocateFlags::from_bits_retain(mode),
            offset,
            length,
        )
    }

    fn readlink(&self, node: &Node) -> Result<Vec<u8>, Errno> {
        if node.kind != FileType::Symlink {
            return Err(Errno::INVAL);
        }
        Ok(rustix::fs::readlinkat(&node.fd, "", Vec::new())?.into_bytes())
    }

    fn flush(&self, _file: &File) -> Result<(), Errno> {
        // Host files need no flush on close: writes went straight to the host.
        Ok(())
    }

    fn unlink(&self, dir: &Node, name: Name<'_>, flags: u32) -> Result<(), Errno> {
        let flags = if flags & libc::AT_REMOVEDIR as u32 != 0 {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(&dir.fd, name_str(&name), flags)
    }

    fn rename(
        &self,
        old_dir: &Node,
        old_name: Name<'_>,
        new_dir: &Node,
        new_name: Name<'_>,
        flags: u32,
    ) -> Result<(), Errno> {
        rustix::fs::renameat_with(
            &old_dir.fd,
            name_str(&old_name),
            &new_dir.fd,
            name_str(&new_name),
            RenameFlags::from_bits_retain(flags),
        )
    }

    fn getdents64(&self, file: &File, count: usize) -> Result<Vec<Dirent64>, Errno> {
        let dev = stat_fd(file.fd.as_fd())?;
        // RawDir wants an 8-aligned buffer; align it here so the kernel gets
        // exactly `count` bytes and never returns more than was asked.
        let mut buf = vec![MaybeUninit::<u8>::uninit(); count + 8];
        let start = buf.as_ptr().align_offset(8);
        let mut dir = RawDir::new(&file.fd, &mut buf[start..start + count]);
        let mut out = Vec::new();
        // Exactly one getdents64 call: stop once the first batch is used up.
        loop {
            match dir.next() {
                None => break,
                Some(Err(e)) if out.is_empty() => return Err(e),
                Some(Err(_)) => break,
                Some(Ok(ent)) => out.push(Dirent64 {
                    ino: ent.ino(),
                    dev_minor: dev.dev_minor,
                    dev_major: dev.dev_major,
                    off: ent.next_entry_cookie(),
                    kind: dtype(ent.file_type()),
                    name: ent.file_name().to_bytes().to_vec(),
                }),
            }
            if dir.is_buffer_empty() {
                break;
            }
        }
        Ok(out)
    }

    fn getxattr(&self, node: &Node, name: &[u8], size: usize) -> Result<Vec<u8>, Errno> {
        let fd = self.xattr_fd(node)?;
        let name = cstring(name)?;
        let size = if size == 0 {
            rustix::fs::fgetxattr_query(&fd, name.as_c_str())?
        } else {
            size
        };
        let mut buf = vec![0u8; size];
        let n = rustix::fs::fgetxattr(&fd, name.as_c_str(), &mut buf[..])?;
        buf.truncate(n);
        Ok(buf)
    }

    fn setxattr(&self, node: &Node, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        let fd = self.xattr_fd(node)?;
        let name = cstring(name)?;
        rustix::fs::fsetxattr(
            &fd,
            name.as_c_str(),
            value,
            XattrFlags::from_bits_retain(flags),
        )
    }

    fn listxattr(&self, node: &Node, size: usize) -> Result<Vec<Vec<u8>>, Errno> {
        let fd = self.xattr_fd(node)?;
        let size = if size == 0 {
            rustix::fs::flistxattr_query(&fd)?
        } else {
            size
        };
        let mut buf = vec![0u8; size];
        let n = rustix::fs::flistxattr(&fd, &mut buf[..])?;
        Ok(buf[..n]
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn removexattr(&self, node: &Node, name: &[u8]) -> Result<(), Errno> {
        let fd = self.xattr_fd(node)?;
        let name = cstring(name)?;
        rustix::fs::fremovexattr(&fd, name.as_c_str())
    }
}

/// The `d_type` value of a file type.
fn dtype(t: FileType) -> u8 {
    match t {
        FileType::Fifo => libc::DT_FIFO,
        FileType::CharacterDevice => libc::DT_CHR,
        FileType::Directory => libc::DT_DIR,
        FileType::BlockDevice => libc::DT_BLK,
        FileType::RegularFile => libc::DT_REG,
        FileType::Symlink => libc::DT_LNK,
        FileType::Socket => libc::DT_SOCK,
        FileType::Unknown => libc::DT_UNKNOWN,
    }
}
