//! The host side of a container's terminal (`process.terminal`): a host
//! pty pair whose replica the sentry bridges to the container's emulated
//! terminal, and whose master goes to whoever asked for it with
//! `--console-socket`, as runc hands it over.
//!
//! The host pty carries bytes only: the sentry puts the replica in raw mode
//! and runs the line discipline itself. The replica becomes the sentry's
//! controlling terminal, so that the host tells the sentry about window
//! size changes with `SIGWINCH`.
//!
//! Without a console socket, a runtime in the foreground keeps the master
//! and [`Relay`]s it to its own stdio, as `runc run` does.

use rustix::fs::{Mode, OFlags};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::OpenptFlags;
use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// What the console socket's reader is told the master is (the data of
/// the message that carries it), as runc names its pty master.
const MASTER_NAME: &str = "/dev/ptmx";

/// A host pseudo-terminal pair.
#[derive(Debug)]
pub struct Console {
    pub master: OwnedFd,
    pub replica: OwnedFd,
}

impl Console {
    /// A new pair; neither end is anyone's controlling terminal yet. The
    /// replica is raw from the start, so that what the master's owner
    /// types before the sentry is up is neither echoed nor edited by the
    /// host.
    pub fn create() -> std::io::Result<Console> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
        rustix::io::fcntl_setfd(&master, rustix::io::FdFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let replica = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut mode = rustix::termios::tcgetattr(&replica)?;
        mode.make_raw();
        rustix::termios::tcsetattr(&replica, rustix::termios::OptionalActions::Now, &mode)?;
        Ok(Console { master, replica })
    }
}

/// Copies between the runtime's own stdin/stdout and a pty master, with
/// the runtime's terminal (if its stdin is one) in raw mode meanwhile and
/// its window size passed on.
#[derive(Debug)]
pub struct Relay {
    master: std::sync::Arc<OwnedFd>,
    output: Option<std::thread::JoinHandle<()>>,
    /// The runtime's terminal mode before the relay, to restore.
    saved: Option<rustix::termios::Termios>,
}

impl Relay {
    pub fn start(master: OwnedFd) -> std::io::Result<Relay> {
        let master = std::sync::Arc::new(master);
        let stdin = std::io::stdin();
        let saved = if rustix::termios::isatty(&stdin) {
            let saved = rustix::termios::tcgetattr(&stdin)?;
            let mut raw = saved.clone();
            raw.make_raw();
            rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw)?;
            Some(saved)
        } else {
            None
        };
        let mut relay = Relay {
            master: master.clone(),
            output: None,
            saved,
        };
        relay.resize();
        let input = master.clone();
        // Blocks in a read of stdin for as long as the runtime lives.
        std::thread::Builder::new()
            .name("relay-in".into())
            .spawn(move || copy(&std::io::stdin(), &input))?;
        let output = std::thread::Builder::new()
            .name("relay-out".into())
            .spawn(move || copy(&*master, &std::io::stdout()))?;
        relay.output = Some(output);
        Ok(relay)
    }

    /// Gives the pty the runtime's window size (at start and on SIGWINCH);
    /// returns it (columns, rows) if the runtime's stdin has one.
    pub fn resize(&self) -> Option<(u16, u16)> {
        let ws = rustix::termios::tcgetwinsize(std::io::stdin()).ok()?;
        let _ = rustix::termios::tcsetwinsize(&*self.master, ws);
        Some((ws.ws_col, ws.ws_row))
    }

    /// Waits until the container's terminal has hung up and everything it
    /// wrote is out.
    pub fn finish(mut self) {
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

/// Copies `from` to `to` until either ends.
pub fn copy(from: &impl AsFd, to: &impl AsFd) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match rustix::io::read(from, &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        };
        let mut done = 0;
        while done < n {
            match rustix::io::write(to, &buf[done..n]) {
                Ok(k) => done += k,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// Sends `master` over the unix socket at `socket`, as runc does for
/// `--console-socket`: one message whose data is the master's name and
/// whose `SCM_RIGHTS` carry the one FD.
pub fn send_master(socket: &Path, master: &OwnedFd) -> std::io::Result<()> {
    let stream = UnixStream::connect(socket)?;
    let fds = [master.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = SendAncillaryBuffer::new(&mut space);
    if !ancillary.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("control message buffer too small"));
    }
    let data = [IoSlice::new(MASTER_NAME.as_bytes())];
    let sent = rustix::net::sendmsg(&stream, &data, &mut ancillary, SendFlags::empty())?;
    if sent != MASTER_NAME.len() {
        return Err(std::io::Error::other("short write to the console socket"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::{Read, Write};

    #[test]
    fn the_master_reaches_the_socket_and_drives_the_replica() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let console = Console::create().unwrap();
        send_master(&path, &console.master).unwrap();

        let (conn, _) = listener.accept().unwrap();
        let mut name = [0u8; 64];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut ancillary = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &conn,
            &mut [std::io::IoSliceMut::new(&mut name)],
            &mut ancillary,
            RecvFlags::empty(),
        )
        .unwrap();
        assert_eq!(&name[..got.bytes], MASTER_NAME.as_bytes());
        let mut fds = Vec::new();
        for m in ancillary.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = m {
                fds.extend(rights);
            }
        }
        assert_eq!(fds.len(), 1);

        // What the received master writes, the replica reads.
        let mut master = std::fs::File::from(fds.pop().unwrap());
        let mut replica = std::fs::File::from(console.replica);
        master.write_all(b"hi\n").unwrap();
        let mut buf = [0u8; 3];
        replica.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi\n");
    }
}
