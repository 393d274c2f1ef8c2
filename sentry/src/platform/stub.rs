//! The host side of a new stub: clone it into a new pid namespace, then the
//! few raw steps the child takes before it is confined.
//!
//! The sentry is multithreaded, so between `clone` and confinement the child
//! may only make raw system calls: no allocation, no locks, no panics.

use std::os::fd::{FromRawFd, OwnedFd};

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

/// Creates a stub child with a raw `clone(CLONE_NEWPID | SIGCHLD)`, so it is
/// pid 1 of a new pid namespace that its descendants share (the sandbox's
/// numbering is the host's there). The child waits until the tracer writes a byte to the
/// returned pipe (after `PTRACE_SEIZE`), then sets up the trampoline,
/// installs `filter` with a new listener and stops at an `int3` with the
/// listener's fd number in `rdi`; after the tracer resumes it, it closes that
/// fd (a notified call the platform continues) and stops at a second `int3`,
/// ready for an image.
pub fn fork_stub(filter: &[libc::sock_filter]) -> Result<(i32, OwnedFd), PlatformError> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len())
            .map_err(|_| PlatformError::Bootstrap("filter too long".into()))?,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a writable array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(PlatformError::os("pipe2"));
    }
    // SAFETY: pipe2 returned two fresh fds that we now own.
    let (ready_r, ready_w) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // A raw clone without a new stack behaves like fork (the child goes on
    // on a copy of this stack) but skips libc's fork handlers, which the
    // child has no use for.
    let flags = (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: the child only runs `stub_child`, which makes raw system calls
    // and never returns, as required after fork in a threaded process.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(PlatformError::Os {
            what: "clone a stub into a new pid namespace (needs CAP_SYS_ADMIN over the sentry's pid namespace)",
            source: std::io::Error::last_os_error(),
        });
    }
    let pid = pid as i32;
    if pid == 0 {
        // SAFETY: in the child; `prog` points into the parent's copy of the
        // filter, which this address space inherited.
        unsafe { stub_child(fds[0], &prog) }
    }
    drop(ready_r);
    Ok((pid, ready_w))
}

/// The stub child's bootstrap. Never returns.
///
/// # Safety
/// Must run only in a freshly forked child of the tracer thread.
unsafe fn stub_child(ready: i32, prog: *const libc::sock_fprog) -> ! {
    // SAFETY (whole function): raw syscalls on memory this child owns.
    unsafe {
        // Die with the tracer thread (EXITKILL covers that too once seized).
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
