//! A private containerd for the shim's tests: its own config (root, state,
//! sockets, `opt`) under a temp dir, the built `containerd-shim-vigil-v2`
//! first on its PATH, a busybox image imported, and a namespace of its own;
//! plus the check that nothing of a container is left on the host.
//!
//! The busybox root file system and the `vigil` binary come from the
//! `integration` crate's setup; the image is written here (one layer, OCI
//! layout) because `ctr images import` is all these tests need of one.

use integration::process::{self, Captured};
use integration::{harness, setup};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const RUNTIME: &str = "io.containerd.vigil.v2";
pub const IMAGE: &str = "localhost/vigil-shim-busybox:latest";
const CTR_TIMEOUT: Duration = Duration::from_secs(60);

/// A running private containerd; stopped (after its tasks are removed) on
/// drop.
pub struct Containerd {
    dir: tempfile::TempDir,
    process: Child,
    pub namespace: String,
}

impl Containerd {
    pub fn start() -> Containerd {
        let vigil = harness::vigil_binary();
        let shim = Path::new(env!("CARGO_BIN_EXE_containerd-shim-vigil-v2"));
        // The shim finds `vigil` next to itself; both are built into the
        // same directory.
        assert_eq!(
            vigil.parent(),
            shim.parent(),
            "vigil and the shim in one directory"
        );
        // Short: the sockets' paths must fit a socket address.
        let dir = tempfile::Builder::new()
            .prefix("vshim")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path().display();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let path = format!(
            "{}:{}",
            shim.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let process = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .env("PATH", path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let c = Containerd {
            dir,
            process,
            namespace: unique("vshim"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.ctr(&["version"]).exit != 0 {
            assert!(
                Instant::now() < deadline,
                "containerd did not start:\n{}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let image = write_image(c.dir.path());
        let imported = c.ctr(&["images", "import", image.to_str().unwrap()]);
        assert_eq!(imported.exit, 0, "import: {}", text(&imported.stderr));
        c
    }

    /// Runs `ctr` against this containerd in the test's namespace.
    pub fn ctr(&self, args: &[&str]) -> Captured {
        self.ctr_with_stdin(args, b"")
    }

    pub fn ctr_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Captured {
        let mut cmd = self.ctr_command(args);
        process::run(&mut cmd, stdin, CTR_TIMEOUT, &mut || {}).expect("run ctr")
    }

    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.dir.path().join("c.sock"))
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args);
        cmd
    }

    /// `ctr task ls` status of `id` ("" when there is no task).
    pub fn status(&self, id: &str) -> String {
        let out = text(&self.ctr(&["task", "ls"]).stdout);
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
            })
            .next()
            .unwrap_or_default()
    }

    /// Waits until `id`'s task has `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.status(id);
            if now == status {
                return;
            }
            assert!(Instant::now() < deadline, "{id}: {now:?}, not {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills, removes and deletes container `id`.
    pub fn remove(&self, id: &str) {
        let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(self.status(id).as_str(), "STOPPED" | "") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.ctr(&["task", "rm", "-f", id]);
        let _ = self.ctr(&["containers", "rm", id]);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Fails unless nothing of the containers `ids` is left: shim and
    /// sandbox processes, vigil state, cgroups. Shims leave asynchronously,
    /// so this waits a little.
    pub fn assert_clean(&self, ids: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.leftovers(ids);
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "left behind: {left:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn leftovers(&self, ids: &[&str]) -> Vec<String> {
        let mut left = Vec::new();
        let ns = format!("-namespace {}", self.namespace);
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let ours = cmdline.contains(&ns)
                || ids
                    .iter()
                    .any(|id| cmdline.contains(&format!("--id {id} ")))
                || cmdline.contains(&format!("--root /run/vigil-shim/{}", self.namespace));
            if ours && cmdline.contains("vigil") {
                left.push(format!(
                    "process {}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
        let root = Path::new(vigil_shim_root()).join(&self.namespace);
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                left.push(format!("state {}", e.path().display()));
            }
        }
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for id in ids {
                for dir in [
                    hierarchy.path().join(&self.namespace).join(id),
                    hierarchy
                        .path()
                        .join(&self.namespace)
                        .join(format!("{id}.scope")),
                ] {
                    if dir.exists() {
                        left.push(format!("cgroup {}", dir.display()));
                    }
                }
            }
        }
        left
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let tasks = text(&self.ctr(&["containers", "ls", "-q"]).stdout);
        for id in tasks.lines().filter(|l| !l.is_empty()) {
            self.remove(id);
        }
        let _ = self.ctr(&["namespaces", "rm", &self.namespace]);
        // SAFETY: a plain kill of our own child.
        unsafe { libc::kill(self.process.id() as i32, libc::SIGTERM) };
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(Path::new(vigil_shim_root()).join(&self.namespace));
    }
}

/// The shim's default state root.
pub fn vigil_shim_root() -> &'static str {
    "/run/vigil-shim"
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A container id (or namespace) unique on the machine: tests run in
/// parallel, in one process or several.
pub fn id(name: &str) -> String {
    unique(name)
}

fn unique(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes the busybox image as an OCI image layout tarball into `dir`.
fn write_image(dir: &Path) -> PathBuf {
    let rootfs = setup::busybox_rootfs();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    // One uncompressed layer with fixed owners and times.
    let layer_path = work.path().join("layer.tar");
    let tarred = Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
        ])
        .arg("-C")
        .arg(rootfs)
        .arg("-cf")
        .arg(&layer_path)
        .arg(".")
        .status()
        .unwrap();
    assert!(tarred.success(), "tar the layer");
    let layer = std::fs::read(&layer_path).unwrap();
    let blob = |bytes: &[u8]| -> (String, usize) {
        let digest = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        std::fs::write(layout.join("blobs/sha256").join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let (layer_digest, layer_size) = blob(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let (config_digest, config_size) = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = blob(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"io.containerd.image.name": IMAGE,
                                       "org.opencontainers.image.ref.name": "latest"}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let out = dir.join("busybox.tar");
    let tarred = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .unwrap();
    assert!(tarred.success(), "tar the image");
    out
}
