//! Runs the lisafs server conformance suite against the gofer's host backend,
//! in process: each connection is served by `lisafs::serve` on its own thread,
//! over a socket pair, with the same options the gofer would use.

use gofer::backend::{HostBackend, ProcSelfFd};
use lisafs::testsuite::{Harness, HarnessOptions, ServerHandle};
use lisafs::{ServeOptions, Socket};
use rustix::fs::{Mode, OFlags};
use std::path::Path;

/// Serves each connection from a thread of the test process.
struct InProcess;

impl Harness for InProcess {
    fn start_raw(&self, root: &Path, opts: HarnessOptions) -> (Socket, ServerHandle) {
        // Opened with the test's credentials, as the gofer opens its mount
        // roots before dropping privileges.
        let root_fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the mount root");
        let proc = ProcSelfFd::open().expect("open /proc/self/fd");
        let (client, server) = Socket::pair().expect("socketpair");
        let serve_opts = ServeOptions {
            readonly: opts.readonly,
            directfs: opts.directfs,
        };
        let thread = std::thread::Builder::new()
            .name("lisafs-server".into())
            .spawn(move || {
                if let Some((uid, gid)) = opts.as_user {
                    become_user(uid, gid);
                }
                let backend = HostBackend::new(root_fd, proc);
                lisafs::serve(&backend, server, serve_opts)
            })
            .expect("spawn the server thread");
        let handle = ServerHandle::new(move || {
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (client, handle)
    }

    fn unprivileged(&self) -> bool {
        // Switching to another uid needs CAP_SETUID, which root has.
        rustix::process::geteuid().is_root()
    }
}

/// Gives the calling thread, and only it, the credentials of `uid`/`gid`
/// with no supplementary groups. The raw system calls matter: the libc
/// wrappers change every thread of the process, and the other tests' servers
/// must keep theirs. Leaving uid 0 also clears the thread's capabilities.
fn become_user(uid: u32, gid: u32) {
    // SAFETY: these calls take integer arguments (and a null list) and change
    // only this thread's credentials.
    unsafe {
        let null: *const libc::gid_t = std::ptr::null();
        assert_eq!(libc::syscall(libc::SYS_setgroups, 0, null), 0, "setgroups");
        assert_eq!(
            libc::syscall(libc::SYS_setresgid, gid, gid, gid),
            0,
            "setresgid"
        );
        assert_eq!(
            libc::syscall(libc::SYS_setresuid, uid, uid, uid),
            0,
            "setresuid"
        );
    }
}

lisafs::conformance_suite!(InProcess);
