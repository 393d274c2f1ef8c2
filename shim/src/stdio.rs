//! A process's stdio from containerd's fifo paths. The shim opens the fifos
//! and hands the FDs to the sandbox as the process's own stdin, stdout and
//! stderr, so no byte is copied by the shim. An empty path is `/dev/null`.
//!
//! As containerd's runc shim does, the shim also keeps one end of each fifo
//! for itself:
//! - a write end of stdin, until `CloseIO`: a client that reattaches, or one
//!   whose write end is not open yet, must not make the container read EOF;
//! - a read end of stdout and stderr, so the container's writes do not fail
//!   with `EPIPE` while no client reads.

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an output fifo may wait for its reader (the client opens it
/// before it creates the task, so this is only reached if the client died).
const READER_TIMEOUT: Duration = Duration::from_secs(10);

/// The fifo paths containerd gave for a process.
#[derive(Clone, Debug, Default)]
pub struct Paths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
}

/// The ends of a process's fifos.
pub struct Stdio {
    /// For the sandbox: stdin, stdout, stderr.
    pub process: [OwnedFd; 3],
    /// What the shim keeps.
    pub held: Held,
}

/// The fifo ends the shim keeps while the process lives.
#[derive(Default)]
pub struct Held {
    stdin: Option<OwnedFd>,
    _readers: Vec<OwnedFd>,
    /// A terminal's host pty master, which the shim relays to the fifos.
    master: Option<Arc<OwnedFd>>,
    /// Told when the terminal's output is all relayed.
    output_done: Option<OutputDone>,
}

/// The end of a terminal's relayed output: the process's exit is reported
/// after it, so that a client sees everything the process wrote.
pub struct OutputDone(std::sync::mpsc::Receiver<()>);

impl OutputDone {
    /// Blocks until the output is relayed, or for `limit` at most.
    pub fn wait(self, limit: Duration) {
        let _ = self.0.recv_timeout(limit);
    }
}

impl Held {
    /// `CloseIO`: the container sees EOF once the clients' write ends close.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// For a terminal: what tells when its output is all relayed.
    pub fn take_output_done(&mut self) -> Option<OutputDone> {
        self.output_done.take()
    }

    /// `ResizePty`: sets the host terminal's size. For a container's init
    /// that is all (the sentry, whose controlling terminal it is, gets
    /// SIGWINCH); an exec'd process's sandbox terminal is told separately.
    /// False without a terminal.
    pub fn resize(&self, width: u32, height: u32) -> std::io::Result<bool> {
        let Some(master) = &self.master else {
            return Ok(false);
        };
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        let ws = rustix::termios::Winsize {
            ws_row: clamp(height),
            ws_col: clamp(width),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&**master, ws)?;
        Ok(true)
    }
}

impl Stdio {
    /// Opens `paths` (blocking: an output fifo without a reader yet is
    /// waited for).
    pub fn open(paths: &Paths) -> std::io::Result<Stdio> {
        let mut held = Held::default();
        let stdin = if paths.stdin.is_empty() {
            dev_null(OFlags::RDONLY)?
        } else {
            let (reader, writer) = open_input(&paths.stdin)?;
            held.stdin = Some(writer);
            reader
        };
        let mut output = |path: &str| -> std::io::Result<OwnedFd> {
            if path.is_empty() {
                return dev_null(OFlags::WRONLY);
            }
            let (writer, reader) = open_output(path)?;
            held._readers.push(reader);
            Ok(writer)
        };
        let stdout = output(&paths.stdout)?;
        let stderr = output(&paths.stderr)?;
        Ok(Stdio {
            process: [stdin, stdout, stderr],
            held,
        })
    }

    /// With `process.terminal`: a host pty whose replica is the process's
    /// stdio and whose master the shim relays, by two threads, from the
    /// stdin fifo and to the stdout fifo (a terminal has one output).
    pub fn open_terminal(paths: &Paths) -> std::io::Result<Stdio> {
        let pty = vigil_runtime::console::Console::create()?;
        let master = Arc::new(pty.master);
        let mut held = Held {
            master: Some(master.clone()),
            ..Held::default()
        };
        if !paths.stdin.is_empty() {
            let (reader, writer) = open_input(&paths.stdin)?;
            held.stdin = Some(writer);
            let to = master.clone();
            std::thread::Builder::new()
                .name("pty-in".into())
                .spawn(move || vigil_runtime::console::copy(&reader, &*to))?;
        }
        if !paths.stdout.is_empty() {
            let (writer, reader) = open_output(&paths.stdout)?;
            held._readers.push(reader);
            let from = master.clone();
            let (done, output_done) = std::sync::mpsc::channel();
            held.output_done = Some(OutputDone(output_done));
            std::thread::Builder::new()
                .name("pty-out".into())
                .spawn(move || {
                    vigil_runtime::console::copy(&*from, &writer);
                    let _ = done.send(());
                })?;
        }
        let replica = pty.replica;
        let process = [replica.try_clone()?, replica.try_clone()?, replica];
        Ok(Stdio { process, held })
    }

    pub fn fds(&self) -> [BorrowedFd<'_>; 3] {
        [
            self.process[0].as_fd(),
            self.process[1].as_fd(),
            self.process[2].as_fd(),
        ]
    }
}

fn dev_null(mode: OFlags) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        "/dev/null",
        mode | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open(path: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        flags | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The sandbox's blocking read end of a stdin fifo, and the shim's write
/// end. Non-blocking opens never wait; the write end opens at once because
/// the read end exists.
fn open_input(path: &str) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let reader = open(path, OFlags::RDONLY).map_err(|e| context(path, e))?;
    let writer = open(path, OFlags::WRONLY).map_err(|e| context(path, e))?;
    blocking(&reader)?;
    Ok((reader, writer))
}

/// The sandbox's blocking write end of an output fifo, and the shim's read
/// end. A write end opens only once a reader exists (`ENXIO` before).
fn open_output(path: &str) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let deadline = Instant::now() + READER_TIMEOUT;
    let writer = loop {
        match open(path, OFlags::WRONLY) {
            Ok(fd) => break fd,
            Err(Errno::NXIO) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(context(path, e)),
        }
    };
    let reader = open(path, OFlags::RDONLY).map_err(|e| context(path, e))?;
    blocking(&writer)?;
    Ok((writer, reader))
}

/// Clears `O_NONBLOCK`: the sandbox expects blocking host FDs (a full pipe
/// must hold the writer, not fail it with `EAGAIN`).
fn blocking(fd: &OwnedFd) -> std::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK)?;
    Ok(())
}

fn context(path: &str, e: Errno) -> std::io::Error {
    std::io::Error::new(
        std::io::Error::from(e).kind(),
        format!("open fifo {path}: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn fifo(dir: &std::path::Path, name: &str) -> String {
        let path = dir.join(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        path.to_str().unwrap().to_string()
    }

    #[test]
    fn empty_paths_are_dev_null() {
        let stdio = Stdio::open(&Paths::default()).unwrap();
        let mut buf = [0u8; 1];
        let mut stdin = std::fs::File::from(stdio.process[0].try_clone().unwrap());
        assert_eq!(stdin.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn stdin_reaches_eof_only_after_close_io() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            stdin: fifo(dir.path(), "in"),
            stdout: fifo(dir.path(), "out"),
            ..Paths::default()
        };
        // The client's ends: its stdout reader must exist first.
        let out_path = paths.stdout.clone();
        let client_out = std::thread::spawn(move || std::fs::File::open(out_path).unwrap());
        let mut stdio = Stdio::open(&paths).unwrap();
        let mut client_out = client_out.join().unwrap();
        let mut client_in = std::fs::OpenOptions::new()
            .write(true)
            .open(&paths.stdin)
            .unwrap();

        client_in.write_all(b"hi").unwrap();
        drop(client_in);
        let [stdin, stdout, _] = stdio.process;
        let mut stdin = std::fs::File::from(stdin);
        let mut buf = [0u8; 2];
        stdin.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        // The shim's write end keeps stdin open; the read would block, so
        // check readiness instead.
        let mut fds = [rustix::event::PollFd::new(
            &stdin,
            rustix::event::PollFlags::IN,
        )];
        assert_eq!(
            rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())).unwrap(),
            0
        );
        stdio.held.close_stdin();
        assert_eq!(stdin.read(&mut buf).unwrap(), 0);

        std::fs::File::from(stdout).write_all(b"out").unwrap();
        let mut got = [0u8; 3];
        client_out.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"out");
    }
}
