//! A private podman: its storage, run root, temporary files and
//! configuration all under one directory, so it shares nothing with the
//! machine's podman. Containers run with `--runtime <path>`: conmon calls
//! `RUNTIME create --bundle B --pid-file P [--console-socket S] ID` and
//! `RUNTIME exec --pid-file P --process F --detach [--tty --console-socket
//! S] ID`; podman itself calls `start ID`, `kill ID SIGNUM` and `delete
//! --force ID`. No global flags: the runtime keeps its state in its default
//! directory.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::{installed, WorkDir};
use crate::image;
use crate::process::Captured;

/// A private podman with the test image loaded. Drop removes its containers
/// and everything it made.
pub struct Podman {
    podman: PathBuf,
    dir: WorkDir,
}

impl Podman {
    /// Writes the private configuration and loads the test image.
    pub fn new() -> Result<Podman, String> {
        let podman = installed("podman");
        installed("conmon");
        let dir = WorkDir::new("podman");
        let d = dir.path();
        let (nofile, nproc) = ulimits();
        let containers_conf = format!(
            "[containers]\n\
             default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             pull_policy = \"never\"\n",
        );
        let storage_conf = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = {:?}\nrunroot = {:?}\n",
            d.join("root"),
            d.join("runroot"),
        );
        // No search registries: a short name never leads to a pull attempt.
        let registries_conf = "unqualified-search-registries = []\n";
        for (name, text) in [
            ("containers.conf", containers_conf.as_str()),
            ("storage.conf", storage_conf.as_str()),
            ("registries.conf", registries_conf),
        ] {
            fs::write(d.join(name), text).map_err(|e| e.to_string())?;
        }
        let podman = Podman { podman, dir };
        let image = image::busybox().to_string_lossy().into_owned();
        super::run_setup(
            &mut podman.command(&["load", "--input", &image]),
            "podman load",
        )?;
        Ok(podman)
    }

    /// `podman <isolation flags> ARGS`, with the private configuration in
    /// its environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(&self.podman);
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args);
        cmd
    }

    /// Runs `podman ARGS` with `stdin` and the standard deadline.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Captured {
        super::run(&mut self.command(args), stdin)
    }

    /// The `podman run` flags every test container gets: the runtime at
    /// `binary`, no pulls and no network.
    pub fn run_flags(binary: &std::path::Path) -> Vec<String> {
        vec![
            "--runtime".into(),
            binary.to_string_lossy().into_owned(),
            "--pull=never".into(),
            "--network=none".into(),
        ]
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // The runtime keeps its state outside this directory (podman passes
        // no --root): remove the containers through it.
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"], b"");
    }
}

/// The limits podman gives containers by default (1048576 open files)
/// exceed what a process without CAP_SYS_RESOURCE may set, so they come
/// from this process's hard limits. podman lowers its own RLIMIT_NPROC to
/// the kernel's `pid_max` before starting the runtime, so the process limit
/// is capped there as well.
fn ulimits() -> (u64, u64) {
    use rustix::process::{getrlimit, Resource};
    let hard = |r| getrlimit(r).maximum.unwrap_or(u64::MAX);
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX);
    (hard(Resource::Nofile), hard(Resource::Nproc).min(pid_max))
}
