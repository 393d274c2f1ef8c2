//! The shim under a private containerd: the `integration` crate's
//! (its own config, the busybox test image imported) with the built
//! `containerd-shim-vigil-v2` first on containerd's PATH, plus what these
//! tests ask of it: task status, cleanup, and the check that nothing of a
//! container is left on the host.

use integration::clients;
use integration::process::{command_lines, Captured};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const RUNTIME: &str = "io.containerd.vigil.v2";
pub use integration::image::NAME as IMAGE;
/// ctr's namespace, and so the shim's: its state is under
/// `/run/vigil-shim/default`, its cgroups under `/default`.
const NAMESPACE: &str = "default";

pub struct Containerd {
    inner: clients::Containerd,
}

impl Containerd {
    pub fn start() -> Containerd {
        let vigil = integration::harness::vigil_binary();
        let shim = Path::new(env!("CARGO_BIN_EXE_containerd-shim-vigil-v2"));
        // The shim finds `vigil` next to itself; cargo builds both into
        // one directory.
        assert_eq!(vigil.parent(), shim.parent(), "vigil next to the shim");
        let inner = clients::Containerd::with_shims(shim.parent().unwrap())
            .unwrap_or_else(|e| panic!("containerd: {e}"));
        Containerd { inner }
    }

    /// Stops containerd and starts it again, its shims left running.
    pub fn restart(&mut self) {
        self.inner
            .restart()
            .unwrap_or_else(|e| panic!("restarting containerd: {e}"));
    }

    /// `ctr ARGS`.
    pub fn ctr(&self, args: &[&str]) -> Captured {
        self.inner.run(args, b"")
    }

    /// `ctr ARGS`, to be run by the caller.
    pub fn ctr_command(&self, args: &[&str]) -> Command {
        self.inner.ctr(args)
    }

    /// `ctr run --runtime io.containerd.vigil.v2 ARGS`, its fifos kept in
    /// containerd's directory.
    pub fn run(&self, args: &[&str]) -> Captured {
        self.with_fifos(&["run", "--runtime", RUNTIME], args)
            .run(b"")
    }

    /// `ctr task exec ARGS`.
    pub fn exec(&self, args: &[&str]) -> Captured {
        self.with_fifos(&["task", "exec"], args).run(b"")
    }

    /// `ctr VERB <fifo flags> ARGS`.
    pub fn with_fifos(&self, verb: &[&str], args: &[&str]) -> CtrCommand<'_> {
        let mut all: Vec<String> = verb.iter().map(|s| s.to_string()).collect();
        all.extend(self.inner.fifo_flags());
        all.extend(args.iter().map(|s| s.to_string()));
        CtrCommand { c: self, args: all }
    }

    /// `ctr task ls` status of `id` ("" when there is no task).
    pub fn status(&self, id: &str) -> String {
        self.inner.task_status(id).unwrap_or_default()
    }

    /// Whether `id`'s task is running, as a probe for another thread.
    pub fn running(&self, id: &str) -> impl FnMut() -> bool + Send + 'static {
        self.inner.task_running(id)
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

    /// Waits until `id`'s task has stopped or is gone; whether it did
    /// within the deadline.
    pub fn wait_ended(&self, id: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(self.status(id).as_str(), "STOPPED" | "") {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Kills, removes and deletes container `id`.
    pub fn remove(&self, id: &str) {
        let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
        // Removed with -f even if it did not stop.
        let _ = self.wait_ended(id);
        let _ = self.ctr(&["task", "rm", "-f", id]);
        let _ = self.ctr(&["containers", "rm", id]);
    }

    /// The host pid of the shim serving container `id`.
    pub fn shim_pid(&self, id: &str) -> Option<i32> {
        command_lines()
            .into_iter()
            .find(|(_, cmd)| {
                cmd.contains("containerd-shim-vigil-v2")
                    && cmd.contains(&format!("-namespace {NAMESPACE} -id {id} "))
            })
            .map(|(pid, _)| pid)
    }

    /// The `-socket` address containerd gave the shim serving `id`.
    pub fn shim_socket(&self, id: &str) -> Option<String> {
        let pid = self.shim_pid(id)?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = String::from_utf8_lossy(&cmd)
            .split('\0')
            .map(str::to_string)
            .collect();
        let at = args.iter().position(|a| a == "-socket")?;
        args.get(at + 1).cloned()
    }

    /// Fails unless nothing of the containers `ids` is left: shim and
    /// sandbox processes, vigil state, cgroups. Shims leave asynchronously,
    /// so this waits a little.
    pub fn assert_clean(&self, ids: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = leftovers(ids);
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "left behind: {left:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn leftovers(ids: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    for (pid, cmd) in command_lines() {
        let ours = ids
            .iter()
            .any(|id| cmd.contains(&format!("-id {id} ")) || cmd.contains(&format!("--id {id} ")));
        if ours && cmd.contains("vigil") {
            left.push(format!("process {pid}: {cmd}"));
        }
    }
    for id in ids {
        let state = Path::new("/run/vigil-shim").join(NAMESPACE).join(id);
        if state.exists() {
            left.push(format!("state {}", state.display()));
        }
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let cgroup = hierarchy.path().join(NAMESPACE).join(id);
            if cgroup.exists() {
                left.push(format!("cgroup {}", cgroup.display()));
            }
        }
    }
    left
}

/// A `ctr` command line, built but not run.
pub struct CtrCommand<'a> {
    c: &'a Containerd,
    args: Vec<String>,
}

impl CtrCommand<'_> {
    pub fn run(&self, stdin: &[u8]) -> Captured {
        self.c.inner.run(&self.refs(), stdin)
    }

    pub fn command(&self) -> Command {
        self.c.inner.ctr(&self.refs())
    }

    fn refs(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A container id unique on the machine: tests run in parallel, in one
/// process or several, and the shim's state and cgroups are named by it.
pub fn id(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "vshim-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
