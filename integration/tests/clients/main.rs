//! vigil driven by the real clients: podman, ctr (through containerd's runc
//! shim), Docker, and containerd's CRI (pods with the RuntimeClass handlers
//! `runc` and `vigil`, see `cri.rs`), each a private instance started by
//! the test. Every test
//! is differential: the same client commands run with runc and then with
//! vigil as the runtime, and their transcripts (each command's stdout and
//! exit code, host-dependent parts normalised) must be equal; runc's must
//! also equal the transcript the test records, so a change of the reference
//! is told apart from a vigil bug. Each scenario also prints the kernel's
//! `uname -v` from inside a container: under vigil it must name vigil (the
//! sentry answered, not the host), under runc it must not.
//!
//! ```sh
//! cargo nextest run -p integration --test clients
//! VIGIL_DIFFERENTIAL=0 cargo nextest run -p integration --test clients  # runc only
//! ```

mod cri;
mod ctr;
mod docker;
mod podman;

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use integration::clients;
use integration::harness::Runtime;
use integration::process::{self, Captured};

/// The shell command that prints the kernel line; scenarios put it in a
/// container command or an exec.
const PRINT_KERNEL: &str = "echo kernel: $(uname -v)";
const KERNEL_PREFIX: &str = "kernel: ";
/// The shell command, run in an exec, that waits until a detached
/// scenario's init has started everything it starts (it then touches
/// `/tmp/ready`).
const WAIT_READY: &str = "while [ ! -e /tmp/ready ]; do sleep 0.05; done";

/// What one runtime did in a scenario: each client command's label, its
/// stdout (kernel lines set aside) and exit code.
struct Transcript {
    text: String,
    kernels: Vec<String>,
    /// Every command's stderr, for the failure report only.
    stderr: String,
    /// A command timed out: later ones are not run (they would only wait
    /// on the same stuck container).
    stopped: bool,
}

impl Transcript {
    fn new() -> Transcript {
        Transcript {
            text: String::new(),
            kernels: Vec::new(),
            stderr: String::new(),
            stopped: false,
        }
    }

    /// Runs a client command and records its stdout and exit code.
    fn run(&mut self, label: &str, cmd: &mut Command, stdin: &[u8]) -> Option<Captured> {
        self.run_shown(label, cmd, stdin, str::to_string)
    }

    /// Runs a client command and records its exit code, and its stdout as
    /// `show` presents it (for output that names host pids, container ids
    /// or times).
    fn run_shown(
        &mut self,
        label: &str,
        cmd: &mut Command,
        stdin: &[u8],
        show: impl Fn(&str) -> String,
    ) -> Option<Captured> {
        if self.stopped {
            return None;
        }
        let out = clients::run(cmd, stdin);
        self.record(label, &out, show);
        Some(out)
    }

    /// Runs a client command on a pseudo-terminal and records what it wrote
    /// there and its exit code.
    fn run_in_terminal(&mut self, label: &str, cmd: Command) {
        if self.stopped {
            return;
        }
        let out = process::run_in_terminal(cmd, clients::COMMAND_TIMEOUT)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        self.record(label, &out, str::to_string);
    }

    fn record(&mut self, label: &str, out: &Captured, show: impl Fn(&str) -> String) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut kept = String::new();
        for line in stdout.split_inclusive('\n') {
            match line.trim_end().strip_prefix(KERNEL_PREFIX) {
                Some(kernel) => self.kernels.push(kernel.to_string()),
                None => kept.push_str(line),
            }
        }
        let _ = write!(self.text, "$ {label}\n{}", show(&kept));
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        if out.timed_out {
            let _ = writeln!(self.text, "[timed out]");
            self.stopped = true;
        } else {
            let _ = writeln!(self.text, "[exit {}]", out.exit);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            let _ = writeln!(self.stderr, "$ {label}\n{}", stderr.trim_end());
        }
    }

    /// Records an observation the scenario made itself.
    fn note(&mut self, label: &str, text: &str) {
        let _ = writeln!(self.text, "$ {label}\n{text}");
    }

    fn report(&self, runtime: Runtime) -> String {
        format!(
            "--- {} transcript:\n{}--- kernel lines: {:?}\n--- {} stderr:\n{}\n",
            runtime.name(),
            self.text,
            self.kernels,
            runtime.name(),
            self.stderr
        )
    }
}

/// A scenario of one client command, `label` in the transcript, fed
/// `stdin`: runc's run must record `printed` after the label (its stdout
/// and exit code).
fn differential_command(
    name: &str,
    label: &str,
    printed: &str,
    stdin: &[u8],
    mut cmd: impl FnMut(Runtime) -> Command,
) {
    differential(name, &format!("$ {label}\n{printed}"), |rt| {
        let mut t = Transcript::new();
        t.run(label, &mut cmd(rt), stdin);
        t
    });
}

/// Checks a scenario as the crate documentation says: runc's transcript
/// against `expected`, then (unless `VIGIL_DIFFERENTIAL=0`) vigil's against
/// runc's, and each one's kernel lines.
fn differential(name: &str, expected: &str, mut scenario: impl FnMut(Runtime) -> Transcript) {
    let runc = scenario(Runtime::Runc);
    let kernel_named_vigil = |t: &Transcript| t.kernels.iter().any(|k| k.contains("vigil"));
    if runc.text != expected {
        panic!(
            "{name}: runc disagrees with the recorded transcript\n--- expected:\n{expected}{}",
            runc.report(Runtime::Runc)
        );
    }
    if runc.kernels.is_empty() || kernel_named_vigil(&runc) {
        panic!(
            "{name}: runc's container printed no host kernel line\n{}",
            runc.report(Runtime::Runc)
        );
    }
    if std::env::var("VIGIL_DIFFERENTIAL").is_ok_and(|v| v == "0") {
        return;
    }
    let vigil = scenario(Runtime::Vigil);
    let why = if vigil.text != runc.text {
        Some("its transcript differs from runc's")
    } else if vigil.kernels.is_empty() || !vigil.kernels.iter().all(|k| k.contains("vigil")) {
        Some("`uname -v` inside did not name vigil")
    } else {
        None
    };
    if let Some(why) = why {
        panic!(
            "{name}: under vigil, {why}\n{}{}",
            runc.report(Runtime::Runc),
            vigil.report(Runtime::Vigil)
        );
    }
}

/// A client instance, or the test's failure with the reason it could not
/// start (with the daemon's log).
fn started<T>(client: &str, result: Result<T, String>) -> T {
    result.unwrap_or_else(|why| panic!("{client} could not start: {why}"))
}

/// Collapses runs of spaces (column padding that depends on the widest
/// value) so tables compare by content.
fn squeeze(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect()
}

/// How long a scenario waits for a container to settle (react to a
/// signal, be paused, lose an exited process).
const SETTLE_WAIT: Duration = Duration::from_secs(20);

/// Calls `probe` until `done` accepts its value or `SETTLE_WAIT` passes,
/// and returns the last value.
fn settle<T>(mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let t0 = Instant::now();
    let mut value = probe();
    while !done(&value) && t0.elapsed() < SETTLE_WAIT {
        std::thread::sleep(Duration::from_millis(50));
        value = probe();
    }
    value
}
