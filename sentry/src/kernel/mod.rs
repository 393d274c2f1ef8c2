//! The kernel: processes, threads and their ids, descriptor tables, exec and
//! exit, built on the [`crate::platform`] (which runs the application) and
//! the [`crate::vfs`] (which holds its files). System calls arrive as
//! platform events and are served by [`crate::syscalls`].
//!
//! Lock order: `Kernel::pids`, then `ThreadGroup` states (see [`task`]),
//! then VFS locks. `Kernel::containers`, then a container's `InitExit`,
//! come last: nothing else is taken, and no platform call made, while
//! either is held. Platform control calls (which block until the tracer has
//! acted) are made only from the control thread or a boot thread, never
//! from the platform's receiver threads or its tracer (which delivers
//! exits).
//!
//! A sandbox runs one or more containers (a pod's). Each has its own mount
//! namespace (a [`Vfs`], carried by its tasks' [`FsContext`]) and its own
//! init; they share the pid numbering, the hostname and the platform.
#![deny(unsafe_code)]

pub mod exec;
pub mod fdtable;
pub mod procs;
pub mod sched;
pub mod task;

use crate::boot::{
    BootConfig, ContainerConfig, MountConfig, MountSource, ProcessSpec, SandboxExit,
};
use crate::errno::{Errno, SysResult};
use crate::platform::{
    CloneKind, Event, EventSink, ExitStatus as HostExit, HostTid, Platform, PlatformConfig,
};
use crate::sync::lock;
use crate::vfs::anon::{anon_file, AnonInode, HostFile};
use crate::vfs::gofer::{GoferFs, GoferOptions};
use crate::vfs::tmpfs::Tmpfs;
use crate::vfs::{At, CapSet, Credentials, FileType, Filesystem, FsContext, Vfs};
use fdtable::FdTable;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use task::{ContainerId, ExitStatus, Image, Pid, Task, ThreadGroup};

/// The release the sandbox reports in `uname -r`: a Linux the sentry's
/// system call surface follows.
pub const RELEASE: &str = "4.4.0";
/// `uname -v`, naming vigil so that a user can tell where they are.
pub const VERSION: &str = "#1 SMP vigil";

/// Ids and the tasks they name. The ids are those of the stubs' own host pid
/// namespace (see [`crate::platform::Platform::ns_tid`]).
#[derive(Default)]
struct PidTable {
    by_host: HashMap<HostTid, Arc<Task>>,
    tasks: HashMap<Pid, Arc<Task>>,
    /// Live and zombie processes.
    groups: HashMap<Pid, Arc<ThreadGroup>>,
}

/// Blocking platform work, done on the control thread.
enum Control {
    Exec {
        task: Arc<Task>,
        call: crate::platform::ExecCall,
        args: [u64; 6],
    },
    Signal {
        tid: HostTid,
        signo: i32,
    },
    /// Kill the processes of a container whose init has exited.
    KillContainer(ContainerId),
}

/// The id of the container a sandbox boots with.
pub const SANDBOX_CONTAINER: &str = "";

/// A container of the sandbox.
struct Container {
    /// Its mount namespace, where its processes start.
    vfs: Arc<Vfs>,
    /// Its init's pid, once started.
    init: Option<Pid>,
    /// How its init ended (for added containers; the sandbox's own init
    /// ends the sandbox).
    exit: Arc<InitExit>,
}

/// How a container's init ended, once it has; waiters hold it, so that a
/// container removed while they wait still answers them.
#[derive(Default)]
pub struct InitExit {
    status: Mutex<Option<ExitStatus>>,
    changed: Condvar,
}

impl InitExit {
    /// Records `status` unless an exit is recorded already.
    fn set(&self, status: ExitStatus) {
        let mut s = lock(&self.status);
        if s.is_none() {
            *s = Some(status);
            self.changed.notify_all();
        }
    }

    fn get(&self) -> Option<ExitStatus> {
        *lock(&self.status)
    }

    /// Blocks until the init has ended; how it ended.
    pub fn wait(&self) -> ExitStatus {
        let mut s = lock(&self.status);
        loop {
            if let Some(status) = *s {
                return status;
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// How a process killed from outside ends.
const KILLED: ExitStatus = ExitStatus::Signaled {
    signal: libc::SIGKILL,
    core_dumped: false,
};

/// A running sandbox.
pub struct Kernel {
    platform: OnceLock<Platform>,
    /// The containers by id, the sandbox's own ([`SANDBOX_CONTAINER`])
    /// among them.
    containers: Mutex<HashMap<ContainerId, Container>>,
    /// What building a container's filesystems needs.
    fs_deps: FsDeps,
    pids: Mutex<PidTable>,
    pub hostname: Mutex<Vec<u8>>,
    pub strace: bool,
    pub started: std::time::Instant,
    control: Mutex<Option<Sender<Control>>>,
    exit: Mutex<Option<SandboxExit>>,
    exited: Condvar,
    /// Show the sandbox's processes at the sentry's own `/proc` once init
    /// exists (see [`Kernel::expose_processes`]).
    expose_processes: std::sync::atomic::AtomicBool,
    /// Exits of processes started from outside (see [`Kernel::start`]) not
    /// yet collected by [`Kernel::wait_process`].
    exited_processes: Mutex<HashMap<Pid, ExitStatus>>,
    process_exited: Condvar,
    /// The consoles of processes started with a terminal, by pid (init's
    /// is drained when the sandbox ends).
    consoles: Mutex<HashMap<Pid, Arc<crate::tty::Console>>>,
}

/// What [`Kernel::processes`] reports of a process.
#[derive(Clone, Copy, Debug)]
pub struct ProcessInfo {
    pub pid: Pid,
    /// 0 for init and for processes started from outside.
    pub ppid: Pid,
    /// Its id in the sentry's own pid namespace (see
    /// [`crate::platform::HostTid`]).
    pub host_pid: i32,
    pub uid: u32,
    pub threads: u32,
}

/// A process checked and ready to start ([`Kernel::prepare`]).
pub struct Prepared {
    container: ContainerId,
    /// It is an added container's init ([`Kernel::add_container`]).
    init: bool,
    cx: FsContext,
    files: Arc<FdTable>,
    console: Option<Arc<crate::tty::Console>>,
    rlimits: task::Rlimits,
    path: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
}

/// Delivers platform events to the kernel.
struct Sink(Weak<Kernel>);

impl EventSink for Sink {
    fn deliver(&self, event: Event) {
        if let Some(k) = self.0.upgrade() {
            k.on_event(event);
        }
    }
}

/// What the sentry-internal filesystems need from outside.
struct FsDeps {
    procs: Arc<procs::KernelProcs>,
    host: crate::vfs::procfs::HostInfo,
}

fn mount_fs(source: MountSource, deps: &FsDeps) -> SysResult<Option<Arc<dyn Filesystem>>> {
    Ok(match source {
        MountSource::Gofer { socket, exclusive } => {
            Some(GoferFs::new(socket, GoferOptions { exclusive })?)
        }
        MountSource::Tmpfs { mode } => Some(Tmpfs::new(
            Arc::new(crate::vfs::tmpfs::MemoryFilestore),
            mode,
            0,
            0,
        )),
        MountSource::Dev => Some(crate::vfs::devfs::new_memory()?),
        MountSource::Proc => Some(crate::vfs::procfs::Procfs::new(
            deps.procs.clone(),
            deps.host.clone(),
        )),
        MountSource::Sys => Some(crate::vfs::sysfs::Sysfs::new(&deps.host)),
        MountSource::Devpts => Some(crate::tty::devpts::Devpts::new()),
        MountSource::Unsupported(kind) => {
            tracing::warn!("sentry: mount type {kind} is not supported; skipped");
            None
        }
    })
}

impl Kernel {
    /// Builds the sandbox's mount namespace and starts the platform. Call
    /// this before the sentry hides the host's `/proc` (the platform reads
    /// the host vDSO's location there).
    pub fn new(cfg: &mut BootConfig) -> Result<Arc<Kernel>, BootError> {
        // Host facts /proc and /sys show, read while the host's /proc is
        // still visible.
        let fs_deps = FsDeps {
            procs: Arc::new(procs::KernelProcs::default()),
            host: crate::vfs::procfs::HostInfo::capture(),
        };
        let c = &mut cfg.container;
        let root = std::mem::replace(&mut c.root, MountSource::Proc);
        let vfs = build_vfs(
            root,
            c.root_readonly,
            std::mem::take(&mut c.mounts),
            &fs_deps,
        )?;
        let sandbox = Container {
            vfs,
            init: Some(1),
            exit: Arc::default(),
        };
        let kernel = Arc::new(Kernel {
            platform: OnceLock::new(),
            containers: Mutex::new(HashMap::from([(SANDBOX_CONTAINER.into(), sandbox)])),
            fs_deps,
            pids: Mutex::new(PidTable::default()),
            hostname: Mutex::new(cfg.hostname.clone()),
            strace: cfg.strace,
            started: std::time::Instant::now(),
            control: Mutex::new(None),
            exit: Mutex::new(None),
            exited: Condvar::new(),
            expose_processes: std::sync::atomic::AtomicBool::new(false),
            exited_processes: Mutex::new(HashMap::new()),
            process_exited: Condvar::new(),
            consoles: Mutex::new(HashMap::new()),
        });
        let platform = Platform::new(Sink(Arc::downgrade(&kernel)), PlatformConfig::default())
            .map_err(|e| BootError::Platform(e.to_string()))?;
        let _ = kernel.platform.set(platform);
        kernel.fs_deps.procs.set(&kernel);
        kernel.start_control();
        kernel.start_signal_watch();
        Ok(kernel)
    }

    /// Adds container `id` (a pod's workload container) with its own mount
    /// namespace, built as the sandbox's own is at boot, and prepares its
    /// init there (see [`Kernel::prepare`]); [`Kernel::start`] starts it.
    pub fn add_container(
        self: &Arc<Kernel>,
        id: &str,
        cfg: ContainerConfig,
    ) -> Result<Prepared, BootError> {
        if self.container_vfs(id).is_some() {
            return Err(BootError::ContainerExists(id.to_string()));
        }
        let vfs = build_vfs(cfg.root, cfg.root_readonly, cfg.mounts, &self.fs_deps)?;
        let init = self.prepare_in(id.into(), &vfs, cfg.init)?;
        let mut containers = lock(&self.containers);
        if containers.contains_key(id) {
            return Err(BootError::ContainerExists(id.to_string()));
        }
        containers.insert(
            id.into(),
            Container {
                vfs,
                init: None,
                exit: Arc::default(),
            },
        );
        Ok(Prepared { init: true, ..init })
    }

    /// Kills the processes of added container `id`, waits (briefly) until
    /// they are gone and forgets the container, releasing its mount
    /// namespace. Whoever waits for its init learns how it ended: killed,
    /// if it had not ended before.
    pub fn remove_container(&self, id: &str) -> Result<(), BootError> {
        const GONE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
        if id == SANDBOX_CONTAINER {
            return Err(BootError::RemoveSandbox);
        }
        let exit = lock(&self.containers)
            .get(id)
            .map(|c| c.exit.clone())
            .ok_or_else(|| BootError::NoContainer(id.to_string()))?;
        self.kill_container(id);
        let deadline = std::time::Instant::now() + GONE_TIMEOUT;
        while self.groups().iter().any(|g| &*g.container == id) {
            if std::time::Instant::now() > deadline {
                tracing::warn!("processes of container {id} outlive its removal");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        exit.set(KILLED);
        lock(&self.containers).remove(id);
        Ok(())
    }

    fn container_vfs(&self, id: &str) -> Option<Arc<Vfs>> {
        lock(&self.containers).get(id).map(|c| c.vfs.clone())
    }

    /// Runs the container's init until it exits, then ends the sandbox.
    pub fn run(self: &Arc<Kernel>, init: ProcessSpec) -> Result<SandboxExit, BootError> {
        let init = self.prepare(SANDBOX_CONTAINER, init)?;
        self.start(init)?;
        Ok(self.wait())
    }

    /// Checks what can fail before a process starts in `container`
    /// (working directory, program lookup, both in the container's root)
    /// and builds its descriptor table, as `runc create` does before the
    /// container's init waits to be started.
    pub fn prepare(
        self: &Arc<Kernel>,
        container: &str,
        spec: ProcessSpec,
    ) -> Result<Prepared, BootError> {
        let vfs = self
            .container_vfs(container)
            .ok_or_else(|| BootError::NoContainer(container.to_string()))?;
        self.prepare_in(container.into(), &vfs, spec)
    }

    fn prepare_in(
        self: &Arc<Kernel>,
        container: ContainerId,
        vfs: &Arc<Vfs>,
        spec: ProcessSpec,
    ) -> Result<Prepared, BootError> {
        let mut cx = FsContext::new(vfs);
        cx.creds = Credentials {
            uid: spec.user.uid,
            gid: spec.user.gid,
            groups: spec.user.additional_gids.clone(),
            caps: CapSet(spec.capabilities),
        };
        cx.umask = spec.user.umask.unwrap_or(0o022);
        cx.cwd = vfs
            .lookup_dir(&cx, At::Cwd, &spec.cwd)
            .map_err(|e| BootError::Cwd {
                path: String::from_utf8_lossy(&spec.cwd).into_owned(),
                errno: e.errno,
            })?;

        let files = Arc::new(FdTable::default());
        let (console, host_stdio) = if spec.terminal {
            let [host, ..] = spec.stdio;
            (Some(Kernel::attach_console(vfs, &files, host)?), Vec::new())
        } else {
            (None, Vec::from(spec.stdio))
        };
        for (n, fd) in host_stdio.into_iter().enumerate() {
            let host = Arc::new(HostFile::new(fd));
            let again = host.clone();
            let reopen: crate::vfs::anon::Reopen = Box::new(move |_| Ok(Box::new(again.clone())));
            let inode = AnonInode::new(
                FileType::Fifo,
                0o600,
                cx.creds.uid,
                cx.creds.gid,
                Some(reopen),
            );
            let file = anon_file(inode, Box::new(host), libc::O_RDWR as u32)
                .map_err(|e| BootError::Platform(format!("stdio: {}", e.errno.name())))?;
            files
                .insert_at(n as i32, file, false, fdtable::DEFAULT_NOFILE)
                .map_err(|e| BootError::Platform(format!("stdio: {}", e.errno.name())))?;
        }

        let mut rlimits = task::default_rlimits();
        for r in &spec.rlimits {
            if let Some(slot) = rlimits.get_mut(r.resource as usize) {
                *slot = (r.soft, r.hard);
            }
        }
        let mut envp = spec.envp;
        if !envp.iter().any(|e| e.starts_with(b"HOME=")) {
            // As runc does: the user's home from the container's passwd.
            let mut home = b"HOME=".to_vec();
            home.extend(self.home_of(&cx, spec.user.uid));
            envp.push(home);
        }
        let path = exec::find_in_path(&cx, &spec.argv, &envp)?;
        Ok(Prepared {
            container,
            init: false,
            cx,
            files,
            console,
            rlimits,
            path,
            argv: spec.argv,
            envp,
        })
    }

    /// Starts a prepared process and returns its pid. The first becomes the
    /// sandbox's init (pid 1), whose exit ends the sandbox; later ones join
    /// its pid namespace with no parent inside it, as `runc exec` processes
    /// do, and their exits are kept for [`Kernel::wait_process`]. An added
    /// container's init starts the same way, once the sandbox's init runs;
    /// its exit is kept for [`Kernel::wait_container`].
    pub fn start(self: &Arc<Kernel>, p: Prepared) -> Result<Pid, BootError> {
        let platform_err = |e: crate::platform::PlatformError| BootError::Platform(e.to_string());
        let expose = self
            .expose_processes
            .load(std::sync::atomic::Ordering::Relaxed);
        let added = &*p.container != SANDBOX_CONTAINER;
        let ended = lock(&self.exit).is_some();
        let host = match self.group(1) {
            Some(init) => self.platform().create_process_beside(init.host),
            None if ended => return Err(BootError::Ended),
            None if added => return Err(BootError::NotStarted),
            None if expose => self.platform().create_process_showing_proc(),
            None => self.platform().create_process(),
        }
        .map_err(platform_err)?;
        let pid = match self.platform().ns_tid(host) {
            Ok(pid) => pid,
            Err(e) => {
                self.platform().kill(host).ok();
                return Err(platform_err(e));
            }
        };
        if p.init {
            let recorded = match lock(&self.containers).get_mut(&p.container) {
                Some(c) if c.init.is_none() && c.exit.get().is_none() => {
                    c.init = Some(pid);
                    true
                }
                // Removed, or ended (killed) before it started.
                _ => false,
            };
            if !recorded {
                self.platform().kill(host).ok();
                return Err(BootError::NoContainer(p.container.to_string()));
            }
        }
        // A new session and process group of its own, as the container's
        // init has, and as an exec'd process has once it calls setsid.
        let group = ThreadGroup::new_session(pid, host, p.container, Image::default(), p.rlimits);
        let task = Task::new(
            pid,
            host,
            group.clone(),
            p.files,
            Arc::new(Mutex::new(p.cx)),
        );
        {
            let mut pids = lock(&self.pids);
            pids.by_host.insert(host, task.clone());
            pids.tasks.insert(pid, task.clone());
            pids.groups.insert(pid, group.clone());
        }
        // An uncollected exit of an earlier process that had this pid is
        // not this one's (taken after the pid table's lock, never inside
        // it: `wait_process` takes them the other way round).
        lock(&self.exited_processes).remove(&pid);
        group.state().threads.push(task.clone());
        if let Some(console) = p.console {
            // The process leads its session; the console is its terminal.
            if let Err(e) = console.terminal().make_controlling(self, &group, false) {
                tracing::warn!("console as {pid}'s terminal: {}", e.errno.name());
            }
            lock(&self.consoles).insert(pid, console);
        }
        if let Err(e) = exec::exec(self, &task, &p.path, p.argv, p.envp) {
            self.platform().kill(host).ok();
            return Err(BootError::Exec {
                path: String::from_utf8_lossy(&p.path).into_owned(),
                errno: e.errno,
            });
        }
        Ok(pid)
    }

    /// Asks for a procfs of the sandbox's processes on the sentry's own
    /// `/proc` once init starts: host tools that enter the sentry's mount
    /// namespace to list a container's processes (`podman top`) then see
    /// them as the container does. Only for a jailed sentry, in a mount
    /// namespace of its own with a procfs at `/proc`.
    pub fn expose_processes(&self) {
        self.expose_processes
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Blocks until init has exited and the sandbox has ended; its status.
    /// What init wrote to its terminal reaches the host first.
    pub fn wait(&self) -> SandboxExit {
        let mut exit = lock(&self.exit);
        while exit.is_none() {
            exit = self.exited.wait(exit).unwrap_or_else(|p| p.into_inner());
        }
        let exit = exit.expect("loop ends when set");
        if let Some(console) = self.console(1) {
            console.drain(std::time::Duration::from_secs(1));
        }
        exit
    }

    /// Gives a process an emulated terminal bridged to the host pty replica
    /// `host` as FDs 0-2 (the other host stdio FDs are the same terminal).
    fn attach_console(
        vfs: &Arc<Vfs>,
        files: &FdTable,
        host: OwnedFd,
    ) -> Result<Arc<crate::tty::Console>, BootError> {
        let console = crate::tty::attach_console(vfs, host)
            .map_err(|e| BootError::Console { errno: e.errno })?;
        for n in 0..3 {
            files
                .insert_at(n, console.replica(), false, fdtable::DEFAULT_NOFILE)
                .map_err(|e| BootError::Platform(format!("stdio: {}", e.errno.name())))?;
        }
        Ok(Arc::new(console))
    }

    /// Blocks until process `pid` (init, or one from [`Kernel::start`]) has
    /// exited, and returns how; `None` if no such process was started or
    /// its exit was already collected. Init's exit ends everything, so a
    /// process still running then is reported as killed.
    pub fn wait_process(&self, pid: Pid) -> Option<ExitStatus> {
        let mut done = lock(&self.exited_processes);
        loop {
            if let Some(status) = done.remove(&pid) {
                return Some(status);
            }
            if lock(&self.exit).is_some() {
                return self.group(pid).map(|_| KILLED);
            }
            let alive = self.group(pid).is_some_and(|g| g.state().exit.is_none());
            if !alive {
                return None;
            }
            done = self
                .process_exited
                .wait(done)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The home directory of `uid` in the container's `/etc/passwd`, or `/`.
    fn home_of(&self, cx: &FsContext, uid: u32) -> Vec<u8> {
        let passwd = cx
            .vfs
            .open(cx, At::Cwd, b"/etc/passwd", libc::O_RDONLY as u32, 0)
            .and_then(|f| {
                let mut data = vec![0u8; 64 << 10];
                let n = f.pread(&mut data, 0)?;
                data.truncate(n);
                Ok(data)
            })
            .unwrap_or_default();
        passwd
            .split(|&b| b == b'\n')
            .map(|l| l.split(|&b| b == b':').collect::<Vec<_>>())
            .find(|f| f.len() >= 6 && f[2] == uid.to_string().as_bytes())
            .map(|f| f[5].to_vec())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| b"/".to_vec())
    }

    /// Sends `sig` to process `pid` from outside the sandbox (`runc kill`
    /// of an exec'd process); for init, see [`Kernel::signal_init`].
    pub fn signal_process(&self, pid: Pid, sig: i32) -> Result<(), Errno> {
        if pid == 1 {
            self.signal_init(sig);
            return Ok(());
        }
        let group = self.group(pid).ok_or(Errno::ESRCH)?;
        crate::platform::tgkill(group.host.0, group.host.0, sig).map_err(|_| Errno::ESRCH)
    }

    /// Sends `sig` to every process of `container` (`runc kill --all`),
    /// its init last, so that it cannot end the others' chance to see it.
    pub fn signal_all(&self, container: &str, sig: i32) -> Result<(), Errno> {
        let groups = self.container_groups(container);
        if groups.is_empty() {
            return Err(Errno::ESRCH);
        }
        let init = self.container_init(container);
        let is_init = |g: &ThreadGroup| init.as_ref().is_some_and(|i| i.pid == g.pid);
        for g in groups.iter().filter(|g| !is_init(g)) {
            let _ = crate::platform::tgkill(g.host.0, g.host.0, sig);
        }
        match init {
            Some(init) if init.pid == 1 => self.signal_init(sig),
            Some(init) => {
                let _ = self.signal_container_init(&init, sig);
            }
            None => {}
        }
        Ok(())
    }

    /// Sends `sig` from outside the sandbox to `init`, an added
    /// container's init, by the rule the host kernel applies to the init
    /// of a pid namespace (which a container's init is under runc): a
    /// signal it has no handler for is dropped, save SIGKILL and SIGSTOP.
    /// The sandbox's own init is a pid namespace's init on the host, so
    /// the host applies the rule to it; an added container's init is not.
    pub fn signal_container_init(&self, init: &ThreadGroup, sig: i32) -> Result<(), Errno> {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            let caught = self
                .platform()
                .catches_signal(init.host, sig)
                .map_err(|_| Errno::ESRCH)?;
            if !caught {
                return Ok(());
            }
        }
        crate::platform::tgkill(init.host.0, init.host.0, sig).map_err(|_| Errno::ESRCH)
    }

    /// The live processes of `container`, in pid order.
    fn container_groups(&self, container: &str) -> Vec<Arc<ThreadGroup>> {
        let mut groups = self.groups();
        groups.retain(|g| &*g.container == container);
        groups
    }

    /// The init of `container` while it runs.
    pub fn container_init(&self, container: &str) -> Option<Arc<ThreadGroup>> {
        let pid = lock(&self.containers).get(container)?.init?;
        self.group(pid).filter(|g| &*g.container == container)
    }

    /// Whether `container` exists and its init has been started (it may
    /// have ended since).
    pub fn container_started(&self, container: &str) -> Option<bool> {
        if container == SANDBOX_CONTAINER {
            return Some(self.group(1).is_some());
        }
        lock(&self.containers)
            .get(container)
            .map(|c| c.init.is_some())
    }

    /// Blocks until the init of added container `id` has ended (or the
    /// container was removed, or killed before it started) and returns
    /// how; `None` for no such container. The sandbox's own container's
    /// init is waited for with [`Kernel::wait`].
    pub fn wait_container(&self, id: &str) -> Option<ExitStatus> {
        Some(self.container_exit(id)?.wait())
    }

    /// Where added container `id`'s init's exit will be recorded: held
    /// before the container is removed, it still answers (with SIGKILL).
    pub fn container_exit(&self, id: &str) -> Option<Arc<InitExit>> {
        lock(&self.containers).get(id).map(|c| c.exit.clone())
    }

    /// Ends added container `id` whose init was never started, as if its
    /// init had been killed by `sig` (a created container that is
    /// killed). False if it has started or does not exist.
    pub fn end_container_before_start(&self, id: &str, sig: i32) -> bool {
        let containers = lock(&self.containers);
        match containers.get(id) {
            Some(c) if id != SANDBOX_CONTAINER && c.init.is_none() => {
                c.exit.set(ExitStatus::Signaled {
                    signal: sig,
                    core_dumped: false,
                });
                true
            }
            _ => false,
        }
    }

    /// Kills every process of `container` (at once, as `SIGKILL` does).
    fn kill_container(&self, container: &str) {
        let hosts: Vec<HostTid> = lock(&self.pids)
            .by_host
            .iter()
            .filter(|(_, t)| &*t.group.container == container)
            .map(|(&host, _)| host)
            .collect();
        for host in hosts {
            self.platform().kill(host).ok();
        }
    }

    /// Ends a sandbox whose init was never started, as if init had been
    /// killed by `sig` (a created container that is killed).
    pub fn end_before_start(&self, sig: i32) {
        if self.group(1).is_none() {
            let mut exit = lock(&self.exit);
            if exit.is_none() {
                *exit = Some(SandboxExit::Signaled(sig));
                self.exited.notify_all();
            }
        }
    }

    /// A summary of each live process of `container`, in pid order.
    pub fn processes(&self, container: &str) -> Vec<ProcessInfo> {
        self.container_groups(container)
            .into_iter()
            .filter_map(|g| {
                let s = g.state();
                let first = s.threads.first()?.clone();
                let threads = s.threads.len() as u32;
                drop(s);
                Some(ProcessInfo {
                    pid: g.pid,
                    ppid: g.ppid(),
                    host_pid: g.host.0,
                    uid: first.fs_context().creds.uid,
                    threads,
                })
            })
            .collect()
    }

    /// Sends `sig` to the container's init from outside the sandbox (what
    /// `runc kill` does): as for any pid namespace's init, the host delivers
    /// it only if init handles it, or if it is `SIGKILL`.
    pub fn signal_init(&self, sig: i32) {
        let Some(init) = self.group(1) else { return };
        if let Err(e) = crate::platform::tgkill(init.host.0, init.host.0, sig) {
            tracing::debug!("signal {sig} to init: errno {e}");
        }
    }

    /// The console of process `pid` (1: init), if it was started with a
    /// terminal (for resizes).
    pub fn console(&self, pid: Pid) -> Option<Arc<crate::tty::Console>> {
        lock(&self.consoles).get(&pid).cloned()
    }

    pub fn platform(&self) -> &Platform {
        self.platform
            .get()
            .expect("the platform starts in Kernel::new")
    }

    fn start_control(self: &Arc<Kernel>) {
        let (tx, rx) = channel::<Control>();
        *lock(&self.control) = Some(tx);
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("sentry-control".into())
            .spawn(move || {
                for work in rx {
                    let Some(k) = weak.upgrade() else { return };
                    match work {
                        Control::Exec { task, call, args } => {
                            exec::exec_request(&k, &task, call, args)
                        }
                        Control::Signal { tid, signo } => {
                            if let Err(e) = k.platform().resume_signal(tid, Some(signo)) {
                                tracing::debug!("resume signal {signo} for {tid:?}: {e}");
                            }
                        }
                        Control::KillContainer(id) => k.kill_container(&id),
                    }
                }
            })
            .expect("start the sentry control thread");
    }

    /// Interrupts parked calls whose thread has a signal to take: the
    /// stubs' waits are not interruptible once the sentry holds a call, so
    /// the sentry looks for deliverable signals itself, every few
    /// milliseconds while any call is parked.
    fn start_signal_watch(self: &Arc<Kernel>) {
        const PERIOD: std::time::Duration = std::time::Duration::from_millis(5);
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("sentry-signals".into())
            .spawn(move || loop {
                std::thread::sleep(PERIOD);
                let Some(k) = weak.upgrade() else { return };
                if lock(&k.exit).is_some() {
                    return;
                }
                let parked: Vec<Arc<Task>> = lock(&k.pids)
                    .by_host
                    .values()
                    .filter(|t| t.parked().is_some())
                    .cloned()
                    .collect();
                for t in parked {
                    if k.platform().signal_deliverable(t.host).unwrap_or(false) {
                        if let Some(p) = t.parked() {
                            p.interrupt();
                        }
                        t.park(None);
                    }
                }
            })
            .expect("start the sentry signal watch thread");
    }

    fn control(&self, work: Control) {
        if let Some(tx) = lock(&self.control).as_ref() {
            tx.send(work).ok();
        }
    }

    fn on_event(self: &Arc<Kernel>, event: Event) {
        match event {
            Event::Syscall(trap) => crate::syscalls::dispatch(self, trap),
            Event::Cloned {
                parent,
                child,
                kind,
            } => self.on_clone(parent, child, kind),
            Event::Exited {
                tid,
                tgid: _,
                status,
                last,
            } => self.on_exit(tid, status, last),
            Event::ExecRequested { tid, call, args } => match self.task_by_host(tid) {
                Some(task) => self.control(Control::Exec { task, call, args }),
                None => tracing::warn!("exec from unknown thread {tid:?}"),
            },
            Event::Signal { tid, signal } => self.control(Control::Signal {
                tid,
                signo: signal.signo,
            }),
        }
    }

    pub fn task_by_host(&self, host: HostTid) -> Option<Arc<Task>> {
        lock(&self.pids).by_host.get(&host).cloned()
    }

    pub fn task(&self, tid: Pid) -> Option<Arc<Task>> {
        lock(&self.pids).tasks.get(&tid).cloned()
    }

    pub fn group(&self, pid: Pid) -> Option<Arc<ThreadGroup>> {
        lock(&self.pids).groups.get(&pid).cloned()
    }

    /// All live processes, in pid order.
    pub fn groups(&self) -> Vec<Arc<ThreadGroup>> {
        let mut v: Vec<_> = lock(&self.pids).groups.values().cloned().collect();
        v.sort_by_key(|g| g.pid);
        v
    }

    fn on_clone(self: &Arc<Kernel>, parent: HostTid, child: HostTid, kind: CloneKind) {
        let Some(p) = self.task_by_host(parent) else {
            tracing::warn!("clone from unknown thread {parent:?}");
            return;
        };
        let tid = match self.platform().ns_tid(child) {
            Ok(tid) => tid,
            Err(e) => {
                tracing::warn!("id of new task {child:?}: {e}; killing it");
                self.platform().kill(child).ok();
                return;
            }
        };
        let mut pids = lock(&self.pids);
        let task = match kind {
            CloneKind::Thread => {
                let t = Task::new(tid, child, p.group.clone(), p.files.clone(), p.fs.clone());
                p.group.state().threads.push(t.clone());
                t
            }
            CloneKind::Process | CloneKind::Vfork => {
                let group = p.group.fork(tid, child);
                let fs = Arc::new(Mutex::new(p.fs_context()));
                let t = Task::new(tid, child, group.clone(), Arc::new(p.files.fork()), fs);
                group.state().threads.push(t.clone());
                p.group.state().children.push(group.clone());
                pids.groups.insert(tid, group);
                t
            }
        };
        pids.by_host.insert(child, task.clone());
        pids.tasks.insert(tid, task);
    }

    fn on_exit(self: &Arc<Kernel>, host: HostTid, status: HostExit, last: bool) {
        tracing::info!("exit of {host:?}: {status:?} last={last}");
        let task = {
            let mut pids = lock(&self.pids);
            let Some(task) = pids.by_host.remove(&host) else {
                return;
            };
            pids.tasks.remove(&task.tid);
            task
        };
        task.park(None);
        let group = task.group.clone();
        let status = match status {
            HostExit::Code(c) => ExitStatus::Exited(c),
            HostExit::Signaled {
                signal,
                core_dumped,
            } => ExitStatus::Signaled {
                signal,
                core_dumped,
            },
        };
        {
            let mut s = group.state();
            s.threads.retain(|t| t.host != host);
            if !last {
                return;
            }
            s.exit = Some(status);
        }
        if group.pid == 1 {
            self.end(status);
            return;
        }
        if group.parent().is_none() {
            // An exec'd process's terminal hangs up with it: the host side
            // sees the end of its output.
            lock(&self.consoles).remove(&group.pid);
            if !self.end_container(&group, status) {
                lock(&self.exited_processes).insert(group.pid, status);
                self.process_exited.notify_all();
            }
        }
        // The host reaps the process (wait4 is native) and re-parents its
        // orphans to init; the kernel's tables just follow.
        if let Some(parent) = group.parent() {
            parent.state().children.retain(|c| !Arc::ptr_eq(c, &group));
        }
        let orphans = std::mem::take(&mut group.state().children);
        if let Some(init) = self.group(1) {
            for c in &orphans {
                c.state().parent = Arc::downgrade(&init);
            }
            init.state().children.extend(orphans);
        }
        lock(&self.pids).groups.remove(&group.pid);
    }

    /// If `group` is an added container's init: its exit is kept for
    /// [`Kernel::wait_container`], and the container's other processes die
    /// with it, as a pid namespace's do with its init. The container
    /// itself stays until it is removed.
    fn end_container(&self, group: &ThreadGroup, status: ExitStatus) -> bool {
        let exit = match lock(&self.containers).get(&group.container) {
            Some(c) if c.init == Some(group.pid) => c.exit.clone(),
            _ => return false,
        };
        // Exits arrive on the platform's tracer thread, which kills
        // processes itself: the control thread asks it.
        self.control(Control::KillContainer(group.container.clone()));
        exit.set(status);
        true
    }

    /// Init is gone: every other process dies with it (as in a pid
    /// namespace), and the sandbox reports init's status.
    fn end(&self, status: ExitStatus) {
        let others: Vec<HostTid> = lock(&self.pids).by_host.keys().copied().collect();
        for host in others {
            self.platform().kill(host).ok();
        }
        let exit = match status {
            ExitStatus::Exited(c) => SandboxExit::Exited(c),
            ExitStatus::Signaled { signal, .. } => SandboxExit::Signaled(signal),
        };
        *lock(&self.exit) = Some(exit);
        self.exited.notify_all();
        // Waiters for other processes learn that these died with init.
        let _done = lock(&self.exited_processes);
        self.process_exited.notify_all();
        let exits: Vec<_> = lock(&self.containers)
            .values()
            .map(|c| c.exit.clone())
            .collect();
        for exit in exits {
            exit.set(KILLED);
        }
    }
}

/// Builds a container's mount namespace: `root` with `mounts` on it.
fn build_vfs(
    root: MountSource,
    root_readonly: bool,
    mounts: Vec<MountConfig>,
    deps: &FsDeps,
) -> Result<Arc<Vfs>, BootError> {
    let root = mount_fs(root, deps)
        .map_err(|e| BootError::Mount {
            path: "/".into(),
            errno: e.errno,
        })?
        .ok_or_else(|| BootError::Mount {
            path: "/".into(),
            errno: Errno::EINVAL,
        })?;
    let vfs = Arc::new(Vfs::new(root, root_readonly).map_err(|e| BootError::Mount {
        path: "/".into(),
        errno: e.errno,
    })?);
    let admin = FsContext::new(&vfs);
    for m in mounts {
        let shown = String::from_utf8_lossy(&m.destination).into_owned();
        let fs = mount_fs(m.source, deps).map_err(|e| BootError::Mount {
            path: shown.clone(),
            errno: e.errno,
        })?;
        // A bind mount of a file is mounted on a file.
        let file = fs.as_ref().is_some_and(|fs| {
            fs.root()
                .and_then(|r| r.file_type())
                .is_ok_and(|t| t != FileType::Directory)
        });
        // Mount points exist even for mounts the sentry does not provide
        // (as runc leaves them), so listings match.
        make_mount_point(&vfs, &admin, &m.destination, file);
        let Some(fs) = fs else {
            continue;
        };
        if vfs.lookup(&admin, At::Cwd, &m.destination, true).is_err() {
            // runc would create it in the host's rootfs; a read-only root
            // served by the gofer cannot take it.
            tracing::warn!(
                "sentry: mount point {shown} is missing from the read-only root; mount skipped"
            );
            continue;
        }
        vfs.mount(&admin, At::Cwd, &m.destination, fs, m.readonly)
            .map_err(|e| BootError::Mount {
                path: shown,
                errno: e.errno,
            })?;
    }
    Ok(vfs)
}

/// Creates a missing mount point and its missing parent directories, as
/// runtimes do: a directory, or an empty file for a mount of a file.
fn make_mount_point(vfs: &Vfs, cx: &FsContext, path: &[u8], file: bool) {
    let mut prefix = Vec::new();
    let comps: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for (i, comp) in comps.iter().enumerate() {
        prefix.push(b'/');
        prefix.extend_from_slice(comp);
        if file && i + 1 == comps.len() {
            let flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC) as u32;
            if let Err(e) = vfs.open(cx, At::Cwd, &prefix, flags, 0o644) {
                tracing::debug!(
                    "mount point {}: {}",
                    String::from_utf8_lossy(&prefix),
                    e.errno.name()
                );
            }
            return;
        }
        if let Err(e) = vfs.mkdir(cx, At::Cwd, &prefix, 0o755) {
            if e.errno != Errno::EEXIST {
                tracing::debug!(
                    "mount point {}: {}",
                    String::from_utf8_lossy(&prefix),
                    e.errno.name()
                );
                return;
            }
        }
    }
}

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("mount {path}: {}", errno.name())]
    Mount { path: String, errno: Errno },
    #[error("platform: {0}")]
    Platform(String),
    #[error(
        "unable to start container process: open /dev/ptmx: {} (a terminal needs devpts at /dev/pts)",
        describe(*errno)
    )]
    Console { errno: Errno },
    #[error("working directory {path}: {}", errno.name())]
    Cwd { path: String, errno: Errno },
    #[error("unable to start container process: exec: {path:?}: {}", describe(*errno))]
    Exec { path: String, errno: Errno },
    #[error("unable to start container process: exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("the sandbox has ended")]
    Ended,
    #[error("the sandbox's init has not started")]
    NotStarted,
    #[error("container {0} does not exist")]
    NoContainer(String),
    #[error("container {0} exists already")]
    ContainerExists(String),
    #[error("the sandbox's own container cannot be removed")]
    RemoveSandbox,
}

/// An errno as runc words it in its messages: the C library's text, with a
/// lower-case first letter ("permission denied").
fn describe(errno: Errno) -> String {
    let text = std::io::Error::from_raw_os_error(errno.as_raw()).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

impl BootError {
    /// The exit status a runtime reports for this failure: 127 when the
    /// program does not exist, 126 when it cannot be executed, else 1
    /// (the conventions of shells and of runc).
    pub fn exit_status(&self) -> i32 {
        match self {
            BootError::NotFound(_)
            | BootError::Exec {
                errno: Errno::ENOENT,
                ..
            } => 127,
            BootError::Exec { .. } => 126,
            _ => 1,
        }
    }
}

impl Kernel {
    /// `Kernel::new` then `Kernel::run`, for callers with nothing to do in
    /// between.
    pub fn boot(mut cfg: BootConfig) -> Result<SandboxExit, BootError> {
        let k = Kernel::new(&mut cfg)?;
        k.run(cfg.container.init)
    }
}
