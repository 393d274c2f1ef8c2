//! Tasks (threads) and thread groups (processes) with the sandbox's own
//! process ids. Each task is one host thread of a stub; its ids, parentage,
//! descriptor table and filesystem context live here, not on the host.
//!
//! Lock order: `Kernel::pids`, then a `ThreadGroup::state` (a parent's
//! before its child's), then a `Task`'s own locks.

use super::fdtable::FdTable;
use super::sched::Parked;
use crate::platform::HostTid;
use crate::sync::lock;
use crate::vfs::FsContext;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// A process or thread id as the application sees it.
pub type Pid = i32;

/// The id of one of the sandbox's containers: empty for the one it booted
/// with.
pub type ContainerId = Arc<str>;

/// How a process ended, as `wait4` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    /// The `wstatus` word of `wait4(2)`.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => (code & 0xff) << 8,
            ExitStatus::Signaled {
                signal,
                core_dumped,
            } => (signal & 0x7f) | if core_dumped { 0x80 } else { 0 },
        }
    }
}

/// One thread of the application.
pub struct Task {
    pub tid: Pid,
    pub host: HostTid,
    pub group: Arc<ThreadGroup>,
    pub files: Arc<FdTable>,
    pub fs: Arc<Mutex<FsContext>>,
    /// The system call this thread is blocked in, if any.
    parked: Mutex<Option<Arc<Parked>>>,
}

impl Task {
    pub fn new(
        tid: Pid,
        host: HostTid,
        group: Arc<ThreadGroup>,
        files: Arc<FdTable>,
        fs: Arc<Mutex<FsContext>>,
    ) -> Arc<Task> {
        Arc::new(Task {
            tid,
            host,
            group,
            files,
            fs,
            parked: Mutex::new(None),
        })
    }

    /// A copy of the task's filesystem context (root, cwd, umask, creds).
    pub fn fs_context(&self) -> FsContext {
        lock(&self.fs).clone()
    }

    pub fn fs_lock(&self) -> MutexGuard<'_, FsContext> {
        lock(&self.fs)
    }

    /// The call this task is blocked in, if any.
    pub fn parked(&self) -> Option<Arc<Parked>> {
        lock(&self.parked).clone()
    }

    /// Records the call this task now blocks in; a call parked before it is
    /// necessarily dead (one call in flight per thread) and is dropped.
    pub fn park(&self, call: Option<Arc<Parked>>) {
        let old = std::mem::replace(&mut *lock(&self.parked), call);
        drop(old);
    }
}

/// What a process's `/proc/PID` and `ps` show about it.
#[derive(Clone, Debug, Default)]
pub struct Image {
    /// `comm`: the executable's file name, at most 15 bytes.
    pub comm: Vec<u8>,
    /// Path of the executable, for `/proc/PID/exe`.
    pub exe: Vec<u8>,
    /// argv joined with NULs, for `/proc/PID/cmdline`.
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    /// Where argv and envp strings sit in the process's memory: Linux reads
    /// `/proc/PID/cmdline` live from there (programs may rewrite them).
    pub args: (u64, u64),
    pub env: (u64, u64),
}

/// The mutable state of a process.
pub struct GroupState {
    pub parent: Weak<ThreadGroup>,
    pub children: Vec<Arc<ThreadGroup>>,
    pub threads: Vec<Arc<Task>>,
    /// Set once the last thread has exited.
    pub exit: Option<ExitStatus>,
    pub pgid: Pid,
    pub sid: Pid,
    pub image: Image,
    pub rlimits: Rlimits,
}

/// Resource limits, indexed by `RLIMIT_*`: (soft, hard).
pub type Rlimits = [(u64, u64); 16];

/// Linux's defaults for a new init, where the spec sets nothing.
pub fn default_rlimits() -> Rlimits {
    let inf = u64::MAX;
    let mut r = [(inf, inf); 16];
    r[libc::RLIMIT_STACK as usize] = (8 << 20, inf);
    r[libc::RLIMIT_CORE as usize] = (0, inf);
    r[libc::RLIMIT_NOFILE as usize] = (1024, 1024 * 1024);
    r[libc::RLIMIT_NPROC as usize] = (63_000, 63_000);
    r[libc::RLIMIT_MEMLOCK as usize] = (8 << 20, 8 << 20);
    r[libc::RLIMIT_SIGPENDING as usize] = (63_000, 63_000);
    r[libc::RLIMIT_MSGQUEUE as usize] = (819_200, 819_200);
    r[libc::RLIMIT_NICE as usize] = (0, 0);
    r[libc::RLIMIT_RTPRIO as usize] = (0, 0);
    r
}

/// A process: a thread group with one pid.
pub struct ThreadGroup {
    pub pid: Pid,
    /// The host process id (the host tid of the first thread), which host
    /// signals are sent to.
    pub host: HostTid,
    /// The container it belongs to: where it was started, or its
    /// parent's.
    pub container: ContainerId,
    state: Mutex<GroupState>,
}

impl ThreadGroup {
    /// A process started from outside (a container's init, or an exec'd
    /// process): no parent inside the sandbox, and a session and process
    /// group of its own.
    pub fn new_session(
        pid: Pid,
        host: HostTid,
        container: ContainerId,
        image: Image,
        rlimits: Rlimits,
    ) -> Arc<ThreadGroup> {
        ThreadGroup::with_state(pid, host, container, Weak::new(), pid, pid, image, rlimits)
    }

    /// A child of `self` (a fork): in its parent's container, session and
    /// process group, with its image and limits.
    pub fn fork(self: &Arc<ThreadGroup>, pid: Pid, host: HostTid) -> Arc<ThreadGroup> {
        let (pgid, sid, image, rlimits) = {
            let s = self.state();
            (s.pgid, s.sid, s.image.clone(), s.rlimits)
        };
        let parent = Arc::downgrade(self);
        let container = self.container.clone();
        ThreadGroup::with_state(pid, host, container, parent, pgid, sid, image, rlimits)
    }

    #[allow(clippy::too_many_arguments)]
    fn with_state(
        pid: Pid,
        host: HostTid,
        container: ContainerId,
        parent: Weak<ThreadGroup>,
        pgid: Pid,
        sid: Pid,
        image: Image,
        rlimits: Rlimits,
    ) -> Arc<ThreadGroup> {
        Arc::new(ThreadGroup {
            pid,
            host,
            container,
            state: Mutex::new(GroupState {
                parent,
                children: Vec::new(),
                threads: Vec::new(),
                exit: None,
                pgid,
                sid,
                image,
                rlimits,
            }),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, GroupState> {
        lock(&self.state)
    }

    pub fn parent(&self) -> Option<Arc<ThreadGroup>> {
        self.state().parent.upgrade()
    }

    /// The parent's pid as `getppid` reports it: 0 for init.
    pub fn ppid(&self) -> Pid {
        self.parent().map_or(0, |p| p.pid)
    }
}
