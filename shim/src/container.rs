//! The shim's record of one container: its sandbox (through `vigil_runtime`
//! and the sentry's control API), its init process and the exec'd processes,
//! each with its life so far.
//!
//! The init is the sentry (or, for a container that joined its pod's
//! sandbox, its waiter): a child of the shim whose exit status is init's
//! (code, or 128 + signal). The shim learns of it only from the crate's exit
//! monitor. An exec'd process lives inside the sandbox; a task waits for it
//! through the control API.

use crate::error::{Error, Result};
use crate::stdio::{Held, Paths};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::watch;
use vigil_runtime::container::Runtime;
use vigil_runtime::control::{Client, ExecSpec};

/// How a process ended: its status as a shell reports it, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub status: u32,
    pub at: SystemTime,
}

impl Exit {
    pub fn now(status: i32) -> Exit {
        Exit {
            status: status as u32,
            at: SystemTime::now(),
        }
    }
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Created,
    Running,
    Exited(Exit),
}

/// One process of a container: the init or an exec'd one.
pub struct Process {
    /// Its host pid (the sentry's, for the init); 0 until it runs.
    pub host_pid: i32,
    /// Its pid inside the sandbox (0 for the init, which the API calls 0).
    pub sandbox_pid: i32,
    pub paths: Paths,
    /// Shared with whoever records the exit.
    pub phase: Arc<watch::Sender<Phase>>,
    pub held: Held,
}

impl Process {
    pub fn new(paths: Paths) -> Process {
        Process {
            host_pid: 0,
            sandbox_pid: 0,
            paths,
            phase: Arc::new(watch::Sender::new(Phase::Created)),
            held: Held::default(),
        }
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub fn exited(&self) -> Option<Exit> {
        match self.phase() {
            Phase::Exited(e) => Some(e),
            _ => None,
        }
    }
}

/// An exec'd process, and what it runs until it is started.
pub struct Exec {
    pub process: Process,
    pub spec: ExecSpec,
}

/// A container of this shim.
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    /// The settings it was created with (its state root).
    pub runtime: Runtime,
    /// Its state in `vigil_runtime`'s terms. Held open for the life of the
    /// container: the control client reaches the sandbox's sockets through
    /// this directory's FD.
    pub sandbox: vigil_runtime::container::Container,
    pub client: Client,
    pub init: Process,
    pub execs: HashMap<String, Exec>,
    /// containerd's rootfs mounts were made under `<bundle>/rootfs`.
    pub rootfs_mounted: bool,
    /// The tasks that wait for exec'd processes: the init's exit is
    /// published after theirs.
    pub exec_waiters: Vec<tokio::task::JoinHandle<()>>,
    /// The sandbox cgroup's OOM kills already published as `TaskOOM`.
    pub oom_kills: Arc<AtomicU64>,
}

impl Container {
    /// The init, or the exec'd process `exec_id` (empty: the init).
    pub fn process(&self, exec_id: &str) -> Result<&Process> {
        if exec_id.is_empty() {
            return Ok(&self.init);
        }
        self.execs
            .get(exec_id)
            .map(|e| &e.process)
            .ok_or_else(|| no_such_exec(exec_id))
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Result<&mut Process> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        self.execs
            .get_mut(exec_id)
            .map(|e| &mut e.process)
            .ok_or_else(|| no_such_exec(exec_id))
    }
}

pub fn no_such_exec(exec_id: &str) -> Error {
    Error::NotFound(format!("exec {exec_id} not found"))
}
