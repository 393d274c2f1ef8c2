//! Terminals emulated by the sentry: pseudo-terminal pairs (a master and
//! its replica, `/dev/pts/N`), their [`ldisc`] line discipline, job control
//! (the session a terminal controls and its foreground process group), the
//! [`devpts`] filesystem that names them, the terminal `ioctl`s, and the
//! container's [`console`]: an emulated terminal bridged to a host pty.
//!
//! The application never reaches a host terminal: its terminal is this
//! code, and the host pty of a console only carries bytes.
//!
//! Blocking follows the pipes' pattern ([`crate::vfs::pipe`]): every
//! operation here is non-blocking and fails with `EAGAIN` where Linux would
//! sleep; each [`Terminal`] has one [`Event`], notified after its lock is
//! released whenever readiness of either end may have changed, and a
//! blocked call listens before it retries.
//!
//! Sessions and process groups are the kernel's ([`ThreadGroup`] state);
//! a terminal only records which session it controls and its foreground
//! group, and finds the processes to signal in the kernel's tables.
//!
//! Lock order: a terminal's state lock is a leaf. Process-group state is
//! read before it is taken, and signals are sent after it is released.

pub mod console;
pub mod devpts;
mod ioctl;
pub mod ldisc;

pub use console::{attach_console, Console};
pub(crate) use ioctl::ioctl;

use crate::errno::SysResult;
use crate::kernel::task::{Pid, Task, ThreadGroup};
use crate::kernel::Kernel;
use crate::return_errno;
use crate::sync::lock;
use crate::vfs::inode::{FileOps, WritePos};
use crate::vfs::FileDescription;
use event_listener::Event;
use ldisc::{LineDiscipline, Termios};
use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `struct winsize`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Winsize {
    pub rows: u16,
    pub cols: u16,
    pub xpixel: u16,
    pub ypixel: u16,
}

/// The session a terminal controls.
#[derive(Clone)]
struct Control {
    /// The kernel whose process tables the ids below belong to.
    kernel: Weak<Kernel>,
    sid: Pid,
    /// The foreground process group: it gets the terminal's signals.
    foreground: Pid,
}

impl Control {
    /// Whether the session still exists: its leader has not exited (its
    /// pid may be reused afterwards, and the session is then gone).
    fn alive(&self) -> bool {
        self.kernel.upgrade().is_some_and(|k| {
            k.group(self.sid)
                .is_some_and(|g| g.state().exit.is_none() && g.state().sid == self.sid)
        })
    }
}

struct State {
    ldisc: LineDiscipline,
    /// The master's own settings, which Linux keeps apart.
    master_termios: Termios,
    winsize: Winsize,
    /// Open master descriptions; at 0 the pair is hung up.
    masters: u32,
    /// Open replica descriptions.
    replicas: u32,
    /// A replica has been opened at some point: once they are all closed
    /// again, the master reads `EIO`.
    replica_opened: bool,
    /// `TIOCSPTLCK`: a new pair's replica cannot be opened until unlocked.
    locked: bool,
    /// Hung up while a master is still held ([`Terminal::hang_up`]).
    hung_up: bool,
    control: Option<Control>,
}

impl State {
    /// The replica side has lost its master: reads end, writes fail.
    fn hung_up(&self) -> bool {
        self.masters == 0 || self.hung_up
    }
}

/// One pseudo-terminal pair.
pub struct Terminal {
    index: u32,
    state: Mutex<State>,
    event: Event,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("index", &self.index)
            .finish()
    }
}

/// Every live terminal, for `/dev/tty` (which finds the caller's by its
/// session) and the controlling-terminal rules (a session has at most one).
fn registry() -> &'static Mutex<Vec<Weak<Terminal>>> {
    static ALL: OnceLock<Mutex<Vec<Weak<Terminal>>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

/// Every live terminal, taken out of the registry so that none of the
/// terminal and process-group locks is taken with its lock held.
fn terminals() -> Vec<Arc<Terminal>> {
    lock(registry()).iter().filter_map(Weak::upgrade).collect()
}

/// Who a terminal's signals go to.
#[derive(Clone, Copy)]
enum Target {
    /// A process group (the foreground one).
    Group(Pid),
    /// One process (the session leader, at a hangup).
    Process(Pid),
}

/// Signals a process group (Linux's `kill_pgrp`) or one process of the
/// kernel's.
fn signal(kernel: &Kernel, target: Target, sig: i32) {
    for g in kernel.groups() {
        let member = {
            let s = g.state();
            s.exit.is_none()
                && match target {
                    Target::Group(pgrp) => s.pgid == pgrp,
                    Target::Process(pid) => g.pid == pid,
                }
        };
        if member {
            if let Err(e) = crate::platform::tgkill(g.host.0, g.host.0, sig) {
                tracing::debug!("terminal signal {sig} to {}: errno {e}", g.pid);
            }
        }
    }
}

/// Signals to send once the terminal lock is released.
struct Pending {
    kernel: Option<Arc<Kernel>>,
    target: Target,
    signals: Vec<i32>,
}

impl Pending {
    /// `signals` for the foreground group of the session `s` controls.
    fn to_foreground(s: &State, signals: Vec<i32>) -> Pending {
        Pending::to(s, signals, |c| Target::Group(c.foreground))
    }

    /// `signals` for the leader of the session `s` controls.
    fn to_leader(s: &State, signals: Vec<i32>) -> Pending {
        Pending::to(s, signals, |c| Target::Process(c.sid))
    }

    fn to(s: &State, signals: Vec<i32>, target: impl Fn(&Control) -> Target) -> Pending {
        match &s.control {
            Some(c) if !signals.is_empty() => Pending {
                kernel: c.kernel.upgrade(),
                target: target(c),
                signals,
            },
            _ => Pending {
                kernel: None,
                target: Target::Group(0),
                signals: Vec::new(),
            },
        }
    }

    fn send(self) {
        if let Some(k) = self.kernel {
            for sig in self.signals {
                signal(&k, self.target, sig);
            }
        }
    }
}

impl Terminal {
    /// A new pair with index `index` (its replica is `/dev/pts/<index>`),
    /// locked as `posix_openpt` leaves it.
    pub fn new(index: u32) -> Arc<Terminal> {
        let t = Arc::new(Terminal {
            index,
            state: Mutex::new(State {
                ldisc: LineDiscipline::default(),
                master_termios: Termios::master_default(),
                winsize: Winsize::default(),
                masters: 0,
                replicas: 0,
                replica_opened: false,
                locked: true,
                hung_up: false,
                control: None,
            }),
            event: Event::new(),
        });
        let mut all = lock(registry());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&t));
        t
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn notify(&self) {
        self.event.notify(usize::MAX);
    }

    /// Notified whenever readiness of either end may have changed.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Whether the master side is still open (the pair is not hung up).
    pub fn has_master(&self) -> bool {
        self.lock().masters > 0
    }

    pub fn set_locked(&self, locked: bool) {
        self.lock().locked = locked;
    }

    pub fn locked(&self) -> bool {
        self.lock().locked
    }

    /// A new master end.
    pub fn open_master(self: &Arc<Self>) -> Master {
        self.lock().masters += 1;
        Master { term: self.clone() }
    }

    /// A new replica end: `EIO` while locked or once the master is gone.
    pub fn open_replica(self: &Arc<Self>) -> SysResult<Replica> {
        let mut s = self.lock();
        if s.locked || s.hung_up() {
            return_errno!(EIO);
        }
        s.replicas += 1;
        s.replica_opened = true;
        drop(s);
        self.notify();
        Ok(Replica { term: self.clone() })
    }

    /// Input typed into the terminal (a master write).
    pub fn master_write(&self, data: &[u8]) -> SysResult<usize> {
        let mut s = self.lock();
        let r = s.ldisc.receive(data);
        let pending = Pending::to_foreground(&s, r.signals);
        drop(s);
        self.notify();
        pending.send();
        if r.consumed == 0 && !data.is_empty() {
            return_errno!(EAGAIN);
        }
        Ok(r.consumed)
    }

    /// Output for the master's reader; `EIO` once every replica that was
    /// opened is closed again and nothing is left.
    pub fn master_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        let mut s = self.lock();
        let n = s.ldisc.read_output(buf);
        if n == 0 && !buf.is_empty() {
            if s.replica_opened && s.replicas == 0 {
                return_errno!(EIO);
            }
            return_errno!(EAGAIN);
        }
        drop(s);
        self.notify();
        Ok(n)
    }

    fn master_readiness(&self) -> u32 {
        let s = self.lock();
        let mut r = 0;
        if s.ldisc.output_len() > 0 {
            r |= POLLIN;
        }
        if s.ldisc.input_room() {
            r |= POLLOUT;
        }
        if s.replica_opened && s.replicas == 0 {
            r |= libc::POLLHUP as u32;
        }
        r
    }

    /// A read by the replica: end of file once hung up and drained.
    pub fn replica_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        let mut s = self.lock();
        match s.ldisc.read(buf) {
            Some(n) => {
                drop(s);
                self.notify();
                Ok(n)
            }
            None if s.hung_up() => Ok(0),
            None => return_errno!(EAGAIN),
        }
    }

    /// A write by the replica (output processing into the master's queue).
    pub fn replica_write(&self, data: &[u8]) -> SysResult<usize> {
        let mut s = self.lock();
        if s.hung_up() {
            return_errno!(EIO);
        }
        let n = s.ldisc.write(data);
        drop(s);
        if n == 0 && !data.is_empty() {
            return_errno!(EAGAIN);
        }
        self.notify();
        Ok(n)
    }

    fn replica_readiness(&self) -> u32 {
        let s = self.lock();
        let mut r = 0;
        if s.hung_up() {
            return POLLIN | POLLOUT | libc::POLLHUP as u32;
        }
        if s.ldisc.read_ready() {
            r |= POLLIN;
        }
        if s.ldisc.output_room() {
            r |= POLLOUT;
        }
        r
    }

    pub fn winsize(&self) -> Winsize {
        self.lock().winsize
    }

    /// Sets the window size; a change raises `SIGWINCH` in the foreground
    /// process group.
    pub fn set_winsize(&self, ws: Winsize) {
        let mut s = self.lock();
        if s.winsize == ws {
            return;
        }
        s.winsize = ws;
        let pending = Pending::to_foreground(&s, vec![libc::SIGWINCH]);
        drop(s);
        pending.send();
    }

    /// The settings of the master (`master`) or replica end.
    pub fn termios(&self, master: bool) -> Termios {
        let s = self.lock();
        if master {
            s.master_termios
        } else {
            s.ldisc.termios
        }
    }

    pub fn set_termios(&self, master: bool, t: Termios) {
        let mut s = self.lock();
        if master {
            s.master_termios = t;
        } else {
            s.ldisc.set_termios(t);
        }
        drop(s);
        self.notify();
    }

    /// `TCFLSH` from one end: its input and/or output queue.
    pub fn flush(&self, master: bool, input: bool, output: bool) {
        let mut s = self.lock();
        // The master's input is the replica's output, and conversely.
        let (replica_in, replica_out) = if master {
            (output, input)
        } else {
            (input, output)
        };
        if replica_in {
            s.ldisc.flush_input();
        }
        if replica_out {
            s.ldisc.flush_output();
        }
        drop(s);
        self.notify();
    }

    /// Bytes the given end can read now (`FIONREAD`) and has written but
    /// not yet delivered (`TIOCOUTQ`).
    pub fn queued(&self, master: bool) -> (usize, usize) {
        let s = self.lock();
        if master {
            (s.ldisc.output_len(), 0)
        } else {
            (s.ldisc.readable(), s.ldisc.output_len())
        }
    }

    /// The session this terminal controls, if it still exists.
    fn live_control(&self) -> Option<Control> {
        let c = self.lock().control.clone()?;
        if c.alive() {
            Some(c)
        } else {
            let mut s = self.lock();
            if s.control.as_ref().is_some_and(|now| now.sid == c.sid) {
                s.control = None;
            }
            None
        }
    }

    /// Whether this is the controlling terminal of session `sid` of
    /// `kernel`.
    fn controls(&self, kernel: &Kernel, sid: Pid) -> bool {
        self.live_control()
            .is_some_and(|c| c.sid == sid && std::ptr::eq(Weak::as_ptr(&c.kernel), kernel))
    }

    /// The replica's device number, as `/proc/PID/stat` shows `tty_nr`.
    pub fn device(&self) -> u32 {
        crate::vfs::attr::makedev(devpts::PTS_MAJOR, self.index) as u32
    }

    /// The foreground process group and the session, if this terminal
    /// controls one.
    pub fn foreground(&self) -> Option<(Pid, Pid)> {
        self.live_control().map(|c| (c.foreground, c.sid))
    }

    /// Makes this the controlling terminal of `group`'s session, as
    /// `TIOCSCTTY` does: `group` must lead a session that has no
    /// controlling terminal yet. A terminal controlling another session is
    /// taken from it only if `steal` (`TIOCSCTTY` with 1 by a process with
    /// `CAP_SYS_ADMIN`).
    pub fn make_controlling(
        &self,
        kernel: &Arc<Kernel>,
        group: &ThreadGroup,
        steal: bool,
    ) -> SysResult<()> {
        let (pid, pgid, sid) = {
            let s = group.state();
            (group.pid, s.pgid, s.sid)
        };
        if sid != pid {
            return_errno!(EPERM, "not a session leader");
        }
        if let Some(t) = controlling(kernel, sid) {
            if std::ptr::eq(&*t, self) {
                return Ok(());
            }
            return_errno!(EPERM, "the session has a controlling terminal");
        }
        if self.live_control().is_some() && !steal {
            return_errno!(EPERM, "the terminal controls another session");
        }
        self.lock().control = Some(Control {
            kernel: Arc::downgrade(kernel),
            sid,
            foreground: pgid,
        });
        Ok(())
    }

    /// Sets the foreground process group (`TIOCSPGRP`).
    fn set_foreground(&self, pgrp: Pid) {
        if let Some(c) = self.lock().control.as_mut() {
            c.foreground = pgrp;
        }
    }

    /// Hangs the terminal up as closing its last master does, for a master
    /// held inside the sentry whose far end is gone (a console whose host
    /// pty master was closed).
    pub fn hang_up(&self) {
        self.lock().hung_up = true;
        self.end_control(false);
        self.notify();
    }

    /// Ends the control of its session with `SIGHUP` and `SIGCONT`: to
    /// the foreground group for `TIOCNOTTY` by the session leader
    /// (Linux's `disassociate_ctty`), to the session leader at a hangup
    /// (Linux's `tty_signal_session_leader`; a shell passes it on to its
    /// jobs).
    fn end_control(&self, foreground: bool) {
        let mut s = self.lock();
        let signals = vec![libc::SIGHUP, libc::SIGCONT];
        let pending = if foreground {
            Pending::to_foreground(&s, signals)
        } else {
            Pending::to_leader(&s, signals)
        };
        s.control = None;
        drop(s);
        pending.send();
    }
}

const POLLIN: u32 = (libc::POLLIN | libc::POLLRDNORM) as u32;
const POLLOUT: u32 = (libc::POLLOUT | libc::POLLWRNORM) as u32;

/// The controlling terminal of session `sid` of `kernel`, if it has one.
pub fn controlling(kernel: &Kernel, sid: Pid) -> Option<Arc<Terminal>> {
    terminals().into_iter().find(|t| t.controls(kernel, sid))
}

/// After an `open(2)` of a terminal replica without `O_NOCTTY`: a session
/// leader without a controlling terminal acquires it (if no other session
/// has it).
pub fn opened(kernel: &Arc<Kernel>, task: &Task, file: &FileDescription, flags: u32) {
    if flags & libc::O_NOCTTY as u32 != 0 {
        return;
    }
    let Some(replica) = file
        .ops()
        .as_any()
        .and_then(|a| a.downcast_ref::<Replica>())
    else {
        return;
    };
    let t = &replica.term;
    if t.live_control().is_some() {
        return;
    }
    // Not being a leader, or having a terminal already, just means no
    // change, as on Linux.
    let _ = t.make_controlling(kernel, &task.group, false);
}

/// The master end of a pair, as an open file.
#[derive(Debug)]
pub struct Master {
    term: Arc<Terminal>,
}

impl Master {
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.term
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let mut s = self.term.lock();
        s.masters -= 1;
        let hung_up = s.masters == 0;
        drop(s);
        if hung_up {
            self.term.end_control(false);
        }
        self.term.notify();
    }
}

impl FileOps for Master {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.term.master_read(buf)
    }

    fn write_at(&self, _pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        Ok((self.term.master_write(buf)?, 0))
    }

    fn readiness(&self) -> u32 {
        self.term.master_readiness()
    }

    fn event(&self) -> Option<&Event> {
        Some(&self.term.event)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// The replica end of a pair (`/dev/pts/N`, or `/dev/tty`), as an open
/// file.
#[derive(Debug)]
pub struct Replica {
    term: Arc<Terminal>,
}

impl Replica {
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.term
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.term.lock().replicas -= 1;
        self.term.notify();
    }
}

impl FileOps for Replica {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.term.replica_read(buf)
    }

    fn write_at(&self, _pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        Ok((self.term.replica_write(buf)?, 0))
    }

    fn readiness(&self) -> u32 {
        self.term.replica_readiness()
    }

    fn event(&self) -> Option<&Event> {
        Some(&self.term.event)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// `/dev/tty` (5:0): the caller's controlling terminal, `ENXIO` without
/// one. The caller is the task the kernel is serving on this thread.
struct ControllingTerminal;

impl crate::vfs::devfs::CharDevice for ControllingTerminal {
    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        let Some(caller) = crate::vfs::procfs::current_task() else {
            return_errno!(ENXIO, "no controlling terminal");
        };
        for t in terminals() {
            let Some(c) = t.live_control() else { continue };
            let Some(k) = c.kernel.upgrade() else {
                continue;
            };
            let in_session = k.group(caller.pid).is_some_and(|g| g.state().sid == c.sid);
            if in_session {
                return Ok(Box::new(t.open_replica()?));
            }
        }
        return_errno!(ENXIO, "no controlling terminal")
    }
}

/// Installs the `/dev/tty` driver (once per sentry process: the device
/// registry is process-wide).
fn register_tty_device() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        crate::vfs::devfs::register_char_device(
            crate::vfs::devfs::TTYAUX_MAJOR,
            crate::vfs::devfs::TTY_MINOR,
            Arc::new(ControllingTerminal),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use event_listener::Listener;
    use std::time::Duration;

    fn pair() -> (Arc<Terminal>, Master, Replica) {
        let t = Terminal::new(0);
        let m = t.open_master();
        assert_eq!(t.open_replica().unwrap_err(), Errno::EIO);
        t.set_locked(false);
        let r = t.open_replica().unwrap();
        (t, m, r)
    }

    #[test]
    fn bytes_flow_both_ways_through_the_discipline() {
        let (t, m, r) = pair();
        let mut buf = [0u8; 64];
        assert_eq!(r.read_at(0, &mut buf).unwrap_err(), Errno::EAGAIN);
        assert_eq!(m.write_at(WritePos::At(0), b"hi\r").unwrap().0, 3);
        assert_eq!(r.read_at(0, &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"hi\n");
        // The echo, then what the replica wrote, with ONLCR.
        r.write_at(WritePos::At(0), b"ok\n").unwrap();
        let n = m.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi\r\nok\r\n");
        assert_eq!(m.read_at(0, &mut buf).unwrap_err(), Errno::EAGAIN);
        assert_eq!(t.queued(false), (0, 0));
    }

    #[test]
    fn readiness_and_wakeups() {
        let (t, m, r) = pair();
        assert_eq!(r.readiness() & POLLIN, 0);
        assert_eq!(r.readiness() & POLLOUT, POLLOUT);
        assert_eq!(m.readiness() & POLLIN, 0);
        let l = t.event().listen();
        m.write_at(WritePos::At(0), b"x\n").unwrap();
        assert!(l.wait_timeout(Duration::from_secs(1)).is_some());
        assert_eq!(r.readiness() & POLLIN, POLLIN);
        assert_eq!(m.readiness() & POLLIN, POLLIN, "the echo");
    }

    #[test]
    fn hangups() {
        let (_t, m, r) = pair();
        drop(r);
        // Every replica closed: the master reads EIO once drained.
        let mut buf = [0u8; 8];
        assert_eq!(m.read_at(0, &mut buf).unwrap_err(), Errno::EIO);
        assert_ne!(m.readiness() & libc::POLLHUP as u32, 0);

        let (t, m, r) = pair();
        drop(m);
        assert_eq!(r.read_at(0, &mut buf).unwrap(), 0);
        assert_eq!(r.write_at(WritePos::At(0), b"x").unwrap_err(), Errno::EIO);
        assert_ne!(r.readiness() & libc::POLLHUP as u32, 0);
        assert_eq!(t.open_replica().unwrap_err(), Errno::EIO);
    }

    #[test]
    fn a_hangup_with_the_master_held_ends_replica_io() {
        let (t, _m, r) = pair();
        let l = t.event().listen();
        t.hang_up();
        assert!(l.wait_timeout(Duration::from_secs(1)).is_some());
        let mut buf = [0u8; 8];
        assert_eq!(r.read_at(0, &mut buf).unwrap(), 0);
        assert_eq!(r.write_at(WritePos::At(0), b"x").unwrap_err(), Errno::EIO);
        assert_ne!(r.readiness() & libc::POLLHUP as u32, 0);
    }

    #[test]
    fn a_full_output_makes_the_replica_writer_wait() {
        let (_t, m, r) = pair();
        let big = vec![b'a'; ldisc::OUTPUT_CAPACITY * 2];
        let n = r.write_at(WritePos::At(0), &big).unwrap().0;
        assert!(n < big.len());
        assert_eq!(
            r.write_at(WritePos::At(0), b"a").unwrap_err(),
            Errno::EAGAIN
        );
        assert_eq!(r.readiness() & POLLOUT, 0);
        let mut buf = vec![0u8; 1024];
        m.read_at(0, &mut buf).unwrap();
        assert_eq!(r.write_at(WritePos::At(0), b"a").unwrap().0, 1);
    }

    #[test]
    fn winsize_is_kept() {
        let (t, _m, _r) = pair();
        let ws = Winsize {
            rows: 24,
            cols: 80,
            ..Winsize::default()
        };
        t.set_winsize(ws);
        assert_eq!(t.winsize(), ws);
    }
}
