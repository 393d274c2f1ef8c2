//! The host side of a new stub: clone it into a new pid namespace, then the
//! few raw steps the child takes before it is confined.
//!
//! The sentry is multithreaded, so between `clone` and confinement the child
//! may only make raw system calls: no allocation, no locks, no panics.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::sys::*;
use super::{PlatformError, TRAMPOLINE_ADDR, TRAMPOLINE_LEN};

/// Trampoline code: `syscall; int3`, padded with `int3`. Injection points
/// `rip` at offset 0 and waits for the `SIGTRAP` of the `int3` at offset 2.
pub const TRAMPOLINE_CODE: [u8; 4] = [0x0f, 0x05, 0xcc, 0xcc];
/// Address of the trampoline's `syscall` instruction.
pub const TRAMPOLINE_SYSCALL: u64 = TRAMPOLINE_ADDR;
/// Address of the trampoline's `int3`.
pub const TRAMPOLINE_INT3: u64 = TRAMPOLINE_ADDR + 2;
/// The scratch page the tracer uses for injected syscalls' memory arguments.
pub const SCRATCH_ADDR: u64 = TRAMPOLINE_ADDR + PAGE_SIZE;

/// Child exit codes that tell why bootstrap failed.
pub const EXIT_READY_PIPE: i32 = 101;
pub const EXIT_TRAMPOLINE: i32 = 102;
pub const EXIT_SECCOMP: i32 = 103;
/// Exit code of a stub that could not drop its capabilities.
pub const EXIT_CAPS: i32 = 105;
pub const EXIT_RESUMED: i32 = 104;

/// The stub factory: a small process forked from the tracer thread before
/// the sentry confines itself, which creates every stub tree. A stub
/// inherits every seccomp filter of the process it is forked from, and a
/// sentry rule that kills or fails a call would take precedence over the stub
/// filter's user notification; the zygote never installs one.
///
/// It runs raw system calls only (it is forked from a threaded process):
/// for each request byte on its socket it clones a stub (see
/// [`stub_child`]) and answers with the stub's pid and, as `SCM_RIGHTS`,
/// the write end of the stub's ready pipe. It ignores `SIGCHLD`, so the host
/// reaps its stubs once the tracer has collected their exit; the tracer
/// still gets every ptrace notification of the stubs it seizes. It dies
/// with the tracer thread (`PR_SET_PDEATHSIG`) or when its socket closes;
/// the tracer kills and reaps it when the platform shuts down.
pub struct Zygote {
    pid: i32,
    sock: OwnedFd,
}

impl Zygote {
    /// Forks the zygote. `filter` is the stub filter every stub installs; the
    /// zygote keeps its own copy of it.
    pub fn fork(filter: &[libc::sock_filter]) -> Result<Zygote, PlatformError> {
        let prog = libc::sock_fprog {
            len: u16::try_from(filter.len())
                .map_err(|_| PlatformError::Bootstrap("filter too long".into()))?,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a writable array of two ints.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(PlatformError::os("socketpair for the zygote"));
        }
        // SAFETY: socketpair returned two fresh fds that we now own.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The zygote's own pid namespace, to return to after creating a stub
        // in another tree's (see `join_and_spawn`). Opened here, not in the
        // zygote, which may first run after the sentry has pivoted away
        // from /proc.
        let own_ns = std::fs::File::open("/proc/self/ns/pid")
            .map(OwnedFd::from)
            .map_err(|e| PlatformError::Os {
                what: "open the sentry's pid namespace",
                source: e,
            })?;
        // SAFETY: the child only runs `zygote_main`, which makes raw system
        // calls and never returns, as required after fork in a threaded
        // process.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                libc::SIGCHLD as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        if pid < 0 {
            return Err(PlatformError::os("fork the zygote"));
        }
        if pid == 0 {
            // SAFETY: in the child; `prog` points into this address space's
            // copy of the filter, which the zygote never frees.
            unsafe { zygote_main(fds[1], own_ns.as_raw_fd(), &prog) }
        }
        drop((theirs, own_ns));
        Ok(Zygote {
            pid: pid as i32,
            sock: ours,
        })
    }

    /// The zygote's host pid (a child of the tracer thread), or -1 once it
    /// has been reaped.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Records that the tracer reaped the zygote: its pid may be reused.
    pub fn reaped(&mut self) {
        self.pid = -1;
    }

    /// Asks the zygote for a new stub; returns its host pid and the write end
    /// of its ready pipe (see [`stub_child`]).
    ///
    /// With `pid_ns`, the stub joins that pid namespace (an existing tree's)
    /// instead of starting a new one: it is a process of that tree whose
    /// parent, the zygote, is outside it, as `runc exec` processes are.
    ///
    /// A new tree's first process with `mount_proc` mounts a procfs of its
    /// namespace on `/proc` of the zygote's mount namespace before it is
    /// confined (only for a sentry in a mount namespace of its own).
    pub fn fork_stub(
        &self,
        pid_ns: Option<BorrowedFd<'_>>,
        mount_proc: bool,
    ) -> Result<(i32, OwnedFd), PlatformError> {
        let sock = self.sock.as_raw_fd();
        let (request, fd): (&[u8], i32) = match pid_ns {
            Some(ns) => (b"j", ns.as_raw_fd()),
            None if mount_proc => (b"P", -1),
            None => (b"s", -1),
        };
        // SAFETY: raw sendmsg of one byte and (maybe) one FD it borrows.
        let sent = unsafe { send_with_fd(sock, request, fd) };
        if sent != 1 {
            return Err(PlatformError::os("ask the zygote for a stub"));
        }
        let mut answer = [0u8; 4];
        let (n, fd) = loop {
            // SAFETY: raw recvmsg into a live buffer.
            let (n, fd) = unsafe { receive_with_fd(sock, &mut answer) };
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break (n, fd);
        };
        if n < 0 {
            return Err(PlatformError::os("receive a stub from the zygote"));
        }
        // SAFETY: recvmsg installed a fresh fd we now own.
        let fd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        let pid = i32::from_ne_bytes(answer);
        if n != 4 {
            return Err(PlatformError::Bootstrap("the zygote is gone".into()));
        }
        if pid < 0 {
            return Err(PlatformError::Os {
                what: "clone a stub into a new pid namespace (needs CAP_SYS_ADMIN over the sentry's pid namespace)",
                source: std::io::Error::from_raw_os_error(-pid),
            });
        }
        match fd {
            Some(fd) => Ok((pid, fd)),
            None => Err(PlatformError::Bootstrap(
                "the zygote sent no ready pipe".into(),
            )),
        }
    }
}

/// The zygote's request loop. Never returns.
///
/// # Safety
/// Must run only in a freshly forked child of the tracer thread.
unsafe fn zygote_main(sock: i32, own_ns: i32, prog: *const libc::sock_fprog) -> ! {
    // SAFETY (whole function): raw syscalls on memory this child owns.
    unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL,
            0,
            0,
            0,
        );
        reset_signals();
        // Stubs form a host process group of their own, apart from the
        // sentry's: what the host sends the sentry's group (SIGWINCH from
        // the console's host pty, whose foreground group the sentry's is)
        // is the sentry's to translate, never the application's.
        libc::syscall(libc::SYS_setpgid, 0, 0);
        // Ignoring SIGCHLD makes the host reap each stub as soon as the
        // tracer has seen its exit.
        let ign = [libc::SIG_IGN as u64, 0, 0, 0];
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGCHLD,
            ign.as_ptr(),
            0usize,
            8usize,
        );
        // Keep the socket and the pid namespace FD (moved right above the
        // socket); close everything else. The namespace new children are
        // created in is per process, and new trees must stay children of
        // the zygote's own: `join_and_spawn` returns to it.
        let own_ns = if own_ns == sock + 1 {
            own_ns
        } else {
            libc::syscall(libc::SYS_dup3, own_ns, sock + 1, libc::O_CLOEXEC) as i32
        };
        if sock > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, (sock - 1) as u32, 0u32);
        }
        libc::syscall(libc::SYS_close_range, (sock + 2) as u32, u32::MAX, 0u32);
        loop {
            let mut request = [0u8];
            let (n, fd) = receive_with_fd(sock, &mut request);
            let byte = request[0];
            if n == 0 {
                libc::syscall(libc::SYS_exit_group, 0);
            }
            if n < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                libc::syscall(libc::SYS_exit_group, 1);
            }
            let (pid, ready_w) = match (byte, fd) {
                (b'j', ns) if ns >= 0 => {
                    let r = join_and_spawn(prog, ns, own_ns);
                    libc::syscall(libc::SYS_close, ns);
                    r
                }
                (byte, fd) => {
                    if fd >= 0 {
                        libc::syscall(libc::SYS_close, fd);
                    }
                    spawn_stub(prog, libc::CLONE_NEWPID, byte == b'P')
                }
            };
            answer(sock, pid, ready_w);
            if ready_w >= 0 {
                libc::syscall(libc::SYS_close, ready_w);
            }
        }
    }
}

/// Clones one stub (see [`stub_child`]) from the zygote, with
/// `CLONE_NEWPID` for a new tree or 0 to stay in the current namespace for
/// children. Returns its pid and the write end of its ready pipe, or
/// `-errno` and -1.
///
/// # Safety
/// Raw syscalls only; runs in the zygote.
unsafe fn spawn_stub(
    prog: *const libc::sock_fprog,
    namespace: libc::c_int,
    mount_proc: bool,
) -> (i32, i32) {
    // SAFETY (whole function): raw syscalls on memory this process owns.
    unsafe {
        let mut fds = [0i32; 2];
        if libc::syscall(libc::SYS_pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return (-*libc::__errno_location(), -1);
        }
        // A raw clone without a new stack behaves like fork (the child goes
        // on on a copy of this stack).
        let flags = (namespace | libc::SIGCHLD) as libc::c_ulong;
        let pid = libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize);
        if pid == 0 {
            stub_child(fds[0], prog, mount_proc)
        }
        let err = *libc::__errno_location();
        libc::syscall(libc::SYS_close, fds[0]);
        if pid < 0 {
            libc::syscall(libc::SYS_close, fds[1]);
            return (-err, -1);
        }
        (pid as i32, fds[1])
    }
}

/// Creates a stub in the pid namespace `ns` (another tree's), then returns
/// the zygote to `own_ns` for the trees it creates later.
///
/// # Safety
/// Raw syscalls only; runs in the zygote.
unsafe fn join_and_spawn(prog: *const libc::sock_fprog, ns: i32, own_ns: i32) -> (i32, i32) {
    // SAFETY (whole function): raw syscalls on FDs this process owns.
    unsafe {
        if own_ns < 0 {
            return (-libc::EBADF, -1);
        }
        if libc::syscall(libc::SYS_setns, ns, libc::CLONE_NEWPID) != 0 {
            return (-*libc::__errno_location(), -1);
        }
        let r = spawn_stub(prog, 0, false);
        if libc::syscall(libc::SYS_setns, own_ns, libc::CLONE_NEWPID) != 0 {
            // New trees would nest in the joined one: better no zygote.
            libc::syscall(libc::SYS_exit_group, 1);
        }
        r
    }
}

/// Receives into `buf` over `sock`, with the FD attached to it
/// (`SCM_RIGHTS`, close-on-exec) or -1; returns recvmsg's result too. Raw
/// system calls only, so the zygote can use it as well as the tracer.
///
/// # Safety
/// `sock` must be an FD the caller owns; the caller owns the FD returned.
unsafe fn receive_with_fd(sock: i32, buf: &mut [u8]) -> (isize, i32) {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one cmsghdr (16 bytes) and one int, 8-byte aligned.
    let mut cmsg = [0u64; 3];
    // SAFETY (whole block): an all-zero msghdr is valid; every pointer in it
    // refers to this stack frame or `buf`, and the CMSG helpers stay within
    // `cmsg`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cmsg);
        let n = libc::syscall(
            libc::SYS_recvmsg,
            sock,
            &mut msg as *mut libc::msghdr,
            libc::MSG_CMSG_CLOEXEC,
        ) as isize;
        let mut fd = -1;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if n > 0
            && !c.is_null()
            && (*c).cmsg_level == libc::SOL_SOCKET
            && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
        }
        (n, fd)
    }
}

/// Sends the zygote's answer: `pid` (or `-errno`), with `fd` attached if it
/// is not negative.
///
/// # Safety
/// Raw syscalls only; runs in the zygote.
unsafe fn answer(sock: i32, pid: i32, fd: i32) {
    // SAFETY: a raw sendmsg from this frame.
    unsafe { send_with_fd(sock, &pid.to_ne_bytes(), fd) };
}

/// Sends `bytes` over `sock` with `fd` attached (`SCM_RIGHTS`) unless it
/// is negative; returns sendmsg's result. Raw system calls only, so the
/// zygote can use it as well as the tracer.
///
/// # Safety
/// `sock` and `fd` must be FDs the caller owns.
unsafe fn send_with_fd(sock: i32, bytes: &[u8], fd: i32) -> isize {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // Room for one cmsghdr (16 bytes) and one int, 8-byte aligned.
    let mut cmsg = [0u64; 3];
    // SAFETY (whole block): an all-zero msghdr is valid; every pointer in it
    // refers to this stack frame or `bytes` (only read), and the CMSG
    // helpers stay within `cmsg`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if fd >= 0 {
            msg.msg_control = cmsg.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
        }
        libc::syscall(
            libc::SYS_sendmsg,
            sock,
            &msg as *const libc::msghdr,
            libc::MSG_NOSIGNAL,
        ) as isize
    }
}

/// The stub child's bootstrap. Never returns.
///
/// The [`Zygote`] creates each stub with a raw `clone(CLONE_NEWPID |
/// SIGCHLD)`, so it is pid 1 of a new pid namespace that its descendants
/// share (the sandbox's numbering is the host's there). The child waits until
/// the tracer writes a byte to its ready pipe (after `PTRACE_SEIZE`), then
/// sets up the trampoline, installs the stub filter with a new listener and
/// stops at an `int3` with the listener's fd number in `rdi`; after the
/// tracer resumes it, it closes that fd (a notified call the platform
/// continues) and stops at a second `int3`, ready for an image.
///
/// # Safety
/// Must run only in a freshly cloned child of the zygote.
unsafe fn stub_child(ready: i32, prog: *const libc::sock_fprog, mount_proc: bool) -> ! {
    // SAFETY (whole function): raw syscalls on memory this child owns.
    unsafe {
        // Die with the zygote, which dies with the tracer thread (EXITKILL
        // covers that too once seized).
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL,
            0,
            0,
            0,
        );
        reset_signals();
        let mut b = 0u8;
        if libc::syscall(libc::SYS_read, ready, &mut b as *mut u8, 1) != 1 {
            libc::syscall(libc::SYS_exit_group, EXIT_READY_PIPE);
        }
        // The stub's host fd table must hold nothing the app could use.
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        if mount_proc {
            // A new tree's first process shows its pid namespace at the
            // sentry's /proc (a procfs shows the namespace of whoever
            // mounts it), for host tools that enter the sentry's mount
            // namespace to list the sandbox's processes. Best effort.
            let flags = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;
            libc::syscall(
                libc::SYS_mount,
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                flags,
                std::ptr::null::<libc::c_void>(),
            );
        }
        let addr = libc::syscall(
            libc::SYS_mmap,
            TRAMPOLINE_ADDR,
            TRAMPOLINE_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
        if addr as u64 != TRAMPOLINE_ADDR {
            libc::syscall(libc::SYS_exit_group, EXIT_TRAMPOLINE);
        }
        std::ptr::copy_nonoverlapping(
            TRAMPOLINE_CODE.as_ptr(),
            TRAMPOLINE_ADDR as *mut u8,
            TRAMPOLINE_CODE.len(),
        );
        let r = libc::syscall(
            libc::SYS_mprotect,
            TRAMPOLINE_ADDR,
            PAGE_SIZE,
            libc::PROT_READ | libc::PROT_EXEC,
        );
        if r != 0 {
            libc::syscall(libc::SYS_exit_group, EXIT_TRAMPOLINE);
        }
        // The application holds no host capability: the sentry emulates the
        // ones the container is given. (The tracer keeps CAP_SYS_ADMIN to
        // create pid namespaces; a stub must not inherit it.)
        let header: [u32; 2] = [0x2008_0522 /* _LINUX_CAPABILITY_VERSION_3 */, 0];
        let data = [0u32; 6];
        if libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr()) != 0 {
            libc::syscall(libc::SYS_exit_group, EXIT_CAPS);
        }
        libc::syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        let fd = libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            // Once the sentry has received a call, only a fatal signal ends
            // the wait: a signal must not fail or restart a call the sentry
            // may already have carried out. Calls the sentry parks are
            // interrupted by the kernel itself (ERESTARTSYS).
            SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
            prog,
        );
        if fd < 0 {
            libc::syscall(libc::SYS_exit_group, EXIT_SECCOMP);
        }
        // Every syscall from here on passes the filter. Hand the listener's
        // number to the tracer, which copies the fd out with pidfd_getfd.
        std::arch::asm!("int3", in("rdi") fd, options(nostack));
        // Trapped, and continued natively by the platform's receiver.
        libc::syscall(libc::SYS_close, fd);
        std::arch::asm!("int3", options(nostack));
        // The tracer always moves the stub elsewhere; being resumed here is
        // a platform bug, and exiting is the safe answer.
        libc::syscall(libc::SYS_exit_group, EXIT_RESUMED);
        std::hint::unreachable_unchecked()
    }
}

/// Resets every signal to its default action and unblocks all signals: a
/// stub inherits neither the sentry's ignored `SIGPIPE` nor its mask.
///
/// # Safety
/// Raw syscalls only; safe in a forked child.
unsafe fn reset_signals() {
    // The kernel's struct sigaction: handler, flags, restorer, mask.
    let dfl = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `dfl` is a valid kernel sigaction.
        unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8usize) };
    }
    let empty = 0u64;
    // SAFETY: `empty` is a valid 8-byte signal set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            0usize,
            8usize,
        )
    };
}

/// Forks the tracer's doorbell: an idle child whose only job is to be
/// stopped (`SIGSTOP`) by any thread that queued a command, which makes the
/// tracer's `waitpid` return. Race-free where a signal to the tracer thread
/// would not be: a stop that happens while the tracer is busy is still
/// reported by its next `waitpid`.
pub fn fork_doorbell() -> Result<i32, PlatformError> {
    // SAFETY: the child only makes raw syscalls and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(PlatformError::os("fork doorbell"));
    }
    if pid == 0 {
        // SAFETY: raw syscalls in the forked child.
        unsafe {
            libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL,
                0,
                0,
                0,
            );
            reset_signals();
            libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
            loop {
                libc::syscall(libc::SYS_pause);
            }
        }
    }
    Ok(pid)
}
