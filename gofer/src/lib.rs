//! The gofer: vigil's trusted file proxy. One gofer serves one container's
//! mounts over lisafs, from inside a jail whose root is the container's
//! filesystem.

pub mod backend;
pub mod filter;
pub mod jail;

use lisafs::{ServeOptions, Socket};
use std::collections::HashSet;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// How the gofer was started.
#[derive(Debug, Clone)]
pub struct GoferArgs {
    /// The OCI bundle: `config.json` and, usually, the rootfs.
    pub bundle: PathBuf,
    /// Inherited lisafs sockets: the root mount's first, then one per bind
    /// mount in spec order.
    pub io_fds: Vec<RawFd>,
    /// Donate mount-root FDs to a client that asks (directfs).
    pub directfs: bool,
}

/// Why the gofer could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Jail(#[from] jail::Error),
    #[error(
        "--io-fds lists {given} FDs, but the spec has {expected} mounts to serve (the root and {binds} bind mounts)"
    )]
    IoFdCount {
        given: usize,
        expected: usize,
        binds: usize,
    },
    #[error("io FD {0} is listed twice")]
    IoFdTwice(RawFd),
    #[error("io FD {0} is not open")]
    IoFdNotOpen(RawFd),
    #[error("io FD {fd} is not a SOCK_SEQPACKET socket: {errno}")]
    IoFdNotSeqpacket { fd: RawFd, errno: lisafs::Errno },
    #[error("start the thread of connection {index}: {source}")]
    Thread {
        index: usize,
        source: std::io::Error,
    },
}

/// Jails the process, then serves connection `i` for served mount `i`,
/// each on its own thread. Returns when every connection has ended; one
/// that ends with an error is logged and does not disturb the others.
pub fn run(args: GoferArgs) -> Result<(), Error> {
    let plan = jail::Plan::load(&args.bundle)?;
    if args.io_fds.len() != plan.served_mounts() {
        return Err(Error::IoFdCount {
            given: args.io_fds.len(),
            expected: plan.served_mounts(),
            binds: plan.binds.len(),
        });
    }
    let sockets = adopt_io_fds(&args.io_fds)?;
    let jailed = jail::enter(&plan, &mut jail::RealHost)?;
    tracing::info!(
        mounts = jailed.mounts.len(),
        directfs = args.directfs,
        "gofer jailed, serving"
    );

    let mut threads = Vec::with_capacity(sockets.len());
    for (index, (mount, sock)) in jailed.mounts.into_iter().zip(sockets).enumerate() {
        let backend = backend::HostBackend::new(mount.root, jailed.proc.clone());
        let opts = ServeOptions {
            readonly: mount.readonly,
            directfs: args.directfs,
        };
        let destination = mount.destination;
        let thread = std::thread::Builder::new()
            .spawn(move || lisafs::serve(&backend, sock, opts))
            .map_err(|source| Error::Thread { index, source })?;
        threads.push((index, destination, thread));
    }
    for (index, destination, thread) in threads {
        let mount = destination.display();
        match thread.join() {
            Ok(Ok(())) => tracing::debug!("connection {index} ({mount}) closed"),
            // The error is the end of the line, for whoever reads the log.
            Ok(Err(e)) => tracing::warn!("connection {index} ({mount}) ended: {e}"),
            Err(_) => tracing::error!("connection {index} ({mount}) panicked"),
        }
    }
    Ok(())
}

/// Takes ownership of the inherited sockets after checking each one, so a
/// bad launch fails here with the FD's number rather than later.
fn adopt_io_fds(fds: &[RawFd]) -> Result<Vec<Socket>, Error> {
    let mut seen = HashSet::new();
    for &fd in fds {
        if !seen.insert(fd) {
            return Err(Error::IoFdTwice(fd));
        }
        // SAFETY: F_GETFD only reads the FD table; a number that is not an
        // open FD fails with EBADF.
        if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(Error::IoFdNotOpen(fd));
        }
        // SAFETY: `fd` is open (checked above) and only borrowed for the call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        Socket::check_seqpacket(borrowed).map_err(|errno| Error::IoFdNotSeqpacket { fd, errno })?;
    }
    Ok(fds
        .iter()
        .map(|&fd| {
            // SAFETY: each FD is open, listed once, and was handed to the
            // gofer to own; nothing else in the process refers to it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // Keep the sockets out of anything the gofer might execute.
            let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
            Socket::from_fd(fd)
        })
        .collect())
}
