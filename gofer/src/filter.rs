//! The gofer's seccomp filter, kept as data: one table row per allowed
//! system call, with its argument conditions and the reason it is allowed.
//! Anything else kills the whole process: a compromised gofer must die, not
//! probe.
//!
//! `clone3` cannot be argument-checked (its flags sit behind a pointer), so
//! a second filter answers it with `ENOSYS`; libc then falls back to
//! `clone`, whose flags the main filter checks.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Why the filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("compile seccomp filter: {0}")]
    Compile(String),
    #[error("install seccomp filter: {0}")]
    Install(String),
}

/// A comparison of one syscall argument.
#[derive(Debug, Clone, Copy)]
struct Arg {
    index: u8,
    /// Compare only these bits (all bits if `u64::MAX`).
    mask: u64,
    value: Value,
    width: Width,
}

/// The C type of an argument: only its low 32 bits are compared for `int`.
#[derive(Debug, Clone, Copy)]
enum Width {
    Int,
    Long,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Const(u64),
    /// This process's id, known when the filter is compiled.
    OwnPid,
}

/// An `int` argument equal to `v`.
const fn eq(index: u8, v: i32) -> Arg {
    Arg {
        index,
        mask: u32::MAX as u64,
        value: Value::Const(v as u32 as u64),
        width: Width::Int,
    }
}

/// An `int` argument whose bits in `mask` equal `v`.
const fn masked(index: u8, mask: i32, v: i32) -> Arg {
    Arg {
        index,
        mask: mask as u32 as u64,
        value: Value::Const(v as u32 as u64),
        width: Width::Int,
    }
}

/// An `unsigned long` argument whose bits in `mask` equal `v`.
const fn masked64(index: u8, mask: u64, v: u64) -> Arg {
    Arg {
        index,
        mask,
        value: Value::Const(v),
        width: Width::Long,
    }
}

/// An allowed system call: unconditionally if `when` is empty, else when
/// all conditions of any one of its rules hold.
#[derive(Debug)]
struct Allow {
    /// `c_long`, which is `i64` on every architecture seccompiler targets.
    nr: i64,
    name: &'static str,
    when: &'static [&'static [Arg]],
    #[allow(dead_code)] // Documentation that the compiler keeps next to the rule.
    why: &'static str,
}

macro_rules! allow {
    ($nr:ident, $why:literal) => {
        Allow {
            nr: libc::$nr,
            name: stringify!($nr),
            when: &[],
            why: $why,
        }
    };
    ($nr:ident, [$($rule:expr),+ $(,)?], $why:literal) => {
        Allow {
            nr: libc::$nr,
            name: stringify!($nr),
            when: &[$(&$rule),+],
            why: $why,
        }
    };
}

/// `clone` flags every thread creation has; a `clone` without them would
/// make a process, which the gofer never does.
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD) as u64;

/// `clone` flags that would give a thread new namespaces or hide it from
/// tracers.
const CLONE_FORBIDDEN: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_UNTRACED
    | libc::CLONE_PIDFD) as u64;

/// The futex operation without its flag bits.
const FUTEX_CMD: i32 = !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);

/// Every system call the gofer makes once jailed.
static ALLOWED: &[Allow] = &[
    // The transport.
    allow!(
        SYS_recvmsg,
        "receive a request (and detect FDs a client should not send)"
    ),
    allow!(
        SYS_sendmsg,
        "send a response, with a donated FD in directfs mode"
    ),
    allow!(
        SYS_getsockopt,
        [[eq(1, libc::SOL_SOCKET), eq(2, libc::SO_SNDBUF)]],
        "each connection sizes its largest message from the send buffer"
    ),
    // The file backend: fd-relative calls on FDs reached from the mount roots.
    allow!(SYS_openat, "reopen a file through /proc/self/fd"),
    allow!(
        SYS_openat2,
        "walk one component with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS"
    ),
    allow!(SYS_close, "close FDs the client released"),
    allow!(SYS_statx, "the stat every lisafs inode carries"),
    allow!(SYS_fstatfs, "FStatFS"),
    allow!(
        SYS_fchownat,
        "SetStat owner, and the owner of created files"
    ),
    allow!(SYS_fchmodat, "SetStat mode (on a /proc/self/fd link)"),
    allow!(SYS_utimensat, "SetStat times"),
    allow!(SYS_ftruncate, "SetStat size, O_TRUNC"),
    allow!(SYS_pread64, "PRead"),
    allow!(SYS_pwrite64, "PWrite"),
    allow!(SYS_fsync, "FSync"),
    allow!(SYS_fallocate, "FAllocate"),
    allow!(SYS_mkdirat, "MkdirAt"),
    allow!(SYS_mknodat, "MknodAt"),
    allow!(SYS_symlinkat, "SymlinkAt"),
    allow!(SYS_linkat, "LinkAt"),
    allow!(SYS_readlinkat, "ReadLinkAt"),
    allow!(SYS_unlinkat, "UnlinkAt"),
    allow!(SYS_renameat2, "RenameAt, RenameAt2"),
    allow!(SYS_getdents64, "Getdents64"),
    allow!(SYS_fgetxattr, "FGetXattr"),
    allow!(SYS_fsetxattr, "FSetXattr"),
    allow!(SYS_flistxattr, "FListXattr"),
    allow!(SYS_fremovexattr, "FRemoveXattr"),
    allow!(
        SYS_fcntl,
        [[eq(1, libc::F_DUPFD_CLOEXEC)], [eq(1, libc::F_GETFD)],],
        "duplicate an FD to donate it; std checks that FDs it adopts are open"
    ),
    // Memory. No new executable mappings: the gofer loads no code.
    allow!(
        SYS_mmap,
        [[masked(2, libc::PROT_EXEC, 0)]],
        "the allocator and thread stacks"
    ),
    allow!(
        SYS_mprotect,
        [[masked(2, libc::PROT_EXEC, 0)]],
        "thread stack guard pages"
    ),
    allow!(SYS_munmap, "the allocator and thread stacks"),
    allow!(SYS_mremap, "the allocator grows large buffers"),
    allow!(SYS_madvise, "libc releases the stacks of finished threads"),
    allow!(SYS_brk, "the allocator"),
    // Threads: one per connection.
    allow!(
        SYS_clone,
        [[
            masked64(0, THREAD_FLAGS, THREAD_FLAGS),
            masked64(0, CLONE_FORBIDDEN, 0)
        ]],
        "start a connection's thread; never a process or a namespace"
    ),
    allow!(
        SYS_clone3,
        "reaches only the second filter, which answers ENOSYS so libc uses clone"
    ),
    allow!(SYS_set_robust_list, "libc sets up every new thread"),
    allow!(
        SYS_sched_getaffinity,
        "std reads a new thread's attributes (its stack bounds) through libc"
    ),
    allow!(SYS_rseq, "libc sets up every new thread"),
    allow!(
        SYS_futex,
        [
            [masked(1, FUTEX_CMD, libc::FUTEX_WAIT)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAKE)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAIT_BITSET)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAKE_BITSET)],
        ],
        "locks, and joining connection threads"
    ),
    allow!(SYS_gettid, "libc and logging"),
    allow!(
        SYS_getpid,
        "abort() finds its own pid, so an abort is a SIGABRT"
    ),
    allow!(SYS_getrandom, "hash map seeds, one per thread"),
    allow!(
        SYS_umask,
        [[eq(0, 0)]],
        "the backend clears the umask: the sentry already applied the application's"
    ),
    allow!(SYS_geteuid, "the backend skips chown to its own ids"),
    allow!(SYS_getegid, "the backend skips chown to its own ids"),
    allow!(SYS_exit, "a connection's thread ends"),
    allow!(SYS_exit_group, "the gofer ends when every connection has"),
    // Signals.
    allow!(
        SYS_rt_sigprocmask,
        "libc blocks signals around thread creation"
    ),
    allow!(SYS_rt_sigaction, "abort() resets SIGABRT before raising it"),
    allow!(SYS_rt_sigreturn, "return from a signal handler"),
    allow!(
        SYS_sigaltstack,
        "each thread's stack-overflow handler stack"
    ),
    allow!(
        SYS_tgkill,
        [[Arg {
            index: 0,
            mask: u32::MAX as u64,
            value: Value::OwnPid,
            width: Width::Int
        }]],
        "abort() signals itself; never another process"
    ),
    allow!(SYS_restart_syscall, "resume a call a signal interrupted"),
    // Logs.
    allow!(SYS_clock_gettime, "log timestamps when the vDSO falls back"),
    allow!(SYS_write, "the debug log and stderr"),
    // A panicking connection thread prints a backtrace (RUST_BACKTRACE) and
    // must not take the other connections down; both calls only see the
    // jail.
    allow!(SYS_getcwd, "the panic handler's backtrace"),
    #[cfg(target_arch = "x86_64")]
    allow!(
        SYS_readlink,
        "the panic handler's backtrace reads /proc/self/exe"
    ),
];

/// The compiled filters, in installation order.
pub struct Programs {
    /// Answers `clone3` with `ENOSYS`, allows everything else.
    clone3: BpfProgram,
    /// The allowlist; kills the process on anything else.
    allowlist: BpfProgram,
}

fn condition(a: &Arg, pid: u32) -> Result<SeccompCondition, Error> {
    let value = match a.value {
        Value::Const(v) => v,
        Value::OwnPid => pid as u64,
    };
    let (len, full) = match a.width {
        Width::Int => (SeccompCmpArgLen::Dword, u32::MAX as u64),
        Width::Long => (SeccompCmpArgLen::Qword, u64::MAX),
    };
    let op = if a.mask == full {
        SeccompCmpOp::Eq
    } else {
        SeccompCmpOp::MaskedEq(a.mask)
    };
    SeccompCondition::new(a.index, len, op, value).map_err(|e| Error::Compile(e.to_string()))
}

fn compile_one(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, Error> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Compile(e.to_string()))?;
    let filter = SeccompFilter::new(rules, mismatch, matched, arch)
        .map_err(|e| Error::Compile(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Compile(e.to_string()))
}

/// Builds both filters for this process.
pub fn compile() -> Result<Programs, Error> {
    let pid = std::process::id();
    let mut rules = BTreeMap::new();
    for allow in ALLOWED {
        let chain = allow
            .when
            .iter()
            .map(|conds| {
                let conds = conds
                    .iter()
                    .map(|a| condition(a, pid))
                    .collect::<Result<Vec<_>, _>>()?;
                SeccompRule::new(conds).map_err(|e| Error::Compile(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rules.insert(allow.nr, chain).is_some() {
            return Err(Error::Compile(format!("{} is listed twice", allow.name)));
        }
    }
    let allowlist = compile_one(rules, SeccompAction::KillProcess, SeccompAction::Allow)?;
    let clone3 = compile_one(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok(Programs { clone3, allowlist })
}

/// Installs compiled filters on every thread of the process. Allocates
/// nothing, so it may run in a child forked from a threaded process.
pub fn apply(p: &Programs) -> Result<(), Error> {
    // The clone3 filter goes first: once the allowlist is in, installing
    // another filter would itself be killed.
    for prog in [&p.clone3, &p.allowlist] {
        seccompiler::apply_filter_all_threads(prog).map_err(|e| Error::Install(e.to_string()))?;
    }
    Ok(())
}

/// Compiles and installs the gofer's filter.
pub fn install() -> Result<(), Error> {
    apply(&compile()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(nr: i64) -> bool {
        ALLOWED.iter().any(|a| a.nr == nr)
    }

    #[test]
    fn compiles_without_duplicates() {
        let p = compile().unwrap();
        assert!(!p.allowlist.is_empty());
        assert!(!p.clone3.is_empty());
    }

    #[test]
    fn escape_routes_are_not_in_the_table() {
        for nr in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_fork,
            libc::SYS_vfork,
            libc::SYS_kill,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_bpf,
            libc::SYS_open_by_handle_at,
            libc::SYS_name_to_handle_at,
            libc::SYS_keyctl,
            libc::SYS_ioctl,
            libc::SYS_prctl,
            libc::SYS_seccomp,
            libc::SYS_fsopen,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_kexec_load,
            libc::SYS_setuid,
            libc::SYS_capset,
            libc::SYS_userfaultfd,
            libc::SYS_perf_event_open,
        ] {
            assert!(!allowed(nr), "syscall {nr} must not be allowed");
        }
    }

    /// Runs `f` in a forked child under the installed filter and returns how
    /// the child ended. The filter is compiled before the fork: the test
    /// harness is threaded, so the child must not allocate.
    /// `f` gets the pid the filter was compiled for (the parent's).
    fn under_filter(f: fn(i32) -> i32) -> nix::sys::wait::WaitStatus {
        use nix::unistd::{fork, ForkResult};
        let programs = compile().unwrap();
        let pid = std::process::id() as i32;
        // SAFETY: the child only makes system calls and exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                // A private mount namespace first: should the filter ever
                // let a forbidden mount through, it must not land on the
                // host's tree.
                // SAFETY: plain system calls with valid arguments.
                let private = unsafe {
                    libc::unshare(libc::CLONE_NEWNS) == 0
                        && libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        ) == 0
                };
                if !private {
                    // SAFETY: as below.
                    unsafe { libc::_exit(101) }
                }
                let code = match apply(&programs) {
                    Ok(()) => f(pid),
                    Err(_) => 100,
                };
                // SAFETY: _exit is async-signal-safe and skips the parent's
                // atexit state.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => nix::sys::wait::waitpid(child, None).unwrap(),
        }
    }

    fn killed_by_sigsys(status: nix::sys::wait::WaitStatus) -> bool {
        matches!(
            status,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGSYS, _)
        )
    }

    #[test]
    fn mount_kills_the_process() {
        let status = under_filter(|_| {
            // SAFETY: plain system call with valid C strings.
            unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            1
        });
        assert!(killed_by_sigsys(status), "{status:?}");
    }

    #[test]
    fn ptrace_kills_the_process() {
        let status = under_filter(|_| {
            // SAFETY: plain system call.
            unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
            1
        });
        assert!(killed_by_sigsys(status), "{status:?}");
    }

    #[test]
    fn a_process_clone_kills_the_process() {
        let status = under_filter(|_| {
            // SAFETY: a plain fork-like clone; the child exits at once.
            let r = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
            if r == 0 {
                unsafe { libc::_exit(0) };
            }
            1
        });
        assert!(killed_by_sigsys(status), "{status:?}");
    }

    #[test]
    fn signalling_another_process_kills_the_process() {
        let status = under_filter(|_| {
            // SAFETY: plain system call; pid 1 is never ours.
            unsafe { libc::syscall(libc::SYS_tgkill, 1, 1, 0) };
            1
        });
        assert!(killed_by_sigsys(status), "{status:?}");
    }

    #[test]
    fn executable_mappings_kill_the_process() {
        let status = under_filter(|_| {
            // SAFETY: an anonymous mapping; never used.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_EXEC,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            1
        });
        assert!(killed_by_sigsys(status), "{status:?}");
    }

    #[test]
    fn clone3_fails_with_enosys_and_allowed_calls_work() {
        let status = under_filter(|pid| {
            // SAFETY: clone3 with a null argument; it never reaches the kernel.
            let r = unsafe { libc::syscall(libc::SYS_clone3, 0, 0) };
            let errno = std::io::Error::last_os_error().raw_os_error();
            if r != -1 || errno != Some(libc::ENOSYS) {
                return 2;
            }
            // SAFETY: plain system calls.
            if unsafe { libc::getpid() } <= 0 {
                return 3;
            }
            // tgkill of the process the filter was built for (signal 0
            // only checks that the thread exists).
            // SAFETY: plain system call.
            if unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, 0) } != 0 {
                return 4;
            }
            0
        });
        assert_eq!(
            status,
            nix::sys::wait::WaitStatus::Exited(status.pid().unwrap(), 0)
        );
    }
}
