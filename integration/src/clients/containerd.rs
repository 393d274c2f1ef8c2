//! A private containerd and its `ctr`, for running containers through
//! containerd's runc shim (`io.containerd.runc.v2`) with any runc-compatible
//! binary: the shim calls `BINARY --root R --log <bundle>/log.json
//! --log-format json create|start|state|kill|delete|exec|ps|pause|resume`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{installed, Daemon, WorkDir};
use crate::image;
use crate::process::Captured;

/// A running private containerd with the test image imported. Drop stops
/// it and removes everything it made.
pub struct Containerd {
    ctr: PathBuf,
    address: PathBuf,
    // Dropped in this order: the daemon stops before its directory is swept.
    daemon: Daemon,
    dir: WorkDir,
}

impl Containerd {
    /// Starts containerd (with its own version-2 config) and imports the
    /// test image.
    pub fn start() -> Result<Containerd, String> {
        Containerd::launch(None)
    }

    /// As [`Containerd::start`], with `dir` first on containerd's PATH: where
    /// it looks for `containerd-shim-NAME-v2` when asked for runtime
    /// `io.containerd.NAME.v2`.
    pub fn with_shims(dir: &Path) -> Result<Containerd, String> {
        Containerd::launch(Some(dir))
    }

    fn launch(shims: Option<&Path>) -> Result<Containerd, String> {
        let containerd = installed("containerd");
        let ctr = installed("ctr");
        let dir = WorkDir::new("containerd");
        let d = dir.path();
        let address = d.join("containerd.sock");
        // The CRI plugin is not needed by ctr and would start a streaming
        // server and a CNI watcher.
        let config = format!(
            "version = 2\n\
             root = {root:?}\n\
             state = {state:?}\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = {address:?}\n\
             [ttrpc]\n  address = {ttrpc:?}\n\
             [debug]\n  address = {debug:?}\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt:?}\n",
            root = d.join("root"),
            state = d.join("state"),
            ttrpc = d.join("containerd.sock.ttrpc"),
            debug = d.join("debug.sock"),
            opt = d.join("opt"),
        );
        let config_path = d.join("config.toml");
        fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(containerd);
        cmd.arg("--config").arg(&config_path);
        if let Some(dir) = shims {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
            cmd.env(
                "PATH",
                std::env::join_paths(dirs).map_err(|e| e.to_string())?,
            );
        }
        let probe = {
            let (ctr, address) = (ctr.clone(), address.clone());
            move || {
                Command::new(&ctr)
                    .arg("--address")
                    .arg(&address)
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            }
        };
        let daemon = Daemon::start("containerd", cmd, d.join("containerd.log"), probe)?;
        let containerd = Containerd {
            ctr,
            address,
            daemon,
            dir,
        };
        let image = image::busybox().to_string_lossy().into_owned();
        let out = super::run(&mut containerd.ctr(&["images", "import", &image]), b"");
        if out.exit != 0 {
            return Err(format!(
                "ctr images import: exit {}: {}",
                out.exit,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(containerd)
    }

    /// How long containerd took to answer its first request.
    pub fn startup(&self) -> Duration {
        self.daemon.startup
    }

    /// `ctr --address <ours> ARGS`.
    pub fn ctr(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.ctr);
        cmd.arg("--address").arg(&self.address).args(args);
        cmd
    }

    /// Runs `ctr ARGS` with `stdin` and the standard deadline.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Captured {
        super::run(&mut self.ctr(args), stdin)
    }

    /// The `ctr run` / `ctr task exec` flags that keep their files here:
    /// the FIFOs of the container's stdio.
    pub fn fifo_flags(&self) -> Vec<String> {
        vec![
            "--fifo-dir".into(),
            self.dir.path().join("fifo").to_string_lossy().into_owned(),
        ]
    }

    /// The `ctr run` flags that make the runc shim drive `binary` (a
    /// runc-compatible CLI), with its state under this containerd's
    /// directory rather than `/run/containerd/runc`.
    pub fn runtime_flags(&self, binary: &Path) -> Vec<String> {
        let mut flags = vec![
            "--runtime".to_string(),
            "io.containerd.runc.v2".to_string(),
            "--runc-binary".to_string(),
            binary.to_string_lossy().into_owned(),
            "--runc-root".to_string(),
            self.runc_root().to_string_lossy().into_owned(),
        ];
        flags.extend(self.fifo_flags());
        flags
    }

    /// The `--root` the runc shim passes its binary for containers of
    /// ctr's default namespace (the shim appends the namespace).
    pub fn runtime_root(&self) -> PathBuf {
        self.runc_root().join("default")
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.path().join("runc")
    }

    /// Kills and deletes every task and container, so that no shim outlives
    /// the daemon.
    fn remove_all(&self) {
        let list = |what: &str| -> Vec<String> {
            let out = self.run(&[what, "ls", "-q"], b"");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        };
        for task in list("tasks") {
            let _ = self.run(&["tasks", "kill", "--signal", "SIGKILL", &task], b"");
            let _ = self.run(&["tasks", "delete", "--force", &task], b"");
        }
        for container in list("containers") {
            let _ = self.run(&["containers", "delete", &container], b"");
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.remove_all();
    }
}
