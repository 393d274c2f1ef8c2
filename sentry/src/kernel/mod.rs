//! The kernel: processes, threads and their ids, descriptor tables, exec and
//! exit, built on the [`crate::platform`] (which runs the application) and
//! the [`crate::vfs`] (which holds its files). System calls arrive as
//! platform events and are served by [`crate::syscalls`].
//!
//! Lock order: `Kernel::pids`, then `ThreadGroup` states (see [`task`]),
//! then VFS locks. Platform control calls (which block until the tracer has
//! acted) are made only from the control thread or a boot thread, never from
//! the platform's receiver threads.
#![deny(unsafe_code)]

pub mod exec;
pub mod fdtable;
pub mod procs;
pub mod sched;
pub mod task;

use crate::boot::{BootConfig, MountSource, ProcessSpec, SandboxExit};
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
use task::{ExitStatus, Image, Pid, Task, ThreadGroup};

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
}

/// A running sandbox.
pub struct Kernel {
    platform: OnceLock<Platform>,
    pub vfs: Arc<Vfs>,
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
        let deps = FsDeps {
            procs: Arc::new(procs::KernelProcs::default()),
            host: crate::vfs::procfs::HostInfo::capture(),
        };
        let root_source = std::mem::replace(&mut cfg.root, MountSource::Proc);
        let root = mount_fs(root_source, &deps)
            .map_err(|e| BootError::Mount {
                path: "/".into(),
                errno: e.errno,
            })?
            .ok_or_else(|| BootError::Mount {
                path: "/".into(),
                errno: Errno::EINVAL,
            })?;
        let vfs = Vfs::new(root, cfg.root_readonly).map_err(|e| BootError::Mount {
            path: "/".into(),
            errno: e.errno,
        })?;
        let admin = FsContext::new(vfs.root());
        for m in std::mem::take(&mut cfg.mounts) {
            let shown = String::from_utf8_lossy(&m.destination).into_owned();
            let fs = mount_fs(m.source, &deps).map_err(|e| BootError::Mount {
                path: shown.clone(),
                errno: e.errno,
            })?;
            // A bind mount of a file is mounted on a file.
            let file = match &fs {
                Some(fs) => fs
                    .root()
                    .and_then(|r| r.stat())
                    .is_ok_and(|st| st.file_type() != Some(FileType::Directory)),
                None => false,
            };
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
        let kernel = Arc::new(Kernel {
            platform: OnceLock::new(),
            vfs: Arc::new(vfs),
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
        deps.procs.set(&kernel);
        kernel.start_control();
        kernel.start_signal_watch();
        Ok(kernel)
    }

    /// Runs the container's init until it exits, then ends the sandbox.
    pub fn run(self: &Arc<Kernel>, init: ProcessSpec) -> Result<SandboxExit, BootError> {
        let init = self.prepare(init)?;
        self.start(init)?;
        Ok(self.wait())
    }

    /// Checks what can fail before a process starts (working directory,
    /// program lookup) and builds its descriptor table, as `runc create`
    /// does before the container's init waits to be started.
    pub fn prepare(self: &Arc<Kernel>, spec: ProcessSpec) -> Result<Prepared, BootError> {
        let mut cx = FsContext::new(self.vfs.root());
        cx.creds = Credentials {
            uid: spec.user.uid,
            gid: spec.user.gid,
            groups: spec.user.additional_gids.clone(),
            caps: CapSet(spec.capabilities),
        };
        cx.umask = spec.user.umask.unwrap_or(0o022);
        cx.cwd = self
            .vfs
            .lookup_dir(&cx, At::Cwd, &spec.cwd)
            .map_err(|e| BootError::Cwd {
                path: String::from_utf8_lossy(&spec.cwd).into_owned(),
                errno: e.errno,
            })?;

        let files = Arc::new(FdTable::default());
        let (console, host_stdio) = if spec.terminal {
            let [host, ..] = spec.stdio;
            (Some(self.attach_console(&files, host)?), Vec::new())
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
        let path = exec::find_in_path(self, &cx, &spec.argv, &envp)?;
        Ok(Prepared {
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
    /// do, and their exits are kept for [`Kernel::wait_process`].
    pub fn start(self: &Arc<Kernel>, p: Prepared) -> Result<Pid, BootError> {
        let platform_err = |e: crate::platform::PlatformError| BootError::Platform(e.to_string());
        let expose = self
            .expose_processes
            .load(std::sync::atomic::Ordering::Relaxed);
        let host = match self.group(1) {
            None if lock(&self.exit).is_none() && expose => {
                self.platform().create_process_showing_proc()
            }
            None if lock(&self.exit).is_none() => self.platform().create_process(),
            Some(init) => self.platform().create_process_beside(init.host),
            None => return Err(BootError::Ended),
        }
        .map_err(platform_err)?;
        let pid = match self.platform().ns_tid(host) {
            Ok(pid) => pid,
            Err(e) => {
                self.platform().kill(host).ok();
                return Err(platform_err(e));
            }
        };
        // A new session and process group of its own, as the container's
        // init has, and as an exec'd process has once it calls setsid.
        let group = ThreadGroup::new(
            pid,
            host,
            Weak::new(),
            pid,
            pid,
            Image::default(),
            p.rlimits,
        );
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
        self: &Arc<Kernel>,
        files: &FdTable,
        host: OwnedFd,
    ) -> Result<Arc<crate::tty::Console>, BootError> {
        let console = crate::tty::attach_console(self, host)
            .map_err(|e| BootError::Platform(format!("console: {}", e.errno.name())))?;
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
                return self.group(pid).map(|_| ExitStatus::Signaled {
                    signal: libc::SIGKILL,
                    core_dumped: false,
                });
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
        let passwd = self
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

    /// Sends `sig` to every process of the sandbox (`runc kill --all`),
    /// init last, so that it cannot end the others' chance to see it.
    pub fn signal_all(&self, sig: i32) -> Result<(), Errno> {
        let groups = self.groups();
        if groups.is_empty() {
            return Err(Errno::ESRCH);
        }
        for g in groups.iter().filter(|g| g.pid != 1) {
            let _ = crate::platform::tgkill(g.host.0, g.host.0, sig);
        }
        if groups.iter().any(|g| g.pid == 1) {
            self.signal_init(sig);
        }
        Ok(())
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

    /// A summary of each live process, in pid order.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.groups()
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
                let (pgid, sid, image, rlimits) = {
                    let s = p.group.state();
                    (s.pgid, s.sid, s.image.clone(), s.rlimits)
                };
                let group = ThreadGroup::new(
                    tid,
                    child,
                    Arc::downgrade(&p.group),
                    pgid,
                    sid,
                    image,
                    rlimits,
                );
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
            lock(&self.exited_processes).insert(group.pid, status);
            self.process_exited.notify_all();
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
    }
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
    #[error("working directory {path}: {}", errno.name())]
    Cwd { path: String, errno: Errno },
    #[error("unable to start container process: exec: {path:?}: {}", describe(*errno))]
    Exec { path: String, errno: Errno },
    #[error("unable to start container process: exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("the sandbox has ended")]
    Ended,
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
        k.run(cfg.init)
    }
}
