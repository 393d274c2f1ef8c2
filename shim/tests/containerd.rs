//! containerd drives `containerd-shim-vigil-v2` through `ctr`, as users do:
//! every container must be served by the sentry (`uname -v` says vigil),
//! and nothing of it may be left afterwards. Needs root, containerd and
//! ctr.

mod common;

use common::{id, text, Containerd, IMAGE, RUNTIME};
use integration::process::run_feeding_when;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn run_prints_stdout_and_exits_with_the_status() {
    let c = Containerd::start();
    let id = id("run");
    let out = c.run(&[
        "--rm",
        IMAGE,
        &id,
        "sh",
        "-c",
        "uname -v; echo to-out; echo to-err >&2; exit 3",
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("vigil"), "uname -v: {stdout:?}");
    assert!(stdout.contains("to-out"), "{stdout:?}");
    assert!(
        text(&out.stderr).contains("to-err"),
        "{:?}",
        text(&out.stderr)
    );
    assert_eq!(out.exit, 3, "stderr: {}", text(&out.stderr));
    c.assert_clean(&[&id]);
}

/// `ctr run -t` and `ctr task exec -t`: the shim relays a terminal the
/// sentry emulates to ctr's own (the test's pseudo-terminal).
#[test]
fn terminals_for_the_init_and_an_exec() {
    use integration::process::run_in_terminal;
    let c = Containerd::start();
    let id = id("tty");
    let limit = Duration::from_secs(30);
    let run = c
        .with_fifos(
            &["run", "--runtime", RUNTIME],
            &[
                "--rm",
                "-t",
                IMAGE,
                &id,
                "sh",
                "-c",
                "tty; uname -v; exit 3",
            ],
        )
        .command();
    let out = run_in_terminal(run, limit).unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("/dev/pts/0\r"), "{stdout:?}");
    assert!(stdout.contains("vigil"), "{stdout:?}");
    assert_eq!(out.exit, 3, "{stdout:?}");
    c.assert_clean(&[&id]);

    let id = self::id("ttyexec");
    let started = c.run(&["-d", IMAGE, &id, "sleep", "100"]);
    assert_eq!(started.exit, 0, "{}", text(&started.stderr));
    let exec = c
        .with_fifos(
            &["task", "exec"],
            &["-t", "--exec-id", "t1", &id, "sh", "-c", "tty; exit 4"],
        )
        .command();
    let out = run_in_terminal(exec, limit).unwrap();
    assert!(!out.timed_out, "ctr task exec -t did not end");
    assert!(
        text(&out.stdout).starts_with("/dev/pts/"),
        "{:?}",
        text(&out.stdout)
    );
    assert_eq!(out.exit, 4);
    c.ctr(&["task", "kill", "-s", "KILL", &id]);
    c.wait_status(&id, "STOPPED");
    c.ctr(&["task", "delete", &id]);
    c.ctr(&["container", "delete", &id]);
    c.assert_clean(&[&id]);
}

#[test]
fn stdin_reaches_the_container() {
    let c = Containerd::start();
    let id = id("stdin");
    // ctr 1.6 closes the task's stdin (CloseIO) only if its own stdin ends
    // after the task exists: the writer stays open until the task runs.
    let mut cmd = c
        .with_fifos(
            &["run", "--runtime", RUNTIME],
            &[
                "--rm",
                IMAGE,
                &id,
                "sh",
                "-c",
                "uname -v; tr a-z A-Z; exit 5",
            ],
        )
        .command();
    let out = run_feeding_when(
        &mut cmd,
        b"hello shim\n",
        c.running(&id),
        Duration::from_secs(30),
        &mut || {},
    )
    .unwrap();
    assert!(!out.timed_out, "ctr run did not end");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("vigil"), "{stdout:?}");
    assert!(stdout.contains("HELLO SHIM"), "{stdout:?}");
    assert_eq!(out.exit, 5, "{}", text(&out.stderr));
    c.assert_clean(&[&id]);
}

#[test]
fn exec_ps_and_kill() {
    let c = Containerd::start();
    let id = id("exec");
    let run = c.run(&["-d", IMAGE, &id, "sleep", "60"]);
    assert_eq!(run.exit, 0, "{}", text(&run.stderr));
    c.wait_status(&id, "RUNNING");

    let exec = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "uname -v; exit 4",
    ]);
    assert!(
        text(&exec.stdout).contains("vigil"),
        "{:?}",
        text(&exec.stdout)
    );
    assert_eq!(exec.exit, 4, "{}", text(&exec.stderr));

    let detached = c.exec(&["-d", "--exec-id", "e2", &id, "sleep", "60"]);
    assert_eq!(detached.exit, 0, "{}", text(&detached.stderr));
    let ps = text(&c.ctr(&["task", "ps", &id]).stdout);
    // The init and the exec'd sleep, by host pid; the exec named.
    assert_eq!(ps.lines().count(), 3, "{ps}");
    assert!(ps.contains("ExecID:e2"), "{ps}");

    let kill = c.ctr(&["task", "kill", "-s", "KILL", "--exec-id", "e2", &id]);
    assert_eq!(kill.exit, 0, "{}", text(&kill.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while text(&c.ctr(&["task", "ps", &id]).stdout).lines().count() != 2 {
        assert!(Instant::now() < deadline, "the exec'd process did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A process that is gone: NotFound, in runc's shim's words.
    let again = c.ctr(&["task", "kill", "-s", "KILL", "--exec-id", "e2", &id]);
    assert_ne!(again.exit, 0);
    assert!(
        text(&again.stderr).contains("not found"),
        "{}",
        text(&again.stderr)
    );

    let kill = c.ctr(&["task", "kill", "-s", "KILL", &id]);
    assert_eq!(kill.exit, 0, "{}", text(&kill.stderr));
    c.wait_status(&id, "STOPPED");
    let rm = c.ctr(&["task", "rm", &id]);
    assert_eq!(rm.exit, 0, "{}", text(&rm.stderr));
    assert!(text(&rm.stdout).contains("137") || text(&rm.stderr).contains("137"));
    let rm = c.ctr(&["containers", "rm", &id]);
    assert_eq!(rm.exit, 0, "{}", text(&rm.stderr));
    c.assert_clean(&[&id]);
}

#[test]
fn pause_resume_and_metrics() {
    let c = Containerd::start();
    let id = id("pause");
    let run = c.run(&["-d", IMAGE, &id, "sleep", "60"]);
    assert_eq!(run.exit, 0, "{}", text(&run.stderr));
    c.wait_status(&id, "RUNNING");

    let pause = c.ctr(&["task", "pause", &id]);
    assert_eq!(pause.exit, 0, "{}", text(&pause.stderr));
    assert_eq!(c.status(&id), "PAUSED");
    let resume = c.ctr(&["task", "resume", &id]);
    assert_eq!(resume.exit, 0, "{}", text(&resume.stderr));
    assert_eq!(c.status(&id), "RUNNING");
    // Still serving: an exec after the resume.
    let exec = c.exec(&["--exec-id", "e1", &id, "uname", "-v"]);
    assert!(
        text(&exec.stdout).contains("vigil"),
        "{}",
        text(&exec.stderr)
    );

    let metrics = c.ctr(&["task", "metrics", &id]);
    assert_eq!(metrics.exit, 0, "{}", text(&metrics.stderr));
    let table = text(&metrics.stdout);
    // cgroup v1 or v2 names, by the host.
    assert!(
        table.contains("pids.current") || table.contains("pids"),
        "{table}"
    );
    assert!(table.contains("memory"), "{table}");

    c.remove(&id);
    c.assert_clean(&[&id]);
}

#[test]
fn runtime_options_come_from_the_config_file() {
    let c = Containerd::start();
    let id = id("options");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "binary_name = \"{}\"\n[vigil]\ndebug-log = \"{}\"\nstrace = true\nplatform = \"ptrace\"\n",
            integration::harness::vigil_binary().display(),
            logs.display()
        ),
    )
    .unwrap();
    let out = c.run(&[
        "--runtime-config-path",
        config.to_str().unwrap(),
        "--rm",
        IMAGE,
        &id,
        "uname",
        "-v",
    ]);
    assert_eq!(out.exit, 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("vigil"));
    let sentry_log = std::fs::read_to_string(logs.join(format!("{id}.sentry.log")))
        .expect("the debug log the config asks for");
    assert!(!sentry_log.is_empty());

    // An option vigil does not have fails the create, with its name.
    std::fs::write(&config, "[vigil]\nplatform = \"kvm\"\n").unwrap();
    let bad = c.run(&[
        "--runtime-config-path",
        config.to_str().unwrap(),
        "--rm",
        IMAGE,
        &format!("{id}-bad"),
        "true",
    ]);
    assert_ne!(bad.exit, 0);
    assert!(
        text(&bad.stderr).contains("platform"),
        "{}",
        text(&bad.stderr)
    );
    c.assert_clean(&[&id, &format!("{id}-bad")]);
}

#[test]
fn a_dead_shim_is_cleaned_up() {
    let c = Containerd::start();
    let id = id("dead");
    let run = c.run(&["-d", IMAGE, &id, "sleep", "60"]);
    assert_eq!(run.exit, 0, "{}", text(&run.stderr));
    c.wait_status(&id, "RUNNING");
    let uname = c.exec(&["--exec-id", "u", &id, "uname", "-v"]);
    assert!(
        text(&uname.stdout).contains("vigil"),
        "{}",
        text(&uname.stderr)
    );
    let shim = c.shim_pid(&id).expect("the shim process");
    // SAFETY: a plain kill of a process found above.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    // containerd runs `containerd-shim-vigil-v2 delete`, which kills the
    // sandbox and removes its state.
    assert!(c.wait_ended(&id), "the task outlived its shim");
    let _ = c.ctr(&["task", "rm", "-f", &id]);
    let _ = c.ctr(&["containers", "rm", &id]);
    c.assert_clean(&[&id]);
}

#[test]
fn an_oom_kill_is_published_before_the_exit() {
    use std::io::BufRead;
    let c = Containerd::start();
    let id = id("oom");
    let mut events = c
        .ctr_command(&["events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = std::io::BufReader::new(events.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // `ctr events` subscribes on its own time: a namespace label it
    // reports says it is listening.
    let deadline = Instant::now() + Duration::from_secs(10);
    'subscribed: loop {
        assert!(Instant::now() < deadline, "ctr events never listened");
        let _ = c.ctr(&["namespaces", "label", "default", "probe=1"]);
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if line.contains("/namespaces/update") {
                break 'subscribed;
            }
        }
    }
    let out = c.run(&[
        "--memory-limit",
        "16777216",
        "--rm",
        IMAGE,
        &id,
        "sh",
        "-c",
        "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(out.exit, 137, "{}", text(&out.stderr));
    // The container's delete comes last.
    let mut topics = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        topics.extend(
            line.split_whitespace()
                .find(|w| w.starts_with("/tasks/"))
                .map(str::to_string),
        );
        if line.contains("/containers/delete") {
            break;
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    let oom = topics.iter().position(|t| t == "/tasks/oom");
    let exit = topics.iter().position(|t| t == "/tasks/exit");
    assert!(oom.is_some() && oom < exit, "{topics:?}");
    c.assert_clean(&[&id]);
}

#[test]
fn a_missing_program_fails_the_run_and_leaves_nothing() {
    let c = Containerd::start();
    let id = id("nope");
    let out = c.run(&["--rm", IMAGE, &id, "/nope"]);
    assert_ne!(out.exit, 0);
    // The sentry's reason, unless it ended before its answer left (then
    // the shim says so).
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\"/nope\": no such file") || stderr.contains("ended while starting"),
        "{stderr}"
    );
    let containers = text(&c.ctr(&["containers", "ls", "-q"]).stdout);
    assert!(!containers.contains(&id), "{containers}");
    c.assert_clean(&[&id]);
}

/// A raw call of the shim's task API: the response payload, or the error
/// status.
fn call(
    address: &str,
    service: &str,
    method: &str,
    req: &dyn containerd_shim_protos::protobuf::MessageDyn,
) -> Result<Vec<u8>, containerd_shim_protos::ttrpc::Error> {
    use containerd_shim_protos::ttrpc;
    let client =
        ttrpc::Client::connect(address).unwrap_or_else(|e| panic!("connect {address}: {e}"));
    let req = ttrpc::Request {
        service: service.into(),
        method: method.into(),
        payload: req.write_to_bytes_dyn().unwrap(),
        timeout_nano: 5_000_000_000,
        ..Default::default()
    };
    client.request(req).map(|r| r.payload)
}

/// The error code of a failed call.
fn code(result: Result<Vec<u8>, containerd_shim_protos::ttrpc::Error>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(containerd_shim_protos::ttrpc::Error::RpcStatus(s)) => format!("{:?}", s.code()),
        Err(e) => panic!("{e}"),
    }
}

/// containerd 1.6 calls `containerd.task.v2.Task` on the address `start`
/// printed; newer daemons call `containerd.task.v3.Task` on the crate's
/// own socket. Both answer, for the same tasks, with real error codes.
#[test]
fn the_task_api_answers_as_v2_and_v3() {
    use containerd_shim_protos::api::{
        CheckpointTaskRequest, ConnectRequest, ConnectResponse, KillRequest, ResizePtyRequest,
        UpdateTaskRequest,
    };
    use containerd_shim_protos::protobuf::well_known_types::any::Any;
    use containerd_shim_protos::protobuf::Message;

    let c = Containerd::start();
    let id = id("api");
    let run = c.run(&["-d", IMAGE, &id, "sleep", "60"]);
    assert_eq!(run.exit, 0, "{}", text(&run.stderr));
    c.wait_status(&id, "RUNNING");
    let v3 = c.shim_socket(&id).expect("the shim's -socket");
    let v2 = format!("{v3}-v2");
    const V3: &str = "containerd.task.v3.Task";
    const V2: &str = "containerd.task.v2.Task";

    let connect = ConnectRequest {
        id: id.clone(),
        ..Default::default()
    };
    let connected = |address: &str, service: &str| {
        let payload = call(address, service, "Connect", &connect)
            .unwrap_or_else(|e| panic!("{service}/Connect: {e}"));
        ConnectResponse::parse_from_bytes(&payload).unwrap()
    };
    let new = connected(&v3, V3);
    let old = connected(&v2, V2);
    assert_ne!(new.task_pid, 0);
    assert_eq!((new.task_pid, new.shim_pid), (old.task_pid, old.shim_pid));
    let listed = text(&c.ctr(&["task", "ls"]).stdout);
    assert!(listed.contains(&new.task_pid.to_string()), "{listed}");

    // Update applies resources to the sandbox's cgroup.
    let limit = 96 * 1024 * 1024;
    let update = UpdateTaskRequest {
        id: id.clone(),
        resources: Some(Any {
            type_url: "opencontainers/runtime-spec/1/LinuxResources".into(),
            value: format!(r#"{{"memory":{{"limit":{limit}}}}}"#).into_bytes(),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    assert_eq!(code(call(&v2, V2, "Update", &update)), "OK");
    let v1 = format!("/sys/fs/cgroup/memory/default/{id}/memory.limit_in_bytes");
    let v2_file = format!("/sys/fs/cgroup/default/{id}/memory.max");
    let set = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2_file))
        .expect("the sandbox's memory cgroup");
    assert_eq!(set.trim(), limit.to_string());

    let checkpoint = CheckpointTaskRequest {
        id: id.clone(),
        ..Default::default()
    };
    assert_eq!(
        code(call(&v2, V2, "Checkpoint", &checkpoint)),
        "UNIMPLEMENTED"
    );
    let resize = ResizePtyRequest {
        id: id.clone(),
        width: 80,
        height: 24,
        ..Default::default()
    };
    // A container without a terminal has nothing to resize: fine, as
    // under runc's shim.
    assert_eq!(code(call(&v2, V2, "ResizePty", &resize)), "OK");
    let kill = KillRequest {
        id: "no-such-container".into(),
        signal: 9,
        ..Default::default()
    };
    assert_eq!(code(call(&v2, V2, "Kill", &kill)), "NOT_FOUND");

    c.remove(&id);
    c.assert_clean(&[&id]);
}

/// CRI marks a pod's containers with the pod's sandbox id: containerd
/// then asks the shim of the first for the others, through the same
/// address.
#[test]
fn containers_of_one_pod_share_a_shim() {
    let c = Containerd::start();
    let pod = id("pod");
    let second = id("pod-b");
    let group = format!("io.kubernetes.cri.sandbox-id={pod}");
    for id in [&pod, &second] {
        let run = c.run(&["-d", "--annotation", &group, IMAGE, id, "sleep", "60"]);
        assert_eq!(run.exit, 0, "{id}: {}", text(&run.stderr));
        c.wait_status(id, "RUNNING");
    }
    let exec = c.exec(&["--exec-id", "u", &second, "uname", "-v"]);
    assert!(
        text(&exec.stdout).contains("vigil"),
        "{}",
        text(&exec.stderr)
    );
    assert!(c.shim_pid(&pod).is_some(), "the pod's shim");
    assert_eq!(c.shim_pid(&second), None, "a second shim");

    // The shim stays for the container left, then goes with it.
    c.remove(&second);
    assert_eq!(c.status(&pod), "RUNNING");
    let exec = c.exec(&["--exec-id", "u2", &pod, "uname", "-v"]);
    assert!(
        text(&exec.stdout).contains("vigil"),
        "{}",
        text(&exec.stderr)
    );
    c.remove(&pod);
    c.assert_clean(&[&pod, &second]);
}

/// containerd restarting while a container runs finds its shim again at
/// the address it recorded (the shim's socket is stable) and drives the
/// container as before: exec, kill, exit status, delete.
#[test]
fn a_restarted_containerd_finds_the_running_shim() {
    let mut c = Containerd::start();
    let id = id("restart");
    let started = c.run(&["-d", IMAGE, &id, "sleep", "100"]);
    assert_eq!(started.exit, 0, "{}", text(&started.stderr));
    let shim = c.shim_pid(&id).expect("a shim serves the container");
    c.restart();
    assert_eq!(c.shim_pid(&id), Some(shim), "the shim lived on");
    assert_eq!(c.status(&id), "RUNNING");
    let exec = c.exec(&["--exec-id", "e1", &id, "sh", "-c", "uname -v; exit 6"]);
    assert!(
        text(&exec.stdout).contains("vigil"),
        "{:?}",
        text(&exec.stdout)
    );
    assert_eq!(exec.exit, 6, "{}", text(&exec.stderr));
    let kill = c.ctr(&["task", "kill", "-s", "KILL", &id]);
    assert_eq!(kill.exit, 0, "{}", text(&kill.stderr));
    c.wait_status(&id, "STOPPED");
    c.remove(&id);
    c.assert_clean(&[&id]);
}
