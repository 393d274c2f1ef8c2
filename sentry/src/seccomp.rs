//! The sentry's own seccomp filter, kept as data: one table row per allowed
//! system call, with its argument conditions and the reason it is allowed.
//! It is installed once the sentry is jailed, on every thread, and anything
//! else kills the whole sentry: a compromised sentry must die, not probe.
//!
//! Stubs are created by the platform's zygote, forked before this filter
//! exists, so they never inherit it (a sentry rule that kills or fails a call
//! would override the stub filter's user notification).
//!
//! `clone3` cannot be argument-checked (its flags sit behind a pointer), so
//! a second filter answers it with `ENOSYS`; libc then falls back to
//! `clone`, whose flags the main filter checks.
//!
//! `openat` is not argument-checked: the jailed sentry's root is an empty
//! read-only tmpfs, so the only useful directory it can open files through
//! is the `/proc` fd the platform keeps (its stub's status files), and no
//! flag would let it create anything there.

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

/// A comparison of one syscall argument: the bits in `mask` equal `value`.
#[derive(Debug, Clone, Copy)]
struct Arg {
    index: u8,
    mask: u64,
    value: u64,
    width: Width,
}

/// The C type of an argument: only its low 32 bits are compared for `int`.
#[derive(Debug, Clone, Copy)]
enum Width {
    Int,
    Long,
}

/// An `int` argument equal to `v`.
const fn eq(index: u8, v: i32) -> Arg {
    Arg {
        index,
        mask: u32::MAX as u64,
        value: v as u32 as u64,
        width: Width::Int,
    }
}

/// An `int` argument whose bits in `mask` equal `v`.
const fn masked(index: u8, mask: i32, v: i32) -> Arg {
    Arg {
        index,
        mask: mask as u32 as u64,
        value: v as u32 as u64,
        width: Width::Int,
    }
}

/// An `unsigned long` argument whose bits in `mask` equal `v`.
const fn masked64(index: u8, mask: u64, v: u64) -> Arg {
    Arg {
        index,
        mask,
        value: v,
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
/// make a process, which the jailed sentry never does (the zygote does).
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

/// `PTRACE_GET_RSEQ_CONFIGURATION`, which `libc` does not export.
const PTRACE_GET_RSEQ_CONFIGURATION: i32 = 0x420f;

/// The futex operation without its flag bits.
const FUTEX_CMD: i32 = !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);

/// Every system call the sentry makes once jailed.
static ALLOWED: &[Allow] = &[
    // The platform: tracing stubs.
    allow!(
        SYS_ptrace,
        [
            [eq(0, libc::PTRACE_SEIZE as i32)],
            [eq(0, libc::PTRACE_CONT as i32)],
            [eq(0, libc::PTRACE_INTERRUPT as i32)],
            [eq(0, libc::PTRACE_GETREGS as i32)],
            [eq(0, libc::PTRACE_SETREGS as i32)],
            [eq(0, libc::PTRACE_SETFPREGS as i32)],
            [eq(0, libc::PTRACE_GETEVENTMSG as i32)],
            [eq(0, libc::PTRACE_GETSIGINFO as i32)],
            [eq(0, PTRACE_GET_RSEQ_CONFIGURATION)],
        ],
        "the tracer seizes and controls its stubs; never PTRACE_TRACEME"
    ),
    allow!(
        SYS_wait4,
        "the tracer's waitpid loop over its tracees and helpers"
    ),
    allow!(
        SYS_process_vm_readv,
        "read a stub's memory (syscall arguments, images)"
    ),
    allow!(
        SYS_process_vm_writev,
        "write a stub's memory (syscall results)"
    ),
    allow!(
        SYS_pidfd_open,
        "reach a new stub's fd table for its seccomp listener"
    ),
    allow!(
        SYS_pidfd_getfd,
        "copy a new stub's seccomp listener into the sentry"
    ),
    allow!(
        SYS_ioctl,
        [
            [eq(1, libc::SECCOMP_IOCTL_NOTIF_RECV as i32)],
            [eq(1, libc::SECCOMP_IOCTL_NOTIF_SEND as i32)],
            [eq(1, libc::SECCOMP_IOCTL_NOTIF_ID_VALID as i32)],
            [eq(1, libc::SECCOMP_IOCTL_NOTIF_ADDFD as i32)],
            [eq(1, libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS as i32)],
        ],
        "receive and answer stub system calls; no other ioctl"
    ),
    allow!(
        SYS_kill,
        [
            [eq(1, libc::SIGKILL)],
            [eq(1, libc::SIGSTOP)],
            [eq(1, libc::SIGCONT)]
        ],
        "kill stubs, ring and release the tracer's doorbell"
    ),
    allow!(
        SYS_tgkill,
        "deliver the sandbox's signals to stub threads, wake sentry threads"
    ),
    // The stub zygote's socket, and the gofer's (lisafs).
    allow!(SYS_sendmsg, "lisafs requests; ask the zygote for a stub"),
    allow!(SYS_recvmsg, "lisafs responses and donated FDs; new stubs"),
    allow!(SYS_sendto, "ask the zygote for a stub"),
    allow!(SYS_recvfrom, "lisafs responses"),
    allow!(
        SYS_getsockopt,
        [[eq(1, libc::SOL_SOCKET), eq(2, libc::SO_SNDBUF)]],
        "a lisafs connection sizes its largest message from the send buffer"
    ),
    // Files the sentry holds: gofer/directfs FDs, tmpfs memfds, procfs.
    allow!(
        SYS_openat,
        "stub status files under the kept /proc FD; directfs walks"
    ),
    allow!(SYS_close, "release FDs"),
    allow!(SYS_read, "files, pipes, procfs"),
    allow!(SYS_write, "the sandbox's stdio, the debug log, pipes"),
    allow!(SYS_readv, "vectored file reads"),
    allow!(SYS_writev, "vectored file writes, logging"),
    allow!(SYS_pread64, "file reads at an offset"),
    allow!(SYS_pwrite64, "file writes at an offset"),
    allow!(SYS_lseek, "file offsets"),
    allow!(SYS_fstat, "sizes of held files"),
    allow!(SYS_newfstatat, "stat of held files (AT_EMPTY_PATH)"),
    allow!(SYS_statx, "stat of held files"),
    allow!(SYS_getdents64, "directory listings of held directories"),
    allow!(SYS_memfd_create, "tmpfs file contents"),
    allow!(SYS_ftruncate, "tmpfs file sizes"),
    allow!(SYS_fallocate, "tmpfs file allocation"),
    allow!(
        SYS_fcntl,
        [
            [eq(1, libc::F_GETFD)],
            [eq(1, libc::F_SETFD)],
            [eq(1, libc::F_GETFL)],
            [eq(1, libc::F_SETFL)],
            [eq(1, libc::F_DUPFD_CLOEXEC)],
        ],
        "FD flags and duplication"
    ),
    allow!(SYS_dup, "duplicate held FDs"),
    allow!(SYS_pipe2, "pipes of the sandbox"),
    allow!(SYS_poll, "wait for held FDs"),
    allow!(SYS_ppoll, "wait for held FDs"),
    // Memory. No new executable mappings: the sentry loads no code.
    allow!(
        SYS_mmap,
        [[masked(2, libc::PROT_EXEC, 0)]],
        "the allocator, thread stacks, mapped tmpfs files"
    ),
    allow!(
        SYS_mprotect,
        [[masked(2, libc::PROT_EXEC, 0)]],
        "thread stack guard pages"
    ),
    allow!(SYS_munmap, "the allocator and thread stacks"),
    allow!(SYS_mremap, "the allocator grows large buffers"),
    allow!(SYS_madvise, "the allocator and finished threads' stacks"),
    allow!(SYS_brk, "the allocator"),
    // Threads: kernel tasks, receivers, the tracer.
    allow!(
        SYS_clone,
        [[
            masked64(0, THREAD_FLAGS, THREAD_FLAGS),
            masked64(0, CLONE_FORBIDDEN, 0)
        ]],
        "start a thread; never a process or a namespace"
    ),
    allow!(
        SYS_clone3,
        "reaches only the second filter, which answers ENOSYS so libc uses clone"
    ),
    allow!(SYS_set_robust_list, "libc sets up every new thread"),
    allow!(SYS_rseq, "libc sets up every new thread"),
    allow!(
        SYS_sched_getaffinity,
        "std reads a new thread's attributes through libc"
    ),
    allow!(SYS_sched_yield, "spin-then-park locks"),
    allow!(
        SYS_futex,
        [
            [masked(1, FUTEX_CMD, libc::FUTEX_WAIT)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAKE)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAIT_BITSET)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAKE_BITSET)],
        ],
        "locks, condition variables, joining threads"
    ),
    allow!(SYS_gettid, "libc and logging"),
    allow!(
        SYS_getpid,
        "abort() finds its own pid; tgkill of own threads"
    ),
    allow!(SYS_getrandom, "hash map seeds; the sandbox's AT_RANDOM"),
    allow!(SYS_exit, "a thread ends"),
    allow!(SYS_exit_group, "the sentry ends"),
    allow!(
        SYS_prctl,
        [[eq(0, libc::PR_SET_NAME)], [eq(0, libc::PR_GET_NAME)]],
        "std names new threads"
    ),
    // Signals.
    allow!(
        SYS_rt_sigprocmask,
        "libc blocks signals around thread creation"
    ),
    allow!(SYS_rt_sigaction, "abort() resets SIGABRT before raising it"),
    allow!(SYS_rt_sigreturn, "return from a signal handler"),
    allow!(
        SYS_rt_sigtimedwait,
        "the signal thread forwards host signals to the sandbox"
    ),
    allow!(
        SYS_sigaltstack,
        "each thread's stack-overflow handler stack"
    ),
    allow!(SYS_restart_syscall, "resume a call a signal interrupted"),
    allow!(
        SYS_sysinfo,
        "the sandbox's sysinfo reports the host's memory and load"
    ),
    // Time.
    allow!(SYS_clock_gettime, "timestamps when the vDSO falls back"),
    allow!(SYS_clock_nanosleep, "timed waits of the sandbox"),
    allow!(SYS_nanosleep, "timed waits of the sandbox"),
];

/// The compiled filters, in installation order.
pub struct Programs {
    /// Answers `clone3` with `ENOSYS`, allows everything else.
    clone3: BpfProgram,
    /// The allowlist; `mismatch` (kill the process) on anything else.
    allowlist: BpfProgram,
}

fn condition(a: &Arg) -> Result<SeccompCondition, Error> {
    let (len, full) = match a.width {
        Width::Int => (SeccompCmpArgLen::Dword, u32::MAX as u64),
        Width::Long => (SeccompCmpArgLen::Qword, u64::MAX),
    };
    let op = if a.mask == full {
        SeccompCmpOp::Eq
    } else {
        SeccompCmpOp::MaskedEq(a.mask)
    };
    SeccompCondition::new(a.index, len, op, a.value).map_err(|e| Error::Compile(e.to_string()))
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

/// Builds both filters; a call outside the table gets `mismatch`.
fn compile_with(mismatch: SeccompAction) -> Result<Programs, Error> {
    let mut rules = BTreeMap::new();
    for allow in ALLOWED {
        let chain = allow
            .when
            .iter()
            .map(|conds| {
                let conds = conds.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                SeccompRule::new(conds).map_err(|e| Error::Compile(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rules.insert(allow.nr, chain).is_some() {
            return Err(Error::Compile(format!("{} is listed twice", allow.name)));
        }
    }
    let allowlist = compile_one(rules, mismatch, SeccompAction::Allow)?;
    let clone3 = compile_one(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok(Programs { clone3, allowlist })
}

/// Builds the sentry's filters: anything outside the table kills the
/// process.
pub fn compile() -> Result<Programs, Error> {
    compile_with(SeccompAction::KillProcess)
}

/// Installs compiled filters on every thread of the process (TSYNC).
/// Allocates nothing, so it may run in a child forked from a threaded
/// process.
pub fn apply(p: &Programs) -> Result<(), Error> {
    // The clone3 filter goes first: once the allowlist is in, installing
    // another filter would itself be killed.
    for prog in [&p.clone3, &p.allowlist] {
        seccompiler::apply_filter_all_threads(prog).map_err(|e| Error::Install(e.to_string()))?;
    }
    Ok(())
}

/// Compiles and installs the sentry's filter on all its threads. Needs
/// `no_new_privs` (or `CAP_SYS_ADMIN`), and must come after the platform
/// has forked its zygote and helpers.
pub fn install_sentry_filter() -> Result<(), Error> {
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
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_fork,
            libc::SYS_vfork,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_bpf,
            libc::SYS_open_by_handle_at,
            libc::SYS_name_to_handle_at,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_seccomp,
            libc::SYS_fsopen,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_kexec_load,
            libc::SYS_kexec_file_load,
            libc::SYS_setuid,
            libc::SYS_capset,
            libc::SYS_userfaultfd,
            libc::SYS_perf_event_open,
            libc::SYS_io_uring_setup,
        ] {
            assert!(!allowed(nr), "syscall {nr} must not be allowed");
        }
    }

    /// Runs `f` in a forked child under the installed filter and returns its
    /// wait status. The filter is compiled before the fork: the test harness
    /// is threaded, so the child must not allocate.
    fn under_filter(f: fn() -> i32) -> i32 {
        let programs = compile().unwrap();
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // A private mount namespace first: should the filter ever let a
            // forbidden mount through, it must not land on the host's tree.
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
                    && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            };
            if !private {
                // SAFETY: as below.
                unsafe { libc::_exit(101) }
            }
            let code = match apply(&programs) {
                Ok(()) => f(),
                Err(_) => 100,
            };
            // SAFETY: _exit is async-signal-safe and skips the parent's
            // atexit state.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: waitpid writes the status int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        status
    }

    fn assert_killed_by_sigsys(status: i32) {
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
            "wait status {status:#x}: not killed by SIGSYS"
        );
    }

    #[test]
    fn mount_kills_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: a tmpfs mount in the child's private namespace (were
            // it allowed).
            unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/tmp".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            0
        }));
    }

    #[test]
    fn bpf_kills_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: BPF_PROG_LOAD with a null attribute pointer fails
            // (were it allowed) without side effects.
            unsafe { libc::syscall(libc::SYS_bpf, 5, 0usize, 0usize) };
            0
        }));
    }

    #[test]
    fn execve_kills_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            // SAFETY: valid NUL-terminated arrays of C strings.
            unsafe { libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            0
        }));
    }

    #[test]
    fn namespace_changes_kill_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: plain system call.
            unsafe { libc::unshare(libc::CLONE_NEWUTS) };
            0
        }));
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: plain system call on an invalid fd.
            unsafe { libc::setns(-1, 0) };
            0
        }));
    }

    #[test]
    fn other_ioctls_and_a_process_clone_kill_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            let mut size = [0u16; 4];
            // SAFETY: TIOCGWINSZ writes a struct winsize into `size`.
            unsafe { libc::ioctl(0, libc::TIOCGWINSZ, size.as_mut_ptr()) };
            0
        }));
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: a plain fork-like clone (were it allowed); the child
            // exits at once.
            let r = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
            if r == 0 {
                // SAFETY: as in under_filter.
                unsafe { libc::_exit(0) }
            }
            0
        }));
    }

    #[test]
    fn ptrace_traceme_kills_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: PTRACE_TRACEME takes no pointers.
            unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
            0
        }));
    }

    #[test]
    fn executable_mappings_kill_the_process() {
        assert_killed_by_sigsys(under_filter(|| {
            // SAFETY: an anonymous mapping (were it allowed).
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
            0
        }));
    }

    #[test]
    fn clone3_fails_with_enosys_and_allowed_calls_work() {
        let status = under_filter(|| {
            // SAFETY: clone3 with a null argument fails before reading it.
            let r = unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) };
            // SAFETY: reads this thread's errno.
            if r != -1 || unsafe { *libc::__errno_location() } != libc::ENOSYS {
                return 1;
            }
            let mut fds = [0i32; 2];
            // SAFETY: plain system calls on this process's own pipe.
            unsafe {
                if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0
                    || libc::write(fds[1], b"x".as_ptr().cast(), 1) != 1
                    || libc::getpid() <= 0
                {
                    return 2;
                }
            }
            7
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
            "wait status {status:#x}"
        );
    }
}
