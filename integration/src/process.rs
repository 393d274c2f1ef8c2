//! Running a host command with bytes on stdin, its output captured and a hard
//! deadline, so that no test can hang on a stuck container or a slow mirror.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished (or abandoned) command left behind.
#[derive(Debug, Clone)]
pub struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code; a command killed by signal `n` reports `128 + n`, the
    /// way a shell and `runc run` report it.
    pub exit: i32,
    /// The deadline passed and the command was killed.
    pub timed_out: bool,
}

/// Runs `cmd` with `stdin` fed to it, killing it when `timeout` passes.
/// `on_timeout` runs before the kill, for the cleanup that reaches further
/// than the child itself (a container's processes are not its children).
pub fn run(
    cmd: &mut Command,
    stdin: &[u8],
    timeout: Duration,
    on_timeout: &mut dyn FnMut(),
) -> std::io::Result<Captured> {
    run_feeding_when(cmd, stdin, || true, timeout, on_timeout)
}

/// [`run`], with `stdin` written (and the pipe closed) only once `ready`
/// returns true, polled until the deadline: for clients that lose an EOF
/// that comes too early (ctr 1.6 forwards it only once the task exists).
pub fn run_feeding_when(
    cmd: &mut Command,
    stdin: &[u8],
    mut ready: impl FnMut() -> bool + Send + 'static,
    timeout: Duration,
    on_timeout: &mut dyn FnMut(),
) -> std::io::Result<Captured> {
    // Its own process group, so that a timeout can kill whatever it started
    // (a runtime's helper processes) along with it.
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + timeout;

    // Feed stdin from a thread: a command that does not read it must not
    // block us, and closing the pipe afterwards gives it EOF.
    let mut input = child.stdin.take().expect("piped stdin");
    let bytes = stdin.to_vec();
    // Set once the command has exited: its input is no longer awaited.
    let exited = Arc::new(AtomicBool::new(false));
    let feeder_exited = Arc::clone(&exited);
    thread::spawn(move || {
        while !ready() {
            if Instant::now() >= deadline || feeder_exited.load(Ordering::Relaxed) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = input.write_all(&bytes);
    });
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let (exit, mut timed_out) = wait_until(&mut child, deadline, on_timeout)?;
    exited.store(true, Ordering::Relaxed);
    // A grandchild may still hold the pipes; give it what is left of the
    // deadline (and a little more after a kill) before giving up on output.
    let grace = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(2));
    let (stdout, out_done) = collect(&stdout, grace);
    let (stderr, err_done) = collect(&stderr, Duration::from_millis(200));
    timed_out |= !(out_done && err_done);
    Ok(Captured {
        stdout,
        stderr,
        exit,
        timed_out,
    })
}

/// Runs `cmd` with a new pseudo-terminal as its stdin, stdout and stderr
/// (for clients that allocate a container terminal only when they have one,
/// like `podman run -t`), killing it when `timeout` passes. Everything
/// written to the terminal is `stdout`, byte for byte; `stderr` is empty.
pub fn run_in_terminal(mut cmd: Command, timeout: Duration) -> std::io::Result<Captured> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::ffi::OsStr::from_bytes(name.as_bytes()))?;
    let mut child = cmd
        .process_group(0)
        .stdin(terminal.try_clone()?)
        .stdout(terminal.try_clone()?)
        .stderr(terminal)
        .spawn()?;
    // Our copies of the terminal must close, or reading the master would
    // never end: it ends (with EIO) when the last holder closes it.
    drop(cmd);
    let output = drain(std::fs::File::from(master));
    let (exit, mut timed_out) = wait_until(&mut child, Instant::now() + timeout, &mut || {})?;
    let (stdout, done) = collect(&output, Duration::from_secs(2));
    timed_out |= !done;
    Ok(Captured {
        stdout,
        stderr: Vec::new(),
        exit,
        timed_out,
    })
}

type Chunks = mpsc::Receiver<Vec<u8>>;

fn drain(mut pipe: impl Read + Send + 'static) -> Chunks {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Gathers a pipe's chunks until EOF (true) or until `wait` passes (false).
fn collect(rx: &Chunks, wait: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(mpsc::RecvTimeoutError::Disconnected) => return (out, true),
            Err(mpsc::RecvTimeoutError::Timeout) => return (out, false),
        }
    }
}

fn wait_until(
    child: &mut Child,
    deadline: Instant,
    on_timeout: &mut dyn FnMut(),
) -> std::io::Result<(i32, bool)> {
    let mut timed_out = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((exit_code(status), timed_out));
        }
        if !timed_out && Instant::now() >= deadline {
            timed_out = true;
            on_timeout();
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Every process on the host: its pid and command line, each argument
/// followed by a space (so that `"--id ID "` matches whole arguments).
pub fn command_lines() -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")))
        })
        .collect()
}

/// The shell's convention for a status: the code, or 128 + the signal.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_stdin_and_code() {
        let out = run(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            b"in",
            Duration::from_secs(10),
            &mut || {},
        )
        .unwrap();
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.exit, 3);
        assert!(!out.timed_out);
    }

    #[test]
    fn runs_in_a_terminal() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "[ -t 0 ] && [ -t 1 ] && echo tty; exit 5"]);
        let out = run_in_terminal(cmd, Duration::from_secs(10)).unwrap();
        // The terminal's line discipline turns \n into \r\n.
        assert_eq!(out.stdout, b"tty\r\n");
        assert_eq!(out.exit, 5);
        assert!(!out.timed_out);
    }

    #[test]
    fn kills_at_the_deadline() {
        let mut called = false;
        let start = Instant::now();
        let out = run(
            Command::new("sleep").arg("30"),
            b"",
            Duration::from_millis(200),
            &mut || called = true,
        )
        .unwrap();
        assert!(out.timed_out && called);
        assert_eq!(out.exit, 128 + libc::SIGKILL);
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
