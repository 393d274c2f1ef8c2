//! Tests of `vigil gofer` as a real, jailed process: the lisafs conformance
//! suite served through it, the jail's security properties seen from the
//! host, connection isolation, and the error paths of a bad launch.
//!
//! These tests need root (the gofer makes mounts and a mount namespace).

mod common;

use lisafs::codec::DecodeError;
use lisafs::message::{FStatReq, Mid, WALK_COMPONENT_SYMLINK};
use lisafs::server::ServeError;
use lisafs::testsuite::{Harness, HarnessOptions, ServerHandle};
use lisafs::transport::TransportError;
use lisafs::{Client, Socket};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{symlink, MetadataExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// The capabilities the gofer keeps: CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH,
/// FOWNER, FSETID (bits 0-4) and SYS_CHROOT (bit 18).
const KEPT_CAPS: &str = "000000000004001f";

// ---------------------------------------------------------------------------
// Starting a gofer.

/// A bundle directory: `config.json`, a `rootfs`, and the gofer's log and
/// stderr.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("vigil-gofer-test")
            .tempdir()
            .unwrap();
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        Bundle { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    /// Writes config.json with `root` (a JSON object) and bind `mounts`
    /// given as (destination, source, options).
    fn config(&self, root: &str, mounts: &[(&str, &Path, &[&str])]) {
        let mounts: Vec<String> = mounts
            .iter()
            .map(|(dst, src, opts)| {
                let opts: Vec<String> = opts.iter().map(|o| format!("{o:?}")).collect();
                format!(
                    r#"{{"destination":{dst:?},"type":"bind","source":{:?},"options":[{}]}}"#,
                    src.display().to_string(),
                    opts.join(",")
                )
            })
            .collect();
        let json = format!(
            r#"{{"ociVersion":"1.0.2","root":{root},"mounts":[{}]}}"#,
            mounts.join(",")
        );
        fs::write(self.path().join("config.json"), json).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path().join("gofer.log")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.path().join("gofer.stderr")).unwrap_or_default()
    }

    /// Starts `vigil gofer` on this bundle with `fds` as its io FDs 3, 4, ...
    fn spawn(&self, fds: Vec<OwnedFd>, extra: &[&str]) -> Child {
        let stderr = fs::File::create(self.path().join("gofer.stderr")).unwrap();
        let mut cmd = Command::new(VIGIL);
        let list = common::pass_fds(&mut cmd, &fds);
        cmd.arg("gofer")
            .arg("--bundle")
            .arg(self.path())
            .arg("--io-fds")
            .arg(list)
            .arg("--debug-log")
            .arg(self.path().join("gofer.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().expect("start vigil gofer");
        drop(fds);
        child
    }
}

/// Waits for `child`, killing it and failing after `limit`.
fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vigil gofer (pid {}) did not exit", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `n` socket pairs: the client ends, and the gofer's ends as FDs.
fn sockets(n: usize) -> (Vec<Socket>, Vec<OwnedFd>) {
    (0..n)
        .map(|_| {
            let (client, server) = Socket::pair().unwrap();
            (client, server.into_fd())
        })
        .unzip()
}

/// A gofer serving a bundle, killed if a test fails before it ends.
struct Gofer {
    child: Child,
}

impl Gofer {
    fn start(bundle: &Bundle, fds: Vec<OwnedFd>) -> Gofer {
        Gofer {
            child: bundle.spawn(fds, &[]),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the gofer to exit, which it does once every connection
    /// has ended.
    fn exit(mut self) -> ExitStatus {
        wait(&mut self.child, Duration::from_secs(20))
    }
}

impl Drop for Gofer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The conformance suite, served by the jailed gofer.

/// Serves the suite's directory as a bundle's root through `vigil gofer`.
/// The gofer logs how each connection ended; that line is turned back into
/// the `ServeError` the suite checks.
struct JailedGofer;

impl Harness for JailedGofer {
    fn start_raw(&self, root: &Path, opts: HarnessOptions) -> (Socket, ServerHandle) {
        assert!(opts.as_user.is_none(), "the gofer runs as root");
        let bundle = Bundle::new();
        let root = format!(
            r#"{{"path":{:?},"readonly":{}}}"#,
            root.display().to_string(),
            opts.readonly
        );
        bundle.config(&root, &[]);
        let (mut clients, fds) = sockets(1);
        let directfs = format!("--directfs={}", opts.directfs);
        let mut child = bundle.spawn(fds, &[&directfs]);
        let handle = ServerHandle::new(move || {
            let status = wait(&mut child, Duration::from_secs(30));
            let log = bundle.log();
            assert!(
                status.success(),
                "gofer ended with {status}\nstderr: {}\nlog: {log}",
                bundle.stderr()
            );
            match log.lines().find_map(|l| l.split_once(" ended: ")) {
                Some((_, err)) => Err(serve_error(err)),
                None => Ok(()),
            }
        });
        (clients.remove(0), handle)
    }

    fn unprivileged(&self) -> bool {
        // The jail needs root; the gofer does not switch users.
        false
    }
}

/// Rebuilds a `ServeError` from its logged text, as far as the suite
/// distinguishes errors.
fn serve_error(text: &str) -> ServeError {
    let number = |s: &str| -> usize {
        s.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    };
    if let Some(rest) = text.strip_prefix("transport: ") {
        let t = if rest.starts_with("message shorter") {
            TransportError::ShortHeader(number(rest))
        } else if rest.starts_with("header says") {
            TransportError::LengthMismatch { said: 0, got: 0 }
        } else if rest.contains("exceeds the limit") {
            TransportError::TooLarge(number(rest))
        } else if rest.starts_with("more FDs") {
            TransportError::TooManyFds
        } else {
            TransportError::Io(lisafs::Errno::IO)
        };
        return ServeError::Transport(t);
    }
    if let Some(rest) = text.strip_prefix("unknown message id ") {
        return ServeError::UnknownMid(rest.trim().parse().expect("message id"));
    }
    if let Some(rest) = text.strip_prefix("client sent ") {
        return ServeError::ClientFds(number(rest.split(' ').next().unwrap()));
    }
    if let Some(rest) = text.strip_prefix("malformed ") {
        let name = rest.split(' ').next().unwrap();
        if let Some(mid) = Mid::ALL.iter().find(|m| format!("{m:?}") == name) {
            return ServeError::Malformed {
                mid: *mid,
                err: DecodeError::Invalid("as logged by the gofer"),
            };
        }
    }
    panic!("unrecognised connection error in the gofer's log: {text}");
}

lisafs::conformance_suite!(JailedGofer);

// ---------------------------------------------------------------------------
// Security: what the jailed gofer can reach.

/// Reads every regular file reachable from `dir` by walking (never through
/// a symlink) and returns their contents.
fn read_tree(c: &Client, dir: lisafs::FdId, depth: usize, out: &mut Vec<Vec<u8>>) {
    let (open, _) = c.open_at(dir, libc::O_RDONLY as u32).unwrap();
    let mut names = Vec::new();
    loop {
        let ents = c.getdents64(open, 4096).unwrap();
        if ents.is_empty() {
            break;
        }
        names.extend(ents.into_iter().map(|e| e.name));
    }
    for name in names {
        if name == b"." || name == b".." {
            continue;
        }
        let w = c.walk(dir, &[&name]).unwrap();
        let inode = w.inodes[0];
        let mode = inode.stat.mode as u32 & libc::S_IFMT;
        if mode == libc::S_IFREG {
            let (f, _) = c.open_at(inode.control_fd, libc::O_RDONLY as u32).unwrap();
            out.push(c.pread(f, 0, 1 << 16).unwrap());
        } else if mode == libc::S_IFDIR && depth < 8 {
            read_tree(c, inode.control_fd, depth + 1, out);
        }
    }
}

#[test]
fn symlinks_in_the_rootfs_do_not_reach_host_files() {
    let bundle = Bundle::new();
    let root = bundle.rootfs();
    let secret = bundle.path().join("secret");
    fs::write(&secret, "host secret").unwrap();
    fs::write(root.join("inside"), "container file").unwrap();
    fs::create_dir(root.join("dir")).unwrap();
    symlink("/etc/shadow", root.join("shadow")).unwrap();
    symlink("../../..", root.join("dir/up")).unwrap();
    symlink(&secret, root.join("abs_secret")).unwrap();
    symlink("../secret", root.join("rel_secret")).unwrap();
    bundle.config(r#"{"path":"rootfs"}"#, &[]);
    let (mut clients, fds) = sockets(1);
    let gofer = Gofer::start(&bundle, fds);
    let m = Client::mount(clients.remove(0), false).unwrap();
    let (c, r) = (&m.client, m.root.control_fd);

    for link in ["shadow", "abs_secret", "rel_secret"] {
        let w = c.walk(r, &[link.as_bytes()]).unwrap();
        assert_eq!(w.status, WALK_COMPONENT_SYMLINK, "{link}");
        assert_eq!(w.inodes.len(), 1, "{link}");
        assert!(w.inodes[0].stat.is_symlink(), "{link}");
        // Opening the symlink itself never opens its target.
        let opened = c.open_at(w.inodes[0].control_fd, libc::O_RDONLY as u32);
        assert!(opened.is_err(), "{link}: opening a symlink must fail");
    }
    // A walk through a symlink stops at it.
    let w = c.walk(r, &[b"dir", b"up", b"etc", b"shadow"]).unwrap();
    assert_eq!(w.status, WALK_COMPONENT_SYMLINK);
    assert_eq!(w.inodes.len(), 2);
    assert_eq!(c.walk(r, &[b".."]).unwrap_err(), lisafs::Errno::INVAL);

    let mut contents = Vec::new();
    read_tree(c, r, 0, &mut contents);
    assert_eq!(contents, vec![b"container file".to_vec()]);
    let shadow = fs::read("/etc/shadow").unwrap_or_default();
    for data in &contents {
        assert_ne!(data.as_slice(), b"host secret");
        assert!(shadow.is_empty() || *data != shadow);
    }
    drop(m);
    assert!(gofer.exit().success());
}

#[test]
fn a_bind_destination_symlinked_to_host_root_stays_inside() {
    let bundle = Bundle::new();
    let root = bundle.rootfs();
    let vol = bundle.path().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::write(vol.join("volfile"), "volume").unwrap();
    symlink("/", root.join("evil")).unwrap();
    let name = format!("vigil-gofer-test-{}", std::process::id());
    let dest = format!("/evil/{name}");
    bundle.config(r#"{"path":"rootfs"}"#, &[(&dest, &vol, &[])]);
    let (mut clients, fds) = sockets(2);
    let gofer = Gofer::start(&bundle, fds);
    let vol_conn = Client::mount(clients.remove(1), false).unwrap();
    let root_conn = Client::mount(clients.remove(0), false).unwrap();

    // The destination was created inside the rootfs, not at the host's /.
    assert!(!Path::new("/").join(&name).exists());
    assert!(root.join(&name).is_dir());
    // In the gofer's namespace the volume is mounted there.
    let pid = gofer.pid();
    let seen = PathBuf::from(format!("/proc/{pid}/root/{name}/volfile"));
    assert_eq!(fs::read_to_string(seen).unwrap(), "volume");
    // Both connections reach it: the volume's own, and the root's walk.
    let (c, r) = (&vol_conn.client, vol_conn.root.control_fd);
    assert_eq!(c.walk(r, &[b"volfile"]).unwrap().inodes.len(), 1);
    let (c, r) = (&root_conn.client, root_conn.root.control_fd);
    let w = c.walk(r, &[name.as_bytes(), b"volfile"]).unwrap();
    assert_eq!(w.inodes.len(), 2);
    assert_eq!(w.inodes[1].stat.size, 6);
    drop((vol_conn, root_conn));
    assert!(gofer.exit().success());
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{key} missing from status"))
        .trim()
        .to_string()
}

#[test]
fn jailed_gofer_has_filter_caps_and_root() {
    let bundle = Bundle::new();
    let root = bundle.rootfs();
    fs::write(root.join("marker"), "rootfs").unwrap();
    let vol = bundle.path().join("vol");
    fs::create_dir(&vol).unwrap();
    bundle.config(
        r#"{"path":"rootfs","readonly":true}"#,
        &[("/data", &vol, &["rbind", "ro"])],
    );
    let (mut clients, fds) = sockets(2);
    let gofer = Gofer::start(&bundle, fds);
    // Serving starts only after the jail is complete.
    let m = Client::mount(clients.remove(0), false).unwrap();
    let pid = gofer.pid();

    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&status, set), KEPT_CAPS, "{set}");
    }
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");

    // Its root and working directory are the bundle's rootfs.
    let want = fs::metadata(&root).unwrap();
    for link in ["root", "cwd"] {
        let got = fs::metadata(format!("/proc/{pid}/{link}")).unwrap();
        assert_eq!((got.dev(), got.ino()), (want.dev(), want.ino()), "{link}");
    }
    let marker = format!("/proc/{pid}/root/marker");
    assert_eq!(fs::read_to_string(marker).unwrap(), "rootfs");
    // The bind mount is in place and read-only, in the gofer's namespace
    // only.
    let data = format!("/proc/{pid}/root/data");
    let vfs = nix::sys::statvfs::statvfs(data.as_str()).unwrap();
    assert!(vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    assert!(!nix::sys::statvfs::statvfs(&vol)
        .unwrap()
        .flags()
        .contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    drop(m);
    drop(clients);
    assert!(gofer.exit().success());
}

// ---------------------------------------------------------------------------
// One broken connection leaves the others serving.

fn two_mount_bundle() -> Bundle {
    let bundle = Bundle::new();
    fs::write(bundle.rootfs().join("file"), "root").unwrap();
    let vol = bundle.path().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::write(vol.join("volfile"), "volume").unwrap();
    bundle.config(r#"{"path":"rootfs"}"#, &[("/vol", &vol, &["rbind"])]);
    bundle
}

fn works(m: &lisafs::Mounted, name: &[u8], size: u64) {
    let w = m.client.walk(m.root.control_fd, &[name]).unwrap();
    assert_eq!(w.inodes[0].stat.size, size);
}

#[test]
fn a_malformed_message_leaves_the_other_connection_serving() {
    let bundle = two_mount_bundle();
    let (mut clients, fds) = sockets(2);
    let gofer = Gofer::start(&bundle, fds);
    let vol = Client::mount(clients.remove(1), false).unwrap();
    let bad = clients.remove(0);
    works(&vol, b"volfile", 6);
    // Shorter than a header: the gofer hangs up on this connection only.
    // SAFETY: a send from a live buffer on an open socket.
    let sent = unsafe { libc::send(bad.as_raw_fd(), [1u8, 2, 3].as_ptr().cast(), 3, 0) };
    assert_eq!(sent, 3);
    let mut buf = Vec::new();
    assert!(matches!(bad.recv(&mut buf), Err(TransportError::Closed)));
    works(&vol, b"volfile", 6);
    drop(vol);
    assert!(gofer.exit().success());
    let log = bundle.log();
    assert!(
        log.contains("connection 0 (/) ended: transport: message shorter than its header"),
        "{log}"
    );
    assert_eq!(bundle.stderr(), "");
}

#[test]
fn a_vanished_peer_leaves_the_other_connection_serving() {
    let bundle = two_mount_bundle();
    let (mut clients, fds) = sockets(2);
    let gofer = Gofer::start(&bundle, fds);
    let root = Client::mount(clients.remove(0), false).unwrap();
    let peer = clients.remove(0);
    // The peer mounts, sends a request and dies before the answer.
    peer.send(Mid::Mount as u16, &0u32.to_ne_bytes(), &[])
        .unwrap();
    let mut buf = Vec::new();
    assert!(peer.recv(&mut buf).is_ok());
    let fstat = lisafs::message::encode(&FStatReq { fd: 1 });
    peer.send(Mid::FStat as u16, &fstat, &[]).unwrap();
    drop(peer);
    works(&root, b"file", 4);
    drop(root);
    assert!(gofer.exit().success());
    assert_eq!(bundle.stderr(), "");
}

// ---------------------------------------------------------------------------
// A bad launch: exit 1, one clear line, no panic, no process left behind.

fn fails_with(bundle: &Path, fds: Vec<OwnedFd>, io_fds: &str, want: &str) {
    let stderr_file = tempfile::NamedTempFile::new().unwrap();
    let stderr = stderr_file.reopen().unwrap();
    let mut raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let mut cmd = Command::new(VIGIL);
    cmd.args(["gofer", "--bundle"])
        .arg(bundle)
        .args(["--io-fds", io_fds])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: only fcntl and dup2, as in `Bundle::spawn`.
    unsafe {
        cmd.pre_exec(move || {
            for (i, fd) in raw.iter_mut().enumerate() {
                *fd = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100 + i as i32);
            }
            for (i, fd) in raw.iter().enumerate() {
                libc::dup2(*fd, 3 + i as i32);
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    drop(fds);
    let status = wait(&mut child, Duration::from_secs(20));
    let err = fs::read_to_string(stderr_file.path()).unwrap();
    assert_eq!(status.code(), Some(1), "{status:?} {err}");
    assert!(status.signal().is_none());
    assert!(err.starts_with("vigil: gofer: "), "{err}");
    assert!(err.contains(want), "want {want:?} in {err:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_missing_bundle_is_a_clear_error() {
    let (_c, fds) = sockets(1);
    fails_with(
        Path::new("/nonexistent/vigil-bundle"),
        fds,
        "3",
        "load /nonexistent/vigil-bundle/config.json: No such file or directory",
    );
}

#[test]
fn an_invalid_config_is_a_clear_error() {
    let bundle = Bundle::new();
    fs::write(bundle.path().join("config.json"), "{\"root\": [").unwrap();
    let (_c, fds) = sockets(1);
    fails_with(bundle.path(), fds, "3", "config.json: invalid JSON");
}

#[test]
fn a_missing_rootfs_is_a_clear_error() {
    let bundle = Bundle::new();
    bundle.config(r#"{"path":"nope"}"#, &[]);
    let (_c, fds) = sockets(1);
    fails_with(bundle.path(), fds, "3", "/nope: No such file or directory");
}

#[test]
fn a_bad_bind_mount_is_a_clear_error() {
    let bundle = Bundle::new();
    let missing = bundle.path().join("missing");
    bundle.config(r#"{"path":"rootfs"}"#, &[("/m", &missing, &[])]);
    let (_c, fds) = sockets(2);
    fails_with(bundle.path(), fds, "3,4", "mount 0 (/m): source ");
    bundle.config(r#"{"path":"rootfs"}"#, &[("relative", bundle.path(), &[])]);
    let (_c, fds) = sockets(2);
    fails_with(
        bundle.path(),
        fds,
        "3,4",
        "mount 0 (relative): destination is not an absolute path",
    );
}

#[test]
fn a_wrong_io_fd_count_is_a_clear_error() {
    let bundle = two_mount_bundle();
    let (_c, fds) = sockets(1);
    fails_with(
        bundle.path(),
        fds,
        "3",
        "--io-fds lists 1 FDs, but the spec has 2 mounts to serve",
    );
}

#[test]
fn an_io_fd_that_is_not_a_seqpacket_socket_is_a_clear_error() {
    let bundle = Bundle::new();
    bundle.config(r#"{"path":"rootfs"}"#, &[]);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    fails_with(
        bundle.path(),
        vec![a.into()],
        "3",
        "io FD 3 is not a SOCK_SEQPACKET socket",
    );
    fails_with(bundle.path(), vec![], "9", "io FD 9 is not an open FD");
}
