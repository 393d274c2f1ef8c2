//! A container's console: an emulated terminal pair whose master the
//! sentry bridges to a host pty (the replica of a pty whose master the
//! runtime handed to the console socket's owner).
//!
//! The line discipline is the sentry's: the host fd is put in raw mode and
//! carries bytes only, one dedicated thread each way (they block on the
//! host fd, never on a kernel receiver thread). The window size comes from
//! the host pty at start and on every [`Console::resize`].

use super::{Master, Terminal, Winsize};
use crate::errno::{Errno, SysResult};
use crate::return_errno;
use crate::vfs::{At, FileDescription, FsContext, Vfs};
use event_listener::Listener;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An attached console.
pub struct Console {
    terminal: Arc<Terminal>,
    replica: Arc<FileDescription>,
    host: Arc<OwnedFd>,
    /// The output thread holds bytes it has not yet written to the host.
    writing: Arc<AtomicBool>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("terminal", &self.terminal)
            .finish()
    }
}

/// Opens a new pair through the `/dev/ptmx` of the mount namespace `vfs` (so the replica
/// is `/dev/pts/N` of its devpts mount, as `ttyname` expects), puts `host`
/// in raw mode and bridges the two. Install [`Console::replica`] as the
/// process's stdio and make the terminal its session's controlling one
/// ([`Terminal::make_controlling`]).
pub fn attach_console(vfs: &Arc<Vfs>, host: OwnedFd) -> SysResult<Console> {
    let cx = FsContext::new(vfs);
    let rw = (libc::O_RDWR | libc::O_NOCTTY) as u32;
    let master = vfs
        .open(&cx, At::Cwd, b"/dev/ptmx", rw, 0)
        .inspect_err(|e| {
            tracing::warn!(
                "console: /dev/ptmx: {} (no devpts at /dev/pts?)",
                e.errno.name()
            );
        })?;
    let Some(terminal) = master
        .ops()
        .as_any()
        .and_then(|a| a.downcast_ref::<Master>())
        .map(|m| m.terminal().clone())
    else {
        return_errno!(ENXIO, "/dev/ptmx is not a pty multiplexer");
    };
    terminal.set_locked(false);
    let path = format!("/dev/pts/{}", terminal.index());
    let replica = vfs.open(&cx, At::Cwd, path.as_bytes(), rw, 0)?;

    let mut mode = rustix::termios::tcgetattr(&host).map_err(host_errno)?;
    mode.make_raw();
    rustix::termios::tcsetattr(&host, rustix::termios::OptionalActions::Now, &mode)
        .map_err(host_errno)?;
    let host = Arc::new(host);
    let console = Console {
        terminal,
        replica,
        host,
        writing: Arc::new(AtomicBool::new(false)),
    };
    console.resize();
    console.spawn_bridges(master)?;
    Ok(console)
}

fn host_errno(e: rustix::io::Errno) -> crate::errno::SysError {
    Errno::from_raw(e.raw_os_error())
        .unwrap_or(Errno::EIO)
        .into()
}

impl Console {
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    /// The replica, opened read-write, for the process's FDs 0, 1 and 2.
    pub fn replica(&self) -> Arc<FileDescription> {
        self.replica.clone()
    }

    /// Takes the host terminal's current window size (`SIGWINCH` goes to
    /// the foreground group if it changed).
    pub fn resize(&self) {
        follow_size(&self.host, &self.terminal);
    }

    /// Waits (at most `limit`) until everything written to the terminal
    /// has reached the host, so that a container's last words are not
    /// lost when the sandbox ends right after them.
    pub fn drain(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.terminal.queued(true).0 == 0 && !self.writing.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn spawn_bridges(&self, master: Arc<FileDescription>) -> SysResult<()> {
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
                .map_err(|_| crate::errno!(EAGAIN, "cannot start a console thread"))
        };
        // Set once the terminal's output has ended (every replica closed):
        // the input side then lets go of the host FD too, so the host
        // sees the terminal hang up when the process is gone.
        let ended = Arc::new(AtomicBool::new(false));
        let (host, m, t, e) = (
            self.host.clone(),
            master.clone(),
            self.terminal.clone(),
            ended.clone(),
        );
        spawn(
            "console-in",
            Box::new(move || host_to_terminal(&host, &m, &t, &e)),
        )?;
        let (host, t, writing) = (
            self.host.clone(),
            self.terminal.clone(),
            self.writing.clone(),
        );
        spawn(
            "console-out",
            Box::new(move || {
                terminal_to_host(&host, &master, &t, &writing);
                ended.store(true, Ordering::Release);
            }),
        )
    }
}

/// Gives `term` the window size of the `host` pty (a change raises
/// `SIGWINCH` in its foreground group).
fn follow_size(host: &OwnedFd, term: &Terminal) {
    match rustix::termios::tcgetwinsize(host) {
        Ok(ws) => term.set_winsize(Winsize {
            rows: ws.ws_row,
            cols: ws.ws_col,
            xpixel: ws.ws_xpixel,
            ypixel: ws.ws_ypixel,
        }),
        Err(e) => tracing::debug!("console window size: {e}"),
    }
}

/// Keystrokes from the host into the emulated terminal, until the host
/// side closes; then the terminal hangs up, as a pty whose master is
/// closed does (its session gets `SIGHUP`).
fn host_to_terminal(host: &OwnedFd, master: &FileDescription, term: &Terminal, ended: &AtomicBool) {
    /// How often a wait for keystrokes checks whether the output ended,
    /// and whether the host terminal's size changed.
    const CHECK: rustix::time::Timespec = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    let mut buf = [0u8; 4096];
    loop {
        // Only the sandbox's own terminal is the sentry's controlling
        // terminal, told of resizes by SIGWINCH; whoever holds the master
        // of another (an exec'd process's, through a console socket)
        // resizes it unannounced, so the size is looked at here.
        follow_size(host, term);
        let mut fds = [rustix::event::PollFd::new(
            host,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&CHECK)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {
                if ended.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
            _ => {}
        }
        let n = match rustix::io::read(host, &mut buf) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::debug!("console input ends: {e}");
                0
            }
        };
        if n == 0 {
            term.hang_up();
            return;
        }
        let mut done = 0;
        while done < n {
            let listener = term.event().listen();
            match master.write(&buf[done..n]) {
                Ok(k) => done += k,
                Err(e) if e.errno == Errno::EAGAIN => listener.wait(),
                Err(e) => {
                    tracing::debug!("console input ends: {}", e.errno.name());
                    return;
                }
            }
        }
    }
}

/// The terminal's output to the host, until every replica is closed.
fn terminal_to_host(
    host: &OwnedFd,
    master: &FileDescription,
    term: &Terminal,
    writing: &AtomicBool,
) {
    let mut buf = [0u8; 4096];
    loop {
        let listener = term.event().listen();
        writing.store(true, Ordering::Release);
        let n = match master.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.errno == Errno::EAGAIN => {
                writing.store(false, Ordering::Release);
                listener.wait();
                continue;
            }
            Err(e) => {
                writing.store(false, Ordering::Release);
                tracing::debug!("console output ends: {}", e.errno.name());
                return;
            }
        };
        let mut done = 0;
        while done < n {
            match rustix::io::write(host, &buf[done..n]) {
                Ok(k) => done += k,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    // Nobody reads the console any more; keep draining the
                    // terminal so that writers do not block forever.
                    tracing::debug!("console output to the host: {e}");
                    break;
                }
            }
        }
    }
}
