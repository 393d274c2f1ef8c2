//! The platform: how the sentry runs application code and gets control of it.
//!
//! Application processes are *stubs*: host processes forked by the platform,
//! traced by it, and confined by a seccomp filter ([`filter`]) that lets a
//! small allowlist run natively (anonymous memory, futexes, signal frames,
//! thread creation, exit, time, its own process ids) and routes everything
//! else to the sentry.
//!
//! Two host mechanisms are combined and hidden behind [`Platform`]:
//!
//! * **System calls arrive by seccomp user notification.** Receiver threads
//!   turn each one into an [`Event::Syscall`] carrying a [`SyscallTrap`]; the
//!   kernel answers it through its [`Reply`] token from any thread, at any
//!   later time, so a blocking call parks only its own task.
//! * **Control comes from ptrace.** One tracer thread (ptrace requests must
//!   come from the thread that attached) reports forks, clones, exits, host
//!   signals and `execve` requests as [`Event`]s, and installs a new program
//!   image into a stopped stub ([`Platform::install_image`]). Tracees run
//!   under `PTRACE_CONT`: there are no per-syscall stops.
//!
//! The kernel built on this module never names seccomp or ptrace; it sees
//! host thread ids, system call numbers and arguments, memory, and events.
//!
//! # Image installation and the trampoline
//!
//! The sentry loads programs itself, so the host never executes `execve` for
//! a stub. Instead every stub carries two fixed pages at [`TRAMPOLINE_ADDR`]:
//! code (`syscall; int3`) and scratch data. To replace an image the tracer
//! points the stopped thread at the `syscall` with chosen registers and lets
//! it run until the `int3`, one system call at a time, to unmap the old image,
//! map the new one and reset exec-time state. The host vDSO and vvar pages are
//! kept, so the new image can use the vDSO ([`Platform::vdso_base`] is the
//! value for `AT_SYSINFO_EHDR`).
//!
//! # Ptrace and seccomp ordering on x86-64 (checked on Linux 6.18)
//!
//! * On syscall entry a ptrace syscall-entry stop (only under `PTRACE_SYSCALL`)
//!   comes first, then the seccomp filter runs. A `RET_TRACE` result produces a
//!   `PTRACE_EVENT_SECCOMP` stop (status `SIGTRAP | 7 << 16`, event data =
//!   the filter's 16-bit data) with `orig_rax` = the syscall and `rax` =
//!   `-ENOSYS`.
//! * At that stop the tracer may rewrite registers. Setting `orig_rax` to -1
//!   skips the call. Otherwise the filter is run again on the (possibly
//!   changed) call, and a second `RET_TRACE` verdict is treated as *allow*:
//!   resuming an `execve` stop without rewriting it would run the host's
//!   `execve`. The platform therefore always rewrites it.
//! * So a rewrite is safe only if the new call is never traced again (it
//!   would run unchecked). Processes that would share their parent's memory are made
//!   copies this way: `vfork` stops (`RET_TRACE`) and is rewritten to `fork`
//!   (`orig_rax`); a `clone` with `CLONE_VM` or `CLONE_VFORK` but without
//!   `CLONE_THREAD` (posix_spawn) has both flags cleared in `rdi`, other
//!   flags and the new stack in `rsi` kept. Both new forms are native (or,
//!   with a forbidden clone flag, notified), never traced.
//! * The rewritten call's ptrace event is the plain fork/clone one
//!   (`PTRACE_EVENT_FORK` for exit signal `SIGCHLD`, else `_CLONE`), read
//!   with the rewritten flags, so the child is a [`CloneKind::Process`]: its
//!   in-place image installation unmaps only its own copy. The chosen
//!   semantics: the parent is not suspended, and the child's memory writes
//!   before its exec or exit are not seen by the parent — invisible to a
//!   program that uses vfork as specified (the child only execs or `_exit`s).
//! * `rip` may be changed at the seccomp stop: with the call skipped, the
//!   thread returns to user mode at the new `rip`. The platform sends it to
//!   the trampoline's `int3`, which gives a plain `SIGTRAP` signal-delivery
//!   stop (no `PTRACE_SYSCALL` needed); suppressing that signal on resume is
//!   how every injection step ends.
//! * Injected syscalls pass the stub's own filter. Allowed ones run natively;
//!   notified ones are continued by the receiver (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`)
//!   while the thread is marked as injecting.
//! * `PTRACE_INTERRUPT` on a thread blocked in a user notification aborts the
//!   wait (the pending notification becomes invalid: `NOTIF_SEND` then fails
//!   with `ENOENT`) and yields a `PTRACE_EVENT_STOP` stop.
//! * Children auto-attached through `PTRACE_O_TRACE{FORK,VFORK,CLONE}` start
//!   with a `PTRACE_EVENT_STOP` stop, which may be reported before or after
//!   the parent's fork/clone event stop; the platform resumes a child only
//!   once both are seen, so [`Event::Cloned`] always precedes the child's
//!   first trapped syscall.
//! * A non-leader thread's exit is reported at once; a thread-group leader's
//!   exit is reported only after all its other threads are gone.
//! * The stub filter is installed with `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`:
//!   a host signal (even one whose action is "ignore", such as `SIGCHLD`: a
//!   traced thread never ignores signals at generation) aborts a
//!   notification only until the sentry has received it, with
//!   `-ERESTARTSYS`; the tracer rewrites that to `-ERESTARTNOINTR` at the
//!   signal stop, so the call (which never happened) restarts whatever the
//!   handler's `SA_RESTART` says, and reaches the sentry again. Once
//!   received, only a fatal signal ends the wait: the kernel interrupts a
//!   call it parks itself ([`Reply::interrupt`]: `-ERESTARTSYS`, kept as is
//!   by the tracer), and image installation releases the other threads'
//!   held calls with `-EINTR` after asking them to stop. The kernel must
//!   treat a [`ReplyError::Gone`] answer as "the call will come back or the
//!   thread is dead", never as an error.
//! * A stub forked from a sentry thread inherits that thread's rseq
//!   registration; once the old image is unmapped the host's rseq update
//!   faults (`SIGSEGV` at the next return to user mode). Image installation
//!   unregisters it first (`PTRACE_GET_RSEQ_CONFIGURATION`, then an injected
//!   `rseq(.., RSEQ_FLAG_UNREGISTER, ..)`).
//!
//! * Every stub tree is its own host pid namespace: the first stub is cloned
//!   with `CLONE_NEWPID` and is pid 1 there, its descendants 2, 3, ... So the
//!   host's numbering inside the tree *is* the sandbox's: `fork`/`clone`
//!   results, `getpid`/`gettid`/`getppid`/`set_tid_address` (all native),
//!   `CLONE_*_SETTID` writes and PI-futex owner tids agree with each other.
//!   The platform still speaks host ids ([`HostTid`], in the sentry's
//!   namespace: ptrace event messages, `waitpid`, notification pids are
//!   translated into the observer's namespace); [`Platform::ns_tid`] maps
//!   one to the sandbox's.
//! * Consequences of being a namespace's init, as in a runc container: when
//!   the tree's pid 1 exits, the host kills every other process of the tree;
//!   orphans are reparented to it; and its host process ignores any signal
//!   with the default action except `SIGKILL`/`SIGSTOP`, even one the
//!   sentry sends. A *traced* init also survives its own synchronous faults
//!   (the host keeps it unkillable under ptrace and re-runs the faulting
//!   instruction), so when the kernel resumes such a fault unhandled in a
//!   tree's init, the platform kills the process itself and reports it
//!   [`ExitStatus::Signaled`] with the fault's signal.
//! * Signals sent by a process pass through without an [`Event::Signal`]:
//!   `kill`, `tgkill` and `wait4` are native in the tree's own pid
//!   namespace, which holds only the sandbox's processes, so the host
//!   delivers them exactly as Linux would. (One from outside the namespace,
//!   such as the sentry's, carries sender pid 0.)
//!
//! The "second `RET_TRACE` is allow" rule is read from the kernel source
//! (the filter's re-check after a trace stop); the other facts are exercised
//! by this crate's tests.

pub mod filter;
mod image;
mod memory;
mod notify;
mod procfs;
mod stub;
mod sys;
mod tracer;

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use image::{Image, Mapping, MmLayout, Prot};
pub use memory::{Memory, MemoryError};
pub use notify::{Reply, ReplyError, SyscallTrap};
pub use sys::{host_auxval, tgkill};

/// Where the trampoline (code page, then scratch page) sits in every stub.
/// Chosen far below where the host places `mmap` and stacks and far above
/// where program images go; an application that maps over it only breaks its
/// own next `execve` (which then fails and kills it), never its confinement.
pub const TRAMPOLINE_ADDR: u64 = 0x6fff_ffff_0000;
/// Bytes reserved at [`TRAMPOLINE_ADDR`] (code page + scratch page).
pub const TRAMPOLINE_LEN: u64 = 2 * sys::PAGE_SIZE;

/// A thread id in the sentry's (host) pid namespace. Never shown to the
/// application: inside its stub tree's own pid namespace the same thread has
/// another number, which [`Platform::ns_tid`] tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostTid(pub i32);

/// How a new host task relates to its creator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneKind {
    /// A thread in the same thread group (`CLONE_THREAD`).
    Thread,
    /// A new process (`fork`, or `clone` without `CLONE_THREAD`).
    Process,
    /// A new process whose parent waits until it execs or exits. The stub
    /// filter turns shared-memory and suspending process creation (`vfork`,
    /// `clone` with `CLONE_VM` or `CLONE_VFORK` without `CLONE_THREAD`) into
    /// plain forks, reported as [`CloneKind::Process`], so stubs never
    /// produce this kind.
    Vfork,
}

/// How a host thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit`/`exit_group` with this code.
    Code(i32),
    /// Killed by a signal.
    Signaled { signal: i32, core_dumped: bool },
}

/// Which exec system call a stub made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecCall {
    /// `execve(path, argv, envp)`.
    Execve,
    /// `execveat(dirfd, path, argv, envp, flags)`.
    Execveat,
}

/// What a host signal stop was about (from the host's `siginfo_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSignal {
    pub signo: i32,
    pub code: i32,
    /// The sending process for user-sent signals, as numbered in the stubs'
    /// pid namespace; 0 if the sender is outside it or the signal is not
    /// user-sent.
    pub sender: i32,
    /// The faulting address for SIGSEGV/SIGBUS/SIGILL/SIGFPE, else 0.
    pub fault_addr: u64,
}

/// Something the platform reports to the kernel.
#[derive(Debug)]
pub enum Event {
    /// A stub thread made a system call the kernel must serve.
    Syscall(SyscallTrap),
    /// A stub created a thread or process. Always reported before the new
    /// task's first trapped system call.
    Cloned {
        parent: HostTid,
        child: HostTid,
        kind: CloneKind,
    },
    /// A stub thread ended. `last` is set for the last thread of its group,
    /// i.e. when the process is gone.
    Exited {
        tid: HostTid,
        tgid: HostTid,
        status: ExitStatus,
        last: bool,
    },
    /// A stub thread called `execve`/`execveat` and is stopped. The kernel
    /// must answer with [`Platform::install_image`] or [`Platform::fail_exec`].
    ExecRequested {
        tid: HostTid,
        call: ExecCall,
        args: [u64; 6],
    },
    /// The host is delivering a signal to a stub thread that the sentry did
    /// not send (a fault, or `SIGCHLD` from a host child). The thread stays
    /// stopped until [`Platform::resume_signal`] says whether to deliver it.
    Signal { tid: HostTid, signal: HostSignal },
}

/// Where the platform delivers [`Event`]s. Called from platform threads
/// (receivers and the tracer), so it must not block: hand the event over to
/// the kernel's own scheduler and return.
pub trait EventSink: Send + Sync + 'static {
    fn deliver(&self, event: Event);
}

impl EventSink for mpsc::Sender<Event> {
    fn deliver(&self, event: Event) {
        // A closed channel means the kernel is shutting down; dropping the
        // event drops any reply token in it, which fails the call.
        let _ = self.send(event);
    }
}

/// Failures of platform operations.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The stub died or misbehaved while being created.
    #[error("stub bootstrap failed: {0}")]
    Bootstrap(String),
    /// The thread is unknown, gone, or not stopped where the operation needs.
    #[error("thread {tid:?} is not {expected}")]
    WrongState {
        tid: HostTid,
        expected: &'static str,
    },
    #[error("thread {0:?} is gone")]
    Gone(HostTid),
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Installing the image failed after the old one was torn down; the
    /// process has been killed (as Linux does when exec fails that late).
    #[error("image installation failed, process killed: {0}")]
    InstallFailed(String),
    #[error("the platform's tracer thread is gone")]
    TracerGone,
    /// A procfs file about a stub thread was missing a field or malformed.
    #[error("unexpected procfs status of thread {tid:?}: {reason}")]
    Procfs { tid: HostTid, reason: &'static str },
}

impl PlatformError {
    fn os(what: &'static str) -> PlatformError {
        PlatformError::Os {
            what,
            source: std::io::Error::last_os_error(),
        }
    }
}

/// Tuning of a [`Platform`].
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// Receiver threads per stub process tree (each blocks in
    /// `SECCOMP_IOCTL_NOTIF_RECV`); more lets several application threads be
    /// picked up in parallel.
    pub receivers_per_tree: usize,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            receivers_per_tree: 1,
        }
    }
}

/// The running platform: a tracer thread plus notification receivers.
/// Dropping it kills every stub it created.
pub struct Platform {
    tracer: Arc<tracer::Handle>,
    thread: Option<JoinHandle<()>>,
}

impl Platform {
    /// Starts the tracer thread. Must run before the sentry's jail hides
    /// `/proc`: the host vDSO location is read from `/proc/self/maps`, and a
    /// `/proc` directory FD is kept for [`Platform::ns_tid`].
    pub fn new(sink: impl EventSink, config: PlatformConfig) -> Result<Platform, PlatformError> {
        let (tracer, thread) = tracer::start(Arc::new(sink), config)?;
        Ok(Platform {
            tracer,
            thread: Some(thread),
        })
    }

    /// The host vDSO's address in every stub (for `AT_SYSINFO_EHDR`), if the
    /// host has one.
    pub fn vdso_base(&self) -> Option<u64> {
        self.tracer.layout().vdso.map(|r| r.0)
    }

    /// Address ranges an image must not overlap: the trampoline, the vDSO and
    /// vvar pages.
    pub fn reserved_ranges(&self) -> Vec<(u64, u64)> {
        self.tracer.layout().keep.clone()
    }

    /// Creates the first process of a new stub tree, stopped and empty until
    /// [`Platform::install_image`] gives it a program. Returns its host tid
    /// (also its host pid). The process is pid 1 of a new host pid
    /// namespace that all its descendants share.
    ///
    /// This and the other control calls block the calling thread until the
    /// tracer has done the work; call them from a task's context, never from
    /// an [`EventSink`].
    pub fn create_process(&self) -> Result<HostTid, PlatformError> {
        self.tracer.call(|reply| tracer::Command::CreateProcess {
            beside: None,
            mount_proc: false,
            reply,
        })
    }

    /// Like [`Platform::create_process`], and the new tree's procfs is
    /// mounted on `/proc` of the sentry's mount namespace (over the one
    /// there, which must be fully visible), so that host tools entering
    /// that namespace see the sandbox's processes by their sandbox pids.
    /// Only for a sentry in a mount namespace of its own.
    pub fn create_process_showing_proc(&self) -> Result<HostTid, PlatformError> {
        self.tracer.call(|reply| tracer::Command::CreateProcess {
            beside: None,
            mount_proc: true,
            reply,
        })
    }

    /// Like [`Platform::create_process`], but the new process joins the pid
    /// namespace of `tree` (a live stub): it sees that tree's processes and
    /// they see it, with a parent outside the namespace (`getppid` is 0), as
    /// a process `runc exec` adds to a container.
    pub fn create_process_beside(&self, tree: HostTid) -> Result<HostTid, PlatformError> {
        self.tracer.call(|reply| tracer::Command::CreateProcess {
            beside: Some(tree),
            mount_proc: false,
            reply,
        })
    }

    /// Replaces the address space of `tid` with `image` and starts it. `tid`
    /// must be a fresh process from [`Platform::create_process`] or a thread
    /// stopped in [`Event::ExecRequested`]; all other threads of its group are
    /// killed first (exec semantics), caught signal handlers are reset to the
    /// default, the alternate signal stack and robust-futex list are cleared.
    pub fn install_image(&self, tid: HostTid, image: Image) -> Result<(), PlatformError> {
        image.validate(&self.tracer.layout().keep)?;
        self.tracer
            .call(|reply| tracer::Command::InstallImage { tid, image, reply })
    }

    /// Fails the pending `execve` of `tid` with `errno`; the program goes on.
    pub fn fail_exec(&self, tid: HostTid, errno: i32) -> Result<(), PlatformError> {
        self.tracer
            .call(|reply| tracer::Command::FailExec { tid, errno, reply })
    }

    /// Resumes a thread held by [`Event::Signal`], delivering `signal` (the
    /// original or another one) or nothing.
    pub fn resume_signal(&self, tid: HostTid, signal: Option<i32>) -> Result<(), PlatformError> {
        self.tracer
            .call(|reply| tracer::Command::ResumeSignal { tid, signal, reply })
    }

    /// Kills the whole process containing `tid`; its exits are reported.
    pub fn kill(&self, tid: HostTid) -> Result<(), PlatformError> {
        self.tracer
            .call(|reply| tracer::Command::Kill { tid, reply })
    }

    /// The id of stub thread `tid` inside its tree's pid namespace, i.e. the
    /// pid or tid the application sees for it (1 for a tree's first
    /// process). Read from the host's procfs; blocks on nothing else, so it
    /// may be called from an [`EventSink`] (e.g. on [`Event::Cloned`]). A
    /// traced thread's host id cannot be reused before its exit is reported,
    /// so the answer is about the thread the caller means. Fails with
    /// [`PlatformError::Gone`] once the thread is gone.
    pub fn ns_tid(&self, tid: HostTid) -> Result<i32, PlatformError> {
        let status = procfs::read_status(self.tracer.proc(), tid)?;
        procfs::ns_tid(&status, tid)
    }

    /// Whether stub thread `tid` has a signal pending that it does not
    /// block. Used to interrupt a system call the sentry holds: waits for
    /// an answer are not interrupted by signals once the sentry has received
    /// the call, so the kernel checks for them itself.
    pub fn signal_deliverable(&self, tid: HostTid) -> Result<bool, PlatformError> {
        let status = procfs::read_status(self.tracer.proc(), tid)?;
        procfs::signal_deliverable(&status, tid)
    }

    /// Whether stub process `tid` has a handler installed for `sig`.
    pub fn catches_signal(&self, tid: HostTid, sig: i32) -> Result<bool, PlatformError> {
        let status = procfs::read_status(self.tracer.proc(), tid)?;
        procfs::catches(&status, sig, tid)
    }

    /// The address-space layout of stub thread `tid` as the sandbox may
    /// see it: the host's `maps` lines without the platform's own pages and
    /// without host file paths (a mapped file shows only its device and
    /// inode, not where it lives on the host).
    pub fn maps(&self, tid: HostTid) -> Result<String, PlatformError> {
        let raw = procfs::read_maps(self.tracer.proc(), tid)?;
        let mut out = String::with_capacity(raw.len());
        for line in raw.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some((start, end)) = fields.first().and_then(|r| r.split_once('-')) else {
                continue;
            };
            let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            else {
                continue;
            };
            if start >= TRAMPOLINE_ADDR && end <= TRAMPOLINE_ADDR + TRAMPOLINE_LEN {
                continue;
            }
            let head = fields.iter().take(5).copied().collect::<Vec<_>>().join(" ");
            out.push_str(&head);
            if let Some(name) = fields.get(5).filter(|n| n.starts_with('[')) {
                out.push_str(&" ".repeat(73usize.saturating_sub(head.len()).max(1)));
                out.push_str(name);
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// Memory of a stub thread that the caller knows is alive (prefer
    /// [`SyscallTrap::memory`], which is checked against its notification).
    pub fn memory(&self, tid: HostTid) -> Memory<'static> {
        Memory::of_thread(tid)
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.tracer.shutdown();
        // The last reference to the kernel that owns the platform may be
        // dropped by an event delivered on one of the platform's own threads;
        // a thread cannot join itself, so then the others are left to end on
        // their own (the shutdown flag and the killed stubs end them).
        let me = std::thread::current().id();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        self.tracer.join_receivers_except(me);
    }
}
