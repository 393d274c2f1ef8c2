//! A hostile client against the gofer's lisafs server (`lisafs::serve` over
//! `HostBackend`): raw datagrams with broken framing, unknown ids, lying
//! lengths, donated FDs and mutated requests, then long runs of well-formed
//! requests with random arguments from a mounted `lisafs::Client`.
//!
//! What must hold: the server never panics or hangs; a datagram it cannot
//! accept ends the connection with an error, anything else gets exactly one
//! well-formed answer; a well-formed request never breaks the connection;
//! and nothing outside the served directory is touched.

use gofer::backend::{HostBackend, ProcSelfFd};
use lisafs::message::{self, Mid, MountReq, MAX_MESSAGE_SIZE, NO_ID};
use lisafs::server::ServeError;
use lisafs::transport::{TransportError, HEADER_SIZE};
use lisafs::{Client, FdId, ServeOptions, Socket};
use proptest::prelude::*;
use proptest::sample::Index;
use rustix::fs::{Mode, OFlags};
use rustix::net::SendFlags;
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

/// Longer than any request takes on a healthy server; a server that
/// neither answers nor closes within it has hung.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A served tree: `served/` is what the client sees, `outside` is a
/// neighbour that no request may reach.
struct Tree {
    top: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let top = tempfile::tempdir().expect("tempdir");
        let served = top.path().join("served");
        fs::create_dir_all(served.join("dir/sub")).unwrap();
        fs::write(served.join("file"), b"contents").unwrap();
        fs::write(served.join("dir/inner"), b"inner").unwrap();
        std::os::unix::fs::symlink("../outside", served.join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc", served.join("abs")).unwrap();
        fs::write(top.path().join("outside"), b"keep").unwrap();
        fs::set_permissions(
            top.path().join("outside"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        Tree { top }
    }

    fn served(&self) -> PathBuf {
        self.top.path().join("served")
    }

    /// The neighbour of the served directory is as it was made.
    fn check_outside(&self) {
        let mut names: Vec<_> = fs::read_dir(self.top.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["outside", "served"], "entries beside the mount");
        let outside = self.top.path().join("outside");
        assert_eq!(fs::read(&outside).unwrap(), b"keep");
        let meta = fs::symlink_metadata(&outside).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Requests may have left directories without search permission or
        // with odd owners; as root that does not stop removal, otherwise make
        // sure it does not.
        let _ = fs::set_permissions(self.served(), fs::Permissions::from_mode(0o755));
    }
}

type Server = JoinHandle<Result<(), ServeError>>;

/// Serves `root` on a thread, as the gofer serves each connection.
fn start(root: &Path, opts: ServeOptions) -> (Socket, Server) {
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("open the mount root");
    let proc = ProcSelfFd::open().expect("open /proc/self/fd");
    let (client, server) = Socket::pair().expect("socketpair");
    rustix::net::sockopt::set_socket_timeout(
        &client,
        rustix::net::sockopt::Timeout::Recv,
        Some(ANSWER_TIMEOUT),
    )
    .expect("receive timeout");
    let thread = std::thread::Builder::new()
        .name("lisafs-server".into())
        .spawn(move || lisafs::serve(&HostBackend::new(root_fd, proc), server, opts))
        .expect("spawn the server thread");
    (client, thread)
}

/// Waits for the server and turns a panic into a test failure that says so.
fn finish(server: Server) -> Result<(), ServeError> {
    server.join().unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("?");
        panic!("the server panicked: {what}")
    })
}

/// One datagram from a hostile client.
#[derive(Debug, Clone)]
enum Datagram {
    /// A correct header, any id, any payload.
    Framed { mid: u16, payload: Vec<u8> },
    /// A valid encoding of some message (request or response), sent under
    /// its own id with a few bytes flipped and maybe cut short.
    Mutated {
        seed: Index,
        flips: Vec<(Index, u8)>,
        cut: Option<Index>,
    },
    /// A header whose length field disagrees with the datagram.
    Lying {
        said: u32,
        mid: u16,
        payload: Vec<u8>,
    },
    /// Fewer bytes than a header (none at all reads as the client closing).
    Short(Vec<u8>),
    /// A valid-looking request carrying an FD: clients never donate FDs.
    WithFd { mid: u16 },
}

/// Mostly ids the server knows, some just past the end, some anything.
fn any_mid() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => 0u16..Mid::ALL.len() as u16,
        1 => Mid::ALL.len() as u16..64,
        1 => any::<u16>(),
    ]
}

fn datagram() -> impl Strategy<Value = Datagram> {
    let payload = prop::collection::vec(any::<u8>(), 0..96);
    prop_oneof![
        3 => (any_mid(), payload.clone())
            .prop_map(|(mid, payload)| Datagram::Framed { mid, payload }),
        4 => (
            any::<Index>(),
            prop::collection::vec((any::<Index>(), 1u8..), 0..3),
            prop::option::weighted(0.3, any::<Index>()),
        )
            .prop_map(|(seed, flips, cut)| Datagram::Mutated { seed, flips, cut }),
        1 => (any::<u32>(), any_mid(), payload.clone())
            .prop_map(|(said, mid, payload)| Datagram::Lying { said, mid, payload }),
        1 => prop::collection::vec(any::<u8>(), 0..HEADER_SIZE).prop_map(Datagram::Short),
        1 => any_mid().prop_map(|mid| Datagram::WithFd { mid }),
    ]
}

/// Valid encodings to mutate. FAllocate is left out: a flipped length
/// could make the host reserve gigabytes of real disk for a test file.
fn seeds() -> Vec<Vec<u8>> {
    lisafs::fuzz::seeds()
        .into_iter()
        .filter(|s| s[0] != Mid::FAllocate as u8)
        .collect()
}

/// A message header as the transport lays it out, with any length field.
fn header(payload_len: u32, mid: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_SIZE);
    h.extend_from_slice(&payload_len.to_ne_bytes());
    h.extend_from_slice(&mid.to_ne_bytes());
    h.extend_from_slice(&0u16.to_ne_bytes());
    h
}

fn raw_send(sock: &Socket, bytes: &[u8]) -> Result<(), TransportError> {
    match rustix::net::send(sock, bytes, SendFlags::NOSIGNAL) {
        Ok(_) => Ok(()),
        Err(rustix::io::Errno::PIPE) | Err(rustix::io::Errno::CONNRESET) => {
            Err(TransportError::Closed)
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends `d`; returns the id the server will answer under, if any, and
/// whether the datagram was empty (which the server takes as a close).
fn send(
    sock: &Socket,
    d: &Datagram,
    seeds: &[Vec<u8>],
) -> Result<(Option<u16>, bool), TransportError> {
    match d {
        Datagram::Framed { mid, payload } => {
            sock.send(*mid, payload, &[])?;
            Ok((Some(*mid), false))
        }
        Datagram::Mutated { seed, flips, cut } => {
            let seed = &seeds[seed.index(seeds.len())];
            let mut payload = seed[1..].to_vec();
            if !payload.is_empty() {
                for (at, mask) in flips {
                    let i = at.index(payload.len());
                    payload[i] ^= mask;
                }
            }
            if let Some(cut) = cut {
                payload.truncate(cut.index(payload.len() + 1));
            }
            sock.send(u16::from(seed[0]), &payload, &[])?;
            Ok((Some(u16::from(seed[0])), false))
        }
        Datagram::Lying { said, mid, payload } => {
            let mut bytes = header(*said, *mid);
            bytes.extend_from_slice(payload);
            raw_send(sock, &bytes)?;
            let honest = *said as usize == payload.len();
            Ok((honest.then_some(*mid), false))
        }
        Datagram::Short(bytes) => {
            raw_send(sock, bytes)?;
            Ok((None, bytes.is_empty()))
        }
        Datagram::WithFd { mid } => {
            let (extra, _keep) = Socket::pair().map_err(TransportError::Io)?;
            let body = message::encode(&lisafs::message::FStatReq { fd: 1 });
            sock.send(*mid, &body, &[extra.as_fd()])?;
            Ok((None, false))
        }
    }
}

/// Checks one answer: an error with a real errno, or a response under the
/// request's id that decodes as that id's response type.
fn check_answer(mid: u16, got: &lisafs::transport::Received, buf: &[u8]) {
    let body = lisafs::transport::payload(buf, got);
    if got.mid == Mid::Error as u16 {
        assert!(got.fds.is_empty(), "FD donated with an error");
        let e: message::ErrorResp = message::decode_exact(body).expect("error response");
        assert!((1..4096).contains(&e.errno), "errno {}", e.errno);
        return;
    }
    assert_eq!(got.mid, mid, "answer under another id");
    let mid = Mid::from_u16(mid).expect("answered an unknown id");
    // Opening a regular file donates its host FD; nothing else does here
    // (the mount root only in directfs mode, which these servers refuse).
    let may_donate = matches!(mid, Mid::OpenAt | Mid::OpenCreateAt);
    assert!(
        got.fds.len() <= usize::from(may_donate),
        "{} FDs donated with a {mid:?} answer",
        got.fds.len()
    );
    assert!(
        lisafs::fuzz::decode_as(mid, body) > 0,
        "{mid:?} answer does not decode"
    );
}

/// Sends `datagrams` (after a Mount if `mount`) and checks each outcome.
fn hostile_session(mount: bool, datagrams: &[Datagram]) {
    let tree = Tree::new();
    let (sock, server) = start(&tree.served(), ServeOptions::default());
    let seeds = seeds();
    let mut buf = Vec::new();
    if mount {
        sock.send(
            Mid::Mount as u16,
            &message::encode(&MountReq { flags: 0 }),
            &[],
        )
        .unwrap();
        let got = sock.recv(&mut buf).expect("mount answer");
        assert_eq!(got.mid, Mid::Mount as u16);
    }
    let mut closed_by_us = false;
    let mut closed_by_server = false;
    for d in datagrams {
        let (answer, empty) = match send(&sock, d, &seeds) {
            Ok(sent) => sent,
            Err(TransportError::Closed) => {
                closed_by_server = true;
                break;
            }
            Err(e) => panic!("send {d:?}: {e}"),
        };
        if empty {
            closed_by_us = true;
            break;
        }
        match sock.recv(&mut buf) {
            Ok(got) => {
                let mid = answer.unwrap_or_else(|| panic!("{d:?} was answered"));
                check_answer(mid, &got, &buf);
            }
            Err(TransportError::Closed) => {
                closed_by_server = true;
                break;
            }
            Err(e) => panic!("after {d:?} the server neither answered nor closed: {e}"),
        }
    }
    drop(sock);
    let result = finish(server);
    if closed_by_server && !closed_by_us {
        assert!(result.is_err(), "the server closed but reports a clean end");
    }
    tree.check_outside();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_datagrams(
        mount in prop::bool::weighted(0.8),
        datagrams in prop::collection::vec(datagram(), 1..8),
    ) {
        hostile_session(mount, &datagrams);
    }
}

/// A named way of breaking the framing.
type Breakage = (&'static str, Box<dyn Fn(&Socket)>);

/// Each kind of framing error, alone, ends the connection with an error.
#[test]
fn framing_errors_end_the_connection() {
    let cases: Vec<Breakage> = vec![
        (
            "short header",
            Box::new(|s| raw_send(s, &[1, 2, 3]).unwrap()),
        ),
        (
            "lying length",
            Box::new(|s| raw_send(s, &header(9, Mid::FStat as u16)).unwrap()),
        ),
        (
            "oversized datagram",
            Box::new(|s| {
                let big = vec![0u8; HEADER_SIZE + MAX_MESSAGE_SIZE as usize + 1];
                raw_send(s, &big).unwrap()
            }),
        ),
        ("unknown id", Box::new(|s| s.send(999, &[], &[]).unwrap())),
        (
            "Error sent as a request",
            Box::new(|s| s.send(Mid::Error as u16, &[0; 4], &[]).unwrap()),
        ),
        (
            "donated FD",
            Box::new(|s| {
                let (extra, _keep) = Socket::pair().unwrap();
                let body = message::encode(&MountReq { flags: 0 });
                s.send(Mid::Mount as u16, &body, &[extra.as_fd()]).unwrap()
            }),
        ),
        (
            "malformed Mount",
            Box::new(|s| s.send(Mid::Mount as u16, &[1, 2], &[]).unwrap()),
        ),
    ];
    for (what, send) in cases {
        let tree = Tree::new();
        let (sock, server) = start(&tree.served(), ServeOptions::default());
        send(&sock);
        let mut buf = Vec::new();
        assert!(
            matches!(sock.recv(&mut buf), Err(TransportError::Closed)),
            "{what}: the connection stays open"
        );
        assert!(finish(server).is_err(), "{what}: serve reports success");
    }
}

/// A well-formed request with random arguments, through the client API.
#[derive(Debug, Clone)]
enum Op {
    FStat(Fd),
    Walk(Fd, Vec<Vec<u8>>),
    WalkStat(Fd, Vec<Vec<u8>>, bool),
    OpenAt(Fd, u32),
    /// A one-step walk and an open of what it found: the way to get open
    /// files for the I/O requests to work on.
    OpenChild(Fd, Vec<u8>, u32),
    Create(Fd, Vec<u8>, u32, u32),
    Close(Vec<Fd>),
    FSync(Vec<Fd>),
    PWrite(Fd, u64, Vec<u8>),
    PRead(Fd, u64, u32),
    Mkdir(Fd, Vec<u8>, u32),
    Mknod(Fd, Vec<u8>, u32),
    Symlink(Fd, Vec<u8>, Vec<u8>),
    Link(Fd, Fd, Vec<u8>),
    StatFs(Fd),
    Allocate(Fd, u32, u64, u64),
    ReadLink(Fd),
    Flush(Fd),
    Unlink(Fd, Vec<u8>, u32),
    Rename(Fd, Vec<u8>, Fd, Vec<u8>, u32),
    Getdents(Fd, u32),
    GetXattr(Fd, Vec<u8>, u32),
    SetXattr(Fd, Vec<u8>, Vec<u8>, u32),
    ListXattr(Fd, u64),
    RemoveXattr(Fd, Vec<u8>),
    SetStat(Fd, message::SetStatReq),
}

/// An FD id in a request: mostly one the server handed out on this
/// connection (control FDs: the root, walked and created inodes; open FDs:
/// opened files), chosen by position when the request is sent; sometimes
/// any number at all.
#[derive(Debug, Clone)]
enum Fd {
    Control(Index),
    Open(Index),
    Raw(FdId),
}

/// The ids the server has handed out so far.
struct Held {
    control: Vec<FdId>,
    open: Vec<FdId>,
}

impl Fd {
    fn id(&self, held: &Held) -> FdId {
        let pick = |ids: &[FdId], i: &Index| {
            if ids.is_empty() {
                0
            } else {
                ids[i.index(ids.len())]
            }
        };
        match self {
            Fd::Control(i) => pick(&held.control, i),
            Fd::Open(i) => pick(&held.open, i),
            Fd::Raw(id) => *id,
        }
    }
}

fn raw_fd() -> impl Strategy<Value = Fd> {
    prop_oneof![0u64..32, any::<u64>()].prop_map(Fd::Raw)
}

/// For requests on control FDs.
fn fd() -> impl Strategy<Value = Fd> {
    prop_oneof![
        8 => any::<Index>().prop_map(Fd::Control),
        1 => any::<Index>().prop_map(Fd::Open),
        1 => raw_fd(),
    ]
}

/// For requests on open FDs.
fn open_fd() -> impl Strategy<Value = Fd> {
    prop_oneof![
        8 => any::<Index>().prop_map(Fd::Open),
        1 => any::<Index>().prop_map(Fd::Control),
        1 => raw_fd(),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "a", "b", "file", "dir", "sub", "inner", "escape", "abs", "new", "outside",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::sample::select(vec!["", ".", "..", "a/b", "/", "../outside", "x\0y"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn path() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(name(), 0..6)
}

fn flags() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => prop::sample::select(vec![
            libc::O_RDONLY as u32,
            libc::O_WRONLY as u32,
            libc::O_RDWR as u32,
            (libc::O_RDWR | libc::O_TRUNC) as u32,
            libc::O_ACCMODE as u32,
        ]),
        1 => any::<u32>(),
    ]
}

fn mode() -> impl Strategy<Value = u32> {
    prop_oneof![
        prop::sample::select(vec![
            0o644,
            libc::S_IFREG | 0o600,
            libc::S_IFIFO | 0o600,
            libc::S_IFSOCK | 0o600,
            libc::S_IFCHR | 0o666,
            libc::S_IFBLK | 0o660,
            libc::S_IFDIR | 0o755,
            0o7777,
        ]),
        any::<u32>(),
    ]
}

fn xattr_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "user.a",
            "user.b",
            "trusted.overlay.opaque",
            "security.capability",
            "system.posix_acl_access",
            "",
            "nonamespace",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn small_data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

fn op() -> impl Strategy<Value = Op> {
    let tree_ops = prop_oneof![
        fd().prop_map(Op::FStat),
        (fd(), path()).prop_map(|(d, p)| Op::Walk(d, p)),
        (fd(), path(), any::<bool>()).prop_map(|(d, p, i)| Op::WalkStat(d, p, i)),
        (fd(), flags()).prop_map(|(f, fl)| Op::OpenAt(f, fl)),
        (fd(), name(), flags()).prop_map(|(d, n, fl)| Op::OpenChild(d, n, fl)),
        (fd(), name(), flags(), mode()).prop_map(|(d, n, f, m)| Op::Create(d, n, f, m)),
        prop::collection::vec(fd(), 0..4).prop_map(Op::Close),
        prop::collection::vec(open_fd(), 0..4).prop_map(Op::FSync),
        fd().prop_map(Op::StatFs),
        fd().prop_map(Op::ReadLink),
    ];
    let io_ops = prop_oneof![
        // Offsets may be huge: the file becomes sparse, not large.
        (open_fd(), any::<u32>(), small_data()).prop_map(|(f, o, d)| Op::PWrite(
            f,
            u64::from(o),
            d
        )),
        (open_fd(), any::<u64>(), any::<u32>()).prop_map(|(f, o, c)| Op::PRead(f, o, c)),
        // Lengths stay small: fallocate reserves real disk.
        (open_fd(), 0u32..0x80, 0u64..1 << 20, 0u64..1 << 20)
            .prop_map(|(f, m, o, l)| Op::Allocate(f, m, o, l)),
        open_fd().prop_map(Op::Flush),
        (open_fd(), any::<u32>()).prop_map(|(f, c)| Op::Getdents(f, c)),
    ];
    let change_ops = prop_oneof![
        (fd(), name(), mode()).prop_map(|(d, n, m)| Op::Mkdir(d, n, m)),
        (fd(), name(), mode()).prop_map(|(d, n, m)| Op::Mknod(d, n, m)),
        (fd(), name(), name()).prop_map(|(d, n, t)| Op::Symlink(d, n, t)),
        (fd(), fd(), name()).prop_map(|(d, t, n)| Op::Link(d, t, n)),
        (
            fd(),
            name(),
            prop_oneof![Just(0u32), Just(0x200), any::<u32>()]
        )
            .prop_map(|(d, n, f)| Op::Unlink(d, n, f)),
        (
            fd(),
            name(),
            fd(),
            name(),
            prop_oneof![Just(0u32), 1..4u32, any::<u32>()]
        )
            .prop_map(|(a, n, b, m, f)| Op::Rename(a, n, b, m, f)),
        (
            fd(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            0u64..1 << 40
        )
            .prop_map(|(f, mask, mode, id, size)| {
                Op::SetStat(
                    f,
                    message::SetStatReq {
                        mask,
                        mode,
                        uid: id,
                        gid: id,
                        size,
                        ..Default::default()
                    },
                )
            }),
    ];
    let xattr_ops = prop_oneof![
        (fd(), xattr_name(), any::<u32>()).prop_map(|(f, n, s)| Op::GetXattr(f, n, s)),
        (fd(), xattr_name(), small_data(), 0u32..4)
            .prop_map(|(f, n, v, fl)| Op::SetXattr(f, n, v, fl)),
        (fd(), any::<u64>()).prop_map(|(f, s)| Op::ListXattr(f, s)),
        (fd(), xattr_name()).prop_map(|(f, n)| Op::RemoveXattr(f, n)),
    ];
    prop_oneof![3 => tree_ops, 2 => io_ops, 3 => change_ops, 1 => xattr_ops]
}

fn comps(p: &[Vec<u8>]) -> Vec<&[u8]> {
    p.iter().map(Vec::as_slice).collect()
}

/// Runs `op`, adding the ids it was handed to `held`. The answer (success
/// or errno) does not matter, only that the connection survives it, which
/// the caller checks.
fn apply(c: &Client, op: &Op, held: &mut Held) -> Result<(), rustix::io::Errno> {
    let id = |f: &Fd| f.id(held);
    let ids = |fs: &[Fd]| fs.iter().map(|f| f.id(held)).collect::<Vec<_>>();
    let mut got = Vec::new();
    let mut opened = Vec::new();
    let r = match op {
        Op::FStat(f) => c.fstat(id(f)).map(drop),
        Op::Walk(d, p) => c.walk(id(d), &comps(p)).map(|w| {
            got.extend(w.inodes.iter().map(|i| i.control_fd));
        }),
        Op::WalkStat(d, p, i) => c.walk_stat(id(d), &comps(p), *i).map(drop),
        Op::OpenAt(f, fl) => c.open_at(id(f), *fl).map(|(o, _)| opened.push(o)),
        Op::OpenChild(d, n, fl) => c.walk(id(d), &[n.as_slice()]).and_then(|w| {
            got.extend(w.inodes.iter().map(|i| i.control_fd));
            match w.inodes.last() {
                Some(i) => c.open_at(i.control_fd, *fl).map(|(o, _)| opened.push(o)),
                None => Ok(()),
            }
        }),
        Op::Create(d, n, f, m) => {
            c.open_create_at(id(d), n, *f, *m, NO_ID, NO_ID)
                .map(|(i, o, _)| {
                    got.push(i.control_fd);
                    opened.push(o);
                })
        }
        Op::Close(fds) => c.close(&ids(fds)),
        Op::FSync(fds) => c.fsync(&ids(fds)),
        Op::PWrite(f, o, d) => c.pwrite(id(f), *o, d).map(drop),
        Op::PRead(f, o, n) => c.pread(id(f), *o, *n).map(drop),
        Op::Mkdir(d, n, m) => c
            .mkdir_at(id(d), n, *m, NO_ID, NO_ID)
            .map(|i| got.push(i.control_fd)),
        Op::Mknod(d, n, m) => c
            .mknod_at(id(d), n, *m, 8, 0, NO_ID, NO_ID)
            .map(|i| got.push(i.control_fd)),
        Op::Symlink(d, n, t) => c
            .symlink_at(id(d), n, t, NO_ID, NO_ID)
            .map(|i| got.push(i.control_fd)),
        Op::Link(d, t, n) => c.link_at(id(d), id(t), n).map(|i| got.push(i.control_fd)),
        Op::StatFs(f) => c.fstatfs(id(f)).map(drop),
        Op::Allocate(f, m, o, l) => c.fallocate(id(f), *m, *o, *l),
        Op::ReadLink(f) => c.readlink_at(id(f)).map(drop),
        Op::Flush(f) => c.flush(id(f)),
        Op::Unlink(d, n, f) => c.unlink_at(id(d), n, *f),
        Op::Rename(a, n, b, m, f) => c.rename_at2(id(a), n, id(b), m, *f),
        Op::Getdents(f, n) => c.getdents64(id(f), *n).map(drop),
        Op::GetXattr(f, n, s) => c.getxattr(id(f), n, *s).map(drop),
        Op::SetXattr(f, n, v, fl) => c.setxattr(id(f), n, v, *fl),
        Op::ListXattr(f, s) => c.listxattr(id(f), *s).map(drop),
        Op::RemoveXattr(f, n) => c.removexattr(id(f), n),
        Op::SetStat(f, req) => c
            .set_stat(&message::SetStatReq {
                fd: id(f),
                ..req.clone()
            })
            .map(drop),
    };
    held.control.extend(got);
    held.open.extend(opened);
    r
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_requests_keep_the_connection(
        readonly in prop::bool::weighted(0.2),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let tree = Tree::new();
        let opts = ServeOptions { readonly, directfs: false };
        let (sock, server) = start(&tree.served(), opts);
        let mounted = Client::mount(sock, false).expect("mount");
        let c = mounted.client;
        let mut held = Held {
            control: vec![mounted.root.control_fd],
            open: Vec::new(),
        };
        // Start with some of the tree walked and opened, so the random
        // requests find FDs of every kind to work on.
        let root = mounted.root.control_fd;
        for (path, flags) in [(&["file"][..], libc::O_RDWR), (&["dir"], 0), (&["dir", "inner"], 0)] {
            let comps: Vec<&[u8]> = path.iter().map(|c| c.as_bytes()).collect();
            let inode = *c.walk(root, &comps).expect("walk").inodes.last().unwrap();
            held.control.push(inode.control_fd);
            let flags = if readonly { 0 } else { flags as u32 };
            held.open.push(c.open_at(inode.control_fd, flags).expect("open").0);
        }
        for op in &ops {
            // EIO is what the client reports when the server broke the
            // protocol; the host file system never says it here.
            if let Err(rustix::io::Errno::IO) = apply(&c, op, &mut held) {
                panic!("{op:?}: the server broke the protocol");
            }
        }
        // Still serving: closing an id nobody holds always succeeds.
        c.close(&[u64::MAX]).expect("the connection survived");
        // The ops may have closed the root; if not, it is still the served
        // directory.
        match c.fstat(mounted.root.control_fd) {
            Ok(root) => {
                let host = rustix::fs::stat(tree.served()).unwrap();
                prop_assert_eq!(root.ino, host.st_ino);
            }
            Err(e) => prop_assert_eq!(e, rustix::io::Errno::BADF),
        }
        drop(c);
        prop_assert!(finish(server).is_ok(), "a client that closes is a clean end");
        tree.check_outside();
    }
}
