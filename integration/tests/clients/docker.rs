//! Docker with vigil registered as a runtime (`--runtime vigil`): dockerd
//! drives it through its own containerd's runc shim, as ctr does.

use std::process::Command;

use integration::clients::Docker;
use integration::harness::{self, Runtime};
use integration::image;

use crate::{differential, differential_command, started, Transcript, PRINT_KERNEL};

fn docker() -> Docker {
    let vigil = harness::vigil_binary();
    let docker = started("dockerd", Docker::start(&[("vigil", vigil)]));
    eprintln!(
        "dockerd ready in {:?} (storage driver {})",
        docker.startup(),
        docker.driver
    );
    docker
}

/// `docker run --runtime NAME --network none FLAGS IMAGE ARGS`; runc is
/// dockerd's built-in runtime of that name.
fn run(docker: &Docker, rt: Runtime, flags: &[&str], args: &[&str]) -> Command {
    let mut cmd = docker.command(&["run", "--runtime", rt.name(), "--network", "none"]);
    cmd.args(flags).arg(image::NAME).args(args);
    cmd
}

#[test]
fn run_stdout_and_exit_code() {
    let docker = docker();
    let script = format!("{PRINT_KERNEL}; echo hello; id; exit 3");
    differential_command(
        "docker::run_stdout_and_exit_code",
        "run --rm IMAGE sh -c 'echo hello; id; exit 3'",
        "hello\n\
         uid=0(root) gid=0(root) groups=0(root)\n\
         [exit 3]\n",
        b"",
        |rt| run(&docker, rt, &["--rm"], &["sh", "-c", &script]),
    );
}

#[test]
fn exec() {
    let docker = docker();
    const NAME: &str = "exec";
    differential(
        "docker::exec",
        "$ run -d --name exec IMAGE sleep 1000\n\
         [exit 0]\n\
         $ exec exec sh -c 'echo in; exit 4'\n\
         in\n\
         [exit 4]\n\
         $ echo data | exec -i exec cat\n\
         data\n\
         [exit 0]\n\
         $ rm --force exec\n\
         exec\n\
         [exit 0]\n",
        |rt| {
            let mut t = Transcript::new();
            // The container id differs on every run.
            t.run_shown(
                "run -d --name exec IMAGE sleep 1000",
                &mut run(&docker, rt, &["-d", "--name", NAME], &["sleep", "1000"]),
                b"",
                |_| String::new(),
            );
            let script = format!("{PRINT_KERNEL}; echo in; exit 4");
            t.run(
                "exec exec sh -c 'echo in; exit 4'",
                &mut docker.command(&["exec", NAME, "sh", "-c", &script]),
                b"",
            );
            t.run(
                "echo data | exec -i exec cat",
                &mut docker.command(&["exec", "-i", NAME, "cat"]),
                b"data\n",
            );
            t.run(
                "rm --force exec",
                &mut docker.command(&["rm", "--force", NAME]),
                b"",
            );
            t
        },
    );
}
