//! End-to-end tests of the kernel: real static programs (busybox) run in a
//! sandbox whose root is served by the gofer's backend over lisafs, with
//! their output compared to what Linux prints.

use gofer::backend::{HostBackend, ProcSelfFd};
use lisafs::{ServeOptions, Socket};
use rustix::fs::{Mode, OFlags};
use sentry::boot::{
    BootConfig, ContainerConfig, MountConfig, MountSource, ProcessSpec, SandboxExit, UserConfig,
};
use sentry::kernel::task::ExitStatus;
use sentry::kernel::{BootError, Kernel, SANDBOX_CONTAINER};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// A rootfs with busybox and its applet links, or `None` if the host has no
/// static busybox.
fn busybox_root() -> Option<tempfile::TempDir> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        eprintln!("skipped: no /bin/busybox (install busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    for applet in [
        "sh", "echo", "cat", "ls", "true", "false", "mkdir", "rm", "mv", "ln", "wc", "sleep",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    for d in ["tmp", "etc", "proc", "dev"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    Some(dir)
}

fn serve(root: &Path) -> Socket {
    serve_joined(root).0
}

/// A gofer connection to `root`, and the thread serving it, which ends
/// when the sentry closes its end.
fn serve_joined(root: &Path) -> (Socket, std::thread::JoinHandle<()>) {
    let root_fd: OwnedFd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let proc = ProcSelfFd::open().unwrap();
    let (client, server) = Socket::pair().unwrap();
    let thread = std::thread::spawn(move || {
        let backend = HostBackend::new(root_fd, proc);
        let _ = lisafs::serve(&backend, server, ServeOptions::default());
    });
    (client, thread)
}

/// A container on a gofer-served root with the usual mounts, running
/// `init`.
fn container(root: Socket, init: ProcessSpec) -> ContainerConfig {
    ContainerConfig {
        root: MountSource::Gofer {
            socket: root,
            exclusive: true,
        },
        root_readonly: false,
        mounts: vec![
            MountConfig {
                destination: b"/proc".to_vec(),
                source: MountSource::Proc,
                readonly: false,
            },
            MountConfig {
                destination: b"/dev".to_vec(),
                source: MountSource::Dev,
                readonly: false,
            },
            MountConfig {
                destination: b"/dev/pts".to_vec(),
                source: MountSource::Devpts,
                readonly: false,
            },
            MountConfig {
                destination: b"/tmp".to_vec(),
                source: MountSource::Tmpfs { mode: 0o1777 },
                readonly: false,
            },
        ],
        init,
    }
}

fn process(argv: &[&str], stdio: [OwnedFd; 3]) -> ProcessSpec {
    ProcessSpec {
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        envp: vec![b"PATH=/bin".to_vec(), b"HOME=/".to_vec()],
        cwd: b"/".to_vec(),
        user: UserConfig::default(),
        capabilities: u64::MAX,
        rlimits: Vec::new(),
        stdio,
        terminal: false,
    }
}

/// Runs `argv` in a sandbox on `root`; returns its exit and its stdout.
fn run(root: &Path, argv: &[&str], stdin: &[u8]) -> (SandboxExit, String) {
    let (out_r, out_w) = rustix::pipe::pipe().unwrap();
    let (in_r, in_w) = rustix::pipe::pipe().unwrap();
    let err: OwnedFd = std::io::stderr().as_fd().try_clone_to_owned().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::File::from(in_w);
        let _ = std::io::Write::write_all(&mut f, &data);
    });
    if std::env::var_os("VIGIL_STRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .try_init();
    }
    let cfg = BootConfig {
        container: container(serve(root), process(argv, [in_r, out_w, err])),
        hostname: b"sandbox".to_vec(),
        strace: std::env::var_os("VIGIL_STRACE").is_some(),
    };
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::fs::File::from(out_r).read_to_string(&mut s).unwrap();
        s
    });
    let exit = Kernel::boot(cfg).expect("boot");
    writer.join().unwrap();
    (exit, reader.join().unwrap())
}

#[test]
fn echo_prints_and_exits() {
    let Some(root) = busybox_root() else { return };
    let (exit, out) = run(root.path(), &["echo", "hello", "world"], b"");
    assert_eq!(out, "hello world\n");
    assert_eq!(exit, SandboxExit::Exited(0));
}

#[test]
fn shell_exit_code() {
    let Some(root) = busybox_root() else { return };
    let (exit, out) = run(root.path(), &["sh", "-c", "echo $((6*7)); exit 3"], b"");
    assert_eq!(out, "42\n");
    assert_eq!(exit, SandboxExit::Exited(3));
}

/// A program using pseudo-terminals (`tests/programs/pty.c`: a pair from
/// `/dev/ptmx`, a controlling terminal, cooked and raw input, `^C`, a
/// resize, hangup) prints in the sandbox what it prints on Linux.
#[test]
fn ptys_behave_as_on_linux() {
    let Some(root) = busybox_root() else { return };
    let probe = root.path().join("pty");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs/pty.c");
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&probe)
        .arg(src)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("skipped: gcc with static glibc is needed");
        return;
    }
    let linux = std::process::Command::new(&probe)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let linux = String::from_utf8(linux.stdout).unwrap();
    assert!(
        linux.ends_with("after hangup: child exit 8\n"),
        "on Linux: {linux}"
    );
    let (exit, out) = run(root.path(), &["/pty"], b"");
    assert_eq!(out, linux);
    assert_eq!(exit, SandboxExit::Exited(0));
}

/// Runs the shell command in `VIGIL_SH` (for trying things by hand).
#[test]
fn manual_command() {
    let Some(cmd) = std::env::var_os("VIGIL_SH") else {
        return;
    };
    let argv = ["sh", "-c", cmd.to_str().unwrap()];
    let (exit, out) = match std::env::var_os("VIGIL_ROOT") {
        Some(dir) => run(Path::new(&dir), &argv, b"stdin data\n"),
        None => {
            let Some(root) = busybox_root() else { return };
            run(root.path(), &argv, b"stdin data\n")
        }
    };
    println!("exit {exit:?}\n---\n{out}---");
}

/// How a process killed from outside ends.
const KILLED: ExitStatus = ExitStatus::Signaled {
    signal: libc::SIGKILL,
    core_dumped: false,
};

/// A sandbox whose own container (its init a long sleep) runs on one
/// busybox root, with an added container "b" on another; each root holds
/// a file the other has not.
struct Pod {
    kernel: std::sync::Arc<Kernel>,
    /// The thread serving b's root.
    b_gofer: std::thread::JoinHandle<()>,
    a_root: tempfile::TempDir,
    b_root: tempfile::TempDir,
}

/// Stdio whose stdout is read to the end on a thread of its own.
fn captured() -> ([OwnedFd; 3], std::thread::JoinHandle<String>) {
    let (out_r, out_w) = rustix::pipe::pipe().unwrap();
    let null = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::fs::File::from(out_r).read_to_string(&mut s).unwrap();
        s
    });
    ([null(), out_w, null()], reader)
}

impl Pod {
    /// The pod, with b's init `b_init` prepared; `None` without busybox.
    fn new(b_init: &[&str]) -> Option<(Pod, sentry::kernel::Prepared)> {
        let a_root = busybox_root()?;
        let b_root = busybox_root()?;
        std::fs::write(a_root.path().join("only-a"), "a-secret\n").unwrap();
        std::fs::write(b_root.path().join("only-b"), "b-secret\n").unwrap();
        let (stdio, _) = captured();
        let mut cfg = BootConfig {
            container: container(serve(a_root.path()), process(&["sleep", "1000"], stdio)),
            hostname: b"pod".to_vec(),
            strace: false,
        };
        let kernel = Kernel::new(&mut cfg).unwrap();
        let init = kernel
            .prepare(SANDBOX_CONTAINER, cfg.container.init)
            .unwrap();
        assert_eq!(kernel.start(init).unwrap(), 1);
        let (socket, b_gofer) = serve_joined(b_root.path());
        let (stdio, _) = captured();
        let b = kernel
            .add_container("b", container(socket, process(b_init, stdio)))
            .unwrap();
        let pod = Pod {
            kernel,
            b_gofer,
            a_root,
            b_root,
        };
        Some((pod, b))
    }

    /// Runs `sh -c script` in `container` to its end; its exit and stdout.
    fn exec(&self, container: &str, script: &str) -> (ExitStatus, String) {
        let (stdio, out) = captured();
        let p = self
            .kernel
            .prepare(container, process(&["sh", "-c", script], stdio))
            .unwrap();
        let pid = self.kernel.start(p).unwrap();
        let exit = self.kernel.wait_process(pid).unwrap();
        (exit, out.join().unwrap())
    }

    fn pids(&self, container: &str) -> Vec<i32> {
        let processes = self.kernel.processes(container);
        processes.iter().map(|p| p.pid).collect()
    }

    /// Waits (a few seconds at most) for the thread serving b's root to
    /// end; whether it did.
    fn b_gofer_ends(&self) -> bool {
        for _ in 0..500 {
            if self.b_gofer.is_finished() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    /// Waits (a few seconds at most) until `container` runs no process.
    fn until_empty(&self, container: &str) {
        for _ in 0..500 {
            if self.pids(container).is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{container} still runs {:?}", self.pids(container));
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.kernel.signal_init(libc::SIGKILL);
        self.kernel.wait();
    }
}

/// Each container sees its own root only: not by path, not through `..`,
/// not through a symlink naming the other root's host path, and not
/// through `/proc/PID/{root,cwd,fd}` or `mounts` of the other's process,
/// which the same links of a process of its own container do reach.
#[test]
fn containers_see_their_own_files_only() {
    // b's init keeps its root open as FD 3.
    let Some((pod, b)) = Pod::new(&["sh", "-c", "exec 3</; exec sleep 1000"]) else {
        return;
    };
    let b_init = pod.kernel.start(b).unwrap();
    let host_b = pod.b_root.path().join("only-b");
    std::os::unix::fs::symlink(&host_b, pod.a_root.path().join("to-b")).unwrap();
    let host_a = pod.a_root.path().join("only-a");
    std::os::unix::fs::symlink(&host_a, pod.b_root.path().join("to-a")).unwrap();
    // b's init has its FD 3 once `exec sleep` has run.
    for _ in 0..500 {
        let (_, fds) = pod.exec("b", &format!("ls /proc/{b_init}/fd"));
        if fds.split_whitespace().any(|fd| fd == "3") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let probe = format!(
        "cat /only-a /only-b ../../only-b /to-b /to-a; \
         cat /proc/{b_init}/root/only-b /proc/{b_init}/cwd/only-b; \
         cat /proc/{b_init}/fd/3/only-b /proc/{b_init}/fd/3/only-a; \
         ls /proc/{b_init}/fd; cat /proc/{b_init}/mounts; echo end"
    );
    let (_, a_sees) = pod.exec(SANDBOX_CONTAINER, &probe);
    assert_eq!(a_sees, "a-secret\nend\n");

    let (_, b_sees) = pod.exec(
        "b",
        "cat /only-a /only-b ../../only-a /to-a /to-b; echo end",
    );
    assert_eq!(b_sees, "b-secret\nend\n");
    // Within b, its init's links lead into b's root.
    let (_, b_links) = pod.exec("b", &format!("cat /proc/{b_init}/fd/3/only-b"));
    assert_eq!(b_links, "b-secret\n");
}

/// An added container's processes are its own: listed, signalled and
/// counted apart from the sandbox's, with pids unique in the sandbox.
#[test]
fn an_added_containers_processes_are_its_own() {
    let Some((pod, b)) = Pod::new(&["sleep", "1000"]) else {
        return;
    };
    let b_init = pod.kernel.start(b).unwrap();
    assert_ne!(b_init, 1);
    assert_eq!(pod.kernel.container_init("b").unwrap().pid, b_init);
    let (stdio, _) = captured();
    let p = pod
        .kernel
        .prepare("b", process(&["sleep", "1000"], stdio))
        .unwrap();
    let b_exec = pod.kernel.start(p).unwrap();
    let (stdio, _) = captured();
    let p = pod
        .kernel
        .prepare(SANDBOX_CONTAINER, process(&["sleep", "1000"], stdio))
        .unwrap();
    let a_exec = pod.kernel.start(p).unwrap();

    let (a, b) = (pod.pids(SANDBOX_CONTAINER), pod.pids("b"));
    assert_eq!(a, [1, a_exec]);
    let mut want_b = vec![b_init, b_exec];
    want_b.sort_unstable();
    assert_eq!(b, want_b);

    // Killing all of b leaves the sandbox's own processes alone.
    pod.kernel.signal_all("b", libc::SIGKILL).unwrap();
    pod.until_empty("b");
    assert_eq!(pod.pids(SANDBOX_CONTAINER), [1, a_exec]);
    assert_eq!(pod.kernel.wait_container("b"), Some(KILLED));
    assert_eq!(pod.exec(SANDBOX_CONTAINER, "echo alive").1, "alive\n");
}

/// When an added container's init exits, its other processes die with it
/// (as with a pid namespace's init), the exit is kept, and the rest of the
/// sandbox goes on.
#[test]
fn an_added_init_takes_its_container_with_it() {
    let Some((pod, b)) = Pod::new(&["sh", "-c", "sleep 1000 & sleep 1000 & read x; exit 7"]) else {
        return;
    };
    // Its stdin is /dev/null: `read` ends at once, after the children
    // were started.
    pod.kernel.start(b).unwrap();
    assert_eq!(pod.kernel.wait_container("b"), Some(ExitStatus::Exited(7)));
    pod.until_empty("b");
    assert_eq!(pod.pids(SANDBOX_CONTAINER), [1]);
    assert_eq!(pod.exec(SANDBOX_CONTAINER, "echo alive").1, "alive\n");
    // b's init is gone; its exit is still there for a second waiter.
    assert_eq!(pod.kernel.wait_container("b"), Some(ExitStatus::Exited(7)));
    assert!(pod.kernel.container_init("b").is_none());
    pod.kernel.remove_container("b").unwrap();
    assert!(pod.b_gofer_ends(), "b's gofer is still connected");
}

/// Removing an added container kills its processes, releases its root
/// (its gofer sees the connection close), answers those waiting for it,
/// and leaves the sandbox running.
#[test]
fn removing_a_container_kills_it_and_releases_its_root() {
    let Some((pod, b)) = Pod::new(&["sleep", "1000"]) else {
        return;
    };
    pod.kernel.start(b).unwrap();
    let (stdio, _) = captured();
    let p = pod
        .kernel
        .prepare("b", process(&["sleep", "1000"], stdio))
        .unwrap();
    let b_exec = pod.kernel.start(p).unwrap();
    // Taken before the removal, as a waiter blocked in it holds it.
    let exit = pod.kernel.container_exit("b").expect("b exists");
    let waiter = std::thread::spawn(move || exit.wait());

    pod.kernel.remove_container("b").unwrap();
    assert!(pod.pids("b").is_empty());
    assert_eq!(pod.kernel.wait_process(b_exec), Some(KILLED));
    assert_eq!(waiter.join().unwrap(), KILLED);
    assert_eq!(pod.kernel.wait_container("b"), None);
    assert!(pod
        .kernel
        .prepare("b", process(&["true"], captured().0))
        .is_err());
    assert!(pod.b_gofer_ends(), "b's gofer is still connected");
    assert_eq!(pod.exec(SANDBOX_CONTAINER, "echo alive").1, "alive\n");
    assert!(matches!(
        pod.kernel.remove_container(SANDBOX_CONTAINER),
        Err(BootError::RemoveSandbox)
    ));
}

/// Adding a container checks what boot checks, with boot's words, and
/// refuses an id in use; the sandbox goes on either way.
#[test]
fn adding_a_container_fails_as_boot_does() {
    let Some((pod, b)) = Pod::new(&["sleep", "1000"]) else {
        return;
    };
    let (stdio, _) = captured();
    let again = container(serve(pod.b_root.path()), process(&["true"], stdio));
    assert!(matches!(
        pod.kernel.add_container("b", again),
        Err(BootError::ContainerExists(_))
    ));
    let (stdio, _) = captured();
    let missing = container(serve(pod.b_root.path()), process(&["nope"], stdio));
    let err = match pod.kernel.add_container("c", missing) {
        Err(e) => e,
        Ok(_) => panic!("a missing program was accepted"),
    };
    assert_eq!(
        err.to_string(),
        "unable to start container process: exec: \"nope\": executable file not found in $PATH"
    );
    assert!(matches!(
        pod.kernel.prepare("c", process(&["true"], captured().0)),
        Err(BootError::NoContainer(_))
    ));
    drop(b);
    assert_eq!(pod.exec(SANDBOX_CONTAINER, "echo alive").1, "alive\n");
}
