//! The server conformance suite: cases that every lisafs server serving a
//! host directory must pass, whatever backend it runs on. Expectations are
//! Linux's own behaviour as the application would see it through the sentry,
//! plus the protocol rules the server promises (single-component names, walks
//! that stop at symlinks, only the server donating FDs, read-only mounts).
//!
//! A crate with a server implements [`Harness`] and expands
//! [`conformance_suite!`](crate::conformance_suite) in an integration test;
//! every case becomes its own `#[test]`. Each case builds its own tree in a
//! temporary directory with `std::fs`, starts a server on it, and checks the
//! answers against the host.

use crate::client::{Client, Mounted};
use crate::message::*;
use crate::server::ServeError;
use crate::transport::{payload, Socket, TransportError};
use rustix::io::Errno;
use std::fmt::Debug;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a harness starts a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HarnessOptions {
    /// Serve a read-only mount.
    pub readonly: bool,
    /// Allow donating the mount root's host FD. `Harness::start` also asks
    /// for it when this is set.
    pub directfs: bool,
    /// Run the server with this uid and gid, no supplementary groups and no
    /// capabilities, instead of the test's own credentials.
    pub as_user: Option<(u32, u32)>,
}

/// A running server, reduced to what the suite needs: waiting for it.
pub struct ServerHandle {
    wait: Box<dyn FnOnce() -> Result<(), ServeError> + Send>,
}

impl ServerHandle {
    /// `wait` blocks until the connection's server has returned and gives
    /// its result; it should re-raise a panic of the server as a panic.
    pub fn new(wait: impl FnOnce() -> Result<(), ServeError> + Send + 'static) -> Self {
        ServerHandle {
            wait: Box::new(wait),
        }
    }

    /// Waits for the server to end and returns what `serve` returned.
    pub fn finish(self) -> Result<(), ServeError> {
        (self.wait)()
    }
}

/// What a server implementation provides to run the suite.
pub trait Harness: Sync {
    /// Starts a server for one connection serving `root`, and returns the
    /// client end of the socket, not yet mounted.
    fn start_raw(&self, root: &Path, opts: HarnessOptions) -> (Socket, ServerHandle);

    /// Whether `HarnessOptions::as_user` works (the harness can drop to an
    /// unprivileged uid and gid); cases that need it are skipped otherwise.
    fn unprivileged(&self) -> bool;

    /// Whether a server started without `as_user` runs as root, so that it
    /// can give files any owner.
    fn serves_as_root(&self) -> bool {
        rustix::process::geteuid().is_root()
    }

    /// Starts a server and mounts it.
    fn start(&self, root: &Path, opts: HarnessOptions) -> Session {
        let (sock, server) = self.start_raw(root, opts);
        let mounted = Client::mount(sock, opts.directfs).unwrap_or_else(|e| panic!("mount: {e}"));
        Session::new(mounted, server)
    }
}

/// A mounted connection and its server. Dropping it closes the client's
/// socket, after which the server must end cleanly; that is checked too.
pub struct Session {
    mounted: Option<Mounted>,
    server: Option<ServerHandle>,
}

impl Session {
    pub fn new(mounted: Mounted, server: ServerHandle) -> Self {
        Session {
            mounted: Some(mounted),
            server: Some(server),
        }
    }

    fn mounted(&self) -> &Mounted {
        self.mounted.as_ref().expect("session is live")
    }

    pub fn client(&self) -> &Client {
        &self.mounted().client
    }

    /// The control FD of the mount root.
    pub fn root(&self) -> FdId {
        self.mounted().root.control_fd
    }

    pub fn root_inode(&self) -> Inode {
        self.mounted().root
    }

    pub fn take_root_host_fd(&mut self) -> Option<OwnedFd> {
        self.mounted.as_mut().and_then(|m| m.root_host_fd.take())
    }

    /// Disconnects and returns how the server ended.
    pub fn finish(mut self) -> Result<(), ServeError> {
        self.end()
    }

    fn end(&mut self) -> Result<(), ServeError> {
        drop(self.mounted.take());
        self.server.take().map_or(Ok(()), ServerHandle::finish)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The case already failed; closing the socket is enough, and
            // waiting could re-raise a server panic inside this one.
            drop(self.mounted.take());
            return;
        }
        if let Err(e) = self.end() {
            panic!("server failed after the client disconnected cleanly: {e}");
        }
    }
}

/// Expands into one `#[test]` per conformance case, each calling the case
/// with `&$harness`.
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!(@cases $harness;
            mount_gives_a_directory_root,
            mount_lists_served_messages,
            mount_donates_root_only_for_directfs,
            mount_twice_fails,
            requests_before_mount_are_einval,
            fstat_control_and_open_fds,
            set_stat_mode_size_and_times,
            set_stat_owner,
            set_stat_reports_partial_failure,
            walk_many_components,
            walk_stops_at_symlink,
            walk_stops_at_missing_component,
            walk_through_a_file_is_enotdir,
            walk_rejects_non_component_names,
            walk_never_follows_escaping_symlinks,
            walk_stat_components,
            symlink_control_fds_never_reach_the_target,
            open_at_reads_and_writes,
            open_at_directory_for_writing_is_eisdir,
            open_at_donates_regular_files_only,
            open_at_truncates,
            open_create_at_is_exclusive,
            open_create_at_never_follows_symlinks,
            open_create_at_applies_owner,
            close_invalidates_fds,
            fsync_takes_open_fds,
            pwrite_pread_at_offsets,
            large_io_respects_message_limit,
            fd_kinds_are_enforced,
            mkdir_at,
            mknod_at_regular_and_fifo,
            mknod_at_refuses_devices,
            symlink_at,
            link_at,
            link_and_rename_across_mounts_are_exdev,
            fstatfs_matches_host,
            fallocate,
            readlink_at,
            flush,
            unlink_at,
            rename_at,
            rename_at2_noreplace_and_exchange,
            getdents64_lists_every_entry,
            getdents64_small_count,
            xattrs,
            reserved_messages_are_eopnotsupp,
            readonly_mount_refuses_mutations,
            unprivileged_server_gets_eacces,
            unprivileged_server_creates_as_itself,
            truncated_request_ends_connection,
            trailing_bytes_end_connection,
            unknown_message_ends_connection,
            malformed_frames_end_connection,
            hostile_count_ends_connection,
            client_fd_ends_connection,
            peer_closing_at_once_is_clean,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::testsuite::$case(&$harness)
            }
        )*
    };
}

// ---------------------------------------------------------------------------
// Helpers.

const ROOT_OPTS: HarnessOptions = HarnessOptions {
    readonly: false,
    directfs: false,
    as_user: None,
};

/// The uid and gid unprivileged cases run the server as ("nobody").
const NOBODY: (u32, u32) = (65534, 65534);

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lisafs-conformance")
        .tempdir()
        .expect("create a temporary directory")
}

#[track_caller]
fn want_err<T: Debug>(r: Result<T, Errno>, want: Errno, what: &str) {
    match r {
        Err(e) => assert_eq!(e, want, "{what}"),
        Ok(v) => panic!("{what}: expected {want:?}, got Ok({v:?})"),
    }
}

#[track_caller]
fn ok<T>(r: Result<T, Errno>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn comps<'a>(path: &[&'a str]) -> Vec<&'a [u8]> {
    path.iter().map(|s| s.as_bytes()).collect()
}

/// Walks `path`, which must exist and may hold a symlink only at its end.
#[track_caller]
fn walk(c: &Client, dir: FdId, path: &[&str]) -> Vec<Inode> {
    let r = ok(c.walk(dir, &comps(path)), &format!("walk {path:?}"));
    assert_eq!(r.inodes.len(), path.len(), "walk {path:?}");
    // A symlink may only end the walk.
    let last_is_link = r.inodes.last().is_some_and(|i| i.stat.is_symlink());
    let want = if last_is_link {
        WALK_COMPONENT_SYMLINK
    } else {
        WALK_SUCCESS
    };
    assert_eq!(r.status, want, "walk {path:?}");
    r.inodes
}

#[track_caller]
fn lookup(c: &Client, dir: FdId, name: &str) -> Inode {
    walk(c, dir, &[name]).remove(0)
}

#[track_caller]
fn open(c: &Client, fd: FdId, flags: i32) -> FdId {
    ok(c.open_at(fd, flags as u32), "open").0
}

fn host_meta(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode_bits(s: &Statx) -> u32 {
    u32::from(s.mode) & 0o7777
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn ts(sec: i64, nsec: u32) -> Timestamp {
    Timestamp { sec, nsec, pad: 0 }
}

/// The size of an entry in `struct linux_dirent64` form.
fn dirent_size(name_len: usize) -> usize {
    (19 + name_len + 1 + 7) & !7
}

/// Reads directory entries until the server says there are no more.
fn read_dir(c: &Client, open_dir: FdId, count: u32) -> Vec<Dirent64> {
    let mut all = Vec::new();
    loop {
        let batch = ok(c.getdents64(open_dir, count), "getdents64");
        if batch.is_empty() {
            return all;
        }
        let used: usize = batch.iter().map(|d| dirent_size(d.name.len())).sum();
        assert!(
            used <= count as usize,
            "getdents64 returned {used} bytes of entries for a count of {count}"
        );
        all.extend(batch);
        assert!(all.len() < 10_000, "getdents64 never reaches the end");
    }
}

fn names(dirents: &[Dirent64]) -> Vec<String> {
    let mut v: Vec<String> = dirents
        .iter()
        .map(|d| String::from_utf8_lossy(&d.name).into_owned())
        .collect();
    v.sort();
    v
}

/// A connection that speaks the wire format directly, for requests the
/// client never sends.
struct RawConn {
    sock: Socket,
    buf: Vec<u8>,
}

impl RawConn {
    fn new(sock: Socket) -> Self {
        // A server that neither answers nor hangs up fails the case instead of
        // hanging it.
        rustix::net::sockopt::set_socket_timeout(
            &sock,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_secs(10)),
        )
        .expect("set receive timeout");
        RawConn {
            sock,
            buf: Vec::new(),
        }
    }

    fn send(&self, mid: u16, body: &[u8]) {
        self.sock.send(mid, body, &[]).expect("send request");
    }

    /// Sends `body` as message `mid` and returns the response payload, or
    /// the errno of an `Error` response.
    fn call_mid(&mut self, mid: u16, body: &[u8]) -> Result<Vec<u8>, Errno> {
        self.send(mid, body);
        let got = self.sock.recv(&mut self.buf).expect("receive response");
        assert!(got.fds.is_empty() || mid == Mid::Mount as u16);
        let body = payload(&self.buf, &got);
        if got.mid == Mid::Error as u16 {
            let e = decode_exact::<ErrorResp>(body).expect("error response decodes");
            return Err(Errno::from_raw_os_error(e.errno as i32));
        }
        assert_eq!(got.mid, mid, "response id");
        Ok(body.to_vec())
    }

    fn call<R: Request>(&mut self, req: &R) -> Result<R::Response, Errno> {
        let body = self.call_mid(R::MID as u16, &encode(req))?;
        Ok(decode_exact::<R::Response>(&body).expect("response decodes"))
    }

    fn mount(&mut self) -> MountResp {
        ok(self.call(&MountReq { flags: 0 }), "mount")
    }

    /// The server must hang up without answering.
    fn expect_hang_up(&mut self) {
        match self.sock.recv(&mut self.buf) {
            Err(TransportError::Closed) => {}
            Err(e) => panic!("expected the server to hang up, got {e}"),
            Ok(got) => panic!("expected the server to hang up, got message {}", got.mid),
        }
    }
}

/// Sends something that breaks the protocol after a good mount, and checks
/// that the server ends that connection with an error it recognises, and
/// keeps serving new connections.
fn expect_broken_connection(
    h: &dyn Harness,
    break_it: impl FnOnce(&mut RawConn, FdId),
    recognise: impl FnOnce(&ServeError) -> bool,
) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"data").unwrap();
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    let mut raw = RawConn::new(sock);
    let root = raw.mount().root.control_fd;
    // The connection works before it is broken.
    ok(raw.call(&FStatReq { fd: root }), "fstat root");
    break_it(&mut raw, root);
    raw.expect_hang_up();
    match server.finish() {
        Err(e) if recognise(&e) => {}
        Err(e) => panic!("server ended with an unexpected error: {e}"),
        Ok(()) => panic!("server ended cleanly after a protocol violation"),
    }
    drop(raw);
    expect_still_serving(h, dir.path());
}

/// A new connection to the same tree works.
fn expect_still_serving(h: &dyn Harness, root: &Path) {
    let s = h.start(root, ROOT_OPTS);
    let f = lookup(s.client(), s.root(), "file");
    assert_eq!(f.stat.size, 4);
}

// ---------------------------------------------------------------------------
// Mount.

pub fn mount_gives_a_directory_root(h: &dyn Harness) {
    let dir = tempdir();
    let s = h.start(dir.path(), ROOT_OPTS);
    let root = s.root_inode();
    assert!(root.stat.is_dir(), "root mode {:o}", root.stat.mode);
    assert_eq!(root.stat.ino, host_meta(dir.path()).ino());
    let again = ok(s.client().fstat(s.root()), "fstat root");
    assert_eq!(again.ino, root.stat.ino);
    assert!(s.client().max_payload() as usize > 64 << 10);
    assert!(s.client().max_payload() <= MAX_MESSAGE_SIZE);
}

pub fn mount_lists_served_messages(h: &dyn Harness) {
    let dir = tempdir();
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    let mut raw = RawConn::new(sock);
    let resp = raw.mount();
    for mid in Mid::ALL {
        let listed = resp.supported.contains(&(mid as u16));
        let served = mid != Mid::Error && !mid.is_reserved();
        assert_eq!(listed, served, "{mid:?} in the supported list");
    }
    assert!(resp.max_message_size > 0 && resp.max_message_size <= MAX_MESSAGE_SIZE);
    drop(raw);
    server.finish().expect("clean end");
}

pub fn mount_donates_root_only_for_directfs(h: &dyn Harness) {
    let dir = tempdir();
    let ino = host_meta(dir.path()).ino();
    for (allowed, asked) in [(true, true), (true, false), (false, true), (false, false)] {
        let opts = HarnessOptions {
            directfs: allowed,
            ..ROOT_OPTS
        };
        let (sock, server) = h.start_raw(dir.path(), opts);
        let mut s = Session::new(ok(Client::mount(sock, asked), "mount"), server);
        let fd = s.take_root_host_fd();
        assert_eq!(
            fd.is_some(),
            allowed && asked,
            "root FD donated with directfs allowed={allowed} asked={asked}"
        );
        if let Some(fd) = fd {
            let st = rustix::fs::fstat(&fd).expect("fstat donated root");
            assert_eq!(st.st_ino, ino, "donated FD is the mount root");
            assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
        }
    }
}

pub fn mount_twice_fails(h: &dyn Harness) {
    let dir = tempdir();
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    let mut raw = RawConn::new(sock);
    let root = raw.mount().root.control_fd;
    assert!(raw.call(&MountReq { flags: 0 }).is_err(), "second mount");
    ok(raw.call(&FStatReq { fd: root }), "fstat after second mount");
    drop(raw);
    server.finish().expect("clean end");
}

pub fn requests_before_mount_are_einval(h: &dyn Harness) {
    let dir = tempdir();
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    let mut raw = RawConn::new(sock);
    want_err(raw.call(&FStatReq { fd: 1 }), Errno::INVAL, "fstat");
    let walk = WalkReq {
        dir: 1,
        path: vec![b"x".to_vec()],
    };
    want_err(raw.call(&walk), Errno::INVAL, "walk");
    let root = raw.mount().root;
    assert!(root.stat.is_dir());
    drop(raw);
    server.finish().expect("clean end");
}

// ---------------------------------------------------------------------------
// Stat and SetStat.

pub fn fstat_control_and_open_fds(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"12345").unwrap();
    chmod(&path, 0o640);
    let meta = host_meta(&path);
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file");
    let st = ok(c.fstat(f.control_fd), "fstat control");
    assert!(st.is_regular());
    assert_eq!(st.size, 5);
    assert_eq!(st.ino, meta.ino());
    assert_eq!(mode_bits(&st), 0o640);
    assert_eq!((st.uid, st.gid), (meta.uid(), meta.gid()));
    assert_eq!(st.nlink, 1);
    assert_eq!(st, f.stat, "walk and fstat agree");
    let fd = open(c, f.control_fd, libc::O_RDONLY);
    let st2 = ok(c.fstat(fd), "fstat open");
    assert_eq!((st2.ino, st2.size), (meta.ino(), 5));
    want_err(c.fstat(0xdead), Errno::BADF, "fstat unknown fd");
}

pub fn set_stat_mode_size_and_times(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"hello").unwrap();
    chmod(&path, 0o644);
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let req = SetStatReq {
        fd: f,
        mask: libc::STATX_MODE | libc::STATX_SIZE | libc::STATX_ATIME | libc::STATX_MTIME,
        mode: 0o600,
        size: 3,
        atime: ts(1000, 5),
        mtime: ts(2000, 7),
        ..Default::default()
    };
    let r = ok(c.set_stat(&req), "set_stat");
    assert_eq!(r.failure_mask, 0, "failure errno {}", r.failure_errno);
    let st = ok(c.fstat(f), "fstat");
    assert_eq!(mode_bits(&st), 0o600);
    assert!(st.is_regular(), "the file type is kept");
    assert_eq!(st.size, 3);
    assert_eq!((st.atime.sec, st.atime.nsec), (1000, 5));
    assert_eq!((st.mtime.sec, st.mtime.nsec), (2000, 7));
    assert_eq!(host_meta(&path).mode() & 0o7777, 0o600);

    // UTIME_OMIT keeps a time, UTIME_NOW sets it to the present. (Nothing
    // reads the file before this: that could move its atime.)
    let before = now_secs();
    let req = SetStatReq {
        fd: f,
        mask: libc::STATX_ATIME | libc::STATX_MTIME,
        atime: ts(0, libc::UTIME_OMIT as u32),
        mtime: ts(0, libc::UTIME_NOW as u32),
        ..Default::default()
    };
    let r = ok(c.set_stat(&req), "set_stat times");
    assert_eq!(r.failure_mask, 0, "failure errno {}", r.failure_errno);
    let st = ok(c.fstat(f), "fstat");
    assert_eq!((st.atime.sec, st.atime.nsec), (1000, 5), "UTIME_OMIT");
    assert!(
        (before - 1..=now_secs() + 1).contains(&st.mtime.sec),
        "UTIME_NOW gave {}",
        st.mtime.sec
    );
    assert_eq!(fs::read(&path).unwrap(), b"hel");

    // Growing works too and reads back as zeros.
    let req = SetStatReq {
        fd: f,
        mask: libc::STATX_SIZE,
        size: 6,
        ..Default::default()
    };
    assert_eq!(ok(c.set_stat(&req), "grow").failure_mask, 0);
    assert_eq!(fs::read(&path).unwrap(), b"hel\0\0\0");
}

pub fn set_stat_owner(h: &dyn Harness) {
    if !h.serves_as_root() {
        eprintln!("skipped: changing owners needs a root server");
        return;
    }
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"x").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let req = SetStatReq {
        fd: f,
        mask: libc::STATX_UID | libc::STATX_GID,
        uid: 1234,
        gid: 5678,
        ..Default::default()
    };
    let r = ok(c.set_stat(&req), "chown");
    assert_eq!(r.failure_mask, 0, "failure errno {}", r.failure_errno);
    let st = ok(c.fstat(f), "fstat");
    assert_eq!((st.uid, st.gid), (1234, 5678));
    let meta = host_meta(&path);
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    // Only the uid.
    let req = SetStatReq {
        fd: f,
        mask: libc::STATX_UID,
        uid: 42,
        gid: 7,
        ..Default::default()
    };
    assert_eq!(ok(c.set_stat(&req), "chown uid").failure_mask, 0);
    let meta = host_meta(&path);
    assert_eq!((meta.uid(), meta.gid()), (42, 5678));
}

pub fn set_stat_reports_partial_failure(h: &dyn Harness) {
    let dir = tempdir();
    fs::create_dir(dir.path().join("sub")).unwrap();
    chmod(&dir.path().join("sub"), 0o755);
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let sub = lookup(c, s.root(), "sub").control_fd;
    // A directory has no size to set; the mode change still happens.
    let req = SetStatReq {
        fd: sub,
        mask: libc::STATX_MODE | libc::STATX_SIZE,
        mode: 0o700,
        size: 0,
        ..Default::default()
    };
    let r = ok(c.set_stat(&req), "set_stat");
    assert_eq!(r.failure_mask, libc::STATX_SIZE, "failure mask");
    assert_eq!(r.failure_errno, libc::EISDIR as u32, "failure errno");
    assert_eq!(host_meta(&dir.path().join("sub")).mode() & 0o7777, 0o700);
    // An open FD is not a file in the tree.
    let fd = open(c, sub, libc::O_RDONLY);
    want_err(
        c.set_stat(&SetStatReq { fd, ..req }),
        Errno::BADF,
        "set_stat on an open FD",
    );
}

// ---------------------------------------------------------------------------
// Walk and WalkStat.

/// root/a/b/file, root/a/link -> b, root/file
fn walk_tree(root: &Path) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/b/file"), b"deep").unwrap();
    symlink("b", root.join("a/link")).unwrap();
    fs::write(root.join("file"), b"top").unwrap();
}

pub fn walk_many_components(h: &dyn Harness) {
    let dir = tempdir();
    walk_tree(dir.path());
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let inodes = walk(c, s.root(), &["a", "b", "file"]);
    assert!(inodes[0].stat.is_dir() && inodes[1].stat.is_dir());
    assert!(inodes[2].stat.is_regular());
    assert_eq!(
        inodes[2].stat.ino,
        host_meta(&dir.path().join("a/b/file")).ino()
    );
    assert_eq!(inodes[2].stat.size, 4);
    let mut ids: Vec<FdId> = inodes.iter().map(|i| i.control_fd).collect();
    ids.push(s.root());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every control FD is distinct");
    // Each returned control FD works on its own.
    let again = lookup(c, inodes[1].control_fd, "file");
    assert_eq!(again.stat.ino, inodes[2].stat.ino);
    // An empty path is a successful walk of nothing.
    let r = ok(c.walk(s.root(), &[]), "empty walk");
    assert_eq!((r.status, r.inodes.len()), (WALK_SUCCESS, 0));
    // Walking from an open FD is not allowed.
    let a = inodes[0].control_fd;
    let fd = open(c, a, libc::O_RDONLY);
    want_err(c.walk(fd, &comps(&["b"])), Errno::BADF, "walk from open FD");
}

pub fn walk_stops_at_symlink(h: &dyn Harness) {
    let dir = tempdir();
    walk_tree(dir.path());
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let r = ok(c.walk(s.root(), &comps(&["a", "link", "file"])), "walk");
    assert_eq!(r.status, WALK_COMPONENT_SYMLINK);
    assert_eq!(r.inodes.len(), 2, "inodes up to and including the symlink");
    let link = r.inodes[1];
    assert!(link.stat.is_symlink());
    assert_eq!(link.stat.ino, host_meta(&dir.path().join("a/link")).ino());
    assert_eq!(ok(c.readlink_at(link.control_fd), "readlink"), b"b");
    // A symlink as the last component is reported the same way.
    let r = ok(c.walk(s.root(), &comps(&["a", "link"])), "walk");
    assert_eq!((r.status, r.inodes.len()), (WALK_COMPONENT_SYMLINK, 2));
}

pub fn walk_stops_at_missing_component(h: &dyn Harness) {
    let dir = tempdir();
    walk_tree(dir.path());
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let partial = ok(c.walk(s.root(), &comps(&["a", "nope", "x"])), "walk");
    assert_eq!(partial.status, WALK_COMPONENT_DOES_NOT_EXIST);
    assert_eq!(
        partial.inodes.len(),
        1,
        "inodes found before the missing one"
    );
    assert!(partial.inodes[0].stat.is_dir());
    let r = ok(c.walk(s.root(), &comps(&["nope"])), "walk");
    assert_eq!(
        (r.status, r.inodes.len()),
        (WALK_COMPONENT_DOES_NOT_EXIST, 0)
    );
    // The inodes of a partial walk are usable.
    let b = lookup(c, partial.inodes[0].control_fd, "b");
    assert!(b.stat.is_dir());
}

pub fn walk_through_a_file_is_enotdir(h: &dyn Harness) {
    let dir = tempdir();
    walk_tree(dir.path());
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    want_err(
        c.walk(s.root(), &comps(&["file", "x"])),
        Errno::NOTDIR,
        "walk through a file",
    );
    let f = lookup(c, s.root(), "file").control_fd;
    want_err(c.walk(f, &comps(&["x"])), Errno::NOTDIR, "walk from a file");
}

pub fn walk_rejects_non_component_names(h: &dyn Harness) {
    let dir = tempdir();
    walk_tree(dir.path());
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    for bad in ["a/b", "/", ".", "..", "", "/etc"] {
        want_err(
            c.walk(s.root(), &[bad.as_bytes()]),
            Errno::INVAL,
            &format!("walk {bad:?}"),
        );
        want_err(
            c.walk(s.root(), &[b"a", bad.as_bytes()]),
            Errno::INVAL,
            &format!("walk a/{bad:?}"),
        );
        // A first "" is WalkStat's way to ask for the directory itself.
        let first = if bad.is_empty() { b"a" } else { bad.as_bytes() };
        want_err(
            c.walk_stat(s.root(), &[first, bad.as_bytes()], false),
            Errno::INVAL,
            &format!("walk_stat {first:?}/{bad:?}"),
        );
    }
    want_err(
        c.walk(s.root(), &[&[b'x'; NAME_MAX + 1]]),
        Errno::NAMETOOLONG,
        "walk of a name longer than NAME_MAX",
    );
}

pub fn walk_never_follows_escaping_symlinks(h: &dyn Harness) {
    let dir = tempdir();
    fs::create_dir(dir.path().join("d")).unwrap();
    symlink("/etc/shadow", dir.path().join("shadow")).unwrap();
    symlink("../../..", dir.path().join("d/up")).unwrap();
    symlink("/", dir.path().join("slash")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    for (path, host) in [
        (&["shadow"][..], "shadow"),
        (&["d", "up", "etc", "shadow"][..], "d/up"),
        (&["slash", "etc"][..], "slash"),
    ] {
        let r = ok(c.walk(s.root(), &comps(path)), "walk");
        assert_eq!(r.status, WALK_COMPONENT_SYMLINK, "walk {path:?}");
        let last = r.inodes.last().expect("the symlink's inode");
        assert!(last.stat.is_symlink(), "walk {path:?} returns the symlink");
        assert_eq!(last.stat.ino, host_meta(&dir.path().join(host)).ino());
        let target = ok(c.readlink_at(last.control_fd), "readlink");
        assert_eq!(
            target,
            fs::read_link(dir.path().join(host))
                .unwrap()
                .as_os_str()
                .as_encoded_bytes()
        );
        // Neither may opening the symlink's control FD reach the target.
        if let Ok((fd, host_fd)) = c.open_at(last.control_fd, libc::O_RDONLY as u32) {
            let st = ok(c.fstat(fd), "fstat");
            assert!(st.is_symlink(), "opening a symlink followed it");
            assert!(host_fd.is_none());
        }
        let st = ok(
            c.walk_stat(s.root(), &comps(path), false),
            "walk_stat through an escaping symlink",
        );
        assert!(st.last().is_some_and(Statx::is_symlink));
    }
}

/// A control FD of a symlink names the symlink: no operation on it may
/// read, change or link the file it points to (here one outside the mount).
pub fn symlink_control_fds_never_reach_the_target(h: &dyn Harness) {
    let dir = tempdir();
    let outside = tempdir();
    let target = outside.path().join("precious");
    fs::write(&target, b"precious").unwrap();
    chmod(&target, 0o600);
    symlink(&target, dir.path().join("link")).unwrap();
    let target_before = host_meta(&target);
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let root = s.root();
    let link = lookup(c, root, "link");
    assert!(link.stat.is_symlink());
    let fd = link.control_fd;

    // Used as a directory, it is not one.
    want_err(c.walk(fd, &[b"x"]), Errno::NOTDIR, "walk from a symlink");
    let flags = libc::O_RDWR as u32;
    want_err(
        c.open_create_at(fd, b"x", flags, 0o600, NO_ID, NO_ID)
            .map(drop),
        Errno::NOTDIR,
        "create in a symlink",
    );
    want_err(
        c.mkdir_at(fd, b"x", 0o700, NO_ID, NO_ID).map(drop),
        Errno::NOTDIR,
        "mkdir in a symlink",
    );
    // Opened, it does not open the target.
    for flags in [libc::O_RDONLY, libc::O_RDWR | libc::O_TRUNC] {
        if let Ok((open_fd, host)) = c.open_at(fd, flags as u32) {
            assert!(host.is_none(), "opening a symlink donated an FD");
            assert!(ok(c.fstat(open_fd), "fstat").is_symlink());
        }
    }
    // Changing it does not change the target.
    let mut req = SetStatReq {
        fd,
        mask: libc::STATX_MODE | libc::STATX_SIZE | libc::STATX_ATIME | libc::STATX_MTIME,
        mode: 0o777,
        size: 0,
        atime: ts(1000, 0),
        mtime: ts(1000, 0),
        ..Default::default()
    };
    if h.serves_as_root() {
        req.mask |= libc::STATX_UID | libc::STATX_GID;
        (req.uid, req.gid) = (1234, 5678);
    }
    let _ = c.set_stat(&req);
    let _ = c.setxattr(fd, b"user.k", b"v", 0);
    // A hard link to it links the symlink itself, if anything.
    if let Ok(l) = c.link_at(root, fd, b"hard") {
        assert!(l.stat.is_symlink(), "LinkAt of a symlink linked its target");
        assert_eq!(l.stat.ino, link.stat.ino);
    }
    let after = host_meta(&target);
    assert_eq!(fs::read(&target).unwrap(), b"precious");
    assert_eq!(after.mode(), target_before.mode(), "target mode");
    assert_eq!(
        (after.uid(), after.gid()),
        (target_before.uid(), target_before.gid())
    );
    assert_eq!(after.mtime(), target_before.mtime(), "target mtime");
    assert_eq!(after.nlink(), 1, "target linked");
    let mut buf = [0u8; 8];
    assert!(
        rustix::fs::getxattr(&target, "user.k", &mut buf).is_err(),
        "target xattr"
    );
}

pub fn walk_stat_components(h: &dyn Harness) {
    let dir = tempdir();
    walk_tree(dir.path());
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let ino = |p: &str| host_meta(&dir.path().join(p)).ino();

    let st = ok(c.walk_stat(s.root(), &[], true), "stat of the dir alone");
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].ino, ino(""));

    let st = ok(
        c.walk_stat(s.root(), &comps(&["a", "b", "file"]), true),
        "full",
    );
    let inos: Vec<u64> = st.iter().map(|s| s.ino).collect();
    assert_eq!(inos, [ino(""), ino("a"), ino("a/b"), ino("a/b/file")]);
    assert_eq!(st[3].size, 4);

    let st = ok(c.walk_stat(s.root(), &comps(&["a", "b"]), false), "no dir");
    assert_eq!(st.len(), 2);
    assert_eq!(st[1].ino, ino("a/b"));

    let st = ok(
        c.walk_stat(s.root(), &comps(&["a", "link", "file"]), true),
        "symlink",
    );
    assert_eq!(st.len(), 3, "stops after the symlink");
    assert!(st[2].is_symlink());

    let st = ok(
        c.walk_stat(s.root(), &comps(&["a", "nope", "x"]), false),
        "missing",
    );
    assert_eq!(st.len(), 1, "stops before the missing component");

    // An empty component anywhere but first is not a name.
    want_err(
        c.walk_stat(s.root(), &[b"a", b""], false),
        Errno::INVAL,
        "empty component in the middle",
    );
    want_err(
        c.walk_stat(s.root(), &comps(&["file", "x"]), false),
        Errno::NOTDIR,
        "walk_stat through a file",
    );
}

// ---------------------------------------------------------------------------
// Opening and creating.

pub fn open_at_reads_and_writes(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"hello").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let ro = open(c, f, libc::O_RDONLY);
    assert_eq!(ok(c.pread(ro, 0, 100), "pread"), b"hello");
    want_err(
        c.pwrite(ro, 0, b"x"),
        Errno::BADF,
        "pwrite on a read-only FD",
    );
    let wo = open(c, f, libc::O_WRONLY);
    assert_eq!(ok(c.pwrite(wo, 0, b"J"), "pwrite"), 1);
    want_err(c.pread(wo, 0, 1), Errno::BADF, "pread on a write-only FD");
    let rw = open(c, f, libc::O_RDWR);
    assert_eq!(ok(c.pwrite(rw, 5, b"!"), "pwrite"), 1);
    assert_eq!(ok(c.pread(rw, 0, 100), "pread"), b"Jello!");
    assert_eq!(fs::read(&path).unwrap(), b"Jello!");
    // A directory opens for reading.
    let d = open(c, s.root(), libc::O_RDONLY);
    assert!(ok(c.fstat(d), "fstat dir").is_dir());
    want_err(c.open_at(0xdead, 0), Errno::BADF, "open unknown FD");
}

pub fn open_at_directory_for_writing_is_eisdir(h: &dyn Harness) {
    let dir = tempdir();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let sub = lookup(c, s.root(), "sub").control_fd;
    for flags in [libc::O_WRONLY, libc::O_RDWR] {
        want_err(
            c.open_at(sub, flags as u32),
            Errno::ISDIR,
            "open a directory for writing",
        );
    }
}

pub fn open_at_donates_regular_files_only(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"hello").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;

    let (_, host) = ok(c.open_at(f, libc::O_RDONLY as u32), "open");
    let host = host.expect("a regular file comes with its host FD");
    let mut buf = [0u8; 16];
    let n = rustix::io::pread(&host, &mut buf, 0).expect("pread the donated FD");
    assert_eq!(&buf[..n], b"hello");
    // The donated FD grants no more than the open asked for.
    let fl = rustix::fs::fcntl_getfl(&host).expect("F_GETFL");
    assert_eq!(fl & rustix::fs::OFlags::RWMODE, rustix::fs::OFlags::RDONLY);
    assert!(rustix::io::pwrite(&host, b"x", 0).is_err());

    let (_, host) = ok(c.open_at(f, libc::O_RDWR as u32), "open");
    let host = host.expect("a regular file comes with its host FD");
    rustix::io::pwrite(&host, b"J", 0).expect("write through the donated FD");
    assert_eq!(fs::read(dir.path().join("file")).unwrap(), b"Jello");

    let sub = lookup(c, s.root(), "sub").control_fd;
    let (_, host) = ok(c.open_at(sub, libc::O_RDONLY as u32), "open dir");
    assert!(host.is_none(), "a directory's host FD was donated");
}

pub fn open_at_truncates(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"hello").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDWR | libc::O_TRUNC);
    assert_eq!(ok(c.fstat(fd), "fstat").size, 0);
    assert_eq!(fs::read(&path).unwrap(), b"");
}

pub fn open_create_at_is_exclusive(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("old"), b"keep").unwrap();
    fs::write(dir.path().join("file"), b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let flags = libc::O_RDWR as u32;
    let (child, fd, host) = ok(
        c.open_create_at(s.root(), b"new", flags, 0o640, NO_ID, NO_ID),
        "create",
    );
    assert!(child.stat.is_regular());
    assert_eq!(mode_bits(&child.stat), 0o640);
    assert_eq!(child.stat.size, 0);
    assert!(
        host.is_some(),
        "a created regular file comes with its host FD"
    );
    assert_eq!(ok(c.pwrite(fd, 0, b"made"), "pwrite"), 4);
    let path = dir.path().join("new");
    assert_eq!(fs::read(&path).unwrap(), b"made");
    let meta = host_meta(&path);
    assert_eq!(meta.ino(), child.stat.ino);
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(ok(c.fstat(child.control_fd), "fstat child").size, 4);
    // The client creates only what its walk found missing, so an existing
    // name is an error even without O_EXCL, and is left untouched.
    for flags in [
        flags,
        flags | libc::O_EXCL as u32,
        flags | libc::O_TRUNC as u32,
    ] {
        want_err(
            c.open_create_at(s.root(), b"old", flags, 0o600, NO_ID, NO_ID),
            Errno::EXIST,
            "create over an existing file",
        );
    }
    assert_eq!(fs::read(dir.path().join("old")).unwrap(), b"keep");
    let f = lookup(c, s.root(), "file").control_fd;
    want_err(
        c.open_create_at(f, b"x", flags, 0o600, NO_ID, NO_ID),
        Errno::NOTDIR,
        "create in a file",
    );
    for bad in ["", ".", "..", "a/b"] {
        want_err(
            c.open_create_at(s.root(), bad.as_bytes(), flags, 0o600, NO_ID, NO_ID),
            Errno::INVAL,
            &format!("create {bad:?}"),
        );
    }
}

pub fn open_create_at_never_follows_symlinks(h: &dyn Harness) {
    let dir = tempdir();
    let outside = tempdir();
    let target = outside.path().join("planted");
    symlink(&target, dir.path().join("dangling")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    want_err(
        c.open_create_at(
            s.root(),
            b"dangling",
            libc::O_RDWR as u32,
            0o600,
            NO_ID,
            NO_ID,
        ),
        Errno::EXIST,
        "create over a dangling symlink",
    );
    assert!(!exists(&target), "a file was created outside the mount");
}

pub fn open_create_at_applies_owner(h: &dyn Harness) {
    if !h.serves_as_root() {
        eprintln!("skipped: giving new files an owner needs a root server");
        return;
    }
    let dir = tempdir();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let (child, _, _) = ok(
        c.open_create_at(s.root(), b"f", libc::O_RDWR as u32, 0o600, 1234, 5678),
        "create",
    );
    assert_eq!((child.stat.uid, child.stat.gid), (1234, 5678));
    let meta = host_meta(&dir.path().join("f"));
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    let d = ok(c.mkdir_at(s.root(), b"d", 0o700, 1234, 5678), "mkdir");
    assert_eq!((d.stat.uid, d.stat.gid), (1234, 5678));
    let l = ok(c.symlink_at(s.root(), b"l", b"f", 1234, 5678), "symlink");
    assert_eq!((l.stat.uid, l.stat.gid), (1234, 5678));
    let meta = host_meta(&dir.path().join("l"));
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    let n = ok(
        c.mknod_at(s.root(), b"p", libc::S_IFIFO | 0o600, 0, 0, 1234, 5678),
        "mknod",
    );
    assert_eq!((n.stat.uid, n.stat.gid), (1234, 5678));
    // NO_ID keeps the server's own id.
    let (child, _, _) = ok(
        c.open_create_at(s.root(), b"g", libc::O_RDWR as u32, 0o600, 1234, NO_ID),
        "create",
    );
    assert_eq!(child.stat.uid, 1234);
    assert_eq!(child.stat.gid, rustix::process::getegid().as_raw());
}

// ---------------------------------------------------------------------------
// FD lifetime and I/O.

pub fn close_invalidates_fds(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"x").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDONLY);
    ok(c.close(&[fd]), "close open FD");
    want_err(c.pread(fd, 0, 1), Errno::BADF, "pread after close");
    want_err(c.fstat(fd), Errno::BADF, "fstat after close");
    ok(c.fstat(f), "the control FD outlives the open FD");
    ok(c.close(&[f]), "close control FD");
    want_err(c.fstat(f), Errno::BADF, "fstat after close");
    want_err(c.walk(f, &[b"x"]), Errno::BADF, "walk after close");
    // Closing what is not open is not an error, as with many close(2)s.
    ok(c.close(&[f, 0xdead]), "close unknown FDs");
    // The file itself is untouched, and found again.
    let again = lookup(c, s.root(), "file");
    assert_eq!(again.stat.size, 1);
}

pub fn fsync_takes_open_fds(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"x").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDWR);
    let d = open(c, s.root(), libc::O_RDONLY);
    ok(c.fsync(&[fd, d]), "fsync");
    want_err(c.fsync(&[f]), Errno::BADF, "fsync of a control FD");
    want_err(c.fsync(&[0xdead]), Errno::BADF, "fsync of an unknown FD");
}

pub fn pwrite_pread_at_offsets(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDWR);
    assert_eq!(ok(c.pwrite(fd, 0, b"hello"), "pwrite"), 5);
    assert_eq!(ok(c.pwrite(fd, 3, b"XY"), "pwrite"), 2);
    assert_eq!(ok(c.pread(fd, 0, 100), "pread"), b"helXY");
    assert_eq!(ok(c.pread(fd, 2, 2), "pread"), b"lX");
    assert_eq!(ok(c.pread(fd, 5, 10), "pread at EOF"), b"");
    assert_eq!(ok(c.pread(fd, 1000, 10), "pread past EOF"), b"");
    // A write past the end leaves a hole of zeros.
    assert_eq!(ok(c.pwrite(fd, 8, b"Z"), "pwrite"), 1);
    assert_eq!(ok(c.pread(fd, 0, 100), "pread"), b"helXY\0\0\0Z");
    assert_eq!(fs::read(&path).unwrap(), b"helXY\0\0\0Z");
    assert_eq!(ok(c.fstat(fd), "fstat").size, 9);
    // pread(2) with count 0 and pwrite(2) of nothing succeed.
    assert_eq!(ok(c.pread(fd, 0, 0), "empty pread"), b"");
    assert_eq!(ok(c.pwrite(fd, 0, b""), "empty pwrite"), 0);
}

pub fn large_io_respects_message_limit(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDWR);
    let max = c.max_payload() as usize;
    let data: Vec<u8> = (0..2 * max + 123)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    assert_eq!(ok(c.pwrite(fd, 0, &data), "large pwrite"), data.len());
    assert!(fs::read(&path).unwrap() == data, "host file differs");
    // One read is one message: short, but all there after a few.
    let first = ok(c.pread(fd, 0, u32::MAX), "large pread");
    assert!(
        !first.is_empty() && first.len() < data.len(),
        "pread of {}",
        first.len()
    );
    assert!(first.len() <= max);
    let mut got = first;
    while got.len() < data.len() {
        let more = ok(c.pread(fd, got.len() as u64, u32::MAX), "pread");
        assert!(!more.is_empty(), "short file after {} bytes", got.len());
        got.extend(more);
    }
    assert!(got == data, "data read back differs");
}

pub fn fd_kinds_are_enforced(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"x").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let sub = lookup(c, s.root(), "sub").control_fd;
    let fd = open(c, f, libc::O_RDWR);
    let dfd = open(c, sub, libc::O_RDONLY);
    // A control FD where an open FD is needed.
    want_err(c.pread(f, 0, 1), Errno::BADF, "pread of a control FD");
    want_err(c.pwrite(f, 0, b"x"), Errno::BADF, "pwrite of a control FD");
    want_err(
        c.getdents64(sub, 4096),
        Errno::BADF,
        "getdents64 of a control FD",
    );
    want_err(c.flush(f), Errno::BADF, "flush of a control FD");
    want_err(
        c.fallocate(f, 0, 0, 1),
        Errno::BADF,
        "fallocate of a control FD",
    );
    // An open FD where a control FD is needed.
    want_err(c.walk(dfd, &[b"x"]), Errno::BADF, "walk from an open FD");
    want_err(
        c.walk_stat(dfd, &[], true),
        Errno::BADF,
        "walk_stat from an open FD",
    );
    want_err(c.open_at(fd, 0), Errno::BADF, "open an open FD");
    want_err(
        c.open_create_at(dfd, b"n", libc::O_RDWR as u32, 0o600, NO_ID, NO_ID),
        Errno::BADF,
        "create in an open FD",
    );
    want_err(
        c.mkdir_at(dfd, b"n", 0o700, NO_ID, NO_ID),
        Errno::BADF,
        "mkdir",
    );
    want_err(
        c.symlink_at(dfd, b"n", b"t", NO_ID, NO_ID),
        Errno::BADF,
        "symlink",
    );
    want_err(
        c.link_at(s.root(), fd, b"n"),
        Errno::BADF,
        "link an open FD",
    );
    want_err(c.link_at(dfd, f, b"n"), Errno::BADF, "link into an open FD");
    want_err(c.unlink_at(dfd, b"x", 0), Errno::BADF, "unlink");
    want_err(
        c.rename_at(dfd, b"a", s.root(), b"b"),
        Errno::BADF,
        "rename",
    );
    want_err(c.readlink_at(fd), Errno::BADF, "readlink of an open FD");
    want_err(c.fstatfs(fd), Errno::BADF, "fstatfs of an open FD");
    want_err(
        c.getxattr(fd, b"user.x", 0),
        Errno::BADF,
        "getxattr of an open FD",
    );
    want_err(c.listxattr(fd, 0), Errno::BADF, "listxattr of an open FD");
    // Nothing was created by the refused requests.
    assert!(!exists(&dir.path().join("sub/n")) && !exists(&dir.path().join("n")));
}

// ---------------------------------------------------------------------------
// Making files.

pub fn mkdir_at(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let d = ok(c.mkdir_at(s.root(), b"d", 0o750, NO_ID, NO_ID), "mkdir");
    assert!(d.stat.is_dir());
    assert_eq!(mode_bits(&d.stat), 0o750);
    let meta = host_meta(&dir.path().join("d"));
    assert!(meta.is_dir());
    assert_eq!(meta.ino(), d.stat.ino);
    // The new control FD is usable.
    let inner = ok(c.mkdir_at(d.control_fd, b"e", 0o700, NO_ID, NO_ID), "mkdir");
    assert!(inner.stat.is_dir());
    assert!(host_meta(&dir.path().join("d/e")).is_dir());
    want_err(
        c.mkdir_at(s.root(), b"d", 0o700, NO_ID, NO_ID),
        Errno::EXIST,
        "mkdir of an existing dir",
    );
    want_err(
        c.mkdir_at(s.root(), b"file", 0o700, NO_ID, NO_ID),
        Errno::EXIST,
        "mkdir over a file",
    );
    let f = lookup(c, s.root(), "file").control_fd;
    want_err(
        c.mkdir_at(f, b"x", 0o700, NO_ID, NO_ID),
        Errno::NOTDIR,
        "mkdir in a file",
    );
    for bad in ["", ".", "..", "x/y"] {
        want_err(
            c.mkdir_at(s.root(), bad.as_bytes(), 0o700, NO_ID, NO_ID),
            Errno::INVAL,
            &format!("mkdir {bad:?}"),
        );
    }
}

pub fn mknod_at_regular_and_fifo(h: &dyn Harness) {
    let dir = tempdir();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let r = ok(
        c.mknod_at(s.root(), b"reg", libc::S_IFREG | 0o640, 0, 0, NO_ID, NO_ID),
        "mknod regular",
    );
    assert!(r.stat.is_regular());
    assert_eq!(mode_bits(&r.stat), 0o640);
    assert!(host_meta(&dir.path().join("reg")).is_file());
    let p = ok(
        c.mknod_at(s.root(), b"fifo", libc::S_IFIFO | 0o600, 0, 0, NO_ID, NO_ID),
        "mknod fifo",
    );
    assert_eq!(p.stat.file_type(), libc::S_IFIFO);
    assert!(host_meta(&dir.path().join("fifo")).file_type().is_fifo());
    assert_eq!(ok(c.fstat(p.control_fd), "fstat fifo").ino, p.stat.ino);
    want_err(
        c.mknod_at(s.root(), b"reg", libc::S_IFREG | 0o600, 0, 0, NO_ID, NO_ID),
        Errno::EXIST,
        "mknod over an existing file",
    );
}

pub fn mknod_at_refuses_devices(h: &dyn Harness) {
    let dir = tempdir();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    // A device node would give the sandbox whatever device its numbers name
    // (1:3 is /dev/null, 8:0 a disk); 0:0 is an overlay whiteout, which the
    // sentry keeps to itself.
    for (name, kind, major, minor) in [
        ("null", libc::S_IFCHR, 1, 3),
        ("whiteout", libc::S_IFCHR, 0, 0),
        ("disk", libc::S_IFBLK, 8, 0),
    ] {
        want_err(
            c.mknod_at(
                s.root(),
                name.as_bytes(),
                kind | 0o666,
                major,
                minor,
                NO_ID,
                NO_ID,
            ),
            Errno::PERM,
            &format!("mknod of a device ({name})"),
        );
        assert!(!exists(&dir.path().join(name)), "{name} was created");
    }
}

pub fn symlink_at(h: &dyn Harness) {
    let dir = tempdir();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    for (name, target) in [("rel", "x/../y"), ("abs", "/etc/passwd"), ("dots", "..")] {
        let l = ok(
            c.symlink_at(s.root(), name.as_bytes(), target.as_bytes(), NO_ID, NO_ID),
            "symlink",
        );
        assert!(l.stat.is_symlink());
        assert_eq!(l.stat.size, target.len() as u64);
        let host = dir.path().join(name);
        assert_eq!(fs::read_link(&host).unwrap().to_str(), Some(target));
        assert_eq!(
            ok(c.readlink_at(l.control_fd), "readlink"),
            target.as_bytes()
        );
    }
    want_err(
        c.symlink_at(s.root(), b"rel", b"z", NO_ID, NO_ID),
        Errno::EXIST,
        "symlink over an existing name",
    );
    want_err(
        c.symlink_at(s.root(), b"empty", b"", NO_ID, NO_ID),
        Errno::INVAL,
        "symlink with an empty target",
    );
    want_err(
        c.symlink_at(s.root(), b"a/b", b"t", NO_ID, NO_ID),
        Errno::INVAL,
        "symlink with a path as name",
    );
}

pub fn link_at(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"shared").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file");
    let sub = lookup(c, s.root(), "sub").control_fd;
    let l = ok(c.link_at(sub, f.control_fd, b"hard"), "link");
    assert!(l.stat.is_regular());
    assert_eq!(l.stat.ino, f.stat.ino);
    assert_eq!(l.stat.nlink, 2);
    let meta = host_meta(&dir.path().join("sub/hard"));
    assert_eq!((meta.ino(), meta.nlink()), (f.stat.ino, 2));
    assert_eq!(ok(c.fstat(f.control_fd), "fstat").nlink, 2);
    want_err(
        c.link_at(s.root(), f.control_fd, b"sub"),
        Errno::EXIST,
        "link over an existing name",
    );
    want_err(
        c.link_at(s.root(), sub, b"dirlink"),
        Errno::PERM,
        "link a directory",
    );
    want_err(
        c.link_at(s.root(), f.control_fd, b".."),
        Errno::INVAL,
        "link named ..",
    );
}

/// Hard links and renames cannot cross mounts (`EXDEV`), even between two
/// mounts of one file system. The case bind-mounts a directory inside the
/// served tree, in a mount namespace private to one thread, so nothing of it
/// is seen outside the case. It expects the harness to open the root from
/// the calling thread (its mount tree is that thread's).
pub fn link_and_rename_across_mounts_are_exdev(h: &dyn Harness) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: making a bind mount needs root");
        return;
    }
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    fs::write(p("file"), b"x").unwrap();
    fs::create_dir(p("src")).unwrap();
    fs::write(p("src/inner"), b"y").unwrap();
    fs::create_dir(p("mnt")).unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Err(e) = private_bind_mount(&p("src"), &p("mnt")) {
                    eprintln!("skipped: cannot make a private bind mount: {e}");
                    return;
                }
                let s = h.start(dir.path(), ROOT_OPTS);
                let c = s.client();
                let root = s.root();
                let f = lookup(c, root, "file").control_fd;
                let mnt = lookup(c, root, "mnt").control_fd;
                // Walking into the mount reaches its contents.
                let inner = lookup(c, mnt, "inner");
                assert_eq!(inner.stat.size, 1);
                want_err(c.link_at(mnt, f, b"l"), Errno::XDEV, "link across mounts");
                want_err(
                    c.rename_at(root, b"file", mnt, b"r"),
                    Errno::XDEV,
                    "rename across mounts",
                );
                want_err(
                    c.rename_at2(mnt, b"inner", root, b"r", libc::RENAME_NOREPLACE),
                    Errno::XDEV,
                    "rename2 across mounts",
                );
                assert!(exists(&p("file")) && exists(&p("src/inner")));
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}

/// Moves the calling thread into a new mount namespace that shares no
/// propagation with the host's, and bind-mounts `src` on `dst` there.
fn private_bind_mount(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL in path");
    let (src, dst) = (cstr(src), cstr(dst));
    let none: *const libc::c_char = std::ptr::null();
    // SAFETY: plain system calls on NUL-terminated strings that outlive
    // them. unshare(CLONE_NEWNS) affects only this thread, which the caller
    // dedicates to the case.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Without this the bind mount could propagate back to the host.
        let root = c"/".as_ptr();
        if libc::mount(
            none,
            root,
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        if libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            none,
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Other file operations.

pub fn fstatfs_matches_host(h: &dyn Harness) {
    let dir = tempdir();
    let host = rustix::fs::statfs(dir.path()).expect("statfs");
    let s = h.start(dir.path(), ROOT_OPTS);
    let st = ok(s.client().fstatfs(s.root()), "fstatfs");
    assert_eq!(st.fs_type, host.f_type as u64);
    assert_eq!(st.block_size, host.f_bsize as i64);
    assert_eq!(st.blocks, host.f_blocks);
    assert_eq!(st.files, host.f_files);
    assert_eq!(st.name_length, host.f_namelen as u64);
}

pub fn fallocate(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDWR);
    ok(c.fallocate(fd, 0, 0, 8192), "fallocate");
    assert_eq!(host_meta(&path).len(), 8192);
    ok(
        c.fallocate(fd, libc::FALLOC_FL_KEEP_SIZE as u32, 8192, 8192),
        "keep size",
    );
    let meta = host_meta(&path);
    assert_eq!(meta.len(), 8192);
    assert!(meta.blocks() * 512 >= 16384, "blocks {}", meta.blocks());
    let ro = open(c, f, libc::O_RDONLY);
    want_err(
        c.fallocate(ro, 0, 0, 16384),
        Errno::BADF,
        "fallocate read-only",
    );
}

pub fn readlink_at(h: &dyn Harness) {
    let dir = tempdir();
    let long = "t".repeat(1000);
    symlink(&long, dir.path().join("long")).unwrap();
    fs::write(dir.path().join("file"), b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let l = lookup(c, s.root(), "long").control_fd;
    assert_eq!(ok(c.readlink_at(l), "readlink"), long.as_bytes());
    let f = lookup(c, s.root(), "file").control_fd;
    want_err(c.readlink_at(f), Errno::INVAL, "readlink of a regular file");
    want_err(
        c.readlink_at(s.root()),
        Errno::INVAL,
        "readlink of a directory",
    );
}

pub fn flush(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    let fd = open(c, f, libc::O_RDWR);
    ok(c.flush(fd), "flush");
    ok(c.flush(fd), "flush twice");
    ok(c.pwrite(fd, 0, b"after"), "the FD is still open");
    want_err(c.flush(0xdead), Errno::BADF, "flush of an unknown FD");
}

pub fn unlink_at(h: &dyn Harness) {
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    fs::write(p("file"), b"").unwrap();
    fs::create_dir(p("empty")).unwrap();
    fs::create_dir(p("full")).unwrap();
    fs::write(p("full/x"), b"").unwrap();
    fs::write(p("target"), b"kept").unwrap();
    symlink("target", p("link")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let root = s.root();
    let rmdir = libc::AT_REMOVEDIR as u32;
    want_err(
        c.unlink_at(root, b"empty", 0),
        Errno::ISDIR,
        "unlink a directory",
    );
    want_err(
        c.unlink_at(root, b"file", rmdir),
        Errno::NOTDIR,
        "rmdir a file",
    );
    want_err(
        c.unlink_at(root, b"full", rmdir),
        Errno::NOTEMPTY,
        "rmdir non-empty",
    );
    want_err(
        c.unlink_at(root, b"nope", 0),
        Errno::NOENT,
        "unlink missing",
    );
    want_err(
        c.unlink_at(root, b"file", 0x8000),
        Errno::INVAL,
        "unknown flags",
    );
    want_err(c.unlink_at(root, b"..", rmdir), Errno::INVAL, "rmdir ..");
    assert!(exists(&p("file")) && exists(&p("empty")) && exists(&p("full/x")));
    ok(c.unlink_at(root, b"file", 0), "unlink");
    ok(c.unlink_at(root, b"empty", rmdir), "rmdir");
    ok(c.unlink_at(root, b"link", 0), "unlink a symlink");
    assert!(!exists(&p("file")) && !exists(&p("empty")) && !exists(&p("link")));
    assert_eq!(
        fs::read(p("target")).unwrap(),
        b"kept",
        "symlink target kept"
    );
    let full = lookup(c, root, "full").control_fd;
    ok(c.unlink_at(full, b"x", 0), "unlink in a subdirectory");
    ok(c.unlink_at(root, b"full", rmdir), "rmdir now empty");
    assert!(!exists(&p("full")));
}

pub fn rename_at(h: &dyn Harness) {
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    fs::write(p("a"), b"A").unwrap();
    fs::write(p("victim"), b"V").unwrap();
    fs::create_dir(p("sub")).unwrap();
    fs::create_dir(p("full")).unwrap();
    fs::write(p("full/x"), b"").unwrap();
    fs::create_dir(p("empty")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let root = s.root();
    let sub = lookup(c, root, "sub").control_fd;
    ok(c.rename_at(root, b"a", root, b"b"), "rename");
    assert!(!exists(&p("a")));
    assert_eq!(fs::read(p("b")).unwrap(), b"A");
    ok(
        c.rename_at(root, b"b", sub, b"c"),
        "rename across directories",
    );
    assert_eq!(fs::read(p("sub/c")).unwrap(), b"A");
    ok(
        c.rename_at(sub, b"c", root, b"victim"),
        "rename over a file",
    );
    assert_eq!(fs::read(p("victim")).unwrap(), b"A");
    assert!(!exists(&p("sub/c")));
    ok(
        c.rename_at(root, b"empty", root, b"moved"),
        "rename a directory",
    );
    assert!(host_meta(&p("moved")).is_dir());
    want_err(
        c.rename_at(root, b"nope", root, b"x"),
        Errno::NOENT,
        "missing source",
    );
    want_err(
        c.rename_at(root, b"victim", root, b"sub"),
        Errno::ISDIR,
        "file over a directory",
    );
    want_err(
        c.rename_at(root, b"sub", root, b"victim"),
        Errno::NOTDIR,
        "directory over a file",
    );
    match c.rename_at(root, b"moved", root, b"full") {
        Err(Errno::NOTEMPTY) | Err(Errno::EXIST) => {}
        other => panic!("directory over a non-empty one: {other:?}"),
    }
    want_err(
        c.rename_at(root, b"sub", sub, b"in"),
        Errno::INVAL,
        "into itself",
    );
    want_err(
        c.rename_at(root, b"victim", root, b"a/b"),
        Errno::INVAL,
        "path name",
    );
    want_err(
        c.rename_at(root, b"..", root, b"x"),
        Errno::INVAL,
        "rename ..",
    );
}

pub fn rename_at2_noreplace_and_exchange(h: &dyn Harness) {
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    fs::write(p("a"), b"A").unwrap();
    fs::write(p("b"), b"B").unwrap();
    fs::create_dir(p("d")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let root = s.root();
    let noreplace = libc::RENAME_NOREPLACE;
    let exchange = libc::RENAME_EXCHANGE;
    want_err(
        c.rename_at2(root, b"a", root, b"b", noreplace),
        Errno::EXIST,
        "RENAME_NOREPLACE over a file",
    );
    assert_eq!(fs::read(p("b")).unwrap(), b"B");
    ok(
        c.rename_at2(root, b"a", root, b"c", noreplace),
        "RENAME_NOREPLACE",
    );
    assert_eq!(fs::read(p("c")).unwrap(), b"A");
    ok(
        c.rename_at2(root, b"c", root, b"b", exchange),
        "RENAME_EXCHANGE",
    );
    assert_eq!(fs::read(p("b")).unwrap(), b"A");
    assert_eq!(fs::read(p("c")).unwrap(), b"B");
    ok(
        c.rename_at2(root, b"c", root, b"d", exchange),
        "exchange file and dir",
    );
    assert!(host_meta(&p("c")).is_dir());
    assert_eq!(fs::read(p("d")).unwrap(), b"B");
    want_err(
        c.rename_at2(root, b"b", root, b"nope", exchange),
        Errno::NOENT,
        "RENAME_EXCHANGE with a missing name",
    );
    ok(
        c.rename_at2(root, b"b", root, b"e", 0),
        "no flags is a plain rename",
    );
    assert_eq!(fs::read(p("e")).unwrap(), b"A");
    want_err(
        c.rename_at2(root, b"e", root, b"f", noreplace | exchange),
        Errno::INVAL,
        "both flags",
    );
    want_err(
        c.rename_at2(root, b"e", root, b"f", libc::RENAME_WHITEOUT),
        Errno::INVAL,
        "RENAME_WHITEOUT",
    );
    assert!(!exists(&p("f")));
}

pub fn getdents64_lists_every_entry(h: &dyn Harness) {
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    for name in ["a", "b", "c"] {
        fs::write(p(name), b"").unwrap();
    }
    fs::create_dir(p("d")).unwrap();
    symlink("a", p("l")).unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let fd = open(c, s.root(), libc::O_RDONLY);
    let all = read_dir(c, fd, 4096);
    assert_eq!(names(&all), [".", "..", "a", "b", "c", "d", "l"]);
    for d in &all {
        let name = String::from_utf8_lossy(&d.name);
        let want = match &*name {
            "." | ".." | "d" => libc::DT_DIR,
            "l" => libc::DT_LNK,
            _ => libc::DT_REG,
        };
        assert_eq!(d.kind, want, "type of {name}");
        if name != ".." {
            assert_eq!(d.ino, host_meta(&p(&name)).ino(), "inode of {name}");
        }
    }
    // The end stays the end.
    assert!(ok(c.getdents64(fd, 4096), "getdents64 at the end").is_empty());
    // A fresh open starts over.
    let again = open(c, s.root(), libc::O_RDONLY);
    assert_eq!(read_dir(c, again, 4096).len(), all.len());
    // Not a directory.
    let f = lookup(c, s.root(), "a").control_fd;
    let ffd = open(c, f, libc::O_RDONLY);
    want_err(
        c.getdents64(ffd, 4096),
        Errno::NOTDIR,
        "getdents64 of a file",
    );
}

pub fn getdents64_small_count(h: &dyn Harness) {
    let dir = tempdir();
    let names_in: Vec<String> = (0..20).map(|i| format!("entry{i:02}")).collect();
    for n in &names_in {
        fs::write(dir.path().join(n), b"").unwrap();
    }
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let fd = open(c, s.root(), libc::O_RDONLY);
    let mut want: Vec<String> = names_in.clone();
    want.extend([".".into(), "..".into()]);
    want.sort();
    // Room for one or two entries per call: every call must still make
    // progress, and never return more than `count` allows (counts that are
    // not a multiple of 8 included).
    assert_eq!(names(&read_dir(c, fd, 32)), want);
    for count in [33, 40, 47, 56, 100] {
        let fd = open(c, s.root(), libc::O_RDONLY);
        assert_eq!(names(&read_dir(c, fd, count)), want, "count {count}");
    }
    // Less than one entry is an error, not an empty (final) answer.
    let fd = open(c, s.root(), libc::O_RDONLY);
    want_err(c.getdents64(fd, 1), Errno::INVAL, "getdents64 with count 1");
}

pub fn xattrs(h: &dyn Harness) {
    let dir = tempdir();
    let path = dir.path().join("file");
    fs::write(&path, b"").unwrap();
    let s = h.start(dir.path(), ROOT_OPTS);
    let c = s.client();
    let f = lookup(c, s.root(), "file").control_fd;
    match c.setxattr(f, b"user.k", b"v1", 0) {
        Ok(()) => {}
        Err(Errno::OPNOTSUPP) => {
            eprintln!("skipped: the host file system has no user xattrs");
            return;
        }
        Err(e) => panic!("setxattr: {e}"),
    }
    assert_eq!(ok(c.getxattr(f, b"user.k", 0), "getxattr"), b"v1");
    assert_eq!(ok(c.getxattr(f, b"user.k", 100), "getxattr"), b"v1");
    want_err(
        c.getxattr(f, b"user.k", 1),
        Errno::RANGE,
        "getxattr too small",
    );
    want_err(
        c.getxattr(f, b"user.none", 0),
        Errno::NODATA,
        "missing xattr",
    );
    want_err(
        c.setxattr(f, b"user.k", b"v2", libc::XATTR_CREATE as u32),
        Errno::EXIST,
        "XATTR_CREATE of an existing name",
    );
    want_err(
        c.setxattr(f, b"user.new", b"v", libc::XATTR_REPLACE as u32),
        Errno::NODATA,
        "XATTR_REPLACE of a missing name",
    );
    ok(
        c.setxattr(f, b"user.k", b"v2", libc::XATTR_REPLACE as u32),
        "replace",
    );
    ok(
        c.setxattr(f, b"user.e", b"", libc::XATTR_CREATE as u32),
        "empty value",
    );
    assert_eq!(ok(c.getxattr(f, b"user.e", 0), "getxattr"), b"");
    let list = ok(c.listxattr(f, 0), "listxattr");
    assert!(list.contains(&b"user.k".to_vec()) && list.contains(&b"user.e".to_vec()));
    want_err(c.listxattr(f, 1), Errno::RANGE, "listxattr too small");
    // The host sees what was set.
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(&path, "user.k", &mut buf).expect("host getxattr");
    assert_eq!(&buf[..n], b"v2");
    ok(c.removexattr(f, b"user.k"), "removexattr");
    want_err(c.getxattr(f, b"user.k", 0), Errno::NODATA, "removed xattr");
    want_err(c.removexattr(f, b"user.k"), Errno::NODATA, "remove twice");
    want_err(c.getxattr(f, b"", 0), Errno::INVAL, "empty xattr name");
}

// ---------------------------------------------------------------------------
// Protocol rules.

pub fn reserved_messages_are_eopnotsupp(h: &dyn Harness) {
    let dir = tempdir();
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    let mut raw = RawConn::new(sock);
    let root = raw.mount().root.control_fd;
    for mid in [
        Mid::Channel,
        Mid::Connect,
        Mid::BindAt,
        Mid::Listen,
        Mid::Accept,
        Mid::ConnectWithCreds,
    ] {
        for body in [&[][..], &[1, 2, 3, 4, 5, 6, 7, 8, 9][..]] {
            want_err(
                raw.call_mid(mid as u16, body),
                Errno::OPNOTSUPP,
                &format!("{mid:?}"),
            );
        }
        // The connection stays usable.
        ok(
            raw.call(&FStatReq { fd: root }),
            "fstat after a reserved id",
        );
    }
    drop(raw);
    server.finish().expect("clean end");
}

pub fn readonly_mount_refuses_mutations(h: &dyn Harness) {
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    fs::write(p("file"), b"data").unwrap();
    fs::create_dir(p("sub")).unwrap();
    symlink("file", p("link")).unwrap();
    let xattr = rustix::fs::setxattr(p("file"), "user.k", b"v", rustix::fs::XattrFlags::empty());
    let before = snapshot(dir.path());
    let opts = HarnessOptions {
        readonly: true,
        ..ROOT_OPTS
    };
    let s = h.start(dir.path(), opts);
    let c = s.client();
    let root = s.root();
    let f = lookup(c, root, "file").control_fd;
    let sub = lookup(c, root, "sub").control_fd;

    // Reading works.
    assert_eq!(
        ok(c.walk_stat(root, &comps(&["file"]), true), "walk_stat").len(),
        2
    );
    let fd = open(c, f, libc::O_RDONLY);
    assert_eq!(ok(c.pread(fd, 0, 10), "pread"), b"data");
    let dfd = open(c, root, libc::O_RDONLY);
    assert_eq!(read_dir(c, dfd, 4096).len(), 5);
    assert_eq!(
        ok(
            c.readlink_at(lookup(c, root, "link").control_fd),
            "readlink"
        ),
        b"file"
    );
    ok(c.fstatfs(root), "fstatfs");
    ok(c.flush(fd), "flush");
    ok(c.fsync(&[fd]), "fsync");
    if xattr.is_ok() {
        assert_eq!(ok(c.getxattr(f, b"user.k", 0), "getxattr"), b"v");
        assert!(ok(c.listxattr(f, 0), "listxattr").contains(&b"user.k".to_vec()));
    }

    // Every change is EROFS.
    let rofs = |r: Result<(), Errno>, what: &str| want_err(r, Errno::ROFS, what);
    for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
        rofs(c.open_at(f, flags as u32).map(drop), "open for writing");
    }
    let chmod = SetStatReq {
        fd: f,
        mask: libc::STATX_MODE,
        mode: 0o600,
        ..Default::default()
    };
    rofs(c.set_stat(&chmod).map(drop), "set_stat");
    rofs(c.pwrite(fd, 0, b"x").map(drop), "pwrite");
    rofs(c.fallocate(fd, 0, 0, 100), "fallocate");
    rofs(
        c.open_create_at(root, b"n", libc::O_RDWR as u32, 0o600, NO_ID, NO_ID)
            .map(drop),
        "create",
    );
    rofs(
        c.mkdir_at(root, b"n", 0o700, NO_ID, NO_ID).map(drop),
        "mkdir",
    );
    rofs(
        c.mknod_at(root, b"n", libc::S_IFREG | 0o600, 0, 0, NO_ID, NO_ID)
            .map(drop),
        "mknod",
    );
    rofs(
        c.symlink_at(root, b"n", b"t", NO_ID, NO_ID).map(drop),
        "symlink",
    );
    rofs(c.link_at(sub, f, b"n").map(drop), "link");
    rofs(c.unlink_at(root, b"file", 0), "unlink");
    rofs(
        c.unlink_at(root, b"sub", libc::AT_REMOVEDIR as u32),
        "rmdir",
    );
    rofs(c.rename_at(root, b"file", root, b"n"), "rename");
    rofs(c.rename_at2(root, b"file", root, b"n", 0), "rename2");
    rofs(c.setxattr(f, b"user.n", b"v", 0), "setxattr");
    rofs(c.removexattr(f, b"user.k"), "removexattr");
    drop(s);
    assert_eq!(snapshot(dir.path()), before, "the read-only tree changed");
}

/// Names, types, modes, sizes and contents of a tree, to detect changes.
fn snapshot(root: &Path) -> Vec<(String, u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let meta = host_meta(&path);
            let content = if meta.is_file() {
                fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let name = path.strip_prefix(root).unwrap().display().to_string();
            out.push((name, meta.mode(), meta.len(), content));
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Permissions of an unprivileged server.

pub fn unprivileged_server_gets_eacces(h: &dyn Harness) {
    if !h.unprivileged() {
        eprintln!("skipped: the harness cannot run an unprivileged server");
        return;
    }
    let dir = tempdir();
    let p = |s: &str| dir.path().join(s);
    chmod(dir.path(), 0o755);
    fs::create_dir(p("secret")).unwrap();
    fs::write(p("secret/inner"), b"hidden").unwrap();
    chmod(&p("secret"), 0o700);
    fs::write(p("locked"), b"hidden").unwrap();
    chmod(&p("locked"), 0o000);
    let opts = HarnessOptions {
        as_user: Some(NOBODY),
        ..ROOT_OPTS
    };
    let s = h.start(dir.path(), opts);
    let c = s.client();
    let root = s.root();
    // The directory itself is visible, its contents are not.
    let secret = lookup(c, root, "secret").control_fd;
    want_err(
        c.walk(secret, &[b"inner"]),
        Errno::ACCESS,
        "walk into a 0700 dir",
    );
    want_err(
        c.walk_stat(root, &comps(&["secret", "inner"]), false),
        Errno::ACCESS,
        "walk_stat into a 0700 dir",
    );
    want_err(c.open_at(secret, 0), Errno::ACCESS, "open a 0700 dir");
    let locked = lookup(c, root, "locked");
    assert_eq!(mode_bits(&locked.stat), 0);
    want_err(
        c.open_at(locked.control_fd, 0),
        Errno::ACCESS,
        "open a 0000 file",
    );
    want_err(
        c.open_at(locked.control_fd, libc::O_WRONLY as u32),
        Errno::ACCESS,
        "open a 0000 file for writing",
    );
    // Changing a directory one may not write to.
    want_err(
        c.open_create_at(root, b"n", libc::O_RDWR as u32, 0o600, NO_ID, NO_ID),
        Errno::ACCESS,
        "create in a root-owned 0755 dir",
    );
    want_err(
        c.mkdir_at(root, b"n", 0o700, NO_ID, NO_ID),
        Errno::ACCESS,
        "mkdir",
    );
    want_err(c.unlink_at(root, b"locked", 0), Errno::ACCESS, "unlink");
    want_err(
        c.rename_at(root, b"locked", root, b"n"),
        Errno::ACCESS,
        "rename",
    );
    // Only the owner may change the mode.
    let chmod = SetStatReq {
        fd: locked.control_fd,
        mask: libc::STATX_MODE,
        mode: 0o644,
        ..Default::default()
    };
    let r = ok(c.set_stat(&chmod), "set_stat");
    assert_eq!(r.failure_mask, libc::STATX_MODE);
    assert_eq!(r.failure_errno, libc::EPERM as u32);
    assert_eq!(host_meta(&p("locked")).mode() & 0o7777, 0);
    assert!(!exists(&p("n")));
}

pub fn unprivileged_server_creates_as_itself(h: &dyn Harness) {
    if !h.unprivileged() {
        eprintln!("skipped: the harness cannot run an unprivileged server");
        return;
    }
    let dir = tempdir();
    chmod(dir.path(), 0o777);
    let opts = HarnessOptions {
        as_user: Some(NOBODY),
        ..ROOT_OPTS
    };
    let s = h.start(dir.path(), opts);
    let c = s.client();
    let (child, fd, _) = ok(
        c.open_create_at(s.root(), b"mine", libc::O_RDWR as u32, 0o600, NO_ID, NO_ID),
        "create",
    );
    assert_eq!((child.stat.uid, child.stat.gid), NOBODY);
    ok(c.pwrite(fd, 0, b"x"), "pwrite");
    let meta = host_meta(&dir.path().join("mine"));
    assert_eq!((meta.uid(), meta.gid()), NOBODY);
    // Its own file it may chmod.
    let r = ok(
        c.set_stat(&SetStatReq {
            fd: child.control_fd,
            mask: libc::STATX_MODE,
            mode: 0o640,
            ..Default::default()
        }),
        "chmod own file",
    );
    assert_eq!(r.failure_mask, 0);
    // But not give it away.
    let r = ok(
        c.set_stat(&SetStatReq {
            fd: child.control_fd,
            mask: libc::STATX_UID,
            uid: 0,
            ..Default::default()
        }),
        "chown own file",
    );
    assert_eq!(r.failure_mask, libc::STATX_UID);
    assert_eq!(r.failure_errno, libc::EPERM as u32);
    let d = ok(c.mkdir_at(s.root(), b"d", 0o700, NO_ID, NO_ID), "mkdir");
    assert_eq!(d.stat.uid, NOBODY.0);
    // Nor create files for someone else; a refused create leaves nothing.
    want_err(
        c.open_create_at(s.root(), b"theirs", libc::O_RDWR as u32, 0o600, 0, 0)
            .map(drop),
        Errno::PERM,
        "create owned by root",
    );
    want_err(
        c.mkdir_at(s.root(), b"theirs", 0o700, 0, NO_ID).map(drop),
        Errno::PERM,
        "mkdir owned by root",
    );
    assert!(
        !exists(&dir.path().join("theirs")),
        "a refused create left a file"
    );
}

// ---------------------------------------------------------------------------
// Robustness: a broken client ends its own connection, nothing else.

pub fn truncated_request_ends_connection(h: &dyn Harness) {
    expect_broken_connection(
        h,
        |raw, root| {
            let whole = encode(&WalkReq {
                dir: root,
                path: vec![b"file".to_vec()],
            });
            raw.send(Mid::Walk as u16, &whole[..whole.len() - 1]);
        },
        |e| matches!(e, ServeError::Malformed { mid: Mid::Walk, .. }),
    );
}

pub fn trailing_bytes_end_connection(h: &dyn Harness) {
    expect_broken_connection(
        h,
        |raw, root| {
            let mut body = encode(&FStatReq { fd: root });
            body.push(0);
            raw.send(Mid::FStat as u16, &body);
        },
        |e| {
            matches!(
                e,
                ServeError::Malformed {
                    mid: Mid::FStat,
                    ..
                }
            )
        },
    );
}

pub fn unknown_message_ends_connection(h: &dyn Harness) {
    for mid in [Mid::ALL.len() as u16, u16::MAX] {
        expect_broken_connection(
            h,
            |raw, root| raw.send(mid, &encode(&FStatReq { fd: root })),
            |e| matches!(e, ServeError::UnknownMid(m) if *m == mid),
        );
    }
    // Only servers send `Error`.
    expect_broken_connection(
        h,
        |raw, _| raw.send(Mid::Error as u16, &encode(&ErrorResp { errno: 1 })),
        |e| matches!(e, ServeError::UnknownMid(0)),
    );
}

pub fn malformed_frames_end_connection(h: &dyn Harness) {
    let raw_send = |raw: &mut RawConn, bytes: &[u8]| {
        rustix::net::send(&raw.sock, bytes, rustix::net::SendFlags::empty()).expect("send");
    };
    let is_transport = |e: &ServeError| matches!(e, ServeError::Transport(_));
    // Shorter than a header.
    expect_broken_connection(h, |raw, _| raw_send(raw, &[1, 2, 3]), is_transport);
    // A header promising more payload than the datagram holds.
    expect_broken_connection(
        h,
        |raw, root| {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&100u32.to_ne_bytes());
            bytes.extend_from_slice(&(Mid::FStat as u16).to_ne_bytes());
            bytes.extend_from_slice(&0u16.to_ne_bytes());
            bytes.extend_from_slice(&root.to_ne_bytes());
            raw_send(raw, &bytes);
        },
        is_transport,
    );
    // A datagram larger than any message may be.
    expect_broken_connection(
        h,
        |raw, _| raw_send(raw, &vec![0u8; 16 + MAX_MESSAGE_SIZE as usize]),
        is_transport,
    );
}

pub fn hostile_count_ends_connection(h: &dyn Harness) {
    expect_broken_connection(
        h,
        |raw, root| {
            // A path claiming four billion components in a few bytes.
            let mut e = crate::codec::Encoder::new();
            e.u64(root);
            e.u32(u32::MAX);
            e.bytes(b"file");
            raw.send(Mid::Walk as u16, &e.into_bytes());
        },
        |e| matches!(e, ServeError::Malformed { mid: Mid::Walk, .. }),
    );
}

pub fn client_fd_ends_connection(h: &dyn Harness) {
    expect_broken_connection(
        h,
        |raw, root| {
            let (mine, _other) = Socket::pair().expect("socketpair");
            let body = encode(&FStatReq { fd: root });
            raw.sock
                .send(Mid::FStat as u16, &body, &[mine.as_fd()])
                .expect("send with an FD");
        },
        |e| matches!(e, ServeError::ClientFds(1)),
    );
}

pub fn peer_closing_at_once_is_clean(h: &dyn Harness) {
    let dir = tempdir();
    fs::write(dir.path().join("file"), b"data").unwrap();
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    drop(sock);
    server
        .finish()
        .expect("a client that goes away is a clean end");
    // Also after mounting, with FDs held.
    let (sock, server) = h.start_raw(dir.path(), ROOT_OPTS);
    let mut raw = RawConn::new(sock);
    let root = raw.mount().root.control_fd;
    let walk = WalkReq {
        dir: root,
        path: vec![b"file".to_vec()],
    };
    ok(raw.call(&walk), "walk");
    drop(raw);
    server
        .finish()
        .expect("a client that goes away is a clean end");
    expect_still_serving(h, dir.path());
}
