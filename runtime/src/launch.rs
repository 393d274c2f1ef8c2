//! Starting a sandbox process (the sentry or the gofer): `clone3` into new
//! namespaces, then — in the parent — the user namespace's id maps, and only
//! then the child's `execve`.
//!
//! The order matters: a process whose uid has no mapping in its user
//! namespace loses every capability at `execve`, so the child must not exec
//! before the maps exist, and only the parent (outside the namespace) may
//! write them. The child therefore blocks on a sync pipe after `clone3`; the
//! parent writes `uid_map`/`gid_map` and then one byte. A second pipe, closed
//! by a successful `execve`, carries the errno of a failed one back, so a
//! launch either starts the program or reports why not.
//!
//! The same window places the child in its cgroup: the parent writes its
//! pid into every hierarchy's `cgroup.procs` before releasing it, so nothing
//! the child runs or forks is ever outside.
//!
//! Between `clone3` and `execve` the child makes raw system calls only, on
//! memory prepared before the clone: nothing that allocates or locks, as in
//! any child of a possibly threaded process.

use crate::cgroups::{self, Cgroup};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("write {file} of pid {pid}: {source}")]
    IdMap {
        file: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("exec {program}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("place pid {pid} in its cgroup: {source}")]
    Cgroup { pid: i32, source: cgroups::Error },
}

/// One line of a user namespace's `uid_map` or `gid_map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdMap {
    /// Every id maps to itself: root in the namespace is the host's root,
    /// confined by the namespace's capabilities rather than by a different
    /// uid.
    pub const IDENTITY: IdMap = IdMap {
        inside: 0,
        outside: 0,
        count: u32::MAX,
    };
}

/// What to start and how.
pub struct Command<'a> {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// (FD in the parent, its number in the child). Every other FD above 2
    /// is closed at `execve`; 0-2 are inherited unless listed here.
    fds: Vec<(BorrowedFd<'a>, RawFd)>,
    clone_flags: u64,
    id_map: Option<IdMap>,
    new_session: bool,
    cgroup: Option<&'a Cgroup>,
    keep_after_parent_exit: bool,
}

impl<'a> Command<'a> {
    pub fn new(program: &OsStr) -> Result<Command<'a>, Error> {
        let program = cstring(program.as_bytes())?;
        Ok(Command {
            argv: vec![program.clone()],
            program,
            envp: Vec::new(),
            fds: Vec::new(),
            clone_flags: 0,
            id_map: None,
            new_session: false,
            cgroup: None,
            keep_after_parent_exit: false,
        })
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> Result<&mut Self, Error> {
        self.argv.push(cstring(arg.as_ref().as_bytes())?);
        Ok(self)
    }

    /// Adds `NAME=value` to the child's (otherwise empty) environment.
    pub fn env(&mut self, name: &str, value: impl AsRef<OsStr>) -> Result<&mut Self, Error> {
        let mut kv = format!("{name}=").into_bytes();
        kv.extend_from_slice(value.as_ref().as_bytes());
        self.envp.push(cstring(&kv)?);
        Ok(self)
    }

    /// Gives the child `fd` as FD number `target`.
    pub fn fd(&mut self, fd: BorrowedFd<'a>, target: RawFd) -> &mut Self {
        self.fds.push((fd, target));
        self
    }

    /// `CLONE_NEW*` flags of the namespaces the child starts in.
    pub fn namespaces(&mut self, flags: u64) -> &mut Self {
        self.clone_flags = flags;
        self
    }

    /// The map written to the child's new user namespace (both uids and
    /// gids) before it may exec.
    pub fn id_map(&mut self, map: IdMap) -> &mut Self {
        self.id_map = Some(map);
        self
    }

    /// Starts the child in a session (and process group) of its own, so
    /// that terminal signals reach it only through whoever forwards them.
    pub fn new_session(&mut self) -> &mut Self {
        self.new_session = true;
        self
    }

    /// Places the child in `cgroup` before it may run anything.
    pub fn cgroup(&mut self, cgroup: &'a Cgroup) -> &mut Self {
        self.cgroup = Some(cgroup);
        self
    }

    /// Lets the child outlive the thread that spawns it: without this it is
    /// killed (`PR_SET_PDEATHSIG`) when that thread exits, which suits a
    /// sandbox supervised by a foreground `vigil run`, not one left running
    /// by `vigil create`.
    pub fn keep_after_parent_exit(&mut self) -> &mut Self {
        self.keep_after_parent_exit = true;
        self
    }

    /// Starts the child; returns once it has exec'd the program.
    pub fn spawn(&self) -> Result<Process, Error> {
        // Every source FD is first moved above every target number, so no
        // dup2 in the child can overwrite a source not yet placed.
        let floor = self.fds.iter().map(|&(_, t)| t).max().unwrap_or(2) + 1;
        let floor = floor.max(3);
        let mut moved = Vec::with_capacity(self.fds.len());
        for &(fd, target) in &self.fds {
            let high = rustix::io::fcntl_dupfd_cloexec(fd, floor).map_err(|e| Error::Os {
                what: "duplicate an FD for the child",
                source: e.into(),
            })?;
            moved.push((high, target));
        }
        let placements: Vec<(RawFd, RawFd)> =
            moved.iter().map(|(h, t)| (h.as_raw_fd(), *t)).collect();

        let argv = null_terminated(&self.argv);
        let envp = null_terminated(&self.envp);
        let (sync_r, sync_w) = pipe()?;
        let (err_r, err_w) = pipe()?;

        let mut pidfd: RawFd = -1;
        let args = CloneArgs {
            flags: self.clone_flags | libc::CLONE_PIDFD as u64,
            pidfd: &mut pidfd as *mut RawFd as u64,
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        // SAFETY: `args` is a valid clone_args of the size passed. Without
        // CLONE_VM and with no stack the child runs on a copy of this
        // address space, like fork; it only runs `child`, which never
        // returns.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if pid < 0 {
            let source = std::io::Error::last_os_error();
            let what = if source.raw_os_error() == Some(libc::EPERM)
                && self.clone_flags & libc::CLONE_NEWUSER as u64 != 0
            {
                // The host refuses new user namespaces to a process whose
                // root is not its mount namespace's root: a chroot, or a
                // mount stacked over `/` since the process started.
                "clone3 into a new user namespace (is the caller chrooted, or is something mounted over /?)"
            } else {
                "clone3"
            };
            return Err(Error::Os { what, source });
        }
        if pid == 0 {
            // SAFETY: in the freshly cloned child, on memory prepared above.
            unsafe {
                child(ChildPlan {
                    sync_r: sync_r.as_raw_fd(),
                    sync_w: sync_w.as_raw_fd(),
                    err_w: err_w.as_raw_fd(),
                    placements: &placements,
                    new_session: self.new_session,
                    parent_death_signal: !self.keep_after_parent_exit,
                    program: &self.program,
                    argv: &argv,
                    envp: &envp,
                })
            }
        }
        let pid = pid as i32;
        // SAFETY: CLONE_PIDFD stored a new FD that this process owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        let process = Process { pid, pidfd };
        drop((sync_r, err_w, moved));

        if let Some(cgroup) = self.cgroup {
            if let Err(source) = cgroup.add(pid) {
                process.kill_and_reap();
                return Err(Error::Cgroup { pid, source });
            }
        }
        if let Some(map) = self.id_map {
            if let Err(e) = write_id_maps(pid, map) {
                process.kill_and_reap();
                return Err(e);
            }
        }
        // Let the child go on. If it is already gone, the error pipe says so.
        let _ = rustix::io::write(&sync_w, &[1]);
        drop(sync_w);

        let mut errno = [0u8; 4];
        let n = read_full(err_r.as_fd(), &mut errno);
        if n == errno.len() {
            process.kill_and_reap();
            return Err(Error::Exec {
                program: self.program.to_string_lossy().into_owned(),
                source: std::io::Error::from_raw_os_error(i32::from_ne_bytes(errno)),
            });
        }
        Ok(process)
    }
}

/// A started child, held through a pidfd so that signals and the wait can
/// never reach a recycled pid.
#[derive(Debug)]
pub struct Process {
    /// The host pid.
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// How a child ended, as `waitid` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The status a shell reports: the code, or 128 + the signal.
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

impl Process {
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal with no siginfo reads nothing from us.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for the child to end and reaps it. `None` with `nohang` while
    /// it still runs.
    pub fn wait(&self, nohang: bool) -> std::io::Result<Option<Exit>> {
        let mut flags = libc::WEXITED;
        if nohang {
            flags |= libc::WNOHANG;
        }
        loop {
            // SAFETY: a zeroed siginfo_t is valid for waitid to fill.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid writes `info`; P_PIDFD names our own child.
            let r = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    self.pidfd.as_raw_fd() as libc::id_t,
                    &mut info,
                    flags,
                )
            };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            // SAFETY: waitid filled a SIGCHLD siginfo (or left it zeroed).
            let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
            if pid == 0 {
                return Ok(None);
            }
            return Ok(Some(match info.si_code {
                libc::CLD_EXITED => Exit::Code(status),
                _ => Exit::Signal(status),
            }));
        }
    }

    /// SIGKILL, then reap: nothing of the child is left afterwards.
    pub fn kill_and_reap(&self) -> Option<Exit> {
        let _ = self.signal(libc::SIGKILL);
        self.wait(false).ok().flatten()
    }
}

/// Writes the same map to `uid_map` and `gid_map` of `pid`'s user
/// namespace.
fn write_id_maps(pid: i32, map: IdMap) -> Result<(), Error> {
    let line = format!("{} {} {}\n", map.inside, map.outside, map.count);
    for file in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{file}"), &line).map_err(|source| Error::IdMap {
            file,
            pid,
            source,
        })?;
    }
    Ok(())
}

/// `struct clone_args` of clone3(2), version 2 (with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Everything the child reads, prepared before the clone.
struct ChildPlan<'p> {
    sync_r: RawFd,
    sync_w: RawFd,
    err_w: RawFd,
    placements: &'p [(RawFd, RawFd)],
    new_session: bool,
    parent_death_signal: bool,
    program: &'p CString,
    argv: &'p [*const libc::c_char],
    envp: &'p [*const libc::c_char],
}

/// The child between `clone3` and `execve`. Never returns.
///
/// # Safety
/// Must run only in the child of the clone, with `plan` prepared before it.
unsafe fn child(plan: ChildPlan<'_>) -> ! {
    // SAFETY (whole function): raw system calls on FDs and memory this
    // child owns; nothing allocates, locks or unwinds.
    unsafe {
        // The sandbox must not outlive the process that supervises it,
        // unless it was asked to.
        if plan.parent_death_signal {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
        // With the parent's copy of the write end as the only one left, a
        // parent that dies before releasing us gives EOF here.
        libc::close(plan.sync_w);
        let mut b = 0u8;
        let n = loop {
            let n = libc::read(plan.sync_r, (&mut b as *mut u8).cast(), 1);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            break n;
        };
        if n != 1 {
            libc::_exit(1);
        }
        if plan.new_session && libc::setsid() < 0 {
            fail(plan.err_w);
        }
        // Nothing but the listed FDs crosses the exec: everything from 3 up
        // is marked close-on-exec (the error pipe too, whose closing tells
        // the parent the exec worked), then dup2 places the listed ones
        // without that flag.
        if libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) < 0
        {
            fail(plan.err_w);
        }
        for &(from, to) in plan.placements {
            if libc::dup2(from, to) < 0 {
                fail(plan.err_w);
            }
        }
        // The parent blocks the signals it forwards; the program starts
        // with none blocked.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(
            plan.program.as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
        );
        fail(plan.err_w)
    }
}

/// Reports errno to the parent through the error pipe and exits.
///
/// # Safety
/// Only in the child, like [`child`].
unsafe fn fail(err_w: RawFd) -> ! {
    // SAFETY: raw write and exit in the child.
    unsafe {
        let errno = *libc::__errno_location();
        let bytes = errno.to_ne_bytes();
        libc::write(err_w, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

fn cstring(bytes: &[u8]) -> Result<CString, Error> {
    CString::new(bytes).map_err(|_| Error::Nul(String::from_utf8_lossy(bytes).into_owned()))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::Os {
        what: "pipe",
        source: e.into(),
    })
}

/// Reads until `buf` is full or EOF; returns the count.
fn read_full(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::read(fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_an_exec_error_and_leaves_no_child() {
        let cmd = Command::new(OsStr::new("/nonexistent/vigil-test")).unwrap();
        match cmd.spawn() {
            Err(Error::Exec { program, source }) => {
                assert_eq!(program, "/nonexistent/vigil-test");
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Spawns `sleep` from a thread that then exits, as a CLI invocation
    /// that ends while its sandbox lives on would.
    fn spawn_from_a_passing_thread(keep: bool) -> Process {
        std::thread::spawn(move || {
            let mut cmd = Command::new(OsStr::new("/bin/sleep")).unwrap();
            cmd.arg("30").unwrap();
            if keep {
                cmd.keep_after_parent_exit();
            }
            cmd.spawn().unwrap()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_child_dies_with_the_thread_that_spawned_it() {
        let p = spawn_from_a_passing_thread(false);
        assert_eq!(p.wait(false).unwrap(), Some(Exit::Signal(libc::SIGKILL)));
    }

    #[test]
    fn a_child_kept_after_parent_exit_lives_on() {
        let p = spawn_from_a_passing_thread(true);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(p.wait(true).unwrap(), None, "the child was killed");
        assert_eq!(p.kill_and_reap(), Some(Exit::Signal(libc::SIGKILL)));
    }

    #[test]
    fn listed_fds_arrive_at_their_numbers_and_nothing_else_does() {
        let (r, w) = pipe().unwrap();
        let (keep, _keep_w) = pipe().unwrap();
        let mut cmd = Command::new(OsStr::new("/bin/sh")).unwrap();
        cmd.arg("-c")
            .unwrap()
            .arg("ls /proc/self/fd >&7; true")
            .unwrap()
            .fd(w.as_fd(), 7)
            .fd(keep.as_fd(), 3);
        let p = cmd.spawn().unwrap();
        drop(w);
        assert_eq!(p.wait(false).unwrap(), Some(Exit::Code(0)));
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = rustix::io::read(&r, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let mut fds: Vec<i32> = String::from_utf8(out)
            .unwrap()
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        fds.sort();
        // 0-2, the two listed FDs, and the one `ls` opens to read the list.
        assert_eq!(fds.len(), 6, "{fds:?}");
        assert_eq!(&fds[..3], &[0, 1, 2]);
        assert!(fds.contains(&3) && fds.contains(&7), "{fds:?}");
    }
}
