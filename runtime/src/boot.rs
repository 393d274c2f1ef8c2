//! `vigil boot`: the sentry process. It turns the bundle's spec and the
//! inherited gofer connections into the kernel's [`BootConfig`], jails
//! itself ([`jail_and_run`]) and runs the container until it ends.
//!
//! It starts (see [`crate::sandbox`]) as root of new user, mount, pid, ipc,
//! uts and network namespaces, with the container's stdio as FDs 0-2 and
//! one lisafs socket per served mount from FD 3 on: the root's, then each
//! bind mount's in spec order.

use crate::bundle::Bundle;
use caps::{CapSet, Capability, CapsHashSet};
use lisafs::Socket;
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::{Mount, PosixRlimitType, Process, Spec};
use sentry::boot::{
    BootConfig, ContainerConfig, MountConfig, MountSource, ProcessSpec, Rlimit, SandboxExit,
    UserConfig,
};
use sentry::kernel::{BootError, Kernel};

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Host signals `vigil run` forwards to the sentry (see
/// [`crate::sandbox`]). The sentry blocks them in every thread and takes
/// them on one thread with `sigwait`, so they are neither lost (the sentry
/// is its pid namespace's init: the host drops signals it does not handle)
/// nor delivered to a thread in the middle of kernel work.
pub const FORWARDED: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Every signal the sentry takes on its signal thread: the forwarded ones,
/// and `SIGWINCH`, which the host sends it when the window of its console
/// (its controlling terminal, see [`crate::console`]) changes size.
const TAKEN: [i32; 5] = [
    FORWARDED[0],
    FORWARDED[1],
    FORWARDED[2],
    FORWARDED[3],
    libc::SIGWINCH,
];

/// Where the empty root is built: a tmpfs mounted over this directory in
/// the sentry's own mount namespace, so the host's directory is untouched.
const NEW_ROOT: &str = "/tmp";

/// The byte the sentry writes on its readiness pipe once the sandbox is
/// ready; anything else there is the text of why it failed.
pub const READY: u8 = 1;

/// How `vigil boot` was started.
#[derive(Debug, Clone)]
pub struct BootArgs {
    pub id: String,
    pub bundle: PathBuf,
    pub io_fds: Vec<RawFd>,
    /// Written (one byte) and closed once the sentry is jailed and its
    /// kernel built.
    pub ready_fd: Option<RawFd>,
    /// Inherited listening sockets of the control API and of FD
    /// hand-overs (see [`crate::control`]).
    pub control_fds: Option<(RawFd, RawFd)>,
    /// Init waits for the control API's `Start`.
    pub wait_start: bool,
    pub strace: bool,
    /// FD 0 is the replica of a host pty: the container's console.
    pub terminal: bool,
    pub directfs: bool,
    pub overlay2: Option<String>,
    pub network: crate::sandbox::Network,
    /// The hostname when the spec has none (see [`crate::sandbox`]).
    pub hostname: Option<String>,
}

/// Why the sentry could not run the container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
    #[error("--io-fds lists {given} FDs, but the spec has {expected} mounts served by the gofer")]
    IoFdCount { given: usize, expected: usize },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    IoFd(#[from] lisafs::transport::AdoptError),
    #[error("--ready-fd {0} is not an open FD above 2")]
    ReadyFd(RawFd),
    #[error("stdio FD {fd}: {errno}")]
    Stdio { fd: RawFd, errno: rustix::io::Errno },
    #[error("{step}: {errno}")]
    Syscall {
        step: &'static str,
        errno: nix::errno::Errno,
    },
    #[error("capabilities: {0}")]
    Capabilities(String),
    #[error("make the console the sentry's controlling terminal: {0}")]
    Console(rustix::io::Errno),
    #[error(transparent)]
    Seccomp(#[from] sentry::seccomp::Error),
    #[error(transparent)]
    Kernel(#[from] BootError),
    #[error("--control-fd and --fds-fd: {0}")]
    ControlFd(std::io::Error),
    #[error("serve the control API: {0}")]
    Control(String),
}

impl Error {
    /// The exit status of a sentry that failed: the kernel's convention for
    /// its own errors (127 for a missing program), else 1.
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::Kernel(e) => e.exit_status(),
            _ => 1,
        }
    }
}

/// The sentry's whole life: config, jail, kernel. Runs on the process's
/// main thread while it is the only one.
///
/// A failure before the sandbox is ready is written to the readiness pipe
/// (the runtime reports it: to its stderr, and to runc's JSON log where
/// the runc shim looks); [`Failure::reported`] says so.
pub fn run(args: BootArgs) -> Result<SandboxExit, Failure> {
    let mut ready = args
        .ready_fd
        .map(adopt_ready_fd)
        .transpose()
        .map_err(|error| Failure {
            error,
            reported: false,
        })?;
    let result = boot(args, &mut ready);
    let reported = match (&result, ready.take()) {
        (Err(e), Some(fd)) => write_all(&fd, e.to_string().as_bytes()).is_ok(),
        _ => false,
    };
    result.map_err(|error| Failure { error, reported })
}

/// Why `vigil boot` failed, and whether the runtime was told.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    pub reported: bool,
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`run`] without the failure report. Takes `ready` when it signals that
/// the sandbox is ready.
fn boot(args: BootArgs, ready: &mut Option<OwnedFd>) -> Result<SandboxExit, Error> {
    let bundle = Bundle::load(&args.bundle)?;
    if args.io_fds.len() != bundle.served_mounts() {
        return Err(Error::IoFdCount {
            given: args.io_fds.len(),
            expected: bundle.served_mounts(),
        });
    }
    let sockets = Socket::adopt(&args.io_fds)?;
    let control = match args.control_fds {
        Some((api, fds)) => Some(ControlSockets {
            api: crate::control::adopt_listener(api).map_err(Error::ControlFd)?,
            fds: crate::control::adopt_listener(fds).map_err(Error::ControlFd)?,
            wait_start: args.wait_start,
        }),
        None => None,
    };
    let stdio = take_stdio()?;
    tracing::info!(
        id = args.id,
        directfs = args.directfs,
        overlay2 = args.overlay2.as_deref().unwrap_or("none"),
        network = ?args.network,
        "sentry starting"
    );
    let mut cfg = boot_config(&bundle.spec, sockets, stdio, args.strace)?;
    cfg.container.init.terminal = args.terminal;
    if cfg.hostname.is_empty() {
        // As under runc, a spec without a hostname leaves the container the
        // name of the UTS namespace it runs in: the one the spec joins by
        // path, or else a new one, which starts with its creator's (the
        // sentry's own UTS namespace is such a new one).
        cfg.hostname = match args.hostname {
            Some(joined) => joined.into_bytes(),
            None => rustix::system::uname().nodename().to_bytes().to_vec(),
        };
    }
    // The sandbox's host UTS namespace carries the hostname too, so that a
    // container that joins it by path finds it there.
    if let Err(e) = rustix::system::sethostname(&cfg.hostname) {
        tracing::warn!("cannot set the sandbox's host UTS namespace's hostname: {e}");
    }
    let kept = kept_capabilities(args.directfs);
    block_forwarded_signals()?;
    jail_and_run(cfg, &kept, ready, control)
}

/// The jail, top to bottom, and the kernel inside it.
///
/// Capabilities (and `no_new_privs`) are per thread, and a new thread (or
/// a stub forked from one) starts with its creator's. So the kernel is
/// built on a thread that has already dropped to what the kernel's threads
/// need ([`kernel_capabilities`]); every thread the kernel starts, and
/// every stub, inherits only those. This thread keeps everything for the
/// mounts and then drops to `kept`.
pub fn jail_and_run(
    mut cfg: BootConfig,
    kept: &CapsHashSet,
    ready: &mut Option<OwnedFd>,
    control: Option<ControlSockets>,
) -> Result<SandboxExit, Error> {
    // Our mount namespace is a copy of the host's; nothing done in it may
    // propagate back to the host.
    mount(None, "/", None, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None)
        .map_err(sys("make / private"))?;

    // The platform keeps a /proc FD for good (it maps stub ids to sandbox
    // ids through it): give it a procfs of the sentry's own pid namespace,
    // which shows the sentry and its stubs and nothing of the host.
    let own_proc = mount_own_proc();

    // The new root: an empty tmpfs, over a directory of the copied tree.
    mount(
        Some("tmpfs"),
        NEW_ROOT,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("size=4k,nr_inodes=8,mode=0555"),
    )
    .map_err(sys("mount the new root"))?;
    // The new root's /proc: the sentry's procfs now, the sandbox's once
    // init runs (see `Kernel::expose_processes`). A procfs can be mounted
    // in a mount namespace only where one is fully visible already.
    let proc_in_root = own_proc
        && nix::unistd::mkdir(
            &Path::new(NEW_ROOT).join("proc"),
            nix::sys::stat::Mode::from_bits_truncate(0o555),
        )
        .is_ok()
        && mount(
            Some("/proc"),
            &format!("{NEW_ROOT}/proc"),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .is_ok();

    // The kernel connects to the gofer, builds the sandbox's mounts and
    // starts the platform, which reads /proc/self/maps: so before the pivot.
    let kernel_caps = kernel_capabilities(kept);
    let kernel = std::thread::scope(|s| {
        s.spawn(|| {
            limit_capabilities(&kernel_caps)?;
            nix::sys::prctl::set_no_new_privs().map_err(sys("set no_new_privs"))?;
            Kernel::new(&mut cfg).map_err(Error::from)
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;

    // The host pty becomes the sentry's controlling terminal, so that the
    // host reports window size changes to it (SIGWINCH, taken by the signal
    // thread). After the platform forked its zygote, so that stubs do not
    // inherit it.
    if cfg.container.init.terminal {
        rustix::process::ioctl_tiocsctty(&cfg.container.init.stdio[0]).map_err(Error::Console)?;
    }

    // pivot_root(".", ".") stacks the old root under the new one; detaching
    // "." then drops the whole host tree from this namespace. It changes the
    // root of every thread (and of the platform's helpers) at once.
    nix::unistd::chdir(NEW_ROOT).map_err(sys("chdir to the new root"))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root"))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach the old root"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))?;
    mount(
        None,
        "/",
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None,
    )
    .map_err(sys("remount / read-only"))?;

    limit_capabilities(kept)?;
    nix::sys::prctl::set_no_new_privs().map_err(sys("set no_new_privs"))?;
    if proc_in_root {
        kernel.expose_processes();
    }

    // The sentry's own filter, on every thread (the kernel's already run).
    // Stubs never inherit it: the platform's zygote, forked before this
    // point, creates them.
    sentry::seccomp::install_sentry_filter()?;

    spawn_signal_thread(&kernel);
    // What can fail before init runs (its program, its working directory)
    // fails before the runtime is told the sandbox is ready, as `runc
    // create` fails.
    let init = kernel.prepare(sentry::kernel::SANDBOX_CONTAINER, cfg.container.init)?;
    let (init, server) = match control {
        Some(c) => {
            let (waiting, now) = if c.wait_start {
                (Some(init), None)
            } else {
                (None, Some(init))
            };
            let server = crate::control::Server::start(kernel.clone(), waiting, c.api, c.fds)
                .map_err(|e| Error::Control(e.to_string()))?;
            (now, Some(server))
        }
        None => (Some(init), None),
    };
    if let Some(init) = init {
        kernel.start(init)?;
    }
    if let Some(ready) = ready.take() {
        // The runtime only waits for this; if it is gone, so is the point.
        let _ = rustix::io::write(&ready, &[READY]);
    }
    let exit = kernel.wait();
    if let Some(server) = server {
        server.finish();
    }
    Ok(exit)
}

/// The sandbox's control sockets, inherited listening.
pub struct ControlSockets {
    /// The ttrpc API.
    pub api: OwnedFd,
    /// FD hand-overs.
    pub fds: OwnedFd,
    /// Init waits for the API's `Start` (`vigil create`) rather than
    /// starting at once (`vigil run`).
    pub wait_start: bool,
}

/// The capabilities the sentry keeps: ptrace of its stubs, and, with
/// directfs, the file capabilities that let it open files of any owner as
/// the container's root would (its own checks decide what the application
/// may do).
///
/// The tracer only attaches to its own children, which the default ptrace
/// policy allows without any capability (the platform was checked to run
/// with none at all); `CAP_SYS_PTRACE` is kept for hosts whose Yama policy
/// is admin-only. It reaches no further than the sentry's user namespace,
/// which holds nothing but the sentry and its stubs.
pub fn kept_capabilities(directfs: bool) -> CapsHashSet {
    let mut kept: CapsHashSet = [Capability::CAP_SYS_PTRACE].into_iter().collect();
    if directfs {
        kept.extend([
            Capability::CAP_CHOWN,
            Capability::CAP_DAC_OVERRIDE,
            Capability::CAP_DAC_READ_SEARCH,
            Capability::CAP_FOWNER,
            Capability::CAP_FSETID,
        ]);
    }
    kept
}

/// What the kernel's threads keep: `kept`, and `CAP_SYS_ADMIN`, because the
/// platform's tracer clones each stub tree into a pid namespace of its own
/// (`CLONE_NEWPID`), which needs it over the sentry's pid namespace. It is
/// the capability of the sentry's user namespace, which owns no host
/// resource: the sentry's (empty, read-only) mounts, its own namespaces.
pub fn kernel_capabilities(kept: &CapsHashSet) -> CapsHashSet {
    let mut caps = kept.clone();
    caps.insert(Capability::CAP_SYS_ADMIN);
    caps
}

/// Mounts a procfs of the sentry's pid namespace over `/proc`. Where the
/// host forbids it (a `/proc` with masked paths, as inside a container,
/// makes a new procfs "too revealing"), the copied host `/proc` stays and
/// the sentry can see the host's process list: logged, not fatal. True
/// when the sentry's own procfs is mounted.
fn mount_own_proc() -> bool {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match mount(Some("proc"), "/proc", Some("proc"), flags, None) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(
                "cannot mount the sentry's own /proc ({e}); the host's stays visible to it"
            );
            false
        }
    }
}

/// Leaves exactly `keep` in the calling thread's bounding, inheritable,
/// effective and permitted sets, and nothing in the ambient set.
fn limit_capabilities(keep: &CapsHashSet) -> Result<(), Error> {
    let err = |set: &str, e: caps::errors::CapsError| Error::Capabilities(format!("{set}: {e}"));
    // Bounding first: dropping from it needs CAP_SETPCAP, which is about to
    // go from the effective set.
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| err("bounding", e))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
    caps::set(None, CapSet::Inheritable, keep).map_err(|e| err("inheritable", e))?;
    caps::set(None, CapSet::Effective, keep).map_err(|e| err("effective", e))?;
    caps::set(None, CapSet::Permitted, keep).map_err(|e| err("permitted", e))
}

fn taken_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    for sig in TAKEN {
        set.add(nix::sys::signal::Signal::try_from(sig).expect("a valid signal"));
    }
    set
}

fn block_forwarded_signals() -> Result<(), Error> {
    let set = taken_signals();
    nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(sys("block forwarded signals"))
}

/// Takes the signals the sentry handles (blocked in every thread since
/// [`block_forwarded_signals`]) off the process, one at a time: forwarded
/// ones go to the container's init, `SIGWINCH` resizes its console.
fn spawn_signal_thread(kernel: &std::sync::Arc<Kernel>) {
    let kernel = std::sync::Arc::downgrade(kernel);
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let set = taken_signals();
            loop {
                match set.wait() {
                    Ok(sig) => match kernel.upgrade() {
                        Some(k) if sig == nix::sys::signal::Signal::SIGWINCH => {
                            if let Some(console) = k.console(1) {
                                console.resize();
                            }
                        }
                        Some(k) => k.signal_init(sig as i32),
                        None => return,
                    },
                    Err(e) => {
                        tracing::warn!("sigwait: {e}");
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the signal thread: {e}");
    }
}

/// Why a spec cannot become a container of the kernel. A bundle is checked
/// before boot; a spec sent to a running sandbox is checked here.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("the spec has no process")]
    NoProcess,
    #[error("{given} gofer sockets were handed over, but the spec has {expected} mounts served by the gofer")]
    Sockets { given: usize, expected: usize },
}

/// The kernel's view of the spec of the container a sandbox boots with.
/// The `sockets` are the root's, then one per bind mount in spec order (as
/// the gofer serves them).
pub fn boot_config(
    spec: &Spec,
    sockets: Vec<Socket>,
    stdio: [OwnedFd; 3],
    strace: bool,
) -> Result<BootConfig, SpecError> {
    Ok(BootConfig {
        container: container_config(spec, sockets, stdio)?,
        hostname: spec.hostname().as_deref().unwrap_or("").as_bytes().to_vec(),
        strace,
    })
}

/// How many connections the gofer serves for `spec`: the root's, and one
/// per bind mount.
fn served_mounts(spec: &Spec) -> usize {
    1 + spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .count()
}

/// The kernel's view of a container's spec (the sandbox's own, or one
/// added to it), with `sockets` as for [`boot_config`].
pub fn container_config(
    spec: &Spec,
    sockets: Vec<Socket>,
    stdio: [OwnedFd; 3],
) -> Result<ContainerConfig, SpecError> {
    let expected = served_mounts(spec);
    if sockets.len() != expected {
        return Err(SpecError::Sockets {
            given: sockets.len(),
            expected,
        });
    }
    let process = spec.process().as_ref().ok_or(SpecError::NoProcess)?;
    let mut sockets = sockets.into_iter();
    let root = MountSource::Gofer {
        socket: sockets.next().expect("counted above"),
        exclusive: true,
    };
    let mut mounts: Vec<MountConfig> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| MountConfig {
            destination: m.destination().as_os_str().as_bytes().to_vec(),
            source: mount_source(m, &mut sockets),
            readonly: has_option(m, "ro"),
        })
        .collect();
    // runc gives every container its default devices (/dev/null, zero,
    // full, random, urandom, tty) whether or not the spec mounts /dev;
    // the sandbox's /dev is where they live.
    if !mounts.iter().any(|m| m.destination == b"/dev") {
        mounts.insert(
            0,
            MountConfig {
                destination: b"/dev".to_vec(),
                source: MountSource::Dev,
                readonly: false,
            },
        );
    }
    Ok(ContainerConfig {
        root,
        root_readonly: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        mounts,
        init: process_spec(process, stdio),
    })
}

/// The kernel's view of an OCI process (the spec's, or one given to `exec`).
pub fn process_spec(process: &Process, stdio: [OwnedFd; 3]) -> ProcessSpec {
    let user = process.user();
    process_spec_parts(
        process.args().clone().unwrap_or_default(),
        process.env().clone().unwrap_or_default(),
        process.cwd().to_string_lossy().into_owned(),
        UserConfig {
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
        },
        process
            .capabilities()
            .as_ref()
            .and_then(|c| c.effective().as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.to_string()),
        process
            .rlimits()
            .iter()
            .flatten()
            .map(|r| Rlimit {
                resource: rlimit_resource(r.typ()),
                soft: r.soft(),
                hard: r.hard(),
            })
            .collect(),
        stdio,
    )
}

/// A [`ProcessSpec`] from its parts, capabilities by name (`CAP_X` or `X`).
pub fn process_spec_parts(
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: UserConfig,
    capabilities: impl Iterator<Item = String>,
    rlimits: Vec<Rlimit>,
    stdio: [OwnedFd; 3],
) -> ProcessSpec {
    ProcessSpec {
        argv: args.into_iter().map(String::into_bytes).collect(),
        envp: env.into_iter().map(String::into_bytes).collect(),
        cwd: cwd.into_bytes(),
        user,
        capabilities: capability_mask(capabilities),
        rlimits,
        stdio,
        // The caller (`--terminal`, an exec request), not the spec, says
        // whether FD 0 is a pty.
        terminal: false,
    }
}

/// Whether the gofer serves `m`: its rule, so that both sides count the
/// same connections (a `bind`/`rbind` option makes a bind mount whatever
/// the type says, as in runc).
pub fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind") || has_option(m, "bind") || has_option(m, "rbind")
}

fn has_option(m: &Mount, option: &str) -> bool {
    m.options().iter().flatten().any(|o| o == option)
}

fn mount_source(m: &Mount, sockets: &mut impl Iterator<Item = Socket>) -> MountSource {
    if is_bind(m) {
        return MountSource::Gofer {
            socket: sockets.next().expect("counted by container_config"),
            exclusive: false,
        };
    }
    let typ = m.typ().as_deref().unwrap_or("");
    match typ {
        "proc" => MountSource::Proc,
        // The sentry provides /dev itself, as runsc does.
        "tmpfs" if m.destination() == Path::new("/dev") => MountSource::Dev,
        "tmpfs" => MountSource::Tmpfs {
            mode: tmpfs_mode(m).unwrap_or(0o1777),
        },
        "sysfs" => MountSource::Sys,
        "devpts" => MountSource::Devpts,
        other => MountSource::Unsupported(other.to_string()),
    }
}

/// `mode=1777` among the options, in octal as mount(8) reads it.
fn tmpfs_mode(m: &Mount) -> Option<u32> {
    m.options()
        .iter()
        .flatten()
        .filter_map(|o| o.strip_prefix("mode="))
        .filter_map(|v| u32::from_str_radix(v, 8).ok())
        .next_back()
        .map(|mode| mode & 0o7777)
}

/// A bit per capability (`1 << CAP_*`); names the host does not know are
/// left out with a log line.
fn capability_mask(names: impl Iterator<Item = String>) -> u64 {
    let mut mask = 0u64;
    for name in names {
        let full = if name.starts_with("CAP_") {
            name.clone()
        } else {
            format!("CAP_{name}")
        };
        match Capability::from_str(&full) {
            Ok(cap) if cap.index() < 64 => mask |= 1 << cap.index(),
            _ => tracing::warn!("unknown capability {name} ignored"),
        }
    }
    mask
}

pub fn rlimit_resource(t: PosixRlimitType) -> u32 {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn adopt_ready_fd(fd: RawFd) -> Result<OwnedFd, Error> {
    if fd < 3 || seen_open(fd).is_err() {
        return Err(Error::ReadyFd(fd));
    }
    // SAFETY: `fd` is open (checked above) and was handed to this process
    // to own; nothing else refers to it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
    Ok(fd)
}

fn seen_open(fd: RawFd) -> rustix::io::Result<()> {
    // SAFETY: borrowed only for F_GETFD, which fails with EBADF on a
    // number that is not open.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(b).map(drop)
}

/// The container's stdio for the kernel: copies of FDs 0-2. The sentry's
/// own stdin and stdout then become /dev/null, so nothing the sentry itself
/// prints can reach the container's output; its stderr stays, for the
/// error that ends a failed boot.
fn take_stdio() -> Result<[OwnedFd; 3], Error> {
    let dup = |fd: RawFd| {
        // SAFETY: borrowed only for the duplication; a closed FD fails.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_dupfd_cloexec(b, 3).map_err(|errno| Error::Stdio { fd, errno })
    };
    let stdio = [dup(0)?, dup(1)?, dup(2)?];
    let null = std::fs::File::open("/dev/null").map_err(|e| Error::Stdio {
        fd: 0,
        errno: rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO),
    })?;
    for fd in [0, 1] {
        // SAFETY: dup2 onto our own standard FD; the copy above keeps the
        // container's file open.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(Error::Stdio {
                fd,
                errno: rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
                    .unwrap_or(rustix::io::Errno::IO),
            });
        }
    }
    Ok(stdio)
}

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

fn sys(step: &'static str) -> impl Fn(nix::errno::Errno) -> Error {
    move |errno| Error::Syscall { step, errno }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        Spec::load(&path).unwrap()
    }

    fn sockets(n: usize) -> Vec<Socket> {
        (0..n)
            .map(|_| {
                let (a, _b) = rustix::net::socketpair(
                    rustix::net::AddressFamily::UNIX,
                    rustix::net::SocketType::SEQPACKET,
                    rustix::net::SocketFlags::CLOEXEC,
                    None,
                )
                .unwrap();
                Socket::from_fd(a)
            })
            .collect()
    }

    fn stdio() -> [OwnedFd; 3] {
        let f = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        [f(), f(), f()]
    }

    const SPEC: &str = r#"{
        "ociVersion": "1.0.2",
        "hostname": "box",
        "root": {"path": "rootfs", "readonly": true},
        "process": {
            "args": ["/bin/sh", "-c", "true"],
            "env": ["PATH=/bin", "A=b"],
            "cwd": "/srv/app",
            "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 18},
            "capabilities": {"effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}]
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
            {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro"]},
            {"destination": "/etc/hosts", "source": "/etc/hosts", "options": ["bind"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}
        ]
    }"#;

    fn kind(s: &MountSource) -> String {
        match s {
            MountSource::Gofer { exclusive, .. } => format!("gofer exclusive={exclusive}"),
            MountSource::Tmpfs { mode } => format!("tmpfs {mode:o}"),
            MountSource::Proc => "proc".into(),
            MountSource::Dev => "dev".into(),
            MountSource::Sys => "sys".into(),
            MountSource::Devpts => "devpts".into(),
            MountSource::Unsupported(t) => format!("unsupported {t}"),
        }
    }

    #[test]
    fn the_spec_becomes_the_kernels_config() {
        let cfg = boot_config(&spec(SPEC), sockets(3), stdio(), true).unwrap();
        assert_eq!(kind(&cfg.container.root), "gofer exclusive=true");
        assert!(cfg.container.root_readonly);
        let mounts: Vec<_> = cfg
            .container
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{} {}{}",
                    String::from_utf8_lossy(&m.destination),
                    kind(&m.source),
                    if m.readonly { " ro" } else { "" }
                )
            })
            .collect();
        assert_eq!(
            mounts,
            [
                "/proc proc",
                "/dev dev",
                "/dev/pts devpts",
                "/dev/shm tmpfs 1777",
                "/dev/mqueue unsupported mqueue",
                "/sys sys ro",
                "/sys/fs/cgroup unsupported cgroup",
                "/data gofer exclusive=false ro",
                "/etc/hosts gofer exclusive=false",
                "/tmp tmpfs 1777",
            ]
        );
        assert_eq!(
            cfg.container.init.argv,
            [b"/bin/sh".to_vec(), b"-c".to_vec(), b"true".to_vec()]
        );
        assert_eq!(
            cfg.container.init.envp,
            [b"PATH=/bin".to_vec(), b"A=b".to_vec()]
        );
        assert_eq!(cfg.container.init.cwd, b"/srv/app");
        assert_eq!(cfg.hostname, b"box");
        assert_eq!(
            (
                cfg.container.init.user.uid,
                cfg.container.init.user.gid,
                cfg.container.init.user.umask
            ),
            (1000, 100, Some(0o22))
        );
        assert_eq!(cfg.container.init.user.additional_gids, [5, 6]);
        // CAP_CHOWN 0, CAP_KILL 5, CAP_NET_BIND_SERVICE 10.
        assert_eq!(cfg.container.init.capabilities, 1 | 1 << 5 | 1 << 10);
        assert_eq!(cfg.container.init.rlimits.len(), 1);
        let r = cfg.container.init.rlimits[0];
        assert_eq!(
            (r.resource, r.soft, r.hard),
            (libc::RLIMIT_NOFILE, 1024, 4096)
        );
        assert!(cfg.strace);
    }

    #[test]
    fn sentry_and_gofer_count_the_same_bind_mounts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let srv = dir.path().join("srv");
        std::fs::create_dir(&srv).unwrap();
        let json = SPEC.replace("/srv", &srv.display().to_string());
        let spec = spec(&json);
        let plan = gofer::jail::Plan::from_spec(dir.path(), &spec).unwrap();
        let binds = spec
            .mounts()
            .iter()
            .flatten()
            .filter(|m| is_bind(m))
            .count();
        assert_eq!(binds, plan.binds.len());
        assert_eq!(binds, 2);
    }

    #[test]
    fn a_minimal_process_gets_defaults() {
        let cfg = boot_config(
            &spec(
                r#"{"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
            ),
            sockets(1),
            stdio(),
            false,
        )
        .unwrap();
        // Only the /dev every container gets.
        assert_eq!(cfg.container.mounts.len(), 1);
        assert_eq!(cfg.container.mounts[0].destination, b"/dev");
        assert!(!cfg.container.root_readonly);
        assert_eq!(cfg.container.init.capabilities, 0);
        assert_eq!(cfg.container.init.user.umask, None);
        assert!(cfg.hostname.is_empty());
    }

    #[test]
    fn capability_names_with_and_without_prefix() {
        let names = ["CAP_SYS_ADMIN", "SETUID", "CAP_NOT_A_CAP"].map(String::from);
        assert_eq!(capability_mask(names.into_iter()), 1 << 21 | 1 << 7);
    }
}
