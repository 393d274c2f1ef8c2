//! Pods: several containers in one sandbox, as Kubernetes runs them.
//!
//! A pod's sandbox container (CRI's pause container) starts a sandbox as
//! any container does. A workload container of the same pod — its spec
//! says so with CRI's (or CRI-O's) annotations — *joins* that sandbox
//! instead: it gets a gofer of its own for its root filesystem and bind
//! mounts, and the sentry adds it through the control API
//! (`CreateContainer`). It shares the sandbox's pid numbering, hostname
//! and network, as Kubernetes' containers share the pause container's.
//!
//! On the host, a joined container is its gofer and its *waiter*: a small
//! process (`vigil waiter`) that waits for the container's init through
//! the control API and exits with its status. Its pid is the container's,
//! so whoever waits for a container's pid (containerd's shims, conmon)
//! waits for a joined one the same way.

use crate::bundle::Bundle;
use crate::cgroups::Cgroup;
use crate::container::{Container, Runtime, Status};
use crate::control::Client;
use crate::launch::{self, Process};
use crate::sandbox;
use anyhow::{bail, Context};
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, BorrowedFd};

/// The annotations that tell a pod's workload container from its sandbox
/// container, with the value of a workload container: CRI's (containerd)
/// and CRI-O's.
const CONTAINER_TYPE: [(&str, &str); 2] = [
    ("io.kubernetes.cri.container-type", "container"),
    ("io.kubernetes.cri-o.ContainerType", "container"),
];

/// The annotations that name a workload container's sandbox container.
const SANDBOX_ID: [&str; 2] = [
    "io.kubernetes.cri.sandbox-id",
    "io.kubernetes.cri-o.SandboxID",
];

/// The status a waiter exits with when the sandbox ends under the
/// container (or cannot be reached): killed, as the sandbox's end kills
/// every process in it.
const SANDBOX_GONE: i32 = 128 + libc::SIGKILL;

/// The id of the sandbox container whose sandbox `spec`'s container joins,
/// if it is a pod's workload container.
pub fn sandbox_to_join(spec: &Spec) -> Option<String> {
    let annotations = spec.annotations().as_ref()?;
    let is_workload = CONTAINER_TYPE
        .iter()
        .any(|(key, value)| annotations.get(*key).map(String::as_str) == Some(value));
    if !is_workload {
        return None;
    }
    SANDBOX_ID
        .iter()
        .find_map(|key| annotations.get(*key))
        .filter(|id| !id.is_empty())
        .cloned()
}

/// The sandbox container `sandbox_id`, checked to run a sandbox that
/// container `id` can join.
pub fn sandbox_owner(rt: &Runtime, sandbox_id: &str, id: &str) -> anyhow::Result<Container> {
    let owner = Container::load(rt, sandbox_id)
        .with_context(|| format!("the sandbox of container {id}: {sandbox_id}"))?;
    if owner.record.sandbox.is_some() {
        bail!("container {sandbox_id} runs in another container's sandbox: {id} cannot join it");
    }
    if owner.status() == Status::Stopped {
        bail!("the sandbox of container {id} ({sandbox_id}) is not running");
    }
    Ok(owner)
}

/// A container joined to another's sandbox, as this process started it:
/// until [`Member::detach`], dropping it takes the container out of the
/// sandbox and kills its host processes.
pub struct Member {
    id: String,
    gofer: Option<Process>,
    waiter: Option<Process>,
    cgroup: Option<Cgroup>,
    /// The sandbox, about this container, once the sentry has added it.
    added: Option<Client>,
}

impl Member {
    /// Joins container `id` of `bundle` to `owner`'s sandbox: starts its
    /// gofer (in the container's own cgroup), has the sentry add it with
    /// `stdio` (one terminal with `terminal`) for its init, which then
    /// waits for `start`, and starts its waiter. With `detached` both host
    /// processes outlive this one.
    pub fn start(
        rt: &Runtime,
        id: &str,
        bundle: &Bundle,
        owner: &Container,
        stdio: [BorrowedFd<'_>; 3],
        terminal: bool,
        detached: bool,
    ) -> anyhow::Result<Member> {
        let exe = sandbox::vigil_exe(&rt.options)?;
        let mut member = Member {
            id: id.to_string(),
            gofer: None,
            waiter: None,
            cgroup: sandbox::sandbox_cgroup(id, bundle, &rt.options)?,
            added: None,
        };
        let (gofer_ends, sentry_ends) = sandbox::socket_pairs(bundle.served_mounts())?;
        member.gofer = Some(sandbox::spawn_gofer(
            &exe,
            id,
            bundle,
            &rt.options,
            member.cgroup.as_ref(),
            detached,
            gofer_ends,
        )?);
        let client = owner.client()?.for_container(id);
        let spec = serde_json::to_vec(&bundle.spec).context("encode the spec")?;
        let sockets: Vec<BorrowedFd<'_>> = sentry_ends.iter().map(|s| s.as_fd()).collect();
        let stdio = if terminal { &stdio[..1] } else { &stdio[..] };
        client.create_container(&spec, &sockets, stdio, terminal)?;
        // The sentry holds its ends now: the gofer sees them close when
        // the sentry lets go of the container.
        drop(sentry_ends);
        member.added = Some(client);

        let devnull = std::fs::File::open("/dev/null").context("open /dev/null")?;
        let mut waiter = launch::Command::new(exe.as_os_str())?;
        waiter
            .arg("--root")?
            .arg(&rt.root)?
            .arg("waiter")?
            .arg(&owner.record.id)?
            .arg(id)?;
        // Nothing of the caller's stdio: runc's shim reads the runtime's
        // stderr to EOF, which a waiter that outlives it must not hold.
        waiter
            .fd(devnull.as_fd(), 0)
            .fd(devnull.as_fd(), 1)
            .fd(devnull.as_fd(), 2);
        if detached {
            waiter.keep_after_parent_exit();
        }
        if let Some(cgroup) = &member.cgroup {
            waiter.cgroup(cgroup);
        }
        member.waiter = Some(waiter.spawn()?);
        Ok(member)
    }

    /// The waiter's host pid: the container's pid.
    pub fn waiter_pid(&self) -> i32 {
        self.waiter.as_ref().map_or(0, |w| w.pid)
    }

    pub fn gofer_pid(&self) -> Option<i32> {
        self.gofer.as_ref().map(|g| g.pid)
    }

    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// Starts the container's init (`run` in the foreground; `start`
    /// reaches it through its state).
    pub fn start_init(&self) -> Result<(), crate::control::Error> {
        match &self.added {
            Some(client) => client.start().map(drop),
            None => Err(crate::control::Error::Connect(format!(
                "container {} is not in a sandbox",
                self.id
            ))),
        }
    }

    /// Sends `signal` to the container's init from outside, as `kill`
    /// does.
    pub fn signal(&self, signal: i32) -> Result<(), crate::control::Error> {
        match &self.added {
            Some(client) => client.signal(0, signal, false),
            None => Err(crate::control::Error::Connect(format!(
                "container {} is not in a sandbox",
                self.id
            ))),
        }
    }

    /// The waiter's pidfd, readable once the container has ended.
    pub fn waiter_pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.waiter.as_ref().map(|w| w.pidfd.as_fd())
    }

    /// Waits for the container to end: its shell status, which its waiter
    /// exits with.
    pub fn wait(&mut self) -> anyhow::Result<i32> {
        let waiter = self
            .waiter
            .take()
            .context("the container was not started")?;
        let exit = waiter
            .wait(false)
            .context("wait for the container's waiter")?
            .expect("a blocking wait reports an exit");
        Ok(exit.shell_status())
    }

    /// Leaves the container in the sandbox and its processes running;
    /// `delete` removes them.
    pub fn detach(mut self) {
        self.added = None;
        self.waiter = None;
        self.gofer = None;
        self.cgroup = None;
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(client) = self.added.take() {
            if let Err(e) = client.remove_container() {
                tracing::warn!(id = self.id, "take the container out of its sandbox: {e}");
            }
        }
        if let Some(waiter) = self.waiter.take() {
            waiter.kill_and_reap();
        }
        if let Some(gofer) = self.gofer.take() {
            sandbox::stop_gofer(gofer);
        }
        if let Some(cgroup) = self.cgroup.take() {
            if let Err(e) = cgroup.destroy() {
                tracing::warn!(id = self.id, "{e}");
            }
        }
    }
}

/// `vigil waiter SANDBOX ID`: waits for container `id`'s init in the
/// sandbox of container `sandbox_id`; returns the status to exit with (the
/// shell's: code, or 128 + signal).
pub fn wait(rt: &Runtime, sandbox_id: &str, id: &str) -> i32 {
    let waited = Container::load(rt, sandbox_id)
        .and_then(|owner| Ok(owner.client()?.for_container(id).wait(0)?));
    match waited {
        Ok(exit) => exit.shell_status(),
        Err(e) => {
            tracing::debug!(id, "wait in the sandbox of {sandbox_id}: {e:#}");
            SANDBOX_GONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(annotations: &[(&str, &str)]) -> Spec {
        let mut spec = Spec::default();
        spec.set_annotations(Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        spec
    }

    #[test]
    fn workload_containers_join_their_sandbox() {
        let cri = spec_with(&[
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.sandbox-id", "pause1"),
        ]);
        assert_eq!(sandbox_to_join(&cri).as_deref(), Some("pause1"));
        let crio = spec_with(&[
            ("io.kubernetes.cri-o.ContainerType", "container"),
            ("io.kubernetes.cri-o.SandboxID", "pause2"),
        ]);
        assert_eq!(sandbox_to_join(&crio).as_deref(), Some("pause2"));
    }

    #[test]
    fn sandbox_containers_and_plain_ones_start_their_own() {
        let pause = spec_with(&[
            ("io.kubernetes.cri.container-type", "sandbox"),
            ("io.kubernetes.cri.sandbox-id", "pause1"),
        ]);
        assert_eq!(sandbox_to_join(&pause), None);
        assert_eq!(sandbox_to_join(&Spec::default()), None);
        let no_id = spec_with(&[("io.kubernetes.cri.container-type", "container")]);
        assert_eq!(sandbox_to_join(&no_id), None);
    }
}
