//! Files and descriptors: open/close/read/write, stat, directories, links,
//! attributes, descriptor duplication and flags.

use super::{ctx_of, Args, Ctx, IO_CHUNK};
use crate::errno::{Errno, SysResult};
use crate::kernel::sched::SyscallFuture;
use crate::kernel::task::Task;
use crate::kernel::Kernel;
use crate::return_errno;
use crate::vfs::attr::{major, minor};
use crate::vfs::{
    Access, At, FileDescription, RenameFlags, SetAttr, Stat, TimeChange, Timespec, VfsPath,
};
use std::sync::Arc;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `struct stat` on x86-64.
#[derive(Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct LinuxStat {
    dev: u64,
    ino: u64,
    nlink: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    pad0: u32,
    rdev: u64,
    size: i64,
    blksize: i64,
    blocks: i64,
    atime: i64,
    atime_nsec: i64,
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
    unused: [i64; 3],
}

impl From<&Stat> for LinuxStat {
    fn from(s: &Stat) -> LinuxStat {
        LinuxStat {
            dev: s.dev,
            ino: s.ino,
            nlink: u64::from(s.nlink),
            mode: s.mode,
            uid: s.uid,
            gid: s.gid,
            rdev: s.rdev,
            size: s.size as i64,
            blksize: i64::from(s.blksize),
            blocks: s.blocks as i64,
            atime: s.atime.sec,
            atime_nsec: i64::from(s.atime.nsec),
            mtime: s.mtime.sec,
            mtime_nsec: i64::from(s.mtime.nsec),
            ctime: s.ctime.sec,
            ctime_nsec: i64::from(s.ctime.nsec),
            ..LinuxStat::default()
        }
    }
}

#[derive(Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct StatxTs {
    sec: i64,
    nsec: u32,
    pad: i32,
}

impl From<Timespec> for StatxTs {
    fn from(t: Timespec) -> StatxTs {
        StatxTs {
            sec: t.sec,
            nsec: t.nsec,
            pad: 0,
        }
    }
}

/// `struct statx`.
#[derive(Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct LinuxStatx {
    mask: u32,
    blksize: u32,
    attributes: u64,
    nlink: u32,
    uid: u32,
    gid: u32,
    mode: u16,
    pad0: u16,
    ino: u64,
    size: u64,
    blocks: u64,
    attributes_mask: u64,
    atime: StatxTs,
    btime: StatxTs,
    ctime: StatxTs,
    mtime: StatxTs,
    rdev_major: u32,
    rdev_minor: u32,
    dev_major: u32,
    dev_minor: u32,
    spare: [u64; 14],
}

/// `struct statfs`.
#[derive(Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct LinuxStatfs {
    fs_type: i64,
    bsize: i64,
    blocks: u64,
    bfree: u64,
    bavail: u64,
    files: u64,
    ffree: u64,
    fsid: [i32; 2],
    namelen: i64,
    frsize: i64,
    flags: i64,
    spare: [i64; 4],
}

/// Where an `*at` call's relative path starts.
fn dir_at(ctx: &Ctx<'_>, dirfd: i32) -> SysResult<Option<Arc<FileDescription>>> {
    if dirfd == libc::AT_FDCWD {
        return Ok(None);
    }
    Ok(Some(ctx.task.files.get(dirfd)?))
}

fn at_of(file: &Option<Arc<FileDescription>>) -> At<'_> {
    match file {
        Some(f) => At::Dir(f.path()),
        None => At::Cwd,
    }
}

fn nofile(ctx: &Ctx<'_>) -> u64 {
    ctx.task.group.state().rlimits[libc::RLIMIT_NOFILE as usize].0
}

fn install(ctx: &Ctx<'_>, file: Arc<FileDescription>, cloexec: bool) -> SysResult<i64> {
    ctx.task
        .files
        .insert(file, cloexec, 0, nofile(ctx))
        .map(i64::from)
}

/// `openat`: resolves and opens synchronously, then (for a FIFO opened
/// for one direction only) parks until the other side opens, as Linux does.
async fn do_open(
    kernel: Arc<Kernel>,
    task: Arc<Task>,
    dirfd: i32,
    path: u64,
    flags: u32,
    mode: u32,
) -> SysResult<i64> {
    let file = {
        let ctx = ctx_of(&kernel, &task);
        let path = ctx.path(path)?;
        let dir = dir_at(&ctx, dirfd)?;
        let cx = task.fs_context();
        cx.vfs.open(&cx, at_of(&dir), &path, flags, mode)?
    };
    loop {
        let listener = file.ops().event().map(|e| e.listen());
        match file.ops().try_complete_open() {
            Err(e) if e.errno == Errno::EAGAIN => match listener {
                Some(l) => l.await,
                None => return Err(e),
            },
            Err(e) => return Err(e),
            Ok(()) => break,
        }
    }
    crate::tty::opened(&kernel, &task, &file, flags);
    let ctx = ctx_of(&kernel, &task);
    install(&ctx, file, flags & libc::O_CLOEXEC as u32 != 0)
}

pub fn open(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(do_open(
        kernel,
        task,
        libc::AT_FDCWD,
        a.u64(0),
        a.u32(1),
        a.u32(2),
    ))
}

pub fn openat(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(do_open(kernel, task, a.fd(0), a.u64(1), a.u32(2), a.u32(3)))
}

pub fn creat(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    let flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32;
    Box::pin(do_open(
        kernel,
        task,
        libc::AT_FDCWD,
        a.u64(0),
        flags,
        a.u32(1),
    ))
}

pub fn close(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    ctx.task.files.remove(a.fd(0)).map(|_| 0)
}

pub fn close_range(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let (first, last, flags) = (a.u32(0), a.u32(1), a.u32(2));
    if first > last || flags & !(libc::CLOSE_RANGE_CLOEXEC | libc::CLOSE_RANGE_UNSHARE) != 0 {
        return_errno!(EINVAL);
    }
    let last = last.min(i32::MAX as u32) as i32;
    ctx.task
        .files
        .close_range(first as i32, last, flags & libc::CLOSE_RANGE_CLOEXEC != 0);
    Ok(0)
}

fn nonblocking(file: &FileDescription) -> bool {
    file.flags() & libc::O_NONBLOCK as u32 != 0
}

/// Reads into the caller's buffer, parking while the file has nothing to
/// read (for files that can block).
async fn read_into(
    kernel: Arc<Kernel>,
    task: Arc<Task>,
    file: Arc<FileDescription>,
    iov: Vec<(u64, usize)>,
) -> SysResult<i64> {
    let total: usize = iov.iter().map(|&(_, l)| l).sum::<usize>().min(IO_CHUNK);
    loop {
        let listener = file.ops().event().map(|e| e.listen());
        let mut buf = vec![0u8; total];
        match file.read(&mut buf) {
            Err(e) if e.errno == Errno::EAGAIN && !nonblocking(&file) && listener.is_some() => {
                if let Some(l) = listener {
                    l.await;
                }
            }
            Err(e) => return Err(e),
            Ok(n) => {
                let ctx = ctx_of(&kernel, &task);
                let mut done = 0;
                for &(addr, len) in &iov {
                    if done == n {
                        break;
                    }
                    let part = len.min(n - done);
                    ctx.write_bytes(addr, &buf[done..done + part])?;
                    done += part;
                }
                return Ok(n as i64);
            }
        }
    }
}

/// Writes the caller's buffers, parking while the file cannot take data.
async fn write_from(
    kernel: Arc<Kernel>,
    task: Arc<Task>,
    file: Arc<FileDescription>,
    iov: Vec<(u64, usize)>,
) -> SysResult<i64> {
    let data = {
        let ctx = ctx_of(&kernel, &task);
        let mut data = Vec::new();
        for &(addr, len) in &iov {
            let len = len.min(IO_CHUNK - data.len());
            data.extend(ctx.read_bytes(addr, len)?);
        }
        data
    };
    // A blocking write to a pipe takes everything, in as many pieces as
    // the reader makes room for.
    let mut done = 0;
    loop {
        let listener = file.ops().event().map(|e| e.listen());
        match file.write(&data[done..]) {
            Ok(n) => {
                done += n;
                if done == data.len() || nonblocking(&file) || listener.is_none() {
                    return Ok(done as i64);
                }
            }
            Err(e) if e.errno == Errno::EAGAIN && !nonblocking(&file) && listener.is_some() => {
                if let Some(l) = listener {
                    l.await;
                }
            }
            Err(_) if done > 0 => return Ok(done as i64),
            Err(e) => return Err(e),
        }
    }
}

fn read_iovec(
    kernel: &Arc<Kernel>,
    task: &Arc<Task>,
    addr: u64,
    count: usize,
) -> SysResult<Vec<(u64, usize)>> {
    if count > 1024 {
        return_errno!(EINVAL);
    }
    let ctx = ctx_of(kernel, task);
    let mut v = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let base: u64 = ctx.read(addr + i * 16)?;
        let len: u64 = ctx.read(addr + i * 16 + 8)?;
        if len > isize::MAX as u64 {
            return_errno!(EINVAL);
        }
        v.push((base, len as usize));
    }
    Ok(v)
}

pub fn read(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let file = task.files.get(a.fd(0))?;
        read_into(kernel, task, file, vec![(a.u64(1), a.usize(2))]).await
    })
}

pub fn write(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let file = task.files.get(a.fd(0))?;
        write_from(kernel, task, file, vec![(a.u64(1), a.usize(2))]).await
    })
}

pub fn readv(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let file = task.files.get(a.fd(0))?;
        let iov = read_iovec(&kernel, &task, a.u64(1), a.usize(2))?;
        read_into(kernel, task, file, iov).await
    })
}

pub fn writev(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let file = task.files.get(a.fd(0))?;
        let iov = read_iovec(&kernel, &task, a.u64(1), a.usize(2))?;
        write_from(kernel, task, file, iov).await
    })
}

pub fn pread64(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    if (a.u64(3) as i64) < 0 {
        return_errno!(EINVAL);
    }
    let mut buf = vec![0u8; a.usize(2).min(IO_CHUNK)];
    let n = file.pread(&mut buf, a.u64(3))?;
    ctx.write_bytes(a.u64(1), &buf[..n])?;
    Ok(n as i64)
}

pub fn pwrite64(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    if (a.u64(3) as i64) < 0 {
        return_errno!(EINVAL);
    }
    let data = ctx.read_bytes(a.u64(1), a.usize(2).min(IO_CHUNK))?;
    file.pwrite(&data, a.u64(3)).map(|n| n as i64)
}

pub fn lseek(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    file.seek(a.u64(1) as i64, a.i32(2)).map(|o| o as i64)
}

fn stat_path(ctx: &Ctx<'_>, dirfd: i32, path: u64, flags: i32) -> SysResult<Stat> {
    if flags
        & !(libc::AT_SYMLINK_NOFOLLOW
            | libc::AT_EMPTY_PATH
            | libc::AT_NO_AUTOMOUNT
            | libc::AT_STATX_SYNC_TYPE)
        != 0
    {
        return_errno!(EINVAL);
    }
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return_errno!(ENOENT);
        }
        return match dir {
            Some(f) => f.stat(),
            None => crate::vfs::stat_of(&ctx.task.fs_context().cwd),
        };
    }
    let cx = ctx.task.fs_context();
    cx.vfs.stat(
        &cx,
        at_of(&dir),
        &path,
        flags & libc::AT_SYMLINK_NOFOLLOW == 0,
    )
}

pub fn stat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let st = stat_path(ctx, libc::AT_FDCWD, a.u64(0), 0)?;
    ctx.write(a.u64(1), &LinuxStat::from(&st)).map(|_| 0)
}

pub fn lstat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let st = stat_path(ctx, libc::AT_FDCWD, a.u64(0), libc::AT_SYMLINK_NOFOLLOW)?;
    ctx.write(a.u64(1), &LinuxStat::from(&st)).map(|_| 0)
}

pub fn fstat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let st = ctx.task.files.get(a.fd(0))?.stat()?;
    ctx.write(a.u64(1), &LinuxStat::from(&st)).map(|_| 0)
}

pub fn newfstatat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let st = stat_path(ctx, a.fd(0), a.u64(1), a.i32(3))?;
    ctx.write(a.u64(2), &LinuxStat::from(&st)).map(|_| 0)
}

pub fn statx(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let st = stat_path(ctx, a.fd(0), a.u64(1), a.i32(2))?;
    let x = LinuxStatx {
        mask: st.mask,
        blksize: st.blksize,
        attributes: st.attributes,
        nlink: st.nlink,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode as u16,
        ino: st.ino,
        size: st.size,
        blocks: st.blocks,
        atime: st.atime.into(),
        btime: st.btime.into(),
        ctime: st.ctime.into(),
        mtime: st.mtime.into(),
        rdev_major: major(st.rdev),
        rdev_minor: minor(st.rdev),
        dev_major: major(st.dev),
        dev_minor: minor(st.dev),
        ..LinuxStatx::default()
    };
    ctx.write(a.u64(4), &x).map(|_| 0)
}

fn write_statfs(ctx: &Ctx<'_>, addr: u64, s: &crate::vfs::StatFs) -> SysResult<i64> {
    let out = LinuxStatfs {
        fs_type: s.fs_type as i64,
        bsize: s.block_size,
        blocks: s.blocks,
        bfree: s.blocks_free,
        bavail: s.blocks_available,
        files: s.files,
        ffree: s.files_free,
        namelen: s.name_length as i64,
        frsize: s.fragment_size,
        flags: s.flags as i64,
        ..LinuxStatfs::default()
    };
    ctx.write(addr, &out).map(|_| 0)
}

pub fn statfs(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let path = ctx.path(a.u64(0))?;
    let cx = ctx.task.fs_context();
    let s = cx.vfs.statfs(&cx, At::Cwd, &path)?;
    write_statfs(ctx, a.u64(1), &s)
}

pub fn fstatfs(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    let s = crate::vfs::Vfs::statfs_at(file.path())?;
    write_statfs(ctx, a.u64(1), &s)
}

pub fn getdents64(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    let max = a.usize(2).min(IO_CHUNK);
    let ents = file.getdents(max)?;
    if ents.is_empty() && max > 0 && file.offset() == 0 {
        return Ok(0);
    }
    let mut out = Vec::with_capacity(max);
    for e in &ents {
        let reclen = crate::vfs::file::dirent64_size(e.name.len());
        out.extend_from_slice(&e.ino.to_ne_bytes());
        out.extend_from_slice(&(e.next_off as i64).to_ne_bytes());
        out.extend_from_slice(&(reclen as u16).to_ne_bytes());
        out.push(e.kind);
        out.extend_from_slice(&e.name);
        out.resize(out.len() + reclen - 19 - e.name.len(), 0);
    }
    if out.is_empty() && !ents.is_empty() {
        return_errno!(EINVAL);
    }
    ctx.write_bytes(a.u64(1), &out)?;
    Ok(out.len() as i64)
}

fn do_access(ctx: &Ctx<'_>, dirfd: i32, path: u64, mode: u32, flags: i32) -> SysResult<i64> {
    if mode & !7 != 0
        || flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0
    {
        return_errno!(EINVAL);
    }
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    let cx = ctx.task.fs_context();
    cx.vfs
        .access(&cx, at_of(&dir), &path, Access(mode))
        .map(|_| 0)
}

pub fn access(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_access(ctx, libc::AT_FDCWD, a.u64(0), a.u32(1), 0)
}

pub fn faccessat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_access(ctx, a.fd(0), a.u64(1), a.u32(2), 0)
}

pub fn faccessat2(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_access(ctx, a.fd(0), a.u64(1), a.u32(2), a.i32(3))
}

pub fn dup(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    install(ctx, file, false)
}

fn dup_to(ctx: &Ctx<'_>, old: i32, new: i32, cloexec: bool) -> SysResult<i64> {
    let file = ctx.task.files.get(old)?;
    let replaced = ctx.task.files.insert_at(new, file, cloexec, nofile(ctx))?;
    drop(replaced);
    Ok(i64::from(new))
}

pub fn dup2(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    if a.fd(0) == a.fd(1) {
        ctx.task.files.get(a.fd(0))?;
        return Ok(i64::from(a.fd(1)));
    }
    dup_to(ctx, a.fd(0), a.fd(1), false)
}

pub fn dup3(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let flags = a.i32(2);
    if a.fd(0) == a.fd(1) || flags & !libc::O_CLOEXEC != 0 {
        return_errno!(EINVAL);
    }
    dup_to(ctx, a.fd(0), a.fd(1), flags & libc::O_CLOEXEC != 0)
}

pub fn fcntl(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let fd = a.fd(0);
    let files = &ctx.task.files;
    match a.i32(1) {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let min = a.i32(2);
            if min < 0 || min as u64 >= nofile(ctx) {
                return_errno!(EINVAL);
            }
            let file = files.get(fd)?;
            let cloexec = a.i32(1) == libc::F_DUPFD_CLOEXEC;
            files.insert(file, cloexec, min, nofile(ctx)).map(i64::from)
        }
        libc::F_GETFD => Ok(if files.entry(fd)?.cloexec {
            libc::FD_CLOEXEC as i64
        } else {
            0
        }),
        libc::F_SETFD => files
            .set_cloexec(fd, a.i32(2) & libc::FD_CLOEXEC != 0)
            .map(|_| 0),
        libc::F_GETFL => Ok(i64::from(files.get(fd)?.flags())),
        libc::F_SETFL => {
            files.get(fd)?.set_status_flags(a.u32(2));
            Ok(0)
        }
        // Record locks always succeed: one sandbox is the only user of
        // its files, and advisory locks between its own processes are
        // not tracked yet.
        libc::F_GETLK => {
            files.get(fd)?;
            // l_type = F_UNLCK: nothing holds a conflicting lock.
            ctx.write(a.u64(2), &(libc::F_UNLCK as i16)).map(|_| 0)
        }
        libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            files.get(fd).map(|_| 0)
        }
        _ => return_errno!(EINVAL),
    }
}

pub fn ioctl(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    match a.u32(1) as u64 {
        libc::FIONBIO => {
            let on: i32 = ctx.read(a.u64(2))?;
            let flags = file.flags() & !(libc::O_NONBLOCK as u32);
            file.set_status_flags(if on != 0 {
                flags | libc::O_NONBLOCK as u32
            } else {
                flags
            });
            Ok(0)
        }
        libc::FIOCLEX => ctx.task.files.set_cloexec(a.fd(0), true).map(|_| 0),
        libc::FIONCLEX => ctx.task.files.set_cloexec(a.fd(0), false).map(|_| 0),
        req => crate::tty::ioctl(ctx, &file, req, a.u64(2)),
    }
}

pub fn getcwd(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let cx = ctx.task.fs_context();
    let mut path = cx.vfs.path_of(&cx.root, &cx.cwd);
    path.push(0);
    if path.len() > a.usize(1) {
        return_errno!(ERANGE);
    }
    ctx.write_bytes(a.u64(0), &path)?;
    Ok(path.len() as i64)
}

fn set_cwd(ctx: &Ctx<'_>, p: VfsPath) {
    ctx.task.fs_lock().cwd = p;
}

pub fn chdir(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let path = ctx.path(a.u64(0))?;
    let cx = ctx.task.fs_context();
    let p = cx.vfs.lookup_dir(&cx, At::Cwd, &path)?;
    set_cwd(ctx, p);
    Ok(0)
}

pub fn fchdir(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    let cx = ctx.task.fs_context();
    let p = cx.vfs.lookup_dir(&cx, At::Dir(file.path()), b".")?;
    set_cwd(ctx, p);
    Ok(0)
}

pub fn chroot(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let cx = ctx.task.fs_context();
    if !cx.creds.caps.has(crate::vfs::Capability::SysChroot) {
        return_errno!(EPERM);
    }
    let path = ctx.path(a.u64(0))?;
    let p = cx.vfs.lookup_dir(&cx, At::Cwd, &path)?;
    ctx.task.fs_lock().root = p;
    Ok(0)
}

fn do_mkdir(ctx: &Ctx<'_>, dirfd: i32, path: u64, mode: u32) -> SysResult<i64> {
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    let cx = ctx.task.fs_context();
    cx.vfs.mkdir(&cx, at_of(&dir), &path, mode).map(|_| 0)
}

pub fn mkdir(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_mkdir(ctx, libc::AT_FDCWD, a.u64(0), a.u32(1))
}

pub fn mkdirat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_mkdir(ctx, a.fd(0), a.u64(1), a.u32(2))
}

fn do_mknod(ctx: &Ctx<'_>, dirfd: i32, path: u64, mode: u32, dev: u64) -> SysResult<i64> {
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    // The device number as the kernel's new_decode_dev reads a u32.
    let dev = dev as u32;
    let rdev =
        crate::vfs::attr::makedev((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
    let cx = ctx.task.fs_context();
    cx.vfs.mknod(&cx, at_of(&dir), &path, mode, rdev).map(|_| 0)
}

pub fn mknod(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_mknod(ctx, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u64(2))
}

pub fn mknodat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_mknod(ctx, a.fd(0), a.u64(1), a.u32(2), a.u64(3))
}

/// `unlinkat`, and `unlink`/`rmdir` as its `AT_FDCWD` forms.
fn do_unlink(ctx: &Ctx<'_>, dirfd: i32, path: u64, flags: i32) -> SysResult<i64> {
    if flags & !libc::AT_REMOVEDIR != 0 {
        return_errno!(EINVAL);
    }
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    let cx = ctx.task.fs_context();
    if flags & libc::AT_REMOVEDIR != 0 {
        cx.vfs.rmdir(&cx, at_of(&dir), &path).map(|_| 0)
    } else {
        cx.vfs.unlink(&cx, at_of(&dir), &path).map(|_| 0)
    }
}

pub fn rmdir(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_unlink(ctx, libc::AT_FDCWD, a.u64(0), libc::AT_REMOVEDIR)
}

pub fn unlink(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_unlink(ctx, libc::AT_FDCWD, a.u64(0), 0)
}

pub fn unlinkat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_unlink(ctx, a.fd(0), a.u64(1), a.i32(2))
}

fn do_rename(
    ctx: &Ctx<'_>,
    olddir: i32,
    old: u64,
    newdir: i32,
    new: u64,
    flags: u32,
) -> SysResult<i64> {
    let (old, new) = (ctx.path(old)?, ctx.path(new)?);
    let (od, nd) = (dir_at(ctx, olddir)?, dir_at(ctx, newdir)?);
    let flags = RenameFlags::from_raw(flags)?;
    let cx = ctx.task.fs_context();
    cx.vfs
        .rename(&cx, (at_of(&od), &old), (at_of(&nd), &new), flags)
        .map(|_| 0)
}

pub fn rename(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_rename(ctx, libc::AT_FDCWD, a.u64(0), libc::AT_FDCWD, a.u64(1), 0)
}

pub fn renameat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_rename(ctx, a.fd(0), a.u64(1), a.fd(2), a.u64(3), 0)
}

pub fn renameat2(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_rename(ctx, a.fd(0), a.u64(1), a.fd(2), a.u64(3), a.u32(4))
}

fn do_link(
    ctx: &Ctx<'_>,
    olddir: i32,
    old: u64,
    newdir: i32,
    new: u64,
    flags: i32,
) -> SysResult<i64> {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return_errno!(EINVAL);
    }
    let (old, new) = (ctx.path(old)?, ctx.path(new)?);
    let (od, nd) = (dir_at(ctx, olddir)?, dir_at(ctx, newdir)?);
    let cx = ctx.task.fs_context();
    cx.vfs
        .link(
            &cx,
            (at_of(&od), &old),
            (at_of(&nd), &new),
            flags & libc::AT_SYMLINK_FOLLOW != 0,
        )
        .map(|_| 0)
}

pub fn link(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_link(ctx, libc::AT_FDCWD, a.u64(0), libc::AT_FDCWD, a.u64(1), 0)
}

pub fn linkat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_link(ctx, a.fd(0), a.u64(1), a.fd(2), a.u64(3), a.i32(4))
}

fn do_symlink(ctx: &Ctx<'_>, target: u64, dirfd: i32, path: u64) -> SysResult<i64> {
    let target = ctx.path(target)?;
    if target.is_empty() {
        return_errno!(ENOENT);
    }
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    let cx = ctx.task.fs_context();
    cx.vfs.symlink(&cx, &target, at_of(&dir), &path).map(|_| 0)
}

pub fn symlink(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_symlink(ctx, a.u64(0), libc::AT_FDCWD, a.u64(1))
}

pub fn symlinkat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_symlink(ctx, a.u64(0), a.fd(1), a.u64(2))
}

fn do_readlink(ctx: &Ctx<'_>, dirfd: i32, path: u64, buf: u64, size: usize) -> SysResult<i64> {
    if (size as i64) <= 0 {
        return_errno!(EINVAL);
    }
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    let cx = ctx.task.fs_context();
    let target = cx.vfs.readlink(&cx, at_of(&dir), &path)?;
    let n = target.len().min(size);
    ctx.write_bytes(buf, &target[..n])?;
    Ok(n as i64)
}

pub fn readlink(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_readlink(ctx, libc::AT_FDCWD, a.u64(0), a.u64(1), a.usize(2))
}

pub fn readlinkat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_readlink(ctx, a.fd(0), a.u64(1), a.u64(2), a.usize(3))
}

fn setattr_path(
    ctx: &Ctx<'_>,
    dirfd: i32,
    path: u64,
    follow: bool,
    attr: &SetAttr,
) -> SysResult<i64> {
    let path = ctx.path(path)?;
    let dir = dir_at(ctx, dirfd)?;
    let cx = ctx.task.fs_context();
    cx.vfs
        .setattr(&cx, at_of(&dir), &path, follow, attr)
        .map(|_| 0)
}

fn setattr_fd(ctx: &Ctx<'_>, fd: i32, attr: &SetAttr, via_fd: bool) -> SysResult<i64> {
    let file = ctx.task.files.get(fd)?;
    let cx = ctx.task.fs_context();
    cx.vfs.setattr_at(&cx, file.path(), attr, via_fd).map(|_| 0)
}

fn mode_attr(mode: u32) -> SetAttr {
    SetAttr {
        mode: Some(mode & 0o7777),
        ..SetAttr::default()
    }
}

pub fn chmod(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_path(ctx, libc::AT_FDCWD, a.u64(0), true, &mode_attr(a.u32(1)))
}

pub fn fchmod(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_fd(ctx, a.fd(0), &mode_attr(a.u32(1)), false)
}

pub fn fchmodat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_path(ctx, a.fd(0), a.u64(1), true, &mode_attr(a.u32(2)))
}

fn owner_attr(uid: u32, gid: u32) -> SetAttr {
    SetAttr {
        uid: (uid != u32::MAX).then_some(uid),
        gid: (gid != u32::MAX).then_some(gid),
        ..SetAttr::default()
    }
}

pub fn chown(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_path(
        ctx,
        libc::AT_FDCWD,
        a.u64(0),
        true,
        &owner_attr(a.u32(1), a.u32(2)),
    )
}

pub fn lchown(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_path(
        ctx,
        libc::AT_FDCWD,
        a.u64(0),
        false,
        &owner_attr(a.u32(1), a.u32(2)),
    )
}

pub fn fchown(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_fd(ctx, a.fd(0), &owner_attr(a.u32(1), a.u32(2)), false)
}

pub fn fchownat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let flags = a.i32(4);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return_errno!(EINVAL);
    }
    let attr = owner_attr(a.u32(2), a.u32(3));
    if flags & libc::AT_EMPTY_PATH != 0 && ctx.path(a.u64(1))?.is_empty() {
        return setattr_fd(ctx, a.fd(0), &attr, false);
    }
    setattr_path(
        ctx,
        a.fd(0),
        a.u64(1),
        flags & libc::AT_SYMLINK_NOFOLLOW == 0,
        &attr,
    )
}

fn time_change(ctx: &Ctx<'_>, addr: u64, i: u64) -> SysResult<Option<TimeChange>> {
    if addr == 0 {
        return Ok(Some(TimeChange::Now));
    }
    let sec: i64 = ctx.read(addr + i * 16)?;
    let nsec: i64 = ctx.read(addr + i * 16 + 8)?;
    match nsec {
        libc::UTIME_NOW => Ok(Some(TimeChange::Now)),
        libc::UTIME_OMIT => Ok(None),
        0..=999_999_999 => Ok(Some(TimeChange::At(Timespec {
            sec,
            nsec: nsec as u32,
        }))),
        _ => return_errno!(EINVAL),
    }
}

pub fn utimensat(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let flags = a.i32(3);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return_errno!(EINVAL);
    }
    let attr = SetAttr {
        atime: time_change(ctx, a.u64(2), 0)?,
        mtime: time_change(ctx, a.u64(2), 1)?,
        ..SetAttr::default()
    };
    // A NULL path is futimens(fd).
    if a.u64(1) == 0 {
        return setattr_fd(ctx, a.fd(0), &attr, false);
    }
    setattr_path(
        ctx,
        a.fd(0),
        a.u64(1),
        flags & libc::AT_SYMLINK_NOFOLLOW == 0,
        &attr,
    )
}

fn size_attr(size: u64) -> SysResult<SetAttr> {
    if (size as i64) < 0 {
        return_errno!(EINVAL);
    }
    Ok(SetAttr {
        size: Some(size),
        ..SetAttr::default()
    })
}

pub fn truncate(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    setattr_path(ctx, libc::AT_FDCWD, a.u64(0), true, &size_attr(a.u64(1))?)
}

pub fn ftruncate(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let file = ctx.task.files.get(a.fd(0))?;
    if !file.writable() {
        return_errno!(EINVAL);
    }
    setattr_fd(ctx, a.fd(0), &size_attr(a.u64(1))?, true)
}

pub fn fsync(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    ctx.task.files.get(a.fd(0))?.fsync().map(|_| 0)
}

pub fn sync(_ctx: &Ctx<'_>, _a: &Args) -> SysResult<i64> {
    // Data reaches the host through the gofer as it is written.
    Ok(0)
}

pub fn umask(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let mut cx = ctx.task.fs_lock();
    let old = cx.umask;
    cx.umask = a.u32(0) & 0o777;
    Ok(i64::from(old))
}

fn do_pipe(ctx: &Ctx<'_>, addr: u64, flags: u32) -> SysResult<i64> {
    if flags & !((libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) as u32) != 0 {
        return_errno!(EINVAL);
    }
    let creds = ctx.task.fs_lock().creds.clone();
    let (r, w) = crate::vfs::pipe::new_pipe(flags, creds.uid, creds.gid)?;
    let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
    let rfd = install(ctx, r, cloexec)?;
    let wfd = match install(ctx, w, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.task.files.remove(rfd as i32);
            return Err(e);
        }
    };
    if let Err(e) = ctx.write(addr, &[rfd as i32, wfd as i32]) {
        let _ = ctx.task.files.remove(rfd as i32);
        let _ = ctx.task.files.remove(wfd as i32);
        return Err(e);
    }
    Ok(0)
}

pub fn pipe(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_pipe(ctx, a.u64(0), 0)
}

pub fn pipe2(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    do_pipe(ctx, a.u64(0), a.u32(1))
}
