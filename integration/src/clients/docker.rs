//! A private dockerd: data, exec root, pid file and API socket under one
//! directory, no iptables or bridge changes to the host, and the runtimes
//! under test registered by name. dockerd starts a containerd of its own and
//! drives every runtime through containerd's runc shim, with the runtime as
//! the shim's binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::{installed, Daemon, WorkDir};
use crate::image;
use crate::process::Captured;
use crate::setup::which;

/// A running private dockerd with the test image loaded. Drop removes its
/// containers, stops it and removes everything it made.
pub struct Docker {
    docker: PathBuf,
    host: String,
    /// The storage driver dockerd runs with.
    pub driver: &'static str,
    // Dropped in this order: the daemon stops before its directory is swept
    // (the directory is held only for that).
    daemon: Daemon,
    _dir: WorkDir,
}

impl Docker {
    /// Starts dockerd with `runtimes` (name → binary) registered besides its
    /// built-in `runc`, and runsc (as `runsc`, without networking) when it
    /// is installed; then loads the test image. overlay2 is tried first,
    /// vfs when overlay2 cannot start here.
    pub fn start(runtimes: &[(&str, &Path)]) -> Result<Docker, String> {
        let dockerd = installed("dockerd");
        let docker = installed("docker");
        let dir = WorkDir::new("docker");
        let host = format!("unix://{}", dir.path().join("docker.sock").display());
        let mut registered = serde_json::Map::new();
        for (name, binary) in runtimes {
            registered.insert(name.to_string(), json!({"path": binary}));
        }
        if let Some(runsc) = which("runsc") {
            // This runsc build rejects every network namespace on recent
            // kernels; its own network stack is not what is compared.
            registered.insert(
                "runsc".into(),
                json!({"path": runsc, "runtimeArgs": ["--network=none"]}),
            );
        }
        let mut failures = Vec::new();
        for driver in ["overlay2", "vfs"] {
            let d = dir.path();
            let config = json!({
                "data-root": d.join("data"),
                "exec-root": d.join("exec"),
                "pidfile": d.join("docker.pid"),
                "hosts": [host],
                "iptables": false,
                "ip6tables": false,
                "bridge": "none",
                "storage-driver": driver,
                "runtimes": registered,
            });
            let config_path = d.join("daemon.json");
            fs::write(&config_path, config.to_string()).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&dockerd);
            cmd.arg("--config-file").arg(&config_path);
            let probe = {
                let (docker, host) = (docker.clone(), host.clone());
                move || {
                    Command::new(&docker)
                        .args(["--host", &host, "version"])
                        .output()
                        .is_ok_and(|o| o.status.success())
                }
            };
            let log = d.join(format!("dockerd-{driver}.log"));
            match Daemon::start("dockerd", cmd, log, probe) {
                Ok(daemon) => {
                    let docker = Docker {
                        docker,
                        host,
                        driver,
                        daemon,
                        _dir: dir,
                    };
                    let image = image::busybox().to_string_lossy().into_owned();
                    super::run_setup(
                        &mut docker.command(&["load", "--input", &image]),
                        "docker load",
                    )?;
                    return Ok(docker);
                }
                Err(why) => failures.push(format!("with {driver}: {why}")),
            }
        }
        Err(failures.join("\n"))
    }

    /// How long dockerd took to answer its first request.
    pub fn startup(&self) -> Duration {
        self.daemon.startup
    }

    /// `docker --host <ours> ARGS`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.docker);
        cmd.args(["--host", &self.host]).args(args);
        cmd
    }

    /// Runs `docker ARGS` with `stdin` and the standard deadline.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Captured {
        super::run(&mut self.command(args), stdin)
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let out = self.run(&["ps", "--all", "--quiet"], b"");
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = self.run(&["rm", "--force", id], b"");
        }
    }
}
