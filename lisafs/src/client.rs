//! The client half: the calls the sentry makes on one mount's connection.
//!
//! Every call is one request and one response on the socket, serialized by a
//! lock. Errors are `Errno`s as the application will see them; anything the
//! server does wrong (bad framing, a malformed response, unexpected FDs) is
//! logged, breaks the connection for good, and surfaces as `EIO`.

use crate::message::*;
use crate::transport::{payload, Socket};
use rustix::io::Errno;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

struct Conn {
    sock: Socket,
    buf: Vec<u8>,
}

/// A mounted lisafs connection.
pub struct Client {
    conn: Mutex<Conn>,
    broken: AtomicBool,
    /// Largest payload both directions can carry on this connection.
    max_payload: u32,
    supported: Vec<Mid>,
}

/// What `Client::mount` returns: the connection, the mount root, and the
/// root's host FD when directfs was asked for and granted.
pub struct Mounted {
    pub client: Client,
    pub root: Inode,
    pub root_host_fd: Option<OwnedFd>,
}

/// Whether a response may carry an FD.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Donation {
    None,
    Optional,
}

/// Bytes of a PWrite request besides the data.
const PWRITE_OVERHEAD: u32 = 8 + 8 + 4;
/// Bytes of a PRead response besides the data.
const PREAD_OVERHEAD: u32 = 4;

impl Client {
    /// Performs the Mount handshake on a fresh connection.
    pub fn mount(sock: Socket, directfs: bool) -> Result<Mounted, Errno> {
        let own_max = sock.max_payload();
        let mut client = Client {
            conn: Mutex::new(Conn {
                sock,
                buf: Vec::new(),
            }),
            broken: AtomicBool::new(false),
            max_payload: own_max,
            supported: Vec::new(),
        };
        let flags = if directfs { MOUNT_DIRECTFS } else { 0 };
        let (resp, fd) = client.call(&MountReq { flags }, Donation::Optional)?;
        if fd.is_some() && !directfs {
            return Err(client.protocol_error("server donated an FD that was not asked for"));
        }
        client.max_payload = own_max.min(resp.max_message_size);
        client.supported = resp
            .supported
            .iter()
            .filter_map(|&m| Mid::from_u16(m))
            .collect();
        Ok(Mounted {
            client,
            root: resp.root,
            root_host_fd: fd,
        })
    }

    /// Whether the server serves message `mid`.
    pub fn supports(&self, mid: Mid) -> bool {
        self.supported.contains(&mid)
    }

    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    fn protocol_error(&self, what: &str) -> Errno {
        tracing::warn!("lisafs: protocol error from server: {what}; connection closed");
        self.broken.store(true, Ordering::Release);
        Errno::IO
    }

    fn call<R: Request>(
        &self,
        req: &R,
        donation: Donation,
    ) -> Result<(R::Response, Option<OwnedFd>), Errno> {
        if self.broken.load(Ordering::Acquire) {
            return Err(Errno::IO);
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let Conn { sock, buf } = &mut *conn;
        if let Err(e) = sock.send(R::MID as u16, &encode(req), &[]) {
            return Err(self.protocol_error(&format!("send {:?}: {e}", R::MID)));
        }
        let got = match sock.recv(buf) {
            Ok(got) => got,
            Err(e) => {
                return Err(self.protocol_error(&format!("receive {:?} response: {e}", R::MID)))
            }
        };
        let body = payload(buf, &got);
        let mut fds = got.fds;
        if got.mid == Mid::Error as u16 {
            if !fds.is_empty() {
                return Err(self.protocol_error("FDs with an error response"));
            }
            return match decode_exact::<ErrorResp>(body) {
                // An errno outside the kernel's range would be meaningless to
                // the application; treat it as the server misbehaving.
                Ok(e) if (1..4096).contains(&e.errno) => {
                    Err(Errno::from_raw_os_error(e.errno as i32))
                }
                _ => Err(self.protocol_error("malformed error response")),
            };
        }
        if got.mid != R::MID as u16 {
            return Err(self.protocol_error(&format!("response id {} to {:?}", got.mid, R::MID)));
        }
        let allowed = if donation == Donation::Optional { 1 } else { 0 };
        if fds.len() > allowed {
            return Err(self.protocol_error(&format!(
                "{} FDs with {:?} response",
                fds.len(),
                R::MID
            )));
        }
        match decode_exact::<R::Response>(body) {
            Ok(resp) => Ok((resp, fds.pop())),
            Err(e) => Err(self.protocol_error(&format!("{:?} response: {e}", R::MID))),
        }
    }

    fn call_plain<R: Request>(&self, req: &R) -> Result<R::Response, Errno> {
        self.call(req, Donation::None).map(|(r, _)| r)
    }

    pub fn fstat(&self, fd: FdId) -> Result<Statx, Errno> {
        self.call_plain(&FStatReq { fd })
    }

    pub fn set_stat(&self, req: &SetStatReq) -> Result<SetStatResp, Errno> {
        self.call_plain(req)
    }

    /// Walks `path` (single components) from `dir`. The walk stops at a
    /// symlink (status `WALK_COMPONENT_SYMLINK`, its inode last) or at a
    /// missing component (`WALK_COMPONENT_DOES_NOT_EXIST`).
    pub fn walk(&self, dir: FdId, path: &[&[u8]]) -> Result<WalkResp, Errno> {
        let resp = self.call_plain(&WalkReq {
            dir,
            path: path.iter().map(|c| c.to_vec()).collect(),
        })?;
        if resp.inodes.len() > path.len() || resp.status > WALK_COMPONENT_SYMLINK {
            return Err(self.protocol_error("walk response does not match the request"));
        }
        Ok(resp)
    }

    /// Stats each component of `path` from `dir`; with `include_dir`, the
    /// first stat is that of `dir` itself.
    pub fn walk_stat(
        &self,
        dir: FdId,
        path: &[&[u8]],
        include_dir: bool,
    ) -> Result<Vec<Statx>, Errno> {
        let mut comps: Vec<Vec<u8>> = Vec::with_capacity(path.len() + 1);
        if include_dir {
            comps.push(Vec::new());
        }
        comps.extend(path.iter().map(|c| c.to_vec()));
        let n = comps.len();
        let resp = self.call_plain(&WalkStatReq { dir, path: comps })?;
        if resp.stats.len() > n {
            return Err(self.protocol_error("walk-stat response longer than the path"));
        }
        Ok(resp.stats)
    }

    /// Opens the file behind control FD `fd`; for regular files the server
    /// also donates the opened host FD.
    pub fn open_at(&self, fd: FdId, flags: u32) -> Result<(FdId, Option<OwnedFd>), Errno> {
        let (resp, host) = self.call(&OpenAtReq { fd, flags }, Donation::Optional)?;
        Ok((resp.open_fd, host))
    }

    pub fn open_create_at(
        &self,
        dir: FdId,
        name: &[u8],
        flags: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(Inode, FdId, Option<OwnedFd>), Errno> {
        let req = OpenCreateAtReq {
            dir,
            mode,
            uid,
            gid,
            flags,
            name: name.to_vec(),
        };
        let (resp, host) = self.call(&req, Donation::Optional)?;
        Ok((resp.child, resp.open_fd, host))
    }

    pub fn close(&self, fds: &[FdId]) -> Result<(), Errno> {
        // Split so that any number of FDs fits the message limit.
        for chunk in fds.chunks(self.max_fd_ids()) {
            self.call_plain(&CloseReq {
                fds: chunk.to_vec(),
            })?;
        }
        Ok(())
    }

    pub fn fsync(&self, fds: &[FdId]) -> Result<(), Errno> {
        for chunk in fds.chunks(self.max_fd_ids()) {
            self.call_plain(&FSyncReq {
                fds: chunk.to_vec(),
            })?;
        }
        Ok(())
    }

    fn max_fd_ids(&self) -> usize {
        (self.max_payload as usize - 4) / size_of::<FdId>()
    }

    /// Writes all of `data` at `offset`, in as many messages as the limit
    /// needs; returns the bytes written (short only if the server wrote
    /// short, as `pwrite(2)` may).
    pub fn pwrite(&self, fd: FdId, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let chunk = (self.max_payload - PWRITE_OVERHEAD) as usize;
        let mut done = 0usize;
        while done < data.len() || data.is_empty() {
            let part = &data[done..data.len().min(done + chunk)];
            let resp = self.call_plain(&PWriteReq {
                fd,
                offset: offset + done as u64,
                data: part.to_vec(),
            });
            let count = match resp {
                Ok(r) if r.count as usize <= part.len() => r.count as usize,
                Ok(_) => return Err(self.protocol_error("pwrite wrote more than it was sent")),
                Err(e) if done > 0 => {
                    tracing::debug!("lisafs: pwrite failed after {done} bytes: {e}");
                    return Ok(done);
                }
                Err(e) => return Err(e),
            };
            done += count;
            if count < part.len() || data.is_empty() {
                break;
            }
        }
        Ok(done)
    }

    /// Reads up to `count` bytes at `offset` with one message; a short read
    /// means end of file or the message limit, as with `pread(2)`.
    pub fn pread(&self, fd: FdId, offset: u64, count: u32) -> Result<Vec<u8>, Errno> {
        let count = count.min(self.max_payload - PREAD_OVERHEAD);
        let resp = self.call_plain(&PReadReq { fd, offset, count })?;
        if resp.data.len() > count as usize {
            return Err(self.protocol_error("pread returned more than asked"));
        }
        Ok(resp.data)
    }

    pub fn mkdir_at(
        &self,
        dir: FdId,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Inode, Errno> {
        let req = MkdirAtReq {
            dir,
            mode,
            uid,
            gid,
            name: name.to_vec(),
        };
        Ok(self.call_plain(&req)?.inode)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mknod_at(
        &self,
        dir: FdId,
        name: &[u8],
        mode: u32,
        major: u32,
        minor: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Inode, Errno> {
        let req = MknodAtReq {
            dir,
            mode,
            uid,
            gid,
            major,
            minor,
            name: name.to_vec(),
        };
        Ok(self.call_plain(&req)?.inode)
    }

    pub fn symlink_at(
        &self,
        dir: FdId,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<Inode, Errno> {
        let req = SymlinkAtReq {
            dir,
            uid,
            gid,
            name: name.to_vec(),
            target: target.to_vec(),
        };
        Ok(self.call_plain(&req)?.inode)
    }

    pub fn link_at(&self, dir: FdId, target: FdId, name: &[u8]) -> Result<Inode, Errno> {
        let req = LinkAtReq {
            dir,
            target,
            name: name.to_vec(),
        };
        Ok(self.call_plain(&req)?.inode)
    }

    pub fn fstatfs(&self, fd: FdId) -> Result<StatFs, Errno> {
        self.call_plain(&FStatFsReq { fd })
    }

    pub fn fallocate(&self, fd: FdId, mode: u32, offset: u64, length: u64) -> Result<(), Errno> {
        self.call_plain(&FAllocateReq {
            fd,
            mode,
            offset,
            length,
        })
        .map(drop)
    }

    pub fn readlink_at(&self, fd: FdId) -> Result<Vec<u8>, Errno> {
        Ok(self.call_plain(&ReadLinkAtReq { fd })?.target)
    }

    pub fn flush(&self, fd: FdId) -> Result<(), Errno> {
        self.call_plain(&FlushReq { fd }).map(drop)
    }

    pub fn unlink_at(&self, dir: FdId, name: &[u8], flags: u32) -> Result<(), Errno> {
        self.call_plain(&UnlinkAtReq {
            dir,
            flags,
            name: name.to_vec(),
        })
        .map(drop)
    }

    pub fn rename_at(
        &self,
        old_dir: FdId,
        old_name: &[u8],
        new_dir: FdId,
        new_name: &[u8],
    ) -> Result<(), Errno> {
        self.call_plain(&RenameAtReq {
            old_dir,
            new_dir,
            old_name: old_name.to_vec(),
            new_name: new_name.to_vec(),
        })
        .map(drop)
    }

    pub fn rename_at2(
        &self,
        old_dir: FdId,
        old_name: &[u8],
        new_dir: FdId,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        self.call_plain(&RenameAt2Req {
            old_dir,
            new_dir,
            old_name: old_name.to_vec(),
            new_name: new_name.to_vec(),
            flags,
        })
        .map(drop)
    }

    /// Reads directory entries from open FD `fd`, at most `count` bytes of
    /// them in `linux_dirent64` form; an empty result means the end.
    pub fn getdents64(&self, fd: FdId, count: u32) -> Result<Vec<Dirent64>, Errno> {
        Ok(self.call_plain(&Getdents64Req { fd, count })?.dirents)
    }

    pub fn getxattr(&self, fd: FdId, name: &[u8], size: u32) -> Result<Vec<u8>, Errno> {
        let value = self
            .call_plain(&FGetXattrReq {
                fd,
                size,
                name: name.to_vec(),
            })?
            .value;
        if size != 0 && value.len() > size as usize {
            return Err(self.protocol_error("xattr value longer than asked"));
        }
        Ok(value)
    }

    pub fn setxattr(&self, fd: FdId, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        self.call_plain(&FSetXattrReq {
            fd,
            flags,
            name: name.to_vec(),
            value: value.to_vec(),
        })
        .map(drop)
    }

    pub fn listxattr(&self, fd: FdId, size: u64) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(self.call_plain(&FListXattrReq { fd, size })?.names)
    }

    pub fn removexattr(&self, fd: FdId, name: &[u8]) -> Result<(), Errno> {
        self.call_plain(&FRemoveXattrReq {
            fd,
            name: name.to_vec(),
        })
        .map(drop)
    }
}
