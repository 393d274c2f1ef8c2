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
mod mm;
mod poll;
mod process;
mod strace;
#[cfg(test)]
mod tests;

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
    /// Answers the notification itself (file-backed `mmap`, which installs
    /// an FD and lets the call continue natively).
    Raw(fn(&Arc<Task>, SyscallTrap) -> Result<&'static str, Errno>),
}

/// How complete the sentry's version of a system call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Served by the sentry as Linux does.
    Full,
    /// Served by the sentry, with the noted gaps.
    Partial(&'static str),
    /// Decided by the stub's seccomp filter on the host (run natively,
    /// failed there, or stopped for the tracer), so the call never reaches
    /// this table; the note says why that is safe. Calls the filter only
    /// runs for some arguments name what happens to the rest.
    Native(&'static str),
    /// Answers `ENOSYS`; the note says why, and whether it is planned.
    Unimplemented(&'static str),
}

impl Support {
    /// The level's name, as the compatibility page shows it.
    pub fn label(&self) -> &'static str {
        match self {
            Support::Full => "Full",
            Support::Partial(_) => "Partial",
            Support::Native(_) => "Native",
            Support::Unimplemented(_) => "Unimplemented",
        }
    }

    /// The note, empty for [`Support::Full`].
    pub fn note(&self) -> &'static str {
        match self {
            Support::Full => "",
            Support::Partial(n) | Support::Native(n) | Support::Unimplemented(n) => n,
        }
    }
}

/// One row of the system call table.
pub struct Entry {
    pub sysno: Sysno,
    pub handler: Handler,
    pub support: Support,
}

/// The table has three parts: calls the sentry serves, calls the stub
/// filter keeps on the host (see [`crate::platform::filter::STUB_RULES`]),
/// and calls that answer `ENOSYS`, listed by name under their reason.
/// Together they name every x86-64 system call exactly once.
macro_rules! table {
    (
        served { $($name:ident => $h:expr, $support:expr;)* }
        native { $($native:ident: $why:literal;)* }
        unimplemented { $($reason:literal => [$($missing:ident),* $(,)?];)* }
    ) => {
        /// Every x86-64 system call: how the sentry answers it.
        pub static TABLE: &[Entry] = &[
            $(Entry { sysno: Sysno::$name, handler: $h, support: $support },)*
            $(Entry {
                sysno: Sysno::$native,
                handler: Sync(|_, _| native(Sysno::$native, $why)),
                support: Support::Native($why),
            },)*
            $($(Entry {
                sysno: Sysno::$missing,
                handler: Sync(|_, _| unimplemented(Sysno::$missing, $reason)),
                support: Support::Unimplemented($reason),
            },)*)*
        ];
    };
}

/// The handler of a [`Support::Native`] call. The stub filter runs (or
/// fails, or traces) these on the host, so one arrives here only for
/// arguments the filter sends on (a `clone` asking for a namespace, an
/// `arch_prctl` other than the FS base, privileged `madvise` advice) or if
/// the filter and this table disagree; either way it fails with `ENOSYS`.
fn native(sysno: Sysno, why: &'static str) -> SysResult<i64> {
    tracing::warn!(
        "{sysno} reached the sentry although the stub filter decides it ({why}): ENOSYS"
    );
    Err(SysError::with_msg(
        Errno::ENOSYS,
        "decided by the stub filter; not served by the sentry",
    ))
}

/// The handler of a [`Support::Unimplemented`] call.
fn unimplemented(sysno: Sysno, reason: &'static str) -> SysResult<i64> {
    tracing::debug!("unimplemented system call {sysno} ({reason}): ENOSYS");
    Err(SysError::with_msg(Errno::ENOSYS, reason))
}

use Handler::{Async, Raw, Sync};
use Support::{Full, Partial};

table! {
served {
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
    poll => Async(poll::poll), Full;
    ppoll => Async(poll::ppoll), Partial("the signal mask argument is not applied");
    select => Async(poll::select), Full;
    pselect6 => Async(poll::pselect6), Partial("the signal mask argument is not applied");
    mmap => Raw(mm::mmap), Partial("file mappings only; anonymous ones are native");
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
    ioctl => Sync(fs::ioctl), Partial("FIONBIO, FIOCLEX, FIONCLEX and the terminal ioctls of emulated ttys");
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
    setuid => Sync(process::setuid), Partial("one uid per process: real, effective, saved and filesystem ids move together");
    setgid => Sync(process::setgid), Partial("one gid per process: real, effective, saved and filesystem ids move together");
    setreuid => Sync(process::setreuid), Partial("one uid per process: real, effective, saved and filesystem ids move together");
    setregid => Sync(process::setregid), Partial("one gid per process: real, effective, saved and filesystem ids move together");
    setresuid => Sync(process::setresuid), Partial("one uid per process: real, effective, saved and filesystem ids move together");
    setresgid => Sync(process::setresgid), Partial("one gid per process: real, effective, saved and filesystem ids move together");
    setfsuid => Sync(process::setfsuid), Partial("one uid per process: real, effective, saved and filesystem ids move together");
    setfsgid => Sync(process::setfsgid), Partial("one gid per process: real, effective, saved and filesystem ids move together");
    setgroups => Sync(process::setgroups), Full;
    capget => Sync(process::capget), Partial("no inheritable or ambient capabilities");
    capset => Sync(process::capset), Partial("capabilities can only be dropped");
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

native {
    // Memory of the stub's own address space.
    munmap: "address-space management of the stub's own memory";
    mprotect: "address-space management of the stub's own memory";
    mremap: "address-space management of the stub's own memory";
    brk: "the heap is the stub's own memory";
    madvise: "page hints on the stub's own memory; MADV_HWPOISON and MADV_SOFT_OFFLINE reach the sentry and fail";
    futex: "thread synchronisation on the stub's own memory";
    set_robust_list: "robust futexes live in the stub's own memory";
    rseq: "unregistering runs natively; registration fails with ENOSYS in the filter (optional for libc)";
    arch_prctl: "ARCH_SET_FS and ARCH_GET_FS run natively; other operations reach the sentry and fail";
    // Signals, delivered by the host into the stub's own frames.
    rt_sigaction: "the host builds signal frames for the stub";
    rt_sigprocmask: "the host delivers signals into the stub's frames";
    rt_sigreturn: "returns from a host-built signal frame";
    sigaltstack: "the host builds signal frames for the stub";
    rt_sigsuspend: "waits on the native signal mask";
    rt_sigtimedwait: "waits on the native signal mask";
    rt_sigpending: "reads the native signal state";
    pause: "waits for a natively delivered signal";
    restart_syscall: "restarts an interrupted native sleep or futex";
    kill: "the sandbox's pid namespace holds only its own processes";
    tkill: "the sandbox's pid namespace holds only its own processes";
    tgkill: "the sandbox's pid namespace holds only its own processes";
    rt_sigqueueinfo: "the sandbox's pid namespace holds only its own processes";
    rt_tgsigqueueinfo: "the sandbox's pid namespace holds only its own processes";
    // Processes and threads: host tasks in the sandbox's pid namespace,
    // reported to the tracer.
    clone: "threads and forks are host tasks; clones asking for namespaces or untraced children reach the sentry and fail";
    clone3: "fails with ENOSYS in the filter (its flags sit behind a pointer); libc falls back to clone";
    fork: "a host fork, reported to the tracer";
    vfork: "made a fork by the tracer: the sentry's exec is not a host exec";
    execve: "stops for the tracer; the sentry loads the new image itself";
    execveat: "stops for the tracer; the sentry loads the new image itself";
    exit: "thread exit, reported to the tracer";
    exit_group: "process exit, reported to the tracer";
    wait4: "the host process tree is the sandbox's: reaping and statuses are exact";
    waitid: "the host process tree is the sandbox's: reaping and statuses are exact";
    getpid: "the host answers in the sandbox's own pid namespace";
    gettid: "the host answers in the sandbox's own pid namespace";
    getppid: "the host answers in the sandbox's own pid namespace";
    set_tid_address: "the host answers in the sandbox's own pid namespace";
    // Time (not virtualised yet) and sleeping.
    clock_gettime: "time is not virtualised yet (the vDSO reads it natively anyway)";
    clock_getres: "time is not virtualised yet";
    gettimeofday: "time is not virtualised yet";
    time: "time is not virtualised yet";
    nanosleep: "sleeping blocks only the calling stub thread";
    clock_nanosleep: "sleeping blocks only the calling stub thread";
    sched_yield: "a scheduling hint about the stub's own thread";
    // Timers: they signal the stub itself.
    alarm: "interval timers signal the stub process itself, natively";
    getitimer: "interval timers signal the stub process itself, natively";
    setitimer: "interval timers signal the stub process itself, natively";
    timer_create: "POSIX timers signal the stub's own threads (ids of its own pid namespace)";
    timer_settime: "POSIX timers signal the stub's own threads (ids of its own pid namespace)";
    timer_gettime: "POSIX timers signal the stub's own threads (ids of its own pid namespace)";
    timer_getoverrun: "POSIX timers signal the stub's own threads (ids of its own pid namespace)";
    timer_delete: "POSIX timers signal the stub's own threads (ids of its own pid namespace)";
}

unimplemented {
    "sockets: not yet" => [
        socket, socketpair, connect, accept, accept4, bind, listen, shutdown,
        getsockname, getpeername, setsockopt, getsockopt, sendto, recvfrom,
        sendmsg, recvmsg, sendmmsg, recvmmsg,
    ];
    "event descriptors (epoll, eventfd, signalfd, timerfd, inotify): not yet" => [
        epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait, epoll_pwait2,
        eventfd, eventfd2, signalfd, signalfd4, timerfd_create, timerfd_settime,
        timerfd_gettime, inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch,
    ];
    "file I/O: not yet" => [
        preadv, pwritev, preadv2, pwritev2, sendfile, splice, tee, vmsplice,
        copy_file_range, fallocate, readahead, fadvise64, sync_file_range, syncfs,
        flock, getdents, utime, utimes, futimesat, openat2, fchmodat2, memfd_create,
        cachestat,
    ];
    "extended attributes: not yet" => [
        setxattr, lsetxattr, fsetxattr, getxattr, lgetxattr, fgetxattr, listxattr,
        llistxattr, flistxattr, removexattr, lremovexattr, fremovexattr, setxattrat,
        getxattrat, listxattrat, removexattrat, file_getattr, file_setattr,
    ];
    "asynchronous I/O: not yet" => [
        io_setup, io_destroy, io_submit, io_cancel, io_getevents, io_pgetevents,
    ];
    "io_uring: not supported in a sandbox (a large kernel attack surface)" => [
        io_uring_setup, io_uring_enter, io_uring_register,
    ];
    "System V and POSIX IPC: not yet" => [
        shmget, shmat, shmdt, shmctl, semget, semop, semtimedop, semctl, msgget,
        msgsnd, msgrcv, msgctl, mq_open, mq_unlink, mq_timedsend, mq_timedreceive,
        mq_notify, mq_getsetattr,
    ];
    "scheduling and priorities: not yet" => [
        getpriority, setpriority, sched_setparam, sched_getparam, sched_setscheduler,
        sched_getscheduler, sched_get_priority_max, sched_get_priority_min,
        sched_rr_get_interval, sched_setaffinity, sched_setattr, sched_getattr,
        ioprio_set, ioprio_get, getcpu,
    ];
    "memory locking, residency and policy: not yet" => [
        msync, mincore, mlock, mlock2, munlock, mlockall, munlockall, remap_file_pages,
        mbind, set_mempolicy, get_mempolicy, set_mempolicy_home_node, migrate_pages,
        move_pages, pkey_mprotect, pkey_alloc, pkey_free, map_shadow_stack, mseal,
        memfd_secret, membarrier,
    ];
    "futex extensions: not yet" => [
        get_robust_list, futex_waitv, futex_wake, futex_wait, futex_requeue,
    ];
    "process descriptors and cross-process access: not yet" => [
        pidfd_open, pidfd_send_signal, pidfd_getfd, process_vm_readv, process_vm_writev,
        process_madvise, process_mrelease, kcmp,
    ];
    "process personality and i386 segments: not yet" => [
        personality, modify_ldt, set_thread_area, get_thread_area, setdomainname,
    ];
    "namespaces: not supported in a sandbox" => [unshare, setns];
    "seccomp and Landlock inside the sandbox: not yet" => [
        seccomp, landlock_create_ruleset, landlock_add_rule, landlock_restrict_self,
    ];
    "mounts are fixed when the sandbox starts: not supported in a sandbox" => [
        mount, umount2, pivot_root, open_tree, open_tree_attr, move_mount, fsopen,
        fsconfig, fsmount, fspick, mount_setattr, statmount, listmount,
    ];
    "file handles: not supported in a sandbox (they bypass path resolution)" => [
        name_to_handle_at, open_by_handle_at,
    ];
    "keyrings: not supported in a sandbox" => [add_key, request_key, keyctl];
    "tracing, profiling and BPF: not supported in a sandbox" => [
        ptrace, perf_event_open, bpf, userfaultfd, fanotify_init, fanotify_mark,
        uprobe, uretprobe,
    ];
    "security modules: not supported in a sandbox" => [
        lsm_get_self_attr, lsm_set_self_attr, lsm_list_modules,
    ];
    "host administration: not supported in a sandbox" => [
        reboot, swapon, swapoff, acct, settimeofday, clock_settime, adjtimex,
        clock_adjtime, syslog, quotactl, quotactl_fd, iopl, ioperm, vhangup, sysfs, ustat,
    ];
    "module loading: never" => [init_module, finit_module, delete_module];
    "kexec: never" => [kexec_load, kexec_file_load];
    "removed from Linux or never implemented there" => [
        _sysctl, uselib, create_module, get_kernel_syms, query_module, nfsservctl,
        getpmsg, putpmsg, afs_syscall, tuxcall, security, vserver, lookup_dcookie,
        epoll_ctl_old, epoll_wait_old,
    ];
}
}

/// The table row for `nr`; `None` only for a number Linux does not define.
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
    // With `--strace`, the arguments are decoded now, through the
    // notification's memory, before any answer lets the thread run on.
    let traced = kernel
        .strace
        .then(|| strace::decode_args(nr, &args, &trap.memory()));
    let Some(entry) = entry(nr) else {
        finish(
            kernel,
            &task,
            nr,
            traced.as_deref(),
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
            finish(
                kernel,
                &task,
                nr,
                traced.as_deref(),
                result,
                trap.into_reply(),
            );
        }
        Handler::Raw(f) => {
            let result = f(&task, trap);
            if let Some(shown) = &traced {
                let result = match result {
                    // The call went on natively; its value is the host's.
                    Ok(note) => format!("? ({note})"),
                    Err(e) => strace::result(nr, &Err(e.into())),
                };
                strace::log(task.group.pid, task.tid, nr, shown, &result);
            }
        }
        Handler::Async(f) => {
            let fut = f(kernel.clone(), task.clone(), args);
            let (k, t) = (kernel.clone(), task.clone());
            let done = Box::new(move |r: SysResult<i64>, reply: Reply| {
                finish(&k, &t, nr, traced.as_deref(), r, reply)
            });
            let parked = Parked::start(fut, trap.hold(), done);
            task.park(parked);
        }
    }
}

/// Sends a call's result and, with `--strace` (`traced` holds the
/// arguments decoded at dispatch), logs it.
fn finish(
    kernel: &Kernel,
    task: &Task,
    nr: i64,
    traced: Option<&str>,
    result: SysResult<i64>,
    reply: Reply,
) {
    if let Some(args) = traced {
        let shown = strace::result(nr, &result);
        strace::log(task.group.pid, task.tid, nr, args, &shown);
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
