//! The gofer's seccomp filter, kept as data: one table row per allowed
//! system call, with its argument conditions and the reason it is allowed.
//! Together with what std and libc need in any jailed threaded process
//! ([`seccomp_table::STD_RUNTIME`]: memory, threads, locks, signals),
//! this is everything the gofer may do; anything else kills the whole
//! process: a compromised gofer must die, not probe.

use seccomp_table::{allow, eq, own_pid, Allow, STD_RUNTIME};

pub use seccomp_table::Error;

/// Every system call the gofer itself makes once jailed.
static ALLOWED: &[Allow] = &[
    // The transport.
    allow!(
        SYS_recvmsg,
        "receive a request (and detect FDs a client should not send)"
    ),
    allow!(
        SYS_sendmsg,
        "send a response, with a donated FD in directfs mode"
    ),
    allow!(
        SYS_getsockopt,
        [[eq(1, libc::SOL_SOCKET), eq(2, libc::SO_SNDBUF)]],
        "each connection sizes its largest message from the send buffer"
    ),
    // The file backend: fd-relative calls on FDs reached from the mount roots.
    allow!(SYS_openat, "reopen a file through /proc/self/fd"),
    allow!(
        SYS_openat2,
        "walk one component with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS"
    ),
    allow!(SYS_close, "close FDs the client released"),
    allow!(SYS_statx, "the stat every lisafs inode carries"),
    allow!(SYS_fstatfs, "FStatFS"),
    allow!(
        SYS_fchownat,
        "SetStat owner, and the owner of created files"
    ),
    allow!(SYS_fchmodat, "SetStat mode (on a /proc/self/fd link)"),
    allow!(SYS_utimensat, "SetStat times"),
    allow!(SYS_ftruncate, "SetStat size, O_TRUNC"),
    allow!(SYS_pread64, "PRead"),
    allow!(SYS_pwrite64, "PWrite"),
    allow!(SYS_fsync, "FSync"),
    allow!(SYS_fallocate, "FAllocate"),
    allow!(SYS_mkdirat, "MkdirAt"),
    allow!(SYS_mknodat, "MknodAt"),
    allow!(SYS_symlinkat, "SymlinkAt"),
    allow!(SYS_linkat, "LinkAt"),
    allow!(SYS_readlinkat, "ReadLinkAt"),
    allow!(SYS_unlinkat, "UnlinkAt"),
    allow!(SYS_renameat2, "RenameAt, RenameAt2"),
    allow!(SYS_getdents64, "Getdents64"),
    allow!(SYS_fgetxattr, "FGetXattr"),
    allow!(SYS_fsetxattr, "FSetXattr"),
    allow!(SYS_flistxattr, "FListXattr"),
    allow!(SYS_fremovexattr, "FRemoveXattr"),
    allow!(
        SYS_fcntl,
        [[eq(1, libc::F_DUPFD_CLOEXEC)], [eq(1, libc::F_GETFD)],],
        "duplicate an FD to donate it; std checks that FDs it adopts are open"
    ),
    // Ids and signals.
    allow!(
        SYS_umask,
        [[eq(0, 0)]],
        "the backend clears the umask: the sentry already applied the application's"
    ),
    allow!(SYS_geteuid, "the backend skips chown to its own ids"),
    allow!(SYS_getegid, "the backend skips chown to its own ids"),
    allow!(
        SYS_tgkill,
        [[own_pid(0)]],
        "abort() signals itself; never another process"
    ),
    // Logs.
    allow!(SYS_write, "the debug log and stderr"),
    // A panicking connection thread prints a backtrace (RUST_BACKTRACE) and
    // must not take the other connections down; both calls only see the
    // jail.
    allow!(SYS_getcwd, "the panic handler's backtrace"),
    #[cfg(target_arch = "x86_64")]
    allow!(
        SYS_readlink,
        "the panic handler's backtrace reads /proc/self/exe"
    ),
];

/// The gofer's tables, as they are compiled together.
const TABLES: &[&[Allow]] = &[STD_RUNTIME, ALLOWED];

/// Compiles and installs the gofer's filter.
pub fn install() -> Result<(), Error> {
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
        assert_not_listed(
            TABLES,
            &[
                libc::SYS_ptrace,
                libc::SYS_process_vm_readv,
                libc::SYS_process_vm_writev,
                libc::SYS_kill,
                libc::SYS_ioctl,
                libc::SYS_prctl,
            ],
        );
    }

    #[test]
    fn forbidden_calls_kill_the_process() {
        assert_each_kills(TABLES, probe::EVERY_ROLE);
        assert_each_kills(
            TABLES,
            &[|_| {
                // SAFETY: plain system call; pid 1 is never ours.
                unsafe { libc::syscall(libc::SYS_tgkill, 1, 1, 0) };
                0
            }],
        );
    }

    #[test]
    fn clone3_fails_with_enosys_and_allowed_calls_work() {
        let status = run_under(TABLES, |pid| {
            if probe::clone3_is_enosys(pid) != 0 {
                return 2;
            }
            // SAFETY: plain system calls.
            if unsafe { libc::getpid() } <= 0 {
                return 3;
            }
            // tgkill of the process the filter was built for (signal 0
            // only checks that the thread exists).
            // SAFETY: plain system call.
            if unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, 0) } != 0 {
                return 4;
            }
            0
        });
        assert_exited_with(status, 0);
    }
}
