//! End-to-end tests of the kernel: real static programs (busybox) run in a
//! sandbox whose root is served by the gofer's backend over lisafs, with
//! their output compared to what Linux prints.

use gofer::backend::{HostBackend, ProcSelfFd};
use lisafs::{ServeOptions, Socket};
use rustix::fs::{Mode, OFlags};
use sentry::boot::{BootConfig, MountConfig, MountSource, ProcessSpec, SandboxExit, UserConfig};
use sentry::kernel::Kernel;
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
    let root_fd: OwnedFd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let proc = ProcSelfFd::open().unwrap();
    let (client, server) = Socket::pair().unwrap();
    std::thread::spawn(move || {
        let backend = HostBackend::new(root_fd, proc);
        lisafs::serve(&backend, server, ServeOptions::default())
    });
    client
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
        root: MountSource::Gofer {
            socket: serve(root),
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
        hostname: b"sandbox".to_vec(),
        init: ProcessSpec {
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            envp: vec![b"PATH=/bin".to_vec(), b"HOME=/".to_vec()],
            cwd: b"/".to_vec(),
            user: UserConfig::default(),
            capabilities: u64::MAX,
            rlimits: Vec::new(),
            stdio: [in_r, out_w, err],
            terminal: false,
        },
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
