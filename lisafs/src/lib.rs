//! lisafs: the file protocol between vigil's sentry (client) and gofer
//! (server). It keeps gVisor's message set and numbering; messages travel
//! over a `SOCK_SEQPACKET` unix socket with FDs passed by `SCM_RIGHTS`, and
//! only the server ever donates FDs. Nothing here knows about a VFS or OCI.
//!
//! - [`message`]: ids, wire structs, request/response pairs.
//! - [`codec`]: the bounds-checked encoder and decoder.
//! - [`transport`]: framing and FD passing on the socket.
//! - [`client`]: the calls the sentry makes.
//! - [`server`]: the protocol logic of a server over a [`server::Backend`].
//! - `testsuite` (feature `testsuite`): the conformance suite for backends.

pub mod client;
pub mod codec;
pub mod fuzz;
pub mod message;
pub mod server;
pub mod transport;

#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use client::{Client, Mounted};
pub use message::{Dirent64, FdId, Inode, Mid, StatFs, Statx, Timestamp};
pub use rustix::io::Errno;
pub use server::{serve, Backend, Name, Owner, ServeError, ServeOptions};
pub use transport::Socket;
