//! The system-call path: seccomp user notifications.
//!
//! Each stub process tree shares one filter and so one listener fd. Dedicated
//! receiver threads block in `SECCOMP_IOCTL_NOTIF_RECV` and hand every trapped
//! call to the kernel as a [`SyscallTrap`]; they never wait for anything the
//! application does. The kernel answers through the trap's [`Reply`] token
//! from whichever thread it likes, now or much later (a blocking call simply
//! keeps its token parked).

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use super::memory::Memory;
use super::sys::*;
use super::{Event, EventSink, HostTid};

/// Why an answer could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The trapped thread was killed or interrupted by a signal before the
    /// answer arrived. Benign: an interrupted call is restarted by the host
    /// and trapped again; a killed thread needs no answer.
    #[error("the trapped system call is no longer pending")]
    Gone,
    /// `continue_mmap` on something other than `mmap`.
    #[error("only mmap may continue natively, not syscall {0}")]
    NotMmap(i64),
    #[error("seccomp notification ioctl failed: {0}")]
    Io(#[source] io::Error),
}

/// One listener fd and the bookkeeping its receivers need.
pub struct Listener {
    fd: OwnedFd,
    /// Threads executing syscalls the platform injected (bootstrap, image
    /// installation). Their notifications are ours, never the application's,
    /// and are continued natively.
    injecting: Mutex<HashSet<i32>>,
    /// Threads whose call the sentry ended with `ERESTARTSYS` because a
    /// signal was due; see [`Reply::interrupt`].
    interrupted: Mutex<HashSet<i32>>,
    /// The call each thread is blocked in that the kernel holds
    /// ([`SyscallTrap::hold`]): thread id to notification id.
    outstanding: Mutex<std::collections::HashMap<i32, u64>>,
}

impl Listener {
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Arc<Listener>> {
        let flags: u64 = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
        // The receiver usually sleeps while the stub runs; waking it on the
        // stub's own CPU (the stub is about to sleep anyway) avoids a
        // cross-CPU wake-up per call, the dominant cost in a VM.
        // SAFETY: plain ioctl on a listener fd we own, with a u64 argument.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(Listener {
            fd,
            injecting: Mutex::new(HashSet::new()),
            interrupted: Mutex::new(HashSet::new()),
            outstanding: Mutex::new(std::collections::HashMap::new()),
        }))
    }

    pub(crate) fn set_injecting(&self, tid: HostTid, on: bool) {
        let mut set = self.injecting.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            set.insert(tid.0);
        } else {
            set.remove(&tid.0);
        }
    }

    /// Fails the call `tid` is blocked in, if the sentry holds one, with
    /// `EINTR`: a thread whose call the sentry holds waits killably only, so
    /// a thread that `execve` must stop is released this way (it is stopped
    /// on its way back to user mode and never sees the answer). The
    /// kernel's own answer to that call later finds it gone.
    pub(crate) fn abort_outstanding(&self, tid: i32) {
        let id = self
            .outstanding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tid);
        if let Some(id) = id {
            let _ = self.send(id, 0, -libc::EINTR, 0);
        }
    }

    fn answered(&self, tid: HostTid, id: u64) {
        let mut map = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&tid.0) == Some(&id) {
            map.remove(&tid.0);
        }
    }

    /// Whether the sentry ended `tid`'s last call with `ERESTARTSYS`
    /// (consumes the mark).
    pub(crate) fn take_interrupted(&self, tid: i32) -> bool {
        self.interrupted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tid)
    }

    fn is_injecting(&self, tid: i32) -> bool {
        let set = self.injecting.lock().unwrap_or_else(|e| e.into_inner());
        !set.is_empty() && set.contains(&tid)
    }

    /// Whether notification `id` is still pending (its thread still blocked
    /// in it, so its tid still names the same thread).
    pub(crate) fn id_valid(&self, id: u64) -> bool {
        let mut id = id;
        // SAFETY: the ioctl reads a u64 from the pointer, which is valid.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &mut id,
            )
        };
        r == 0
    }

    fn send(&self, id: u64, val: i64, error: i32, flags: u32) -> Result<(), ReplyError> {
        let mut resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: `resp` is a properly initialised seccomp_notif_resp.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENOENT) => ReplyError::Gone,
                _ => ReplyError::Io(e),
            });
        }
        Ok(())
    }

    /// Blocks for the next notification. `Ok(None)` means the filter has no
    /// live users left (every stub of the tree has exited).
    fn recv(&self) -> io::Result<Option<libc::seccomp_notif>> {
        loop {
            // SAFETY: the kernel requires a zeroed struct; all-zero is a
            // valid seccomp_notif.
            let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: `n` is a writable seccomp_notif of the kernel's size
            // (checked by the kernel's ioctl size encoding).
            let r =
                unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
            if r == 0 {
                return Ok(Some(n));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // ENOENT: the notification vanished (its thread was killed)
                // between wake-up and receipt, or the filter is orphaned.
                Some(libc::ENOENT) => {
                    if self.orphaned() {
                        return Ok(None);
                    }
                }
                _ => return Err(e),
            }
        }
    }

    fn orphaned(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        r > 0 && p.revents & libc::POLLHUP != 0
    }

    fn add_fd(
        &self,
        id: u64,
        src: BorrowedFd<'_>,
        target: Option<i32>,
        cloexec: bool,
    ) -> Result<i32, ReplyError> {
        let mut addfd = libc::seccomp_notif_addfd {
            id,
            flags: if target.is_some() {
                SECCOMP_ADDFD_FLAG_SETFD
            } else {
                0
            },
            srcfd: src.as_raw_fd() as u32,
            newfd: target.unwrap_or(0) as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: `addfd` is a valid seccomp_notif_addfd; `src` is a live fd.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                &mut addfd,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENOENT) => ReplyError::Gone,
                _ => ReplyError::Io(e),
            });
        }
        Ok(r)
    }
}

/// Runs one receiver: forwards notifications until the stub tree is gone.
pub(crate) fn receive_loop(listener: Arc<Listener>, sink: Arc<dyn EventSink>) {
    loop {
        let n = match listener.recv() {
            Ok(Some(n)) => n,
            Ok(None) => return,
            Err(e) => {
                tracing::error!("seccomp listener failed: {e}");
                return;
            }
        };
        let tid = n.pid as i32;
        if listener.is_injecting(tid) {
            // Our own injected syscall (see `Listener::injecting`): run it.
            let _ = listener.send(n.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
            continue;
        }
        let trap = SyscallTrap {
            tid: HostTid(tid),
            nr: i64::from(n.data.nr),
            args: n.data.args,
            ip: n.data.instruction_pointer,
            reply: Reply {
                listener: listener.clone(),
                id: n.id,
                nr: i64::from(n.data.nr),
                tid: HostTid(tid),
                answered: false,
                held: false,
            },
        };
        sink.deliver(Event::Syscall(trap));
    }
}

/// A system call trapped from a stub thread, waiting for the kernel's answer.
pub struct SyscallTrap {
    /// The host thread id of the caller.
    pub tid: HostTid,
    /// The x86-64 system call number.
    pub nr: i64,
    /// The six argument registers, raw.
    pub args: [u64; 6],
    /// The instruction pointer after the `syscall` instruction.
    pub ip: u64,
    reply: Reply,
}

impl SyscallTrap {
    /// The caller's memory, checked against this notification.
    pub fn memory(&self) -> Memory<'_> {
        Memory::of_notification(self.tid, &self.reply.listener, self.reply.id)
    }

    /// The answer token, for an answer given now (or as soon as the
    /// serving thread is done).
    pub fn into_reply(self) -> Reply {
        self.reply
    }

    /// The answer token of a call the kernel holds while its thread waits
    /// (a blocking call). Held calls are known to the platform, which
    /// releases them when the thread must stop for an `execve` of another
    /// thread; calls answered at once cost no such bookkeeping.
    pub fn hold(mut self) -> Reply {
        self.reply
            .listener
            .outstanding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.tid.0, self.reply.id);
        self.reply.held = true;
        self.reply
    }

    /// Shortcut for `into_reply().value(v)`.
    pub fn reply_value(self, v: i64) -> Result<(), ReplyError> {
        self.reply.value(v)
    }

    /// Shortcut for `into_reply().errno(e)`.
    pub fn reply_errno(self, errno: i32) -> Result<(), ReplyError> {
        self.reply.errno(errno)
    }
}

impl std::fmt::Debug for SyscallTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SyscallTrap {{ tid: {}, nr: {}, args: {:x?} }}",
            self.tid.0, self.nr, self.args
        )
    }
}

/// The right to answer one trapped system call, exactly once. Any thread may
/// hold and use it. Dropping it unanswered fails the call with `ENOSYS`, so a
/// stub thread is never left blocked by a forgotten token.
pub struct Reply {
    listener: Arc<Listener>,
    id: u64,
    nr: i64,
    tid: HostTid,
    answered: bool,
    /// Registered as held (see [`SyscallTrap::hold`]).
    held: bool,
}

impl Reply {
    /// Ends the platform's record of a held call.
    fn release(&self) {
        if self.held {
            self.listener.answered(self.tid, self.id);
        }
    }

    /// The call returns `v` (a non-negative result, or any raw value).
    pub fn value(mut self, v: i64) -> Result<(), ReplyError> {
        self.answered = true;
        self.release();
        self.listener.send(self.id, v, 0, 0)
    }

    /// The call fails with `errno` (positive, e.g. `libc::ENOSYS`).
    pub fn errno(mut self, errno: i32) -> Result<(), ReplyError> {
        self.answered = true;
        self.release();
        self.listener.send(self.id, 0, -errno.abs(), 0)
    }

    /// Ends a call the sentry was holding because a signal is due to its
    /// thread: it returns `ERESTARTSYS`, which the host turns into `EINTR` or
    /// a restart by the handler's `SA_RESTART`, as for a blocked Linux call.
    pub fn interrupt(mut self) -> Result<(), ReplyError> {
        const ERESTARTSYS: i32 = 512;
        self.answered = true;
        self.release();
        self.listener
            .interrupted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.tid.0);
        self.listener.send(self.id, 0, -ERESTARTSYS, 0)
    }

    /// Lets a file-backed `mmap` run natively, typically after
    /// [`Reply::add_fd`] put the backing file at the app's fd number. Only
    /// `mmap` may continue: its arguments are all registers, so there is no
    /// user memory the application could change between check and use.
    pub fn continue_mmap(mut self) -> Result<(), ReplyError> {
        if self.nr != libc::SYS_mmap {
            return Err(ReplyError::NotMmap(self.nr));
        }
        self.answered = true;
        self.release();
        self.listener
            .send(self.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
    }

    /// Installs a duplicate of `fd` into the trapped thread's host fd table,
    /// at `target` (replacing whatever is there) or the lowest free number;
    /// returns the number used. The call stays pending.
    pub fn add_fd(
        &self,
        fd: BorrowedFd<'_>,
        target: Option<i32>,
        cloexec: bool,
    ) -> Result<i32, ReplyError> {
        self.listener.add_fd(self.id, fd, target, cloexec)
    }

    /// Whether the call is still pending (its thread not killed or
    /// interrupted meanwhile).
    pub fn is_pending(&self) -> bool {
        self.listener.id_valid(self.id)
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.answered {
            self.release();
            let _ = self.listener.send(self.id, 0, -libc::ENOSYS, 0);
        }
    }
}
