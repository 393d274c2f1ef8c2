//! Test support for the crates that own tables: run code in a forked child
//! under a role's filter and see how the child ended, so each role can prove
//! that forbidden calls kill and allowed ones work.

use crate::{apply, compile, Allow};

/// Calls that leave a jail or widen it. No role's table lists them; a role
/// checks its table against these and against its own extras.
pub const ESCAPE_ROUTES: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_socket,
    libc::SYS_connect,
    libc::SYS_bpf,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_seccomp,
    libc::SYS_fsopen,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_setuid,
    libc::SYS_capset,
    libc::SYS_userfaultfd,
    libc::SYS_perf_event_open,
    libc::SYS_io_uring_setup,
];

/// Panics if any of `tables` lists one of `nrs`.
pub fn assert_not_listed(tables: &[&[Allow]], nrs: &[i64]) {
    for allow in tables.iter().copied().flatten() {
        assert!(
            !nrs.contains(&allow.nr),
            "{} must not be allowed",
            allow.name
        );
    }
}

/// Runs `f` in a forked child under the filter of `tables` and returns the
/// child's wait status. The filter is compiled before the fork (the test
/// harness is threaded, so the child must not allocate). `f` gets the pid
/// the filter was compiled for, the parent's, and returns the child's exit
/// code.
///
/// The child enters a private mount namespace first: should the filter
/// ever let a forbidden mount through, it must not land on the host's tree.
pub fn run_under(tables: &[&[Allow]], f: fn(i32) -> i32) -> i32 {
    let programs = compile(tables).unwrap();
    let parent = std::process::id() as i32;
    // SAFETY: the child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: plain system calls with valid arguments.
        let private = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        };
        if !private {
            // SAFETY: as below.
            unsafe { libc::_exit(101) }
        }
        let code = match apply(&programs) {
            Ok(()) => f(parent),
            Err(_) => 100,
        };
        // SAFETY: _exit is async-signal-safe and skips the parent's atexit
        // state.
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    // SAFETY: waitpid writes the status int.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    status
}

/// Panics unless the wait status is a death by `SIGSYS`, the filter's
/// answer to a call outside the table.
pub fn assert_killed_by_sigsys(status: i32) {
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
        "wait status {status:#x}: not killed by SIGSYS"
    );
}

/// Panics unless each probe, run alone under the filter of `tables`, kills
/// its process with `SIGSYS`.
pub fn assert_each_kills(tables: &[&[Allow]], probes: &[fn(i32) -> i32]) {
    for probe in probes {
        assert_killed_by_sigsys(run_under(tables, *probe));
    }
}

/// Panics unless the wait status is a normal exit with `code`.
pub fn assert_exited_with(status: i32, code: i32) {
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == code,
        "wait status {status:#x}: not an exit with {code}"
    );
}

/// Forbidden calls for [`assert_each_kills`]. Each makes one call and
/// returns 0 should it survive.
pub mod probe {
    /// The probes every role's filter must kill.
    pub const EVERY_ROLE: &[fn(i32) -> i32] =
        &[mount, ptrace_traceme, process_clone, executable_mapping];

    /// A tmpfs mount (in the child's private namespace, were it allowed).
    pub fn mount(_: i32) -> i32 {
        // SAFETY: valid C strings.
        unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        0
    }

    /// `PTRACE_TRACEME`: offer this process to its parent.
    pub fn ptrace_traceme(_: i32) -> i32 {
        // SAFETY: PTRACE_TRACEME takes no pointers.
        unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
        0
    }

    /// A fork-like `clone`: a new process, not a thread.
    pub fn process_clone(_: i32) -> i32 {
        // SAFETY: the child (were it allowed) exits at once.
        let r = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
        if r == 0 {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(0) }
        }
        0
    }

    /// An executable anonymous mapping.
    pub fn executable_mapping(_: i32) -> i32 {
        // SAFETY: an anonymous mapping (were it allowed), never used.
        unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        0
    }

    /// `clone3`, which must fail with `ENOSYS` rather than kill: returns 0
    /// if it does, 1 if not.
    pub fn clone3_is_enosys(_: i32) -> i32 {
        // SAFETY: clone3 with a null argument fails before reading it.
        let r = unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        i32::from(r != -1 || errno != Some(libc::ENOSYS))
    }
}
