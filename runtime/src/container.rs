//! A container's life through runc's verbs: `create` starts a sandbox whose
//! init waits, `start` lets it run, `state`/`kill`/`exec`/`ps` reach the
//! sentry through its control API, and `delete` removes what is left. State
//! lives in `<root>/<id>/` ([`crate::state`]) between invocations.
//!
//! The sentry's host pid is the container's pid (`--pid-file`, `state`): it
//! exits with init's status (code, or 128 + signal), which is what runc's
//! callers read from the pid they wait on. The sandbox's processes are its
//! descendants on the host. A pod's workload container joins its pod's
//! sandbox instead of starting one; its pid is its waiter's (see
//! [`crate::pod`]).

use crate::bundle::Bundle;
use crate::cgroups::Cgroup;
use crate::console::{send_master, Console, Relay};
use crate::control::{self, Client, Exit};
use crate::pod::Member;
use crate::sandbox::{Lifecycle, Options, Sandbox};
use crate::state::{self, HostProcess, Record, StateDir, CONTROL_SOCKET, FD_SOCKET};
use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The OCI runtime spec version the state reports, as runc 1.1 does.
pub const OCI_VERSION: &str = "1.0.2";

/// How long `delete --force` and `kill` wait for a killed sandbox to go.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings every verb shares: where state lives and how sandboxes run.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// `--root`.
    pub root: PathBuf,
    pub options: Options,
}

/// A container's status, in the OCI state's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The OCI state document (`vigil state`), with runc's field names.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    /// The sentry's host pid; 0 once stopped.
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// An existing container: its state directory and record.
pub struct Container {
    pub dir: StateDir,
    pub record: Record,
    /// For a container that joined another's sandbox: that container, if
    /// its state is still there (it holds the sentry's sockets).
    pub owner: Option<Box<Container>>,
}

impl Container {
    /// Finds container `id` (runc's "container does not exist" otherwise).
    pub fn load(rt: &Runtime, id: &str) -> anyhow::Result<Container> {
        let mut c = Container::load_one(rt, id)?;
        // Only one level: a sandbox's owner owns its own sandbox (checked
        // when the container joined it).
        c.owner = match &c.record.sandbox {
            Some(owner) => Container::load_one(rt, owner).ok().map(Box::new),
            None => None,
        };
        Ok(c)
    }

    fn load_one(rt: &Runtime, id: &str) -> anyhow::Result<Container> {
        let dir = StateDir::open(&rt.root, id)?;
        let record = dir.load()?;
        Ok(Container {
            dir,
            record,
            owner: None,
        })
    }

    /// The container whose sandbox this one runs in: itself, or the one it
    /// joined (`None` once that one's state is gone).
    fn sandbox_owner(&self) -> Option<&Container> {
        match &self.record.sandbox {
            None => Some(self),
            Some(_) => self.owner.as_deref(),
        }
    }

    /// Connects to the sentry's control API, about this container.
    pub fn client(&self) -> Result<Client, control::Error> {
        let owner = self.sandbox_owner().ok_or_else(|| {
            control::Error::Connect(format!(
                "the sandbox of container {} is gone",
                self.record.id
            ))
        })?;
        let client = Client::connect(
            &owner.dir.socket_path(CONTROL_SOCKET),
            &owner.dir.socket_path(FD_SOCKET),
        )?;
        Ok(match &self.record.sandbox {
            Some(_) => client.for_container(&self.record.id),
            None => client,
        })
    }

    /// The cgroup that holds the sandbox's processes: the container's own,
    /// or for a joined container its pod's (its own holds only its gofer).
    pub fn sandbox_cgroup(&self) -> Option<&Cgroup> {
        self.sandbox_owner()?.record.cgroup.as_ref()
    }

    /// Whether the sandbox's cgroup is frozen (a pod's container is paused
    /// with its pod).
    pub fn paused(&self) -> bool {
        self.sandbox_cgroup().is_some_and(Cgroup::paused)
    }

    /// The container's status now.
    pub fn status(&self) -> Status {
        if !self.record.init.alive() {
            return Status::Stopped;
        }
        // A frozen sentry cannot answer; its cgroup says it is paused.
        if self.paused() {
            return Status::Paused;
        }
        match self.client().and_then(|c| c.state()) {
            Ok(s) if s.started => Status::Running,
            Ok(_) => Status::Created,
            // Alive but not answering: on its way out.
            Err(e) => {
                tracing::debug!(id = self.record.id, "state: {e}");
                Status::Stopped
            }
        }
    }

    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: OCI_VERSION.into(),
            id: self.record.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.record.init.pid
            },
            status: status.as_str().into(),
            bundle: self.record.bundle.clone(),
            rootfs: self.record.rootfs.clone(),
            created: self.record.created.clone(),
            owner: String::new(),
            annotations: self.record.annotations.clone(),
        }
    }

    /// Fails unless the container runs (or was created), with runc's
    /// wording.
    fn require_live(&self) -> anyhow::Result<Status> {
        match self.status() {
            Status::Stopped => bail!("container not running"),
            s => Ok(s),
        }
    }
}

/// The host side of a process's terminal: the pty replica the sentry
/// bridges to the emulated terminal, and maybe the relay of its master.
struct HostTerminal {
    replica: OwnedFd,
    relay: Option<Relay>,
}

/// With `terminal` (`process.terminal`): a new host pty, sized as asked,
/// whose master goes to the console socket or, without one, is relayed to
/// this process's stdio as runc does in the foreground (where `relay` is
/// allowed). runc's errors otherwise.
fn host_terminal(
    terminal: bool,
    size: Option<oci_spec::runtime::Box>,
    socket: Option<&Path>,
    relay: bool,
) -> anyhow::Result<Option<HostTerminal>> {
    if !terminal {
        if socket.is_some() {
            bail!("cannot use console socket if vigil will not allocate tty");
        }
        return Ok(None);
    }
    if socket.is_none() && !relay {
        bail!("cannot allocate tty if vigil will detach without setting console socket");
    }
    let pty = Console::create().context("create the terminal")?;
    if let Some(size) = size {
        // `process.consoleSize`, as runc applies it; a relay then gives the
        // pty this process's own terminal's size, if it has one.
        let ws = rustix::termios::Winsize {
            ws_row: size.height().try_into().unwrap_or(u16::MAX),
            ws_col: size.width().try_into().unwrap_or(u16::MAX),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&pty.master, ws).context("set the terminal's size")?;
    }
    let relay = match socket {
        Some(socket) => {
            send_master(socket, &pty.master)
                .with_context(|| format!("send the terminal to {}", socket.display()))?;
            None
        }
        None => Some(Relay::start(pty.master).context("relay the terminal")?),
    };
    Ok(Some(HostTerminal {
        replica: pty.replica,
        relay,
    }))
}

/// The sandbox ended before its init was ready (a missing program, a bad
/// working directory): the sentry's reason.
#[derive(Debug, thiserror::Error)]
#[error("{}", if message.is_empty() { "the sandbox failed to start" } else { message })]
pub struct InitFailed {
    /// The sentry's exit status (127 for a missing program).
    pub status: i32,
    pub message: String,
}

/// What `create` (and `run`) start.
pub struct CreateArgs<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// For `process.terminal`: the replica of a host pty the caller made
    /// and serves itself (the shim relays it to containerd's fifos); the
    /// `stdio` given to [`create_sandbox`] is then that terminal.
    pub terminal: Option<BorrowedFd<'a>>,
}

/// What a container runs on the host, as this process started it.
enum Host {
    /// A sandbox of its own.
    Sandbox(Sandbox),
    /// A place in another container's sandbox ([`crate::pod`]).
    Member(Member),
}

/// A started sandbox (or a container joined to one) with its state on
/// disk; on drop before [`Created::keep`], everything is removed again.
pub struct Created {
    /// Set once started; until then only the state directory is there.
    host: Option<Host>,
    /// The container's terminal relayed to this process's own stdio
    /// (a foreground `run` without `--console-socket`).
    pub relay: Option<Relay>,
    dir: Option<StateDir>,
    record: Record,
}

impl Created {
    /// Leaves the sandbox running and its state in place.
    pub fn keep(mut self) -> Record {
        match self.host.take() {
            Some(Host::Sandbox(sandbox)) => sandbox.detach(),
            Some(Host::Member(member)) => member.detach(),
            None => {}
        }
        self.dir = None;
        self.record.clone()
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    pub fn dir(&self) -> &StateDir {
        self.dir.as_ref().expect("held until kept")
    }

    /// The pidfd of the host process that ends with the container: the
    /// sentry, or a joined container's waiter.
    pub fn init_pidfd(&self) -> Option<BorrowedFd<'_>> {
        match self.host.as_ref()? {
            Host::Sandbox(sandbox) => sandbox.sentry_pidfd(),
            Host::Member(member) => member.waiter_pidfd(),
        }
    }

    /// Sends `signal` to the container's init from outside (`kill`, or a
    /// signal a foreground `run` passes on).
    pub fn signal(&self, signal: i32) -> anyhow::Result<()> {
        match self.host.as_ref().context("container not running")? {
            Host::Sandbox(sandbox) => Ok(sandbox.signal(signal)?),
            Host::Member(member) => Ok(member.signal(signal)?),
        }
    }

    /// Waits for the container to end; its shell status (code, or 128 +
    /// the signal that ended it).
    pub fn wait(&mut self) -> anyhow::Result<i32> {
        match self.host.as_mut().context("container not running")? {
            Host::Sandbox(sandbox) => Ok(sandbox.wait()?.shell_status()),
            Host::Member(member) => member.wait(),
        }
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        // The sandbox's own drop kills and reaps it (a member's takes it
        // out of its sandbox); then its state goes.
        drop(self.host.take());
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.remove() {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Starts a sandbox for the bundle with the container's stdio as given
/// (or, for a pod's workload container, joins its pod's sandbox). With
/// `wait_start` its init waits for `start`; with `detached` the sandbox
/// outlives this process.
pub fn create_sandbox(
    rt: &Runtime,
    args: &CreateArgs<'_>,
    stdio: [BorrowedFd<'_>; 3],
    wait_start: bool,
    detached: bool,
) -> anyhow::Result<Created> {
    let bundle = Bundle::load(args.bundle)?;
    let joins = crate::pod::sandbox_to_join(&bundle.spec);
    let owner = match &joins {
        Some(owner) => Some(crate::pod::sandbox_owner(rt, owner, args.id)?),
        None => None,
    };
    let size = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.console_size());
    let mut terminal = match args.terminal {
        Some(_) if !bundle.terminal() => {
            bail!("a terminal was given but process.terminal is false")
        }
        Some(_) => None,
        None => host_terminal(bundle.terminal(), size, args.console_socket, !detached)?,
    };
    let stdio = match (&terminal, args.terminal) {
        (Some(t), _) => [t.replica.as_fd(); 3],
        (None, Some(replica)) => [replica; 3],
        (None, None) => stdio,
    };
    let dir = StateDir::create(&rt.root, args.id)?;
    let mut created = Created {
        host: None,
        relay: None,
        dir: Some(dir),
        record: Record {
            id: args.id.to_string(),
            bundle: bundle.dir.clone(),
            rootfs: bundle.plan.rootfs.clone(),
            created: state::now_rfc3339(),
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
            init: HostProcess {
                pid: 0,
                start_time: 0,
            },
            gofer: None,
            sandbox: joins,
            cgroup: None,
        },
    };
    let mut host = match owner {
        Some(owner) => Host::Member(Member::start(
            rt,
            args.id,
            &bundle,
            &owner,
            stdio,
            bundle.terminal(),
            detached,
        )?),
        None => {
            let dir = created.dir();
            let api = control::listen(
                &dir.socket_path(CONTROL_SOCKET),
                rustix::net::SocketType::STREAM,
            )
            .context("bind the control socket")?;
            let fds = control::listen(
                &dir.socket_path(FD_SOCKET),
                rustix::net::SocketType::SEQPACKET,
            )
            .context("bind the FD socket")?;
            let lifecycle = Lifecycle {
                control: Some((api.as_fd(), fds.as_fd())),
                wait_start,
                detached,
            };
            Host::Sandbox(Sandbox::start(
                args.id,
                &bundle,
                &rt.options,
                stdio,
                &lifecycle,
            )?)
        }
    };
    // The sentry holds the terminal now: the console socket's owner sees it
    // hang up when the sandbox ends, not when this process does.
    created.relay = terminal.take().and_then(|t| t.relay);
    if let Host::Sandbox(sandbox) = &mut host {
        if let Err(message) = sandbox.wait_ready() {
            let status = sandbox.wait()?.shell_status();
            return Err(InitFailed { status, message }.into());
        }
    }
    // The container's pid is that of the host process that ends with it.
    let (init, gofer, cgroup) = match &host {
        Host::Sandbox(s) => (s.sentry_pid(), s.gofer_pid(), s.cgroup()),
        Host::Member(m) => (m.waiter_pid(), m.gofer_pid(), m.cgroup()),
    };
    created.record.init = HostProcess::of(init).context("the container's init")?;
    created.record.gofer = gofer.and_then(|p| HostProcess::of(p).ok());
    created.record.cgroup = cgroup.cloned();
    created.host = Some(host);
    created.dir().save(&created.record)?;
    if let Some(path) = args.pid_file {
        write_pid_file(path, created.record.init.pid)?;
    }
    // A sandbox's own init was told at boot whether to wait for `start`.
    if !wait_start {
        if let Some(Host::Member(member)) = &created.host {
            member.start_init()?;
        }
    }
    Ok(created)
}

/// `vigil create`: the sandbox starts and its init waits for `start`. The
/// container's stdio is this process's.
pub fn create(rt: &Runtime, args: &CreateArgs<'_>) -> anyhow::Result<()> {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let created = create_sandbox(rt, args, stdio, true, true)?;
    let record = created.keep();
    tracing::debug!(id = record.id, pid = record.init.pid, "created");
    Ok(())
}

/// `vigil start`: runs the created container's init.
pub fn start(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let c = Container::load(rt, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Running | Status::Paused => bail!("cannot start an already running container"),
    }
    c.client()?.start()?;
    Ok(())
}

/// `vigil state`.
pub fn state(rt: &Runtime, id: &str) -> anyhow::Result<OciState> {
    Ok(Container::load(rt, id)?.oci_state())
}

/// `vigil list`: every container under the root.
pub fn list(rt: &Runtime) -> anyhow::Result<Vec<OciState>> {
    let mut states = Vec::new();
    for id in state::list(&rt.root)? {
        // A container deleted meanwhile is simply not listed.
        if let Ok(c) = Container::load(rt, &id) {
            states.push(c.oci_state());
        }
    }
    Ok(states)
}

/// `vigil kill`: `signal` to init, or to every process with `all`.
pub fn kill(rt: &Runtime, id: &str, signal: i32, all: bool) -> anyhow::Result<()> {
    let c = Container::load(rt, id)?;
    c.require_live()?;
    let client = match c.client() {
        Ok(client) => client,
        // The sandbox went away between the check and the connection.
        Err(_) if !c.record.init.alive() => bail!("container not running"),
        Err(e) => return Err(e.into()),
    };
    // A signal that ends init ends the sentry too, which still answers:
    // it finishes its requests before it exits (`control::Server::finish`).
    Ok(client.signal(0, signal, all)?)
}

/// `vigil delete`: removes a stopped (or created) container; `force` kills
/// a running one first. Nothing of it is left: processes, sockets, state.
pub fn delete(rt: &Runtime, id: &str, force: bool) -> anyhow::Result<()> {
    let c = match Container::load(rt, id) {
        Ok(c) => c,
        Err(e) if force && is_not_exist(&e) => {
            // runc: --force deletes whatever state is there and succeeds.
            if let Ok(dir) = StateDir::open(&rt.root, id) {
                dir.remove()?;
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    match c.status() {
        Status::Stopped | Status::Created => {}
        s if !force => bail!(
            "cannot delete container {id} that is not stopped: {}",
            s.as_str()
        ),
        _ => {}
    }
    if c.record.sandbox.is_some() {
        // Out of its sandbox first, if that still runs: its processes die
        // there and its gofer's connections close.
        if let Err(e) = c.client().and_then(|client| client.remove_container()) {
            tracing::debug!(id, "remove the container from its sandbox: {e}");
        }
    }
    for p in [Some(c.record.init), c.record.gofer].into_iter().flatten() {
        stop(&p)?;
    }
    if let Some(cgroup) = &c.record.cgroup {
        // A frozen process dies of SIGKILL only once thawed.
        let _ = cgroup.thaw();
        cgroup.destroy()?;
    }
    c.dir.remove()?;
    Ok(())
}

/// The cgroup of a live container's sandbox, for the verbs that need one
/// (a joined container's is its pod's).
fn live_cgroup(c: &Container) -> anyhow::Result<&Cgroup> {
    c.require_live()?;
    c.sandbox_cgroup()
        .ok_or_else(|| anyhow!("container {} has no cgroup", c.record.id))
}

/// Pausing freezes a whole sandbox: one container of a pod cannot be
/// paused alone.
fn require_own_sandbox(c: &Container) -> anyhow::Result<()> {
    match &c.record.sandbox {
        Some(owner) => bail!(
            "container {} shares the sandbox of container {owner}: pause and resume that one",
            c.record.id
        ),
        None => Ok(()),
    }
}

/// `vigil pause`: freezes every process of the sandbox (the sentry's too,
/// as runc freezes the container's cgroup).
pub fn pause(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let c = Container::load(rt, id)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => bail!("container {id} is already paused"),
        _ => bail!("container not running"),
    }
    require_own_sandbox(&c)?;
    Ok(live_cgroup(&c)?.freeze()?)
}

/// `vigil resume`.
pub fn resume(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let c = Container::load(rt, id)?;
    if c.status() != Status::Paused {
        bail!("container not paused");
    }
    require_own_sandbox(&c)?;
    Ok(live_cgroup(&c)?.thaw()?)
}

/// One `events` record, as runc prints them (`{"type":"stats",...}`).
#[derive(Serialize)]
pub struct Event<T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub data: T,
}

/// `vigil events --stats`: the container's resource usage now.
pub fn stats(rt: &Runtime, id: &str) -> anyhow::Result<Event<crate::cgroups::Stats>> {
    let c = Container::load(rt, id)?;
    let data = live_cgroup(&c)?.stats()?;
    Ok(Event {
        kind: "stats",
        id: id.to_string(),
        data,
    })
}

/// `vigil events`: prints stats every `interval`, and an `oom` event each
/// time the OOM killer strikes, until the container stops.
pub fn events(
    rt: &Runtime,
    id: &str,
    interval: Duration,
    mut print: impl FnMut(&str),
) -> anyhow::Result<()> {
    let c = Container::load(rt, id)?;
    let cgroup = live_cgroup(&c)?.clone();
    let mut ooms = cgroup.oom_kill_count().unwrap_or(0);
    let mut next_stats = Instant::now();
    while c.record.init.alive() {
        let now_ooms = cgroup.oom_kill_count().unwrap_or(ooms);
        if now_ooms > ooms {
            ooms = now_ooms;
            let oom = Event {
                kind: "oom",
                id: id.to_string(),
                data: serde_json::Value::Null,
            };
            print(&serde_json::to_string(&oom)?);
        }
        if Instant::now() >= next_stats {
            if let Ok(data) = cgroup.stats() {
                let e = Event {
                    kind: "stats",
                    id: id.to_string(),
                    data,
                };
                print(&serde_json::to_string(&e)?);
            }
            next_stats = Instant::now() + interval;
        }
        std::thread::sleep(Duration::from_millis(100).min(interval));
    }
    Ok(())
}

/// Kills `p` and waits until it is gone (a zombie counts as gone: its
/// parent reaps it).
fn stop(p: &HostProcess) -> anyhow::Result<()> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    while p.alive() {
        let _ = p.signal(libc::SIGKILL);
        if Instant::now() > deadline {
            bail!("process {} did not die", p.pid);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn is_not_exist(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<state::Error>(),
        Some(state::Error::NotExist)
    )
}

/// The host pids of the container's processes (`vigil ps --format json`).
pub fn host_pids(rt: &Runtime, id: &str) -> anyhow::Result<Vec<i32>> {
    let mut pids: Vec<i32> = process_pids(rt, id)?.into_iter().map(|(_, h)| h).collect();
    pids.sort_unstable();
    Ok(pids)
}

/// The container's processes, each as (its pid in the sandbox, its host
/// pid).
pub fn process_pids(rt: &Runtime, id: &str) -> anyhow::Result<Vec<(i32, i32)>> {
    let c = Container::load(rt, id)?;
    c.require_live()?;
    let processes = c.client()?.processes()?;
    let sentry = c
        .sandbox_owner()
        .map(|o| o.record.init.pid)
        .ok_or_else(|| anyhow!("container not running"))?;
    // The sentry knows them by their ids in its own pid namespace; find the
    // host processes under the sentry that carry those ids.
    let by_sentry_pid: HashMap<i32, i32> = processes.iter().map(|p| (p.host_pid, p.pid)).collect();
    Ok(descendants(sentry)
        .into_iter()
        .filter(|(_, nspid)| nspid.len() >= 3)
        .filter_map(|(pid, nspid)| by_sentry_pid.get(&nspid[1]).map(|&inner| (inner, pid)))
        .collect())
}

/// Host processes below `root`, each with its `NSpid` list.
fn descendants(root: i32) -> Vec<(i32, Vec<i32>)> {
    let mut parent = HashMap::new();
    let mut nspids = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for e in entries.filter_map(|e| e.ok()) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("PPid:") {
                parent.insert(pid, v.trim().parse::<i32>().unwrap_or(0));
            } else if let Some(v) = line.strip_prefix("NSpid:") {
                nspids.insert(
                    pid,
                    v.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect::<Vec<i32>>(),
                );
            }
        }
    }
    let below = |mut pid: i32| {
        for _ in 0..64 {
            match parent.get(&pid) {
                Some(&p) if p == root => return true,
                Some(&p) if p > 1 => pid = p,
                _ => return false,
            }
        }
        false
    };
    nspids.into_iter().filter(|(pid, _)| below(*pid)).collect()
}

/// What `exec` runs: a process in the OCI spec's terms.
pub struct ExecArgs {
    pub id: String,
    pub process: oci_spec::runtime::Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    /// Where the master of the process's terminal goes (`process.terminal`).
    pub console_socket: Option<PathBuf>,
}

/// `vigil exec`: runs `process` in the container. In the foreground it
/// returns the process's shell status; with `detach` it returns 0 once the
/// process runs, leaving behind a host process (its pid in `pid_file`) that
/// exits with the process's status, as runc's callers expect.
pub fn exec(rt: &Runtime, args: ExecArgs) -> anyhow::Result<i32> {
    let c = Container::load(rt, &args.id)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => bail!("cannot exec in a paused container"),
        Status::Created => bail!("cannot exec in a created container"),
        Status::Stopped => bail!("cannot exec in a stopped container"),
    }
    // In the foreground, the signals to forward are blocked before any
    // thread (a terminal relay's) exists, so every thread inherits the mask.
    let signals = match args.detach {
        false => Some(crate::run::SignalForwarding::start()?),
        true => None,
    };
    let terminal = host_terminal(
        args.process.terminal().unwrap_or(false),
        args.process.console_size(),
        args.console_socket.as_deref(),
        !args.detach,
    )?;
    let spec = exec_spec(&args.process);
    if let Some(signals) = signals {
        let client = c.client()?;
        let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
        let pid = match &terminal {
            Some(t) => client.exec(spec, &[t.replica.as_fd()])?,
            None => client.exec(spec, &[stdin.as_fd(), stdout.as_fd(), stderr.as_fd()])?,
        };
        // The sentry holds the terminal's replica now; a relay goes on.
        let relay = terminal.and_then(|t| t.relay);
        if let Some(path) = &args.pid_file {
            write_pid_file(path, std::process::id() as i32)?;
        }
        return Ok(forward_and_wait(&client, pid, &signals, relay.as_ref())?.shell_status());
    }
    exec_detached(
        &c,
        spec,
        terminal.map(|t| t.replica),
        args.pid_file.as_deref(),
    )
}

/// Forks the process that stays behind for a detached exec: it starts the
/// process, tells this one (which writes the pid file and returns), and
/// exits with the process's status. It forks before any thread exists.
fn exec_detached(
    c: &Container,
    spec: control::ExecSpec,
    terminal: Option<OwnedFd>,
    pid_file: Option<&Path>,
) -> anyhow::Result<i32> {
    let (report_r, report_w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    // SAFETY: this process is single-threaded here (no control client has
    // been made yet), so the child may do anything.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            drop(report_r);
            let status = exec_child(c, spec, terminal, report_w);
            std::process::exit(status);
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop((report_w, terminal));
            let mut report = Vec::new();
            std::io::Read::read_to_end(&mut std::fs::File::from(report_r), &mut report)
                .context("read the exec report")?;
            if report.is_empty() {
                bail!("exec failed");
            }
            if report[0] != 0 {
                bail!("{}", String::from_utf8_lossy(&report[1..]));
            }
            if let Some(path) = pid_file {
                write_pid_file(path, child.as_raw())?;
            }
            Ok(0)
        }
    }
}

/// The detached exec's child: reports `0` or `1 + message` on `report`,
/// then waits for the process; returns its shell status.
fn exec_child(
    c: &Container,
    spec: control::ExecSpec,
    terminal: Option<OwnedFd>,
    report: OwnedFd,
) -> i32 {
    let started = c.client().map_err(anyhow::Error::from).and_then(|client| {
        let stdio = [0, 1, 2].map(|n| {
            // SAFETY: 0-2 are this process's stdio, open for its life.
            unsafe { BorrowedFd::borrow_raw(n) }
        });
        let pid = match &terminal {
            Some(replica) => client.exec(spec, &[replica.as_fd()])?,
            None => client.exec(spec, &stdio)?,
        };
        Ok((client, pid))
    });
    drop(terminal);
    let mut report = std::fs::File::from(report);
    match started {
        Ok((client, pid)) => {
            let _ = std::io::Write::write_all(&mut report, &[0]);
            drop(report);
            // The sentry holds the process's stdio now; this process keeps
            // none of it, so readers see EOF when the process ends.
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                let _ = rustix::stdio::dup2_stdin(&null);
                let _ = rustix::stdio::dup2_stdout(&null);
                let _ = rustix::stdio::dup2_stderr(&null);
            }
            match client.wait(pid) {
                Ok(exit) => exit.shell_status(),
                Err(_) => 255,
            }
        }
        Err(e) => {
            let mut msg = vec![1];
            msg.extend(format!("{e:#}").into_bytes());
            let _ = std::io::Write::write_all(&mut report, &msg);
            1
        }
    }
}

/// Waits for `pid` while forwarding the signals this process receives to
/// it, as runc does for a foreground exec.
fn forward_and_wait(
    client: &Client,
    pid: i32,
    signals: &crate::run::SignalForwarding,
    relay: Option<&Relay>,
) -> anyhow::Result<Exit> {
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.wait(pid))
    };
    while !waiter.is_finished() {
        for sig in signals.pending(Duration::from_millis(50)) {
            if sig == libc::SIGWINCH {
                // This process's terminal changed size: the relayed one
                // follows, and the process's sandbox terminal with it.
                if let Some((cols, rows)) = relay.and_then(Relay::resize) {
                    let _ = client.resize_terminal(pid, cols.into(), rows.into());
                }
                continue;
            }
            if let Err(e) = client.signal(pid, sig, false) {
                tracing::debug!("forward signal {sig}: {e}");
            }
        }
    }
    waiter
        .join()
        .map_err(|_| anyhow!("the wait thread panicked"))?
        .map_err(Into::into)
}

/// The control API's request for an OCI process (`exec`, and the shim's
/// exec processes).
pub fn exec_spec(p: &oci_spec::runtime::Process) -> control::ExecSpec {
    let user = p.user();
    let caps = p
        .capabilities()
        .as_ref()
        .and_then(|c| c.effective().as_ref())
        .map(|set| set.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    let rlimits = p
        .rlimits()
        .iter()
        .flatten()
        .map(|r| proto::sandbox::Rlimit {
            resource: crate::boot::rlimit_resource(r.typ()),
            soft: r.soft(),
            hard: r.hard(),
            ..Default::default()
        })
        .collect();
    control::ExecSpec {
        args: p.args().clone().unwrap_or_default(),
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().to_string_lossy().into_owned(),
        user: protobuf::MessageField::some(proto::sandbox::User {
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
            ..Default::default()
        }),
        capabilities: caps,
        rlimits,
        terminal: p.terminal().unwrap_or(false),
        ..Default::default()
    }
}

/// runc writes the pid without a newline, atomically (a reader never sees
/// a half-written file).
pub fn write_pid_file(path: &Path, pid: i32) -> anyhow::Result<()> {
    let tmp = path.with_extension("vigil-tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("write pid file {}", path.display()))
}

/// A signal by name (`KILL`, `SIGKILL`) or number, as `runc kill` takes it.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal: {s}");
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let full = format!("SIG{name}");
    full.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| anyhow!("unknown signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("hup").unwrap(), 1);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }
}
