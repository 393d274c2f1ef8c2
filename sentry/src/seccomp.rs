//! The sentry's own seccomp filter, kept as data: one table row per allowed
//! system call, with its argument conditions and the reason it is allowed.
//! It is installed once the sentry is jailed, on every thread, and anything
//! else kills the whole sentry: a compromised sentry must die, not probe.
//!
//! Stubs are created by the platform's zygote, forked before this filter
//! exists, so they never inherit it (a sentry rule that kills or fails a call
//! would override the stub filter's user notification).
//!
//! What std and libc need in any jailed threaded process (memory, threads,
//! locks, signals) is the shared [`seccomp_table::STD_RUNTIME`] table,
//! compiled together with this one: threads only, never a process (the
//! zygote makes those), and no executable mappings (the sentry loads no
//! code; mapped tmpfs files are data).
//!
//! `openat` is not argument-checked: the jailed sentry's root is an empty
//! read-only tmpfs, so the only useful directory it can open files through
//! is the `/proc` fd the platform keeps (its stub's status files), and no
//! flag would let it create anything there.

use seccomp_table::{allow, eq, Allow, STD_RUNTIME};

pub use seccomp_table::Error;

/// `PTRACE_GET_RSEQ_CONFIGURATION`, which `libc` does not export.
const PTRACE_GET_RSEQ_CONFIGURATION: i32 = 0x420f;

/// Every system call the sentry itself makes once jailed.
static ALLOWED: &[Allow] = &[
    // The platform: tracing stubs.
    allow!(
        SYS_sched_setaffinity,
        "the tracer and a stub share one CPU while an image is installed"
    ),
    allow!(
        SYS_getcpu,
        "which CPU the tracer shares with a stub at installation"
    ),
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
            [eq(1, libc::TCGETS2 as i32)],
            [eq(1, libc::TCSETS2 as i32)],
            [eq(1, libc::TIOCGWINSZ as i32)],
        ],
        "receive and answer stub system calls; read the console's host pty \
         modes and window size and make it raw, the only terminal the \
         sentry holds (never TIOCSTI, TIOCSWINSZ or job control)"
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
        [
            [eq(1, libc::SOL_SOCKET), eq(2, libc::SO_SNDBUF)],
            [eq(1, libc::SOL_SOCKET), eq(2, libc::SO_TYPE)],
        ],
        "a lisafs connection sizes its largest message from the send buffer; \
         the gofer sockets of an added container are checked to be lisafs's \
         kind (SOCK_SEQPACKET)"
    ),
    allow!(
        SYS_setsockopt,
        [
            [eq(1, libc::SOL_SOCKET), eq(2, libc::SO_SNDBUFFORCE)],
            [eq(1, libc::SOL_SOCKET), eq(2, libc::SO_SNDBUF)],
        ],
        "an added container's gofer sockets get room for lisafs's largest \
         message (the forced size needs a capability the sentry lacks and \
         fails; the plain one is capped by the host)"
    ),
    // The control API (ttrpc) and FD hand-overs, on listening sockets the
    // runtime bound before the jail: the sentry accepts, never binds or
    // connects.
    allow!(
        SYS_accept4,
        "connections to the control API and the FD socket"
    ),
    allow!(SYS_shutdown, "ttrpc closes a control connection"),
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
    // Threads: kernel tasks, receivers, the tracer.
    allow!(SYS_sched_yield, "spin-then-park locks"),
    allow!(
        SYS_prctl,
        [[eq(0, libc::PR_SET_NAME)], [eq(0, libc::PR_GET_NAME)]],
        "std names new threads"
    ),
    // Signals and the host.
    allow!(
        SYS_rt_sigtimedwait,
        "the signal thread forwards host signals to the sandbox"
    ),
    allow!(
        SYS_sysinfo,
        "the sandbox's sysinfo reports the host's memory and load"
    ),
    // Time.
    allow!(SYS_clock_nanosleep, "timed waits of the sandbox"),
    allow!(SYS_nanosleep, "timed waits of the sandbox"),
];

/// The sentry's tables, as they are compiled together.
const TABLES: &[&[Allow]] = &[STD_RUNTIME, ALLOWED];

/// Compiles and installs the sentry's filter on all its threads. Needs
/// `no_new_privs` (or `CAP_SYS_ADMIN`), and must come after the platform
/// has forked its zygote and helpers.
pub fn install_sentry_filter() -> Result<(), Error> {
    seccomp_table::install(TABLES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seccomp_table::test_support::{
        assert_each_kills, assert_exited_with, assert_not_listed, probe, run_under, ESCAPE_ROUTES,
    };

    #[test]
    fn compiles_without_duplicates() {
        seccomp_table::compile(TABLES).unwrap();
    }

    #[test]
    fn escape_routes_are_not_in_the_table() {
        assert_not_listed(TABLES, ESCAPE_ROUTES);
    }

    #[test]
    fn forbidden_calls_kill_the_process() {
        assert_each_kills(TABLES, probe::EVERY_ROLE);
        assert_each_kills(
            TABLES,
            &[
                |_| {
                    // SAFETY: BPF_PROG_LOAD with a null attribute pointer
                    // fails (were it allowed) without side effects.
                    unsafe { libc::syscall(libc::SYS_bpf, 5, 0usize, 0usize) };
                    0
                },
                |_| {
                    let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
                    let envp = [std::ptr::null()];
                    // SAFETY: valid NUL-terminated arrays of C strings.
                    unsafe { libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
                    0
                },
                |_| {
                    // SAFETY: plain system call.
                    unsafe { libc::unshare(libc::CLONE_NEWUTS) };
                    0
                },
                |_| {
                    // SAFETY: plain system call on an invalid fd.
                    unsafe { libc::setns(-1, 0) };
                    0
                },
                |_| {
                    let byte = b'x';
                    // SAFETY: TIOCSTI reads one byte from `byte` (were it
                    // allowed, it would inject it into a terminal's input).
                    unsafe { libc::ioctl(0, libc::TIOCSTI, &byte) };
                    0
                },
                |_| {
                    let size = [0u16; 4];
                    // SAFETY: TIOCSWINSZ reads a struct winsize from `size`.
                    unsafe { libc::ioctl(0, libc::TIOCSWINSZ, size.as_ptr()) };
                    0
                },
                |_| {
                    // SAFETY: plain ioctl without a pointer argument.
                    unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
                    0
                },
                |_| {
                    // Socket options beyond the sizes and kind lisafs
                    // needs (SO_PASSCRED would let a socket learn its
                    // peers' credentials).
                    let one: libc::c_int = 1;
                    // SAFETY: setsockopt reads one int from `one`.
                    unsafe {
                        libc::setsockopt(
                            0,
                            libc::SOL_SOCKET,
                            libc::SO_PASSCRED,
                            (&one as *const libc::c_int).cast(),
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    0
                },
                |_| {
                    let mut cred = [0u8; 12];
                    let mut len = cred.len() as libc::socklen_t;
                    // SAFETY: getsockopt writes at most `len` bytes to
                    // `cred` and the length to `len`.
                    unsafe {
                        libc::getsockopt(
                            0,
                            libc::SOL_SOCKET,
                            libc::SO_PEERCRED,
                            cred.as_mut_ptr().cast(),
                            &mut len,
                        )
                    };
                    0
                },
            ],
        );
    }

    #[test]
    fn lisafs_socket_options_work() {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::{AtomicI32, Ordering};
        // The sentry never makes sockets: the runtime hands them over. So
        // does the test, to the forked child, through this.
        static SOCKET: AtomicI32 = AtomicI32::new(-1);
        let (a, _b) = lisafs::Socket::pair().unwrap();
        SOCKET.store(a.as_raw_fd(), Ordering::SeqCst);
        let status = run_under(TABLES, |_| {
            // SAFETY: the socket stays open in the parent, and so here.
            let a = unsafe { std::os::fd::BorrowedFd::borrow_raw(SOCKET.load(Ordering::SeqCst)) };
            let kind = rustix::net::sockopt::socket_type(a);
            let sized = rustix::net::sockopt::set_socket_send_buffer_size(a, 1 << 20)
                .and_then(|()| rustix::net::sockopt::socket_send_buffer_size(a));
            match (kind, sized) {
                (Ok(rustix::net::SocketType::SEQPACKET), Ok(n)) if n > 0 => 0,
                _ => 2,
            }
        });
        assert_eq!(status, 0);
    }

    #[test]
    fn the_console_ioctls_work() {
        let status = run_under(TABLES, |_| {
            // A pty master stands for the console's host fd: the same
            // requests are made on it.
            let Ok(fd) = rustix::fs::openat(
                rustix::fs::CWD,
                "/dev/ptmx",
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
                rustix::fs::Mode::empty(),
            ) else {
                return 1;
            };
            let Ok(mut mode) = rustix::termios::tcgetattr(&fd) else {
                return 2;
            };
            mode.make_raw();
            if rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &mode)
                .is_err()
                || rustix::termios::tcgetwinsize(&fd).is_err()
            {
                return 3;
            }
            7
        });
        assert_exited_with(status, 7);
    }

    #[test]
    fn clone3_fails_with_enosys_and_allowed_calls_work() {
        let status = run_under(TABLES, |pid| {
            if probe::clone3_is_enosys(pid) != 0 {
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
        assert_exited_with(status, 7);
    }
}
