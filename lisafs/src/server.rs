//! The server half: the protocol logic every lisafs server shares, over a
//! `Backend` that does the file operations.
//!
//! The server owns what must not differ between implementations: FD ids (a
//! client can only name FDs it was given, and only for operations of their
//! kind), name validation (single components only), walks that stop at
//! symlinks, read-only mounts, message limits, and the rule that only the
//! server donates FDs. A backend sees validated, typed arguments.

use crate::message::*;
use crate::transport::{payload, Socket, TransportError};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

/// A validated directory entry name: one component, not `.` or `..`.
#[derive(Debug, Clone, Copy)]
pub struct Name<'a>(&'a [u8]);

impl<'a> Name<'a> {
    pub fn new(b: &'a [u8]) -> Result<Self, Errno> {
        if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
            return Err(Errno::INVAL);
        }
        if b.len() > NAME_MAX {
            return Err(Errno::NAMETOOLONG);
        }
        Ok(Name(b))
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn to_cstring(&self) -> CString {
        CString::new(self.0).expect("validated: no NUL")
    }
}

/// Owner requested for a new file; `None` keeps the server's own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Owner {
    fn new(uid: u32, gid: u32) -> Self {
        let id = |v| (v != NO_ID).then_some(v);
        Owner {
            uid: id(uid),
            gid: id(gid),
        }
    }
}

/// A file created by OpenCreateAt.
pub struct Created<N, F> {
    pub node: N,
    pub stat: Statx,
    pub file: F,
    pub host_fd: Option<OwnedFd>,
}

/// The file operations behind a lisafs server. `Node` is a file in the tree
/// (what a control FD names), `File` a file opened for I/O (an open FD).
pub trait Backend: Sync {
    type Node: Send;
    type File: Send;

    /// The root of the mount this connection serves.
    fn mount(&self) -> Result<(Self::Node, Statx), Errno>;
    /// A host FD for `node`, donated to the client in directfs mode.
    fn host_fd(&self, node: &Self::Node) -> Result<OwnedFd, Errno>;
    fn stat(&self, node: &Self::Node) -> Result<Statx, Errno>;
    fn stat_file(&self, file: &Self::File) -> Result<Statx, Errno>;
    fn set_stat(&self, node: &Self::Node, req: &SetStatReq) -> SetStatResp;
    /// One step of a walk. Must not follow `name` if it is a symlink.
    fn lookup(&self, dir: &Self::Node, name: Name<'_>) -> Result<(Self::Node, Statx), Errno>;
    /// The stat of `name` in `dir` without keeping it (symlinks not followed).
    fn stat_at(&self, dir: &Self::Node, name: Name<'_>) -> Result<Statx, Errno> {
        self.lookup(dir, name).map(|(_, stat)| stat)
    }
    /// Opens `node`; may return a host FD to donate (regular files).
    fn open(&self, node: &Self::Node, flags: i32) -> Result<(Self::File, Option<OwnedFd>), Errno>;
    fn create(
        &self,
        dir: &Self::Node,
        name: Name<'_>,
        flags: i32,
        mode: u32,
        owner: Owner,
    ) -> Result<Created<Self::Node, Self::File>, Errno>;
    fn fsync(&self, file: &Self::File) -> Result<(), Errno>;
    fn pwrite(&self, file: &Self::File, offset: u64, data: &[u8]) -> Result<usize, Errno>;
    fn pread(&self, file: &Self::File, offset: u64, count: usize) -> Result<Vec<u8>, Errno>;
    fn mkdir(
        &self,
        dir: &Self::Node,
        name: Name<'_>,
        mode: u32,
        owner: Owner,
    ) -> Result<(Self::Node, Statx), Errno>;
    fn mknod(
        &self,
        dir: &Self::Node,
        name: Name<'_>,
        mode: u32,
        dev: (u32, u32),
        owner: Owner,
    ) -> Result<(Self::Node, Statx), Errno>;
    fn symlink(
        &self,
        dir: &Self::Node,
        name: Name<'_>,
        target: &[u8],
        owner: Owner,
    ) -> Result<(Self::Node, Statx), Errno>;
    fn link(
        &self,
        dir: &Self::Node,
        target: &Self::Node,
        name: Name<'_>,
    ) -> Result<(Self::Node, Statx), Errno>;
    fn statfs(&self, node: &Self::Node) -> Result<StatFs, Errno>;
    fn fallocate(
        &self,
        file: &Self::File,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> Result<(), Errno>;
    fn readlink(&self, node: &Self::Node) -> Result<Vec<u8>, Errno>;
    fn flush(&self, file: &Self::File) -> Result<(), Errno>;
    /// `flags` is 0 or `AT_REMOVEDIR`.
    fn unlink(&self, dir: &Self::Node, name: Name<'_>, flags: u32) -> Result<(), Errno>;
    fn rename(
        &self,
        old_dir: &Self::Node,
        old_name: Name<'_>,
        new_dir: &Self::Node,
        new_name: Name<'_>,
        flags: u32,
    ) -> Result<(), Errno>;
    /// Entries that fit `count` bytes of `linux_dirent64`; empty at the end.
    fn getdents64(&self, file: &Self::File, count: usize) -> Result<Vec<Dirent64>, Errno>;
    /// `size` 0 asks for the whole value; otherwise `ERANGE` if it is larger.
    fn getxattr(&self, node: &Self::Node, name: &[u8], size: usize) -> Result<Vec<u8>, Errno>;
    fn setxattr(
        &self,
        node: &Self::Node,
        name: &[u8],
        value: &[u8],
        flags: u32,
    ) -> Result<(), Errno>;
    /// `size` 0 asks for all names; otherwise `ERANGE` if they take more.
    fn listxattr(&self, node: &Self::Node, size: usize) -> Result<Vec<Vec<u8>>, Errno>;
    fn removexattr(&self, node: &Self::Node, name: &[u8]) -> Result<(), Errno>;
}

/// How one connection is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Refuse every change with `EROFS` (a read-only mount).
    pub readonly: bool,
    /// Donate the mount root's host FD when the client asks (directfs).
    pub directfs: bool,
}

/// Why a connection ended other than by the client closing it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("client sent {0} FDs; clients never donate FDs")]
    ClientFds(usize),
    #[error("unknown message id {0}")]
    UnknownMid(u16),
    #[error("malformed {mid:?} request: {err}")]
    Malformed {
        mid: Mid,
        err: crate::codec::DecodeError,
    },
}

/// Largest xattr name and value, as the kernel limits them.
const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: usize = 64 << 10;

enum Entry<B: Backend + ?Sized> {
    Node(B::Node),
    File(B::File),
}

/// The FDs a client holds on one connection.
struct FdTable<B: Backend + ?Sized> {
    next: FdId,
    entries: HashMap<FdId, Entry<B>>,
}

impl<B: Backend + ?Sized> FdTable<B> {
    fn insert(&mut self, e: Entry<B>) -> FdId {
        self.next += 1;
        self.entries.insert(self.next, e);
        self.next
    }

    fn node(&self, id: FdId) -> Result<&B::Node, Errno> {
        match self.entries.get(&id) {
            Some(Entry::Node(n)) => Ok(n),
            _ => Err(Errno::BADF),
        }
    }

    fn file(&self, id: FdId) -> Result<&B::File, Errno> {
        match self.entries.get(&id) {
            Some(Entry::File(f)) => Ok(f),
            _ => Err(Errno::BADF),
        }
    }

    fn inode(&mut self, node: B::Node, stat: Statx) -> Inode {
        Inode {
            control_fd: self.insert(Entry::Node(node)),
            stat,
        }
    }
}

/// A response payload and the FD donated with it.
type Reply = (Vec<u8>, Option<OwnedFd>);

fn reply<T: Wire>(v: T) -> Result<Reply, Errno> {
    Ok((encode(&v), None))
}

fn empty() -> Result<Reply, Errno> {
    reply(Empty {})
}

/// Serves one connection until the client closes it (`Ok`) or breaks the
/// protocol (`Err`). Every FD the client held is closed when this returns.
pub fn serve<B: Backend + ?Sized>(
    backend: &B,
    sock: Socket,
    opts: ServeOptions,
) -> Result<(), ServeError> {
    let mut conn = Connection::<B> {
        backend,
        opts,
        max_payload: sock.max_payload(),
        table: FdTable {
            next: 0,
            entries: HashMap::new(),
        },
        mounted: false,
    };
    let mut buf = Vec::new();
    loop {
        let got = match sock.recv(&mut buf) {
            Ok(got) => got,
            Err(TransportError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !got.fds.is_empty() {
            return Err(ServeError::ClientFds(got.fds.len()));
        }
        let mid = Mid::from_u16(got.mid).ok_or(ServeError::UnknownMid(got.mid))?;
        let result = conn.handle(mid, payload(&buf, &got))?;
        let sent = match result {
            Ok((resp, fd)) => {
                let fds: Vec<_> = fd.iter().map(|f| f.as_fd()).collect();
                sock.send(mid as u16, &resp, &fds)
            }
            Err(errno) => {
                let resp = encode(&ErrorResp {
                    errno: errno.raw_os_error() as u32,
                });
                sock.send(Mid::Error as u16, &resp, &[])
            }
        };
        match sent {
            Ok(()) => {}
            Err(TransportError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

struct Connection<'b, B: Backend + ?Sized> {
    backend: &'b B,
    opts: ServeOptions,
    max_payload: u32,
    table: FdTable<B>,
    mounted: bool,
}

/// Messages that change the file system.
fn mutates(mid: Mid) -> bool {
    matches!(
        mid,
        Mid::SetStat
            | Mid::OpenCreateAt
            | Mid::PWrite
            | Mid::MkdirAt
            | Mid::MknodAt
            | Mid::SymlinkAt
            | Mid::LinkAt
            | Mid::FAllocate
            | Mid::UnlinkAt
            | Mid::RenameAt
            | Mid::RenameAt2
            | Mid::FSetXattr
            | Mid::FRemoveXattr
    )
}

/// Ids a server answers (everything but `Error` and the reserved ones).
fn supported() -> Vec<u16> {
    Mid::ALL
        .iter()
        .filter(|m| **m != Mid::Error && !m.is_reserved())
        .map(|m| *m as u16)
        .collect()
}

fn xattr_name(name: &[u8]) -> Result<&[u8], Errno> {
    if name.is_empty() || name.contains(&0) {
        return Err(Errno::INVAL);
    }
    if name.len() > XATTR_NAME_MAX {
        return Err(Errno::RANGE);
    }
    Ok(name)
}

impl<B: Backend + ?Sized> Connection<'_, B> {
    /// The outer error ends the connection; the inner one is sent to the
    /// client as an `Error` response.
    fn handle(&mut self, mid: Mid, body: &[u8]) -> Result<Result<Reply, Errno>, ServeError> {
        if mid == Mid::Error {
            return Err(ServeError::UnknownMid(0));
        }
        if mid.is_reserved() {
            return Ok(Err(Errno::OPNOTSUPP));
        }
        if !self.mounted && mid != Mid::Mount {
            return Ok(Err(Errno::INVAL));
        }
        let refuse = self.opts.readonly && mutates(mid);
        let malformed = |err| ServeError::Malformed { mid, err };
        // Decode before refusing, so a malformed request ends the connection
        // the same way on read-only mounts.
        macro_rules! req {
            ($t:ty) => {{
                let r = decode_exact::<$t>(body).map_err(malformed)?;
                if refuse {
                    return Ok(Err(Errno::ROFS));
                }
                r
            }};
        }
        let r = match mid {
            Mid::Mount => self.mount(req!(MountReq)),
            Mid::FStat => self.fstat(req!(FStatReq)),
            Mid::SetStat => self.set_stat(req!(SetStatReq)),
            Mid::Walk => self.walk(req!(WalkReq)),
            Mid::WalkStat => self.walk_stat(req!(WalkStatReq)),
            Mid::OpenAt => self.open_at(req!(OpenAtReq)),
            Mid::OpenCreateAt => self.open_create_at(req!(OpenCreateAtReq)),
            Mid::Close => self.close(req!(CloseReq)),
            Mid::FSync => self.fsync(req!(FSyncReq)),
            Mid::PWrite => self.pwrite(req!(PWriteReq)),
            Mid::PRead => self.pread(req!(PReadReq)),
            Mid::MkdirAt => self.mkdir_at(req!(MkdirAtReq)),
            Mid::MknodAt => self.mknod_at(req!(MknodAtReq)),
            Mid::SymlinkAt => self.symlink_at(req!(SymlinkAtReq)),
            Mid::LinkAt => self.link_at(req!(LinkAtReq)),
            Mid::FStatFS => self.fstatfs(req!(FStatFsReq)),
            Mid::FAllocate => self.fallocate(req!(FAllocateReq)),
            Mid::ReadLinkAt => self.readlink_at(req!(ReadLinkAtReq)),
            Mid::Flush => self.flush(req!(FlushReq)),
            Mid::UnlinkAt => self.unlink_at(req!(UnlinkAtReq)),
            Mid::RenameAt => {
                let r = req!(RenameAtReq);
                self.rename(r.old_dir, &r.old_name, r.new_dir, &r.new_name, 0)
            }
            Mid::RenameAt2 => {
                let r = req!(RenameAt2Req);
                self.rename(r.old_dir, &r.old_name, r.new_dir, &r.new_name, r.flags)
            }
            Mid::Getdents64 => self.getdents64(req!(Getdents64Req)),
            Mid::FGetXattr => self.getxattr(req!(FGetXattrReq)),
            Mid::FSetXattr => self.setxattr(req!(FSetXattrReq)),
            Mid::FListXattr => self.listxattr(req!(FListXattrReq)),
            Mid::FRemoveXattr => self.removexattr(req!(FRemoveXattrReq)),
            Mid::Error
            | Mid::Channel
            | Mid::Connect
            | Mid::BindAt
            | Mid::Listen
            | Mid::Accept
            | Mid::ConnectWithCreds => unreachable!("handled above"),
        };
        Ok(r)
    }

    fn mount(&mut self, req: MountReq) -> Result<Reply, Errno> {
        if self.mounted {
            return Err(Errno::BUSY);
        }
        let (root, stat) = self.backend.mount()?;
        let donated = if req.flags & MOUNT_DIRECTFS != 0 && self.opts.directfs {
            Some(self.backend.host_fd(&root)?)
        } else {
            None
        };
        self.mounted = true;
        let resp = MountResp {
            root: self.table.inode(root, stat),
            max_message_size: self.max_payload,
            supported: supported(),
        };
        Ok((encode(&resp), donated))
    }

    fn fstat(&mut self, req: FStatReq) -> Result<Reply, Errno> {
        let stat = match self.table.entries.get(&req.fd) {
            Some(Entry::Node(n)) => self.backend.stat(n)?,
            Some(Entry::File(f)) => self.backend.stat_file(f)?,
            None => return Err(Errno::BADF),
        };
        reply(stat)
    }

    fn set_stat(&mut self, req: SetStatReq) -> Result<Reply, Errno> {
        let node = self.table.node(req.fd)?;
        reply(self.backend.set_stat(node, &req))
    }

    /// Looks up each component from `dir`; stops after a symlink or before a
    /// missing component. Nodes are registered only if the walk succeeds, so
    /// an error leaves no FDs behind.
    fn walk(&mut self, req: WalkReq) -> Result<Reply, Errno> {
        let names = req
            .path
            .iter()
            .map(|c| Name::new(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut found: Vec<(B::Node, Statx)> = Vec::with_capacity(names.len());
        let mut status = WALK_SUCCESS;
        for name in names {
            let dir = match found.last() {
                Some((n, _)) => n,
                None => self.table.node(req.dir)?,
            };
            match self.backend.lookup(dir, name) {
                Ok((node, stat)) => {
                    let symlink = stat.is_symlink();
                    found.push((node, stat));
                    if symlink {
                        status = WALK_COMPONENT_SYMLINK;
                        break;
                    }
                }
                Err(Errno::NOENT) => {
                    status = WALK_COMPONENT_DOES_NOT_EXIST;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let inodes = found
            .into_iter()
            .map(|(n, s)| self.table.inode(n, s))
            .collect();
        reply(WalkResp { status, inodes })
    }

    /// Like `walk` but returns only stats; stops silently at a symlink or a
    /// missing component.
    fn walk_stat(&mut self, req: WalkStatReq) -> Result<Reply, Errno> {
        let mut path = req.path.as_slice();
        let mut stats = Vec::with_capacity(path.len());
        let start = self.table.node(req.dir)?;
        if path.first().is_some_and(|c| c.is_empty()) {
            stats.push(self.backend.stat(start)?);
            path = &path[1..];
        }
        let names = path
            .iter()
            .map(|c| Name::new(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut held: Option<B::Node> = None;
        for (i, name) in names.iter().enumerate() {
            let dir = held.as_ref().unwrap_or(start);
            let last = i + 1 == names.len();
            let step = if last {
                self.backend.stat_at(dir, *name).map(|s| (None, s))
            } else {
                self.backend.lookup(dir, *name).map(|(n, s)| (Some(n), s))
            };
            match step {
                Ok((node, stat)) => {
                    stats.push(stat);
                    if stat.is_symlink() {
                        break;
                    }
                    held = node;
                }
                Err(Errno::NOENT) => break,
                Err(e) => return Err(e),
            }
        }
        reply(WalkStatResp { stats })
    }

    fn open_at(&mut self, req: OpenAtReq) -> Result<Reply, Errno> {
        let flags = req.flags as i32;
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if self.opts.readonly && writes {
            return Err(Errno::ROFS);
        }
        let node = self.table.node(req.fd)?;
        let (file, host) = self.backend.open(node, flags)?;
        let open_fd = self.table.insert(Entry::File(file));
        Ok((encode(&OpenAtResp { open_fd }), host))
    }

    fn open_create_at(&mut self, req: OpenCreateAtReq) -> Result<Reply, Errno> {
        let name = Name::new(&req.name)?;
        let dir = self.table.node(req.dir)?;
        let owner = Owner::new(req.uid, req.gid);
        let c = self
            .backend
            .create(dir, name, req.flags as i32, req.mode, owner)?;
        let child = self.table.inode(c.node, c.stat);
        let open_fd = self.table.insert(Entry::File(c.file));
        Ok((encode(&OpenCreateAtResp { child, open_fd }), c.host_fd))
    }

    fn close(&mut self, req: CloseReq) -> Result<Reply, Errno> {
        // Like close(2) on many FDs: unknown ids are skipped, all known ones
        // are closed.
        for id in req.fds {
            self.table.entries.remove(&id);
        }
        empty()
    }

    fn fsync(&mut self, req: FSyncReq) -> Result<Reply, Errno> {
        let mut first_err = None;
        for id in req.fds {
            if let Err(e) = self.table.file(id).and_then(|f| self.backend.fsync(f)) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => empty(),
        }
    }

    fn pwrite(&mut self, req: PWriteReq) -> Result<Reply, Errno> {
        let file = self.table.file(req.fd)?;
        let count = self.backend.pwrite(file, req.offset, &req.data)?;
        reply(PWriteResp {
            count: count as u64,
        })
    }

    fn pread(&mut self, req: PReadReq) -> Result<Reply, Errno> {
        let file = self.table.file(req.fd)?;
        let limit = self.max_payload.saturating_sub(4);
        let data = self
            .backend
            .pread(file, req.offset, req.count.min(limit) as usize)?;
        reply(PReadResp { data })
    }

    fn mkdir_at(&mut self, req: MkdirAtReq) -> Result<Reply, Errno> {
        let name = Name::new(&req.name)?;
        let dir = self.table.node(req.dir)?;
        let (node, stat) = self
            .backend
            .mkdir(dir, name, req.mode, Owner::new(req.uid, req.gid))?;
        reply(InodeResp {
            inode: self.table.inode(node, stat),
        })
    }

    fn mknod_at(&mut self, req: MknodAtReq) -> Result<Reply, Errno> {
        let name = Name::new(&req.name)?;
        let dir = self.table.node(req.dir)?;
        let owner = Owner::new(req.uid, req.gid);
        let (node, stat) =
            self.backend
                .mknod(dir, name, req.mode, (req.major, req.minor), owner)?;
        reply(InodeResp {
            inode: self.table.inode(node, stat),
        })
    }

    fn symlink_at(&mut self, req: SymlinkAtReq) -> Result<Reply, Errno> {
        let name = Name::new(&req.name)?;
        if req.target.is_empty() || req.target.contains(&0) {
            return Err(Errno::INVAL);
        }
        let dir = self.table.node(req.dir)?;
        let owner = Owner::new(req.uid, req.gid);
        let (node, stat) = self.backend.symlink(dir, name, &req.target, owner)?;
        reply(InodeResp {
            inode: self.table.inode(node, stat),
        })
    }

    fn link_at(&mut self, req: LinkAtReq) -> Result<Reply, Errno> {
        let name = Name::new(&req.name)?;
        let dir = self.table.node(req.dir)?;
        let target = self.table.node(req.target)?;
        let (node, stat) = self.backend.link(dir, target, name)?;
        reply(InodeResp {
            inode: self.table.inode(node, stat),
        })
    }

    fn fstatfs(&mut self, req: FStatFsReq) -> Result<Reply, Errno> {
        reply(self.backend.statfs(self.table.node(req.fd)?)?)
    }

    fn fallocate(&mut self, req: FAllocateReq) -> Result<Reply, Errno> {
        let file = self.table.file(req.fd)?;
        self.backend
            .fallocate(file, req.mode, req.offset, req.length)?;
        empty()
    }

    fn readlink_at(&mut self, req: ReadLinkAtReq) -> Result<Reply, Errno> {
        let target = self.backend.readlink(self.table.node(req.fd)?)?;
        reply(ReadLinkAtResp { target })
    }

    fn flush(&mut self, req: FlushReq) -> Result<Reply, Errno> {
        self.backend.flush(self.table.file(req.fd)?)?;
        empty()
    }

    fn unlink_at(&mut self, req: UnlinkAtReq) -> Result<Reply, Errno> {
        let name = Name::new(&req.name)?;
        if req.flags & !(libc::AT_REMOVEDIR as u32) != 0 {
            return Err(Errno::INVAL);
        }
        self.backend
            .unlink(self.table.node(req.dir)?, name, req.flags)?;
        empty()
    }

    fn rename(
        &mut self,
        old_dir: FdId,
        old_name: &[u8],
        new_dir: FdId,
        new_name: &[u8],
        flags: u32,
    ) -> Result<Reply, Errno> {
        let (old_name, new_name) = (Name::new(old_name)?, Name::new(new_name)?);
        // RENAME_WHITEOUT creates device nodes; the sentry implements
        // whiteouts itself, so only these two are served.
        if flags & !(libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE) != 0 {
            return Err(Errno::INVAL);
        }
        let (old_dir, new_dir) = (self.table.node(old_dir)?, self.table.node(new_dir)?);
        self.backend
            .rename(old_dir, old_name, new_dir, new_name, flags)?;
        empty()
    }

    fn getdents64(&mut self, req: Getdents64Req) -> Result<Reply, Errno> {
        let file = self.table.file(req.fd)?;
        // Encoded entries are at most twice their dirent64 size, so half the
        // payload limit always fits.
        let count = (req.count as usize).min(self.max_payload as usize / 2);
        let dirents = self.backend.getdents64(file, count)?;
        reply(Getdents64Resp { dirents })
    }

    fn getxattr(&mut self, req: FGetXattrReq) -> Result<Reply, Errno> {
        let name = xattr_name(&req.name)?;
        let size = (req.size as usize).min(XATTR_SIZE_MAX);
        let value = self
            .backend
            .getxattr(self.table.node(req.fd)?, name, size)?;
        reply(FGetXattrResp { value })
    }

    fn setxattr(&mut self, req: FSetXattrReq) -> Result<Reply, Errno> {
        let name = xattr_name(&req.name)?;
        if req.value.len() > XATTR_SIZE_MAX {
            return Err(Errno::TOOBIG);
        }
        if req.flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) as u32 != 0 {
            return Err(Errno::INVAL);
        }
        self.backend
            .setxattr(self.table.node(req.fd)?, name, &req.value, req.flags)?;
        empty()
    }

    fn listxattr(&mut self, req: FListXattrReq) -> Result<Reply, Errno> {
        let size = (req.size as usize).min(XATTR_SIZE_MAX);
        let names = self.backend.listxattr(self.table.node(req.fd)?, size)?;
        reply(FListXattrResp { names })
    }

    fn removexattr(&mut self, req: FRemoveXattrReq) -> Result<Reply, Errno> {
        let name = xattr_name(&req.name)?;
        self.backend.removexattr(self.table.node(req.fd)?, name)?;
        empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b"] {
            assert_eq!(Name::new(bad).unwrap_err(), Errno::INVAL, "{bad:?}");
        }
        assert_eq!(Name::new(&[b'x'; 256]).unwrap_err(), Errno::NAMETOOLONG);
        assert!(Name::new(b"...").is_ok());
        assert!(Name::new(&[b'x'; 255]).is_ok());
    }
}
