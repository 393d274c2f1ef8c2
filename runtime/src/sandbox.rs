//! One sandbox's processes on the host, from start to cleanup: the gofer
//! (serving the bundle's mounts over lisafs) and the sentry (the
//! application kernel, in new user, mount, pid, ipc, uts and — unless the
//! host network is asked for — network namespaces). `vigil run` drives it
//! in the foreground; the shim and the later `create`/`start` verbs share it.
//!
//! # Processes and FDs
//!
//! For `n` served mounts (the root, then each bind mount in spec order) the
//! runtime makes `n` `SOCK_SEQPACKET` socket pairs. The gofer gets one end
//! of each as FDs 3.., the sentry the other ends as FDs 3..; the runtime
//! closes its copies as soon as both are started, so when either side exits
//! the other sees its connections close. The container's stdin, stdout and
//! stderr are the sentry's FDs 0-2 (with `process.terminal`, all three are
//! the replica of a host pty, see [`crate::console`], and the sentry is
//! told `--terminal`). After the sockets the sentry gets the
//! write end of a readiness pipe, written once it is jailed and its kernel
//! is built ([`Sandbox::wait_ready`]).
//!
//! # Signals
//!
//! [`Sandbox::signal`] sends a host signal to the sentry process, the
//! sandbox's only process visible as such on the host. The contract with the
//! sentry: it is the init of its pid namespace, so the host kernel delivers
//! it only signals it has a handler for; `vigil boot` blocks SIGINT,
//! SIGTERM, SIGHUP and SIGQUIT ([`crate::boot::FORWARDED`]) in all its
//! threads and takes them on one thread with `sigwait`, to hand them to the
//! kernel, which is to deliver them to the container's init as signals from
//! outside the container (ignored by an init without a handler, as under
//! runc). Until the kernel has that entry point they are logged and
//! dropped. SIGKILL always ends the whole sandbox.
//!
//! # Cleanup
//!
//! The sentry is the init of its pid namespace: when it exits, the host
//! kernel kills every stub in it. Both children die with the runtime
//! process (`PR_SET_PDEATHSIG`), and [`Sandbox`]'s drop kills and reaps
//! whatever is left. Mounts live only in the children's private mount
//! namespaces, so nothing is left on the host. The sandbox's cgroup
//! ([`crate::cgroups`]), which both children join before they run, is
//! removed once they are gone.

use crate::bundle::Bundle;
use crate::cgroups::{self, Cgroup};
use crate::launch::{self, Exit, IdMap, Process};
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The first FD number of the lisafs sockets in both children.
const FIRST_IO_FD: i32 = 3;

/// How long the gofer may take to notice its connections closed and exit
/// on its own before it is killed.
const GOFER_GRACE: Duration = Duration::from_millis(200);

/// The sandbox's network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Network {
    /// A network namespace of its own with nothing in it.
    #[default]
    None,
    /// The host's network namespace.
    Host,
}

/// Settings of a sandbox that come from runtime flags rather than the spec
/// (runsc's names).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Directory for one debug log per sandbox process:
    /// `<id>.sentry.log`, `<id>.gofer.log`.
    pub debug_log: Option<PathBuf>,
    /// Log every system call of the container (`--strace`).
    pub strace: bool,
    /// The sentry opens files itself through FDs the gofer donates.
    pub directfs: bool,
    /// The rootfs overlay setting, passed on as given (`--overlay2`).
    pub overlay2: Option<String>,
    pub network: Network,
    /// `linux.cgroupsPath` is `slice:prefix:name` (`--systemd-cgroup`).
    pub systemd_cgroup: bool,
    /// The vigil executable whose hidden `boot` and `gofer` commands become
    /// the sandbox's processes; `None` for this executable. The shim, a
    /// different binary, names it.
    pub vigil_binary: Option<PathBuf>,
}

/// Why a sandbox could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("create debug log directory {path}: {source}")]
    DebugLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("locate the vigil binary: {0}")]
    Exe(std::io::Error),
    #[error("create the lisafs sockets: {0}")]
    Sockets(std::io::Error),
    #[error("create the sentry's readiness pipe: {0}")]
    ReadyPipe(std::io::Error),
    #[error("open /dev/null: {0}")]
    DevNull(std::io::Error),
    #[error("start the gofer: {0}")]
    Gofer(launch::Error),
    #[error("start the sentry: {0}")]
    Sentry(launch::Error),
    #[error("wait for the sentry: {0}")]
    Wait(std::io::Error),
    #[error("cgroup: {0}")]
    Cgroup(cgroups::Error),
}

/// How a sandbox is driven, beyond its spec and options.
#[derive(Default)]
pub struct Lifecycle<'a> {
    /// Listening sockets (bound in the container's state directory) on
    /// which the sentry serves its control API and takes FDs.
    pub control: Option<(BorrowedFd<'a>, BorrowedFd<'a>)>,
    /// The container's init waits for the control API's `Start`.
    pub wait_start: bool,
    /// The sandbox outlives this process (`create`, `run --detach`).
    pub detached: bool,
}

/// A running sandbox. Dropping it kills and reaps both processes.
#[derive(Debug)]
pub struct Sandbox {
    id: String,
    sentry: Option<Process>,
    gofer: Option<Process>,
    /// Read end of the sentry's readiness pipe: one byte once it is jailed
    /// and its kernel is built, EOF if it exits before.
    ready: Option<OwnedFd>,
    /// Holds the gofer, the sentry and (inherited) every stub.
    cgroup: Option<Cgroup>,
}

impl Sandbox {
    /// Starts the gofer, then the sentry, for `bundle`. `stdio` becomes the
    /// container's stdin, stdout and stderr.
    pub fn start(
        id: &str,
        bundle: &Bundle,
        options: &Options,
        stdio: [BorrowedFd<'_>; 3],
        lifecycle: &Lifecycle<'_>,
    ) -> Result<Sandbox, Error> {
        let exe = vigil_exe(options)?;
        let (gofer_ends, sentry_ends) = socket_pairs(bundle.served_mounts())?;
        let io_fds = io_fd_list(gofer_ends.len());
        let mut sandbox = Sandbox {
            id: id.to_string(),
            sentry: None,
            gofer: None,
            ready: None,
            cgroup: None,
        };
        // The cgroup is made first, so both children are born into it.
        sandbox.cgroup = sandbox_cgroup(id, bundle, options)?;
        sandbox.gofer = Some(spawn_gofer(
            &exe,
            id,
            bundle,
            options,
            sandbox.cgroup.as_ref(),
            lifecycle.detached,
            gofer_ends,
        )?);

        let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::ReadyPipe(e.into()))?;
        let ready_fd = FIRST_IO_FD + sentry_ends.len() as i32;
        let mut sentry = launch::Command::new(exe.as_os_str()).map_err(Error::Sentry)?;
        for arg in boot_args(id, bundle, options, &io_fds, ready_fd) {
            sentry.arg(arg).map_err(Error::Sentry)?;
        }
        if let Some((api, fds)) = lifecycle.control {
            let (api_fd, fds_fd) = (ready_fd + 1, ready_fd + 2);
            sentry.fd(api, api_fd).fd(fds, fds_fd);
            sentry
                .arg("--control-fd")
                .and_then(|c| c.arg(api_fd.to_string()))
                .and_then(|c| c.arg("--fds-fd"))
                .and_then(|c| c.arg(fds_fd.to_string()))
                .map_err(Error::Sentry)?;
            if lifecycle.wait_start {
                sentry.arg("--wait-start").map_err(Error::Sentry)?;
            }
        }
        if lifecycle.detached {
            sentry.keep_after_parent_exit();
        }
        pass_environment(&mut sentry).map_err(Error::Sentry)?;
        if let Some(cgroup) = &sandbox.cgroup {
            sentry.cgroup(cgroup);
        }
        for (i, fd) in stdio.into_iter().enumerate() {
            sentry.fd(fd, i as i32);
        }
        for (i, fd) in sentry_ends.iter().enumerate() {
            sentry.fd(fd.as_fd(), FIRST_IO_FD + i as i32);
        }
        sentry.fd(ready_w.as_fd(), ready_fd);
        sentry
            .namespaces(sentry_namespaces(options.network))
            .id_map(IdMap::IDENTITY)
            .new_session();
        // On failure the drop of `sandbox` kills the gofer.
        sandbox.sentry = Some(sentry.spawn().map_err(Error::Sentry)?);
        drop(ready_w);
        sandbox.ready = Some(ready_r);
        tracing::debug!(
            id,
            sentry = sandbox.sentry_pid(),
            gofer = sandbox.gofer.as_ref().map(|g| g.pid),
            "sandbox started"
        );
        Ok(sandbox)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Lets the sandbox run on without this process: forgets its processes
    /// and its cgroup (no longer killed and removed on drop). Whoever reaps
    /// this process's orphans reaps them; `delete` removes the cgroup.
    pub fn detach(mut self) {
        self.sentry = None;
        self.gofer = None;
        self.cgroup = None;
    }

    /// The sandbox's cgroup (for its state record, pause, stats).
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// Blocks until the sentry is jailed and its init prepared (or
    /// started). An error means it exits instead ([`Sandbox::wait`] gives
    /// its status), with the reason it gave, if any.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let Some(ready) = self.ready.take() else {
            return Ok(());
        };
        let mut first = [0u8; 1];
        let n = loop {
            match rustix::io::read(&ready, &mut first) {
                Err(rustix::io::Errno::INTR) => continue,
                r => break r.unwrap_or(0),
            }
        };
        if n == 1 && first[0] == crate::boot::READY {
            return Ok(());
        }
        let mut message = first[..n].to_vec();
        let _ = std::io::Read::read_to_end(&mut std::fs::File::from(ready), &mut message);
        Err(String::from_utf8_lossy(&message).into_owned())
    }

    /// The sentry's host pid (what `--pid-file` records).
    pub fn sentry_pid(&self) -> i32 {
        self.sentry.as_ref().map_or(0, |s| s.pid)
    }

    /// The gofer's host pid.
    pub fn gofer_pid(&self) -> Option<i32> {
        self.gofer.as_ref().map(|g| g.pid)
    }

    /// The sentry's pidfd, readable once the sandbox has ended.
    pub fn sentry_pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.sentry.as_ref().map(|s| s.pidfd.as_fd())
    }

    /// Sends `signal` to the sandbox (see the module documentation for
    /// what the sentry does with it).
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        match &self.sentry {
            Some(s) => s.signal(signal),
            None => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
        }
    }

    /// Waits for the sentry to exit, then stops the gofer. Returns the
    /// sentry's exit: its code is the container's shell status.
    pub fn wait(&mut self) -> Result<Exit, Error> {
        let sentry = self.sentry.take().expect("the sandbox was started");
        let exit = sentry.wait(false).map_err(Error::Wait);
        let exit = match exit {
            Ok(Some(exit)) => exit,
            Ok(None) => unreachable!("a blocking wait reports an exit"),
            Err(e) => {
                sentry.kill_and_reap();
                return Err(e);
            }
        };
        self.stop_gofer();
        Ok(exit)
    }

    /// The gofer exits by itself once the sentry's connections close; a
    /// gofer that does not is killed.
    fn stop_gofer(&mut self) {
        if let Some(gofer) = self.gofer.take() {
            stop_gofer(gofer);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A paused process dies of SIGKILL only once thawed;
        // killed first, it runs nothing after the thaw.
        if let Some(cgroup) = &self.cgroup {
            if cgroup.paused() {
                for process in self.sentry.iter().chain(&self.gofer) {
                    let _ = process.signal(libc::SIGKILL);
                }
                let _ = cgroup.thaw();
            }
        }
        if let Some(sentry) = self.sentry.take() {
            sentry.kill_and_reap();
        }
        if let Some(gofer) = self.gofer.take() {
            gofer.kill_and_reap();
        }
        // The processes are gone; their cgroup goes too.
        if let Some(cgroup) = self.cgroup.take() {
            if let Ok(n @ 1..) = cgroup.oom_kill_count() {
                tracing::debug!(
                    id = self.id,
                    "the OOM killer killed {n} processes of the sandbox"
                );
            }
            if let Err(e) = cgroup.destroy() {
                tracing::warn!(id = self.id, "{e}");
            }
        }
    }
}

/// The vigil executable whose hidden commands become a sandbox's
/// processes; its debug log directory is made on the way.
pub fn vigil_exe(options: &Options) -> Result<PathBuf, Error> {
    if let Some(dir) = &options.debug_log {
        std::fs::create_dir_all(dir).map_err(|source| Error::DebugLog {
            path: dir.clone(),
            source,
        })?;
    }
    match &options.vigil_binary {
        Some(path) => Ok(path.clone()),
        None => std::env::current_exe().map_err(Error::Exe),
    }
}

/// Starts the gofer that serves `bundle`'s mounts on `ends` (the root's
/// socket, then one per bind mount), in `cgroup`. It jails itself (mount
/// namespace, pivot_root, seccomp) and needs nothing from the container's
/// stdio but a stderr for errors.
pub fn spawn_gofer(
    exe: &Path,
    id: &str,
    bundle: &Bundle,
    options: &Options,
    cgroup: Option<&Cgroup>,
    detached: bool,
    ends: Vec<OwnedFd>,
) -> Result<Process, Error> {
    let devnull = std::fs::File::open("/dev/null").map_err(Error::DevNull)?;
    let mut gofer = launch::Command::new(exe.as_os_str()).map_err(Error::Gofer)?;
    gofer
        .arg("gofer")
        .and_then(|c| c.arg("--bundle"))
        .and_then(|c| c.arg(&bundle.dir))
        .and_then(|c| c.arg("--io-fds"))
        .and_then(|c| c.arg(io_fd_list(ends.len())))
        .and_then(|c| c.arg(format!("--directfs={}", options.directfs)))
        .map_err(Error::Gofer)?;
    if let Some(dir) = &options.debug_log {
        let log = dir.join(format!("{id}.gofer.log"));
        gofer
            .arg("--debug-log")
            .and_then(|c| c.arg(&log))
            .map_err(Error::Gofer)?;
    }
    pass_environment(&mut gofer).map_err(Error::Gofer)?;
    if detached {
        gofer.keep_after_parent_exit();
    }
    if let Some(cgroup) = cgroup {
        gofer.cgroup(cgroup);
    }
    gofer.fd(devnull.as_fd(), 0).fd(devnull.as_fd(), 1);
    if detached {
        // The runtime's stderr is its caller's (runc's shim reads it to
        // EOF before it goes on): a gofer that outlives the runtime must
        // not hold it. Its warnings go to its debug log, if any.
        gofer.fd(devnull.as_fd(), 2);
    }
    for (i, fd) in ends.iter().enumerate() {
        gofer.fd(fd.as_fd(), FIRST_IO_FD + i as i32);
    }
    gofer.spawn().map_err(Error::Gofer)
}

/// Waits a little for a gofer whose connections have closed to exit by
/// itself, then kills it.
pub fn stop_gofer(gofer: Process) {
    let deadline = Instant::now() + GOFER_GRACE;
    while Instant::now() < deadline {
        match gofer.wait(true) {
            Ok(Some(exit)) => {
                tracing::debug!(?exit, "gofer exited");
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break,
        }
    }
    let exit = gofer.kill_and_reap();
    tracing::debug!(?exit, "gofer killed");
}

/// The cgroup the spec asks for, made with its resources applied.
pub fn sandbox_cgroup(
    id: &str,
    bundle: &Bundle,
    options: &Options,
) -> Result<Option<Cgroup>, Error> {
    let linux = bundle.spec.linux().as_ref();
    let path = linux.and_then(|l| l.cgroups_path().as_ref());
    let path = path.map(|p| p.to_string_lossy());
    let resources = linux.and_then(|l| l.resources().as_ref());
    Cgroup::create(path.as_deref(), id, resources, options.systemd_cgroup).map_err(Error::Cgroup)
}

/// `vigil boot`'s command line for this sandbox.
fn boot_args(
    id: &str,
    bundle: &Bundle,
    options: &Options,
    io_fds: &str,
    ready_fd: i32,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "boot".into(),
        "--id".into(),
        id.into(),
        "--bundle".into(),
        bundle.dir.clone().into(),
        "--io-fds".into(),
        io_fds.into(),
        "--ready-fd".into(),
        ready_fd.to_string().into(),
        format!("--directfs={}", options.directfs).into(),
        "--network".into(),
        match options.network {
            Network::None => "none",
            Network::Host => "host",
        }
        .into(),
    ];
    if let Some(hostname) = joined_hostname(&bundle.spec) {
        args.push("--hostname".into());
        args.push(hostname.into());
    }
    if options.strace {
        args.push("--strace".into());
    }
    if bundle.terminal() {
        args.push("--terminal".into());
    }
    if let Some(overlay) = &options.overlay2 {
        args.push("--overlay2".into());
        args.push(overlay.into());
    }
    if let Some(dir) = &options.debug_log {
        args.push("--debug-log".into());
        args.push(dir.join(format!("{id}.sentry.log")).into());
    }
    args
}

/// The hostname of the UTS namespace the spec joins by path, when the spec
/// names no hostname of its own: how a pod's containers (which CRI joins
/// to the pod's namespaces) see the pod's hostname. The sentry's UTS
/// namespace is its own, so it is told the name; reading it takes a thread
/// that enters the namespace (UTS namespaces are per thread) and ends.
fn joined_hostname(spec: &oci_spec::runtime::Spec) -> Option<String> {
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) {
        return None;
    }
    let namespaces = spec.linux().as_ref()?.namespaces().as_ref()?;
    let path = namespaces
        .iter()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Uts)?
        .path()
        .clone()?;
    let read = move || -> std::io::Result<String> {
        let ns = std::fs::File::open(&path)?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWUTS)?;
        Ok(rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned())
    };
    match std::thread::spawn(read).join() {
        Ok(Ok(name)) => Some(name),
        Ok(Err(e)) => {
            tracing::warn!("cannot read the hostname of the spec's UTS namespace: {e}");
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The sentry's namespaces: all but cgroup (and time), and the network one
/// only when the sandbox has no host network.
fn sentry_namespaces(network: Network) -> u64 {
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS;
    if network == Network::None {
        flags |= libc::CLONE_NEWNET;
    }
    flags as u64
}

/// The sandbox processes get an empty environment (the container's comes
/// from the spec), save what controls Rust's own diagnostics.
fn pass_environment(cmd: &mut launch::Command<'_>) -> Result<(), launch::Error> {
    for name in ["RUST_BACKTRACE", "RUST_LIB_BACKTRACE"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value)?;
        }
    }
    Ok(())
}

/// `n` socket pairs: the gofer's ends and the sentry's ends.
pub fn socket_pairs(n: usize) -> Result<(Vec<OwnedFd>, Vec<OwnedFd>), Error> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    let mut gofer = Vec::with_capacity(n);
    let mut sentry = Vec::with_capacity(n);
    for _ in 0..n {
        let (g, s) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Error::Sockets(e.into()))?;
        gofer.push(g);
        sentry.push(s);
    }
    Ok((gofer, sentry))
}

/// `3,4,...` for `n` sockets.
fn io_fd_list(n: usize) -> String {
    (0..n)
        .map(|i| (FIRST_IO_FD + i as i32).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_fds_are_numbered_from_three() {
        assert_eq!(io_fd_list(1), "3");
        assert_eq!(io_fd_list(3), "3,4,5");
    }

    /// Entering a UTS namespace takes CAP_SYS_ADMIN, even our own.
    #[test]
    fn a_joined_uts_namespace_gives_the_hostname() {
        let spec = |hostname: Option<&str>, path: Option<&str>| -> oci_spec::runtime::Spec {
            let mut uts = serde_json::json!({"type": "uts"});
            if let Some(path) = path {
                uts["path"] = path.into();
            }
            let mut spec = serde_json::json!({
                "ociVersion": "1.0.2",
                "linux": {"namespaces": [{"type": "pid"}, uts]},
            });
            if let Some(hostname) = hostname {
                spec["hostname"] = hostname.into();
            }
            serde_json::from_value(spec).unwrap()
        };
        let ours = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let joined = spec(None, Some("/proc/self/ns/uts"));
        assert_eq!(joined_hostname(&joined), Some(ours));
        assert_eq!(
            joined_hostname(&spec(Some("box"), Some("/proc/self/ns/uts"))),
            None
        );
        assert_eq!(joined_hostname(&spec(None, None)), None);
    }

    #[test]
    fn host_network_keeps_the_host_network_namespace() {
        assert_ne!(
            sentry_namespaces(Network::None) & libc::CLONE_NEWNET as u64,
            0
        );
        assert_eq!(
            sentry_namespaces(Network::Host) & libc::CLONE_NEWNET as u64,
            0
        );
    }
}
