//! The gofer: vigil's trusted file proxy. One gofer serves one container's
//! mounts over lisafs, from inside a jail whose root is the container's
//! filesystem.

pub mod backend;
pub mod filter;
pub mod jail;

use lisafs::{ServeOptions, Socket};

use std::os::fd::RawFd;
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
    #[error(transparent)]
    IoFd(#[from] lisafs::transport::AdoptError),
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
    let sockets = Socket::adopt(&args.io_fds)?;
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
