//! A pod through containerd's CRI, as a kubelet runs one: RunPodSandbox
//! with the RuntimeClass handler `runc` and then `vigil`, two workload
//! containers from the test image, their logs in the CRI's format,
//! ExecSync, exit codes from ContainerStatus, StopContainer of a container
//! that traps SIGTERM, then StopPodSandbox and RemovePodSandbox, after
//! which nothing of the pod may be left on the host.
//!
//! The client is `integration/cri/cri.py` (see `integration::clients::Cri`);
//! containerd is a private one with the CRI plugin on
//! (`Containerd::with_cri`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use integration::clients::{self, Containerd, Cri, CRI_NAMESPACE};
use integration::harness::Runtime;
use integration::image;
use integration::process::{self, Captured};

use crate::{differential, started, Transcript, KERNEL_PREFIX, PRINT_KERNEL, SETTLE_WAIT};

/// The pod's hostname, which every container of the pod must see.
const HOSTNAME: &str = "vigil-pod";

/// Container `echo`: prints and exits 3 at once.
const ECHO: &str = "echo hello; hostname; exit 3";

/// Container `term`: says it is ready once its SIGTERM trap is set, then
/// waits; the trap says so and exits 42. (`wait` is interrupted by a
/// trapped signal, so the trap runs at once.)
const TERM: &str =
    "trap 'echo got TERM; exit 42' TERM; echo ready; hostname; sleep 1000 & while :; do wait; done";

fn containerd() -> Containerd {
    let containerd = started("containerd", Containerd::with_cri());
    eprintln!("containerd ready in {:?}", containerd.startup());
    containerd
}

fn cri(containerd: &Containerd) -> Cri {
    started("cri.py", Cri::connect(containerd))
}

/// A pod of this test process, removed (with its cgroup parent) on drop
/// even when the test fails half-way.
struct Pod<'a> {
    cri: &'a Cri,
    id: String,
    config: Value,
    /// The cgroup (in every hierarchy) the pod's containers' cgroups are
    /// made under; unique to the pod.
    cgroup: String,
    logs: PathBuf,
}

impl<'a> Pod<'a> {
    fn run(cri: &'a Cri, containerd: &Containerd, handler: &str) -> Result<Pod<'a>, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "cri-{}-{}-{handler}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let logs = containerd.dir().join("pods").join(&name);
        fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let cgroup = format!("/vigil-{name}");
        let config = clients::pod_config(&name, &name, HOSTNAME, &logs, &cgroup);
        let id = cri
            .run_pod(&config, handler)
            .map_err(|e| format!("RunPodSandbox: {e}"))?;
        Ok(Pod {
            cri,
            id,
            config,
            cgroup,
            logs,
        })
    }

    /// Creates and starts a container of the test image running `sh -c
    /// SCRIPT`.
    fn start(&self, name: &str, script: &str) -> Result<String, clients::CriError> {
        let config = clients::container_config(name, image::NAME, &["sh", "-c", script]);
        self.cri.start_container(&self.id, &self.config, &config)
    }

    /// The cgroup directories of the pod, one per hierarchy.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let relative = self.cgroup.trim_start_matches('/');
        fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|h| h.path().join(relative))
            .filter(|d| d.is_dir())
            .collect()
    }
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        // Each succeeds on a pod that is already gone; each is tried
        // whatever the other did.
        let pod = json!({"pod_sandbox_id": self.id});
        let _ = self.cri.call("StopPodSandbox", pod.clone());
        let _ = self.cri.call("RemovePodSandbox", pod);
        // runc makes the parent cgroup and leaves it.
        for dir in self.cgroup_dirs() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// The container's log as the CRI writes it (`<time> <stream> <P|F>
/// <text>` per line), each line's time checked and left out, kernel lines
/// set aside in `t`. Waits until it has `lines` lines: containerd copies the
/// output on its own schedule.
fn log(t: &mut Transcript, pod: &Pod, name: &str, lines: usize) -> String {
    let path = pod.logs.join(format!("{name}.log"));
    let read = || fs::read_to_string(&path).unwrap_or_default();
    let text = crate::settle(read, |text| text.lines().count() >= lines);
    let mut out = String::new();
    for line in text.lines() {
        let (time, rest) = line.split_once(' ').unwrap_or(("", line));
        // RFC 3339 with nanoseconds: 2006-01-02T15:04:05.999999999Z07:00.
        let time_ok = time.len() >= 20 && time.as_bytes()[10] == b'T';
        if !time_ok {
            out.push_str(&format!("(bad time {time:?}) "));
        }
        match rest
            .strip_prefix("stdout F ")
            .and_then(|r| r.strip_prefix(KERNEL_PREFIX))
        {
            Some(kernel) => t.kernels.push(kernel.to_string()),
            None => out.push_str(&format!("{rest}\n")),
        }
    }
    out
}

/// Records a CRI call that answers nothing worth showing: `ok` or its
/// error code.
fn note_call<T>(
    t: &mut Transcript,
    label: &str,
    result: Result<T, clients::CriError>,
) -> Option<T> {
    match result {
        Ok(value) => {
            t.note(label, "ok");
            Some(value)
        }
        Err(e) => {
            t.note(label, &e.code);
            t.stderr.push_str(&format!("$ {label}\n{e}\n"));
            None
        }
    }
}

/// ExecSync in container `id`: its stdout and exit code, recorded as a
/// client command's are.
fn exec(t: &mut Transcript, cri: &Cri, label: &str, id: &str, script: &str) {
    let result = cri.call(
        "ExecSync",
        json!({"container_id": id, "cmd": ["sh", "-c", script], "timeout": 20}),
    );
    match result {
        Ok(reply) => {
            let out = Captured {
                stdout: clients::bytes_field(&reply["stdout"]),
                stderr: clients::bytes_field(&reply["stderr"]),
                exit: reply["exit_code"].as_i64().unwrap_or(0) as i32,
                timed_out: false,
            };
            t.record(label, &out, str::to_string);
        }
        Err(e) => {
            note_call::<()>(t, label, Err(e));
        }
    }
}

/// The container's state and exit code, from ContainerStatus.
fn exit_status(t: &mut Transcript, cri: &Cri, label: &str, id: &str) {
    match cri.wait_exited(id, SETTLE_WAIT) {
        Ok(code) => t.note(label, &format!("exited {code}")),
        Err(why) => t.note(label, &why),
    }
}

/// The whole flow under `handler`; the pod is gone at the end, and what is
/// left of it is noted.
fn pod_flow(t: &mut Transcript, containerd: &Containerd, cri: &Cri, rt: Runtime) {
    let handler = rt.name();
    let pod = match Pod::run(cri, containerd, handler) {
        Ok(pod) => pod,
        Err(why) => {
            t.note("RunPodSandbox", &why);
            return;
        }
    };
    t.note("RunPodSandbox", "ok");
    let socket = shim_socket(containerd, &pod.id);
    t.note("the shim's socket exists", &socket.exists().to_string());

    let echo = format!("{PRINT_KERNEL}; {ECHO}");
    let Some(echo) = note_call(
        t,
        "start echo: sh -c 'echo hello; hostname; exit 3'",
        pod.start("echo", &echo),
    ) else {
        return;
    };
    let Some(term) = note_call(
        t,
        "start term: sh -c 'trap ... TERM; echo ready; ...'",
        pod.start("term", TERM),
    ) else {
        return;
    };
    exit_status(t, cri, "status echo", &echo);
    let text = log(t, &pod, "echo", 3);
    t.note("log echo", text.trim_end());
    // The trap is set once `ready` is logged.
    let text = log(t, &pod, "term", 2);
    t.note("log term (running)", text.trim_end());
    exec(
        t,
        cri,
        "exec term: hostname",
        &term,
        &format!("{PRINT_KERNEL}; hostname"),
    );
    exec(
        t,
        cri,
        "exec term: echo in exec; exit 5",
        &term,
        "echo in exec; exit 5",
    );
    note_call(
        t,
        "StopContainer term (SIGTERM)",
        cri.call(
            "StopContainer",
            json!({"container_id": term, "timeout": 20}),
        ),
    );
    exit_status(t, cri, "status term", &term);
    let text = log(t, &pod, "term", 3);
    t.note("log term (stopped)", text.trim_end());

    let ids: Vec<String> = [&pod.id, &echo, &term].map(String::clone).to_vec();
    note_call(
        t,
        "StopPodSandbox + RemovePodSandbox",
        cri.remove_pod(&pod.id),
    );
    let left = crate::settle(|| leftovers(containerd, &pod, &ids, &socket), Vec::is_empty);
    t.note("left behind", &format!("{left:#?}"));
}

/// Where containerd puts the socket of the shim serving pod `id`:
/// `/run/containerd/s/<sha256 of "<address>/<namespace>/<id>">`. The flow
/// checks that it exists while the pod runs, so a change of that naming
/// cannot turn the check that it is gone afterwards into a no-op.
fn shim_socket(containerd: &Containerd, id: &str) -> PathBuf {
    let key = format!("{}/{CRI_NAMESPACE}/{id}", containerd.address().display());
    let hash: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Path::new("/run/containerd/s").join(hash)
}

/// What is left of a removed pod (`ids`: the pod's and its containers'):
/// processes or mounts naming an id, mounts under containerd's directory
/// (the pod's network namespace is one, named by a uuid), the pod's
/// cgroups, the shim's socket, runtime state, filestore files.
fn leftovers(containerd: &Containerd, pod: &Pod, ids: &[String], socket: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let names_an_id = |text: &str| ids.iter().any(|id| text.contains(id.as_str()));
    for (pid, cmdline) in process::command_lines() {
        if names_an_id(&cmdline) {
            left.push(format!("process {pid}: {cmdline}"));
        }
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let containerd_dir = containerd.dir().to_string_lossy();
    left.extend(
        mountinfo
            .lines()
            .filter(|l| names_an_id(l) || l.contains(containerd_dir.as_ref()))
            .map(|l| format!("mount {l}")),
    );
    for dir in pod.cgroup_dirs() {
        for child in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if child.path().is_dir() {
                left.push(format!("cgroup {}", child.path().display()));
            }
        }
    }
    if socket.exists() {
        left.push(format!("shim socket {}", socket.display()));
    }
    for id in ids {
        for state in [
            containerd.vigil_state().join(id),
            containerd.dir().join("runc").join(CRI_NAMESPACE).join(id),
        ] {
            if state.exists() {
                left.push(format!("runtime state {}", state.display()));
            }
        }
    }
    let mut files = BTreeSet::new();
    find_named(containerd.dir(), "filestore", &mut files);
    left.extend(
        files
            .into_iter()
            .map(|f| format!("filestore {}", f.display())),
    );
    left
}

/// Every path under `dir` whose name contains `part`.
fn find_named(dir: &Path, part: &str, found: &mut BTreeSet<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(part) {
            found.insert(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            find_named(&path, part, found);
        }
    }
}

/// The flow's transcript under runc (so under Linux).
const EXPECTED: &str = "\
$ RunPodSandbox
ok
$ the shim's socket exists
true
$ start echo: sh -c 'echo hello; hostname; exit 3'
ok
$ start term: sh -c 'trap ... TERM; echo ready; ...'
ok
$ status echo
exited 3
$ log echo
stdout F hello
stdout F vigil-pod
$ log term (running)
stdout F ready
stdout F vigil-pod
$ exec term: hostname
vigil-pod
[exit 0]
$ exec term: echo in exec; exit 5
in exec
[exit 5]
$ StopContainer term (SIGTERM)
ok
$ status term
exited 42
$ log term (stopped)
stdout F ready
stdout F vigil-pod
stdout F got TERM
$ StopPodSandbox + RemovePodSandbox
ok
$ left behind
[]
";

#[test]
fn pod_lifecycle() {
    let containerd = containerd();
    let cri = cri(&containerd);
    differential("cri::pod_lifecycle", EXPECTED, |rt| {
        let mut t = Transcript::new();
        let t0 = Instant::now();
        pod_flow(&mut t, &containerd, &cri, rt);
        eprintln!("{}: pod flow in {:?}", rt.name(), t0.elapsed());
        t
    });
}

/// A pod's containers run in one sentry: vigil's sandbox is the pod, not
/// the container. A sentry runs its application processes in a pid
/// namespace of its own (the sandbox's), so two containers share a sentry
/// exactly when their processes share a pid namespace that is not the
/// host's. Their host pids are the shim's answer to `Pids` (`ctr task
/// ps`); the pid containerd names for a pod's workload container is that
/// of the host process that waits for it, not one of its processes. Under
/// runc the namespaces differ: Kubernetes gives each container its own
/// pid namespace, so this is a vigil-only check.
#[test]
fn pod_containers_share_one_sentry() {
    let containerd = containerd();
    let cri = cri(&containerd);
    let pod = Pod::run(&cri, &containerd, Runtime::Vigil.name()).unwrap_or_else(|e| panic!("{e}"));
    let pid_namespace = |name: &str| {
        let id = pod
            .start(name, "echo ready; sleep 1000 & while :; do wait; done")
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let ps = containerd.run(&["-n", "k8s.io", "task", "ps", &id], b"");
        assert_eq!(ps.exit, 0, "{}", String::from_utf8_lossy(&ps.stderr));
        // `PID INFO` lines after a header.
        let pid = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .skip(1)
            .find_map(|l| l.split_whitespace().next()?.parse::<i32>().ok())
            .unwrap_or_else(|| panic!("no process of {name}"));
        fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap_or_else(|e| panic!("pid {pid}: {e}"))
    };
    let (a, b) = (pid_namespace("a"), pid_namespace("b"));
    let host = fs::read_link("/proc/self/ns/pid").expect("the test's pid namespace");
    assert_ne!(a, host, "a container's process outside the sandbox");
    assert_eq!(a, b, "the pod's containers run in different sandboxes");
}

/// containerd restarting while a pod runs finds the pod's shim again at
/// the address it recorded (the socket's name depends only on containerd's
/// address, the namespace and the pod) and the CRI goes on with the pod:
/// its running container answers ExecSync, and the pod is stopped and
/// removed as usual, leaving nothing.
#[test]
fn a_restarted_containerd_finds_the_pods_shim() {
    let mut containerd = containerd();
    let cri = cri(&containerd);
    let pod = Pod::run(&cri, &containerd, Runtime::Vigil.name()).unwrap_or_else(|e| panic!("{e}"));
    let id = pod
        .start("a", "echo ready; sleep 1000 & while :; do wait; done")
        .unwrap_or_else(|e| panic!("starting a: {e}"));
    let socket = shim_socket(&containerd, &pod.id);
    assert!(socket.exists(), "no shim socket at {}", socket.display());
    containerd
        .restart()
        .unwrap_or_else(|e| panic!("restarting containerd: {e}"));
    // The client reconnects on its own; the CRI plugin answers once it has
    // loaded its pods again.
    let state = crate::settle(
        || {
            cri.container_status(&id)
                .map(|s| s["state"].as_str().unwrap_or("").to_string())
                .unwrap_or_else(|e| e.to_string())
        },
        |state| state == "CONTAINER_RUNNING",
    );
    assert_eq!(state, "CONTAINER_RUNNING");
    let reply = cri
        .call(
            "ExecSync",
            json!({"container_id": id, "cmd": ["sh", "-c", "echo alive; hostname"], "timeout": 20}),
        )
        .unwrap_or_else(|e| panic!("ExecSync after the restart: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&clients::bytes_field(&reply["stdout"])),
        format!("alive\n{HOSTNAME}\n")
    );
    cri.remove_pod(&pod.id)
        .unwrap_or_else(|e| panic!("removing the pod: {e}"));
    let ids = [pod.id.clone(), id];
    let left = crate::settle(
        || leftovers(&containerd, &pod, &ids, &socket),
        Vec::is_empty,
    );
    assert!(left.is_empty(), "left behind: {left:#?}");
}
