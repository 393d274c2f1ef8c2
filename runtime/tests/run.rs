//! Tests of `vigil run` as the real binary: its error paths, a container run
//! side by side with runc on the same bundle, the sandbox's isolation seen
//! from the host, and cleanup (no process of a sandbox outlives `vigil run`).
//!
//! These tests need root. The setup installs static busybox (the
//! container's program) and runc (the reference) when they are missing.

mod common;

use common::*;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Error paths.

#[test]
fn a_missing_entrypoint_fails_like_runc_with_127() {
    let b = Bundle::new(&["nosuchprog", "x"]);
    let out = b.run("noprog");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(127), "stderr: {err}");
    assert!(
        err.contains(r#"unable to start container process: exec: "nosuchprog": executable file not found in $PATH"#),
        "{err}"
    );
    assert_no_leftovers(b.path());
}

#[test]
fn an_entrypoint_that_cannot_run_fails_with_126() {
    let b = Bundle::new(&["/bin"]);
    let out = b.run("noexec");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(126), "stderr: {err}");
    assert!(err.contains(r#"exec: "/bin": permission denied"#), "{err}");
    assert_no_leftovers(b.path());
}

#[test]
fn a_missing_bundle_is_a_clear_error() {
    let b = Bundle::new(&["true"]);
    let missing = b.path().join("nowhere");
    let mut cmd = Command::new(VIGIL);
    cmd.arg("--root")
        .arg(b.state_root())
        .args(["run", "-b"])
        .arg(&missing)
        .arg("c1");
    let out = output_within(cmd, LIMIT);
    assert_fails(&out, &missing.display().to_string());
    assert!(!b.state_root().join("c1").exists());
    assert_no_leftovers(b.path());
}

#[test]
fn an_invalid_config_is_a_clear_error() {
    let b = Bundle::new(&["true"]);
    b.config("{not json");
    let out = b.run("c1");
    assert_fails(&out, "config.json: invalid JSON");
}

#[test]
fn a_config_without_process_is_a_clear_error() {
    let b = Bundle::new(&["true"]);
    b.config(r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#);
    assert_fails(&b.run("c1"), "process is not set");
}

#[test]
fn a_missing_root_path_is_a_clear_error() {
    let b = Bundle::new(&["true"]);
    b.config(&spec(&["true"], "").replace(r#""path": "rootfs""#, r#""path": "gone""#));
    let out = b.run("c1");
    assert_fails(
        &out,
        &format!(
            "rootfs {}: no such directory",
            b.path().join("gone").display()
        ),
    );
    assert!(!b.state_root().join("c1").exists());
}

#[test]
fn a_missing_bind_source_is_a_clear_error() {
    let b = Bundle::new(&["true"]);
    let extra = r#",
    {"destination": "/data", "type": "bind", "source": "/nonexistent-vigil-source", "options": ["rbind"]}"#;
    b.config(&spec(&["true"], extra));
    assert_fails(&b.run("c1"), "/nonexistent-vigil-source");
}

#[test]
fn a_container_id_in_use_is_refused() {
    let b = Bundle::new(&["true"]);
    fs::create_dir_all(b.state_root().join("c1")).unwrap();
    assert_fails(&b.run("c1"), "container with id \"c1\" already exists");
}

#[test]
fn an_invalid_container_id_is_refused() {
    let b = Bundle::new(&["true"]);
    assert_fails(&b.run("../x"), "invalid container id");
}

// ---------------------------------------------------------------------------
// Running containers.

/// `hello` and exit status 3, like runc on the same bundle.
#[test]
fn prints_and_exits_like_runc() {
    let b = Bundle::new(&["/bin/sh", "-c", "echo hello; exit 3"]);
    let out = b.run("hello");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(
        !b.state_root().join("hello").exists(),
        "state directory left"
    );

    let Some(cmd) = b.runc("hello") else {
        eprintln!("runc is not installed: the comparison is skipped");
        return;
    };
    let reference = output_within(cmd, LIMIT);
    assert_eq!(
        out.stdout,
        reference.stdout,
        "runc stderr: {}",
        stderr(&reference)
    );
    assert_eq!(out.status.code(), reference.status.code());
}

/// The container's stdin is vigil's: `vigil run` works in a pipeline, and
/// a bind mount is served by the gofer.
#[test]
fn stdin_and_bind_mounts_reach_the_container() {
    let b = Bundle::new(&["/bin/sh", "-c", "cat /data/file; cat"]);
    let data = b.path().join("host-data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("file"), "from the host\n").unwrap();
    let extra = format!(
        r#",
    {{"destination": "/data", "type": "bind", "source": {:?}, "options": ["rbind", "ro"]}}"#,
        data.display().to_string()
    );
    b.config(&spec(&["/bin/sh", "-c", "cat /data/file; cat"], &extra));
    // A pipe, filled and closed before vigil starts: `cat` reads the line,
    // then EOF.
    let (r, w) = rustix::pipe::pipe().unwrap();
    std::fs::File::from(w)
        .write_all(b"through stdin\n")
        .unwrap();
    let mut cmd = b.vigil("pipe", &[]);
    cmd.stdin(Stdio::from(r));
    let out = output_within(cmd, LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from the host\nthrough stdin\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    assert_no_leftovers(b.path());
}

fn status_field(pid: i32, key: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{key} not in /proc/{pid}/status"))
}

#[test]
fn the_sentry_is_isolated_from_the_host() {
    let mut r = Running::start(false);
    let pid = r.sentry_pid();
    // The pid file names the sentry: `vigil boot`, a child of `vigil run`.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with(VIGIL.as_bytes()), "{cmdline:?}");
    assert!(String::from_utf8_lossy(&cmdline).contains("\0boot\0"));
    assert_eq!(status_field(pid, "PPid:"), r.vigil.id().to_string());

    for ns in ["user", "mnt", "pid", "net", "ipc", "uts"] {
        let host = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let sentry = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_ne!(host, sentry, "the sentry shares the host's {ns} namespace");
    }
    // Root of its user namespace, which maps every id to itself.
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    // Pid 1 of its own pid namespace.
    assert_eq!(
        status_field(pid, "NSpid:").split_whitespace().nth(1),
        Some("1")
    );

    // Its root is a read-only tmpfs holding only /proc, where the
    // container's processes are shown (for host tools such as podman top
    // that enter the sentry's mount namespace) and nothing else.
    let root: Vec<String> = fs::read_dir(format!("/proc/{pid}/root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(root, ["proc"], "the sentry's root holds more than /proc");
    let shown: Vec<String> = fs::read_dir(format!("/proc/{pid}/root/proc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<u32>().is_ok())
        .collect();
    assert_eq!(
        shown,
        ["1"],
        "the sentry's /proc shows more than the container"
    );
    let host_root = fs::metadata("/").unwrap();
    let sentry_root = fs::metadata(format!("/proc/{pid}/root/")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        (host_root.dev(), host_root.ino()),
        (sentry_root.dev(), sentry_root.ino())
    );
    let mounts = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let lines: Vec<&str> = mounts.lines().collect();
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        (fields[4], fields[5].split(',').next()),
        ("/", Some("ro")),
        "{mounts}"
    );
    assert!(lines[0].contains(" - tmpfs "), "{mounts}");
    // The rest: the sentry's procfs and the container's over it, both
    // without setuid, devices or exec.
    assert_eq!(lines.len(), 3, "{mounts}");
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[4], "/proc", "{mounts}");
        assert!(line.contains(" - proc "), "{mounts}");
        for flag in ["nosuid", "nodev", "noexec"] {
            assert!(fields[5].split(',').any(|f| f == flag), "{mounts}");
        }
    }

    // The main thread holds only ptrace and the directfs file
    // capabilities; the kernel's threads also CAP_SYS_ADMIN (the platform
    // clones stubs into pid namespaces of their own); no thread more.
    // CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID: bits 0-4;
    // SYS_PTRACE: 19; SYS_ADMIN: 21.
    let kept = 0x8001f_u64;
    let kernel = kept | 1 << 21;
    for task in fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = fs::read_to_string(task.path().join("status")).unwrap();
        let field = |key: &str| {
            let hex = status.lines().find_map(|l| l.strip_prefix(key)).unwrap();
            u64::from_str_radix(hex.trim(), 16).unwrap()
        };
        let main = task.file_name().to_string_lossy() == pid.to_string();
        let allowed = if main { kept } else { kernel };
        for set in ["CapEff:", "CapPrm:", "CapBnd:", "CapInh:"] {
            let have = field(set);
            assert_eq!(have & !allowed, 0, "{set} {have:x} of {:?}", task.path());
        }
        if main {
            assert_eq!(field("CapEff:"), kept);
        }
        assert_eq!(field("NoNewPrivs:"), 1, "{:?}", task.path());
        // Every thread runs under the sentry's seccomp filter.
        assert_eq!(field("Seccomp:"), 2, "{:?}", task.path());
    }
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    assert_eq!(status_field(pid, "Seccomp:"), "2");

    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

#[test]
fn host_network_keeps_the_host_network_namespace() {
    let mut r = Running::start_with(false, &["--network", "host"]);
    let pid = r.sentry_pid();
    let ns = |p: &str, ns: &str| fs::read_link(format!("/proc/{p}/ns/{ns}")).unwrap();
    assert_eq!(ns("self", "net"), ns(&pid.to_string(), "net"));
    assert_ne!(ns("self", "user"), ns(&pid.to_string(), "user"));
    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

#[test]
fn debug_logs_are_written_per_sandbox_process() {
    let mut r = Running::start(true);
    let logs = r.bundle.path().join("logs");
    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let sentry = fs::read_to_string(logs.join(format!("{}.sentry.log", r.id))).unwrap();
    let gofer = fs::read_to_string(logs.join(format!("{}.gofer.log", r.id))).unwrap();
    assert!(sentry.contains("sentry starting"), "{sentry}");
    assert!(gofer.contains("gofer jailed"), "{gofer}");
}

#[test]
fn killing_vigil_run_takes_the_sandbox_with_it() {
    let mut r = Running::start(false);
    let sentry = r.sentry_pid();
    assert!(!processes_of(r.bundle.path()).is_empty());
    r.vigil.kill().unwrap();
    r.vigil.wait().unwrap();
    assert_no_leftovers(r.bundle.path());
    remove_default_cgroup(&r.id);
    // Gone, not even a zombie (whoever inherited it has reaped it).
    let deadline = Instant::now() + Duration::from_secs(2);
    while Path::new(&format!("/proc/{sentry}")).exists() {
        assert!(Instant::now() < deadline, "sentry {sentry} still exists");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn forwarded_signals_do_not_end_vigil_run() {
    // SIGTERM and SIGINT go to the sandbox, whose init (`cat`, no
    // handler) ignores them as a container init does under runc; vigil
    // itself must not die of them.
    let mut r = Running::start(false);
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(r.vigil.id() as i32, sig) }, 0);
    }
    std::thread::sleep(Duration::from_millis(200));
    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

/// A bind mount of a single file (as podman and Docker mount /etc/hosts):
/// the container reads and writes the host's file.
#[test]
fn a_file_can_be_bind_mounted() {
    let b = Bundle::new(&["true"]);
    fs::remove_dir(b.path().join("rootfs/data")).unwrap();
    fs::write(b.path().join("rootfs/data"), "").unwrap();
    let host = b.path().join("hosts");
    fs::write(&host, "127.0.0.1 localhost\n").unwrap();
    let extra = format!(
        r#",
    {{"destination": "/data", "type": "bind", "source": "{}", "options": ["rbind"]}}"#,
        host.display()
    );
    b.config(&spec(
        &["sh", "-c", "cat /data; echo added >> /data"],
        &extra,
    ));
    let out = b.run("file");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "127.0.0.1 localhost\n"
    );
    assert_eq!(
        fs::read_to_string(&host).unwrap(),
        "127.0.0.1 localhost\nadded\n"
    );
}

/// Input that arrives after the container started waiting for it wakes a
/// `poll` on stdin (busybox's `read` polls before it reads).
#[test]
fn late_stdin_wakes_a_poller() {
    let b = Bundle::new(&["sh", "-c", "read x; echo got $x; sleep 0; echo done"]);
    let mut cmd = b.vigil("late", &[]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    wait_for("the container to see its input and end", || {
        child.try_wait().unwrap().is_some()
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "got hello\ndone\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

// ---------------------------------------------------------------------------
// Terminals (`process.terminal` with `--console-socket`).

/// The mounts a container with a terminal needs (runc's defaults).
const TERMINAL_MOUNTS: &str = r#",
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}"#;

/// An interactive `sh` on a terminal, with the applets the tests type.
fn terminal_bundle() -> Bundle {
    let b = Bundle::new(&["/bin/sh"]);
    let root = b.path().join("rootfs");
    for applet in ["tty", "stty"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let json =
        spec(&["/bin/sh"], TERMINAL_MOUNTS).replace(r#""terminal": false"#, r#""terminal": true"#);
    b.config(&json);
    b
}

/// The receiving end of `--console-socket`: what runc's callers
/// (containerd's `recvtty`) do.
struct ConsoleSocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleSocket {
    fn new() -> ConsoleSocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        ConsoleSocket {
            _dir: dir,
            path,
            listener,
        }
    }

    /// `vigil run` of `b` as container `id`, its terminal sent here.
    fn vigil_run(&self, b: &Bundle, id: &str) -> Command {
        let mut cmd = Command::new(VIGIL);
        cmd.arg("--root")
            .arg(b.state_root())
            .args(["run", "--console-socket"])
            .arg(&self.path)
            .arg("--bundle")
            .arg(b.path())
            .arg(id);
        cmd
    }

    /// The master `runtime` sends, and the name it sends with it; fails
    /// if `runtime` exits or takes too long before.
    fn receive(&self, runtime: &mut Child) -> (std::os::fd::OwnedFd, String) {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        self.listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + LIMIT;
        let conn = loop {
            match self.listener.accept() {
                Ok((conn, _)) => break conn,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
            if let Some(status) = runtime.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(runtime.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("the runtime exited ({status}) without sending a terminal: {err}");
            }
            assert!(Instant::now() < deadline, "no terminal came");
            std::thread::sleep(Duration::from_millis(10));
        };
        conn.set_nonblocking(false).unwrap();
        let mut name = [0u8; 4096];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut ancillary = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &conn,
            &mut [std::io::IoSliceMut::new(&mut name)],
            &mut ancillary,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let mut fds: Vec<_> = ancillary
            .drain()
            .filter_map(|m| match m {
                RecvAncillaryMessage::ScmRights(r) => Some(r.collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(fds.len(), 1, "one FD per message");
        let name = String::from_utf8_lossy(&name[..got.bytes]).into_owned();
        (fds.pop().unwrap(), name)
    }
}

/// A child process killed if the test fails while it runs.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A conversation with a shell on a terminal master: what was read so
/// far, gathered by a thread until the terminal hangs up.
struct Conversation {
    master: Option<std::fs::File>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// How much had been read when the first keys were typed.
    typed_at: Option<usize>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Conversation {
    fn new(master: std::os::fd::OwnedFd) -> Conversation {
        let master = std::fs::File::from(master);
        let mut c = Conversation::over(master.try_clone().unwrap());
        c.master = Some(master);
        c
    }

    /// A conversation that only reads `from`.
    fn over(mut from: impl std::io::Read + Send + 'static) -> Conversation {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every replica is closed: the sandbox is gone.
            while let Ok(n @ 1..) = from.read(&mut buf) {
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Conversation {
            master: None,
            seen,
            typed_at: None,
            reader: Some(reader),
        }
    }

    /// The transcript so far, without the shell's redraws of its prompt
    /// before anything was typed. runc sizes a terminal only once the
    /// container has started, so a shell that printed its prompt before
    /// that gets a `SIGWINCH` and redraws it; vigil sizes it first. Neither
    /// is a difference in what the session shows.
    fn text(&self) -> String {
        let seen = self.seen.lock().unwrap();
        let typed = self.typed_at.unwrap_or(seen.len()).min(seen.len());
        let before = String::from_utf8_lossy(&seen[..typed]).replace("\r/ # \x1b[J", "");
        before + &String::from_utf8_lossy(&seen[typed..])
    }

    /// Waits until the transcript ends with `tail`, not counting the
    /// cursor position queries (`ESC [6n`) busybox's line editing sends
    /// after a prompt (nobody answers them here, as a pipe would not).
    fn wait_for_end(&self, tail: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.text().replace("\x1b[6n", "").ends_with(tail) {
            assert!(
                Instant::now() < deadline,
                "no {tail:?} at the end of {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn master(&self) -> &std::fs::File {
        self.master.as_ref().expect("a conversation on a master")
    }

    fn type_in(&mut self, keys: &str) {
        if self.typed_at.is_none() {
            self.typed_at = Some(self.seen.lock().unwrap().len());
        }
        self.master().write_all(keys.as_bytes()).unwrap();
    }

    fn set_size(&self, rows: u16, cols: u16) {
        set_size(self.master(), rows, cols);
    }

    /// The whole transcript, once the terminal has hung up.
    fn finish(mut self) -> String {
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.text()
    }
}

/// Sets a terminal's window size (`TIOCSWINSZ`).
fn set_size(tty: &impl std::os::fd::AsFd, rows: u16, cols: u16) {
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(tty, ws).unwrap();
}

/// Types a session into a shell on the terminal whose master is `master`
/// (of size 33x111 from the start): `tty`, `stty size` after a resize,
/// echo, `^C` interrupting a `sleep`, and `exit 3`. Returns the transcript
/// once the terminal hangs up.
fn converse(master: std::os::fd::OwnedFd) -> String {
    let mut c = Conversation::new(master);
    let prompt = "/ # ";
    c.wait_for_end(prompt);
    // A late first size (runc's, see `Conversation::text`) comes right
    // after the container starts: typing before its redraw would mix the
    // two.
    std::thread::sleep(Duration::from_millis(300));
    c.wait_for_end(prompt);
    c.type_in("tty; stty size; echo hi\n");
    c.wait_for_end(&format!("hi\r\n{prompt}"));
    c.set_size(40, 100);
    // The shell's line editor redraws the prompt on SIGWINCH; typing
    // before it has would race with the resize.
    c.wait_for_end(&format!("\r{prompt}\x1b[J"));
    c.type_in("stty size\n");
    c.wait_for_end(&format!("40 100\r\n{prompt}"));
    c.type_in("sleep 100\n");
    // Enough for the sleep to have started.
    std::thread::sleep(Duration::from_millis(500));
    c.type_in("\x03");
    c.wait_for_end(prompt);
    c.type_in("exit 3\n");
    c.finish()
}

/// [`converse`] with the terminal `runtime` sends to `socket`; returns
/// the transcript and the runtime, still to be waited for.
fn terminal_session(mut runtime: Command, socket: &ConsoleSocket) -> (String, Guard) {
    let mut child = Guard(
        runtime
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (master, name) = socket.receive(&mut child.0);
    assert_eq!(name, "/dev/ptmx");
    // Before the sandbox starts (vigil) or while the shell starts (runc):
    // the shell's first prompt comes with this size.
    set_size(&master, 33, 111);
    (converse(master), child)
}

/// [`converse`] with `runtime` itself on a terminal (its stdio and
/// controlling terminal, as in an interactive shell): it relays the
/// container's terminal to its own.
fn relayed_session(mut runtime: Command) -> (String, Guard) {
    use rustix::pty::OpenptFlags;
    use std::os::unix::process::CommandExt;
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    set_size(&master, 33, 111);
    let replica = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
        .unwrap();
    runtime
        .stdin(replica.try_clone().unwrap())
        .stdout(replica.try_clone().unwrap())
        .stderr(replica);
    // SAFETY: setsid and ioctl are async-signal-safe system calls.
    unsafe {
        runtime.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = Guard(runtime.spawn().unwrap());
    // The runtime holds the replica now: the master hangs up when it exits.
    drop(runtime);
    (converse(master), child)
}

/// `process.terminal` with `--console-socket`: the master comes over the
/// socket as runc sends it, and a shell on it behaves as under runc
/// (`runc run -d`, since runc takes a console socket only when detached).
#[test]
fn a_terminal_comes_through_the_console_socket_like_runcs() {
    let b = terminal_bundle();
    let socket = ConsoleSocket::new();
    let (transcript, vigil) = terminal_session(socket.vigil_run(&b, "tty"), &socket);
    let out = output_within_of(vigil);
    assert_no_leftovers(b.path());
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}; transcript: {transcript:?}",
        stderr(&out)
    );
    for want in [
        "tty; stty size; echo hi\r\n/dev/pts/0\r\n33 111\r\nhi\r\n",
        "stty size\r\n40 100\r\n",
        "sleep 100\r\n^C\r\n",
        "exit 3\r\n",
    ] {
        assert!(transcript.contains(want), "want {want:?} in {transcript:?}");
    }

    let Some(runc) = runc() else {
        eprintln!("runc is not installed: the comparison is skipped");
        return;
    };
    let socket = ConsoleSocket::new();
    let state = b.path().join("runc-state");
    let mut cmd = Command::new(runc);
    cmd.arg("--root")
        .arg(&state)
        .args(["run", "-d", "--console-socket"])
        .arg(&socket.path)
        .arg("--bundle")
        .arg(b.path())
        .arg("tty");
    let (reference, runc_run) = terminal_session(cmd, &socket);
    drop(runc_run);
    let _ = Command::new(runc)
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", "tty"])
        .status();
    assert_eq!(transcript, reference);
}

/// Waits (within [`LIMIT`]) for a runtime started with piped output.
fn output_within_of(mut child: Guard) -> Output {
    wait_for("the runtime to exit", || {
        child.0.try_wait().unwrap().is_some()
    });
    let Guard(ref mut c) = child;
    let mut out = Output {
        status: c.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    // Streams the test reads itself were taken before.
    if let Some(mut o) = c.stdout.take() {
        o.read_to_end(&mut out.stdout).unwrap();
    }
    if let Some(mut e) = c.stderr.take() {
        e.read_to_end(&mut out.stderr).unwrap();
    }
    out
}

/// Closing the master the console socket received hangs the container's
/// terminal up, as closing a pty master does: the shell reads end of file
/// and exits.
#[test]
fn closing_the_console_hangs_the_container_up() {
    let b = terminal_bundle();
    let socket = ConsoleSocket::new();
    let mut cmd = socket.vigil_run(&b, "hangup");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut vigil = Guard(cmd.spawn().unwrap());
    let (master, _) = socket.receive(&mut vigil.0);
    // Read here, not by a Conversation, whose reader keeps a copy open.
    let mut master = std::fs::File::from(master);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("/ # ") {
        let mut buf = [0u8; 1024];
        let n = std::io::Read::read(&mut master, &mut buf).unwrap();
        assert!(n > 0, "hung up before the prompt");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(master);
    let out = output_within_of(vigil);
    assert_no_leftovers(b.path());
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
}

/// Without `--console-socket`, vigil relays the container's terminal to
/// its own, as `runc run` does in the foreground.
#[test]
fn without_a_console_socket_the_terminal_is_relayed_like_runcs() {
    let b = terminal_bundle();
    let mut cmd = Command::new(VIGIL);
    cmd.arg("--root")
        .arg(b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg("relayed");
    let (transcript, vigil) = relayed_session(cmd);
    let out = output_within_of(vigil);
    assert_no_leftovers(b.path());
    assert_eq!(out.status.code(), Some(3), "transcript: {transcript:?}");
    assert!(
        transcript.contains("tty; stty size; echo hi\r\n/dev/pts/0\r\n33 111\r\nhi\r\n"),
        "{transcript:?}"
    );
    assert!(
        transcript.contains("stty size\r\n40 100\r\n"),
        "{transcript:?}"
    );

    let Some(cmd) = b.runc("relayed") else {
        eprintln!("runc is not installed: the comparison is skipped");
        return;
    };
    let (reference, runc_run) = relayed_session(cmd);
    let runc_out = output_within_of(runc_run);
    assert_eq!(transcript, reference);
    assert_eq!(out.status.code(), runc_out.status.code());
}

#[test]
fn a_console_socket_needs_a_terminal() {
    let b = Bundle::new(&["true"]);
    let cmd = b.vigil("notty", &[]);
    // The flag goes before the id.
    let mut args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let id = args.pop().unwrap();
    args.extend(["--console-socket".into(), b.path().join("sock").into(), id]);
    let mut cmd = Command::new(VIGIL);
    cmd.args(args).stdin(Stdio::null());
    let out = output_within(cmd, LIMIT);
    assert_fails(
        &out,
        "cannot use console socket if vigil will not allocate tty",
    );
}

/// An exec'd process's terminal, whose master went to `--console-socket`,
/// follows the size the master's holder gives it, as under runc (`podman
/// exec -t` resizes it so): the shell sees SIGWINCH and the new size.
#[test]
fn an_exec_terminal_follows_its_masters_size() {
    let b = Bundle::new(&["/bin/cat"]);
    b.config(&spec(&["/bin/cat"], TERMINAL_MOUNTS));
    symlink("busybox", b.path().join("rootfs/bin/stty")).unwrap();
    let r = Running::start_in(b, &[]);
    let socket = ConsoleSocket::new();
    let mut cmd = Command::new(VIGIL);
    cmd.arg("--root")
        .arg(r.bundle.state_root())
        .args(["exec", "--tty", "--console-socket"])
        .arg(&socket.path)
        .args([r.id.as_str(), "sh"]);
    let mut exec = Guard(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (master, _) = socket.receive(&mut exec.0);
    let mut c = Conversation::new(master);
    c.wait_for_end("/ # ");
    c.type_in("echo one\n");
    c.wait_for_end("one\r\n/ # ");
    c.set_size(40, 100);
    c.wait_for_end("\r/ # \x1b[J");
    c.type_in("stty size\n");
    c.wait_for_end("40 100\r\n/ # ");
    c.type_in("exit 3\n");
    let out = output_within_of(exec);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
}
