//! `/proc`: the sandbox's processes and system state, generated on read.
//!
//! procfs knows nothing of tasks itself. The kernel describes them through
//! [`ProcessSource`]; procfs turns that into the files Linux tools parse
//! (`ps`, `top`, `free`, `pgrep`, language runtimes reading
//! `/proc/self/maps` or `mountinfo`). System-wide values that come from the
//! host (`cpuinfo`, the memory size, the CPU count) are read once into a
//! [`HostInfo`] before the sentry pivots into its empty root.
//!
//! `/proc/self` and `/proc/thread-self` depend on who asks, but inode calls
//! carry no caller. The syscall layer therefore names the task it is
//! serving with [`enter_task`] around each synchronous VFS call; the
//! default [`ProcessSource::caller`] reads it back.
//!
//! Names under `/proc` appear and vanish without the VFS's doing, so the
//! filesystem asks to be revalidated: a cached `/proc/PID` (or an FD link)
//! is dropped on the next walk once its process (or FD) is gone or has
//! changed owner.

mod pid;
#[cfg(test)]
mod tests;
mod text;

pub(crate) use text::cpu_list;

use super::attr::FileType;
use super::file::{FileDescription, FIRST_FS_OFF};
use super::inode::Inode;
use super::mount::VfsPath;
use super::synthetic::{
    constant, Attrs, Dir, DirContents, Entry, File, Generator, StaticDir, Symlink, SynthFs,
};
use super::Vfs;
use crate::errno::SysResult;
use crate::return_errno;
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// The release `uname -r` and `/proc/version` report: old enough that
/// programs do not expect features the sentry lacks, new enough for every
/// libc in use.
pub const KERNEL_RELEASE: &str = "4.4.0";
/// The build string `uname -v` and `/proc/version` report.
pub const KERNEL_VERSION: &str = "#1 SMP vigil";
/// `PROC_SUPER_MAGIC`.
const PROC_MAGIC: u64 = 0x9fa0;
/// Clock ticks per second in `stat` files (`sysconf(_SC_CLK_TCK)`).
pub const CLOCK_TICKS: u64 = 100;
/// Where PIDs start among the root's `getdents64` offsets, past the fixed
/// entries, so each PID's offset is its own and stable.
const PID_COOKIE_BASE: u64 = 1 << 10;

/// The task a thread of the sentry is serving: its process (thread-group)
/// id and its own thread id, as the procfs instance's PID namespace numbers
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub pid: i32,
    pub tid: i32,
}

thread_local! {
    static CURRENT: Cell<Option<Caller>> = const { Cell::new(None) };
}

/// Marks `caller` as the task this thread is serving until the returned
/// guard drops (then the previous one, if any, is restored). The syscall
/// dispatcher holds it around each synchronous VFS call it makes for a
/// task. The guard is neither `Send` nor `Sync`, so it cannot be held
/// across an `.await` of a future that may move between threads; a parked
/// syscall enters again when it resumes.
pub fn enter_task(caller: Caller) -> TaskScope {
    let prev = CURRENT.with(|c| c.replace(Some(caller)));
    TaskScope {
        prev,
        _thread_bound: PhantomData,
    }
}

/// The task this thread is serving, if [`enter_task`] said so.
pub fn current_task() -> Option<Caller> {
    CURRENT.with(Cell::get)
}

/// Keeps a task marked as current; see [`enter_task`].
#[must_use = "the task is current only while the scope lives"]
pub struct TaskScope {
    prev: Option<Caller>,
    _thread_bound: PhantomData<*const ()>,
}

impl Drop for TaskScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// One resource limit: soft and hard, `u64::MAX` for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

impl Rlimit {
    pub const UNLIMITED: Rlimit = Rlimit {
        cur: u64::MAX,
        max: u64::MAX,
    };
}

/// Capability sets as 64-bit masks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub inheritable: u64,
    pub permitted: u64,
    pub effective: u64,
    pub bounding: u64,
    pub ambient: u64,
}

/// Signal sets (bit `n - 1` for signal `n`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SignalSets {
    /// Pending for this thread.
    pub pending: u64,
    /// Pending for the whole process.
    pub shared_pending: u64,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

/// What procfs shows of one process or thread. The kernel fills in what
/// it knows; the rest keeps its default (zeros, which tools accept).
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// The thread's id (for the process-wide view: the thread-group id).
    pub pid: i32,
    /// The thread-group id.
    pub tgid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Device number of the controlling terminal, 0 without one.
    pub tty_nr: u32,
    /// Foreground process group of the controlling terminal, -1 without one.
    pub tpgid: i32,
    /// The command name (at most 15 bytes on Linux).
    pub comm: Vec<u8>,
    /// `R` running, `S` sleeping, `D` uninterruptible, `T` stopped,
    /// `t` traced, `Z` zombie, `X` dead.
    pub state: char,
    /// NUL-separated arguments, as the process's memory holds them.
    pub cmdline: Vec<u8>,
    /// NUL-separated `NAME=value` strings.
    pub environ: Vec<u8>,
    /// Path of the executable; `None` for a zombie.
    pub exe: Option<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub root: Vec<u8>,
    /// Real, effective, saved and filesystem user ids.
    pub uids: [u32; 4],
    /// Real, effective, saved and filesystem group ids.
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    pub umask: u32,
    pub threads: u32,
    /// Since the sandbox booted (see [`ProcessSource::uptime`]).
    pub start_time: Duration,
    pub user_time: Duration,
    pub system_time: Duration,
    /// Of waited-for children.
    pub children_user_time: Duration,
    pub children_system_time: Duration,
    pub nice: i32,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident pages.
    pub rss_pages: u64,
    /// `/proc/PID/maps` text, as the kernel's memory map formats it.
    pub maps: Vec<u8>,
    pub caps: CapSets,
    pub signals: SignalSets,
    pub no_new_privs: bool,
    /// 0 none, 1 strict, 2 filter.
    pub seccomp: u32,
    pub oom_score_adj: i32,
    /// Indexed by `RLIMIT_*`; missing entries show as unlimited.
    pub rlimits: Vec<Rlimit>,
    /// Capacity of the FD table.
    pub fd_size: u32,
    /// Signal sent to the parent at exit (`SIGCHLD` for processes).
    pub exit_signal: i32,
    /// The CPU it last ran on.
    pub cpu: u32,
}

impl Default for ProcessInfo {
    fn default() -> ProcessInfo {
        ProcessInfo {
            pid: 0,
            tgid: 0,
            ppid: 0,
            pgid: 0,
            sid: 0,
            tty_nr: 0,
            tpgid: -1,
            comm: Vec::new(),
            state: 'S',
            cmdline: Vec::new(),
            environ: Vec::new(),
            exe: None,
            cwd: b"/".to_vec(),
            root: b"/".to_vec(),
            uids: [0; 4],
            gids: [0; 4],
            groups: Vec::new(),
            umask: 0o022,
            threads: 1,
            start_time: Duration::ZERO,
            user_time: Duration::ZERO,
            system_time: Duration::ZERO,
            children_user_time: Duration::ZERO,
            children_system_time: Duration::ZERO,
            nice: 0,
            vsize: 0,
            rss_pages: 0,
            maps: Vec::new(),
            caps: CapSets::default(),
            signals: SignalSets::default(),
            no_new_privs: false,
            seccomp: 0,
            oom_score_adj: 0,
            rlimits: Vec::new(),
            fd_size: 64,
            exit_signal: libc::SIGCHLD,
            cpu: 0,
        }
    }
}

impl ProcessInfo {
    /// The effective ids, which own the process's `/proc/PID` files.
    fn owner(&self) -> (u32, u32) {
        (self.uids[1], self.gids[1])
    }

    fn rlimit(&self, resource: usize) -> Rlimit {
        self.rlimits
            .get(resource)
            .copied()
            .unwrap_or(Rlimit::UNLIMITED)
    }
}

/// One open FD of a process, for `/proc/PID/fd` and `fdinfo`.
#[derive(Debug, Clone)]
pub struct FdEntry {
    pub fd: i32,
    /// Where following the link goes: the open file itself, as Linux's
    /// "magic" links do (a pipe or a deleted file is still reachable).
    pub file: Option<VfsPath>,
    /// The link text: a path, or `pipe:[ino]`-style for anonymous files.
    pub target: Vec<u8>,
    /// File offset.
    pub pos: u64,
    /// `open(2)` flags, with `O_CLOEXEC` if the FD has close-on-exec.
    pub flags: u32,
    pub mnt_id: u64,
    pub ino: u64,
}

impl PartialEq for FdEntry {
    fn eq(&self, o: &FdEntry) -> bool {
        // What the link shows, not which path object it jumps to.
        (
            self.fd,
            &self.target,
            self.pos,
            self.flags,
            self.mnt_id,
            self.ino,
        ) == (o.fd, &o.target, o.pos, o.flags, o.mnt_id, o.ino)
    }
}

impl Eq for FdEntry {}

impl FdEntry {
    /// Describes `file`, open as `fd`, as seen by a task whose root is
    /// `root` in the mount namespace `vfs`.
    pub fn describe(
        vfs: &Vfs,
        root: &VfsPath,
        fd: i32,
        file: &FileDescription,
        cloexec: bool,
    ) -> FdEntry {
        let path = file.path();
        // Anonymous files live on a mount that is no part of the tree.
        let anonymous = path.mount.parent().is_none() && path.mount.id() != vfs.root().mount.id();
        let ino = path.dentry.inode().stat().map(|s| s.ino).unwrap_or(0);
        let target = if anonymous {
            match path.dentry.kind() {
                FileType::Fifo => format!("pipe:[{ino}]").into_bytes(),
                FileType::Socket => format!("socket:[{ino}]").into_bytes(),
                _ => format!("anon_inode:[{}]", path.mount.fs().fs_type()).into_bytes(),
            }
        } else {
            vfs.path_of(root, path)
        };
        let mut flags = file.flags();
        if cloexec {
            flags |= libc::O_CLOEXEC as u32;
        }
        FdEntry {
            fd,
            file: Some(path.clone()),
            target,
            pos: file.offset_if_idle().unwrap_or(0),
            flags,
            mnt_id: path.mount.id(),
            ino,
        }
    }
}

/// A mount namespace as one process sees it: for `mounts`/`mountinfo`.
#[derive(Clone)]
pub struct MountView {
    pub vfs: Arc<Vfs>,
    /// The process's root (mounts outside it are not shown).
    pub root: VfsPath,
}

/// What procfs needs from the kernel. Ids are in the PID namespace this
/// procfs instance shows. Calls come from any sentry thread, without VFS
/// locks held.
pub trait ProcessSource: Send + Sync {
    /// The thread-group ids of all processes (zombies included), any order.
    fn pids(&self) -> Vec<i32>;

    /// The process-wide view of process `pid`. Linux also answers for a
    /// thread id that is not a group leader (`/proc/TID` exists, unlisted);
    /// the kernel decides whether to.
    fn process(&self, pid: i32) -> Option<ProcessInfo>;

    /// The thread ids of process `pid`, the leader first.
    fn threads(&self, pid: i32) -> Vec<i32>;

    /// Thread `tid` of process `pid`, its own view (`pid` is the thread
    /// id, `tgid` the process's).
    fn thread(&self, pid: i32, tid: i32) -> Option<ProcessInfo>;

    /// The open FDs of process `pid`, in increasing FD order
    /// ([`FdEntry::describe`] builds each one).
    fn fds(&self, pid: i32) -> Vec<FdEntry>;

    /// The mount namespace and root of process `pid`.
    fn mount_view(&self, pid: i32) -> Option<MountView>;

    /// The caller's host name (its UTS namespace's), for
    /// `/proc/sys/kernel/hostname`.
    fn hostname(&self) -> Vec<u8>;

    /// Time since the sandbox booted: `/proc/uptime`, and the origin of
    /// [`ProcessInfo::start_time`].
    fn uptime(&self) -> Duration;

    /// The task asking, for `/proc/self`. The default is the one the
    /// syscall layer marked with [`enter_task`].
    fn caller(&self) -> Option<Caller> {
        current_task()
    }

    /// A write of `value` to `/proc/PID/oom_score_adj` (already parsed and
    /// range-checked). The default accepts and forgets it: the sandbox has
    /// no OOM killer of its own, and runtimes write it routinely.
    fn set_oom_score_adj(&self, _pid: i32, _value: i32) -> SysResult<()> {
        Ok(())
    }
}

/// Facts about the host, read once at sentry start (before `pivot_root`
/// makes the host's `/proc` unreachable).
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// `/proc/cpuinfo` as the host shows it.
    pub cpuinfo: Vec<u8>,
    /// CPUs the sandbox may use.
    pub cpus: u32,
    /// Memory the sandbox may use, in KiB (`MemTotal`).
    pub mem_total_kib: u64,
}

impl HostInfo {
    /// Reads the host's CPU and memory description.
    pub fn capture() -> HostInfo {
        let cpuinfo = std::fs::read("/proc/cpuinfo").unwrap_or_default();
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let mem_total_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0);
        HostInfo {
            cpuinfo,
            cpus,
            mem_total_kib,
        }
    }
}

/// What every node of one procfs instance shares.
pub(crate) struct Shared {
    pub source: Arc<dyn ProcessSource>,
    pub host: HostInfo,
    pub dev: u64,
    /// `/proc/sys/kernel/random/boot_id`: fixed for the sandbox's life.
    pub boot_id: Vec<u8>,
}

impl Shared {
    pub fn attrs(&self, path: &str, perm: u32) -> Attrs {
        Attrs::new(self.dev, path.as_bytes(), perm)
    }

    pub fn file(&self, path: &str, perm: u32, gen: Generator) -> Arc<dyn Inode> {
        File::new(self.attrs(path, perm), gen)
    }

    pub fn dir(&self, path: &str, contents: StaticDir) -> Arc<dyn Inode> {
        Dir::new(self.attrs(path, 0o555), contents)
    }
}

/// A procfs instance.
pub struct Procfs;

impl Procfs {
    /// A `/proc` over the processes `source` describes.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(source: Arc<dyn ProcessSource>, host: HostInfo) -> Arc<SynthFs> {
        let shared = Arc::new(Shared {
            source,
            host,
            dev: super::anon_dev(),
            boot_id: text::uuid(),
        });
        let root = Dir::new(
            shared.attrs("", 0o555),
            RootDir {
                fixed: root_entries(&shared),
                shared: shared.clone(),
            },
        );
        SynthFs::new("proc", PROC_MAGIC, root, true)
    }
}

/// Builds a text file whose generator gets the shared state.
fn text_file(
    sh: &Arc<Shared>,
    path: &str,
    f: impl Fn(&Shared) -> SysResult<Vec<u8>> + Send + Sync + 'static,
) -> Arc<dyn Inode> {
    let s = sh.clone();
    sh.file(path, 0o444, Arc::new(move || f(&s)))
}

fn root_entries(sh: &Arc<Shared>) -> StaticDir {
    let self_src = sh.source.clone();
    let self_link: Generator = Arc::new(move || match self_src.caller() {
        Some(c) => Ok(c.pid.to_string().into_bytes()),
        None => return_errno!(ENOENT, "no calling task"),
    });
    let thread_src = sh.source.clone();
    let thread_link: Generator = Arc::new(move || match thread_src.caller() {
        Some(c) => Ok(format!("{}/task/{}", c.pid, c.tid).into_bytes()),
        None => return_errno!(ENOENT, "no calling task"),
    });
    StaticDir::new()
        .with("self", Symlink::new(sh.attrs("self", 0o777), self_link))
        .with(
            "thread-self",
            Symlink::new(sh.attrs("thread-self", 0o777), thread_link),
        )
        .with(
            "mounts",
            Symlink::new(sh.attrs("mounts", 0o777), constant("self/mounts")),
        )
        .with(
            "cpuinfo",
            text_file(sh, "cpuinfo", |s| Ok(s.host.cpuinfo.clone())),
        )
        .with("meminfo", text_file(sh, "meminfo", text::meminfo))
        .with("uptime", text_file(sh, "uptime", text::uptime))
        .with("loadavg", text_file(sh, "loadavg", text::loadavg))
        .with("stat", text_file(sh, "stat", text::stat))
        .with("version", text_file(sh, "version", |_| Ok(text::version())))
        .with(
            "filesystems",
            text_file(sh, "filesystems", |_| Ok(text::filesystems())),
        )
        .with("sys", sys_tree(sh))
}

/// `/proc/sys`: the sysctls programs read. All read-only here.
fn sys_tree(sh: &Arc<Shared>) -> Arc<dyn Inode> {
    let fixed = |path: &str, value: &str| sh.file(path, 0o444, constant(format!("{value}\n")));
    let host_src = sh.source.clone();
    let hostname = sh.file(
        "sys/kernel/hostname",
        0o444,
        Arc::new(move || {
            let mut h = host_src.hostname();
            h.push(b'\n');
            Ok(h)
        }),
    );
    let boot_id = {
        let mut b = sh.boot_id.clone();
        b.push(b'\n');
        sh.file("sys/kernel/random/boot_id", 0o444, constant(b))
    };
    let uuid = sh.file(
        "sys/kernel/random/uuid",
        0o444,
        Arc::new(|| {
            let mut u = text::uuid();
            u.push(b'\n');
            Ok(u)
        }),
    );
    let random = StaticDir::new()
        .with("boot_id", boot_id)
        .with("uuid", uuid)
        .with(
            "entropy_avail",
            fixed("sys/kernel/random/entropy_avail", "256"),
        );
    let kernel = StaticDir::new()
        .with("hostname", hostname)
        .with("ostype", fixed("sys/kernel/ostype", "Linux"))
        .with("osrelease", fixed("sys/kernel/osrelease", KERNEL_RELEASE))
        .with("version", fixed("sys/kernel/version", KERNEL_VERSION))
        .with("pid_max", fixed("sys/kernel/pid_max", "4194304"))
        .with("threads-max", fixed("sys/kernel/threads-max", "4194304"))
        .with("cap_last_cap", fixed("sys/kernel/cap_last_cap", "40"))
        .with("ngroups_max", fixed("sys/kernel/ngroups_max", "65536"))
        .with("random", sh.dir("sys/kernel/random", random));
    let vm = StaticDir::new()
        .with("overcommit_memory", fixed("sys/vm/overcommit_memory", "0"))
        .with("max_map_count", fixed("sys/vm/max_map_count", "65530"));
    let fs = StaticDir::new()
        .with("file-max", fixed("sys/fs/file-max", "9223372036854775807"))
        .with("nr_open", fixed("sys/fs/nr_open", "1048576"));
    let core = StaticDir::new().with("somaxconn", fixed("sys/net/core/somaxconn", "4096"));
    let net = StaticDir::new().with("core", sh.dir("sys/net/core", core));
    sh.dir(
        "sys",
        StaticDir::new()
            .with("kernel", sh.dir("sys/kernel", kernel))
            .with("vm", sh.dir("sys/vm", vm))
            .with("fs", sh.dir("sys/fs", fs))
            .with("net", sh.dir("sys/net", net)),
    )
}

/// A decimal id as a `/proc` name: digits only, no sign or leading zero.
pub(crate) fn parse_id(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) {
        return None;
    }
    if !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// `/proc` itself: the fixed entries, then one directory per process.
struct RootDir {
    fixed: StaticDir,
    shared: Arc<Shared>,
}

impl DirContents for RootDir {
    fn entries(&self) -> SysResult<Vec<Entry>> {
        let mut out = self.fixed.entries_from(FIRST_FS_OFF)?;
        debug_assert!((FIRST_FS_OFF + self.fixed.len() as u64) < PID_COOKIE_BASE);
        let mut pids = self.shared.source.pids();
        pids.sort_unstable();
        pids.dedup();
        out.extend(pids.into_iter().filter(|p| *p > 0).map(|pid| Entry {
            name: pid.to_string().into_bytes(),
            kind: FileType::Directory,
            ino: pid::dir_ino(pid, None),
            cookie: PID_COOKIE_BASE + pid as u64,
        }));
        Ok(out)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if let Some(n) = self.fixed.get(name) {
            return Ok(n.clone());
        }
        let Some(pid) = parse_id(name) else {
            return_errno!(ENOENT)
        };
        match self.shared.source.process(pid) {
            Some(info) => Ok(pid::task_dir(&self.shared, &info, pid, None)),
            None => return_errno!(ENOENT),
        }
    }

    fn revalidate(&self, name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        let Some(pid) = parse_id(name) else {
            return Ok(true);
        };
        Ok(pid::still_owned(
            self.shared.source.process(pid).as_ref(),
            child,
        ))
    }
}
