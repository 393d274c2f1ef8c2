//! Runs one container under an OCI runtime (runc or vigil) from a freshly
//! written bundle and captures what it printed and how it exited. The
//! bundle's `config.json` is what `runc spec` writes, adjusted only where a
//! test must be: no terminal, the case's argv/env, a read-only root (the
//! root file systems are a shared cache) with a tmpfs on `/tmp`, and the
//! case's extra mounts. Runtime state goes under the bundle (`--root`), so
//! nothing global is touched and every run starts clean.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::process::{self, Captured};
use crate::setup;

/// The runtime a container runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The reference: Linux itself, behind runc.
    Runc,
    /// The runtime under test.
    Vigil,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Vigil => "vigil",
        }
    }

    /// The runtime's binary, as an absolute path (podman and the runc shim
    /// are given it by path).
    pub fn binary(self) -> PathBuf {
        match self {
            Runtime::Runc => setup::which("runc").unwrap_or_else(|| PathBuf::from("runc")),
            Runtime::Vigil => vigil_binary().to_path_buf(),
        }
    }
}

/// A mount added to the spec's defaults.
#[derive(Debug, Clone)]
pub enum Mount {
    /// A bind mount of a host directory (writes reach the host).
    Bind {
        source: PathBuf,
        destination: String,
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs { destination: String },
}

/// One container to run.
#[derive(Debug, Clone)]
pub struct Container {
    /// The root file system (mounted read-only).
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    /// Added to the spec's `PATH` and `TERM`.
    pub env: Vec<String>,
    pub stdin: Vec<u8>,
    pub mounts: Vec<Mount>,
    /// Past this the container is killed and the run reported as timed out.
    pub timeout: Duration,
}

/// The hostname every container gets, so output naming it is the same on
/// every machine.
pub const HOSTNAME: &str = "sandbox";

/// The `config.json` for `c`: `runc spec`'s output (runc 1.1) with the
/// adjustments described at the top of this module.
pub fn config(c: &Container) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "TERM=xterm".to_string(),
    ];
    env.extend(c.env.iter().cloned());
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        // The root is read-only (it is shared by every test), so scratch
        // space is a tmpfs, as a user of a read-only image would mount.
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "mode=1777"]}),
    ];
    for m in &c.mounts {
        mounts.push(match m {
            Mount::Bind {
                source,
                destination,
                readonly,
            } => {
                let mut options = vec!["rbind"];
                if *readonly {
                    options.push("ro");
                }
                json!({"destination": destination, "type": "bind",
                       "source": source, "options": options})
            }
            Mount::Tmpfs { destination } => json!({"destination": destination, "type": "tmpfs",
                       "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]}),
        });
    }
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": c.args,
            "env": env,
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": c.rootfs, "readonly": true},
        "hostname": HOSTNAME,
        "mounts": mounts,
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Writes a bundle for `c` in a new temporary directory and runs it with
/// `RUNTIME --root <bundle>/state run --bundle <bundle> <fresh id>`.
pub fn run(runtime: Runtime, c: &Container) -> Captured {
    let bundle = tempfile::Builder::new()
        .prefix("vigil-bundle-")
        .tempdir()
        .expect("creating a bundle dir");
    let config = serde_json::to_vec_pretty(&config(c)).expect("serialising config.json");
    std::fs::write(bundle.path().join("config.json"), config).expect("writing config.json");
    let state = bundle.path().join("state");
    let id = container_id();
    let binary = runtime.binary();
    let cli = |verb: &[&str]| {
        let mut cmd = Command::new(&binary);
        cmd.arg("--root").arg(&state).args(verb);
        cmd
    };

    let mut cmd = cli(&["run", "--bundle"]);
    cmd.arg(bundle.path()).arg(&id);
    let mut kill = || {
        let _ = cli(&["kill", &id, "KILL"]).output();
    };
    let out = process::run(&mut cmd, &c.stdin, c.timeout, &mut kill).unwrap_or_else(|e| {
        panic!("starting {}: {e}", binary.display());
    });
    // `run` deletes the container when it ends normally; after a failure
    // or a kill it may be left behind, with its cgroup.
    if out.timed_out || out.exit != 0 || state.join(&id).exists() {
        let _ = cli(&["delete", "--force", &id]).output();
    }
    out
}

/// A container id no other run (in this or a parallel test process) uses.
fn container_id() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "vigil-it-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `vigil` binary under test: `VIGIL_BIN` if set, else the workspace's
/// own, built (or found up to date) by cargo in the same profile as these
/// tests. An integration test of another crate cannot name a binary with
/// `CARGO_BIN_EXE_*`, and a stale binary would test old code, so cargo is
/// asked every time; it is a no-op when nothing changed.
pub fn vigil_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("VIGIL_BIN") {
            return PathBuf::from(bin);
        }
        workspace_binary("runtime", "vigil")
    })
}

/// The containerd shim, `containerd-shim-vigil-v2`, built as
/// [`vigil_binary`] is (the shim starts sandboxes from the `vigil` binary
/// its configuration names).
pub fn shim_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_binary("shim", "containerd-shim-vigil-v2"))
}

/// `cargo build -p PACKAGE --bin BIN` in the tests' profile, and the path
/// of the binary.
fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let profile_dir = setup::profile_dir();
    let profile = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(setup::workspace_dir())
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let built = process::run(&mut cmd, b"", Duration::from_secs(15 * 60), &mut || {})
        .unwrap_or_else(|e| panic!("running cargo build: {e}"));
    if built.exit != 0 || built.timed_out {
        panic!(
            "cargo build -p {package} failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
    profile_dir.join(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_mounts_follow_the_spec_defaults() {
        let c = Container {
            rootfs: PathBuf::from("/r"),
            args: vec!["/bin/sh".into()],
            env: vec!["A=b".into()],
            stdin: vec![],
            mounts: vec![Mount::Tmpfs {
                destination: "/mnt/scratch".into(),
            }],
            timeout: Duration::from_secs(1),
        };
        let v = config(&c);
        assert_eq!(v["process"]["terminal"], false);
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["process"]["env"][2], "A=b");
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests.last(), Some(&"/mnt/scratch"));
        assert!(dests.contains(&"/proc") && dests.contains(&"/tmp"));
    }

    /// vigil reads bundles with oci-spec: the generated config must parse.
    #[test]
    fn config_parses_as_an_oci_spec() {
        let c = Container {
            rootfs: PathBuf::from("/r"),
            args: vec!["/bin/true".into()],
            env: vec![],
            stdin: vec![],
            mounts: vec![Mount::Bind {
                source: PathBuf::from("/host"),
                destination: "/mnt/host".into(),
                readonly: true,
            }],
            timeout: Duration::from_secs(1),
        };
        let spec: oci_spec::runtime::Spec = serde_json::from_value(config(&c)).unwrap();
        assert_eq!(spec.hostname().as_deref(), Some(HOSTNAME));
        assert_eq!(spec.mounts().as_ref().unwrap().len(), 9);
    }
}
