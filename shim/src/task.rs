//! The containerd Task API over vigil sandboxes. [`TaskService`] holds the
//! shim's containers; each RPC is turned at the edge (the `Task` impl at the
//! bottom) into a call with plain arguments, and its result back into the
//! protobuf answer. Blocking work (the sandbox's control API, cgroup files,
//! fifo opens) runs on tokio's blocking threads.
//!
//! # Event order
//!
//! containerd must see a task start before it exits, and an init exit after
//! the exits of its exec'd processes. Starts publish their event while they
//! hold the container table, which the exit monitor needs too; an init's
//! exit waits for the tasks that wait for its exec'd processes (they end
//! with the sandbox).

use crate::container::{no_such_exec, Container, Exec, Exit, Phase, Process};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::options::{Settings, ROOT_FILE};
use crate::stdio::{Paths, Stdio};
use async_trait::async_trait;
use containerd_shim::api::{
    CreateTaskRequest, CreateTaskResponse, DeleteRequest, Empty, ExecProcessRequest, KillRequest,
    PauseRequest, ResizePtyRequest, ResumeRequest, ShutdownRequest, StartRequest, StartResponse,
    StateRequest, StateResponse, Status, WaitRequest, WaitResponse,
};
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::protos::api::{
    CheckpointTaskRequest, CloseIORequest, ConnectRequest, ConnectResponse, DeleteResponse,
    PidsRequest, PidsResponse, StatsRequest, StatsResponse, UpdateTaskRequest,
};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::util::{convert_to_any, convert_to_timestamp};
use containerd_shim::{Task, TtrpcContext, TtrpcResult};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use vigil_runtime::container::{self as verbs, CreateArgs, Runtime};

/// How long an init's exit waits for the exits of its exec'd processes.
const EXEC_EXIT_GRACE: Duration = Duration::from_secs(2);
/// How often a running container's OOM counter is read.
const OOM_POLL: Duration = Duration::from_secs(1);
/// The status of a process the sandbox's end killed (SIGKILL).
const KILLED: i32 = 128 + libc::SIGKILL;

/// How long an exit waits for its terminal's output to be relayed.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// The Task service. Clones share one container table: containerd 1.6
/// reaches it under the task v2 service name, newer daemons under v3.
#[derive(Clone)]
pub struct TaskService {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    containers: Mutex<HashMap<String, Container>>,
    events: Events,
    exit: Arc<ExitSignal>,
}

/// A create request, in the shim's terms.
struct CreateRequest {
    id: String,
    bundle: PathBuf,
    rootfs: Vec<containerd_shim::protos::api::Mount>,
    paths: Paths,
    terminal: bool,
    checkpoint: String,
    options: Option<containerd_shim::protos::protobuf::well_known_types::any::Any>,
}

impl TaskService {
    pub fn new(namespace: &str, events: Events, exit: Arc<ExitSignal>) -> TaskService {
        TaskService {
            inner: Arc::new(Inner {
                namespace: namespace.to_string(),
                containers: Mutex::new(HashMap::new()),
                events,
                exit,
            }),
        }
    }

    /// The exit monitor saw child `pid` end with `status`: if it is a
    /// container's sentry (or a joined container's waiter), that
    /// container's init has ended.
    pub async fn child_exited(&self, pid: i32, status: i32) {
        let mut containers = self.inner.containers.lock().await;
        let Some(c) = containers
            .values_mut()
            .find(|c| c.sandbox.record.init.pid == pid)
        else {
            // The gofer, or a sandbox deleted before it ran.
            return;
        };
        tracing::debug!(id = c.id, pid, status, "init exited");
        let waiters = std::mem::take(&mut c.exec_waiters);
        let output = c.init.held.take_output_done();
        let phase = c.init.phase.clone();
        let id = c.id.clone();
        let events = self.inner.events.clone();
        let oom = c
            .sandbox
            .record
            .cgroup
            .clone()
            .map(|cg| (cg, c.oom_kills.clone()));
        drop(containers);
        let exit = Exit::now(status);
        tokio::spawn(async move {
            for waiter in waiters {
                let _ = tokio::time::timeout(EXEC_EXIT_GRACE, waiter).await;
            }
            if let Some(output) = output {
                let _ = tokio::task::spawn_blocking(move || output.wait(OUTPUT_GRACE)).await;
            }
            // An OOM kill that ended the init is seen here, before its exit.
            if let Some((cgroup, seen)) = oom {
                publish_new_ooms(&cgroup, &seen, &id, &events).await;
            }
            phase.send_replace(Phase::Exited(exit));
            events.send(task_exit(id.clone(), id, pid, exit));
        });
    }

    async fn create(&self, req: CreateRequest) -> Result<u32> {
        let mut containers = self.inner.containers.lock().await;
        if containers.contains_key(&req.id) {
            return Err(Error::AlreadyExists(format!(
                "container {} already exists",
                req.id
            )));
        }
        if !req.checkpoint.is_empty() {
            return Err(Error::Unimplemented(
                "restoring from a checkpoint is not supported by vigil".into(),
            ));
        }
        let spec = oci_spec::runtime::Spec::load(req.bundle.join("config.json"))
            .map_err(|e| Error::InvalidArgument(format!("bundle {}: {e}", req.bundle.display())))?;
        let annotations = spec.annotations().clone().unwrap_or_default();
        let settings =
            Settings::resolve(&self.inner.namespace, req.options.as_ref(), &annotations)?;
        let rt = settings.runtime;
        // Where `delete` finds the state should this shim die.
        std::fs::write(
            req.bundle.join(ROOT_FILE),
            rt.root.as_os_str().as_encoded_bytes(),
        )
        .map_err(|e| Error::Internal(anyhow::anyhow!("record the state root: {e}")))?;
        let rootfs_mounted = mount_rootfs(&req.bundle, &req.rootfs).await?;

        let (id, bundle, paths) = (req.id.clone(), req.bundle.clone(), req.paths.clone());
        let terminal = req.terminal;
        let started = blocking({
            let rt = rt.clone();
            move || start_sandbox(&rt, &id, &bundle, &paths, terminal)
        })
        .await;
        let (sandbox, client, held) = match started {
            Ok(s) => s,
            Err(e) => {
                if rootfs_mounted {
                    unmount_rootfs(&req.bundle);
                }
                return Err(e);
            }
        };
        let pid = sandbox.record.init.pid;
        let mut init = Process::new(req.paths.clone());
        init.host_pid = pid;
        init.held = held;
        containers.insert(
            req.id.clone(),
            Container {
                id: req.id.clone(),
                bundle: req.bundle.clone(),
                runtime: rt,
                sandbox,
                client,
                init,
                execs: HashMap::new(),
                rootfs_mounted,
                exec_waiters: Vec::new(),
                oom_kills: Arc::default(),
            },
        );
        self.inner.events.send(TaskCreate {
            container_id: req.id,
            bundle: req.bundle.display().to_string(),
            rootfs: req.rootfs,
            io: MessageField::some(TaskIO {
                stdin: req.paths.stdin,
                stdout: req.paths.stdout,
                stderr: req.paths.stderr,
                terminal: req.terminal,
                ..Default::default()
            }),
            pid: pid as u32,
            ..Default::default()
        });
        Ok(pid as u32)
    }

    async fn start(&self, id: &str, exec_id: &str) -> Result<u32> {
        let mut containers = self.inner.containers.lock().await;
        let c = containers.get_mut(id).ok_or_else(|| not_found(id))?;
        if !exec_id.is_empty() {
            return self.start_exec(c, exec_id).await;
        }
        match c.init.phase() {
            Phase::Created => {}
            Phase::Running => {
                return Err(Error::FailedPrecondition(
                    "cannot start an already running container".into(),
                ))
            }
            Phase::Exited(_) => {
                return Err(Error::FailedPrecondition(
                    "cannot start a container that has stopped".into(),
                ))
            }
        }
        let client = c.client.clone();
        if let Err(e) = blocking(move || Ok(client.start()?)).await {
            // The sandbox does not outlive a failed start. Its end is
            // waited for (with the table free for the exit monitor), so
            // that the caller's next look sees the init stopped, as after a
            // failed `runc start`, and can delete it.
            let mut phase = c.init.phase.subscribe();
            let init = c.sandbox.record.init;
            drop(containers);
            let _ = init.signal(libc::SIGKILL);
            let ended = tokio::time::timeout(
                EXEC_EXIT_GRACE,
                phase.wait_for(|p| matches!(p, Phase::Exited(_))),
            )
            .await;
            let status = match ended.as_ref().map(|p| p.as_deref().copied()) {
                Ok(Ok(Phase::Exited(exit))) => exit.status.to_string(),
                _ => "unknown".into(),
            };
            return Err(match e {
                // The sentry ended before it answered.
                Error::Internal(_) => Error::FailedPrecondition(format!(
                    "the sandbox ended while starting the container's init (exit status {status})"
                )),
                e => e,
            });
        }
        c.init.phase.send_replace(Phase::Running);
        self.inner.events.send(TaskStart {
            container_id: id.to_string(),
            pid: c.init.host_pid as u32,
            ..Default::default()
        });
        if let Some(cgroup) = c.sandbox.record.cgroup.clone() {
            watch_oom(
                cgroup,
                id,
                &c.init,
                c.oom_kills.clone(),
                self.inner.events.clone(),
            );
        }
        Ok(c.init.host_pid as u32)
    }

    async fn start_exec(&self, c: &mut Container, exec_id: &str) -> Result<u32> {
        if c.init.phase() != Phase::Running {
            return Err(Error::FailedPrecondition(
                "cannot exec in a container that is not running".into(),
            ));
        }
        if c.sandbox.paused() {
            return Err(Error::FailedPrecondition(
                "cannot exec in a paused container".into(),
            ));
        }
        let exec = c
            .execs
            .get_mut(exec_id)
            .ok_or_else(|| no_such_exec(exec_id))?;
        if exec.process.phase() != Phase::Created {
            return Err(Error::FailedPrecondition(format!(
                "exec {exec_id} was started already"
            )));
        }
        let (client, spec, paths) = (
            c.client.clone(),
            exec.spec.clone(),
            exec.process.paths.clone(),
        );
        let (rt, id) = (c.runtime.clone(), c.id.clone());
        let (sandbox_pid, host_pid, held) = blocking(move || {
            let terminal = spec.terminal;
            let stdio = open_stdio(&paths, terminal)?;
            let fds = stdio.fds();
            let pid = client.exec(spec, if terminal { &fds[..1] } else { &fds[..] })?;
            // Reported by its host pid, as `ctr task ps` lists processes.
            let host = verbs::process_pids(&rt, &id)
                .ok()
                .and_then(|pids| pids.into_iter().find(|&(inner, _)| inner == pid))
                .map_or(0, |(_, host)| host);
            Ok((pid, host, stdio.held))
        })
        .await?;
        let p = &mut exec.process;
        p.sandbox_pid = sandbox_pid;
        p.host_pid = host_pid;
        p.held = held;
        let output = p.held.take_output_done();
        p.phase.send_replace(Phase::Running);
        self.inner.events.send(TaskExecStarted {
            container_id: c.id.clone(),
            exec_id: exec_id.to_string(),
            pid: host_pid as u32,
            ..Default::default()
        });
        let waiter = {
            let (client, phase, events) =
                (c.client.clone(), p.phase.clone(), self.inner.events.clone());
            let (container_id, exec_id) = (c.id.clone(), exec_id.to_string());
            tokio::spawn(async move {
                let waited = tokio::task::spawn_blocking(move || client.wait(sandbox_pid)).await;
                let status = match waited {
                    Ok(Ok(exit)) => exit.shell_status(),
                    // The sandbox ended, and the process with it.
                    _ => KILLED,
                };
                if let Some(output) = output {
                    let _ = tokio::task::spawn_blocking(move || output.wait(OUTPUT_GRACE)).await;
                }
                let exit = Exit::now(status);
                phase.send_replace(Phase::Exited(exit));
                events.send(task_exit(container_id, exec_id, host_pid, exit));
            })
        };
        c.exec_waiters.retain(|w| !w.is_finished());
        c.exec_waiters.push(waiter);
        Ok(host_pid as u32)
    }

    async fn add_exec(
        &self,
        id: &str,
        exec_id: &str,
        paths: Paths,
        terminal: bool,
        spec: &[u8],
    ) -> Result<()> {
        let mut containers = self.inner.containers.lock().await;
        let c = containers.get_mut(id).ok_or_else(|| not_found(id))?;
        if c.init.exited().is_some() {
            return Err(Error::FailedPrecondition(
                "cannot exec in a stopped container".into(),
            ));
        }
        if c.execs.contains_key(exec_id) {
            return Err(Error::AlreadyExists(format!(
                "exec {exec_id} already exists"
            )));
        }
        let process: oci_spec::runtime::Process = serde_json::from_slice(spec)
            .map_err(|e| Error::InvalidArgument(format!("exec {exec_id}: process spec: {e}")))?;
        let mut spec = verbs::exec_spec(&process);
        spec.terminal = terminal || process.terminal().unwrap_or(false);
        c.execs.insert(
            exec_id.to_string(),
            Exec {
                process: Process::new(paths),
                spec,
            },
        );
        self.inner.events.send(TaskExecAdded {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        });
        Ok(())
    }

    /// Removes a stopped (or never started) process; for the init, the
    /// whole sandbox and its state. Returns its pid and exit.
    async fn delete(&self, id: &str, exec_id: &str) -> Result<(u32, Exit)> {
        let mut containers = self.inner.containers.lock().await;
        let c = containers.get_mut(id).ok_or_else(|| not_found(id))?;
        let p = c.process(exec_id)?;
        let (pid, exit) = match p.phase() {
            Phase::Running => {
                return Err(Error::FailedPrecondition(format!(
                    "cannot delete process {} of container {id} that is not stopped: running",
                    if exec_id.is_empty() { id } else { exec_id }
                )))
            }
            // Never started: the delete below is what ends it.
            Phase::Created => (p.host_pid, Exit::now(KILLED)),
            Phase::Exited(exit) => (p.host_pid, exit),
        };
        if exec_id.is_empty() {
            let (rt, bundle, mounted) = (c.runtime.clone(), c.bundle.clone(), c.rootfs_mounted);
            let cid = id.to_string();
            blocking(move || {
                verbs::delete(&rt, &cid, true).map_err(Error::runtime)?;
                if mounted {
                    unmount_rootfs(&bundle);
                }
                let _ = std::fs::remove_file(bundle.join(ROOT_FILE));
                Ok(())
            })
            .await?;
            containers.remove(id);
        } else {
            c.execs.remove(exec_id);
        }
        self.inner.events.send(TaskDelete {
            container_id: id.to_string(),
            pid: pid as u32,
            exit_status: exit.status,
            exited_at: exited_at(exit),
            id: if exec_id.is_empty() { id } else { exec_id }.to_string(),
            ..Default::default()
        });
        Ok((pid as u32, exit))
    }

    async fn kill(&self, id: &str, exec_id: &str, signal: i32, all: bool) -> Result<()> {
        let containers = self.inner.containers.lock().await;
        let c = containers.get(id).ok_or_else(|| not_found(id))?;
        let p = c.process(exec_id)?;
        match p.phase() {
            Phase::Exited(_) => Err(Error::NotFound("process already finished".into())),
            Phase::Created if !exec_id.is_empty() => Err(Error::FailedPrecondition(format!(
                "exec {exec_id} has not started"
            ))),
            _ if exec_id.is_empty() => {
                let (rt, id) = (c.runtime.clone(), id.to_string());
                blocking(move || verbs::kill(&rt, &id, signal, all).map_err(Error::runtime)).await
            }
            _ => {
                let (client, pid) = (c.client.clone(), p.sandbox_pid);
                blocking(move || Ok(client.signal(pid, signal, false)?)).await
            }
        }
    }

    async fn state(&self, id: &str, exec_id: &str) -> Result<StateResponse> {
        let containers = self.inner.containers.lock().await;
        let c = containers.get(id).ok_or_else(|| not_found(id))?;
        let p = c.process(exec_id)?;
        let phase = p.phase();
        let status = match phase {
            Phase::Created => Status::CREATED,
            Phase::Running if c.sandbox.paused() => Status::PAUSED,
            Phase::Running => Status::RUNNING,
            Phase::Exited(_) => Status::STOPPED,
        };
        let mut resp = StateResponse {
            id: id.to_string(),
            bundle: c.bundle.display().to_string(),
            pid: p.host_pid as u32,
            status: status.into(),
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        };
        if let Phase::Exited(exit) = phase {
            resp.exit_status = exit.status;
            resp.exited_at = exited_at(exit);
        }
        Ok(resp)
    }

    async fn wait(&self, id: &str, exec_id: &str) -> Result<Exit> {
        let mut phase = {
            let containers = self.inner.containers.lock().await;
            let c = containers.get(id).ok_or_else(|| not_found(id))?;
            let p = c.process(exec_id)?;
            p.phase.subscribe()
        };
        let phase = phase
            .wait_for(|p| matches!(p, Phase::Exited(_)))
            .await
            .map_err(|_| Error::NotFound(format!("container {id} was deleted")))?;
        match *phase {
            Phase::Exited(exit) => Ok(exit),
            _ => unreachable!("waited for an exit"),
        }
    }

    async fn pids(&self, id: &str) -> Result<Vec<ProcessInfo>> {
        let (rt, execs) = {
            let containers = self.inner.containers.lock().await;
            let c = containers.get(id).ok_or_else(|| not_found(id))?;
            let execs: HashMap<i32, String> = c
                .execs
                .iter()
                .filter(|(_, e)| e.process.sandbox_pid != 0)
                .map(|(exec_id, e)| (e.process.sandbox_pid, exec_id.clone()))
                .collect();
            (c.runtime.clone(), execs)
        };
        let id = id.to_string();
        let mut pids =
            blocking(move || verbs::process_pids(&rt, &id).map_err(Error::runtime)).await?;
        pids.sort_unstable_by_key(|&(_, host)| host);
        pids.into_iter()
            .map(|(inner, host)| {
                let mut info = ProcessInfo {
                    pid: host as u32,
                    ..Default::default()
                };
                if let Some(exec_id) = execs.get(&inner) {
                    let details = ProcessDetails {
                        exec_id: exec_id.clone(),
                        ..Default::default()
                    };
                    info.info = MessageField::some(
                        convert_to_any(Box::new(details))
                            .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?,
                    );
                }
                Ok(info)
            })
            .collect()
    }

    async fn pause(&self, id: &str, pause: bool) -> Result<()> {
        let containers = self.inner.containers.lock().await;
        let c = containers.get(id).ok_or_else(|| not_found(id))?;
        let (rt, cid) = (c.runtime.clone(), id.to_string());
        blocking(move || {
            if pause {
                verbs::pause(&rt, &cid)
            } else {
                verbs::resume(&rt, &cid)
            }
            .map_err(Error::runtime)
        })
        .await?;
        if pause {
            self.inner.events.send(TaskPaused {
                container_id: id.to_string(),
                ..Default::default()
            });
        } else {
            self.inner.events.send(TaskResumed {
                container_id: id.to_string(),
                ..Default::default()
            });
        }
        Ok(())
    }

    async fn stats(&self, id: &str) -> Result<StatsResponse> {
        let cgroup = {
            let containers = self.inner.containers.lock().await;
            let c = containers.get(id).ok_or_else(|| not_found(id))?;
            // A pod's container reports its pod's usage: its processes
            // are the pod sentry's.
            c.sandbox
                .sandbox_cgroup()
                .cloned()
                .ok_or_else(|| Error::FailedPrecondition(format!("container {id} has no cgroup")))?
        };
        let any = blocking(move || {
            let stats = cgroup.stats().map_err(|e| Error::Internal(e.into()))?;
            let ooms = cgroup.oom_kill_count().unwrap_or(0);
            crate::metrics::to_any(cgroup.version(), &stats, ooms).map_err(Error::Internal)
        })
        .await?;
        Ok(StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    async fn update(&self, id: &str, resources: &[u8]) -> Result<()> {
        let resources: oci_spec::runtime::LinuxResources = serde_json::from_slice(resources)
            .map_err(|e| Error::InvalidArgument(format!("resources: {e}")))?;
        let containers = self.inner.containers.lock().await;
        let c = containers.get(id).ok_or_else(|| not_found(id))?;
        let cgroup =
            c.sandbox.record.cgroup.clone().ok_or_else(|| {
                Error::FailedPrecondition(format!("container {id} has no cgroup"))
            })?;
        blocking(move || {
            cgroup
                .apply(&resources)
                .map_err(|e| Error::InvalidArgument(e.to_string()))
        })
        .await
    }

    /// `ResizePty`: the host terminal gets the size; an exec'd process's
    /// sandbox terminal is told through the control API, and so is the
    /// init's of a container that joined a pod's sandbox (a sandbox's own
    /// init learns it from the host, as the sentry's controlling terminal).
    async fn resize_pty(&self, id: &str, exec_id: &str, width: u32, height: u32) -> Result<()> {
        let containers = self.inner.containers.lock().await;
        let c = containers.get(id).ok_or_else(|| not_found(id))?;
        let p = c.process(exec_id)?;
        let resized = p
            .held
            .resize(width, height)
            .map_err(|e| Error::Internal(anyhow::anyhow!("resize the terminal: {e}")))?;
        if !resized {
            // As runc's shim: a process without a terminal has nothing to
            // resize, and that is no error.
            return Ok(());
        }
        let joined = c.sandbox.record.sandbox.is_some();
        if (!exec_id.is_empty() && p.sandbox_pid != 0) || (exec_id.is_empty() && joined) {
            let (client, pid) = (c.client.clone(), p.sandbox_pid);
            drop(containers);
            // The process may have just exited: its terminal then went
            // with it, and the host side is all there is to resize.
            if let Err(e) = blocking(move || Ok(client.resize_terminal(pid, width, height)?)).await
            {
                tracing::debug!(id, exec_id, "resize the sandbox terminal: {e}");
            }
        }
        Ok(())
    }

    async fn close_io(&self, id: &str, exec_id: &str, stdin: bool) -> Result<()> {
        let mut containers = self.inner.containers.lock().await;
        let c = containers.get_mut(id).ok_or_else(|| not_found(id))?;
        let p = c.process_mut(exec_id)?;
        if stdin {
            p.held.close_stdin();
        }
        Ok(())
    }

    async fn init_pid(&self, id: &str) -> u32 {
        let containers = self.inner.containers.lock().await;
        containers.get(id).map_or(0, |c| c.init.host_pid as u32)
    }

    async fn shutdown(&self) {
        if self.inner.containers.lock().await.is_empty() {
            self.inner.exit.signal();
        }
    }
}

/// `TaskExit` for process `id` (the container's id for its init).
fn task_exit(container_id: String, id: String, pid: i32, exit: Exit) -> TaskExit {
    TaskExit {
        container_id,
        id,
        pid: pid as u32,
        exit_status: exit.status,
        exited_at: exited_at(exit),
        ..Default::default()
    }
}

fn exited_at(exit: Exit) -> MessageField<Timestamp> {
    MessageField::some(convert_to_timestamp(Some(exit.at.into())))
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("container {id} not found"))
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("blocking task: {e}")))?
}

/// Opens the stdio and starts the sandbox, its init waiting for `Start`.
fn start_sandbox(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    paths: &Paths,
    terminal: bool,
) -> Result<(
    verbs::Container,
    vigil_runtime::control::Client,
    crate::stdio::Held,
)> {
    let stdio = open_stdio(paths, terminal)?;
    let args = CreateArgs {
        id,
        bundle,
        pid_file: None,
        console_socket: None,
        terminal: terminal.then(|| stdio.fds()[0]),
    };
    // Detached: the shim, not `vigil_runtime`, waits for the sentry (through
    // the exit monitor), and the sandbox outlives a crashed shim until
    // containerd's `delete` cleans up.
    let created =
        verbs::create_sandbox(rt, &args, stdio.fds(), true, true).map_err(create_error)?;
    created.keep();
    let sandbox = verbs::Container::load(rt, id)
        .map_err(Error::runtime)
        .and_then(|c| Ok((c.client()?, c)));
    match sandbox {
        Ok((client, sandbox)) => Ok((sandbox, client, stdio.held)),
        Err(e) => {
            let _ = verbs::delete(rt, id, true);
            Err(e)
        }
    }
}

/// A process's stdio from containerd's fifos: the fifos themselves, or a
/// terminal the shim relays to them.
fn open_stdio(paths: &Paths, terminal: bool) -> Result<Stdio> {
    let stdio = if terminal {
        Stdio::open_terminal(paths)
    } else {
        Stdio::open(paths)
    };
    stdio.map_err(|e| Error::InvalidArgument(e.to_string()))
}

fn create_error(e: anyhow::Error) -> Error {
    use vigil_runtime::state::Error as StateError;
    match e.downcast_ref::<StateError>() {
        Some(StateError::Exists(_)) => Error::AlreadyExists(format!("{e:#}")),
        Some(StateError::InvalidId(_)) => Error::InvalidArgument(format!("{e:#}")),
        // The sentry's own reason (a missing program, a bad cwd).
        _ if e.downcast_ref::<verbs::InitFailed>().is_some() => {
            Error::FailedPrecondition(e.to_string())
        }
        _ => Error::Internal(e),
    }
}

/// Mounts containerd's rootfs mounts (a snapshot) at `<bundle>/rootfs`.
/// Returns whether there were any.
async fn mount_rootfs(
    bundle: &Path,
    mounts: &[containerd_shim::protos::api::Mount],
) -> Result<bool> {
    if mounts.is_empty() {
        return Ok(false);
    }
    let target = bundle.join("rootfs");
    std::fs::create_dir_all(&target)
        .map_err(|e| Error::Internal(anyhow::anyhow!("create {}: {e}", target.display())))?;
    for m in mounts {
        if let Err(e) = containerd_shim::util::mount_rootfs(m, &target).await {
            unmount_rootfs(bundle);
            return Err(Error::Internal(anyhow::anyhow!("mount the rootfs: {e}")));
        }
    }
    Ok(true)
}

fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    if let Err(e) = containerd_shim::mount::umount_recursive(target.to_str(), 0) {
        tracing::warn!("unmount {}: {e}", target.display());
    }
}

/// Publishes `TaskOOM` whenever the sandbox's OOM kill counter grows, while
/// the init runs (its exit checks once more).
fn watch_oom(
    cgroup: vigil_runtime::cgroups::Cgroup,
    id: &str,
    init: &Process,
    seen: Arc<AtomicU64>,
    events: Events,
) {
    let mut phase = init.phase.subscribe();
    let id = id.to_string();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(OOM_POLL);
        loop {
            tokio::select! {
                _ = tick.tick() => publish_new_ooms(&cgroup, &seen, &id, &events).await,
                // The guard `wait_for` returns is dropped at once.
                _ = async { phase.wait_for(|p| matches!(p, Phase::Exited(_))).await.is_ok() } => return,
            }
        }
    });
}

/// One `TaskOOM` if the OOM killer struck since `seen` was last updated.
async fn publish_new_ooms(
    cgroup: &vigil_runtime::cgroups::Cgroup,
    seen: &AtomicU64,
    id: &str,
    events: &Events,
) {
    let cgroup = cgroup.clone();
    let now = tokio::task::spawn_blocking(move || cgroup.oom_kill_count().unwrap_or(0))
        .await
        .unwrap_or(0);
    if now > seen.fetch_max(now, Ordering::SeqCst) {
        events.send(TaskOOM {
            container_id: id.to_string(),
            ..Default::default()
        });
    }
}

/// The RPC edge: protobuf in, plain calls, protobuf out.
#[async_trait]
impl Task for TaskService {
    async fn state(&self, _: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        Ok(TaskService::state(self, &req.id, &req.exec_id).await?)
    }

    async fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        tracing::info!(id = req.id, bundle = req.bundle, "create");
        let pid = TaskService::create(
            self,
            CreateRequest {
                id: req.id,
                bundle: req.bundle.into(),
                rootfs: req.rootfs,
                paths: Paths {
                    stdin: req.stdin,
                    stdout: req.stdout,
                    stderr: req.stderr,
                },
                terminal: req.terminal,
                checkpoint: req.checkpoint,
                options: req.options.into_option(),
            },
        )
        .await?;
        Ok(CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    async fn start(&self, _: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        tracing::info!(id = req.id, exec_id = req.exec_id, "start");
        let pid = TaskService::start(self, &req.id, &req.exec_id).await?;
        Ok(StartResponse {
            pid,
            ..Default::default()
        })
    }

    async fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        tracing::info!(id = req.id, exec_id = req.exec_id, "delete");
        let (pid, exit) = TaskService::delete(self, &req.id, &req.exec_id).await?;
        Ok(DeleteResponse {
            pid,
            exit_status: exit.status,
            exited_at: exited_at(exit),
            ..Default::default()
        })
    }

    async fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        Ok(PidsResponse {
            processes: TaskService::pids(self, &req.id).await?,
            ..Default::default()
        })
    }

    async fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        TaskService::pause(self, &req.id, true).await?;
        Ok(Empty::new())
    }

    async fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        TaskService::pause(self, &req.id, false).await?;
        Ok(Empty::new())
    }

    async fn checkpoint(&self, _: &TtrpcContext, _: CheckpointTaskRequest) -> TtrpcResult<Empty> {
        Err(Error::Unimplemented("checkpoint is not supported by vigil".into()).into())
    }

    async fn kill(&self, _: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        tracing::info!(
            id = req.id,
            exec_id = req.exec_id,
            signal = req.signal,
            "kill"
        );
        let signal = i32::try_from(req.signal)
            .map_err(|_| Error::InvalidArgument(format!("invalid signal {}", req.signal)))?;
        TaskService::kill(self, &req.id, &req.exec_id, signal, req.all).await?;
        Ok(Empty::new())
    }

    async fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        tracing::info!(id = req.id, exec_id = req.exec_id, "exec");
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or_default();
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
        };
        TaskService::add_exec(self, &req.id, &req.exec_id, paths, req.terminal, spec).await?;
        Ok(Empty::new())
    }

    async fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        TaskService::resize_pty(self, &req.id, &req.exec_id, req.width, req.height).await?;
        Ok(Empty::default())
    }

    async fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        TaskService::close_io(self, &req.id, &req.exec_id, req.stdin).await?;
        Ok(Empty::new())
    }

    async fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        let resources = req
            .resources
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or_default();
        TaskService::update(self, &req.id, resources).await?;
        Ok(Empty::new())
    }

    async fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let exit = TaskService::wait(self, &req.id, &req.exec_id).await?;
        Ok(WaitResponse {
            exit_status: exit.status,
            exited_at: exited_at(exit),
            ..Default::default()
        })
    }

    async fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        Ok(TaskService::stats(self, &req.id).await?)
    }

    async fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: self.init_pid(&req.id).await,
            ..Default::default()
        })
    }

    async fn shutdown(&self, _: &TtrpcContext, _: ShutdownRequest) -> TtrpcResult<Empty> {
        TaskService::shutdown(self).await;
        Ok(Empty::new())
    }
}
