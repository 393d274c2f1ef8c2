//! `vigil run`: create and start a container in the foreground, as
//! `runc run` does: the container's stdio is vigil's own, signals that
//! vigil receives are forwarded to the container's init, and vigil exits
//! with the container's status once the sandbox is gone (then its state is
//! removed). With `--detach` it is `create` then `start`.

use crate::boot::FORWARDED;
use crate::container::{self, CreateArgs, Runtime};
use anyhow::{bail, Context};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use rustix::event::{poll, PollFd, PollFlags};
use std::os::fd::AsFd;
use std::time::Duration;

/// Runs the container to its end; returns the status `vigil run` exits
/// with (the container's code, or 128 + the signal that ended it).
pub fn run(rt: &Runtime, args: &CreateArgs<'_>, detach: bool) -> anyhow::Result<i32> {
    if detach {
        container::create(rt, args)?;
        container::start(rt, args.id)?;
        return Ok(0);
    }
    // Blocked before the sandbox (and a terminal relay's threads, which
    // inherit the mask) start, so none is lost in between, and left
    // blocked: one arriving after the sandbox ended must not kill vigil
    // before it reports the container's status. The children unblock them
    // before their exec.
    let signals = SignalForwarding::start()?;

    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    // A sentry that fails to boot ends the run with its status (127 for a
    // missing program, as a shell reports): see `container::InitFailed`.
    let mut created = container::create_sandbox(rt, args, stdio, false, false)?;
    let relay = created.relay.take();
    let pidfd = created
        .init_pidfd()
        .context("the container has no host process")?
        .try_clone_to_owned()
        .context("dup the container's pidfd")?;
    loop {
        let mut fds = [
            PollFd::new(&pidfd, PollFlags::IN),
            PollFd::new(&signals.fd, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => bail!("poll: {e}"),
        }
        for sig in signals.pending(Duration::ZERO) {
            if sig == libc::SIGWINCH {
                // vigil's own terminal changed size: a relayed one follows
                // (the sentry learns it as its terminal's owner).
                if let Some(relay) = &relay {
                    relay.resize();
                }
                continue;
            }
            match created.signal(sig) {
                Ok(()) => tracing::debug!("forwarded signal {sig}"),
                // Gone already: the exit is about to be seen.
                Err(e) => tracing::debug!("forward signal {sig}: {e}"),
            }
        }
        if !fds[0].revents().is_empty() {
            break;
        }
    }
    if let Some(relay) = relay {
        relay.finish();
    }
    let status = created.wait()?;
    tracing::debug!(id = args.id, status, "container exited");
    // Dropping `created` removes the state.
    Ok(status)
}

/// The signals a foreground runtime passes on to the container
/// ([`FORWARDED`]), and `SIGWINCH` for a terminal it relays, blocked and
/// read from a signalfd.
pub struct SignalForwarding {
    fd: SignalFd,
}

impl SignalForwarding {
    /// Blocks the forwarded signals and `SIGWINCH` (ignored by default,
    /// so nothing changes where no terminal is relayed) in this thread and
    /// the threads it starts later, and opens the signalfd that reads them.
    pub fn start() -> anyhow::Result<SignalForwarding> {
        let mut set = SigSet::empty();
        for sig in FORWARDED {
            set.add(Signal::try_from(sig).expect("a valid signal"));
        }
        set.add(Signal::SIGWINCH);
        set.thread_block().context("block forwarded signals")?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .context("signalfd")?;
        Ok(SignalForwarding { fd })
    }

    /// The signals received, waiting up to `wait` for the first.
    pub fn pending(&self, wait: Duration) -> Vec<i32> {
        if !wait.is_zero() {
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            let timeout = rustix::time::Timespec::try_from(wait).ok();
            let _ = poll(&mut fds, timeout.as_ref());
        }
        let mut sigs = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            sigs.push(info.ssi_signo as i32);
        }
        sigs
    }
}
