//! ctr through containerd's runc shim with the runtime as the shim's
//! binary (`--runc-binary`): the shim calls `RUNTIME --root R --log
//! <bundle>/log.json --log-format json VERB …` for create, start, exec, ps,
//! pause, resume, kill and delete.
//!
//! ctr 1.6 forwards its stdin's EOF to the task (CloseIO) only if it comes
//! after the task exists; an earlier EOF is lost and a container reading
//! stdin never ends. The stdin scenario holds its input back until the task
//! is running.

use std::ffi::OsStr;
use std::process::Command;

use integration::clients::{self, Containerd};
use integration::harness::Runtime;
use integration::image;
use integration::process;

use crate::{
    differential, differential_command, settle, started, Transcript, PRINT_KERNEL, WAIT_READY,
};

fn containerd() -> Containerd {
    let containerd = started("containerd", Containerd::start());
    eprintln!("containerd ready in {:?}", containerd.startup());
    containerd
}

/// The container id of a scenario under `rt` (ctr never prints it). It is
/// unique on the machine, not only in its containerd: the runc shim names
/// the container's cgroup `/<namespace>/<id>`, so two tests running at once
/// with the same id would share a cgroup (and pause each other).
fn id(rt: Runtime) -> String {
    format!("it-{}-{}", std::process::id(), rt.name())
}

/// `sh -c SCRIPT`, pausing a moment before it exits (with the script's
/// status). ctr can lose the end of a process's output: an exec that
/// exited 0 was seen to print nothing, once in about ten runs on a busy
/// machine, under runc; the pause lets ctr copy the output before it learns
/// of the exit.
fn sh(script: &str) -> [String; 3] {
    [
        "sh".into(),
        "-c".into(),
        format!("trap 'sleep 0.2' EXIT; {script}"),
    ]
}

/// `ctr run <runtime flags> FLAGS IMAGE ID ARGS`.
fn run<S: AsRef<OsStr>>(
    containerd: &Containerd,
    rt: Runtime,
    flags: &[&str],
    args: &[S],
) -> Command {
    let mut cmd = containerd.ctr(&["run"]);
    cmd.args(containerd.runtime_flags(&rt.binary()))
        .args(flags)
        .arg(image::NAME)
        .arg(id(rt))
        .args(args);
    cmd
}

/// `ctr task exec --exec-id exec-N ID ARGS`.
fn exec<S: AsRef<OsStr>>(containerd: &Containerd, rt: Runtime, n: u32, args: &[S]) -> Command {
    let mut cmd = containerd.ctr(&["task", "exec"]);
    cmd.args(containerd.fifo_flags())
        .args(["--exec-id", &format!("exec-{n}"), &id(rt)])
        .args(args);
    cmd
}

/// A long-running init for the detached scenarios: it exits 7 on SIGTERM
/// (`wait` is interrupted by a trapped signal, so the trap runs at once),
/// with one child process, and says when that child exists.
const INIT: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 7' TERM; sleep 1000 & touch /tmp/ready; while true; do wait; done",
];

/// Starts the detached container, waits until its init is ready and checks
/// the sandbox's kernel from an exec in it.
fn start_detached(t: &mut Transcript, containerd: &Containerd, rt: Runtime) {
    t.run(
        "run -d IMAGE ID sh -c '...'",
        &mut run(containerd, rt, &["-d"], INIT),
        b"",
    );
    t.run(
        "task exec ID sh -c 'wait until ready; uname -v'",
        &mut exec(
            containerd,
            rt,
            0,
            &sh(&format!("{WAIT_READY}; {PRINT_KERNEL}")),
        ),
        b"",
    );
}

/// What [`status`] says when `ctr task ls` does not list the task.
const NO_TASK: &str = "(no task)";

/// The task's status column in `ctr task ls`.
fn status(containerd: &Containerd, rt: Runtime) -> String {
    containerd
        .task_status(&id(rt))
        .unwrap_or_else(|| NO_TASK.into())
}

/// Waits for the task to reach `want` (not at all when there is no task),
/// and notes the status it ended in.
fn note_status(t: &mut Transcript, containerd: &Containerd, rt: Runtime, want: &str) {
    let seen = settle(|| status(containerd, rt), |s| s == want || s == NO_TASK);
    t.note("task ls: status", &seen);
}

/// Records the container's status as the runtime itself reports it
/// (`RUNTIME --root R state ID`, as the shim would ask).
fn runtime_state(t: &mut Transcript, containerd: &Containerd, rt: Runtime) {
    let mut cmd = Command::new(rt.binary());
    cmd.arg("--root")
        .arg(containerd.runtime_root())
        .args(["state", &id(rt)]);
    t.run_shown("RUNTIME state ID (its status)", &mut cmd, b"", |out| {
        let state: Option<serde_json::Value> = serde_json::from_str(out).ok();
        match state.as_ref().and_then(|v| v["status"].as_str()) {
            Some(status) => format!("{status}\n"),
            None => String::new(),
        }
    });
}

/// Deletes the task (reporting the exit status ctr warns about) and the
/// container.
fn delete(t: &mut Transcript, containerd: &Containerd, rt: Runtime) {
    let id = id(rt);
    let Some(out) = t.run_shown(
        "task delete ID",
        &mut containerd.ctr(&["task", "delete", &id]),
        b"",
        str::to_string,
    ) else {
        return;
    };
    // ctr reports a non-zero status only as a warning on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = stderr
        .split("exit code ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or("0");
    t.note("the task's exit status", code);
    t.run(
        "containers delete ID",
        &mut containerd.ctr(&["containers", "delete", &id]),
        b"",
    );
}

/// What [`start_detached`] records.
const STARTED: &str = "$ run -d IMAGE ID sh -c '...'\n\
                       [exit 0]\n\
                       $ task exec ID sh -c 'wait until ready; uname -v'\n\
                       [exit 0]\n";

/// What [`note_status`] records of a task that has ended.
const STOPPED: &str = "$ task ls: status\nSTOPPED\n";

/// What [`delete`] records of a task that ended with `status`.
fn deleted(status: i32) -> String {
    format!(
        "$ task delete ID\n\
         [exit 0]\n\
         $ the task's exit status\n\
         {status}\n\
         $ containers delete ID\n\
         [exit 0]\n"
    )
}

/// What [`kill_and_delete`] records when the kill ends the task with
/// `status`.
fn killed_and_deleted(signal: Option<&str>, status: i32) -> String {
    format!(
        "$ {}\n[exit 0]\n{STOPPED}{}",
        kill_label(signal),
        deleted(status)
    )
}

/// How the transcript names `ctr task kill [--signal SIGNAL] ID`.
fn kill_label(signal: Option<&str>) -> String {
    match signal {
        Some(signal) => format!("task kill --signal {signal} ID"),
        None => "task kill ID".into(),
    }
}

/// Ends the detached task with `signal` (ctr's default, SIGTERM, if none),
/// waits for it to stop, and deletes it.
fn kill_and_delete(t: &mut Transcript, containerd: &Containerd, rt: Runtime, signal: Option<&str>) {
    let id = id(rt);
    let mut kill = containerd.ctr(&["task", "kill"]);
    if let Some(signal) = signal {
        kill.args(["--signal", signal]);
    }
    kill.arg(&id);
    t.run(&kill_label(signal), &mut kill, b"");
    note_status(t, containerd, rt, "STOPPED");
    delete(t, containerd, rt);
}

#[test]
fn run_prints_stdout() {
    let containerd = containerd();
    let script = format!("{PRINT_KERNEL}; echo hello; id");
    differential_command(
        "ctr::run_prints_stdout",
        "run --rm IMAGE ID sh -c 'echo hello; id'",
        "hello\n\
         uid=0(root) gid=0(root) groups=0(root)\n\
         [exit 0]\n",
        b"",
        |rt| run(&containerd, rt, &["--rm"], &sh(&script)),
    );
}

#[test]
fn run_exit_code() {
    let containerd = containerd();
    let script = format!("{PRINT_KERNEL}; exit 3");
    differential_command(
        "ctr::run_exit_code",
        "run --rm IMAGE ID sh -c 'exit 3'",
        "[exit 3]\n",
        b"",
        |rt| run(&containerd, rt, &["--rm"], &sh(&script)),
    );
}

/// `ctr run -t`: the runc shim asks the runtime for a terminal through a
/// console socket and relays it to ctr's own.
#[test]
fn run_tty() {
    let containerd = containerd();
    differential(
        "ctr::run_tty",
        // ctr relays the container terminal's CRLF to the test's terminal,
        // which adds its own CR.
        "$ run --rm -t IMAGE ID tty\n/dev/pts/0\r\r\n[exit 0]\n",
        |rt| {
            let mut t = Transcript::new();
            t.run_in_terminal(
                "run --rm -t IMAGE ID tty",
                run(
                    &containerd,
                    rt,
                    &["--rm", "-t"],
                    &sh(&format!("{PRINT_KERNEL}; tty")),
                ),
            );
            t
        },
    );
}

#[test]
fn run_stdin() {
    let containerd = containerd();
    differential(
        "ctr::run_stdin",
        "$ echo hi | run --rm IMAGE ID cat\nhi\n[exit 0]\n",
        |rt| {
            let mut t = Transcript::new();
            let script = format!("{PRINT_KERNEL}; cat");
            let mut cmd = run(&containerd, rt, &["--rm"], &sh(&script));
            // The task exists once `task ls` lists it (as RUNNING).
            let out = process::run_feeding_when(
                &mut cmd,
                b"hi\n",
                containerd.task_running(&id(rt)),
                clients::COMMAND_TIMEOUT,
                &mut || {},
            )
            .expect("starting ctr");
            t.record("echo hi | run --rm IMAGE ID cat", &out, str::to_string);
            t
        },
    );
}

#[test]
fn task_exec() {
    let containerd = containerd();
    differential(
        "ctr::task_exec",
        &format!(
            "{STARTED}\
             $ task exec ID sh -c 'echo in; exit 4'\n\
             in\n\
             [exit 4]\n\
             {}",
            killed_and_deleted(Some("SIGKILL"), 137)
        ),
        |rt| {
            let mut t = Transcript::new();
            start_detached(&mut t, &containerd, rt);
            t.run(
                "task exec ID sh -c 'echo in; exit 4'",
                &mut exec(&containerd, rt, 1, &sh("echo in; exit 4")),
                b"",
            );
            kill_and_delete(&mut t, &containerd, rt, Some("SIGKILL"));
            t
        },
    );
}

#[test]
fn task_kill() {
    let containerd = containerd();
    differential(
        "ctr::task_kill",
        &format!(
            "{STARTED}\
             $ task kill ID\n\
             [exit 0]\n\
             {STOPPED}\
             $ task kill ID (already stopped)\n\
             [exit 1]\n\
             {}",
            deleted(7)
        ),
        |rt| {
            let mut t = Transcript::new();
            start_detached(&mut t, &containerd, rt);
            // SIGTERM, ctr's default.
            t.run(
                "task kill ID",
                &mut containerd.ctr(&["task", "kill", &id(rt)]),
                b"",
            );
            note_status(&mut t, &containerd, rt, "STOPPED");
            t.run(
                "task kill ID (already stopped)",
                &mut containerd.ctr(&["task", "kill", &id(rt)]),
                b"",
            );
            delete(&mut t, &containerd, rt);
            t
        },
    );
}

#[test]
fn task_ps() {
    let containerd = containerd();
    differential(
        "ctr::task_ps",
        &format!(
            "{STARTED}\
             $ task ps ID (processes listed)\n\
             2\n\
             [exit 0]\n\
             {}",
            killed_and_deleted(Some("SIGKILL"), 137)
        ),
        |rt| {
            let mut t = Transcript::new();
            start_detached(&mut t, &containerd, rt);
            // Host pids: only their number (init and its sleep) is the same
            // from run to run. A process that just exited (the exec before)
            // can still be listed for a moment, so the count is awaited.
            let count = || {
                let out = containerd.run(&["task", "ps", &id(rt)], b"");
                String::from_utf8_lossy(&out.stdout).lines().skip(1).count()
            };
            // None listed: there is no task to wait for.
            settle(count, |&n| n == 2 || n == 0);
            t.run_shown(
                "task ps ID (processes listed)",
                &mut containerd.ctr(&["task", "ps", &id(rt)]),
                b"",
                |out| format!("{}\n", out.lines().skip(1).count()),
            );
            kill_and_delete(&mut t, &containerd, rt, Some("SIGKILL"));
            t
        },
    );
}

#[test]
fn task_pause_resume() {
    let containerd = containerd();
    differential(
        "ctr::task_pause_resume",
        &format!(
            "{STARTED}\
             $ task pause ID\n\
             [exit 0]\n\
             $ task ls: status\n\
             PAUSED\n\
             $ RUNTIME state ID (its status)\n\
             paused\n\
             [exit 0]\n\
             $ task resume ID\n\
             [exit 0]\n\
             $ task ls: status\n\
             RUNNING\n\
             $ task exec ID echo resumed\n\
             resumed\n\
             [exit 0]\n\
             {}",
            killed_and_deleted(None, 7)
        ),
        |rt| {
            let mut t = Transcript::new();
            start_detached(&mut t, &containerd, rt);
            let id = id(rt);
            t.run(
                "task pause ID",
                &mut containerd.ctr(&["task", "pause", &id]),
                b"",
            );
            note_status(&mut t, &containerd, rt, "PAUSED");
            runtime_state(&mut t, &containerd, rt);
            t.run(
                "task resume ID",
                &mut containerd.ctr(&["task", "resume", &id]),
                b"",
            );
            note_status(&mut t, &containerd, rt, "RUNNING");
            // A paused sandbox would never answer this.
            t.run(
                "task exec ID echo resumed",
                &mut exec(&containerd, rt, 1, &sh("echo resumed")),
                b"",
            );
            kill_and_delete(&mut t, &containerd, rt, None);
            t
        },
    );
}
