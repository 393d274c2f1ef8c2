//! The sandbox control API (`proto`'s Sandbox service) on both ends: the
//! [`Server`] runs in the sentry process over its [`Kernel`], the [`Client`]
//! in the CLI (and the shim). Protobuf types stop here: requests become the
//! kernel's own [`ProcessSpec`] and calls.
//!
//! # FDs
//!
//! ttrpc messages cannot carry FDs, so a process's stdio travels beforehand
//! on a second socket of the sandbox (`SOCK_SEQPACKET`): the client sends one
//! datagram holding a random token and the FDs (`SCM_RIGHTS`), the sentry
//! keeps them under that token and answers one byte, and the `Exec` request
//! names the token. FDs left unclaimed are dropped when the next ones
//! arrive, once they are older than [`FD_TTL`].
//!
//! # Containers
//!
//! Every request names its container (empty: the sandbox's own) and never
//! reaches another's processes. `CreateContainer` adds one from its spec,
//! the sockets of its gofer and its init's stdio, all handed over as
//! above; its init then waits for `Start` as the sandbox's own does.

use crate::boot::{container_config, process_spec_parts};
use proto::sandbox::{
    ContainerRequest, CreateContainerRequest, Empty, ExecRequest, ExecResponse, ProcessesResponse,
    ResizeTerminalRequest, SignalRequest, StartRequest, StartResponse, StateResponse, WaitRequest,
    WaitResponse,
};
use proto::sandbox_ttrpc::{create_sandbox, Sandbox, SandboxClient};
use sentry::boot::{SandboxExit, UserConfig};
use sentry::kernel::task::{ExitStatus, Pid};
use sentry::kernel::{BootError, Kernel, Prepared, SANDBOX_CONTAINER};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ttrpc::{Code, TtrpcContext};

/// How long handed-over FDs wait for the request that names them.
pub const FD_TTL: Duration = Duration::from_secs(60);
/// How long an ended sandbox still lets requests being answered finish
/// ([`Server::finish`]).
const FINISH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an answer takes from its handler to the socket: ttrpc writes it
/// on a thread of its own.
const ANSWER_WRITE: Duration = Duration::from_millis(10);
/// Length of a hand-over token.
const TOKEN_LEN: usize = 16;
/// The most FDs one hand-over carries: a process's stdio, or the gofer
/// sockets of an added container (its root and each bind mount).
const MAX_FDS: usize = 64;

/// How a process ended, as the API reports it: as a host process ends.
pub use crate::launch::Exit;

/// A hand-over token.
type Token = [u8; TOKEN_LEN];

/// FDs handed over and not yet claimed: when they came, and the FDs.
#[derive(Default)]
struct FdStash(Mutex<HashMap<Token, (Instant, Vec<OwnedFd>)>>);

impl FdStash {
    fn put(&self, token: Token, fds: Vec<OwnedFd>) {
        let mut map = sentry::sync::lock(&self.0);
        map.retain(|_, (at, _)| at.elapsed() < FD_TTL);
        map.insert(token, (Instant::now(), fds));
    }

    fn take(&self, token: &[u8]) -> Option<Vec<OwnedFd>> {
        let token: Token = token.try_into().ok()?;
        sentry::sync::lock(&self.0)
            .remove(&token)
            .map(|(_, fds)| fds)
    }
}

/// The sentry's side: the Sandbox service over a running kernel.
pub struct Service {
    kernel: Arc<Kernel>,
    /// The containers' inits prepared and not yet started, by container
    /// id: the sandbox's own, prepared at boot, and those of added
    /// containers, until `Start` takes them. The kernel knows which
    /// containers exist.
    waiting: Mutex<HashMap<String, Prepared>>,
    stash: Arc<FdStash>,
    answering: Arc<Answering>,
}

/// The requests being handled, and when the last handler returned.
#[derive(Default)]
struct Answering {
    count: AtomicUsize,
    last: Mutex<Option<Instant>>,
}

impl Answering {
    fn begin(&self) -> Handling<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        Handling(self)
    }
}

/// One request being handled, until its handler returns.
struct Handling<'a>(&'a Answering);

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        *sentry::sync::lock(&self.0.last) = Some(Instant::now());
        self.0.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The running server; dropping it stops serving.
pub struct Server {
    _ttrpc: ttrpc::Server,
    answering: Arc<Answering>,
}

impl Server {
    /// Serves the API on the listening `control` socket and takes FDs on
    /// the listening `fds` socket, each on threads of their own. `init` is
    /// the container's init if it waits for `Start`.
    pub fn start(
        kernel: Arc<Kernel>,
        init: Option<Prepared>,
        control: OwnedFd,
        fds: OwnedFd,
    ) -> Result<Server, ttrpc::Error> {
        let stash = Arc::new(FdStash::default());
        let answering = Arc::new(Answering::default());
        let waiting = init.map(|init| (SANDBOX_CONTAINER.to_string(), init));
        let service = Service {
            kernel,
            waiting: Mutex::new(waiting.into_iter().collect()),
            stash: stash.clone(),
            answering: answering.clone(),
        };
        std::thread::Builder::new()
            .name("control-fds".into())
            .spawn(move || take_fds(fds, &stash))
            .map_err(|e| ttrpc::Error::Others(format!("start the FD thread: {e}")))?;
        let mut server = ttrpc::Server::new()
            .add_listener(control.into_raw_fd())?
            .register_service(create_sandbox(Arc::new(service)));
        server.start()?;
        Ok(Server {
            _ttrpc: server,
            answering,
        })
    }

    /// Once the sandbox has ended: waits (briefly) for the requests being
    /// handled and for their answers to be written, before the process
    /// exits with them. The `Start` of an init that ends at once would
    /// otherwise never be answered, and the caller could not tell a failed
    /// start from a short-lived container.
    pub fn finish(self) {
        let deadline = Instant::now() + FINISH_TIMEOUT;
        while self.answering.count.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let last = *sentry::sync::lock(&self.answering.last);
        if let Some(wait) =
            last.and_then(|t| (t + ANSWER_WRITE).checked_duration_since(Instant::now()))
        {
            std::thread::sleep(wait);
        }
    }
}

/// Accepts FD hand-overs until the socket fails.
fn take_fds(listener: OwnedFd, stash: &FdStash) {
    loop {
        let conn = match rustix::net::accept_with(&listener, rustix::net::SocketFlags::CLOEXEC) {
            Ok(c) => c,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::warn!("FD socket: accept: {e}");
                return;
            }
        };
        match receive_fds(conn.as_fd()) {
            Ok((token, fds)) => {
                stash.put(token, fds);
                let _ = rustix::net::send(&conn, &[1], rustix::net::SendFlags::NOSIGNAL);
            }
            Err(e) => tracing::warn!("FD socket: {e}"),
        }
    }
}

/// One hand-over datagram: the token and up to [`MAX_FDS`] FDs.
fn receive_fds(conn: BorrowedFd<'_>) -> std::io::Result<(Token, Vec<OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut token = [0u8; TOKEN_LEN];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        conn,
        &mut [std::io::IoSliceMut::new(&mut token)],
        &mut ancillary,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for m in ancillary.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if msg.bytes != TOKEN_LEN || msg.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "malformed FD hand-over",
        ));
    }
    Ok((token, fds))
}

fn status(code: Code, msg: impl ToString) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg))
}

/// A kernel error as an answer: `code`, or NOT_FOUND for a container that
/// does not exist (any more).
fn kernel_status(code: Code, e: BootError) -> ttrpc::Error {
    match e {
        BootError::NoContainer(_) => status(Code::NOT_FOUND, e),
        BootError::ContainerExists(_) => status(Code::ALREADY_EXISTS, e),
        _ => status(code, e),
    }
}

fn no_such_container(container: &str) -> ttrpc::Error {
    status(
        Code::NOT_FOUND,
        format!("container {container} does not exist"),
    )
}

fn no_such_process() -> ttrpc::Error {
    status(Code::NOT_FOUND, "no such process")
}

fn wait_response(exit: Exit) -> WaitResponse {
    let (code, signal) = match exit {
        Exit::Code(c) => (c, 0),
        Exit::Signal(s) => (0, s),
    };
    WaitResponse {
        code,
        signal,
        ..Default::default()
    }
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Exit {
        match status {
            ExitStatus::Exited(c) => Exit::Code(c),
            ExitStatus::Signaled { signal, .. } => Exit::Signal(signal),
        }
    }
}

impl Service {
    /// Refuses a request about a container the sandbox does not run;
    /// whether its init has started.
    fn known(&self, container: &str) -> ttrpc::Result<bool> {
        self.kernel
            .container_started(container)
            .ok_or_else(|| no_such_container(container))
    }

    /// Refuses `pid` if it is a process of another container than
    /// `container`: a request about one container never reaches another's.
    fn own(&self, container: &str, pid: Pid) -> ttrpc::Result<()> {
        match self.kernel.group(pid) {
            Some(g) if &*g.container != container => Err(no_such_process()),
            _ => Ok(()),
        }
    }

    /// The pid of added container `container`'s init while it runs.
    fn running_init(&self, container: &str) -> Option<Pid> {
        self.kernel.container_init(container).map(|g| g.pid)
    }
}

impl Sandbox for Service {
    fn start(&self, _: &TtrpcContext, req: StartRequest) -> ttrpc::Result<StartResponse> {
        let _handling = self.answering.begin();
        self.known(&req.container)?;
        let init = sentry::sync::lock(&self.waiting)
            .remove(&req.container)
            .ok_or_else(|| {
                status(
                    Code::FAILED_PRECONDITION,
                    "the container's init was started already",
                )
            })?;
        let pid = self
            .kernel
            .start(init)
            .map_err(|e| kernel_status(Code::FAILED_PRECONDITION, e))?;
        Ok(StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn exec(&self, _: &TtrpcContext, req: ExecRequest) -> ttrpc::Result<ExecResponse> {
        let _handling = self.answering.begin();
        self.known(&req.container)?;
        if self.kernel.container_init(&req.container).is_none() {
            return Err(status(Code::FAILED_PRECONDITION, "container not running"));
        }
        let fds = self.stash.take(&req.stdio_token).ok_or_else(|| {
            status(
                Code::INVALID_ARGUMENT,
                "no FDs were handed over for this token",
            )
        })?;
        let stdio = stdio_of(fds, req.terminal)?;
        let user = req.user.clone().unwrap_or_default();
        let spec = process_spec_parts(
            req.args,
            req.env,
            req.cwd,
            UserConfig {
                uid: user.uid,
                gid: user.gid,
                additional_gids: user.additional_gids,
                umask: user.umask,
            },
            req.capabilities.into_iter(),
            req.rlimits
                .iter()
                .map(|r| sentry::boot::Rlimit {
                    resource: r.resource,
                    soft: r.soft,
                    hard: r.hard,
                })
                .collect(),
            stdio,
        );
        let spec = sentry::boot::ProcessSpec {
            terminal: req.terminal,
            ..spec
        };
        let prepared = self
            .kernel
            .prepare(&req.container, spec)
            .map_err(|e| kernel_status(Code::INVALID_ARGUMENT, e))?;
        let pid = self
            .kernel
            .start(prepared)
            .map_err(|e| kernel_status(Code::FAILED_PRECONDITION, e))?;
        Ok(ExecResponse {
            pid,
            ..Default::default()
        })
    }

    fn signal(&self, _: &TtrpcContext, req: SignalRequest) -> ttrpc::Result<Empty> {
        let _handling = self.answering.begin();
        if !(1..=64).contains(&req.signal) {
            return Err(status(
                Code::INVALID_ARGUMENT,
                format!("invalid signal {}", req.signal),
            ));
        }
        self.known(&req.container)?;
        let c = req.container.as_str();
        let result = if req.all {
            self.kernel.signal_all(c, req.signal)
        } else if req.pid == 0 && c == SANDBOX_CONTAINER {
            if self.kernel.group(1).is_none() {
                // Not started: the signal ends the waiting sandbox, as it
                // ends runc's waiting init.
                self.kernel.end_before_start(req.signal);
                return Ok(Empty::default());
            }
            self.kernel.signal_process(1, req.signal)
        } else if req.pid == 0 {
            // Likewise for an added container's waiting init: it will not
            // start, and its waiters learn that it was killed.
            let waiting = sentry::sync::lock(&self.waiting).remove(c);
            if waiting.is_some() && self.kernel.end_container_before_start(c, req.signal) {
                return Ok(Empty::default());
            }
            let init = self.kernel.container_init(c).ok_or_else(no_such_process)?;
            self.kernel.signal_container_init(&init, req.signal)
        } else {
            self.own(c, req.pid)?;
            match self.kernel.container_init(c) {
                Some(init) if c != SANDBOX_CONTAINER && init.pid == req.pid => {
                    self.kernel.signal_container_init(&init, req.signal)
                }
                _ => self.kernel.signal_process(req.pid, req.signal),
            }
        };
        result
            .map(|()| Empty::default())
            .map_err(|_| no_such_process())
    }

    fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        let _handling = self.answering.begin();
        self.known(&req.container)?;
        let c = req.container.as_str();
        let exit = if c == SANDBOX_CONTAINER && (req.pid == 0 || req.pid == 1) {
            match self.kernel.wait() {
                SandboxExit::Exited(c) => Exit::Code(c),
                SandboxExit::Signaled(s) => Exit::Signal(s),
            }
        } else if c != SANDBOX_CONTAINER && (req.pid == 0 || self.running_init(c) == Some(req.pid))
        {
            self.kernel
                .wait_container(c)
                .ok_or_else(|| no_such_container(c))?
                .into()
        } else {
            self.own(c, req.pid)?;
            self.kernel
                .wait_process(req.pid)
                .ok_or_else(no_such_process)?
                .into()
        };
        Ok(wait_response(exit))
    }

    fn processes(
        &self,
        _: &TtrpcContext,
        req: ContainerRequest,
    ) -> ttrpc::Result<ProcessesResponse> {
        let _handling = self.answering.begin();
        self.known(&req.container)?;
        let processes = self
            .kernel
            .processes(&req.container)
            .into_iter()
            .map(|p| proto::sandbox::Process {
                pid: p.pid,
                ppid: p.ppid,
                host_pid: p.host_pid,
                uid: p.uid,
                ..Default::default()
            })
            .collect();
        Ok(ProcessesResponse {
            processes,
            ..Default::default()
        })
    }

    fn state(&self, _: &TtrpcContext, req: ContainerRequest) -> ttrpc::Result<StateResponse> {
        let _handling = self.answering.begin();
        let started = self.known(&req.container)?;
        let init = self.kernel.container_init(&req.container);
        let processes = self.kernel.processes(&req.container);
        Ok(StateResponse {
            started,
            init_host_pid: init.map_or(0, |g| g.host.0),
            processes: processes.len() as u32,
            threads: processes.iter().map(|p| p.threads).sum(),
            ..Default::default()
        })
    }

    fn resize_terminal(
        &self,
        _: &TtrpcContext,
        req: ResizeTerminalRequest,
    ) -> ttrpc::Result<Empty> {
        let _handling = self.answering.begin();
        self.known(&req.container)?;
        let pid = match req.pid {
            0 if req.container == SANDBOX_CONTAINER => 1,
            0 => self
                .running_init(&req.container)
                .ok_or_else(|| status(Code::NOT_FOUND, "the container's init has no terminal"))?,
            pid => pid,
        };
        self.own(&req.container, pid)?;
        let console = self
            .kernel
            .console(pid)
            .ok_or_else(|| status(Code::NOT_FOUND, format!("process {pid} has no terminal")))?;
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        console.terminal().set_winsize(sentry::tty::Winsize {
            rows: clamp(req.height),
            cols: clamp(req.width),
            xpixel: 0,
            ypixel: 0,
        });
        Ok(Empty::default())
    }

    fn create_container(
        &self,
        _: &TtrpcContext,
        req: CreateContainerRequest,
    ) -> ttrpc::Result<Empty> {
        let _handling = self.answering.begin();
        let bad = |what: String| status(Code::INVALID_ARGUMENT, what);
        // The FDs first: whatever else is wrong, they are not left behind
        // (the gofer sees its sockets close and exits).
        let sockets = self.stash.take(&req.sockets_token);
        let stdio = self.stash.take(&req.stdio_token);
        let id = req.container;
        if id.is_empty() {
            return Err(bad("an added container needs an id".into()));
        }
        if self.kernel.container_started(&id).is_some() {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("container {id} exists already"),
            ));
        }
        let spec: oci_spec::runtime::Spec =
            serde_json::from_slice(&req.spec).map_err(|e| bad(format!("spec: {e}")))?;
        let sockets = sockets
            .ok_or_else(|| bad("no gofer sockets were handed over for this token".into()))?;
        let stdio = stdio_of(
            stdio.ok_or_else(|| bad("no stdio was handed over for this token".into()))?,
            req.terminal,
        )?;
        for fd in &sockets {
            lisafs::Socket::check_seqpacket(fd.as_fd())
                .map_err(|e| bad(format!("gofer socket: {e}")))?;
        }
        let sockets = sockets.into_iter().map(lisafs::Socket::from_fd).collect();
        let mut cfg = container_config(&spec, sockets, stdio).map_err(|e| bad(e.to_string()))?;
        cfg.init.terminal = req.terminal;
        let init = self
            .kernel
            .add_container(&id, cfg)
            .map_err(|e| kernel_status(Code::INVALID_ARGUMENT, e))?;
        sentry::sync::lock(&self.waiting).insert(id, init);
        Ok(Empty::default())
    }

    fn remove_container(&self, _: &TtrpcContext, req: ContainerRequest) -> ttrpc::Result<Empty> {
        let _handling = self.answering.begin();
        if req.container == SANDBOX_CONTAINER {
            return Err(status(Code::FAILED_PRECONDITION, BootError::RemoveSandbox));
        }
        self.known(&req.container)?;
        // A waiting init holds the container's filesystems too.
        drop(sentry::sync::lock(&self.waiting).remove(&req.container));
        self.kernel
            .remove_container(&req.container)
            .map_err(|e| kernel_status(Code::FAILED_PRECONDITION, e))?;
        Ok(Empty::default())
    }
}

/// A process's stdin, stdout and stderr from the FDs handed over: three, or
/// one terminal for all.
fn stdio_of(mut fds: Vec<OwnedFd>, terminal: bool) -> ttrpc::Result<[OwnedFd; 3]> {
    let bad = |what: &str| status(Code::INVALID_ARGUMENT, what);
    if terminal {
        if fds.len() != 1 {
            return Err(bad("a terminal is handed over as one FD"));
        }
        let tty = fds.pop().expect("one FD");
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| bad(&format!("dup: {e}")));
        let (a, b) = (dup(&tty)?, dup(&tty)?);
        return Ok([tty, a, b]);
    }
    <[OwnedFd; 3]>::try_from(fds).map_err(|_| bad("stdio is handed over as three FDs"))
}

/// The CLI's (and shim's) end of a sandbox's control API, about one of
/// the sandbox's containers.
#[derive(Clone)]
pub struct Client {
    api: SandboxClient,
    fd_socket: std::path::PathBuf,
    /// The container the requests are about: empty for the sandbox's own.
    container: String,
}

/// Why a call to the sentry failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connect to the sandbox: {0}")]
    Connect(String),
    /// The sentry answered with an error status.
    #[error("{message}")]
    Status { code: Code, message: String },
    #[error("sandbox control: {0}")]
    Transport(String),
    #[error("hand FDs to the sandbox: {0}")]
    HandOver(std::io::Error),
}

impl From<ttrpc::Error> for Error {
    fn from(e: ttrpc::Error) -> Error {
        match e {
            ttrpc::Error::RpcStatus(s) => Error::Status {
                code: s.code(),
                message: s.message().to_string(),
            },
            other => Error::Transport(other.to_string()),
        }
    }
}

/// A process to run in a sandbox, in the API's terms (see `ExecRequest`).
pub type ExecSpec = ExecRequest;

impl Client {
    /// Connects to the sandbox whose sockets are `control` and `fds`.
    pub fn connect(control: &Path, fds: &Path) -> Result<Client, Error> {
        let address = format!("unix://{}", control.display());
        let client = ttrpc::Client::connect(&address).map_err(|e| Error::Connect(e.to_string()))?;
        Ok(Client {
            api: SandboxClient::new(client),
            fd_socket: fds.to_path_buf(),
            container: String::new(),
        })
    }

    /// The same connection, about the added container `id` (see
    /// [`Client::create_container`]).
    pub fn for_container(mut self, id: &str) -> Client {
        self.container = id.to_string();
        self
    }

    fn about(&self) -> ContainerRequest {
        ContainerRequest {
            container: self.container.clone(),
            ..Default::default()
        }
    }

    /// Adds the container this client is about to the sandbox, with its
    /// OCI `spec` (JSON), the `sockets` of its gofer (the root's, then one
    /// per bind mount in spec order) and its init's `stdio` (three FDs, or
    /// one with `terminal`). Its init waits for [`Client::start`].
    pub fn create_container(
        &self,
        spec: &[u8],
        sockets: &[BorrowedFd<'_>],
        stdio: &[BorrowedFd<'_>],
        terminal: bool,
    ) -> Result<(), Error> {
        let req = CreateContainerRequest {
            container: self.container.clone(),
            spec: spec.to_vec(),
            sockets_token: self.hand_over(sockets)?.to_vec(),
            stdio_token: self.hand_over(stdio)?.to_vec(),
            terminal,
            ..Default::default()
        };
        self.api.create_container(Self::cx(), &req)?;
        Ok(())
    }

    /// Kills the added container's processes and releases its filesystems.
    pub fn remove_container(&self) -> Result<(), Error> {
        self.api.remove_container(Self::cx(), &self.about())?;
        Ok(())
    }

    fn cx() -> ttrpc::context::Context {
        ttrpc::context::with_timeout(0)
    }

    pub fn start(&self) -> Result<i32, Error> {
        let req = StartRequest {
            container: self.container.clone(),
            ..Default::default()
        };
        Ok(self.api.start(Self::cx(), &req)?.pid)
    }

    /// Starts `spec` with `stdio` (three FDs, or one terminal with
    /// `spec.terminal`); returns its pid in the sandbox.
    pub fn exec(&self, mut spec: ExecSpec, stdio: &[BorrowedFd<'_>]) -> Result<i32, Error> {
        spec.stdio_token = self.hand_over(stdio)?.to_vec();
        spec.container = self.container.clone();
        Ok(self.api.exec(Self::cx(), &spec)?.pid)
    }

    /// Signals `pid` (0: init), or every process with `all`.
    pub fn signal(&self, pid: i32, signal: i32, all: bool) -> Result<(), Error> {
        let req = SignalRequest {
            pid,
            signal,
            all,
            container: self.container.clone(),
            ..Default::default()
        };
        self.api.signal(Self::cx(), &req)?;
        Ok(())
    }

    /// Waits for `pid` (0: init) to exit.
    pub fn wait(&self, pid: i32) -> Result<Exit, Error> {
        let req = WaitRequest {
            pid,
            container: self.container.clone(),
            ..Default::default()
        };
        let r = self.api.wait(Self::cx(), &req)?;
        Ok(if r.signal != 0 {
            Exit::Signal(r.signal)
        } else {
            Exit::Code(r.code)
        })
    }

    /// Sets the window size of `pid`'s terminal (0: init's).
    pub fn resize_terminal(&self, pid: i32, width: u32, height: u32) -> Result<(), Error> {
        let req = ResizeTerminalRequest {
            pid,
            width,
            height,
            container: self.container.clone(),
            ..Default::default()
        };
        self.api.resize_terminal(Self::cx(), &req)?;
        Ok(())
    }

    pub fn processes(&self) -> Result<Vec<proto::sandbox::Process>, Error> {
        Ok(self.api.processes(Self::cx(), &self.about())?.processes)
    }

    pub fn state(&self) -> Result<StateResponse, Error> {
        Ok(self.api.state(Self::cx(), &self.about())?)
    }

    /// Sends `fds` on the FD socket; returns their token once the sentry
    /// holds them.
    fn hand_over(&self, fds: &[BorrowedFd<'_>]) -> Result<Token, Error> {
        use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let mut token = [0u8; TOKEN_LEN];
        rustix::rand::getrandom(&mut token, rustix::rand::GetRandomFlags::empty())
            .map_err(|e| Error::HandOver(e.into()))?;
        let sock = rustix::net::socket_with(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Error::HandOver(e.into()))?;
        let addr = rustix::net::SocketAddrUnix::new(&self.fd_socket)
            .map_err(|e| Error::HandOver(e.into()))?;
        rustix::net::connect(&sock, &addr).map_err(|e| Error::HandOver(e.into()))?;
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut ancillary = SendAncillaryBuffer::new(&mut space);
        if !ancillary.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(Error::HandOver(std::io::Error::other("too many FDs")));
        }
        rustix::net::sendmsg(
            &sock,
            &[std::io::IoSlice::new(&token)],
            &mut ancillary,
            SendFlags::NOSIGNAL,
        )
        .map_err(|e| Error::HandOver(e.into()))?;
        let mut ack = [0u8; 1];
        match rustix::net::recv(&sock, &mut ack, rustix::net::RecvFlags::empty()) {
            Ok((1, _)) => Ok(token),
            Ok(_) => Err(Error::HandOver(std::io::Error::other(
                "the sandbox refused the FDs",
            ))),
            Err(e) => Err(Error::HandOver(e.into())),
        }
    }
}

/// A listening unix socket of `kind` bound at `path` (removed first if a
/// stale one is there).
pub fn listen(path: &Path, kind: rustix::net::SocketType) -> std::io::Result<OwnedFd> {
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        kind,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    let addr = rustix::net::SocketAddrUnix::new(path)?;
    rustix::net::bind(&sock, &addr)?;
    rustix::net::listen(&sock, 16)?;
    Ok(sock)
}

/// Adopts an inherited listening socket FD.
pub fn adopt_listener(fd: RawFd) -> std::io::Result<OwnedFd> {
    if fd < 3 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    rustix::io::fcntl_getfd(
        // SAFETY: only checks that the number is open.
        unsafe { BorrowedFd::borrow_raw(fd) },
    )?;
    // SAFETY: the FD was passed to this process to own, and is open.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(owned)
}
