//! The terminal `ioctl`s (`tty_ioctl(4)`), on either end of a pair: modes,
//! window size, job control, queues, and the pty master's own requests.
//! Anything else on a terminal, and any terminal request on a file that is
//! not one, is `ENOTTY`.

use super::ldisc::Termios;
use super::{Master, Replica, Terminal, Winsize};
use crate::errno::SysResult;
use crate::kernel::task::Pid;
use crate::return_errno;
use crate::syscalls::Ctx;
use crate::vfs::{At, Capability, FileDescription, VfsPath};
use std::sync::Arc;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `struct termios2` (`TCGETS2`/`TCSETS2`): termios and the two speeds.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Termios2 {
    termios: Termios,
    ispeed: u32,
    ospeed: u32,
}

/// The speed every emulated terminal reports (`B38400`).
const SPEED: u32 = 38400;

/// Serves `ioctl(fd, req, arg)` for a terminal file.
pub(crate) fn ioctl(ctx: &Ctx<'_>, file: &FileDescription, req: u64, arg: u64) -> SysResult<i64> {
    let any = file.ops().as_any();
    let (term, master) = if let Some(m) = any.and_then(|a| a.downcast_ref::<Master>()) {
        (m.terminal(), true)
    } else if let Some(r) = any.and_then(|a| a.downcast_ref::<Replica>()) {
        (r.terminal(), false)
    } else {
        return_errno!(ENOTTY);
    };
    match req {
        libc::TCGETS => ctx.write(arg, &term.termios(master)).map(|_| 0),
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF => {
            let t: Termios = ctx.read(arg)?;
            // TCSETSW would wait for output to drain: the master's reader
            // takes it whenever it likes, so it is not waited for.
            if req == libc::TCSETSF {
                term.flush(master, true, false);
            }
            term.set_termios(master, t);
            Ok(0)
        }
        libc::TCGETS2 => {
            let t = Termios2 {
                termios: term.termios(master),
                ispeed: SPEED,
                ospeed: SPEED,
            };
            ctx.write(arg, &t).map(|_| 0)
        }
        libc::TCSETS2 | libc::TCSETSW2 | libc::TCSETSF2 => {
            let t: Termios2 = ctx.read(arg)?;
            if req == libc::TCSETSF2 {
                term.flush(master, true, false);
            }
            term.set_termios(master, t.termios);
            Ok(0)
        }
        libc::TIOCGWINSZ => ctx.write(arg, &term.winsize()).map(|_| 0),
        libc::TIOCSWINSZ => {
            let ws: Winsize = ctx.read(arg)?;
            term.set_winsize(ws);
            Ok(0)
        }
        libc::FIONREAD => {
            let n = term.queued(master).0 as i32;
            ctx.write(arg, &n).map(|_| 0)
        }
        libc::TIOCOUTQ => {
            let n = term.queued(master).1 as i32;
            ctx.write(arg, &n).map(|_| 0)
        }
        libc::TCFLSH => {
            let (input, output) = match arg as i32 {
                libc::TCIFLUSH => (true, false),
                libc::TCOFLUSH => (false, true),
                libc::TCIOFLUSH => (true, true),
                _ => return_errno!(EINVAL),
            };
            term.flush(master, input, output);
            Ok(0)
        }
        // tcdrain, tcsendbreak and tcflow: output is never held back, and
        // a pty has no line to send a break on.
        libc::TCSBRK | libc::TCSBRKP | libc::TCXONC => Ok(0),
        libc::TIOCGPTN if master => ctx.write(arg, &term.index()).map(|_| 0),
        libc::TIOCSPTLCK if master => {
            let locked: i32 = ctx.read(arg)?;
            term.set_locked(locked != 0);
            Ok(0)
        }
        libc::TIOCGPTLCK if master => {
            let locked = i32::from(term.locked());
            ctx.write(arg, &locked).map(|_| 0)
        }
        libc::TIOCGPTPEER if master => open_peer(ctx, file, term, arg as u32),
        libc::TIOCSCTTY if !master => {
            // CAP_SYS_ADMIN lets it take a terminal from another session.
            let steal = arg == 1 && ctx.task.fs_lock().creds.has(Capability::SysAdmin);
            term.make_controlling(ctx.kernel, &ctx.task.group, steal)
                .map(|_| 0)
        }
        libc::TIOCNOTTY if !master => {
            let (pid, sid) = session_of(ctx);
            if !term.controls(ctx.kernel, sid) {
                return_errno!(ENOTTY);
            }
            // Only a session leader's TIOCNOTTY ends the control; other
            // processes have no terminal of their own to drop here.
            if pid == sid {
                term.end_control(true);
            }
            Ok(0)
        }
        libc::TIOCGPGRP => {
            let fg = controlled_by_caller(ctx, term, master)?.0;
            ctx.write(arg, &fg).map(|_| 0)
        }
        libc::TIOCGSID => {
            let sid = controlled_by_caller(ctx, term, master)?.1;
            ctx.write(arg, &sid).map(|_| 0)
        }
        libc::TIOCSPGRP if !master => {
            let (_, sid) = session_of(ctx);
            if !term.controls(ctx.kernel, sid) {
                return_errno!(ENOTTY);
            }
            let pgrp: Pid = ctx.read(arg)?;
            if pgrp < 0 {
                return_errno!(EINVAL);
            }
            let sessions: Vec<Pid> = ctx
                .kernel
                .groups()
                .iter()
                .filter_map(|g| {
                    let s = g.state();
                    (s.pgid == pgrp && s.exit.is_none()).then_some(s.sid)
                })
                .collect();
            if sessions.is_empty() {
                return_errno!(ESRCH);
            }
            if sessions.iter().any(|&s| s != sid) {
                return_errno!(EPERM);
            }
            term.set_foreground(pgrp);
            Ok(0)
        }
        _ => return_errno!(ENOTTY),
    }
}

/// The caller's pid and session id.
fn session_of(ctx: &Ctx<'_>) -> (Pid, Pid) {
    let g = &ctx.task.group;
    (g.pid, g.state().sid)
}

/// The foreground group and session of `term`, which must be the caller's
/// controlling terminal when asked through the replica (`ENOTTY`
/// otherwise, as Linux answers `tcgetpgrp` on another terminal).
fn controlled_by_caller(ctx: &Ctx<'_>, term: &Terminal, master: bool) -> SysResult<(Pid, Pid)> {
    let (_, sid) = session_of(ctx);
    if !master && !term.controls(ctx.kernel, sid) {
        return_errno!(ENOTTY);
    }
    match term.foreground() {
        Some(f) => Ok(f),
        None => return_errno!(ENOTTY),
    }
}

/// `TIOCGPTPEER`: opens the replica as `/dev/pts/N` of the master's own
/// devpts mount and installs it, with `flags` as `open(2)` takes them.
fn open_peer(
    ctx: &Ctx<'_>,
    file: &FileDescription,
    term: &Arc<Terminal>,
    flags: u32,
) -> SysResult<i64> {
    let allowed = (libc::O_ACCMODE | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK) as u32;
    if flags & !allowed != 0 {
        return_errno!(EINVAL);
    }
    let p = file.path();
    let Some(dir) = p.dentry.parent() else {
        return_errno!(EIO);
    };
    let dir = VfsPath::new(p.mount.clone(), dir);
    let name = term.index().to_string();
    let cx = ctx.task.fs_context();
    let peer = cx.vfs.open(&cx, At::Dir(&dir), name.as_bytes(), flags, 0)?;
    super::opened(ctx.kernel, ctx.task, &peer, flags);
    let nofile = ctx.task.group.state().rlimits[libc::RLIMIT_NOFILE as usize].0;
    let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
    ctx.task
        .files
        .insert(peer, cloexec, 0, nofile)
        .map(i64::from)
}
