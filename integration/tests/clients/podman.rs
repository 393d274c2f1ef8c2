//! podman with `--runtime <binary>`: conmon calls the runtime's `create`
//! (with `--console-socket` for `-t`) and `exec --detach` (with `--tty
//! --console-socket` for `exec -t`); podman itself calls `start`, `kill`
//! and `delete --force`.

use std::ffi::OsStr;
use std::process::Command;

use integration::clients::Podman;
use integration::harness::Runtime;
use integration::image;

use crate::{
    differential, differential_command, squeeze, started, Transcript, PRINT_KERNEL, WAIT_READY,
};

fn podman() -> Podman {
    started("podman", Podman::new())
}

/// `podman run FLAGS <runtime flags> IMAGE ARGS`.
fn run<S: AsRef<OsStr>>(podman: &Podman, rt: Runtime, flags: &[&str], args: &[S]) -> Command {
    let mut cmd = podman.command(&["run"]);
    cmd.args(flags)
        .args(Podman::run_flags(&rt.binary()))
        .arg(image::NAME)
        .args(args);
    cmd
}

/// `sh -c SCRIPT`, printing the kernel line first.
fn sh(script: &str) -> [String; 3] {
    [
        "sh".into(),
        "-c".into(),
        format!("{PRINT_KERNEL}; {script}"),
    ]
}

/// `podman exec FLAGS NAME ARGS`.
fn exec<S: AsRef<OsStr>>(podman: &Podman, flags: &[&str], name: &str, args: &[S]) -> Command {
    let mut cmd = podman.command(&["exec"]);
    cmd.args(flags).arg(name).args(args);
    cmd
}

#[test]
fn run_prints_stdout() {
    let podman = podman();
    differential_command(
        "podman::run_prints_stdout",
        "run --rm IMAGE sh -c 'echo hello; id'",
        "hello\n\
         uid=0(root) gid=0(root)\n\
         [exit 0]\n",
        b"",
        |rt| run(&podman, rt, &["--rm"], &sh("echo hello; id")),
    );
}

#[test]
fn run_exit_code() {
    let podman = podman();
    differential_command(
        "podman::run_exit_code",
        "run --rm IMAGE sh -c 'exit 3'",
        "[exit 3]\n",
        b"",
        |rt| run(&podman, rt, &["--rm"], &sh("exit 3")),
    );
}

#[test]
fn run_interactive_stdin() {
    let podman = podman();
    differential_command(
        "podman::run_interactive_stdin",
        "echo hi | run --rm -i IMAGE cat",
        "hi\n[exit 0]\n",
        b"hi\n",
        |rt| run(&podman, rt, &["--rm", "-i"], &sh("cat")),
    );
}

/// podman allocates a container terminal for `-t` only when its own stdin
/// is a terminal, so it runs on one the test allocates.
#[test]
fn run_tty() {
    let podman = podman();
    differential(
        "podman::run_tty",
        "$ run --rm -t IMAGE tty\n/dev/pts/0\r\n[exit 0]\n",
        |rt| {
            let mut t = Transcript::new();
            let args = sh("tty");
            t.run_in_terminal(
                "run --rm -t IMAGE tty",
                run(&podman, rt, &["--rm", "-t"], &args),
            );
            t
        },
    );
}

/// A detached container through its life: exec (plain, with stdin, with a
/// terminal), top, a signal it traps, stop (it exits 7 on SIGTERM), rm.
#[test]
fn detached_lifecycle() {
    let podman = podman();
    const NAME: &str = "lifecycle";
    // `wait` is interrupted by a trapped signal, so the traps run at once;
    // sleep is the one other process, for top.
    let init = "trap 'exit 7' TERM; trap 'touch /tmp/usr1' USR1; \
                sleep 1000 & touch /tmp/ready; while true; do wait; done";
    differential(
        "podman::detached_lifecycle",
        "$ run -d --name lifecycle IMAGE sh -c '...'\n\
         [exit 0]\n\
         $ exec lifecycle sh -c 'wait until ready; echo in; exit 4'\n\
         in\n\
         [exit 4]\n\
         $ echo data | exec -i lifecycle cat\n\
         data\n\
         [exit 0]\n\
         $ exec -t lifecycle tty\n\
         /dev/pts/0\r\n\
         [exit 0]\n\
         $ top lifecycle args\n\
         COMMAND\n\
         sh -c trap 'exit 7' TERM; trap 'touch /tmp/usr1' USR1; sleep 1000 & touch /tmp/ready; while true; do wait; done\n\
         sleep 1000\n\
         [exit 0]\n\
         $ kill --signal USR1 lifecycle\n\
         lifecycle\n\
         [exit 0]\n\
         $ exec lifecycle: wait for the USR1 trap\n\
         trapped\n\
         [exit 0]\n\
         $ stop lifecycle\n\
         lifecycle\n\
         [exit 0]\n\
         $ inspect --format {{.State.ExitCode}} lifecycle\n\
         7\n\
         [exit 0]\n\
         $ rm lifecycle\n\
         lifecycle\n\
         [exit 0]\n\
         $ ps --all\n\
         [exit 0]\n",
        |rt| {
            let mut t = Transcript::new();
            // The container id differs on every run.
            t.run_shown(
                "run -d --name lifecycle IMAGE sh -c '...'",
                &mut run(&podman, rt, &["-d", "--name", NAME], &["sh", "-c", init]),
                b"",
                |_| String::new(),
            );
            t.run(
                "exec lifecycle sh -c 'wait until ready; echo in; exit 4'",
                &mut exec(&podman, &[], NAME, &sh(&format!("{WAIT_READY}; echo in; exit 4"))),
                b"",
            );
            t.run(
                "echo data | exec -i lifecycle cat",
                &mut exec(&podman, &["-i"], NAME, &["cat"]),
                b"data\n",
            );
            t.run_in_terminal("exec -t lifecycle tty", exec(&podman, &["-t"], NAME, &["tty"]));
            // Only the commands: pids depend on how the execs raced init.
            t.run_shown(
                "top lifecycle args",
                &mut podman.command(&["top", NAME, "args"]),
                b"",
                squeeze,
            );
            t.run(
                "kill --signal USR1 lifecycle",
                &mut podman.command(&["kill", "--signal", "USR1", NAME]),
                b"",
            );
            t.run(
                "exec lifecycle: wait for the USR1 trap",
                &mut exec(
                    &podman,
                    &[],
                    NAME,
                    &[
                        "sh",
                        "-c",
                        "while [ ! -e /tmp/usr1 ]; do sleep 0.05; done; echo trapped",
                    ],
                ),
                b"",
            );
            t.run(
                "stop lifecycle",
                &mut podman.command(&["stop", "--time", "20", NAME]),
                b"",
            );
            t.run(
                "inspect --format {{.State.ExitCode}} lifecycle",
                &mut podman.command(&["inspect", "--format", "{{.State.ExitCode}}", NAME]),
                b"",
            );
            t.run("rm lifecycle", &mut podman.command(&["rm", NAME]), b"");
            t.run(
                "ps --all",
                &mut podman.command(&["ps", "--all", "--format", "{{.Names}}"]),
                b"",
            );
            t
        },
    );
}
