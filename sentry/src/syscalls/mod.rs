//! The system call layer: one table with an entry per x86-64 system call
//! (its name, handler and support level), argument decoding at the edge,
//! and the path from a trapped call to its answer (with `--strace`).
//!
//! Handlers are plain functions over a [`Ctx`] (the kernel, the calling task
//! and its memory) and the raw [`Args`], grouped by family: [`fs`] (files
//! and descriptors), [`process`] (ids, exit, wait, signals), [`info`]
//! (uname, limits, time-independent system information). A call that may
//! block is an `async` handler; see [`crate::kernel::sched`].
#![deny(unsafe_code)]

mod fs;
mod info;
mod process;

use crate::errno::{Errno, SysError, SysResult};
use crate::kernel::sched::{Parked, SyscallFuture};
use crate::kernel::task::Task;
use crate::kernel::Kernel;
use crate::platform::{Memory, Reply, SyscallTrap};
use crate::return_errno;
use std::sync::Arc;
use syscalls::Sysno;

/// The six argument registers of a call.
#[derive(Clone, Copy, Debug)]
pub struct Args(pub [u64; 6]);

impl Args {
    pub fn u64(&self, i: usize) -> u64 {
        self.0[i]
    }

    pub fn usize(&self, i: usize) -> usize {
        self.0[i] as usize
    }

    /// A 32-bit argument (an `int` or `unsigned int` in C).
    pub fn i32(&self, i: usize) -> i32 {
        self.0[i] as i32
    }

    pub fn u32(&self, i: usize) -> u32 {
        self.0[i] as u32
    }

    /// A file descriptor argument.
    pub fn fd(&self, i: usize) -> i32 {
        self.i32(i)
    }
}

/// Everything a handler works with.
pub struct Ctx<'a> {
    pub kernel: &'a Arc<Kernel>,
    pub task: &'a Arc<Task>,
    pub mem: Memory<'a>,
}

/// Most bytes read from or written to the application in one step.
const IO_CHUNK: usize = 1 << 20;

impl Ctx<'_> {
    pub fn read_bytes(&self, addr: u64, len: usize) -> SysResult<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.mem
            .read_bytes(addr, &mut buf)
            .map_err(|_| SysError::from(Errno::EFAULT))?;
        Ok(buf)
    }

    pub fn write_bytes(&self, addr: u64, data: &[u8]) -> SysResult<()> {
        self.mem
            .write_bytes(addr, data)
            .map_err(|_| SysError::from(Errno::EFAULT))
    }

    pub fn read<T: zerocopy::FromBytes + zerocopy::IntoBytes>(&self, addr: u64) -> SysResult<T> {
        self.mem
            .read(addr)
            .map_err(|_| SysError::from(Errno::EFAULT))
    }

    pub fn write<T: zerocopy::IntoBytes + zerocopy::Immutable>(
        &self,
        addr: u64,
        v: &T,
    ) -> SysResult<()> {
        self.mem
            .write(addr, v)
            .map_err(|_| SysError::from(Errno::EFAULT))
    }

    /// A path argument: at most `PATH_MAX` bytes before the NUL.
    pub fn path(&self, addr: u64) -> SysResult<Vec<u8>> {
        if addr == 0 {
            return_errno!(EFAULT);
        }
        let p = self
            .mem
            .read_cstring(addr, crate::vfs::PATH_MAX)
            .map_err(|e| match e {
                crate::platform::MemoryError::Fault { .. } => SysError::from(Errno::EFAULT),
                _ => SysError::from(Errno::ENAMETOOLONG),
            })?;
        Ok(p)
    }
}

/// How a system call is served.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Never blocks: served on the receiving thread.
    Sync(fn(&Ctx<'_>, &Args) -> SysResult<i64>),
    /// May block: an `async` handler, parked while it waits.
    Async(fn(Arc<Kernel>, Arc<Task>, Args) -> SyscallFuture),
}

/// How complete the sentry's version of a system call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Full,
    Partial(&'static str),
}

/// One row of the system call table.
pub struct Entry {
    pub sysno: Sysno,
    pub handler: Handler,
    pub support: Support,
}

macro_rules! table {
    ($($name:ident => $h:expr, $support:expr;)*) => {
        /// Every system call the sentry serves; anything else is `ENOSYS`.
        pub static TABLE: &[Entry] = &[
            $(Entry { sysno: Sysno::$name, handler: $h, support: $support },)*
        ];
    };
}

use Handler::{Async, Sync};
use Support::{Full, Partial};

table! {
    read => Async(fs::read), Full;
    write => Async(fs::write), Full;
    readv => Async(fs::readv), Full;
    writev => Async(fs::writev), Full;
    pread64 => Sync(fs::pread64), Full;
    pwrite64 => Sync(fs::pwrite64), Full;
    open => Async(fs::open), Full;
    openat => Async(fs::openat), Full;
    creat => Async(fs::creat), Full;
    close => Sync(fs::close), Full;
    close_range => Sync(fs::close_range), Full;
    lseek => Sync(fs::lseek), Full;
    pipe => Sync(fs::pipe), Full;
    pipe2 => Sync(fs::pipe2), Full;
    stat => Sync(fs::stat), Full;
    lstat => Sync(fs::lstat), Full;
    fstat => Sync(fs::fstat), Full;
    newfstatat => Sync(fs::newfstatat), Full;
    statx => Sync(fs::statx), Full;
    statfs => Sync(fs::statfs), Full;
    fstatfs => Sync(fs::fstatfs), Full;
    getdents64 => Sync(fs::getdents64), Full;
    access => Sync(fs::access), Full;
    faccessat => Sync(fs::faccessat), Full;
    faccessat2 => Sync(fs::faccessat2), Full;
    dup => Sync(fs::dup), Full;
    dup2 => Sync(fs::dup2), Full;
    dup3 => Sync(fs::dup3), Full;
    fcntl => Sync(fs::fcntl), Partial("no record locks, leases or F_SETOWN");
    ioctl => Sync(fs::ioctl), Partial("terminal ioctls answer ENOTTY until ttys exist");
    getcwd => Sync(fs::getcwd), Full;
    chdir => Sync(fs::chdir), Full;
    fchdir => Sync(fs::fchdir), Full;
    chroot => Sync(fs::chroot), Full;
    mkdir => Sync(fs::mkdir), Full;
    mkdirat => Sync(fs::mkdirat), Full;
    mknod => Sync(fs::mknod), Full;
    mknodat => Sync(fs::mknodat), Full;
    rmdir => Sync(fs::rmdir), Full;
    unlink => Sync(fs::unlink), Full;
    unlinkat => Sync(fs::unlinkat), Full;
    rename => Sync(fs::rename), Full;
    renameat => Sync(fs::renameat), Full;
    renameat2 => Sync(fs::renameat2), Full;
    link => Sync(fs::link), Full;
    linkat => Sync(fs::linkat), Full;
    symlink => Sync(fs::symlink), Full;
    symlinkat => Sync(fs::symlinkat), Full;
    readlink => Sync(fs::readlink), Full;
    readlinkat => Sync(fs::readlinkat), Full;
    chmod => Sync(fs::chmod), Full;
    fchmod => Sync(fs::fchmod), Full;
    fchmodat => Sync(fs::fchmodat), Full;
    chown => Sync(fs::chown), Full;
    lchown => Sync(fs::lchown), Full;
    fchown => Sync(fs::fchown), Full;
    fchownat => Sync(fs::fchownat), Full;
    utimensat => Sync(fs::utimensat), Full;
    truncate => Sync(fs::truncate), Full;
    ftruncate => Sync(fs::ftruncate), Full;
    fsync => Sync(fs::fsync), Full;
    fdatasync => Sync(fs::fsync), Full;
    sync => Sync(fs::sync), Full;
    umask => Sync(fs::umask), Full;
    getuid => Sync(process::getuid), Full;
    geteuid => Sync(process::getuid), Full;
    getgid => Sync(process::getgid), Full;
    getegid => Sync(process::getgid), Full;
    getgroups => Sync(process::getgroups), Full;
    getresuid => Sync(process::getresuid), Full;
    getresgid => Sync(process::getresgid), Full;
    getpgrp => Sync(process::getpgrp), Full;
    getpgid => Sync(process::getpgid), Full;
    setpgid => Sync(process::setpgid), Full;
    getsid => Sync(process::getsid), Full;
    setsid => Sync(process::setsid), Full;
    uname => Sync(info::uname), Full;
    sethostname => Sync(info::sethostname), Full;
    getrandom => Sync(info::getrandom), Full;
    sysinfo => Sync(info::sysinfo), Full;
    getrlimit => Sync(info::getrlimit), Full;
    setrlimit => Sync(info::setrlimit), Partial("limits are recorded; only RLIMIT_NOFILE is enforced");
    prlimit64 => Sync(info::prlimit64), Partial("limits are recorded; only RLIMIT_NOFILE is enforced");
    sched_getaffinity => Sync(info::sched_getaffinity), Full;
    getrusage => Sync(info::getrusage), Partial("usage is reported as zero");
    times => Sync(info::times), Partial("usage is reported as zero");
    prctl => Sync(info::prctl), Partial("PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_NO_NEW_PRIVS");
}

/// The table row for `nr`, if the sentry serves that call.
pub fn entry(nr: i64) -> Option<&'static Entry> {
    static INDEX: std::sync::OnceLock<Vec<Option<usize>>> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut v = vec![None; 512];
        for (i, e) in TABLE.iter().enumerate() {
            v[e.sysno.id() as usize] = Some(i);
        }
        v
    });
    let i = usize::try_from(nr).ok()?;
    index.get(i).copied().flatten().map(|i| &TABLE[i])
}

/// The name of system call `nr`, as `--strace` prints it.
pub fn name(nr: i64) -> String {
    match usize::try_from(nr).ok().and_then(Sysno::new) {
        Some(s) => s.name().to_string(),
        None => format!("syscall_{nr}"),
    }
}

/// Serves one trapped system call.
pub fn dispatch(kernel: &Arc<Kernel>, trap: SyscallTrap) {
    let Some(task) = kernel.task_by_host(trap.tid) else {
        // A thread the kernel does not know (it is being torn down).
        let _ = trap.reply_errno(libc::ENOSYS);
        return;
    };
    // One call in flight per thread: a call parked before this one is dead.
    task.park(None);
    // Tells /proc who is asking (for /proc/self) while this thread serves
    // the call; an async call's first poll happens within it too.
    let _scope = crate::vfs::procfs::enter_task(crate::vfs::procfs::Caller {
        pid: task.group.pid,
        tid: task.tid,
    });
    let nr = trap.nr;
    let args = Args(trap.args);
    let Some(entry) = entry(nr) else {
        finish(
            kernel,
            &task,
            nr,
            &args,
            Err(Errno::ENOSYS.into()),
            trap.into_reply(),
        );
        return;
    };
    match entry.handler {
        Handler::Sync(f) => {
            let result = {
                let ctx = Ctx {
                    kernel,
                    task: &task,
                    mem: trap.memory(),
                };
                f(&ctx, &args)
            };
            finish(kernel, &task, nr, &args, result, trap.into_reply());
        }
        Handler::Async(f) => {
            let fut = f(kernel.clone(), task.clone(), args);
            let (k, t) = (kernel.clone(), task.clone());
            let done = Box::new(move |r: SysResult<i64>, reply: Reply| {
                finish(&k, &t, nr, &args, r, reply)
            });
            let parked = Parked::start(fut, trap.into_reply(), done);
            task.park(parked);
        }
    }
}

/// Sends a call's result and, with `--strace`, logs it.
fn finish(
    kernel: &Kernel,
    task: &Task,
    nr: i64,
    args: &Args,
    result: SysResult<i64>,
    reply: Reply,
) {
    if kernel.strace {
        let shown = match &result {
            Ok(v) => format!("{v:#x}"),
            Err(e) => format!("-1 {} ({})", e.errno.name(), e.errno.as_raw()),
        };
        tracing::info!(
            target: "strace",
            "[{:>5}:{:>5}] {}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) = {shown}",
            task.group.pid,
            task.tid,
            name(nr),
            args.0[0],
            args.0[1],
            args.0[2],
            args.0[3],
            args.0[4],
            args.0[5]
        );
    }
    // A write to a pipe nobody reads fails with EPIPE and raises SIGPIPE.
    // The signal goes out after the answer: a host signal sent while the
    // call is pending would abort and restart it, forever if it is ignored.
    let sigpipe = matches!(&result, Err(e) if e.errno == Errno::EPIPE) && is_write(nr);
    let sent = match result {
        Ok(v) => reply.value(v),
        Err(e) => reply.errno(e.errno.as_raw()),
    };
    if sigpipe {
        process::signal_thread(kernel, task, libc::SIGPIPE);
    }
    if let Err(e) = sent {
        // The thread was interrupted by a signal or died meanwhile; a
        // restarted call comes back as a new notification.
        tracing::trace!("answer to {} lost: {e}", name(nr));
    }
}

fn is_write(nr: i64) -> bool {
    [
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_pwrite64,
        libc::SYS_pwritev,
    ]
    .contains(&nr)
}

/// Ctx for an async handler, whose task is not tied to a notification.
pub fn ctx_of<'a>(kernel: &'a Arc<Kernel>, task: &'a Arc<Task>) -> Ctx<'a> {
    Ctx {
        kernel,
        task,
        mem: Memory::of_thread(task.host),
    }
}
