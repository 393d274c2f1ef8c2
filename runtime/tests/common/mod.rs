//! Helpers shared by the tests that drive the `vigil` binary: bundles of
//! static busybox, runc as the reference, leftover checks, and running
//! sandboxes.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");
pub const BUSYBOX: &str = "/bin/busybox";
/// How long any one `vigil run` here may take: a hung sandbox fails its
/// test instead of hanging the suite.
pub const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Setup.

/// Installs a Debian package if `file` is missing; idempotent and shared by
/// all tests of this binary.
pub fn ensure(file: &str, package: &str) -> bool {
    if Path::new(file).exists() {
        return true;
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-qq", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || (Command::new("apt-get")
            .args(["update", "-qq"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("apt-get")
                .args(["install", "-y", "-qq", package])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()));
    installed && Path::new(file).exists()
}

pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        assert!(
            ensure(BUSYBOX, "busybox-static"),
            "static busybox is needed: apt-get install busybox-static"
        );
        ensure("/usr/sbin/runc", "runc");
    });
}

pub fn runc() -> Option<&'static str> {
    ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

// ---------------------------------------------------------------------------
// Bundles.

/// A bundle in a temp dir: a tiny rootfs of static busybox and a few
/// applet links, and a state root for vigil.
pub struct Bundle {
    pub dir: tempfile::TempDir,
}

impl Bundle {
    pub fn new(args: &[&str]) -> Bundle {
        setup();
        let dir = tempfile::Builder::new()
            .prefix("vigil-run-test")
            .tempdir()
            .unwrap();
        let bin = dir.path().join("rootfs/bin");
        fs::create_dir_all(&bin).unwrap();
        // Mount points: runc makes missing ones in the rootfs itself, the
        // sentry cannot in a read-only root.
        for point in ["proc", "tmp", "data", "dev"] {
            fs::create_dir(dir.path().join("rootfs").join(point)).unwrap();
        }
        fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
        for applet in ["sh", "echo", "cat", "sleep", "true"] {
            symlink("busybox", bin.join(applet)).unwrap();
        }
        let b = Bundle { dir };
        b.config(&spec(args, ""));
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self, json: &str) {
        fs::write(self.path().join("config.json"), json).unwrap();
    }

    /// vigil's `--root` for this test, so tests never share state.
    pub fn state_root(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn vigil(&self, id: &str, extra_global: &[&str]) -> Command {
        let mut cmd = Command::new(VIGIL);
        cmd.arg("--root")
            .arg(self.state_root())
            .args(extra_global)
            .args(["run", "--bundle"])
            .arg(self.path())
            .arg(id)
            .stdin(Stdio::null());
        cmd
    }

    /// `runc run --bundle B ID` with a state root of its own, as the
    /// reference for `vigil run`; `None` if runc is not installed.
    pub fn runc(&self, id: &str) -> Option<Command> {
        let mut cmd = Command::new(runc()?);
        cmd.arg("--root")
            .arg(self.path().join("runc-state"))
            .args(["run", "--bundle"])
            .arg(self.path())
            .arg(id)
            .stdin(Stdio::null());
        Some(cmd)
    }

    /// Runs `vigil run` to its end and checks nothing of the sandbox is
    /// left.
    pub fn run(&self, id: &str) -> Output {
        let out = output_within(self.vigil(id, &[]), LIMIT);
        assert_no_leftovers(self.path());
        out
    }
}

/// A config.json that runc accepts too: `args` run as root in `/`, with
/// `extra` spliced into the mounts.
pub fn spec(args: &[&str], extra_mounts: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": false,
    "user": {{"uid": 0, "gid": 0}},
    "args": [{}],
    "env": ["PATH=/bin"],
    "cwd": "/"
  }},
  "root": {{"path": "rootfs", "readonly": true}},
  "hostname": "vigil-test",
  "mounts": [
    {{"destination": "/proc", "type": "proc", "source": "proc"}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}}{extra_mounts}
  ],
  "linux": {{
    "namespaces": [{{"type": "pid"}}, {{"type": "mount"}}, {{"type": "ipc"}},
                   {{"type": "uts"}}, {{"type": "network"}}]
  }}
}}"#,
        args.join(", ")
    )
}

/// Makes `fds` the FDs 3, 4, ... of the process `cmd` starts; returns
/// their numbers there, as `--io-fds` lists them.
pub fn pass_fds(cmd: &mut Command, fds: &[OwnedFd]) -> String {
    use std::os::unix::process::CommandExt;
    let list: Vec<String> = (0..fds.len()).map(|i| (3 + i).to_string()).collect();
    let mut raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: the closure makes only async-signal-safe calls (fcntl,
    // dup2) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // Move every FD above the target range first, so no dup2
            // overwrites a source that is still needed.
            for (i, fd) in raw.iter_mut().enumerate() {
                let high = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100 + i as i32);
                if high < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                *fd = high;
            }
            for (i, fd) in raw.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    list.join(",")
}

// ---------------------------------------------------------------------------
// Leftovers.

/// Processes whose command line names `bundle` (the gofer and the sentry
/// are started with `--bundle <dir>`).
pub fn processes_of(bundle: &Path) -> Vec<(i32, String)> {
    let needle = bundle.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, shown));
        }
    }
    found
}

/// Removes the cgroup a container without `linux.cgroupsPath` gets (its id
/// under this process's own cgroup, in every hierarchy), which a killed
/// `vigil run` leaves behind, as a killed `runc run` does.
pub fn remove_default_cgroup(id: &str) {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let unified = own.lines().count() == 1;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let controller = controllers.split(',').next().unwrap_or("");
        let name = controller.strip_prefix("name=").unwrap_or(controller);
        let mount = match (unified, name) {
            (true, _) => PathBuf::from("/sys/fs/cgroup"),
            (false, "") => PathBuf::from("/sys/fs/cgroup/unified"),
            (false, name) => Path::new("/sys/fs/cgroup").join(name),
        };
        let mut own_dir = PathBuf::from(path.trim_start_matches('/'));
        if unified {
            own_dir.pop();
        }
        let _ = fs::remove_dir(mount.join(own_dir).join(id));
    }
}

/// Polls `done` until it holds; fails, naming `what`, after [`LIMIT`].
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fails if any process of the sandbox still runs, after a short grace
/// for the host to finish tearing down killed processes.
pub fn assert_no_leftovers(bundle: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = processes_of(bundle);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left running: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `cmd`'s output; kills it (and so its sandbox, which dies with it) and
/// fails if it runs longer than `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if done.load(Ordering::Acquire) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: kill(2) of our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::Release);
    assert!(
        !watchdog.join().unwrap(),
        "vigil did not finish within {limit:?}; stderr: {}",
        stderr(&out)
    );
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks a failed `vigil run`: exit 1, one `vigil: ` line naming `want`.
pub fn assert_fails(out: &Output, want: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("vigil: "), "{err}");
    assert!(err.contains(want), "want {want:?} in {err:?}");
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------------
// Running sandboxes.

/// A sandbox that runs until its stdin closes (`cat`), started with a
/// pid file; killed with `vigil run` when dropped.
pub struct Running {
    pub bundle: Bundle,
    pub vigil: Child,
    /// Unique on the host: the container's default cgroup is named after
    /// it, so parallel tests must not share one.
    pub id: String,
}

impl Running {
    pub fn start(debug_log: bool) -> Running {
        Running::start_with(debug_log, &[])
    }

    pub fn start_with(debug_log: bool, global: &[&str]) -> Running {
        let bundle = Bundle::new(&["/bin/cat"]);
        let logs = bundle.path().join("logs");
        let mut flags: Vec<String> = global.iter().map(|s| s.to_string()).collect();
        if debug_log {
            flags.extend(["--debug-log".into(), logs.display().to_string()]);
        }
        let flags: Vec<&str> = flags.iter().map(|s| s.as_str()).collect();
        Running::start_in(bundle, &flags)
    }

    /// Runs `bundle`'s own config as container `running-<test pid>`.
    pub fn start_in(bundle: Bundle, flags: &[&str]) -> Running {
        let id = format!("running-{}", std::process::id());
        let pid_file = bundle.path().join("pid");
        let mut cmd = bundle.vigil(&id, flags);
        cmd.arg("--pid-file").arg(&pid_file);
        let vigil = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let r = Running { bundle, vigil, id };
        wait_for("the pid file", || pid_file.exists());
        r
    }

    pub fn sentry_pid(&self) -> i32 {
        fs::read_to_string(self.bundle.path().join("pid"))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Ends the container by closing its stdin; returns vigil's output.
    pub fn finish(&mut self) -> Output {
        drop(self.vigil.stdin.take());
        wait_for("vigil run to exit", || {
            self.vigil.try_wait().unwrap().is_some()
        });
        let mut out = Output {
            status: self.vigil.wait().unwrap(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        use std::io::Read;
        // A test that reads the container's output as it comes has taken
        // stdout already.
        if let Some(mut stdout) = self.vigil.stdout.take() {
            stdout.read_to_end(&mut out.stdout).unwrap();
        }
        self.vigil
            .stderr
            .take()
            .unwrap()
            .read_to_end(&mut out.stderr)
            .unwrap();
        assert_no_leftovers(self.bundle.path());
        out
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.vigil.kill();
        let _ = self.vigil.wait();
    }
}
