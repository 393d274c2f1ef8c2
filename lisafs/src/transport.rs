//! The socket transport: one lisafs message per `SOCK_SEQPACKET` datagram,
//! an 8-byte header, FDs passed alongside by `SCM_RIGHTS`.

use crate::message::MAX_MESSAGE_SIZE;
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The header in front of every message.
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    pub payload_len: u32,
    pub mid: u16,
    pub pad: u16,
}

pub const HEADER_SIZE: usize = size_of::<Header>();

/// At most this many FDs travel with one message. No lisafs message carries
/// more than one; room for a few more lets the receiver see (and reject) a
/// peer that sends extras instead of having the kernel drop them silently.
pub const MAX_FDS: usize = 4;

/// Why a message could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("peer closed the connection")]
    Closed,
    #[error("socket error: {0}")]
    Io(#[from] Errno),
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("message shorter than its header ({0} bytes)")]
    ShortHeader(usize),
    #[error("header says {said} payload bytes, datagram carries {got}")]
    LengthMismatch { said: usize, got: usize },
    #[error("more FDs than a message may carry")]
    TooManyFds,
}

/// A received message: id, payload (in the caller's buffer) and FDs.
pub struct Received {
    pub mid: u16,
    pub payload_len: usize,
    pub fds: Vec<OwnedFd>,
}

/// One end of a lisafs connection.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// A connected pair of sockets, both close-on-exec.
    pub fn pair() -> Result<(Socket, Socket), Errno> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((Socket::from_fd(a), Socket::from_fd(b)))
    }

    /// Wraps an inherited FD; the caller vouches that it is a connected
    /// `SOCK_SEQPACKET` unix socket (see `check_seqpacket`).
    pub fn from_fd(fd: OwnedFd) -> Socket {
        // A datagram must fit the send buffer whole, and the default buffer
        // (about 200 KiB) is far below the protocol limit. Raising it is
        // best effort: `max_payload` reports what the socket really carries.
        let want = 2 * (HEADER_SIZE + MAX_MESSAGE_SIZE as usize);
        if rustix::net::sockopt::set_socket_send_buffer_size_force(&fd, want).is_err() {
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(&fd, want);
        }
        Socket { fd }
    }

    /// The largest payload this end can send: the protocol limit, or less if
    /// the kernel's send buffer for this socket is smaller.
    pub fn max_payload(&self) -> u32 {
        // The kernel refuses a datagram longer than the send buffer less 32.
        let sndbuf = rustix::net::sockopt::socket_send_buffer_size(&self.fd).unwrap_or(0);
        let fits = sndbuf.saturating_sub(32 + HEADER_SIZE);
        fits.min(MAX_MESSAGE_SIZE as usize) as u32
    }

    /// Verifies that an inherited FD really is a `SOCK_SEQPACKET` socket, so a
    /// misconfigured launch fails with a clear error instead of odd framing.
    pub fn check_seqpacket(fd: BorrowedFd<'_>) -> Result<(), Errno> {
        match rustix::net::sockopt::socket_type(fd)? {
            SocketType::SEQPACKET => Ok(()),
            _ => Err(Errno::NOTSOCK),
        }
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Sends one message. Payloads above the limit are refused here so that
    /// a well-behaved peer never has to drop them.
    pub fn send(
        &self,
        mid: u16,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), TransportError> {
        if payload.len() > MAX_MESSAGE_SIZE as usize {
            return Err(TransportError::TooLarge(payload.len()));
        }
        if fds.len() > MAX_FDS {
            return Err(TransportError::TooManyFds);
        }
        let header = Header {
            payload_len: payload.len() as u32,
            mid,
            pad: 0,
        };
        let iov = [IoSlice::new(header.as_bytes()), IoSlice::new(payload)];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(TransportError::TooManyFds);
        }
        loop {
            match rustix::net::sendmsg(&self.fd, &iov, &mut control, SendFlags::NOSIGNAL) {
                Ok(n) if n == HEADER_SIZE + payload.len() => return Ok(()),
                // SOCK_SEQPACKET sends whole datagrams or fails.
                Ok(n) => {
                    return Err(TransportError::LengthMismatch {
                        said: payload.len(),
                        got: n,
                    })
                }
                Err(Errno::INTR) => continue,
                Err(Errno::PIPE) | Err(Errno::CONNRESET) => return Err(TransportError::Closed),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives one message into `buf`, which is grown to hold the largest
    /// allowed message. Every FD that arrived is owned by the result or
    /// closed, whatever goes wrong.
    pub fn recv(&self, buf: &mut Vec<u8>) -> Result<Received, TransportError> {
        let cap = HEADER_SIZE + MAX_MESSAGE_SIZE as usize;
        if buf.len() < cap {
            buf.resize(cap, 0);
        }
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let (msg, fds) = loop {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut buf[..cap])];
            match rustix::net::recvmsg(&self.fd, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
                Ok(msg) => {
                    let mut fds = Vec::new();
                    for m in control.drain() {
                        if let RecvAncillaryMessage::ScmRights(rights) = m {
                            fds.extend(rights);
                        }
                    }
                    break (msg, fds);
                }
                Err(Errno::INTR) => continue,
                Err(Errno::CONNRESET) => return Err(TransportError::Closed),
                Err(e) => return Err(e.into()),
            }
        };
        if msg.flags.contains(ReturnFlags::CTRUNC) {
            return Err(TransportError::TooManyFds);
        }
        if msg.flags.contains(ReturnFlags::TRUNC) {
            return Err(TransportError::TooLarge(msg.bytes));
        }
        if msg.bytes == 0 && fds.is_empty() {
            return Err(TransportError::Closed);
        }
        if msg.bytes < HEADER_SIZE {
            return Err(TransportError::ShortHeader(msg.bytes));
        }
        let header = Header::read_from_bytes(&buf[..HEADER_SIZE]).expect("header size is fixed");
        let got = msg.bytes - HEADER_SIZE;
        if header.payload_len as usize != got {
            return Err(TransportError::LengthMismatch {
                said: header.payload_len as usize,
                got,
            });
        }
        Ok(Received {
            mid: header.mid,
            payload_len: got,
            fds,
        })
    }
}

/// Why inherited FDs could not be taken as lisafs sockets.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("io FD {0} is listed twice")]
    Twice(RawFd),
    #[error("io FD {0} is not an open FD above stdio")]
    NotOpen(RawFd),
    #[error("io FD {fd} is not a SOCK_SEQPACKET socket: {errno}")]
    NotSeqpacket { fd: RawFd, errno: Errno },
}

impl Socket {
    /// Takes ownership of sockets a process inherited (`--io-fds`), after
    /// checking each one, so a bad launch fails with the FD's number rather
    /// than later. The FDs become close-on-exec.
    pub fn adopt(fds: &[RawFd]) -> Result<Vec<Socket>, AdoptError> {
        let mut seen = std::collections::HashSet::new();
        for &fd in fds {
            if !seen.insert(fd) {
                return Err(AdoptError::Twice(fd));
            }
            if fd < 3 {
                return Err(AdoptError::NotOpen(fd));
            }
            // SAFETY: only borrowed for the check; a number that is not an
            // open FD makes fcntl fail with EBADF rather than touch anything.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            if rustix::io::fcntl_getfd(borrowed).is_err() {
                return Err(AdoptError::NotOpen(fd));
            }
            Socket::check_seqpacket(borrowed)
                .map_err(|errno| AdoptError::NotSeqpacket { fd, errno })?;
        }
        Ok(fds
            .iter()
            .map(|&fd| {
                // SAFETY: each FD is an open socket (checked above), listed
                // once, and handed to this process to own.
                let fd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
                let fd: OwnedFd = fd;
                let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
                Socket::from_fd(fd)
            })
            .collect())
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The payload of a message received into `buf`.
pub fn payload<'a>(buf: &'a [u8], r: &Received) -> &'a [u8] {
    &buf[HEADER_SIZE..HEADER_SIZE + r.payload_len]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_send(s: &Socket, bytes: &[u8]) {
        rustix::net::send(s, bytes, SendFlags::empty()).unwrap();
    }

    #[test]
    fn message_and_fd_round_trip() {
        let (a, b) = Socket::pair().unwrap();
        let (p, _q) = Socket::pair().unwrap();
        a.send(7, b"hello", &[p.as_fd()]).unwrap();
        let mut buf = Vec::new();
        let r = b.recv(&mut buf).unwrap();
        assert_eq!(r.mid, 7);
        assert_eq!(payload(&buf, &r), b"hello");
        assert_eq!(r.fds.len(), 1);
    }

    #[test]
    fn malformed_frames_are_errors() {
        let (a, b) = Socket::pair().unwrap();
        let mut buf = Vec::new();
        raw_send(&a, &[1, 2, 3]);
        assert!(matches!(
            b.recv(&mut buf),
            Err(TransportError::ShortHeader(3))
        ));
        let lying = Header {
            payload_len: 100,
            mid: 3,
            pad: 0,
        };
        raw_send(&a, lying.as_bytes());
        assert!(matches!(
            b.recv(&mut buf),
            Err(TransportError::LengthMismatch { said: 100, got: 0 })
        ));
        let huge = vec![0u8; HEADER_SIZE + MAX_MESSAGE_SIZE as usize + 1];
        raw_send(&a, &huge);
        assert!(matches!(b.recv(&mut buf), Err(TransportError::TooLarge(_))));
        drop(a);
        assert!(matches!(b.recv(&mut buf), Err(TransportError::Closed)));
    }

    #[test]
    fn oversized_payload_is_not_sent() {
        let (a, _b) = Socket::pair().unwrap();
        let big = vec![0u8; MAX_MESSAGE_SIZE as usize + 1];
        assert!(matches!(
            a.send(1, &big, &[]),
            Err(TransportError::TooLarge(_))
        ));
    }
}
