//! A pod in one sandbox, through the sandbox's real control socket: a
//! second container, served by a `vigil gofer` of its own, joins a running
//! sandbox, runs in its own root, is listed, signalled and waited for
//! apart from the sandbox's own container, and is removed (its gofer then
//! exits). Hostile `CreateContainer` requests are refused and the sandbox
//! goes on.
//!
//! These tests need root (the sandbox and the gofer make namespaces).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ttrpc::Code;
use vigil_runtime::control::{Client, Error, ExecSpec, Exit};

/// The control API of `r`'s sandbox.
fn client(r: &Running) -> Client {
    let dir = r.bundle.state_root().join(&r.id);
    Client::connect(&dir.join("control.sock"), &dir.join("fds.sock")).unwrap()
}

/// A bundle for container "b" running `args`, whose root holds `/only-b`.
fn b_bundle(args: &[&str]) -> Bundle {
    let b = Bundle::new(args);
    std::fs::write(b.path().join("rootfs/only-b"), "b-secret\n").unwrap();
    b
}

/// `vigil gofer` serving `bundle` (no bind mounts: one socket); the
/// sentry's end of its socket.
fn gofer(bundle: &Bundle) -> (Child, OwnedFd) {
    let (ours, theirs) = socket_pair();
    let mut cmd = Command::new(VIGIL);
    let list = pass_fds(&mut cmd, std::slice::from_ref(&theirs));
    cmd.args(["gofer", "--directfs=false", "--bundle"])
        .arg(bundle.path())
        .args(["--io-fds", &list])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let child = cmd.spawn().unwrap();
    (child, ours)
}

fn socket_pair() -> (OwnedFd, OwnedFd) {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap()
}

/// Stdio for a process: no input, stdout to the returned pipe, no stderr.
fn stdio() -> ([OwnedFd; 3], std::fs::File) {
    let (out_r, out_w) = rustix::pipe::pipe().unwrap();
    let null = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    ([null(), out_w, null()], std::fs::File::from(out_r))
}

fn borrowed(fds: &[OwnedFd; 3]) -> [BorrowedFd<'_>; 3] {
    [fds[0].as_fd(), fds[1].as_fd(), fds[2].as_fd()]
}

/// Runs `sh -c script` in `c`'s container to its end: exit and stdout.
fn exec(c: &Client, script: &str) -> (Exit, String) {
    let (fds, mut out) = stdio();
    let spec = ExecSpec {
        args: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        ..Default::default()
    };
    let pid = c.exec(spec, &borrowed(&fds)).unwrap();
    drop(fds);
    let exit = c.wait(pid).unwrap();
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    (exit, text)
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> (Code, String) {
    match r {
        Err(Error::Status { code, message }) => (code, message),
        other => panic!("not an error status: {other:?}"),
    }
}

/// Waits for `child` (a gofer) to exit within the test limit.
fn exits(child: &mut Child) -> bool {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

#[test]
fn a_second_container_runs_apart_and_is_removed() {
    let mut r = Running::start(false);
    let sandbox = client(&r);
    let b = b_bundle(&["sh", "-c", "echo b-init; cat /only-b; exec sleep 1000"]);
    let (mut b_gofer, socket) = gofer(&b);
    let (fds, out) = stdio();
    let c = client(&r).for_container("b");
    let spec = std::fs::read(b.path().join("config.json")).unwrap();
    c.create_container(&spec, &[socket.as_fd()], &borrowed(&fds), false)
        .unwrap();
    drop((fds, socket));

    // Created, not started; a waiter for its init waits through Start.
    assert!(!c.state().unwrap().started);
    let waiter = {
        let c = c.clone();
        std::thread::spawn(move || c.wait(0))
    };
    let b_init = c.start().unwrap();
    assert_ne!(b_init, 1);
    let (code_, _) = code(c.start());
    assert_eq!(code_, Code::FAILED_PRECONDITION);
    let mut lines = BufReader::new(out).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "b-init");
    assert_eq!(lines.next().unwrap().unwrap(), "b-secret");

    // Each container runs in its own root.
    assert_eq!(exec(&c, "cat /only-b").1, "b-secret\n");
    assert_eq!(exec(&sandbox, "cat /only-b; echo $?").1, "1\n");

    // Each lists, and reaches, only its own processes.
    let state = c.state().unwrap();
    assert!(state.started && state.init_host_pid > 0);
    assert_eq!(state.processes, 1);
    let b_pids: Vec<i32> = c.processes().unwrap().iter().map(|p| p.pid).collect();
    assert_eq!(b_pids, [b_init]);
    let own: Vec<i32> = sandbox.processes().unwrap().iter().map(|p| p.pid).collect();
    assert!(own.contains(&1) && !own.contains(&b_init), "{own:?}");
    assert_eq!(code(sandbox.signal(b_init, 9, false)).0, Code::NOT_FOUND);
    assert_eq!(code(c.signal(1, 9, false)).0, Code::NOT_FOUND);

    // Removal kills it, answers its waiter, and lets its gofer go.
    c.remove_container().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), Exit::Signal(9));
    assert!(exits(&mut b_gofer), "b's gofer still runs");
    assert_eq!(code(c.state()).0, Code::NOT_FOUND);
    assert_eq!(code(c.wait(0)).0, Code::NOT_FOUND);
    assert_eq!(code(c.remove_container()).0, Code::NOT_FOUND);

    // The sandbox's own container goes on; it cannot be removed.
    assert_eq!(
        code(sandbox.remove_container()).0,
        Code::FAILED_PRECONDITION
    );
    assert_eq!(exec(&sandbox, "echo alive").1, "alive\n");
    let out = r.finish();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// An added container's init that exits takes its processes with it and
/// leaves its status for Wait; one killed before Start never runs.
#[test]
fn an_added_init_ends_its_container() {
    let mut r = Running::start(false);
    let b = b_bundle(&["sh", "-c", "sleep 1000 & read x; exit 3"]);
    let (mut b_gofer, socket) = gofer(&b);
    let spec = std::fs::read(b.path().join("config.json")).unwrap();
    let (fds, _out) = stdio();
    let c = client(&r).for_container("b");
    c.create_container(&spec, &[socket.as_fd()], &borrowed(&fds), false)
        .unwrap();
    drop(socket);
    c.start().unwrap();
    assert_eq!(c.wait(0).unwrap(), Exit::Code(3));
    // b's processes end with its init.
    wait_for("b's processes to end", || c.processes().unwrap().is_empty());
    assert_eq!(code(c.signal(0, 15, false)).0, Code::NOT_FOUND);
    c.remove_container().unwrap();
    assert!(exits(&mut b_gofer));

    // Killed while created: Wait reports the signal, Start refuses.
    let (mut d_gofer, socket) = gofer(&b);
    let d = client(&r).for_container("d");
    d.create_container(&spec, &[socket.as_fd()], &borrowed(&fds), false)
        .unwrap();
    drop(socket);
    d.signal(0, 15, false).unwrap();
    assert_eq!(d.wait(0).unwrap(), Exit::Signal(15));
    assert_eq!(code(d.start()).0, Code::FAILED_PRECONDITION);
    d.remove_container().unwrap();
    assert!(exits(&mut d_gofer));
    let out = r.finish();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn hostile_create_container_requests_are_refused() {
    let mut r = Running::start(false);
    let sandbox = client(&r);
    let b = b_bundle(&["true"]);
    let spec = std::fs::read(b.path().join("config.json")).unwrap();
    let (fds, _out) = stdio();
    let stdio = borrowed(&fds);
    let create = |id: &str, spec: &[u8], sockets: &[BorrowedFd<'_>], stdio: &[BorrowedFd<'_>]| {
        code(
            client(&r)
                .for_container(id)
                .create_container(spec, sockets, stdio, false),
        )
    };
    let (s1, _peer1) = socket_pair();

    let (c, m) = create("b", b"{not json", &[s1.as_fd()], &stdio);
    assert_eq!(c, Code::INVALID_ARGUMENT);
    assert!(m.starts_with("spec: "), "{m}");
    // The spec serves one mount: two sockets, or none, are wrong.
    let (s2, _peer2) = socket_pair();
    let (c, m) = create("b", &spec, &[s1.as_fd(), s2.as_fd()], &stdio);
    assert_eq!(c, Code::INVALID_ARGUMENT);
    assert!(m.contains("2 gofer sockets"), "{m}");
    assert_eq!(create("b", &spec, &[], &stdio).0, Code::INVALID_ARGUMENT);
    // A file that is no socket.
    let null = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(
        create("b", &spec, &[null.as_fd()], &stdio).0,
        Code::INVALID_ARGUMENT
    );
    // Stdio of the wrong shape.
    assert_eq!(
        create("b", &spec, &[s1.as_fd()], &stdio[..2]).0,
        Code::INVALID_ARGUMENT
    );
    // The sandbox's own id, and a spec with no process.
    assert_eq!(
        create("", &spec, &[s1.as_fd()], &stdio).0,
        Code::INVALID_ARGUMENT
    );
    let no_process = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#;
    assert_eq!(
        create("b", no_process, &[s1.as_fd()], &stdio).0,
        Code::INVALID_ARGUMENT
    );

    // Tokens nobody handed over.
    let api = raw_api(&r);
    let req = proto::sandbox::CreateContainerRequest {
        container: "b".into(),
        spec: spec.clone(),
        sockets_token: vec![7; 16],
        stdio_token: vec![7; 3],
        ..Default::default()
    };
    match api.create_container(ttrpc::context::with_timeout(0), &req) {
        Err(ttrpc::Error::RpcStatus(s)) => assert_eq!(s.code(), Code::INVALID_ARGUMENT),
        other => panic!("{other:?}"),
    }

    // A program missing from the container's root fails as at boot.
    let nope = b_bundle(&["nope"]);
    let (mut b_gofer, socket) = gofer(&nope);
    let missing = std::fs::read(nope.path().join("config.json")).unwrap();
    let (c, m) = create("b", &missing, &[socket.as_fd()], &stdio);
    assert_eq!(c, Code::INVALID_ARGUMENT);
    assert!(m.contains("executable file not found in $PATH"), "{m}");
    drop(socket);
    assert!(exits(&mut b_gofer));

    // An id in use.
    let (mut b_gofer, socket) = gofer(&b);
    client(&r)
        .for_container("b")
        .create_container(&spec, &[socket.as_fd()], &stdio, false)
        .unwrap();
    drop(socket);
    let (s3, _peer3) = socket_pair();
    assert_eq!(
        create("b", &spec, &[s3.as_fd()], &stdio).0,
        Code::ALREADY_EXISTS
    );
    // Requests about containers that do not exist.
    let x = client(&r).for_container("x");
    assert_eq!(code(x.start()).0, Code::NOT_FOUND);
    assert_eq!(code(x.state()).0, Code::NOT_FOUND);
    assert_eq!(code(x.signal(0, 9, true)).0, Code::NOT_FOUND);
    client(&r).for_container("b").remove_container().unwrap();
    assert!(exits(&mut b_gofer));

    assert_eq!(exec(&sandbox, "echo alive").1, "alive\n");
    let out = r.finish();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The control API without the client's hand-overs, to send tokens that
/// name nothing.
fn raw_api(r: &Running) -> proto::sandbox_ttrpc::SandboxClient {
    let dir = r.bundle.state_root().join(&r.id);
    let address = format!("unix://{}", dir.join("control.sock").display());
    proto::sandbox_ttrpc::SandboxClient::new(ttrpc::Client::connect(&address).unwrap())
}
