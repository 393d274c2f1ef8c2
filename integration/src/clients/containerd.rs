//! A private containerd and its `ctr`, for running containers through
//! containerd's runc shim (`io.containerd.runc.v2`) with any runc-compatible
//! binary: the shim calls `BINARY --root R --log <bundle>/log.json
//! --log-format json create|start|state|kill|delete|exec|ps|pause|resume`.
//!
//! With [`Containerd::with_cri`] it also serves the CRI (the API a kubelet
//! uses) with two RuntimeClass handlers, `runc` and `vigil`, a locally
//! built pause image as the sandbox image, and a pod network that stays
//! inside each pod (see `integration/cri/pod-veth`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{installed, Daemon, WorkDir};
use crate::process::Captured;
use crate::{harness, image};

/// A running private containerd with the test image imported. Drop stops
/// it and removes everything it made.
pub struct Containerd {
    ctr: PathBuf,
    address: PathBuf,
    /// The namespaces its clients use (`default` for ctr, `k8s.io` for the
    /// CRI), swept on drop.
    namespaces: &'static [&'static str],
    /// How the daemon is started (again, by [`Containerd::restart`]):
    /// containerd, its config file and its PATH.
    launcher: (PathBuf, PathBuf, Option<std::ffi::OsString>),
    // Dropped in this order: the daemon stops before its directory is swept.
    daemon: Daemon,
    dir: WorkDir,
}

impl Containerd {
    /// Starts containerd (with its own version-2 config) and imports the
    /// test image.
    pub fn start() -> Result<Containerd, String> {
        Containerd::launch(None, false)
    }

    /// As [`Containerd::start`], with `dir` first on containerd's PATH: where
    /// it looks for `containerd-shim-NAME-v2` when asked for runtime
    /// `io.containerd.NAME.v2`.
    pub fn with_shims(dir: &Path) -> Result<Containerd, String> {
        Containerd::launch(Some(dir), false)
    }

    /// A containerd that also serves the CRI, with the RuntimeClass
    /// handlers `runc` (containerd's runc shim) and `vigil` (vigil's shim,
    /// built for the tests, with the `vigil` binary under test), and the
    /// test and pause images imported into the CRI's namespace, `k8s.io`.
    pub fn with_cri() -> Result<Containerd, String> {
        let shim = harness::shim_binary();
        Containerd::launch(shim.parent(), true)
    }

    fn launch(shims: Option<&Path>, cri: bool) -> Result<Containerd, String> {
        let containerd = installed("containerd");
        let ctr = installed("ctr");
        let dir = WorkDir::new("containerd");
        let d = dir.path();
        let address = d.join("containerd.sock");
        let plugins = if cri {
            cri_config(d)?
        } else {
            // The CRI plugin is not needed by ctr and would start a
            // streaming server and a CNI watcher.
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n".to_string()
        };
        let config = format!(
            "version = 2\n\
             root = {root:?}\n\
             state = {state:?}\n\
             {plugins}\
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
        let path = match shims {
            Some(dir) => {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
                Some(std::env::join_paths(dirs).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let launcher = (containerd, config_path, path);
        let daemon = Daemon::start(
            "containerd",
            daemon_command(&launcher),
            d.join("containerd.log"),
            answers(&ctr, &address),
        )?;
        let containerd = Containerd {
            ctr,
            address,
            namespaces: if cri { &[CRI_NAMESPACE] } else { &["default"] },
            launcher,
            daemon,
            dir,
        };
        let mut images = vec![image::busybox()];
        if cri {
            images.push(image::pause());
        }
        for namespace in containerd.namespaces {
            for image in &images {
                let image = image.to_string_lossy();
                super::run_setup(
                    &mut containerd.ctr(&["-n", namespace, "images", "import", &image]),
                    &format!("ctr -n {namespace} images import {image}"),
                )?;
            }
        }
        Ok(containerd)
    }

    /// Stops containerd (as a service manager does) and starts it again
    /// with the same configuration, leaving its shims and their
    /// containers running: it must find them again.
    pub fn restart(&mut self) -> Result<(), String> {
        self.daemon.stop();
        let log = self.dir.path().join("containerd-restarted.log");
        let ready = answers(&self.ctr, &self.address);
        self.daemon = Daemon::start("containerd", daemon_command(&self.launcher), log, ready)?;
        Ok(())
    }

    /// The address of containerd's gRPC socket (ctr's and the CRI's).
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// Where the vigil shim keeps the state of the CRI's containers (the
    /// shim's `root` with the namespace appended).
    pub fn vigil_state(&self) -> PathBuf {
        self.dir.path().join("vigil-shim").join(CRI_NAMESPACE)
    }

    /// The directory everything of this containerd lives under.
    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    /// Task `id`'s status in `ctr task ls` (`RUNNING`, `PAUSED`,
    /// `STOPPED`); `None` when no such task is listed.
    pub fn task_status(&self, id: &str) -> Option<String> {
        status_in(&self.run(&["task", "ls"], b"").stdout, id)
    }

    /// Whether task `id` is running, as a probe that owns its `ctr task
    /// ls` command, so that it can be polled from another thread (the
    /// stdin feeder of [`crate::process::run_feeding_when`]).
    pub fn task_running(&self, id: &str) -> impl FnMut() -> bool + Send + 'static {
        let mut ls = self.ctr(&["task", "ls"]);
        ls.stdin(Stdio::null());
        let id = id.to_string();
        move || {
            ls.output()
                .is_ok_and(|o| status_in(&o.stdout, &id).as_deref() == Some("RUNNING"))
        }
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
        for ns in self.namespaces {
            let list = |what: &str| -> Vec<String> {
                let out = self.run(&["-n", ns, what, "ls", "-q"], b"");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            };
            for task in list("tasks") {
                let _ = self.run(&["-n", ns, "tasks", "kill", "-s", "SIGKILL", &task], b"");
                let _ = self.run(&["-n", ns, "tasks", "delete", "--force", &task], b"");
            }
            for container in list("containers") {
                let _ = self.run(&["-n", ns, "containers", "delete", &container], b"");
            }
        }
    }
}

/// The containerd namespace the CRI plugin keeps its pods in.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// The CRI plugin's part of the config, for a containerd in `dir`; writes
/// the vigil shim's config and the CNI files there.
///
/// - `restrict_oom_score_adj`: without CAP_SYS_RESOURCE the pause
///   container's `oom_score_adj` of -998 would be refused.
/// - The streaming server (for exec/attach URLs, unused here) listens on
///   an ephemeral port on loopback, so parallel instances never collide.
/// - Pods get their own network namespace (not `hostNetwork`): only then
///   does containerd give them their own UTS namespace, and so the pod's
///   hostname. containerd insists on an address for the pod, which
///   `pod-veth` (see there) provides without touching the host; Debian's
///   `loopback` plugin, which containerd always runs too, brings up `lo`.
/// - The pod network namespaces are mounted under containerd's state
///   directory rather than `/var/run/netns`, so they are swept with it.
fn cri_config(dir: &Path) -> Result<String, String> {
    let vigil_shim_config = dir.join("vigil-shim.toml");
    fs::write(
        &vigil_shim_config,
        format!(
            "binary_name = {:?}\nroot = {:?}\n",
            harness::vigil_binary(),
            dir.join("vigil-shim")
        ),
    )
    .map_err(|e| e.to_string())?;
    let (cni_bin, cni_conf) = (dir.join("cni/bin"), dir.join("cni/conf"));
    for d in [&cni_bin, &cni_conf] {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let cri_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cri");
    let plugins = [
        (cri_dir.join("pod-veth"), "pod-veth"),
        (PathBuf::from(LOOPBACK_PLUGIN), "loopback"),
    ];
    for (plugin, name) in plugins {
        std::os::unix::fs::symlink(&plugin, cni_bin.join(name))
            .map_err(|e| format!("{}: {e}", plugin.display()))?;
    }
    fs::write(
        cni_conf.join("10-pod-veth.conflist"),
        r#"{"cniVersion": "0.4.0", "name": "pod-veth", "plugins": [{"type": "pod-veth"}]}"#,
    )
    .map_err(|e| e.to_string())?;
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    Ok(format!(
        "[{cri}]\n\
         \x20 sandbox_image = {pause:?}\n\
         \x20 restrict_oom_score_adj = true\n\
         \x20 netns_mounts_under_state_dir = true\n\
         \x20 stream_server_address = \"127.0.0.1\"\n\
         \x20 stream_server_port = \"0\"\n\
         [{cri}.cni]\n\
         \x20 bin_dir = {cni_bin:?}\n\
         \x20 conf_dir = {cni_conf:?}\n\
         [{cri}.containerd]\n\
         \x20 default_runtime_name = \"runc\"\n\
         [{cri}.containerd.runtimes.runc]\n\
         \x20 runtime_type = \"io.containerd.runc.v2\"\n\
         [{cri}.containerd.runtimes.runc.options]\n\
         \x20 Root = {runc_root:?}\n\
         [{cri}.containerd.runtimes.vigil]\n\
         \x20 runtime_type = \"io.containerd.vigil.v2\"\n\
         [{cri}.containerd.runtimes.vigil.options]\n\
         \x20 ConfigPath = {vigil_shim_config:?}\n",
        pause = image::PAUSE_NAME,
        runc_root = dir.join("runc"),
    ))
}

/// Debian's (containernetworking-plugins) loopback CNI plugin.
const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";

impl Drop for Containerd {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// The command that starts containerd with `config` and, if given, `path`
/// as its PATH (where it finds shims).
fn daemon_command(
    (containerd, config, path): &(PathBuf, PathBuf, Option<std::ffi::OsString>),
) -> Command {
    let mut cmd = Command::new(containerd);
    cmd.arg("--config").arg(config);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd
}

/// The status column of task `id` in a `ctr task ls` listing.
fn status_in(listing: &[u8], id: &str) -> Option<String> {
    String::from_utf8_lossy(listing).lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.first() == Some(&id)).then(|| cols.last().unwrap().to_string())
    })
}

/// Whether containerd at `address` answers `ctr version`.
fn answers(ctr: &Path, address: &Path) -> impl Fn() -> bool {
    let (ctr, address) = (ctr.to_path_buf(), address.to_path_buf());
    move || {
        Command::new(&ctr)
            .arg("--address")
            .arg(&address)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    }
}
