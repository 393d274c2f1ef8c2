//! `vigil run`: create and start a container in the foreground, as
//! `runc run` does: the container's stdio is vigil's own, signals that
//! vigil receives are forwarded to the sandbox, and vigil exits with the
//! container's status once the sandbox is gone.

use crate::boot::FORWARDED;
use crate::bundle::Bundle;
use crate::console::{send_master, Console, Relay};
use crate::launch::Exit;
use crate::sandbox::{self, Options, Sandbox, StateDir};
use anyhow::{bail, Context};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::event::{poll, PollFd, PollFlags};
use std::os::fd::AsFd;
use std::path::PathBuf;

/// What `vigil run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub id: String,
    pub bundle: PathBuf,
    /// The root of vigil's state directories (`--root`).
    pub root: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// Where to send the master of the container's terminal
    /// (`--console-socket`), when `process.terminal` is set.
    pub console_socket: Option<PathBuf>,
    pub options: Options,
}

/// Runs the container to its end; returns the status `vigil run` exits
/// with (the container's code, or 128 + the signal that ended it).
pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    sandbox::check_id(&args.id).map_err(anyhow::Error::msg)?;
    let bundle = Bundle::load(&args.bundle)?;
    let _state = StateDir::create(&args.root, &args.id).map_err(anyhow::Error::msg)?;

    // Blocked before the sandbox starts, so none is lost in between, and
    // left blocked: one arriving after the sandbox ended must not kill vigil
    // before it reports the container's status. The children unblock them
    // before their exec.
    let mut forwarded = SigSet::empty();
    for sig in FORWARDED {
        forwarded.add(Signal::try_from(sig).expect("a valid signal"));
    }
    if bundle.terminal() && args.console_socket.is_none() {
        // vigil's own terminal is the container's: its size changes are
        // relayed (blocked before the relay's threads exist, which inherit
        // the mask).
        forwarded.add(Signal::SIGWINCH);
    }
    forwarded
        .thread_block()
        .context("block forwarded signals")?;

    let (console, relay) = terminal_replica(&bundle, args.console_socket.as_deref())?;
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = match &console {
        Some(replica) => [replica.as_fd(); 3],
        None => [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
    };
    let signals = SignalFd::with_flags(&forwarded, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    let mut sandbox = Sandbox::start(&args.id, &bundle, &args.options, stdio)?;
    // The sentry holds the terminal now: the console socket's owner sees
    // it hang up when the sandbox ends, not when vigil does.
    drop(console);
    // A sentry that failed to boot has said why on stderr; its status is
    // the run's.
    if sandbox.wait_ready() {
        if let Some(path) = &args.pid_file {
            write_pid_file(path, sandbox.sentry_pid())?;
        }
    }

    forward_until_exit(&sandbox, &signals, relay.as_ref())?;
    if let Some(relay) = relay {
        relay.finish();
    }
    let status = match sandbox.wait()? {
        Exit::Code(code) => code,
        Exit::Signal(sig) => 128 + sig,
    };
    tracing::debug!(id = args.id, status, "container exited");
    Ok(status)
}

/// With `process.terminal`: a new host pty whose replica is returned for
/// the container's stdio, and whose master goes to the console socket or,
/// without one, is relayed to vigil's own stdio as `runc run` does.
fn terminal_replica(
    bundle: &Bundle,
    socket: Option<&std::path::Path>,
) -> anyhow::Result<(Option<std::os::fd::OwnedFd>, Option<Relay>)> {
    if !bundle.terminal() {
        if socket.is_some() {
            bail!("--console-socket needs process.terminal to be true");
        }
        return Ok((None, None));
    }
    let pty = Console::create().context("create the container's terminal")?;
    let size = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.console_size());
    if let Some(size) = size {
        // `process.consoleSize`, as runc applies it; a relay then gives the
        // pty vigil's own terminal's size, if it has one.
        let ws = rustix::termios::Winsize {
            ws_row: size.height().try_into().unwrap_or(u16::MAX),
            ws_col: size.width().try_into().unwrap_or(u16::MAX),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&pty.master, ws).context("set the terminal's size")?;
    }
    let relay = match socket {
        Some(socket) => {
            send_master(socket, &pty.master)
                .with_context(|| format!("send the terminal to {}", socket.display()))?;
            None
        }
        None => Some(Relay::start(pty.master).context("relay the container's terminal")?),
    };
    Ok((Some(pty.replica), relay))
}

/// Forwards each signal vigil receives to the sandbox until its sentry
/// exits; a `SIGWINCH` resizes the `relay`ed terminal instead.
fn forward_until_exit(
    sandbox: &Sandbox,
    signals: &SignalFd,
    relay: Option<&Relay>,
) -> anyhow::Result<()> {
    let pidfd = sandbox
        .sentry_pidfd()
        .context("the sandbox has no sentry")?;
    loop {
        let mut fds = [
            PollFd::new(&pidfd, PollFlags::IN),
            PollFd::new(signals, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => bail!("poll: {e}"),
        }
        let exited = !fds[0].revents().is_empty();
        while let Ok(Some(info)) = signals.read_signal() {
            let sig = info.ssi_signo as i32;
            if let (libc::SIGWINCH, Some(relay)) = (sig, relay) {
                relay.resize();
                continue;
            }
            match sandbox.signal(sig) {
                Ok(()) => tracing::debug!("forwarded signal {sig}"),
                // Gone already: the exit is about to be seen.
                Err(e) => tracing::debug!("forward signal {sig}: {e}"),
            }
        }
        if exited {
            return Ok(());
        }
    }
}

/// runc writes the pid without a newline, atomically (a reader never sees
/// a half-written file).
fn write_pid_file(path: &std::path::Path, pid: i32) -> anyhow::Result<()> {
    let tmp = path.with_extension("vigil-tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("write pid file {}", path.display()))
}
