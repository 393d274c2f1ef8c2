//! The real clients that drive an OCI runtime: containerd with `ctr`
//! (through its runc shim), podman and Docker, each run privately under a
//! temporary directory of its own, with the test image loaded, and torn down
//! completely when its guard drops: containers removed through the client,
//! the daemon stopped, then any process still naming the directory (shims,
//! conmon, sandbox processes of a runtime that misbehaved) killed, every
//! mount under it detached and the directory removed. Nothing global is
//! configured; what the clients still put outside their directory
//! (containerd's shim sockets in `/run/containerd/s`, a runtime's default
//! state directory under podman) is removed by the clients themselves.
//! containerd can also serve the CRI, with [`Cri`] as its client.
//!
//! Quirks handled here: podman's default rlimits exceed what root without
//! CAP_SYS_RESOURCE may set (see `podman.rs`); dockerd is kept away from
//! the host's iptables and bridges (see `docker.rs`); the runc shim names
//! cgroups after container ids alone, so ids must be unique on the machine
//! even across private containerds.

mod containerd;
mod cri;
mod docker;
mod podman;

pub use containerd::{Containerd, CRI_NAMESPACE};
pub use cri::{bytes_field, container_config, pod_config, Cri, CriError};
pub use docker::Docker;
pub use podman::Podman;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{self, Captured};
use crate::setup;

/// How long one client command may take before it is killed: long enough
/// for a loaded 2-core machine, short enough that a hung runtime fails its
/// test in reasonable time.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a daemon may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a client command with `stdin` and the standard deadline. Panics
/// only when the command cannot be started at all.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Captured {
    process::run(cmd, stdin, COMMAND_TIMEOUT, &mut || {})
        .unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()))
}

/// [`run`] of a setup step that must succeed: its failure says `what`
/// failed, with the client's exit code and stderr.
fn run_setup(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = run(cmd, b"");
    if out.exit != 0 {
        return Err(format!(
            "{what}: exit {}: {}",
            out.exit,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The private directory of one client instance, and the sweep that leaves
/// nothing of it behind (see the module documentation).
struct WorkDir {
    dir: tempfile::TempDir,
}

impl WorkDir {
    fn new(client: &str) -> WorkDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("vigil-{client}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a {client} work dir: {e}"));
        WorkDir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        kill_processes_naming(self.path());
        unmount_under(self.path());
    }
}

/// SIGKILLs every process whose command line names a path under `dir`.
fn kill_processes_naming(dir: &Path) {
    let needle = dir.to_string_lossy();
    let me = std::process::id() as i32;
    for (pid, cmdline) in process::command_lines() {
        if pid != me && cmdline.contains(needle.as_ref()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Detaches every mount at or below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort();
    points.dedup();
    for point in points.iter().rev() {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount_path(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&out).into_owned(),
    ))
}

/// A daemon started by a client guard: stopped (SIGTERM, then SIGKILL after
/// a grace period) and reaped on drop. Its stdout and stderr go to `log`.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// From spawn to the first answered request.
    startup: Duration,
    /// Stopped and reaped: its pid may belong to someone else now.
    stopped: bool,
}

impl Daemon {
    /// Starts `cmd` and calls `ready` until it returns true or
    /// `READY_TIMEOUT` passes; the error carries the daemon's log.
    fn start(
        name: &'static str,
        mut cmd: Command,
        log: PathBuf,
        ready: impl Fn() -> bool,
    ) -> Result<Daemon, String> {
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let t0 = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        let mut daemon = Daemon {
            name,
            child,
            log,
            startup: Duration::ZERO,
            stopped: false,
        };
        loop {
            if ready() {
                daemon.startup = t0.elapsed();
                return Ok(daemon);
            }
            let exited = daemon.child.try_wait().ok().flatten();
            if exited.is_some() || t0.elapsed() > READY_TIMEOUT {
                let why = match exited {
                    Some(status) => format!("exited with {status}"),
                    None => format!("not ready after {READY_TIMEOUT:?}"),
                };
                return Err(format!("{name} {why}; its log:\n{}", daemon.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of the daemon's log, for failure reports.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Daemon {
    /// Stops the daemon as its service manager would (SIGTERM, then
    /// SIGKILL after 10 s) and reaps it; what it started lives on.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a child's pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} ignored SIGTERM for 10 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The absolute path of a program the client packages install.
fn installed(program: &str) -> PathBuf {
    setup::client_packages().unwrap_or_else(|e| panic!("setup: {e}"));
    setup::which(program).unwrap_or_else(|| panic!("{program} is not on PATH after installing it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(
            unescape_mount_path(r"/tmp/a\040b\134c"),
            PathBuf::from(r"/tmp/a b\c")
        );
        assert_eq!(unescape_mount_path("/plain"), PathBuf::from("/plain"));
    }
}
