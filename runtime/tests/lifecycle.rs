//! The runc verbs of the `vigil` binary, driven the way containerd's runc
//! shim and conmon drive a runtime: `create` with a pid file, `start`,
//! `state`, `exec`, `ps`, `kill`, `delete`, with this test process as the
//! subreaper that reaps the container's pid and reads its exit status.
//! The same flow runs under runc on the same bundle; both must print the
//! same and exit the same (differential), and vigil must leave nothing.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One runtime binary with a state root of its own.
struct Runtime {
    bin: PathBuf,
    root: PathBuf,
}

impl Runtime {
    fn vigil(b: &Bundle) -> Runtime {
        Runtime {
            bin: VIGIL.into(),
            root: b.state_root(),
        }
    }

    fn runc(b: &Bundle) -> Option<Runtime> {
        Some(Runtime {
            bin: runc()?.into(),
            root: b.path().join("runc-state"),
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn out(&self, args: &[&str]) -> Output {
        output_within(self.cmd(args), LIMIT)
    }

    /// `create` with a pid file; the container's stdout and stderr go to
    /// `log` (a file, read after the container ends). Returns the pid.
    fn create(&self, b: &Bundle, id: &str, log: &Path) -> i32 {
        let pid_file = b.path().join(format!("{id}.pid"));
        let log = std::fs::File::create(log).unwrap();
        let mut cmd = self.cmd(&["create", "--bundle"]);
        cmd.arg(b.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let status = cmd.status().unwrap();
        assert!(status.success(), "{} create failed", self.bin.display());
        std::fs::read_to_string(&pid_file).unwrap().parse().unwrap()
    }

    fn status(&self, id: &str) -> String {
        let out = self.out(&["state", id]);
        assert!(out.status.success(), "state: {}", stderr(&out));
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        state["status"].as_str().unwrap().to_string()
    }
}

/// Makes this test process the subreaper of everything it starts, as the
/// shim and conmon are: an orphaned container init becomes its child.
fn become_subreaper() {
    // SAFETY: a plain prctl on this process.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0);
}

/// Waits for our (adopted) child `pid`; its shell status.
fn reap(pid: i32) -> i32 {
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a child of this process, writing one int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid {pid}: {}", std::io::Error::last_os_error());
        if r == pid {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        assert!(Instant::now() < deadline, "{pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What one runtime did in [`lifecycle`], to compare across runtimes.
#[derive(Debug, PartialEq)]
struct Transcript {
    states: Vec<String>,
    exec_stdout: String,
    exec_status: Option<i32>,
    container_output: String,
    init_status: i32,
    kill_after_exit: Option<i32>,
    delete_status: Option<i32>,
}

/// create, state, start, exec, kill, reap, kill again, delete.
fn lifecycle(rt: &Runtime, b: &Bundle, id: &str) -> Transcript {
    let log = b.path().join(format!("{id}.log"));
    let pid = rt.create(b, id, &log);
    let mut states = vec![rt.status(id)];
    assert!(rt.out(&["start", id]).status.success());
    states.push(rt.status(id));
    let exec = rt.out(&["exec", id, "sh", "-c", "echo from exec; exit 5"]);
    assert!(rt.out(&["kill", id, "TERM"]).status.success());
    let init_status = reap(pid);
    states.push(rt.status(id));
    let kill_after_exit = rt.out(&["kill", id, "KILL"]);
    assert!(stderr(&kill_after_exit).contains("container not running"));
    let delete = rt.out(&["delete", id]);
    Transcript {
        states,
        exec_stdout: String::from_utf8_lossy(&exec.stdout).into_owned(),
        exec_status: exec.status.code(),
        container_output: std::fs::read_to_string(&log).unwrap(),
        init_status,
        kill_after_exit: kill_after_exit.status.code(),
        delete_status: delete.status.code(),
    }
}

#[test]
fn the_lifecycle_matches_runc() {
    become_subreaper();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'echo term; exit 3' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    let vigil = lifecycle(&Runtime::vigil(&b), &b, "life");
    assert_eq!(
        vigil,
        Transcript {
            states: vec!["created".into(), "running".into(), "stopped".into()],
            exec_stdout: "from exec\n".into(),
            exec_status: Some(5),
            container_output: "started\nterm\n".into(),
            init_status: 3,
            kill_after_exit: Some(1),
            delete_status: Some(0),
        }
    );
    assert!(!b.state_root().join("life").exists());
    assert_no_leftovers(b.path());
    if let Some(runc) = Runtime::runc(&b) {
        assert_eq!(lifecycle(&runc, &b, "life"), vigil);
    }
}

#[test]
fn sigkill_ends_the_container_with_137() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "k", &b.path().join("k.log"));
    assert!(rt.out(&["start", "k"]).status.success());
    let kill = rt.out(&["kill", "k", "9"]);
    assert!(kill.status.success(), "{}", stderr(&kill));
    assert_eq!(reap(pid), 137);
    assert_eq!(rt.status("k"), "stopped");
    assert!(rt.out(&["delete", "k"]).status.success());
    assert_no_leftovers(b.path());
}

#[test]
fn a_created_container_can_be_deleted_and_leaves_nothing() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "c", &b.path().join("c.log"));
    assert_eq!(rt.status("c"), "created");
    let out = rt.out(&["delete", "c"]);
    assert!(out.status.success(), "{}", stderr(&out));
    reap(pid);
    assert!(!b.state_root().join("c").exists());
    assert_no_leftovers(b.path());
}

#[test]
fn a_running_container_is_deleted_only_with_force() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "r", &b.path().join("r.log"));
    assert!(rt.out(&["start", "r"]).status.success());
    let refused = rt.out(&["delete", "r"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("cannot delete container r that is not stopped: running"),
        "{}",
        stderr(&refused)
    );
    assert!(rt.out(&["delete", "--force", "r"]).status.success());
    assert_eq!(reap(pid), 137);
    assert!(!b.state_root().join("r").exists());
    assert_no_leftovers(b.path());
}

#[test]
fn detached_exec_leaves_a_process_that_exits_with_the_status() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "e", &b.path().join("e.log"));
    assert!(rt.out(&["start", "e"]).status.success());
    let pid_file = b.path().join("exec.pid");
    let out = rt.out(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "e",
        "sh",
        "-c",
        "sleep 0.2; exit 4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let exec_pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(reap(exec_pid), 4);
    assert!(rt.out(&["delete", "--force", "e"]).status.success());
    reap(pid);
    assert_no_leftovers(b.path());
}

#[test]
fn ps_lists_the_host_pids_of_the_containers_processes() {
    become_subreaper();
    let b = Bundle::new(&["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "p", &b.path().join("p.log"));
    assert!(rt.out(&["start", "p"]).status.success());
    let pids = ps_host_pids(&rt, "p", 3);
    // sh and its two sleeps, each a host process running the busybox image.
    assert_eq!(pids.len(), 3, "{pids:?}");
    for p in &pids {
        assert!(
            Path::new(&format!("/proc/{p}/stat")).exists(),
            "{p} is not a live process"
        );
    }
    // Tools that enter the container's mount namespace through its pid
    // (podman top) find its processes, by their sandbox pids, at /proc.
    let init = std::fs::read(format!("/proc/{pid}/root/proc/1/cmdline")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&init).replace('\0', " "),
        "sh -c sleep 100 & sleep 100 & wait "
    );
    assert!(rt.out(&["kill", "--all", "p", "KILL"]).status.success());
    reap(pid);
    assert!(rt.out(&["delete", "p"]).status.success());
    assert_no_leftovers(b.path());
}

#[test]
fn verbs_on_an_unknown_container_fail_like_runc() {
    let b = Bundle::new(&["true"]);
    let rt = Runtime::vigil(&b);
    for verb in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope", "KILL"],
        &["delete", "nope"],
        &["ps", "nope"],
    ] {
        let out = rt.out(verb);
        assert_eq!(out.status.code(), Some(1), "{verb:?}");
        assert!(
            stderr(&out).contains("container does not exist"),
            "{verb:?}: {}",
            stderr(&out)
        );
    }
    // runc: deleting what does not exist with --force succeeds.
    assert!(rt.out(&["delete", "--force", "nope"]).status.success());
}

#[test]
fn a_duplicate_id_is_refused_and_the_first_container_lives_on() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "d", &b.path().join("d.log"));
    let mut again = rt.cmd(&["create", "--bundle"]);
    again.arg(b.path()).arg("d");
    let out = output_within(again, LIMIT);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(rt.status("d"), "created");
    assert!(rt.out(&["delete", "d"]).status.success());
    reap(pid);
    assert_no_leftovers(b.path());
}

#[test]
fn create_with_a_missing_entrypoint_fails_and_leaves_nothing() {
    let b = Bundle::new(&["nosuchprog"]);
    let rt = Runtime::vigil(&b);
    let mut cmd = rt.cmd(&["create", "--bundle"]);
    cmd.arg(b.path()).arg("x");
    let out = output_within(cmd, LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"exec: "nosuchprog": executable file not found in $PATH"#),
        "{}",
        stderr(&out)
    );
    assert!(!b.state_root().join("x").exists());
    assert_no_leftovers(b.path());
}

#[test]
fn errors_go_to_the_json_log_for_the_runc_shim() {
    let b = Bundle::new(&["true"]);
    let rt = Runtime::vigil(&b);
    let log = b.path().join("log.json");
    let out = rt.out(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "kill",
        "nope",
        "KILL",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"]
        .as_str()
        .unwrap()
        .contains("container does not exist"));
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn list_shows_each_container_with_its_status() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "l1", &b.path().join("l1.log"));
    let out = rt.out(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], "l1");
    assert_eq!(list[0]["status"], "created");
    assert_eq!(list[0]["pid"], pid);
    let quiet = rt.out(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), "l1\n");
    assert!(rt.out(&["delete", "l1"]).status.success());
    reap(pid);
}

#[test]
fn pause_freezes_and_resume_thaws_like_runc() {
    become_subreaper();
    let b = Bundle::new(&["sh", "-c", "while true; do echo tick; sleep 0.05; done"]);
    let rt = Runtime::vigil(&b);
    let log = b.path().join("z.log");
    let pid = rt.create(&b, "z", &log);
    assert!(rt.out(&["start", "z"]).status.success());
    std::thread::sleep(Duration::from_millis(200));
    let out = rt.out(&["pause", "z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rt.status("z"), "paused");
    let before = std::fs::read_to_string(&log).unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&log).unwrap().len(), before);
    assert!(rt.out(&["resume", "z"]).status.success());
    assert_eq!(rt.status("z"), "running");
    std::thread::sleep(Duration::from_millis(300));
    assert!(std::fs::read_to_string(&log).unwrap().len() > before);
    let again = rt.out(&["resume", "z"]);
    assert!(stderr(&again).contains("container not paused"));
    assert!(rt.out(&["delete", "--force", "z"]).status.success());
    assert_eq!(reap(pid), 137);
    assert_no_leftovers(b.path());
}

#[test]
fn events_stats_report_the_containers_usage() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "s", &b.path().join("s.log"));
    assert!(rt.out(&["start", "s"]).status.success());
    let out = rt.out(&["events", "--stats", "s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], "s");
    assert!(event["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(event["data"]["pids"]["current"].as_u64().unwrap() > 0);
    assert!(rt.out(&["delete", "--force", "s"]).status.success());
    reap(pid);
    assert_no_leftovers(b.path());
}

#[test]
fn only_root_reaches_a_containers_sockets() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "o", &b.path().join("o.log"));
    let dir = b.state_root().join("o");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // Root connects; an unprivileged user cannot.
    let sock = dir.join("control.sock");
    assert_eq!(connect_as(&sock, 0), 0);
    assert_eq!(connect_as(&sock, 65534), libc::EACCES);
    assert!(rt.out(&["delete", "o"]).status.success());
    reap(pid);
}

#[test]
fn garbage_on_the_sockets_does_not_hurt_the_sandbox() {
    become_subreaper();
    let b = Bundle::new(&["sleep", "100"]);
    let rt = Runtime::vigil(&b);
    let pid = rt.create(&b, "g", &b.path().join("g.log"));
    let dir = b.state_root().join("g");
    // Random bytes to the ttrpc socket, and malformed hand-overs (short,
    // long, with no FDs) to the FD socket.
    use std::io::Write as _;
    for n in [1usize, 7, 16, 100, 5000] {
        let garbage: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(dir.join("control.sock")) {
            let _ = s.write_all(&garbage);
        }
        let seq = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            None,
        )
        .unwrap();
        let addr = rustix::net::SocketAddrUnix::new(dir.join("fds.sock")).unwrap();
        if rustix::net::connect(&seq, &addr).is_ok() {
            let _ = rustix::net::send(&seq, &garbage, rustix::net::SendFlags::empty());
        }
    }
    assert!(rt.out(&["start", "g"]).status.success());
    let exec = rt.out(&["exec", "g", "sh", "-c", "echo still serving"]);
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout),
        "still serving\n",
        "{}",
        stderr(&exec)
    );
    assert!(rt.out(&["delete", "--force", "g"]).status.success());
    assert_eq!(reap(pid), 137);
    assert_no_leftovers(b.path());
}

/// The errno of connecting to the unix socket at `path` as `uid` (0 when it
/// connects), tried in a forked child.
fn connect_as(path: &Path, uid: u32) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len());
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: the child makes only raw system calls on memory prepared
    // above, then exits.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0);
        if pid == 0 {
            if libc::setgid(uid) != 0 || libc::setuid(uid) != 0 {
                libc::_exit(255);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let r = libc::connect(
                fd,
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            );
            libc::_exit(if r == 0 { 0 } else { *libc::__errno_location() });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::WEXITSTATUS(status)
    }
}

/// A bundle of a pod's container: `args` with CRI's annotations for its
/// `kind` (`sandbox` or `container`) in pod `sandbox_id`, `marker` in a
/// file `/marker` of its own rootfs, and `hostname` if given.
fn pod_bundle(args: &[&str], kind: &str, sandbox_id: &str, marker: &str) -> Bundle {
    let b = Bundle::new(args);
    let root = b.path().join("rootfs");
    std::fs::write(root.join("marker"), marker).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/hostname")).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(&spec(args, "")).unwrap();
    spec["annotations"] = serde_json::json!({
        "io.kubernetes.cri.container-type": kind,
        "io.kubernetes.cri.sandbox-id": sandbox_id,
    });
    spec["hostname"] = match kind {
        "sandbox" => "vigil-pod".into(),
        _ => serde_json::Value::Null,
    };
    b.config(&spec.to_string());
    b
}

/// A pod's sandbox (pause) container `id`, created and started with this
/// test as its subreaper. It and its `workloads` are deleted with
/// `--force` when dropped, so that a failed test leaves no detached
/// sandbox behind.
struct Pod {
    pause: Bundle,
    rt: Runtime,
    id: &'static str,
    workloads: &'static [&'static str],
    /// The sandbox's host pid.
    pid: i32,
}

impl Pod {
    fn start(id: &'static str, workloads: &'static [&'static str]) -> Pod {
        become_subreaper();
        let pause = pod_bundle(&["sleep", "1000"], "sandbox", id, "pause");
        let rt = Runtime::vigil(&pause);
        let mut pod = Pod {
            pause,
            rt,
            id,
            workloads,
            pid: 0,
        };
        let log = pod.pause.path().join(format!("{id}.log"));
        pod.pid = pod.rt.create(&pod.pause, id, &log);
        assert!(pod.rt.out(&["start", id]).status.success());
        pod
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        for id in self.workloads.iter().chain([&self.id]) {
            let _ = self.rt.cmd(&["delete", "--force", id]).output();
        }
    }
}

/// Whether host process `pid` descends from `ancestor`.
fn descends_from(pid: i32, ancestor: i32) -> bool {
    let mut pid = pid;
    for _ in 0..64 {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        let ppid: i32 = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if ppid == ancestor {
            return true;
        }
        if ppid <= 1 {
            return false;
        }
        pid = ppid;
    }
    false
}

/// The host pids `vigil ps` reports for `id`, once there are `n`.
fn ps_host_pids(rt: &Runtime, id: &str, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = rt.out(&["ps", "--format", "json", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap();
        if pids.len() == n || Instant::now() > deadline {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pod as CRI runs it through an OCI runtime: the sandbox (pause)
/// container starts a sandbox, the workload container joins it. The
/// workload has its own root filesystem, sees the pod's hostname, runs
/// under the pod's one sentry, and its pid is a host process that exits
/// with its status; deleting it leaves the pod running, and deleting the
/// pod leaves nothing.
#[test]
fn a_pods_workload_container_joins_the_pods_sandbox() {
    let pod = Pod::start("pod", &["work"]);
    let (rt, pause, pod_pid) = (&pod.rt, &pod.pause, pod.pid);
    let work = pod_bundle(
        &["sh", "-c", "hostname; cat /marker; echo; sleep 100 & wait"],
        "container",
        "pod",
        "work",
    );

    let log = work.path().join("work.log");
    let work_pid = rt.create(&work, "work", &log);
    assert_ne!(work_pid, pod_pid);
    assert_eq!(rt.status("work"), "created");
    assert!(rt.out(&["start", "work"]).status.success());
    assert_eq!(rt.status("work"), "running");

    // sh and its sleep, children of the pod's sentry and not the pod's.
    let pids = ps_host_pids(rt, "work", 2);
    assert_eq!(pids.len(), 2, "{pids:?}");
    for p in &pids {
        assert!(descends_from(*p, pod_pid), "{p} is not under the sentry");
    }
    let pod_pids = ps_host_pids(rt, "pod", 1);
    assert!(pod_pids.iter().all(|p| !pids.contains(p)), "{pod_pids:?}");

    let exec = rt.out(&["exec", "work", "sh", "-c", "cat /marker; exit 5"]);
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "work");
    assert_eq!(exec.status.code(), Some(5), "{}", stderr(&exec));

    // The workload's init (sh, no handler) ignores TERM as any init does.
    assert!(rt.out(&["kill", "work", "KILL"]).status.success());
    assert_eq!(reap(work_pid), 137);
    assert_eq!(rt.status("work"), "stopped");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "vigil-pod\nwork\n");
    assert!(rt.out(&["delete", "work"]).status.success());
    assert_no_leftovers(work.path());
    assert_eq!(rt.status("pod"), "running");

    assert!(rt.out(&["kill", "pod", "KILL"]).status.success());
    assert_eq!(reap(pod_pid), 137);
    assert!(rt.out(&["delete", "pod"]).status.success());
    assert_no_leftovers(pause.path());
    assert_eq!(std::fs::read_dir(pause.state_root()).unwrap().count(), 0);
}

/// A workload container whose pod's sandbox does not exist is refused,
/// with nothing left behind; so is pausing one container of a pod.
#[test]
fn a_workload_container_needs_its_pods_sandbox() {
    let work = pod_bundle(&["true"], "container", "nopod", "work");
    let rt = Runtime::vigil(&work);
    let mut create = rt.cmd(&["create", "--bundle"]);
    create.arg(work.path()).arg("work");
    assert_fails(
        &output_within(create, LIMIT),
        "the sandbox of container work: nopod: container does not exist",
    );
    assert!(rt.out(&["state", "work"]).status.code() == Some(1));
    assert_no_leftovers(work.path());
}

/// Pausing freezes a sandbox: a pod's workload container alone cannot be
/// paused, its pod can. (Its ids differ from the other pod test's: a
/// container without `cgroupsPath` gets a cgroup named after its id.)
#[test]
fn one_container_of_a_pod_is_not_paused_alone() {
    let pod = Pod::start("pod2", &["work2"]);
    let (rt, pause, pod_pid) = (&pod.rt, &pod.pause, pod.pid);
    let work = pod_bundle(&["sleep", "1000"], "container", "pod2", "work2");
    let work_pid = rt.create(&work, "work2", &work.path().join("work2.log"));
    assert!(rt.out(&["start", "work2"]).status.success());
    assert_fails(
        &rt.out(&["pause", "work2"]),
        "shares the sandbox of container pod2",
    );
    assert!(rt.out(&["pause", "pod2"]).status.success());
    assert_eq!(rt.status("work2"), "paused");
    assert!(rt.out(&["resume", "pod2"]).status.success());
    assert_eq!(rt.status("work2"), "running");
    // Deleting the pod first ends its containers with it.
    assert!(rt.out(&["delete", "--force", "pod2"]).status.success());
    assert_eq!(reap(pod_pid), 137);
    assert_eq!(reap(work_pid), 137);
    assert_eq!(rt.status("work2"), "stopped");
    assert!(rt.out(&["delete", "work2"]).status.success());
    assert_no_leftovers(pause.path());
    assert_no_leftovers(work.path());
}

/// `vigil run` of a pod's workload container joins the pod's sandbox and
/// runs in the foreground: its output and status are vigil's, and nothing
/// of it is left after; the pod runs on.
#[test]
fn run_joins_a_pod_in_the_foreground() {
    let pod = Pod::start("pod3", &["work3"]);
    let (rt, pause, pod_pid) = (&pod.rt, &pod.pause, pod.pid);
    let work = pod_bundle(
        &["sh", "-c", "hostname; cat /marker; echo; exit 7"],
        "container",
        "pod3",
        "work3",
    );
    let mut run = rt.cmd(&["run", "--bundle"]);
    run.arg(work.path()).arg("work3");
    let out = output_within(run, LIMIT);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "vigil-pod\nwork3\n");
    assert_no_leftovers(work.path());
    assert_fails(&rt.out(&["state", "work3"]), "container does not exist");
    assert_eq!(rt.status("pod3"), "running");
    assert!(rt.out(&["delete", "--force", "pod3"]).status.success());
    assert_eq!(reap(pod_pid), 137);
    assert_no_leftovers(pause.path());
}
