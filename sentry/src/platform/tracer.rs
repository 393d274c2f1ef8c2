//! The tracer thread: the one thread that attaches to, waits for and controls
//! every stub (ptrace requires all requests for a tracee to come from the
//! thread that attached it).
//!
//! It loops on `waitpid` over its own tracees only (`__WNOTHREAD`, so it
//! never reaps another thread's children), turns stops into [`Event`]s, and
//! runs commands queued by other threads, woken by the doorbell child (see
//! [`stub::fork_doorbell`]). Tracees run under `PTRACE_CONT`; a thread stops
//! only for lifecycle events, host signals and `execve`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::filter::{self, TRACE_CLONE_VM, TRACE_EXECVE, TRACE_EXECVEAT, TRACE_VFORK};
use super::notify::{receive_loop, Listener};
use super::procfs;
use super::stub::{self, SCRATCH_ADDR, TRAMPOLINE_INT3, TRAMPOLINE_SYSCALL};
use super::sys::*;
use super::{
    CloneKind, Event, EventSink, ExecCall, ExitStatus, HostSignal, HostTid, Image, Memory,
    MmLayout, PlatformConfig, PlatformError, TRAMPOLINE_ADDR, TRAMPOLINE_LEN,
};

type Result<T> = std::result::Result<T, PlatformError>;

/// Requests from other threads, run on the tracer thread.
pub enum Command {
    CreateProcess {
        /// A process whose pid namespace the new one joins; a new tree
        /// without one.
        beside: Option<HostTid>,
        /// A new tree shows its processes at the sentry's `/proc`.
        mount_proc: bool,
        reply: SyncSender<Result<HostTid>>,
    },
    InstallImage {
        tid: HostTid,
        image: Image,
        reply: SyncSender<Result<()>>,
    },
    FailExec {
        tid: HostTid,
        errno: i32,
        reply: SyncSender<Result<()>>,
    },
    ResumeSignal {
        tid: HostTid,
        signal: Option<i32>,
        reply: SyncSender<Result<()>>,
    },
    Kill {
        tid: HostTid,
        reply: SyncSender<Result<()>>,
    },
}

/// Host address-space facts every stub inherits from the sentry by fork.
#[derive(Clone, Debug, Default)]
pub struct HostLayout {
    /// The vDSO's `[start, end)`.
    pub vdso: Option<(u64, u64)>,
    /// Ranges that survive image installation: trampoline, vDSO, vvar.
    pub keep: Vec<(u64, u64)>,
}

impl HostLayout {
    fn read() -> HostLayout {
        let mut layout = HostLayout {
            vdso: None,
            keep: vec![(TRAMPOLINE_ADDR, TRAMPOLINE_ADDR + TRAMPOLINE_LEN)],
        };
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        for line in maps.lines() {
            let name = line.split_whitespace().nth(5).unwrap_or("");
            if !matches!(name, "[vdso]" | "[vvar]" | "[vvar_vclock]") {
                continue;
            }
            let Some((s, e)) = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'))
            else {
                continue;
            };
            let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) else {
                continue;
            };
            if name == "[vdso]" {
                layout.vdso = Some((s, e));
            }
            layout.keep.push((s, e));
        }
        layout.keep.sort_unstable();
        layout
    }

    /// The complement of `keep` below the 4-level task size, as munmap
    /// ranges.
    fn unmap_ranges(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cur = 0u64;
        for &(s, e) in &self.keep {
            if s > cur {
                out.push((cur, s - cur));
            }
            cur = cur.max(e);
        }
        if cur < TASK_SIZE_4LEVEL {
            out.push((cur, TASK_SIZE_4LEVEL - cur));
        }
        out
    }
}

/// The part of the tracer other threads talk to.
pub struct Handle {
    commands: Mutex<VecDeque<Command>>,
    shutdown: AtomicBool,
    doorbell: AtomicI32,
    layout: HostLayout,
    receivers: Mutex<Vec<JoinHandle<()>>>,
    alive: AtomicBool,
    /// The host's `/proc`, opened before the sentry's jail hides it.
    proc: OwnedFd,
}

impl Handle {
    pub fn layout(&self) -> &HostLayout {
        &self.layout
    }

    pub fn proc(&self) -> &OwnedFd {
        &self.proc
    }

    fn ring(&self) {
        let pid = self.doorbell.load(Ordering::Acquire);
        if pid > 0 {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
    }

    /// Queues a command and waits for its result.
    pub fn call<T>(&self, make: impl FnOnce(SyncSender<Result<T>>) -> Command) -> Result<T> {
        if !self.alive.load(Ordering::Acquire) {
            return Err(PlatformError::TracerGone);
        }
        let (tx, rx) = sync_channel(1);
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(make(tx));
        self.ring();
        rx.recv().unwrap_or(Err(PlatformError::TracerGone))
    }

    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.ring();
    }

    /// Joins the receiver threads, except `me` if it is one of them.
    pub fn join_receivers_except(&self, me: std::thread::ThreadId) {
        let handles =
            std::mem::take(&mut *self.receivers.lock().unwrap_or_else(|e| e.into_inner()));
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

/// Starts the tracer thread and waits until it runs (it forks the doorbell).
pub fn start(
    sink: Arc<dyn EventSink>,
    config: PlatformConfig,
) -> Result<(Arc<Handle>, JoinHandle<()>)> {
    let handle = Arc::new(Handle {
        commands: Mutex::new(VecDeque::new()),
        shutdown: AtomicBool::new(false),
        doorbell: AtomicI32::new(0),
        layout: HostLayout::read(),
        receivers: Mutex::new(Vec::new()),
        alive: AtomicBool::new(true),
        proc: procfs::open_proc()?,
    });
    let (ready_tx, ready_rx) = sync_channel(1);
    let h = handle.clone();
    let thread = std::thread::Builder::new()
        .name("vigil-tracer".into())
        .spawn(move || {
            let mut tracer = match Tracer::new(h.clone(), sink, config) {
                Ok(t) => t,
                Err(e) => {
                    h.alive.store(false, Ordering::Release);
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            tracer.run();
            h.alive.store(false, Ordering::Release);
            tracer.fail_pending_commands();
        })
        .map_err(|e| PlatformError::Os {
            what: "spawn tracer thread",
            source: e,
        })?;
    ready_rx.recv().unwrap_or(Err(PlatformError::TracerGone))?;
    Ok((handle, thread))
}

/// Where a traced thread is, as far as the tracer is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Reported by its parent's clone event; its own first stop not seen yet.
    Announced,
    /// A new stub, stopped at its bootstrap `int3`, waiting for an image.
    Fresh,
    /// Stopped at its `execve` seccomp stop, waiting for the kernel.
    ExecStop,
    /// Held at a signal-delivery stop, waiting for the kernel.
    SignalStop,
    /// Made to call `exit` because another thread of its group exec'd.
    Exiting,
}

struct Thread {
    tgid: i32,
    listener: Arc<Listener>,
    state: State,
    /// The synchronous fault signal this thread is held at, if any.
    fault: Option<i32>,
}

/// A `waitpid` result.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Exited(ExitStatus),
    /// `WSTOPSIG` and the ptrace event (`status >> 16`).
    Stopped {
        sig: i32,
        event: i32,
    },
}

fn decode(status: i32) -> Wait {
    if libc::WIFEXITED(status) {
        Wait::Exited(ExitStatus::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Wait::Exited(ExitStatus::Signaled {
            signal: libc::WTERMSIG(status),
            core_dumped: libc::WCOREDUMP(status),
        })
    } else {
        Wait::Stopped {
            sig: libc::WSTOPSIG(status),
            event: status >> 16,
        }
    }
}

// Thin ptrace wrappers: every call is on the tracer thread and names a pid
// the tracer attached; errors (usually ESRCH: the tracee died) are returned.
fn ptrace(req: libc::c_uint, tid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: the requests used here either take no pointers or take a
    // pointer to a properly sized, live buffer supplied by the wrappers below.
    let r = unsafe { libc::ptrace(req, tid, addr, data) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cont(tid: i32, sig: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_CONT, tid, 0, sig as usize).map(drop)
}

fn get_regs(tid: i32) -> io::Result<libc::user_regs_struct> {
    // SAFETY: all-zero is a valid user_regs_struct.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut _ as usize)?;
    Ok(regs)
}

fn set_regs(tid: i32, regs: &libc::user_regs_struct) -> io::Result<()> {
    ptrace(libc::PTRACE_SETREGS, tid, 0, regs as *const _ as usize).map(drop)
}

fn event_msg(tid: i32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    ptrace(
        libc::PTRACE_GETEVENTMSG,
        tid,
        0,
        &mut msg as *mut _ as usize,
    )?;
    Ok(msg)
}

fn siginfo(tid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: all-zero is a valid siginfo_t.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    ptrace(
        libc::PTRACE_GETSIGINFO,
        tid,
        0,
        &mut info as *mut _ as usize,
    )?;
    Ok(info)
}

/// Puts the FPU/SSE state in its power-on values, as `execve` does.
fn reset_fpu(tid: i32) -> io::Result<()> {
    // SAFETY: all-zero is a valid user_fpregs_struct.
    let mut fp: libc::user_fpregs_struct = unsafe { std::mem::zeroed() };
    fp.cwd = 0x37f;
    fp.mxcsr = 0x1f80;
    ptrace(libc::PTRACE_SETFPREGS, tid, 0, &fp as *const _ as usize).map(drop)
}

const TRACE_OPTIONS: i32 = PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL;

struct Tracer {
    handle: Arc<Handle>,
    sink: Arc<dyn EventSink>,
    config: PlatformConfig,
    /// Creates the stubs; forked before the sentry confines itself.
    zygote: stub::Zygote,
    threads: HashMap<i32, Thread>,
    /// Auto-attached children whose first stop came before their parent's
    /// clone event: resumed once the event is seen.
    early: HashSet<i32>,
    doorbell: i32,
    /// Thread groups that are the init (pid 1) of their tree's namespace.
    inits: HashSet<i32>,
    /// Init groups the platform killed for an unhandled fault, with the
    /// fault's signal (reported instead of the `SIGKILL`).
    fatal: HashMap<i32, i32>,
    /// Signals that arrived while a thread was running injected calls, to
    /// deliver once its new image runs (a signal pending at `execve` stays
    /// pending on Linux).
    deferred: HashMap<i32, Vec<i32>>,
}

impl Tracer {
    fn new(
        handle: Arc<Handle>,
        sink: Arc<dyn EventSink>,
        config: PlatformConfig,
    ) -> Result<Tracer> {
        let doorbell = stub::fork_doorbell()?;
        handle.doorbell.store(doorbell, Ordering::Release);
        let zygote = match stub::Zygote::fork(&filter::assemble(filter::STUB_RULES)) {
            Ok(z) => z,
            Err(e) => {
                // SAFETY: kill(2) and waitpid of our own child.
                unsafe {
                    libc::kill(doorbell, libc::SIGKILL);
                    libc::waitpid(doorbell, std::ptr::null_mut(), libc::__WALL);
                }
                return Err(e);
            }
        };
        Ok(Tracer {
            handle,
            sink,
            config,
            zygote,
            threads: HashMap::new(),
            early: HashSet::new(),
            doorbell,
            inits: HashSet::new(),
            fatal: HashMap::new(),
            deferred: HashMap::new(),
        })
    }

    fn run(&mut self) {
        loop {
            self.run_commands();
            if self.handle.shutdown.load(Ordering::Acquire) {
                self.kill_everything();
                return;
            }
            let mut status = 0;
            // SAFETY: waitpid writes the status int.
            let pid = unsafe {
                libc::waitpid(
                    -1,
                    &mut status,
                    libc::__WALL | libc::__WNOTHREAD | libc::WUNTRACED,
                )
            };
            if pid < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                tracing::error!("tracer waitpid failed: {e}");
                return;
            }
            if pid == self.doorbell {
                self.on_doorbell(status);
                continue;
            }
            if pid == self.zygote.pid() {
                self.on_zygote(status);
                continue;
            }
            self.on_status(pid, decode(status));
        }
    }

    fn on_doorbell(&mut self, status: i32) {
        if libc::WIFSTOPPED(status) {
            // Continue first, then drain: a ring after this point stops the
            // doorbell again and is seen by the next waitpid.
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(self.doorbell, libc::SIGCONT) };
            return;
        }
        // The doorbell died (someone killed it): replace it.
        match stub::fork_doorbell() {
            Ok(pid) => {
                self.doorbell = pid;
                self.handle.doorbell.store(pid, Ordering::Release);
            }
            Err(e) => tracing::error!("cannot replace the tracer doorbell: {e}"),
        }
    }

    fn on_zygote(&mut self, status: i32) {
        if libc::WIFSTOPPED(status) {
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(self.zygote.pid(), libc::SIGCONT) };
            return;
        }
        // Reaped: new stubs now fail (the socket is closed); running ones
        // are unaffected until they exit.
        tracing::error!("the stub zygote died: status {status:#x}");
        self.zygote.reaped();
    }

    fn run_commands(&mut self) {
        loop {
            let cmd = self
                .handle
                .commands
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            let Some(cmd) = cmd else { return };
            match cmd {
                Command::CreateProcess {
                    beside,
                    mount_proc,
                    reply,
                } => {
                    let _ = reply.send(self.create_process(beside, mount_proc));
                }
                Command::InstallImage { tid, image, reply } => {
                    let _ = reply.send(self.install_image(tid.0, &image));
                }
                Command::FailExec { tid, errno, reply } => {
                    let _ = reply.send(self.fail_exec(tid.0, errno));
                }
                Command::ResumeSignal { tid, signal, reply } => {
                    let _ = reply.send(self.resume_signal(tid.0, signal));
                }
                Command::Kill { tid, reply } => {
                    let r = match self.threads.get(&tid.0) {
                        // SAFETY: kill(2) of a traced, not yet reaped, group:
                        // its id cannot have been recycled.
                        Some(t) => unsafe {
                            libc::kill(t.tgid, libc::SIGKILL);
                            Ok(())
                        },
                        None => Err(PlatformError::Gone(tid)),
                    };
                    let _ = reply.send(r);
                }
            }
        }
    }

    fn fail_pending_commands(&mut self) {
        // Dropping the commands drops their reply senders: callers get
        // TracerGone.
        self.handle
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn kill_everything(&mut self) {
        let groups: HashSet<i32> = self.threads.values().map(|t| t.tgid).collect();
        for g in groups {
            // SAFETY: kill(2) of traced groups we have not reaped.
            unsafe { libc::kill(g, libc::SIGKILL) };
        }
        // SAFETY: kill(2) of our own children, not yet reaped.
        unsafe {
            libc::kill(self.doorbell, libc::SIGKILL);
            if self.zygote.pid() > 0 {
                libc::kill(self.zygote.pid(), libc::SIGKILL);
            }
        }
        // Reap everything we traced or forked so no zombie outlives us.
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status int.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) };
            if pid < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
        }
        self.threads.clear();
    }

    /// Handles one wait status outside any injection sequence.
    fn on_status(&mut self, tid: i32, w: Wait) {
        let (sig, event) = match w {
            Wait::Exited(status) => return self.on_exit(tid, status),
            Wait::Stopped { sig, event } => (sig, event),
        };
        let Some(state) = self.threads.get(&tid).map(|t| t.state) else {
            // A new child's first stop before its parent's clone event.
            self.early.insert(tid);
            return;
        };
        match event {
            PTRACE_EVENT_FORK | PTRACE_EVENT_VFORK | PTRACE_EVENT_CLONE => {
                self.on_clone(tid, event);
                let _ = cont(tid, 0);
            }
            PTRACE_EVENT_SECCOMP => self.on_seccomp(tid),
            PTRACE_EVENT_STOP => {
                // First stop of an announced child, a group stop, or a stale
                // interrupt. Job control is the sentry's (it never sends
                // host stop signals), so all of them just resume.
                if let Some(t) = self.threads.get_mut(&tid) {
                    if t.state == State::Announced {
                        t.state = State::Running;
                    }
                }
                let _ = cont(tid, 0);
            }
            _ if sig == (libc::SIGTRAP | 0x80) => {
                // Syscall stops happen only inside injections.
                let _ = cont(tid, 0);
            }
            _ if state == State::Exiting => {
                let _ = cont(tid, 0);
            }
            _ => self.on_signal(tid, sig),
        }
    }

    fn on_exit(&mut self, tid: i32, status: ExitStatus) {
        self.early.remove(&tid);
        let Some(t) = self.threads.remove(&tid) else {
            return;
        };
        let last = !self.threads.values().any(|o| o.tgid == t.tgid);
        let status = match (status, self.fatal.get(&t.tgid)) {
            (
                ExitStatus::Signaled {
                    signal: libc::SIGKILL,
                    ..
                },
                Some(&signal),
            ) => ExitStatus::Signaled {
                signal,
                core_dumped: false,
            },
            (s, _) => s,
        };
        if last {
            self.inits.remove(&t.tgid);
            self.fatal.remove(&t.tgid);
        }
        self.sink.deliver(Event::Exited {
            tid: HostTid(tid),
            tgid: HostTid(t.tgid),
            status,
            last,
        });
    }

    fn on_clone(&mut self, parent: i32, event: i32) {
        let Ok(child) = event_msg(parent).map(|m| m as i32) else {
            return;
        };
        let Some(p) = self.threads.get(&parent) else {
            return;
        };
        let kind = match event {
            PTRACE_EVENT_FORK => CloneKind::Process,
            PTRACE_EVENT_VFORK => CloneKind::Vfork,
            // The clone flags are still in the parent's first argument
            // register at the event stop.
            _ => match get_regs(parent) {
                Ok(r) if r.rdi & libc::CLONE_THREAD as u64 != 0 => CloneKind::Thread,
                _ => CloneKind::Process,
            },
        };
        let tgid = if kind == CloneKind::Thread {
            p.tgid
        } else {
            child
        };
        let listener = p.listener.clone();
        let started = self.early.remove(&child);
        self.threads.insert(
            child,
            Thread {
                tgid,
                listener,
                state: if started {
                    State::Running
                } else {
                    State::Announced
                },
                fault: None,
            },
        );
        self.sink.deliver(Event::Cloned {
            parent: HostTid(parent),
            child: HostTid(child),
            kind,
        });
        if started {
            let _ = cont(child, 0);
        }
    }

    fn on_seccomp(&mut self, tid: i32) {
        let call = match event_msg(tid).map(|m| m as u16) {
            Ok(TRACE_EXECVE) => ExecCall::Execve,
            Ok(TRACE_EXECVEAT) => ExecCall::Execveat,
            Ok(TRACE_VFORK) => {
                // `vfork` becomes `fork`: a child sharing the parent's memory
                // would take the parent's image down at its in-place exec.
                // A correct vfork child only execs or exits, so losing the
                // sharing (the child's writes stay its own) and the parent's
                // suspension is invisible to it.
                return self.rewrite_fork(tid, |r| r.orig_rax = libc::SYS_fork as u64);
            }
            Ok(TRACE_CLONE_VM) => {
                // Likewise for a process-creating `clone` with `CLONE_VM` or
                // `CLONE_VFORK` (posix_spawn): both go, every other flag and
                // argument stays. The child runs on its own copy of the new
                // stack in `rsi`, which holds what the parent put there.
                return self.rewrite_fork(tid, |r| {
                    r.rdi &= !((libc::CLONE_VM | libc::CLONE_VFORK) as u64);
                });
            }
            _ => {
                // No other rule traces; skip whatever this is.
                let _ = self.skip_syscall(tid, -i64::from(libc::ENOSYS));
                return;
            }
        };
        let Ok(r) = get_regs(tid) else { return };
        if let Some(t) = self.threads.get_mut(&tid) {
            t.state = State::ExecStop;
        }
        self.sink.deliver(Event::ExecRequested {
            tid: HostTid(tid),
            call,
            args: [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9],
        });
    }

    /// At a seccomp stop for a call that must create a process by copy:
    /// applies `rewrite` to the registers and resumes into the changed call.
    ///
    /// The host runs the seccomp filter again on the changed call, and a
    /// second `RET_TRACE` verdict there would mean *allow*. That is safe
    /// because neither result can be traced again: `fork` is native, and a
    /// `clone` without `CLONE_VM`/`CLONE_VFORK` is native or, with a
    /// forbidden flag, notified to the sentry (notification and every other
    /// verdict are honoured on the re-run). The fork/clone event that follows
    /// is `PTRACE_EVENT_FORK`/`_CLONE` with flags lacking `CLONE_THREAD`, so
    /// the child is reported as [`CloneKind::Process`].
    fn rewrite_fork(&mut self, tid: i32, rewrite: impl FnOnce(&mut libc::user_regs_struct)) {
        let Ok(mut r) = get_regs(tid) else { return };
        rewrite(&mut r);
        if set_regs(tid, &r).is_err() {
            // Never let the unchanged call run.
            let _ = self.skip_syscall(tid, -i64::from(libc::EAGAIN));
            return;
        }
        let _ = cont(tid, 0);
    }

    /// At a seccomp stop: skip the call, make it return `ret`, resume.
    fn skip_syscall(&mut self, tid: i32, ret: i64) -> io::Result<()> {
        let mut r = get_regs(tid)?;
        r.orig_rax = u64::MAX;
        r.rax = ret as u64;
        set_regs(tid, &r)?;
        cont(tid, 0)
    }

    fn on_signal(&mut self, tid: i32, sig: i32) {
        let info = siginfo(tid).ok();
        let (code, sender, fault_addr) = match &info {
            // SAFETY: si_pid is meaningful for the user-sent codes checked
            // by the caller; si_addr for faults; both are plain reads.
            Some(i) => unsafe { (i.si_code, i.si_pid(), i.si_addr() as u64) },
            None => (0, 0, 0),
        };
        // Signals sent by a process (the sandbox's own `kill`s, native in
        // its pid namespace, or the sentry's) go straight through, as the
        // host delivers them exactly as Linux would; what the host kernel
        // generates itself (faults, SIGCHLD) is the kernel's decision.
        let user_sent = code <= 0;
        self.restart_unreceived_call(tid);
        if user_sent {
            let _ = cont(tid, sig);
            return;
        }
        let fault = matches!(
            sig,
            libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGILL
                | libc::SIGFPE
                | libc::SIGTRAP
                | libc::SIGSYS
        ) && !user_sent;
        if let Some(t) = self.threads.get_mut(&tid) {
            t.state = State::SignalStop;
            t.fault = fault.then_some(sig);
        }
        let fault_addr = if user_sent { 0 } else { fault_addr };
        self.sink.deliver(Event::Signal {
            tid: HostTid(tid),
            signal: HostSignal {
                signo: sig,
                code,
                sender: if user_sent { sender } else { 0 },
                fault_addr,
            },
        });
    }

    /// A signal can abort a trapped call before the sentry has received it
    /// (afterwards the stub's wait is killable only). Such a call never
    /// happened, so it must restart whatever the handler's `SA_RESTART`:
    /// Linux would have completed a non-blocking call and delivered the
    /// signal after it. The host reports these as `ERESTARTSYS`; rewritten
    /// here to `ERESTARTNOINTR` before the host acts on it. Calls the sentry
    /// itself ended with `ERESTARTSYS` ([`Reply::interrupt`]) keep it.
    fn restart_unreceived_call(&self, tid: i32) {
        const ERESTARTSYS: i64 = 512;
        const ERESTARTNOINTR: i64 = 513;
        let Some(t) = self.threads.get(&tid) else {
            return;
        };
        let by_sentry = t.listener.take_interrupted(tid);
        let Ok(mut regs) = get_regs(tid) else {
            return;
        };
        let nr = regs.orig_rax as i64;
        if nr < 0 || regs.rax as i64 != -ERESTARTSYS || by_sentry || filter::always_native(nr) {
            return;
        }
        regs.rax = (-ERESTARTNOINTR) as u64;
        if let Err(e) = set_regs(tid, &regs) {
            tracing::debug!("restart of an unreceived call of {tid}: {e}");
        }
    }

    fn expect_state(&self, tid: i32, ok: &[State], expected: &'static str) -> Result<State> {
        match self.threads.get(&tid) {
            Some(t) if ok.contains(&t.state) => Ok(t.state),
            Some(_) => Err(PlatformError::WrongState {
                tid: HostTid(tid),
                expected,
            }),
            None => Err(PlatformError::Gone(HostTid(tid))),
        }
    }

    fn fail_exec(&mut self, tid: i32, errno: i32) -> Result<()> {
        self.expect_state(tid, &[State::ExecStop], "stopped at execve")?;
        self.skip_syscall(tid, -i64::from(errno.abs()))
            .map_err(|_| PlatformError::Gone(HostTid(tid)))?;
        self.set_state(tid, State::Running);
        Ok(())
    }

    fn resume_signal(&mut self, tid: i32, signal: Option<i32>) -> Result<()> {
        self.expect_state(tid, &[State::SignalStop], "held at a signal")?;
        let t = &self.threads[&tid];
        let (tgid, fault) = (t.tgid, t.fault);
        if signal.is_some() && signal == fault && self.inits.contains(&tgid) {
            // A traced namespace init drops a fault with the default action
            // and re-runs the faulting instruction; do what an untraced one
            // would and let it die of the fault.
            let status = procfs::read_status(&self.handle.proc, HostTid(tid))?;
            let sig = signal.unwrap_or(0);
            if !procfs::catches(&status, sig, HostTid(tid))? {
                self.fatal.insert(tgid, sig);
                // SAFETY: kill(2) of a traced, unreaped group.
                unsafe { libc::kill(tgid, libc::SIGKILL) };
                let _ = cont(tid, 0);
                self.set_state(tid, State::Running);
                return Ok(());
            }
        }
        cont(tid, signal.unwrap_or(0)).map_err(|_| PlatformError::Gone(HostTid(tid)))?;
        self.set_state(tid, State::Running);
        Ok(())
    }

    fn set_state(&mut self, tid: i32, s: State) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.state = s;
            t.fault = None;
        }
    }

    /// Waits for the interrupted thread `tid` to stop, releasing any call
    /// of it the sentry holds meanwhile: a call the sentry receives (and
    /// holds) only after the interrupt would otherwise keep it waiting for
    /// good.
    fn wait_releasing(&mut self, tid: i32) -> Result<Wait> {
        loop {
            if let Some(t) = self.threads.get(&tid) {
                t.listener.abort_outstanding(tid);
            }
            match self.wait_once(tid, libc::WNOHANG)? {
                Some(w) => return Ok(w),
                None => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
    }

    /// Waits for the next stop of `tid`. Its exit is handled (reported) here
    /// and turned into `Gone`.
    fn wait_for(&mut self, tid: i32) -> Result<Wait> {
        loop {
            if let Some(w) = self.wait_once(tid, 0)? {
                return Ok(w);
            }
        }
    }

    /// One `waitpid` for `tid` with `flags` added; `None` if `WNOHANG` found
    /// no change. Its exit is handled (reported) here and turned into `Gone`.
    fn wait_once(&mut self, tid: i32, flags: i32) -> Result<Option<Wait>> {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status int.
            let r = unsafe {
                libc::waitpid(tid, &mut status, libc::__WALL | libc::__WNOTHREAD | flags)
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(PlatformError::Gone(HostTid(tid)));
            }
            if r == 0 {
                return Ok(None);
            }
            let w = decode(status);
            if let Wait::Exited(s) = w {
                self.on_exit(tid, s);
                return Err(PlatformError::Gone(HostTid(tid)));
            }
            return Ok(Some(w));
        }
    }

    // ---- stub creation ----

    fn create_process(&mut self, beside: Option<HostTid>, mount_proc: bool) -> Result<HostTid> {
        let (pid, ready) = match beside {
            None => self.zygote.fork_stub(None, mount_proc)?,
            Some(tree) => {
                let ns = procfs::open_pid_ns(&self.handle.proc, tree)?;
                self.zygote
                    .fork_stub(Some(std::os::fd::AsFd::as_fd(&ns)), false)?
            }
        };
        match self.bootstrap(pid, ready) {
            Ok(()) => {
                if beside.is_none() {
                    self.inits.insert(pid);
                }
                Ok(HostTid(pid))
            }
            Err(e) => {
                // SAFETY: kill(2) of a stub not yet reaped: the zygote reaps
                // it only after we have (or, unseized, after this kill).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let mut status = 0;
                // SAFETY: waitpid writes the status int. It fails at once if
                // the stub was never seized (the zygote reaps it then).
                unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::__WNOTHREAD) };
                self.threads.remove(&pid);
                Err(e)
            }
        }
    }

    fn bootstrap(&mut self, pid: i32, ready: OwnedFd) -> Result<()> {
        ptrace(libc::PTRACE_SEIZE, pid, 0, TRACE_OPTIONS as usize).map_err(|source| {
            PlatformError::Os {
                what: "PTRACE_SEIZE",
                source,
            }
        })?;
        // SAFETY: writes one byte from a live buffer to our pipe.
        let n = unsafe { libc::write(ready.as_raw_fd(), b"go".as_ptr().cast(), 1) };
        drop(ready);
        if n != 1 {
            return Err(PlatformError::os("write to stub"));
        }
        let bad = |what: &str, w: Wait| PlatformError::Bootstrap(format!("{what}: {w:?}"));
        // First int3: the filter is installed and rdi holds the listener.
        let w = self.wait_raw(pid)?;
        if !matches!(
            w,
            Wait::Stopped {
                sig: libc::SIGTRAP,
                event: 0
            }
        ) {
            return Err(bad("expected the listener stop", w));
        }
        let regs = get_regs(pid).map_err(|source| PlatformError::Os {
            what: "GETREGS",
            source,
        })?;
        let listener =
            Listener::new(take_fd(pid, regs.rdi as i32)?).map_err(|source| PlatformError::Os {
                what: "SECCOMP_IOCTL_NOTIF_SET_FLAGS",
                source,
            })?;
        // The stub's close of its listener copy is trapped; mark it ours.
        listener.set_injecting(HostTid(pid), true);
        self.spawn_receivers(&listener)?;
        self.threads.insert(
            pid,
            Thread {
                tgid: pid,
                listener: listener.clone(),
                state: State::Fresh,
                fault: None,
            },
        );
        cont(pid, 0).map_err(|source| PlatformError::Os {
            what: "PTRACE_CONT",
            source,
        })?;
        let w = self.wait_raw(pid)?;
        listener.set_injecting(HostTid(pid), false);
        if !matches!(
            w,
            Wait::Stopped {
                sig: libc::SIGTRAP,
                event: 0
            }
        ) {
            return Err(bad("expected the ready stop", w));
        }
        Ok(())
    }

    /// Like `wait_for` but reports a bootstrap exit as a bootstrap error.
    fn wait_raw(&mut self, pid: i32) -> Result<Wait> {
        let mut status = 0;
        // SAFETY: waitpid writes the status int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::__WNOTHREAD) };
        if r < 0 {
            return Err(PlatformError::os("waitpid stub"));
        }
        match decode(status) {
            Wait::Exited(s) => {
                self.threads.remove(&pid);
                Err(PlatformError::Bootstrap(format!(
                    "stub exited during bootstrap: {s:?}"
                )))
            }
            w => Ok(w),
        }
    }

    fn spawn_receivers(&mut self, listener: &Arc<Listener>) -> Result<()> {
        let mut handles = self
            .handle
            .receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Forget receivers that already ended (their tree is gone).
        handles.retain(|h| !h.is_finished());
        for _ in 0..self.config.receivers_per_tree.max(1) {
            let (l, s) = (listener.clone(), self.sink.clone());
            let h = std::thread::Builder::new()
                .name("vigil-notify".into())
                .spawn(move || receive_loop(l, s))
                .map_err(|source| PlatformError::Os {
                    what: "spawn receiver thread",
                    source,
                })?;
            handles.push(h);
        }
        Ok(())
    }

    // ---- image installation ----

    fn install_image(&mut self, tid: i32, image: &Image) -> Result<()> {
        let state = self.expect_state(
            tid,
            &[State::Fresh, State::ExecStop],
            "a fresh stub or stopped at execve",
        )?;
        let listener = self.threads[&tid].listener.clone();
        listener.set_injecting(HostTid(tid), true);
        // Installation is a few dozen ptrace round trips between this
        // thread and the stub; across vCPUs each costs tens of µs in a VM,
        // on one vCPU a few. Both sit on this thread's CPU meanwhile.
        let pinned = SharedCpu::pin(tid);
        let r = self.install_locked(tid, state, image, &listener);
        drop(pinned);
        listener.set_injecting(HostTid(tid), false);
        let deferred = self.deferred.remove(&tid).unwrap_or_default();
        match r {
            Ok(()) => {
                self.set_state(tid, State::Running);
                let tgid = self.threads.get(&tid).map_or(tid, |t| t.tgid);
                for sig in deferred {
                    // Queued again now that the new image runs; it passes
                    // through as a user-sent signal.
                    let _ = tgkill(tgid, tid, sig);
                }
                Ok(())
            }
            Err(PlatformError::Gone(t)) => Err(PlatformError::Gone(t)),
            Err(e) => {
                if let Some(t) = self.threads.get(&tid) {
                    // Past the point of no return: the old image may be
                    // half gone. Kill the process; its exit is reported.
                    // SAFETY: kill(2) of a traced, unreaped group.
                    unsafe { libc::kill(t.tgid, libc::SIGKILL) };
                    let _ = cont(tid, 0);
                }
                Err(PlatformError::InstallFailed(e.to_string()))
            }
        }
    }

    fn install_locked(
        &mut self,
        tid: i32,
        state: State,
        image: &Image,
        listener: &Listener,
    ) -> Result<()> {
        let os = |what: &'static str| move |source| PlatformError::Os { what, source };
        if state == State::ExecStop {
            // Skip the host execve and send the thread to the trampoline's
            // int3, where every injection step starts and ends.
            let mut r = get_regs(tid).map_err(os("GETREGS"))?;
            r.orig_rax = u64::MAX;
            r.rip = TRAMPOLINE_INT3;
            set_regs(tid, &r).map_err(os("SETREGS"))?;
            cont(tid, 0).map_err(os("PTRACE_CONT"))?;
            self.wait_for_int3(tid)?;
        }
        self.verify_trampoline(tid)?;
        self.kill_other_threads(tid)?;
        let base = get_regs(tid).map_err(os("GETREGS"))?;
        let mut inj = Injector { tid, base };

        // A forked stub inherits the sentry thread's rseq registration; the
        // host would fault updating it once its memory is unmapped.
        if let Some((ptr, len, sig)) = rseq_configuration(tid) {
            self.inject_ok(
                &mut inj,
                libc::SYS_rseq,
                [ptr, u64::from(len), 1, u64::from(sig), 0, 0],
            )?;
        }
        for (start, len) in self.handle.layout.unmap_ranges() {
            self.inject_ok(&mut inj, libc::SYS_munmap, [start, len, 0, 0, 0, 0])?;
        }
        // Exec-time resets of kernel state that points into the old image.
        self.inject_ok(&mut inj, libc::SYS_set_robust_list, [0, 24, 0, 0, 0, 0])?;
        self.inject(&mut inj, libc::SYS_set_tid_address, [0; 6])?;
        let mem = Memory::of_thread(HostTid(tid));
        let fault = |e: super::MemoryError| PlatformError::InstallFailed(e.to_string());
        // stack_t { ss_sp, ss_flags = SS_DISABLE, ss_size }
        let ss: [u64; 3] = [0, libc::SS_DISABLE as u64, 0];
        mem.write(SCRATCH_ADDR, &ss).map_err(fault)?;
        self.inject_ok(
            &mut inj,
            libc::SYS_sigaltstack,
            [SCRATCH_ADDR, 0, 0, 0, 0, 0],
        )?;
        self.reset_signal_handlers(&mut inj, &mem)?;
        let mut name = [0u8; 16];
        let n = image.name.len().min(15);
        name[..n].copy_from_slice(&image.name[..n]);
        mem.write(SCRATCH_ADDR, &name).map_err(fault)?;
        self.inject_ok(
            &mut inj,
            libc::SYS_prctl,
            [libc::PR_SET_NAME as u64, SCRATCH_ADDR, 0, 0, 0, 0],
        )?;

        for m in &image.mappings {
            let len = m.len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
            let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
            let got = self.inject(
                &mut inj,
                libc::SYS_mmap,
                [m.addr, len, rw, flags, u64::MAX, 0],
            )?;
            if got as u64 != m.addr {
                return Err(PlatformError::InstallFailed(format!(
                    "mmap {:#x} returned {got}",
                    m.addr
                )));
            }
            mem.write_bytes(m.addr + m.contents_offset, &m.contents)
                .map_err(fault)?;
            if u64::from(m.prot.0) != rw {
                self.inject_ok(
                    &mut inj,
                    libc::SYS_mprotect,
                    [m.addr, len, u64::from(m.prot.0), 0, 0, 0],
                )?;
            }
        }

        // Best effort: without it (a kernel without checkpoint/restore, a
        // layout it refuses) the heap stays where the stub's was and host
        // tools show an empty command line; the program runs the same.
        mem.write(SCRATCH_ADDR, &image.layout).map_err(fault)?;
        let set = self.inject(
            &mut inj,
            libc::SYS_prctl,
            [
                libc::PR_SET_MM as u64,
                libc::PR_SET_MM_MAP as u64,
                SCRATCH_ADDR,
                std::mem::size_of::<MmLayout>() as u64,
                0,
                0,
            ],
        )?;
        if set != 0 {
            tracing::debug!("PR_SET_MM_MAP for {tid}: {set}");
        }
        reset_fpu(tid).map_err(os("SETFPREGS"))?;
        // SAFETY: all-zero is a valid user_regs_struct.
        let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        r.rip = image.entry;
        r.rsp = image.stack_pointer;
        r.orig_rax = u64::MAX;
        r.eflags = 0x202; // IF, plus the always-one bit
        r.cs = base.cs;
        r.ss = base.ss;
        set_regs(tid, &r).map_err(os("SETREGS"))?;
        // From the next instruction on, every notification from this thread
        // is the application's: leave injection mode while still stopped.
        listener.set_injecting(HostTid(tid), false);
        cont(tid, 0).map_err(os("PTRACE_CONT"))?;
        Ok(())
    }

    /// Resets handled signals to the default action (ignored ones stay
    /// ignored, as across execve).
    fn reset_signal_handlers(&mut self, inj: &mut Injector, mem: &Memory<'_>) -> Result<()> {
        let fault = |e: super::MemoryError| PlatformError::InstallFailed(e.to_string());
        let dfl_at = SCRATCH_ADDR + 64;
        let old_at = SCRATCH_ADDR + 128;
        mem.write(dfl_at, &[0u64; 4]).map_err(fault)?;
        // Only caught signals change at exec (ignored ones stay ignored,
        // default ones stay default); the status file says which are caught,
        // which saves an injected call per signal.
        let status = procfs::read_status(&self.handle.proc, HostTid(inj.tid))?;
        let caught = procfs::caught(&status, HostTid(inj.tid))?;
        for sig in (1..=64u64).filter(|s| caught & (1 << (s - 1)) != 0) {
            self.inject_ok(inj, libc::SYS_rt_sigaction, [sig, dfl_at, old_at, 8, 0, 0])?;
        }
        Ok(())
    }

    fn verify_trampoline(&self, tid: i32) -> Result<()> {
        let mut code = [0u8; stub::TRAMPOLINE_CODE.len()];
        Memory::of_thread(HostTid(tid))
            .read_bytes(TRAMPOLINE_SYSCALL, &mut code)
            .map_err(|e| PlatformError::InstallFailed(format!("trampoline unreadable: {e}")))?;
        if code != stub::TRAMPOLINE_CODE {
            return Err(PlatformError::InstallFailed(
                "the application overwrote the trampoline".into(),
            ));
        }
        Ok(())
    }

    fn inject_ok(&mut self, inj: &mut Injector, nr: i64, args: [u64; 6]) -> Result<()> {
        match self.inject(inj, nr, args)? {
            0 => Ok(()),
            r => Err(PlatformError::InstallFailed(format!(
                "injected syscall {nr} returned {r}"
            ))),
        }
    }

    /// Runs one system call in the stopped thread `inj.tid` through the
    /// trampoline and returns its result.
    fn inject(&mut self, inj: &mut Injector, nr: i64, args: [u64; 6]) -> Result<i64> {
        let tid = inj.tid;
        let mut r = inj.base;
        r.rip = TRAMPOLINE_SYSCALL;
        r.rax = nr as u64;
        // No syscall is in progress, so no restart logic may touch rax/rip.
        r.orig_rax = u64::MAX;
        (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) =
            (args[0], args[1], args[2], args[3], args[4], args[5]);
        set_regs(tid, &r).map_err(|source| PlatformError::Os {
            what: "SETREGS",
            source,
        })?;
        cont(tid, 0).map_err(|source| PlatformError::Os {
            what: "PTRACE_CONT",
            source,
        })?;
        let done = self.wait_for_int3(tid)?;
        Ok(done.rax as i64)
    }

    /// Waits until `tid` stops at the trampoline's int3 and returns its
    /// registers there. Other stops on the way (a host signal racing with
    /// the injection, an interrupt) are resumed without delivering anything:
    /// the image they concern is being replaced.
    fn wait_for_int3(&mut self, tid: i32) -> Result<libc::user_regs_struct> {
        loop {
            match self.wait_for(tid)? {
                Wait::Stopped {
                    sig: libc::SIGTRAP,
                    event: 0,
                } => {
                    let regs = get_regs(tid).map_err(|_| PlatformError::Gone(HostTid(tid)))?;
                    if regs.rip == TRAMPOLINE_INT3 + 1 {
                        return Ok(regs);
                    }
                    tracing::warn!(
                        tid,
                        rip = regs.rip,
                        "SIGTRAP outside the trampoline during injection"
                    );
                    let _ = cont(tid, 0);
                }
                Wait::Stopped { sig, event: 0 }
                    if matches!(
                        sig,
                        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
                    ) =>
                {
                    // A fault in the trampoline itself would recur forever.
                    return Err(PlatformError::InstallFailed(format!(
                        "signal {sig} during injection"
                    )));
                }
                Wait::Stopped { sig, event: 0 } if sig != libc::SIGSTOP => {
                    // A signal racing with the injection: kept for the new
                    // image rather than delivered into the trampoline.
                    self.deferred.entry(tid).or_default().push(sig);
                    let _ = cont(tid, 0);
                }
                w => {
                    tracing::debug!(tid, ?w, "resuming a stop during injection");
                    let _ = cont(tid, 0);
                }
            }
        }
    }

    /// Makes every other thread of `tid`'s group call `exit` (exec
    /// semantics): interrupt each, and at its stop point it at the
    /// trampoline's `syscall` with `rax = SYS_exit`. Their exits are reported
    /// as usual when the host reaps them.
    fn kill_other_threads(&mut self, tid: i32) -> Result<()> {
        let tgid = self.threads[&tid].tgid;
        let mut todo: Vec<i32> = self
            .threads
            .iter()
            .filter(|(t, th)| **t != tid && th.tgid == tgid && th.state != State::Exiting)
            .map(|(t, _)| *t)
            .collect();
        while let Some(victim) = todo.pop() {
            let state = self.threads.get(&victim).map(|t| t.state);
            let already_stopped = matches!(
                state,
                Some(State::Fresh | State::ExecStop | State::SignalStop)
            );
            if !already_stopped {
                if state == Some(State::Running)
                    && ptrace(libc::PTRACE_INTERRUPT, victim, 0, 0).is_err()
                {
                    continue; // already dead; its exit comes through waitpid
                }
                // A thread blocked in a call the sentry holds only wakes for
                // a fatal signal; release it (it stops before user code).
                match self.wait_releasing(victim) {
                    Err(_) => continue,
                    Ok(Wait::Stopped { event, .. })
                        if matches!(
                            event,
                            PTRACE_EVENT_FORK | PTRACE_EVENT_VFORK | PTRACE_EVENT_CLONE
                        ) =>
                    {
                        // It was creating a task: that task dies too if it
                        // is a thread; a new process survives (its own group).
                        let before: HashSet<i32> = self.threads.keys().copied().collect();
                        self.on_clone(victim, event);
                        for t in self.threads.keys() {
                            if !before.contains(t) && self.threads[t].tgid == tgid {
                                todo.push(*t);
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
            if let Ok(mut r) = get_regs(victim) {
                r.rip = TRAMPOLINE_SYSCALL;
                r.rax = libc::SYS_exit as u64;
                r.rdi = 0;
                r.orig_rax = u64::MAX;
                if set_regs(victim, &r).is_ok() {
                    let _ = cont(victim, 0);
                }
            }
            self.set_state(victim, State::Exiting);
            if victim != tgid {
                // A non-leader's exit is reported at once: reap it, so the
                // new image never runs next to a thread of the old one. (A
                // leader's exit is only reported once its group is empty;
                // it cannot run application code any more either way.)
                while self.wait_for(victim).is_ok() {
                    let _ = cont(victim, 0);
                }
            }
        }
        Ok(())
    }
}

/// The state of one injection sequence: the registers every step starts
/// from (segment selectors and flags of the stopped thread).
/// The tracer thread and a stub pinned to the tracer's current CPU, and
/// their previous CPU masks, restored on drop (a program's affinity
/// survives `execve`).
struct SharedCpu {
    stub: i32,
    stub_mask: libc::cpu_set_t,
    own_mask: libc::cpu_set_t,
}

impl SharedCpu {
    fn pin(stub: i32) -> Option<SharedCpu> {
        // SAFETY: the affinity calls read and write cpu_set_t values we own;
        // sched_getcpu has no arguments.
        unsafe {
            let cpu = libc::sched_getcpu();
            if cpu < 0 {
                return None;
            }
            let mut stub_mask: libc::cpu_set_t = std::mem::zeroed();
            let mut own_mask: libc::cpu_set_t = std::mem::zeroed();
            let size = size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(stub, size, &mut stub_mask) != 0
                || libc::sched_getaffinity(0, size, &mut own_mask) != 0
            {
                return None;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut one);
            if libc::sched_setaffinity(0, size, &one) != 0 {
                return None;
            }
            // Best effort: if the stub cannot move, only speed is lost.
            libc::sched_setaffinity(stub, size, &one);
            Some(SharedCpu {
                stub,
                stub_mask,
                own_mask,
            })
        }
    }
}

impl Drop for SharedCpu {
    fn drop(&mut self) {
        let size = size_of::<libc::cpu_set_t>();
        // SAFETY: restores masks read in `pin`.
        unsafe {
            libc::sched_setaffinity(self.stub, size, &self.stub_mask);
            libc::sched_setaffinity(0, size, &self.own_mask);
        }
    }
}

struct Injector {
    tid: i32,
    base: libc::user_regs_struct,
}

/// The rseq area registered by stopped thread `tid`, if any: pointer,
/// length, signature.
fn rseq_configuration(tid: i32) -> Option<(u64, u32, u32)> {
    const PTRACE_GET_RSEQ_CONFIGURATION: libc::c_uint = 0x420f;
    // struct ptrace_rseq_configuration: u64 pointer, u32 size, u32
    // signature, u32 flags, u32 padding.
    let mut conf = [0u32; 6];
    ptrace(
        PTRACE_GET_RSEQ_CONFIGURATION,
        tid,
        24,
        conf.as_mut_ptr() as usize,
    )
    .ok()?;
    let ptr = u64::from(conf[0]) | u64::from(conf[1]) << 32;
    (ptr != 0).then_some((ptr, conf[2], conf[3]))
}

/// Copies fd `fd` out of process `pid` with pidfd_getfd.
fn take_fd(pid: i32, fd: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory arguments.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(PlatformError::os("pidfd_open"));
    }
    // SAFETY: pidfd_open returned a fresh fd we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd has no memory arguments.
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if got < 0 {
        return Err(PlatformError::os("pidfd_getfd"));
    }
    // SAFETY: pidfd_getfd returned a fresh fd we own (O_CLOEXEC is implied).
    Ok(unsafe { OwnedFd::from_raw_fd(got as i32) })
}
