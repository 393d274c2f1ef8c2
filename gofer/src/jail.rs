//! The gofer's jail: from an OCI bundle, a private mount namespace whose root
//! is the container's filesystem plus its bind mounts, entered by
//! `pivot_root`, with capabilities cut to what file serving needs,
//! `no_new_privs` and the gofer's seccomp filter.
//!
//! [`Plan::load`] checks the spec before anything changes; [`enter`] is the
//! jail sequence itself. The privileged steps go through [`Host`] so the
//! sequence can be tested with a recording fake; path resolution is real in
//! both cases, because it is where the security lies: a destination is
//! resolved with `RESOLVE_IN_ROOT`, so a symlink in the rootfs can never send
//! a mount outside it, and the mount is made onto the resolved FD's
//! `/proc/self/fd` link, so nothing can swap the path in between.

use crate::backend::ProcSelfFd;
use crate::filter;
use caps::{CapSet, Capability, CapsHashSet};
use nix::mount::{MntFlags, MsFlags};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The capabilities the gofer keeps: enough to serve files of any owner and
/// mode as the container's root would see them, and nothing that changes
/// mounts, namespaces or other processes.
pub const KEPT_CAPABILITIES: [Capability; 6] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_SYS_CHROOT,
];

/// Why the jail could not be built. Every variant names what it was doing
/// and where, so a bad spec or host can be fixed from the message alone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("load {path}: {reason}")]
    Spec { path: PathBuf, reason: String },
    #[error("the spec has no root")]
    NoRoot,
    #[error("root {path}: {errno}")]
    Root { path: PathBuf, errno: Errno },
    #[error("root {path} is not a directory")]
    RootNotDirectory { path: PathBuf },
    #[error("{mount}: destination is not an absolute path")]
    RelativeDestination { mount: MountName },
    #[error("{mount}: destination is the container's root")]
    RootDestination { mount: MountName },
    #[error("{mount}: bind mount without a source")]
    NoSource { mount: MountName },
    #[error("{mount}: source {path}: {errno}")]
    Source {
        mount: MountName,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{mount}: source {path} is neither a directory nor a regular file")]
    SourceType { mount: MountName, path: PathBuf },
    #[error("{mount}: {step} {path}: {errno}")]
    Destination {
        mount: MountName,
        step: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{step}: {errno}")]
    Syscall { step: &'static str, errno: Errno },
    #[error("open /proc/self/fd: {0}")]
    ProcSelfFd(std::io::Error),
    #[error("drop capabilities: {0}")]
    Capabilities(String),
    #[error(transparent)]
    Seccomp(#[from] filter::Error),
}

/// Names a spec mount in messages: its index in `mounts` and destination.
#[derive(Debug, Clone)]
pub struct MountName {
    pub index: usize,
    pub destination: PathBuf,
}

impl fmt::Display for MountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mount {} ({})", self.index, self.destination.display())
    }
}

/// A bind mount of the spec that the gofer sets up and serves.
#[derive(Debug, Clone)]
pub struct BindMount {
    pub name: MountName,
    /// Host path, absolute.
    pub source: PathBuf,
    /// The destination below the container's root, without the leading `/`.
    pub destination: PathBuf,
    pub source_is_dir: bool,
    pub recursive: bool,
    pub readonly: bool,
}

/// What the jail is built from, checked before the first change.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Host path of the container's root filesystem, absolute.
    pub rootfs: PathBuf,
    pub root_readonly: bool,
    /// In spec order; served after the root, in this order.
    pub binds: Vec<BindMount>,
}

impl Plan {
    /// Reads `<bundle>/config.json`.
    pub fn load(bundle: &Path) -> Result<Plan, Error> {
        let config = bundle.join("config.json");
        let spec = oci_spec::runtime::Spec::load(&config).map_err(|e| Error::Spec {
            path: config.clone(),
            reason: spec_error(e),
        })?;
        Plan::from_spec(bundle, &spec)
    }

    /// Relative paths in the spec (the root, bind sources) are relative to
    /// the bundle, as runc reads them.
    pub fn from_spec(bundle: &Path, spec: &oci_spec::runtime::Spec) -> Result<Plan, Error> {
        let bundle = std::path::absolute(bundle).map_err(|e| Error::Spec {
            path: bundle.to_path_buf(),
            reason: e.to_string(),
        })?;
        let root = spec.root().as_ref().ok_or(Error::NoRoot)?;
        if root.path().as_os_str().is_empty() {
            return Err(Error::NoRoot);
        }
        let rootfs = bundle.join(root.path());
        let meta = std::fs::metadata(&rootfs).map_err(|e| Error::Root {
            path: rootfs.clone(),
            errno: io_errno(&e),
        })?;
        if !meta.is_dir() {
            return Err(Error::RootNotDirectory { path: rootfs });
        }
        let mut binds = Vec::new();
        for (index, m) in spec.mounts().iter().flatten().enumerate() {
            let options = m.options().as_deref().unwrap_or_default();
            let has = |o: &str| options.iter().any(|x| x == o);
            let recursive = has("rbind");
            if m.typ().as_deref() != Some("bind") && !recursive && !has("bind") {
                // proc, tmpfs, devpts, ...: the sentry provides those.
                continue;
            }
            let name = MountName {
                index,
                destination: m.destination().clone(),
            };
            if !m.destination().is_absolute() {
                return Err(Error::RelativeDestination { mount: name });
            }
            let destination: PathBuf = m
                .destination()
                .components()
                .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
                .collect();
            if destination.as_os_str().is_empty() {
                return Err(Error::RootDestination { mount: name });
            }
            let source = match m.source() {
                Some(s) if !s.as_os_str().is_empty() => bundle.join(s),
                _ => return Err(Error::NoSource { mount: name }),
            };
            let meta = std::fs::metadata(&source).map_err(|e| Error::Source {
                mount: name.clone(),
                path: source.clone(),
                errno: io_errno(&e),
            })?;
            if !meta.is_dir() && !meta.is_file() {
                return Err(Error::SourceType {
                    mount: name,
                    path: source,
                });
            }
            binds.push(BindMount {
                name,
                source,
                destination,
                source_is_dir: meta.is_dir(),
                recursive,
                readonly: has("ro"),
            });
        }
        Ok(Plan {
            rootfs,
            root_readonly: root.readonly().unwrap_or(false),
            binds,
        })
    }

    /// The root and every bind mount: one connection each.
    pub fn served_mounts(&self) -> usize {
        1 + self.binds.len()
    }
}

/// One mount the gofer serves, opened before `pivot_root`.
#[derive(Debug)]
pub struct ServedMount {
    /// `O_PATH` FD of the mount's root (a directory, or a regular file for a
    /// bind mount of a file).
    pub root: OwnedFd,
    pub readonly: bool,
    /// Where it is mounted in the container (`/` for the root).
    pub destination: PathBuf,
}

/// What the gofer holds once inside the jail.
pub struct Jailed {
    pub proc: Arc<ProcSelfFd>,
    /// The root first, then the bind mounts in spec order.
    pub mounts: Vec<ServedMount>,
}

/// The privileged steps of the jail. Paths named `/proc/self/fd/N` are
/// FDs resolved inside the new root.
pub trait Host {
    fn unshare_mount_namespace(&mut self) -> Result<(), Errno>;
    /// Stops mount events propagating from this namespace to the host's.
    fn make_mounts_private(&mut self) -> Result<(), Errno>;
    fn bind(&mut self, source: &Path, target: &Path, recursive: bool) -> Result<(), Errno>;
    fn remount_readonly(&mut self, target: &Path) -> Result<(), Errno>;
    /// Makes `new_root` this process's `/` and detaches the old root.
    fn pivot_root(&mut self, new_root: BorrowedFd<'_>) -> Result<(), Errno>;
    /// Leaves exactly `keep` in every set but the ambient one, which is
    /// cleared.
    fn limit_capabilities(&mut self, keep: &[Capability]) -> Result<(), String>;
    fn set_no_new_privs(&mut self) -> Result<(), Errno>;
    fn install_seccomp(&mut self) -> Result<(), filter::Error>;
}

/// The jail sequence. Must run while the process has one thread: the mount
/// namespace, root and filter are per thread until threads are created
/// from a thread that has them.
pub fn enter(plan: &Plan, host: &mut impl Host) -> Result<Jailed, Error> {
    let sys = |step| move |errno| Error::Syscall { step, errno };

    // A mount namespace of our own, whose mounts never reach the host.
    host.unshare_mount_namespace()
        .map_err(sys("unshare mount namespace"))?;
    host.make_mounts_private()
        .map_err(sys("make / a recursive slave mount"))?;

    // The rootfs becomes a mount point, which pivot_root needs, and every
    // later path is resolved from an FD of that mount.
    host.bind(&plan.rootfs, &plan.rootfs, true)
        .map_err(|errno| Error::Root {
            path: plan.rootfs.clone(),
            errno,
        })?;
    let root = rustix::fs::open(
        &plan.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| Error::Root {
        path: plan.rootfs.clone(),
        errno,
    })?;

    // Bind mounts, in spec order so that nested ones land on their parents.
    let mut binds = Vec::with_capacity(plan.binds.len());
    for b in &plan.binds {
        let fail = |step, errno| Error::Destination {
            mount: b.name.clone(),
            step,
            path: b.destination.clone(),
            errno,
        };
        let target = resolve_or_create(root.as_fd(), &b.destination, b.source_is_dir)
            .map_err(|(step, errno)| fail(step, errno))?;
        host.bind(&b.source, &fd_path(target.as_fd()), b.recursive)
            .map_err(|errno| fail("bind mount onto", errno))?;
        // Resolve again to hold the new mount rather than what it covers.
        let mounted =
            resolve(root.as_fd(), &b.destination).map_err(|errno| fail("open mounted", errno))?;
        if b.readonly {
            host.remount_readonly(&fd_path(mounted.as_fd()))
                .map_err(|errno| fail("remount read-only", errno))?;
        }
        binds.push(ServedMount {
            root: mounted,
            readonly: b.readonly,
            destination: Path::new("/").join(&b.destination),
        });
    }
    if plan.root_readonly {
        host.remount_readonly(&fd_path(root.as_fd()))
            .map_err(|errno| Error::Root {
                path: plan.rootfs.clone(),
                errno,
            })?;
    }

    // Files are reopened through /proc/self/fd, which pivot_root hides.
    let proc = ProcSelfFd::open().map_err(Error::ProcSelfFd)?;
    let served_root = rustix::io::fcntl_dupfd_cloexec(&root, 0).map_err(sys("dup root FD"))?;
    let mut mounts = vec![ServedMount {
        root: served_root,
        readonly: plan.root_readonly,
        destination: PathBuf::from("/"),
    }];
    mounts.extend(binds);

    host.pivot_root(root.as_fd()).map_err(sys("pivot_root"))?;
    drop(root);

    host.limit_capabilities(&KEPT_CAPABILITIES)
        .map_err(Error::Capabilities)?;
    host.set_no_new_privs().map_err(sys("set no_new_privs"))?;
    host.install_seccomp()?;
    Ok(Jailed { proc, mounts })
}

/// The magic link that names `fd`: mounting onto it mounts onto exactly the
/// file `fd` resolved to.
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// How destinations are resolved: symlinks and `..` are followed as if
/// `root` were `/`, so they never lead out of it.
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

fn resolve(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    loop {
        match rustix::fs::openat2(
            root,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            IN_ROOT,
        ) {
            // The kernel asks for a retry when a rename raced with `..`.
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// Resolves `path` inside `root`, creating what is missing: directories on
/// the way, and at the end a directory or an empty file. Each missing
/// component is created in the directory FD its parent resolved to, and the
/// path is resolved again from `root` afterwards, so a component swapped
/// for a symlink in between is still resolved inside the root. A dangling
/// symlink on the way is replaced by its target (read as a path in the
/// root), whose missing parts are then created.
fn resolve_or_create(
    root: BorrowedFd<'_>,
    path: &Path,
    dir: bool,
) -> Result<OwnedFd, (&'static str, Errno)> {
    // The kernel's limit on symlinks in one resolution.
    const MAX_SYMLINKS: usize = 40;
    let mut path = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match create_missing(root, &path, dir)? {
            Created::Done(fd) => return Ok(fd),
            Created::Dangling(target) => path = target,
        }
    }
    Err(("resolve", Errno::LOOP))
}

enum Created {
    Done(OwnedFd),
    /// The path with a dangling symlink replaced by its target.
    Dangling(PathBuf),
}

fn create_missing(
    root: BorrowedFd<'_>,
    path: &Path,
    dir: bool,
) -> Result<Created, (&'static str, Errno)> {
    let components: Vec<_> = path.components().collect();
    let mut prefix = PathBuf::new();
    let mut parent: Option<OwnedFd> = None;
    for (i, component) in components.iter().enumerate() {
        prefix.push(component);
        match resolve(root, &prefix) {
            Ok(fd) => {
                parent = Some(fd);
                continue;
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(("resolve", e)),
        }
        let at = parent.as_ref().map_or(root, |p| p.as_fd());
        let name = component.as_os_str();
        let last = i + 1 == components.len();
        let created = if dir || !last {
            rustix::fs::mkdirat(at, name, Mode::from_raw_mode(0o755))
        } else {
            rustix::fs::openat(
                at,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        };
        match created {
            Ok(()) => {}
            // Someone else created it, or it is a dangling symlink.
            Err(Errno::EXIST) => {
                if let Ok(target) = rustix::fs::readlinkat(at, name, Vec::new()) {
                    let target = PathBuf::from(std::ffi::OsString::from_vec(target.into_bytes()));
                    let mut next = match prefix.parent() {
                        Some(p) if target.is_relative() => p.join(&target),
                        _ => target
                            .components()
                            .filter(|c| *c != Component::RootDir)
                            .collect(),
                    };
                    next.extend(&components[i + 1..]);
                    return Ok(Created::Dangling(next));
                }
            }
            Err(e) => return Err(("create", e)),
        }
        parent = Some(resolve(root, &prefix).map_err(|e| ("resolve created", e))?);
    }
    match parent {
        Some(fd) => Ok(Created::Done(fd)),
        None => Err(("resolve", Errno::INVAL)),
    }
}

/// oci-spec's own messages ("serde failed") hide the cause; the cause is
/// what a user needs.
fn spec_error(e: oci_spec::OciSpecError) -> String {
    use oci_spec::OciSpecError;
    match e {
        OciSpecError::Io(e) => e.to_string(),
        OciSpecError::SerDe(e) => format!("invalid JSON: {e}"),
        e => e.to_string(),
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

/// The real host: system calls.
pub struct RealHost;

impl Host for RealHost {
    fn unshare_mount_namespace(&mut self) -> Result<(), Errno> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(nix_errno)
    }

    fn make_mounts_private(&mut self) -> Result<(), Errno> {
        // Slave rather than private: host unmounts still reach us, so we do
        // not pin filesystems the host wants gone.
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(nix_errno)
    }

    fn bind(&mut self, source: &Path, target: &Path, recursive: bool) -> Result<(), Errno> {
        let mut flags = MsFlags::MS_BIND;
        if recursive {
            flags |= MsFlags::MS_REC;
        }
        nix::mount::mount(Some(source), target, None::<&str>, flags, None::<&str>)
            .map_err(nix_errno)
    }

    fn remount_readonly(&mut self, target: &Path) -> Result<(), Errno> {
        // A bind remount sets the per-mount flags to exactly those given, so
        // keep the ones the mount already has.
        let have = nix::sys::statvfs::statvfs(target)
            .map_err(nix_errno)?
            .flags();
        use nix::sys::statvfs::FsFlags;
        let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        for (st, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if have.contains(st) {
                flags |= ms;
            }
        }
        nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
            .map_err(nix_errno)
    }

    fn pivot_root(&mut self, new_root: BorrowedFd<'_>) -> Result<(), Errno> {
        // pivot_root(".", ".") stacks the old root on top of the new one,
        // so no directory is needed to park it in. "." must then name the
        // old root for the detach, and a lookup of "." from the new root
        // does not descend into the mount stacked on it: go there by FD.
        let old_root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        nix::unistd::fchdir(new_root).map_err(nix_errno)?;
        nix::unistd::pivot_root(".", ".").map_err(nix_errno)?;
        nix::unistd::fchdir(&old_root).map_err(nix_errno)?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(nix_errno)?;
        nix::unistd::chdir("/").map_err(nix_errno)
    }

    fn limit_capabilities(&mut self, keep: &[Capability]) -> Result<(), String> {
        let keep: CapsHashSet = keep.iter().copied().collect();
        let err = |set: &str, e: caps::errors::CapsError| format!("{set} set: {e}");
        // The bounding set first: dropping from it needs CAP_SETPCAP, which
        // the effective set is about to lose.
        for cap in caps::all() {
            if !keep.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).map_err(|e| err("bounding", e))?
            {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| format!("bounding set: drop {cap}: {e}"))?;
            }
        }
        caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
        // Inheritable may only grow within the permitted set, and effective
        // must stay within it, so permitted is cut last.
        caps::set(None, CapSet::Inheritable, &keep).map_err(|e| err("inheritable", e))?;
        caps::set(None, CapSet::Effective, &keep).map_err(|e| err("effective", e))?;
        caps::set(None, CapSet::Permitted, &keep).map_err(|e| err("permitted", e))
    }

    fn set_no_new_privs(&mut self) -> Result<(), Errno> {
        nix::sys::prctl::set_no_new_privs().map_err(nix_errno)
    }

    fn install_seccomp(&mut self) -> Result<(), filter::Error> {
        filter::install()
    }
}

fn nix_errno(e: nix::errno::Errno) -> Errno {
    Errno::from_raw_os_error(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// Records each step; mount targets are recorded as the host paths their
    /// FDs resolved to, which is what the security of the jail rests on.
    #[derive(Default)]
    struct Recorder {
        steps: Vec<String>,
    }

    fn shown(p: &Path) -> String {
        match fs::read_link(p) {
            Ok(t) if p.starts_with("/proc/self/fd") => t.display().to_string(),
            _ => p.display().to_string(),
        }
    }

    impl Host for Recorder {
        fn unshare_mount_namespace(&mut self) -> Result<(), Errno> {
            self.steps.push("unshare".into());
            Ok(())
        }
        fn make_mounts_private(&mut self) -> Result<(), Errno> {
            self.steps.push("slave /".into());
            Ok(())
        }
        fn bind(&mut self, source: &Path, target: &Path, recursive: bool) -> Result<(), Errno> {
            let r = if recursive { "rbind" } else { "bind" };
            self.steps
                .push(format!("{r} {} {}", source.display(), shown(target)));
            Ok(())
        }
        fn remount_readonly(&mut self, target: &Path) -> Result<(), Errno> {
            self.steps.push(format!("ro {}", shown(target)));
            Ok(())
        }
        fn pivot_root(&mut self, new_root: BorrowedFd<'_>) -> Result<(), Errno> {
            self.steps
                .push(format!("pivot_root {}", shown(&fd_path(new_root))));
            Ok(())
        }
        fn limit_capabilities(&mut self, keep: &[Capability]) -> Result<(), String> {
            self.steps.push(format!("caps {}", keep.len()));
            Ok(())
        }
        fn set_no_new_privs(&mut self) -> Result<(), Errno> {
            self.steps.push("no_new_privs".into());
            Ok(())
        }
        fn install_seccomp(&mut self) -> Result<(), filter::Error> {
            self.steps.push("seccomp".into());
            Ok(())
        }
    }

    struct Bundle {
        dir: tempfile::TempDir,
    }

    impl Bundle {
        fn new() -> Bundle {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("rootfs")).unwrap();
            Bundle { dir }
        }
        fn path(&self) -> PathBuf {
            fs::canonicalize(self.dir.path()).unwrap()
        }
        fn config(&self, root: &str, mounts: &str) {
            let json = format!(r#"{{"ociVersion":"1.0.2","root":{root},"mounts":[{mounts}]}}"#);
            fs::write(self.dir.path().join("config.json"), json).unwrap();
        }
        fn plan(&self) -> Result<Plan, Error> {
            Plan::load(self.dir.path())
        }
    }

    #[test]
    fn sequence_reads_top_to_bottom() {
        let b = Bundle::new();
        let p = b.path();
        fs::create_dir(p.join("vol")).unwrap();
        fs::write(p.join("file"), "f").unwrap();
        b.config(
            r#"{"path":"rootfs","readonly":true}"#,
            r#"{"destination":"/proc","type":"proc","source":"proc"},
               {"destination":"/data/vol","type":"bind","source":"vol","options":["rbind","ro"]},
               {"destination":"/etc/hosts","source":"file","options":["bind"]}"#,
        );
        let plan = b.plan().unwrap();
        assert_eq!(plan.served_mounts(), 3);
        let mut rec = Recorder::default();
        let jailed = enter(&plan, &mut rec).unwrap();
        let root = p.join("rootfs");
        let r = root.display();
        let p = p.display();
        assert_eq!(
            rec.steps,
            [
                "unshare".to_string(),
                "slave /".into(),
                format!("rbind {r} {r}"),
                format!("rbind {p}/vol {r}/data/vol"),
                format!("ro {r}/data/vol"),
                format!("bind {p}/file {r}/etc/hosts"),
                format!("ro {r}"),
                format!("pivot_root {r}"),
                "caps 6".into(),
                "no_new_privs".into(),
                "seccomp".into(),
            ]
        );
        assert!(root.join("data/vol").is_dir());
        assert!(root.join("etc/hosts").is_file());
        let served: Vec<_> = jailed
            .mounts
            .iter()
            .map(|m| (m.destination.display().to_string(), m.readonly))
            .collect();
        assert_eq!(
            served,
            [
                ("/".to_string(), true),
                ("/data/vol".into(), true),
                ("/etc/hosts".into(), false)
            ]
        );
    }

    #[test]
    fn symlinked_destinations_stay_inside_the_root() {
        let b = Bundle::new();
        let p = b.path();
        let root = p.join("rootfs");
        fs::create_dir(p.join("vol")).unwrap();
        symlink("/", root.join("abs")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        fs::create_dir(root.join("d")).unwrap();
        symlink("../../..", root.join("d/rel")).unwrap();
        let outside = p.join("outside");
        fs::create_dir(&outside).unwrap();
        symlink(&outside, root.join("host")).unwrap();
        symlink("/nowhere/../at", root.join("dangling")).unwrap();
        b.config(
            r#"{"path":"rootfs"}"#,
            r#"{"destination":"/abs/m1","type":"bind","source":"vol"},
               {"destination":"/up/m2","type":"bind","source":"vol"},
               {"destination":"/d/rel/m3","type":"bind","source":"vol"},
               {"destination":"/host/m4","type":"bind","source":"vol"},
               {"destination":"/../../m5","type":"bind","source":"vol"},
               {"destination":"/dangling/m6","type":"bind","source":"vol"}"#,
        );
        let mut rec = Recorder::default();
        enter(&b.plan().unwrap(), &mut rec).unwrap();
        let r = root.display();
        let targets: Vec<_> = rec.steps[3..9].to_vec();
        let v = p.join("vol");
        let v = v.display();
        assert_eq!(
            targets,
            [
                format!("bind {v} {r}/m1"),
                format!("bind {v} {r}/m2"),
                format!("bind {v} {r}/m3"),
                // An absolute symlink to a host path names a path in the root.
                format!("bind {v} {r}{}/m4", outside.display()),
                format!("bind {v} {r}/m5"),
                format!("bind {v} {r}/at/m6"),
            ]
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn malformed_specs_are_precise_errors() {
        let b = Bundle::new();
        let msg = |b: &Bundle| b.plan().unwrap_err().to_string();

        fs::write(b.dir.path().join("config.json"), "{not json").unwrap();
        assert!(msg(&b).contains("config.json"), "{}", msg(&b));

        b.config(r#"{"path":"missing"}"#, "");
        assert!(msg(&b).starts_with("root ") && msg(&b).contains("No such file"));

        b.config(
            r#"{"path":"rootfs"}"#,
            r#"{"destination":"data","type":"bind","source":"/"}"#,
        );
        assert_eq!(
            msg(&b),
            "mount 0 (data): destination is not an absolute path"
        );

        b.config(
            r#"{"path":"rootfs"}"#,
            r#"{"destination":"/tmp","type":"tmpfs"},{"destination":"/x","type":"bind","source":"/nonexistent-vigil"}"#,
        );
        assert!(msg(&b).starts_with("mount 1 (/x): source /nonexistent-vigil: No such file"));

        b.config(
            r#"{"path":"rootfs"}"#,
            r#"{"destination":"/x","options":["rbind"]}"#,
        );
        assert_eq!(msg(&b), "mount 0 (/x): bind mount without a source");

        b.config(
            r#"{"path":"rootfs"}"#,
            r#"{"destination":"/","type":"bind","source":"/"}"#,
        );
        assert_eq!(msg(&b), "mount 0 (/): destination is the container's root");
    }

    #[test]
    fn an_impossible_destination_is_an_error_not_a_panic() {
        let b = Bundle::new();
        let p = b.path();
        fs::create_dir(p.join("vol")).unwrap();
        fs::write(p.join("rootfs/file"), "").unwrap();
        b.config(
            r#"{"path":"rootfs"}"#,
            r#"{"destination":"/file/sub","type":"bind","source":"vol"}"#,
        );
        let e = enter(&b.plan().unwrap(), &mut Recorder::default())
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("mount 0 (/file/sub): "), "{e}");
        assert!(e.to_string().contains("Not a directory"), "{e}");
    }
}
