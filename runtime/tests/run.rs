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
use std::path::Path;
use std::process::{Command, Stdio};
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

    let Some(runc) = runc() else {
        eprintln!("runc is not installed: the comparison is skipped");
        return;
    };
    let mut cmd = Command::new(runc);
    cmd.arg("--root")
        .arg(b.path().join("runc-state"))
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg("hello")
        .stdin(Stdio::null());
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
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the container never saw its input"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "got hello\ndone\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}
