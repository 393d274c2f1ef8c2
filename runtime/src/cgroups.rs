//! The cgroup of one sandbox, with runc's semantics: every host process of
//! the sandbox (gofer, sentry, and the stubs the sentry forks, which inherit
//! its cgroup) lives in the spec's `linux.cgroupsPath`, where
//! `linux.resources` are applied; `pause`/`resume` use its freezer, `events`
//! its statistics and OOM counter, and `delete` removes it.
//!
//! Both host layouts are handled: cgroup v1 (one hierarchy per controller,
//! possibly with a controller-less cgroup2 hierarchy beside them, the
//! "hybrid" layout, where the sandbox joins the same path as well) and the
//! unified cgroup v2 layout. The layout is read from `/proc/self/mountinfo`.
//!
//! A [`Cgroup`] is plain data (the directories it made), so a later CLI
//! invocation reopens it from the container's state file (`serde`).

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a cgroup could not be set up, changed or read. Every message names
/// the file or the spec value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    Path { path: String, reason: &'static str },
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error(
        "cannot write {value:?} to {path}: no such file (no such cgroup, or its controller is not enabled there)"
    )]
    Missing { path: PathBuf, value: String },
    #[error("{path}: the kernel took {got} instead of {value} (the value is out of its range)")]
    Clamped {
        path: PathBuf,
        value: String,
        got: String,
    },
    #[error("create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("remove cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("linux.resources: {0}")]
    Resources(String),
    #[error("no cgroup file system is mounted, so linux.resources cannot be applied")]
    NotMounted,
    #[error("the {0} cgroup controller is not mounted")]
    NoController(&'static str),
    #[error("{path}: still {state} after {timeout:?}")]
    Freeze {
        path: PathBuf,
        state: String,
        timeout: Duration,
    },
}

/// The cgroup layout of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// One hierarchy per controller group (and maybe a cgroup2 hierarchy
    /// without controllers).
    V1,
    /// One hierarchy with every controller.
    V2,
}

/// The freezer state, as `runc pause`/`resume`/`state` see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    /// Asked to freeze, some task not yet stopped.
    Freezing,
    Frozen,
}

/// One directory of the sandbox's cgroup: in v1 one per hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Dir {
    /// The hierarchy's controllers (`cpu`, `name=systemd`, ...); empty for
    /// a cgroup2 hierarchy.
    controllers: Vec<String>,
    path: PathBuf,
    /// How many trailing components of `path` this sandbox created: those
    /// are what [`Cgroup::destroy`] removes, never a parent it found.
    created: usize,
}

impl Dir {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// A sandbox's cgroup: one directory per hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    version: Version,
    dirs: Vec<Dir>,
}

/// Where the spec asks the sandbox to go, before it is resolved against
/// the host's hierarchies.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// From each hierarchy's root.
    Absolute(PathBuf),
    /// From the caller's own cgroup.
    Relative(PathBuf),
}

/// The systemd slice a `--systemd-cgroup` path without one goes to, as
/// systemd's default for scopes.
const DEFAULT_SLICE: &str = "system.slice";
/// The scope prefix when `--systemd-cgroup` is given no path (runc uses its
/// own name there).
const DEFAULT_SCOPE_PREFIX: &str = "vigil";
/// How long [`Cgroup::destroy`] waits for the last processes to leave.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long [`Cgroup::freeze`] waits for every task to stop.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

impl Cgroup {
    /// Creates (or joins, if it exists) the cgroup for container `id` and
    /// applies `resources`; no process is in it yet ([`Cgroup::add`]).
    /// `None` only when the host has no cgroup file system mounted and
    /// nothing is asked of one. On error nothing this call created is left.
    pub fn create(
        spec_cgroups_path: Option<&str>,
        id: &str,
        resources: Option<&LinuxResources>,
        systemd: bool,
    ) -> Result<Option<Cgroup>, Error> {
        let target = target(spec_cgroups_path, id, systemd)?;
        let mountinfo = read("/proc/self/mountinfo")?;
        let own = read("/proc/self/cgroup")?;
        let Some((version, hierarchies)) = hierarchies(&mountinfo) else {
            if resources.is_some_and(asks_anything) {
                return Err(Error::NotMounted);
            }
            return Ok(None);
        };
        let own = own_cgroups(&own);
        let mut cgroup = Cgroup {
            version,
            dirs: Vec::new(),
        };
        let result = cgroup
            .make_dirs(&hierarchies, &own, &target)
            .and_then(|()| match resources {
                Some(r) => cgroup.apply(r),
                None => Ok(()),
            });
        match result {
            Ok(()) => Ok(Some(cgroup)),
            Err(e) => {
                if let Err(cleanup) = cgroup.destroy() {
                    tracing::warn!("{cleanup}");
                }
                Err(e)
            }
        }
    }

    /// The host's cgroup layout this cgroup lives in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The `cgroup.procs` file of every hierarchy: a pid written to each
    /// moves that process (not its threads' siblings elsewhere) into the
    /// cgroup.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.path.join("cgroup.procs"))
            .collect()
    }

    /// Moves process `pid` into the cgroup in every hierarchy. Whatever it
    /// forks afterwards is born inside.
    pub fn add(&self, pid: i32) -> Result<(), Error> {
        for dir in &self.dirs {
            write(&dir.path, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The cgroup directory of `controller` (`memory`, `cpu`, ...); in v2
    /// the one directory.
    pub fn path(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first(),
            Version::V1 => self.dirs.iter().find(|d| d.has(controller)),
        }
        .map(|d| d.path.as_path())
    }

    /// Stops every process of the sandbox and returns once all are
    /// stopped; thaws again and fails if they do not stop in time.
    ///
    /// A stub whose system call the sentry has received waits for the
    /// answer killably, and the host freezer cannot stop a task in such a
    /// wait, so with one the cgroup never reads as frozen. Such a stub
    /// cannot run before the sentry answers, though, and the sentry is
    /// frozen: once every other task is, the sandbox is.
    pub fn freeze(&self) -> Result<(), Error> {
        let dir = self.freezer()?;
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        match self.version {
            Version::V1 => {
                let mut attempt = 0u32;
                loop {
                    // Writing FROZEN again catches tasks forked while the
                    // freeze was under way.
                    if attempt.is_multiple_of(10) {
                        write(dir, "freezer.state", "FROZEN")?;
                    }
                    attempt += 1;
                    let state = read_trimmed(dir, "freezer.state")?;
                    if state == "FROZEN" || (attempt > 5 && self.held_or_frozen(dir)?) {
                        return Ok(());
                    }
                    if Instant::now() >= deadline {
                        let _ = write(dir, "freezer.state", "THAWED");
                        return Err(Error::Freeze {
                            path: dir.join("freezer.state"),
                            state,
                            timeout: FREEZE_TIMEOUT,
                        });
                    }
                    std::thread::sleep(POLL);
                }
            }
            Version::V2 => {
                write(dir, "cgroup.freeze", "1")?;
                let mut attempt = 0u32;
                loop {
                    attempt += 1;
                    if keyed(&read_file(dir, "cgroup.events")?, "frozen") == Some(1)
                        || (attempt > 5 && self.held_or_frozen(dir)?)
                    {
                        return Ok(());
                    }
                    if Instant::now() >= deadline {
                        let _ = write(dir, "cgroup.freeze", "0");
                        return Err(Error::Freeze {
                            path: dir.join("cgroup.events"),
                            state: "not frozen".into(),
                            timeout: FREEZE_TIMEOUT,
                        });
                    }
                    std::thread::sleep(POLL);
                }
            }
        }
    }

    /// Lets the sandbox's processes run again.
    pub fn thaw(&self) -> Result<(), Error> {
        let dir = self.freezer()?;
        match self.version {
            Version::V1 => write(dir, "freezer.state", "THAWED"),
            Version::V2 => write(dir, "cgroup.freeze", "0"),
        }
    }

    /// Frozen or freezing: its processes may not run (an unreadable state
    /// counts as not paused).
    pub fn paused(&self) -> bool {
        self.state().is_ok_and(|s| s != FreezerState::Thawed)
    }

    pub fn state(&self) -> Result<FreezerState, Error> {
        let dir = self.freezer()?;
        match self.version {
            Version::V1 => {
                let state = read_trimmed(dir, "freezer.state")?;
                match state.as_str() {
                    "THAWED" => Ok(FreezerState::Thawed),
                    "FREEZING" if self.held_or_frozen(dir)? => Ok(FreezerState::Frozen),
                    "FREEZING" => Ok(FreezerState::Freezing),
                    "FROZEN" => Ok(FreezerState::Frozen),
                    _ => Err(Error::Parse {
                        path: dir.join("freezer.state"),
                        content: state,
                    }),
                }
            }
            Version::V2 => {
                if read_trimmed(dir, "cgroup.freeze")? == "0" {
                    return Ok(FreezerState::Thawed);
                }
                match keyed(&read_file(dir, "cgroup.events")?, "frozen") {
                    Some(1) => Ok(FreezerState::Frozen),
                    _ if self.held_or_frozen(dir)? => Ok(FreezerState::Frozen),
                    _ => Ok(FreezerState::Freezing),
                }
            }
        }
    }

    /// Whether every task of the freezing cgroup at `dir` is frozen or
    /// held in a seccomp notification (see [`Cgroup::freeze`]). A v1
    /// task frozen where it slept reads as `D` with its old wait channel;
    /// a v2 one sits in the freezer trap of signal delivery (which the
    /// compiler may inline into `get_signal`), where a stopped task
    /// cannot run either.
    fn held_or_frozen(&self, dir: &Path) -> Result<bool, Error> {
        let tasks = match self.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.threads",
        };
        for tid in read_file(dir, tasks)?.split_whitespace() {
            // A task gone in between is not running either.
            let wchan = std::fs::read_to_string(format!("/proc/{tid}/wchan")).unwrap_or_default();
            // The compiler's clones keep a suffix: `name.isra.0`.
            let wchan = wchan.split('.').next().unwrap_or("");
            if matches!(
                wchan,
                "" | "seccomp_do_user_notification"
                    | "__refrigerator"
                    | "do_freezer_trap"
                    | "get_signal"
                    | "do_signal_stop"
            ) {
                continue;
            }
            let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            if self.version == Version::V1 && matches!(state, Some('D') | None) {
                continue;
            }
            return Ok(false);
        }
        Ok(true)
    }

    fn freezer(&self) -> Result<&Path, Error> {
        self.path("freezer").ok_or(Error::NoController("freezer"))
    }

    /// How many processes the kernel's OOM killer has killed in the
    /// sandbox's memory cgroup.
    pub fn oom_kill_count(&self) -> Result<u64, Error> {
        let dir = self.path("memory").ok_or(Error::NoController("memory"))?;
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        // Kernels before 4.13 have no counter: nothing was counted.
        Ok(keyed(&read_file(dir, file)?, "oom_kill").unwrap_or(0))
    }

    /// The sandbox's resource usage, in the form of `runc events --stats`.
    /// A controller that is not there leaves its part empty.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut stats = Stats::default();
        match self.version {
            Version::V1 => self.stats_v1(&mut stats)?,
            Version::V2 => self.stats_v2(&mut stats)?,
        }
        Ok(stats)
    }

    fn stats_v1(&self, stats: &mut Stats) -> Result<(), Error> {
        if let Some(dir) = self.path("cpuacct") {
            let cpu = &mut stats.cpu.usage;
            cpu.total = read_u64(dir, "cpuacct.usage")?;
            cpu.percpu = read_file(dir, "cpuacct.usage_percpu")?
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            // cpuacct.stat counts clock ticks; runc reports nanoseconds.
            let acct = read_file(dir, "cpuacct.stat")?;
            let ns_per_tick = 1_000_000_000 / clock_ticks();
            cpu.user = keyed(&acct, "user").unwrap_or(0) * ns_per_tick;
            cpu.kernel = keyed(&acct, "system").unwrap_or(0) * ns_per_tick;
        }
        if let Some(dir) = self.path("cpu") {
            stats.cpu.throttling = throttling(&read_file(dir, "cpu.stat")?, 1);
        }
        if let Some(dir) = self.path("memory") {
            let m = &mut stats.memory;
            m.usage = memory_entry_v1(dir, "memory")?;
            m.swap = memory_entry_v1(dir, "memory.memsw")?;
            m.kernel = memory_entry_v1(dir, "memory.kmem")?;
            m.kernel_tcp = memory_entry_v1(dir, "memory.kmem.tcp")?;
            m.raw = stat_map(&read_file(dir, "memory.stat")?);
            m.cache = m.raw.get("cache").copied().unwrap_or(0);
        }
        if let Some(dir) = self.path("pids") {
            stats.pids = pids_stats(dir)?;
        }
        Ok(())
    }

    fn stats_v2(&self, stats: &mut Stats) -> Result<(), Error> {
        let Some(dir) = self.dirs.first().map(|d| d.path.as_path()) else {
            return Ok(());
        };
        // cpu.stat is there without the cpu controller (usage only).
        let cpu = read_file(dir, "cpu.stat")?;
        let usec = |key| keyed(&cpu, key).unwrap_or(0) * 1000;
        stats.cpu.usage.total = usec("usage_usec");
        stats.cpu.usage.user = usec("user_usec");
        stats.cpu.usage.kernel = usec("system_usec");
        stats.cpu.throttling = throttling(&cpu, 1000);
        if dir.join("memory.current").exists() {
            let m = &mut stats.memory;
            m.usage.usage = read_u64(dir, "memory.current")?;
            m.usage.limit = read_limit(dir, "memory.max")?;
            m.usage.max = optional_u64(dir, "memory.peak")?.unwrap_or(0);
            m.usage.failcnt = keyed(&read_file(dir, "memory.events")?, "max").unwrap_or(0);
            // runc reports v2 swap as memory+swap, v1's unit.
            if let Some(swap) = optional_u64(dir, "memory.swap.current")? {
                m.swap.usage = swap + m.usage.usage;
                m.swap.limit = read_limit(dir, "memory.swap.max")?.saturating_add(m.usage.limit);
            }
            m.raw = stat_map(&read_file(dir, "memory.stat")?);
            m.cache = m.raw.get("file").copied().unwrap_or(0);
        }
        if dir.join("pids.current").exists() {
            stats.pids = pids_stats(dir)?;
        }
        Ok(())
    }

    /// Removes the cgroup's directories (and any cgroup made inside them),
    /// waiting briefly for processes that are still exiting. Parents that
    /// this sandbox did not create stay.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut first_error = None;
        for dir in &self.dirs {
            if dir.created == 0 {
                continue;
            }
            if let Err(e) = remove_tree(&dir.path) {
                first_error.get_or_insert(e);
                continue;
            }
            // Created parents go too, unless another cgroup lives there now.
            // One missing already (a create that failed half-way never made
            // it) is passed over.
            for parent in dir.path.ancestors().skip(1).take(dir.created - 1) {
                match std::fs::remove_dir(parent) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(_) => break,
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn make_dirs(
        &mut self,
        hierarchies: &[Hierarchy],
        own: &BTreeMap<String, PathBuf>,
        target: &Target,
    ) -> Result<(), Error> {
        for h in hierarchies {
            let path = resolve(
                h,
                own.get(&h.key()).map(PathBuf::as_path),
                target,
                self.version,
            );
            // Recorded before creating, so a failure half-way is undone.
            let missing = missing_components(&h.mountpoint, &path);
            self.dirs.push(Dir {
                controllers: h.controllers.clone(),
                path: path.clone(),
                created: missing.len(),
            });
            let cpuset = !h.unified && h.controllers.iter().any(|c| c == "cpuset");
            for (i, dir) in missing.iter().enumerate() {
                if self.version == Version::V2 {
                    let parent = dir.parent().expect("below the mount point");
                    enable_controllers(parent)?;
                }
                match std::fs::create_dir(dir) {
                    Ok(()) => {}
                    // Made by a concurrent sandbox: not ours to remove.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        self.dirs.last_mut().expect("pushed above").created = missing.len() - i - 1;
                    }
                    Err(source) => {
                        return Err(Error::Create {
                            path: dir.clone(),
                            source,
                        })
                    }
                }
                if cpuset {
                    inherit_cpuset(dir)?;
                }
            }
            if missing.is_empty() && self.version == Version::V2 {
                if let Some(parent) = path.parent() {
                    enable_controllers(parent)?;
                }
            }
        }
        Ok(())
    }

    /// Writes `resources` into the cgroup's files.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), Error> {
        let normalized = zero_is_unset(resources);
        match self.version {
            Version::V1 => self.apply_v1(&normalized)?,
            Version::V2 => self.apply_v2(&normalized)?,
        }
        let ignored = [
            ("blockIO", resources.block_io().is_some()),
            ("hugepageLimits", resources.hugepage_limits().is_some()),
            ("network", resources.network().is_some()),
            ("rdma", resources.rdma().is_some()),
        ];
        for (name, set) in ignored {
            if set {
                tracing::debug!("linux.resources.{name} is not applied");
            }
        }
        Ok(())
    }

    fn controller(&self, name: &'static str) -> Result<&Path, Error> {
        self.path(name).ok_or(Error::NoController(name))
    }

    fn apply_v1(&self, r: &LinuxResources) -> Result<(), Error> {
        if let Some(m) = r.memory() {
            let dir = self.controller("memory")?;
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            let swap = m.swap().filter(|_| memsw.exists());
            if m.swap().is_some() && swap.is_none() {
                tracing::debug!(
                    "the host has no swap accounting: linux.resources.memory.swap is not applied"
                );
            }
            // memory <= memory+swap at every step: a rising memory+swap
            // limit goes first, a falling one last.
            let rising = match swap {
                Some(-1) => true,
                Some(s) => read_limit(dir, "memory.memsw.limit_in_bytes")? < s as u64,
                None => false,
            };
            let write_swap = |s: i64| write(dir, "memory.memsw.limit_in_bytes", &s.to_string());
            if let (Some(s), true) = (swap, rising) {
                write_swap(s)?;
            }
            if let Some(limit) = m.limit() {
                write(dir, "memory.limit_in_bytes", &limit.to_string())?;
            }
            if let (Some(s), false) = (swap, rising) {
                write_swap(s)?;
            }
            if let Some(reservation) = m.reservation() {
                write(dir, "memory.soft_limit_in_bytes", &reservation.to_string())?;
            }
            if let Some(swappiness) = m.swappiness() {
                write_checked(dir, "memory.swappiness", &swappiness.to_string())?;
            }
        }
        if let Some(cpu) = r.cpu() {
            if cpu.shares().is_some()
                || cpu.quota().is_some()
                || cpu.period().is_some()
                || cpu.realtime_period().is_some()
                || cpu.realtime_runtime().is_some()
                || cpu.idle().is_some()
            {
                let dir = self.controller("cpu")?;
                if let Some(shares) = cpu.shares() {
                    write_checked(dir, "cpu.shares", &shares.to_string())?;
                }
                write_quota_v1(dir, cpu.quota(), cpu.period())?;
                if let Some(period) = cpu.realtime_period() {
                    write(dir, "cpu.rt_period_us", &period.to_string())?;
                }
                if let Some(runtime) = cpu.realtime_runtime() {
                    write(dir, "cpu.rt_runtime_us", &runtime.to_string())?;
                }
                if let Some(idle) = cpu.idle() {
                    write(dir, "cpu.idle", &idle.to_string())?;
                }
            }
            self.apply_cpuset(cpu.cpus().as_deref(), cpu.mems().as_deref())?;
        }
        if let Some(pids) = r.pids() {
            write(
                self.controller("pids")?,
                "pids.max",
                &pids_max(pids.limit()),
            )?;
        }
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(Error::Resources(
                "unified is only supported on a cgroup v2 host".into(),
            ));
        }
        Ok(())
    }

    fn apply_v2(&self, r: &LinuxResources) -> Result<(), Error> {
        let dir = &self.dirs.first().ok_or(Error::NotMounted)?.path;
        if let Some(m) = r.memory() {
            let swap = swap_v2(m.swap(), m.limit())?;
            // memory.swap.max is missing without swap accounting.
            match swap {
                Some(s) if dir.join("memory.swap.max").exists() => {
                    write(dir, "memory.swap.max", &max_or(s))?
                }
                Some(_) => tracing::debug!(
                    "the host has no swap accounting: linux.resources.memory.swap is not applied"
                ),
                None => {}
            }
            if let Some(limit) = m.limit() {
                write(dir, "memory.max", &max_or(limit))?;
            }
            if let Some(reservation) = m.reservation() {
                write(dir, "memory.low", &max_or(reservation))?;
            }
        }
        if let Some(cpu) = r.cpu() {
            if let Some(shares) = cpu.shares() {
                write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
            }
            if let Some(max) = cpu_max(cpu.quota(), cpu.period()) {
                write(dir, "cpu.max", &max)?;
            }
            if let Some(idle) = cpu.idle() {
                write(dir, "cpu.idle", &idle.to_string())?;
            }
            self.apply_cpuset(cpu.cpus().as_deref(), cpu.mems().as_deref())?;
        }
        if let Some(pids) = r.pids() {
            write(dir, "pids.max", &pids_max(pids.limit()))?;
        }
        if let Some(unified) = r.unified() {
            for (file, value) in unified {
                if file.contains('/') || file.starts_with('.') {
                    return Err(Error::Resources(format!(
                        "unified: {file:?} is not a cgroup file name"
                    )));
                }
                write(dir, file, value)?;
            }
        }
        Ok(())
    }

    fn apply_cpuset(&self, cpus: Option<&str>, mems: Option<&str>) -> Result<(), Error> {
        if cpus.is_none() && mems.is_none() {
            return Ok(());
        }
        let dir = self.controller("cpuset")?;
        if let Some(cpus) = cpus.filter(|c| !c.is_empty()) {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = mems.filter(|m| !m.is_empty()) {
            write(dir, "cpuset.mems", mems)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Statistics, in runc's `events --stats` JSON shape.

/// A container's resource usage: runc's `types.Stats` field names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O counters; the sandbox does not collect them yet, so runc's
/// lists are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Blkio {}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn memory_entry_v1(dir: &Path, prefix: &str) -> Result<MemoryEntry, Error> {
    let file = |name: &str| format!("{prefix}.{name}");
    if !dir.join(file("usage_in_bytes")).exists() {
        return Ok(MemoryEntry::default());
    }
    Ok(MemoryEntry {
        limit: read_u64(dir, &file("limit_in_bytes"))?,
        usage: read_u64(dir, &file("usage_in_bytes"))?,
        max: read_u64(dir, &file("max_usage_in_bytes"))?,
        failcnt: read_u64(dir, &file("failcnt"))?,
    })
}

fn pids_stats(dir: &Path) -> Result<Pids, Error> {
    let limit = read_trimmed(dir, "pids.max")?;
    Ok(Pids {
        current: read_u64(dir, "pids.current")?,
        limit: if limit == "max" {
            0
        } else {
            parse_u64(&dir.join("pids.max"), &limit)?
        },
    })
}

/// `cpu.stat`'s throttling counters; v1 counts time in ns, v2 in µs.
fn throttling(cpu_stat: &str, time_scale: u64) -> Throttling {
    let time = keyed(cpu_stat, "throttled_time")
        .or_else(|| keyed(cpu_stat, "throttled_usec"))
        .unwrap_or(0);
    Throttling {
        periods: keyed(cpu_stat, "nr_periods").unwrap_or(0),
        throttled_periods: keyed(cpu_stat, "nr_throttled").unwrap_or(0),
        throttled_time: time * time_scale,
    }
}

fn stat_map(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The value of `key` in a flat keyed file (`key value` lines).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

// ---------------------------------------------------------------------------
// Values, converted as runc converts them.

/// `pids.max` for an OCI pids limit: 0 or less is no limit.
fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

/// v2 spells the -1 of "no limit" `max`.
fn max_or(value: i64) -> String {
    if value < 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

/// `resources` with the zero values runc reads as "not set" (Docker sends
/// `"shares": 0`, `"limit": 0`, ...) removed.
fn zero_is_unset(resources: &LinuxResources) -> LinuxResources {
    let mut r = resources.clone();
    if let Some(mut m) = *r.memory() {
        m.set_limit(m.limit().filter(|&v| v != 0));
        m.set_reservation(m.reservation().filter(|&v| v != 0));
        m.set_swap(m.swap().filter(|&v| v != 0));
        r.set_memory(Some(m));
    }
    if let Some(mut c) = r.cpu().clone() {
        c.set_shares(c.shares().filter(|&v| v != 0));
        c.set_quota(c.quota().filter(|&v| v != 0));
        c.set_period(c.period().filter(|&v| v != 0));
        c.set_realtime_period(c.realtime_period().filter(|&v| v != 0));
        c.set_realtime_runtime(c.realtime_runtime().filter(|&v| v != 0));
        c.set_cpus(c.cpus().clone().filter(|v| !v.is_empty()));
        c.set_mems(c.mems().clone().filter(|v| !v.is_empty()));
        r.set_cpu(Some(c));
    }
    if r.pids().is_some_and(|p| p.limit() == 0) {
        r.set_pids(None);
    }
    r
}

/// v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), mapping the
/// ends of one range onto the other linearly, as runc does.
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + (shares - 2) * 9999 / 262_142
}

/// `cpu.max` (`QUOTA PERIOD`, `max` for no quota) if either is set.
fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|&q| q != 0);
    let period = period.filter(|&p| p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut value = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".into(),
    };
    if let Some(p) = period {
        value.push_str(&format!(" {p}"));
    }
    Some(value)
}

/// The OCI swap value is memory+swap (v1's unit); v2's `memory.swap.max`
/// is swap alone. `None`: leave the file alone.
fn swap_v2(swap: Option<i64>, memory: Option<i64>) -> Result<Option<i64>, Error> {
    let memory = memory.unwrap_or(0);
    match swap.unwrap_or(0) {
        // No memory limit and no word on swap: no swap limit either.
        0 if memory == -1 => Ok(Some(-1)),
        0 => Ok(None),
        -1 => Ok(Some(-1)),
        _ if memory <= 0 => Err(Error::Resources("memory.swap needs a memory.limit".into())),
        s if s < memory => Err(Error::Resources(
            "memory.swap (memory+swap) must not be below memory.limit".into(),
        )),
        s => Ok(Some(s - memory)),
    }
}

/// v1 quota and period. The kernel checks each write against the other
/// value: a period it refuses now may fit once the quota is written.
fn write_quota_v1(dir: &Path, quota: Option<i64>, period: Option<u64>) -> Result<(), Error> {
    let quota = quota.filter(|&q| q != 0);
    let period = period.filter(|&p| p != 0);
    let mut retry_period = false;
    if let Some(p) = period {
        match write(dir, "cpu.cfs_period_us", &p.to_string()) {
            Ok(()) => {}
            Err(Error::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_some() =>
            {
                retry_period = true
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(q) = quota {
        write(dir, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if retry_period {
        write(dir, "cpu.cfs_period_us", &period.unwrap_or(0).to_string())?;
    }
    Ok(())
}

/// Whether `r` asks for anything a cgroup would have to enforce.
fn asks_anything(r: &LinuxResources) -> bool {
    r.memory().is_some()
        || r.cpu().is_some()
        || r.pids().is_some()
        || r.unified().as_ref().is_some_and(|u| !u.is_empty())
}

// ---------------------------------------------------------------------------
// Paths.

/// The spec's cgroupsPath, read as runc reads it.
fn target(spec: Option<&str>, id: &str, systemd: bool) -> Result<Target, Error> {
    let spec = spec.unwrap_or("");
    if systemd {
        return systemd_target(spec, id);
    }
    if spec.is_empty() {
        // runc: the container id, under the caller's own cgroup.
        return Ok(Target::Relative(clean(id)));
    }
    let cleaned = clean(spec);
    if Path::new(spec).is_absolute() {
        Ok(Target::Absolute(cleaned))
    } else {
        Ok(Target::Relative(cleaned))
    }
}

/// `slice:prefix:name`: the scope `<prefix>-<name>.scope` in `slice`
/// (a name ending in `.slice` is a slice itself), from the hierarchy root.
fn systemd_target(spec: &str, id: &str) -> Result<Target, Error> {
    let bad = |reason| Error::Path {
        path: spec.to_string(),
        reason,
    };
    let (slice, prefix, name) = if spec.is_empty() {
        (DEFAULT_SLICE, DEFAULT_SCOPE_PREFIX, id)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(bad("with --systemd-cgroup it must be slice:prefix:name"));
        };
        let slice = if slice.is_empty() {
            DEFAULT_SLICE
        } else {
            slice
        };
        (slice, prefix, name)
    };
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(bad("the unit name must be one path component"));
    }
    let mut path = expand_slice(slice).ok_or_else(|| bad("invalid slice name"))?;
    if name.ends_with(".slice") {
        path.push(name);
    } else if prefix.is_empty() {
        path.push(format!("{name}.scope"));
    } else {
        path.push(format!("{prefix}-{name}.scope"));
    }
    Ok(Target::Absolute(path))
}

/// systemd's nesting of slices by their dashes: `a-b-c.slice` lives in
/// `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
fn expand_slice(slice: &str) -> Option<PathBuf> {
    let stem = slice.strip_suffix(".slice")?;
    if stem.is_empty() || slice.contains('/') {
        return None;
    }
    let mut path = PathBuf::from("/");
    if stem == "-" {
        return Some(path);
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return None;
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
        prefix.push('-');
    }
    Some(path)
}

/// Lexically cleans a path so it cannot climb out of where it is joined:
/// `.` and empty parts go, `..` takes away the part before it and stops at
/// the start. Absolute stays absolute, relative stays relative.
fn clean(path: &str) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut out = if path.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    out.extend(parts);
    out
}

/// A mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hierarchy {
    mountpoint: PathBuf,
    /// The cgroup mounted there (`/` unless the mount is of a sub-tree).
    root: PathBuf,
    controllers: Vec<String>,
    unified: bool,
}

impl Hierarchy {
    /// Its name in `/proc/self/cgroup`: the controllers joined by commas,
    /// empty for cgroup2.
    fn key(&self) -> String {
        let mut c = self.controllers.clone();
        c.sort();
        c.join(",")
    }
}

/// Mount options of a cgroup v1 mount that are not controllers.
const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "xattr",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
];

/// The host's layout and hierarchies from mountinfo: v2 if only cgroup2
/// is mounted, else v1 with every v1 hierarchy, plus the first cgroup2
/// mount of a hybrid host. `None` without any cgroup mount.
fn hierarchies(mountinfo: &str) -> Option<(Version, Vec<Hierarchy>)> {
    let mut v1: Vec<Hierarchy> = Vec::new();
    let mut v2: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let (root, mountpoint) = (unescape(left[3]), unescape(left[4]));
        match right[0] {
            "cgroup2" => v2.push(Hierarchy {
                mountpoint,
                root,
                controllers: Vec::new(),
                unified: true,
            }),
            "cgroup" => {
                let mut controllers: Vec<String> = right[2]
                    .split(',')
                    .filter(|o| {
                        !NOT_CONTROLLERS.contains(o) && (!o.contains('=') || o.starts_with("name="))
                    })
                    .map(str::to_string)
                    .collect();
                controllers.sort();
                // A hierarchy mounted twice (a bind mount) is joined once.
                if !v1.iter().any(|h| h.controllers == controllers) {
                    v1.push(Hierarchy {
                        mountpoint,
                        root,
                        controllers,
                        unified: false,
                    });
                }
            }
            _ => {}
        }
    }
    if !v1.is_empty() {
        v1.extend(v2.into_iter().take(1));
        Some((Version::V1, v1))
    } else {
        // Several cgroup2 mounts show the same tree: prefer the standard one.
        let main = v2
            .iter()
            .position(|h| h.mountpoint == Path::new("/sys/fs/cgroup"))
            .unwrap_or(0);
        v2.into_iter().nth(main).map(|h| (Version::V2, vec![h]))
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// `/proc/self/cgroup` as hierarchy key → own cgroup path.
fn own_cgroups(text: &str) -> BTreeMap<String, PathBuf> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let mut c: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
            c.sort();
            Some((c.join(","), PathBuf::from(path)))
        })
        .collect()
}

/// The directory of `target` in hierarchy `h`. A relative target is
/// joined to the caller's own cgroup `own` — on a v2 host to its parent,
/// as runc does, because a cgroup with processes in it cannot hand
/// controllers to children.
fn resolve(h: &Hierarchy, own: Option<&Path>, target: &Target, version: Version) -> PathBuf {
    match target {
        Target::Absolute(inner) => h.mountpoint.join(inner.strip_prefix("/").unwrap_or(inner)),
        Target::Relative(inner) => {
            let own = own.unwrap_or(Path::new("/"));
            let own = if version == Version::V2 {
                own.parent().unwrap_or(own)
            } else {
                own
            };
            // The own cgroup as seen through this mount.
            let below = own
                .strip_prefix(&h.root)
                .unwrap_or(Path::new(""))
                .to_path_buf();
            h.mountpoint.join(below).join(inner)
        }
    }
}

/// The directories from just below the deepest existing ancestor of `path`
/// down to `path`, top first; never above `mountpoint`.
fn missing_components(mountpoint: &Path, path: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut p = path;
    while p != mountpoint && !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    missing.reverse();
    missing
}

// ---------------------------------------------------------------------------
// Files.

/// A v1 cpuset cgroup starts with no CPUs and no memory nodes, and a task
/// cannot join it like that: it gets its parent's.
fn inherit_cpuset(dir: &Path) -> Result<(), Error> {
    let parent = dir.parent().expect("below the mount point");
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_trimmed(dir, file)?.is_empty() {
            write(dir, file, &read_trimmed(parent, file)?)?;
        }
    }
    Ok(())
}

/// Hands the controllers the sandbox uses from `parent` to its children
/// (v2). One the parent does not have stays off: applying a resource of it
/// then fails, naming the missing file.
fn enable_controllers(parent: &Path) -> Result<(), Error> {
    let available = read_file(parent, "cgroup.controllers")?;
    let enabled = read_file(parent, "cgroup.subtree_control")?;
    for c in ["cpu", "cpuset", "memory", "pids", "io"] {
        let has = |list: &str| list.split_whitespace().any(|x| x == c);
        if has(&available) && !has(&enabled) {
            if let Err(e) = write(parent, "cgroup.subtree_control", &format!("+{c}")) {
                tracing::debug!("{e}");
            }
        }
    }
    Ok(())
}

/// Removes `path` and any cgroup inside it, deepest first. A cgroup with
/// a process still exiting is busy for a moment: retried until
/// [`REMOVE_TIMEOUT`].
fn remove_tree(path: &Path) -> Result<(), Error> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Remove {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(POLL)
            }
            Err(source) => {
                return Err(Error::Remove {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

fn read(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })
}

fn read_file(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
}

fn read_trimmed(dir: &Path, file: &str) -> Result<String, Error> {
    Ok(read_file(dir, file)?.trim().to_string())
}

fn parse_u64(path: &Path, text: &str) -> Result<u64, Error> {
    text.parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        content: text.to_string(),
    })
}

fn read_u64(dir: &Path, file: &str) -> Result<u64, Error> {
    parse_u64(&dir.join(file), &read_trimmed(dir, file)?)
}

fn optional_u64(dir: &Path, file: &str) -> Result<Option<u64>, Error> {
    if dir.join(file).exists() {
        read_u64(dir, file).map(Some)
    } else {
        Ok(None)
    }
}

/// A limit file: a number, or `max` (v2) for none.
fn read_limit(dir: &Path, file: &str) -> Result<u64, Error> {
    let text = read_trimmed(dir, file)?;
    if text == "max" {
        return Ok(u64::MAX);
    }
    parse_u64(&dir.join(file), &text)
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    let value = value.to_string();
    // Writing opens without creating, and cgroupfs refuses a new file
    // with EACCES: say what is really wrong.
    let file = std::fs::OpenOptions::new().write(true).open(&path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Missing { path, value })
        }
        Err(source) => {
            return Err(Error::Write {
                path,
                value,
                source,
            })
        }
    };
    // One write: a cgroup file takes its value in a single call.
    match std::io::Write::write(&mut file, value.as_bytes()) {
        Ok(_) => Ok(()),
        Err(source) => Err(Error::Write {
            path,
            value,
            source,
        }),
    }
}

/// Writes and reads back: some files clamp an out-of-range value silently
/// (`cpu.shares`), which runc refuses.
fn write_checked(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    write(dir, file, value)?;
    let got = read_trimmed(dir, file)?;
    if got != value {
        return Err(Error::Clamped {
            path: dir.join(file),
            value: value.to_string(),
            got,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn zeros_are_unset_as_runc_reads_them() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":0,"swap":0},"cpu":{"shares":0,"quota":0,"period":0,"cpus":""},"pids":{"limit":0}}"#,
        )
        .unwrap();
        let n = zero_is_unset(&r);
        let m = n.memory().as_ref().unwrap();
        assert_eq!((m.limit(), m.swap()), (None, None));
        let c = n.cpu().as_ref().unwrap();
        assert_eq!((c.shares(), c.quota(), c.period()), (None, None, None));
        assert_eq!(c.cpus(), &None);
        assert!(n.pids().is_none());
    }

    use super::*;

    fn abs(p: &str) -> Target {
        Target::Absolute(PathBuf::from(p))
    }

    fn rel(p: &str) -> Target {
        Target::Relative(PathBuf::from(p))
    }

    #[test]
    fn cgroups_paths_read_like_runc() {
        assert_eq!(target(None, "c1", false).unwrap(), rel("c1"));
        assert_eq!(target(Some(""), "c1", false).unwrap(), rel("c1"));
        assert_eq!(target(Some("/a/b"), "c1", false).unwrap(), abs("/a/b"));
        assert_eq!(target(Some("a/./b/"), "c1", false).unwrap(), rel("a/b"));
        // Nothing climbs above where it is joined.
        assert_eq!(target(Some("/a/../../b"), "c1", false).unwrap(), abs("/b"));
        assert_eq!(target(Some("../../x"), "c1", false).unwrap(), rel("x"));
        // Without --systemd-cgroup a colon is part of a name.
        assert_eq!(target(Some("/s:p:n"), "c1", false).unwrap(), abs("/s:p:n"));
    }

    #[test]
    fn systemd_paths_become_scopes_in_expanded_slices() {
        let t = |s| target(Some(s), "c1", true);
        assert_eq!(
            t("system.slice:libpod:abc").unwrap(),
            abs("/system.slice/libpod-abc.scope")
        );
        assert_eq!(
            t("machine-a-b.slice:libpod:ID").unwrap(),
            abs("/machine.slice/machine-a.slice/machine-a-b.slice/libpod-ID.scope")
        );
        assert_eq!(t("-.slice:p:n").unwrap(), abs("/p-n.scope"));
        assert_eq!(t(":p:n").unwrap(), abs("/system.slice/p-n.scope"));
        assert_eq!(t("a.slice:p:b.slice").unwrap(), abs("/a.slice/b.slice"));
        assert_eq!(
            target(None, "c1", true).unwrap(),
            abs("/system.slice/vigil-c1.scope")
        );
        for bad in [
            "a.slice:p",
            "a:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a.slice:p:n/x",
            ".slice:p:n",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:3 - cgroup cgroup rw,cpuacct,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn v1_hierarchies_come_from_mountinfo_with_the_unified_one() {
        let (version, h) = hierarchies(HYBRID).unwrap();
        assert_eq!(version, Version::V1);
        let keys: Vec<String> = h.iter().map(Hierarchy::key).collect();
        assert_eq!(keys, ["cpu", "cpu,cpuacct", "memory", "name=systemd", ""]);
        assert!(h[4].unified);
        assert_eq!(h[4].mountpoint, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn a_pure_v2_host_has_one_hierarchy() {
        let mi = "\
25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
90 25 0:22 / /run/x\\040y rw - cgroup2 cgroup2 rw
";
        let (version, h) = hierarchies(mi).unwrap();
        assert_eq!(version, Version::V2);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].mountpoint, Path::new("/sys/fs/cgroup"));
        assert_eq!(unescape("/run/x\\040y"), Path::new("/run/x y"));
        assert!(hierarchies("1 0 0:1 / / rw - ext4 /dev/x rw\n").is_none());
    }

    #[test]
    fn paths_resolve_per_hierarchy() {
        let (_, h) = hierarchies(HYBRID).unwrap();
        let own = own_cgroups("4:memory:/api/x\n1:cpu:/\n9:name=systemd:/\n0::/\n");
        let at = |i: usize, t: &Target| {
            resolve(
                &h[i],
                own.get(&h[i].key()).map(PathBuf::as_path),
                t,
                Version::V1,
            )
        };
        assert_eq!(
            at(2, &rel("c1")),
            Path::new("/sys/fs/cgroup/memory/api/x/c1")
        );
        assert_eq!(at(0, &rel("c1")), Path::new("/sys/fs/cgroup/cpu/c1"));
        assert_eq!(at(2, &abs("/a/b")), Path::new("/sys/fs/cgroup/memory/a/b"));
        assert_eq!(at(4, &abs("/a/b")), Path::new("/sys/fs/cgroup/unified/a/b"));

        // v2: relative to the parent of the own cgroup.
        let v2 = Hierarchy {
            mountpoint: "/sys/fs/cgroup".into(),
            root: "/".into(),
            controllers: vec![],
            unified: true,
        };
        assert_eq!(
            resolve(
                &v2,
                Some(Path::new("/user.slice/session-1.scope")),
                &rel("c1"),
                Version::V2
            ),
            Path::new("/sys/fs/cgroup/user.slice/c1")
        );
        // A mount of a sub-tree (a cgroup namespace): own paths are below
        // its root.
        let sub = Hierarchy {
            root: "/outer".into(),
            ..v2
        };
        assert_eq!(
            resolve(
                &sub,
                Some(Path::new("/outer/in/me")),
                &rel("c1"),
                Version::V2
            ),
            Path::new("/sys/fs/cgroup/in/c1")
        );
    }

    #[test]
    fn values_convert_as_runc_converts_them() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
        assert_eq!(cpu_max(None, Some(20_000)).as_deref(), Some("max 20000"));
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(pids_max(0), "max");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(10), "10");
        assert_eq!(swap_v2(Some(300), Some(100)).unwrap(), Some(200));
        assert_eq!(swap_v2(None, Some(-1)).unwrap(), Some(-1));
        assert_eq!(swap_v2(None, Some(100)).unwrap(), None);
        assert!(swap_v2(Some(50), Some(100)).is_err());
        assert!(swap_v2(Some(50), None).is_err());
    }

    #[test]
    fn keyed_files_and_stats_parse() {
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(oom, "oom_kill"), Some(3));
        assert_eq!(keyed(oom, "oom"), None);
        let t = throttling("nr_periods 5\nnr_throttled 2\nthrottled_usec 7\n", 1000);
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"periods": 5, "throttledPeriods": 2, "throttledTime": 7000})
        );
        let stats = Stats {
            memory: Memory {
                usage: MemoryEntry {
                    usage: 10,
                    limit: 20,
                    ..Default::default()
                },
                raw: stat_map("cache 4\nrss 6\n"),
                ..Default::default()
            },
            ..Default::default()
        };
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["memory"]["usage"]["usage"], 10);
        assert_eq!(json["memory"]["usage"]["failcnt"], 0);
        assert_eq!(json["memory"]["raw"]["rss"], 6);
        assert_eq!(json["memory"]["kernelTCP"]["limit"], 0);
        assert_eq!(json["cpu"]["usage"]["kernel"], 0);
        assert!(json["cpu"]["usage"].get("total").is_none());
    }

    #[test]
    fn a_cgroup_survives_its_state_file() {
        let cgroup = Cgroup {
            version: Version::V1,
            dirs: vec![Dir {
                controllers: vec!["memory".into()],
                path: "/sys/fs/cgroup/memory/a".into(),
                created: 1,
            }],
        };
        let json = serde_json::to_string(&cgroup).unwrap();
        let back: Cgroup = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cgroup);
        assert_eq!(
            back.path("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/a"))
        );
        assert_eq!(back.path("cpu"), None);
    }
}
