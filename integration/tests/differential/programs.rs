//! The small C programs of `programs/`: threads and futexes, a fork/exec
//! storm, signals and EINTR, file-backed and shared memory, dynamic linking,
//! and the system calls a sandbox must refuse. Static builds run in the
//! busybox rootfs; dynamic ones in the Debian rootfs, whose glibc they were
//! linked against.

use integration::case::{dynamic_program, program};

/// The refused syscalls, in the order `refused.c` calls them. Only
/// `open_by_handle_at` has an answer under runc that the spec fixes (it
/// needs CAP_DAC_READ_SEARCH, which the spec does not grant); the others
/// depend on the host kernel's configuration (unprivileged bpf, io_uring
/// and perf sysctls, module and kexec support), so runc's answer is only
/// logged. Under vigil every one must fail. On the CI machine runc
/// answers: bpf EPERM, io_uring_setup ok, keyctl ok, perf_event_open ok,
/// init_module ENOSYS, kexec_load ENOSYS (no module or kexec support in
/// that kernel), open_by_handle_at EPERM.
const REFUSED: &[(&str, Option<&str>)] = &[
    ("bpf", None),
    ("io_uring_setup", None),
    ("keyctl", None),
    ("perf_event_open", None),
    ("init_module", None),
    ("kexec_load", None),
    ("open_by_handle_at", Some("EPERM")),
    ("mount", Some("EPERM")),
    ("umount2", Some("EPERM")),
    ("unshare", None),
    ("setns", None),
    ("pivot_root", None),
    ("chroot_escape", None),
];

integration::cases! {
    threads_and_futex: program("threads_futex", &[])
        .stdout("counter 160000 (expected 160000)\njoined 28\nping-pong done, turn 0\nfutex wait on stale value: -1 EAGAIN\n").exit(0),
    fork_exec_wait_storm: program("forkexec", &[])
        .stdout("reaped 200, exited 200, sum 594 (expected 594)\nWNOHANG while running: 0\nafter EOF: exited 1 code 9\nwait with no children: -1\n").exit(0),
    signals_and_eintr: program("signals", &[])
        .stdout("read without SA_RESTART: -1 EINTR, handler ran 1\nread with SA_RESTART: 1 'w', handler ran 1\npending while blocked: 1, handled 0\nafter unblock: handled 1\nsigsuspend: -1 EINTR, handled 1\nSIGCHLD handled 1, child code 3\nhandler on altstack: 1\nchild signaled 1 by TERM\nsurvived ignored signals\n").exit(0),
    fault_kills_init: program("signals", &["crash"])
        .stdout("about to fault\n").exit(139),
    mmap_private_and_shared: program("mmap_files", &[])
        .stdout("after MAP_PRIVATE write, file has: original, mapping has: PRIVATE!\nafter MAP_SHARED write, file has: SHARED!!, other mapping has: SHARED!!, second-page\nprivate mapping still has: PRIVATE!\nafter pwrite, shared mapping has: written!\nthrough a second open: written!\nchild wrote shared anonymous memory: 42\nchild wrote private anonymous memory: 1\nmremap kept contents: written!\nwritable shared map of O_RDONLY fd: EACCES\n").exit(0),
    refused_syscalls: program("refused", &[]).refused(REFUSED),
    no_host_fds: program("hostfds", &[])
        .stdout("open fds: 0 1 2\nmappable guessed fds: 0\nfd links: 3\n").exit(0),
    dynamic_threads_and_futex: dynamic_program("threads_futex", &[])
        .stdout("counter 160000 (expected 160000)\njoined 28\nping-pong done, turn 0\nfutex wait on stale value: -1 EAGAIN\n").exit(0),
    dynamic_linking_and_dlopen: dynamic_program("dynlink", &[])
        .stdout("cos(0) via dlsym = 1.000\nlibc.so.6 loaded: 1\nAT_PAGESZ = 4096\nAT_SECURE = 0\ninterpreter mapped: 1\nmissing library: refused\n").exit(0),
    dynamic_mmap_private_and_shared: dynamic_program("mmap_files", &[])
        .stdout("after MAP_PRIVATE write, file has: original, mapping has: PRIVATE!\nafter MAP_SHARED write, file has: SHARED!!, other mapping has: SHARED!!, second-page\nprivate mapping still has: PRIVATE!\nafter pwrite, shared mapping has: written!\nthrough a second open: written!\nchild wrote shared anonymous memory: 42\nchild wrote private anonymous memory: 1\nmremap kept contents: written!\nwritable shared map of O_RDONLY fd: EACCES\n").exit(0),
    dynamic_fork_exec_wait_storm: dynamic_program("forkexec", &[])
        .stdout("reaped 200, exited 200, sum 594 (expected 594)\nWNOHANG while running: 0\nafter EOF: exited 1 code 9\nwait with no children: -1\n").exit(0),
}
