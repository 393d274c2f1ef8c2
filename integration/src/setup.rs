//! The environment the end-to-end tests need, prepared once and cached:
//! host packages (runc, busybox-static, debootstrap), a busybox root file
//! system, a Debian bookworm root file system and the compiled C test
//! programs. Every step is idempotent and cheap when its result is already
//! there, guarded in-process by a `OnceLock` and across processes by a file
//! lock, because nextest runs each test in its own process and several at
//! once.
//!
//! The cache lives in `<target>/vigil-rootfs/`: `busybox/`, `debian/`,
//! `programs/`, their lock and stamp files, and debootstrap's package cache.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::process;

/// Debian packages the tests drive. gcc and libc6-dev build the C programs
/// (static linking needs `libc.a`).
const PACKAGES: &[&str] = &["runc", "busybox-static", "debootstrap", "gcc", "libc6-dev"];
/// The real clients the `clients` tests drive vigil with, installed only by
/// the tests that need them. conmon is podman's container monitor (a
/// dependency, named so that a half-removed podman is noticed); docker.io
/// brings dockerd and containerd, whose runc shim Docker drives runtimes
/// through. The CRI tests' client is Python (`integration/cri/cri.py`, on
/// python3-grpcio and python3-protobuf); their pod network needs Debian's
/// loopback CNI plugin and `ip` (iproute2).
const CLIENT_PACKAGES: &[&str] = &[
    "podman",
    "conmon",
    "containerd",
    "docker.io",
    "python3-grpcio",
    "python3-protobuf",
    "containernetworking-plugins",
    "iproute2",
];

/// The suite and the extra packages of the Debian root file system. Part of
/// its stamp: changing either rebuilds it.
const DEBIAN_SUITE: &str = "bookworm";
const DEBIAN_INCLUDE: &str = "python3";
/// Used when no bookworm source is configured for apt.
const DEFAULT_DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";
/// A failed debootstrap is not retried by every test of the same run: its
/// reason is remembered this long (or until `VIGIL_DEBIAN_RETRY=1`).
const DEBIAN_FAILURE_MEMORY: Duration = Duration::from_secs(10 * 60);

/// Mount points the cases use, made in every root file system so that the
/// runtimes never have to create them in the shared, read-only cache.
pub const MOUNT_POINTS: &[&str] = &["mnt/host", "mnt/scratch", "opt/vigil-tests"];
/// Where the compiled C programs appear inside a container.
pub const PROGRAMS_MOUNT: &str = "/opt/vigil-tests";

/// The directory that holds everything this module builds.
pub fn cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("vigil-rootfs");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        dir
    })
    .clone()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else found from
/// the test executable (`<target>/<profile>/deps/<test>`), which is right
/// whichever way the tests were started.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace_dir().join(dir)
        };
    }
    profile_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_dir().join("target"))
}

/// `<target>/<profile>`, the directory the workspace's binaries are built in.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("executable has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("deps has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The workspace root (this crate's parent).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate inside the workspace")
        .to_path_buf()
}

/// An exclusive `flock` on `<cache>/<name>.lock`, released on drop.
pub(crate) struct FileLock(#[allow(dead_code)] fs::File);

impl FileLock {
    pub(crate) fn acquire(name: &str) -> FileLock {
        let path = cache_dir().join(format!("{name}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
        FileLock(file)
    }
}

/// Installs whichever of the needed Debian packages are missing, running
/// `apt-get update` first only when something is. Errors carry apt's output.
pub fn host_packages() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| install_missing(PACKAGES)).clone()
}

/// [`host_packages`] and the real clients (podman, containerd, Docker).
pub fn client_packages() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        host_packages()?;
        install_missing(CLIENT_PACKAGES)
    })
    .clone()
}

fn install_missing(packages: &[&str]) -> Result<(), String> {
    let _lock = FileLock::acquire("packages");
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing {}", missing.join(" "));
    apt_get(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt_get(&args)
}

/// The absolute path of a program on `PATH` (clients that are given a
/// runtime by path need one).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

fn package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn apt_get(args: &[&str]) -> Result<(), String> {
    let out = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("apt-get {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "apt-get {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The host's static busybox (Debian installs it in /bin or /usr/bin).
fn host_busybox() -> PathBuf {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox-static installs busybox")
}

/// The busybox root file system, built on first use and whenever the host's
/// busybox changes. Panics with the reason if it cannot be built: every
/// busybox case depends on it.
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        host_packages().unwrap_or_else(|e| panic!("setup: {e}"));
        let dir = cache_dir().join("busybox");
        let busybox = host_busybox();
        let _lock = FileLock::acquire("busybox");
        // Byte equality, not a timestamp: the binary is 2 MB and this is
        // exact across reinstalls of the same package.
        let current = fs::read(&busybox).expect("reading busybox");
        if fs::read(dir.join("bin/busybox")).is_ok_and(|cached| cached == current) {
            return dir;
        }
        build_busybox_rootfs(&busybox, &dir)
            .unwrap_or_else(|e| panic!("setup: building the busybox rootfs: {e}"));
        dir
    })
}

fn build_busybox_rootfs(busybox: &Path, dir: &Path) -> std::io::Result<()> {
    let tmp = fresh_temp_sibling(dir)?;
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "dev", "proc", "sys",
    ] {
        fs::create_dir_all(tmp.join(d))?;
    }
    for d in MOUNT_POINTS {
        fs::create_dir_all(tmp.join(d))?;
    }
    fs::create_dir(tmp.join("tmp"))?;
    fs::set_permissions(tmp.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(tmp.join("root"), fs::Permissions::from_mode(0o700))?;
    fs::copy(busybox, tmp.join("bin/busybox"))?;
    fs::set_permissions(tmp.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;

    // `--list-full` names each applet with its usual directory (bin/sh,
    // usr/bin/awk, sbin/...), so PATH lookups look like a real distribution.
    let list = Command::new(busybox).arg("--list-full").output()?;
    if !list.status.success() {
        return Err(std::io::Error::other("busybox --list-full failed"));
    }
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        let link = tmp.join(applet);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(
        tmp.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(tmp.join("etc/group"), "root:x:0:\nnobody:x:65534:\n")?;
    replace_dir(&tmp, dir)
}

/// A new, empty `<dir>.tmp-<pid>` next to `dir`, after removing leftovers
/// of builds that died (the caller holds the lock, so none is running).
fn fresh_temp_sibling(dir: &Path) -> std::io::Result<PathBuf> {
    let parent = dir.parent().expect("cache entry has a parent");
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    for entry in fs::read_dir(parent)? {
        let entry = entry?;
        let other = entry.file_name().to_string_lossy().into_owned();
        if other.starts_with(&format!("{name}.tmp-")) || other.starts_with(&format!("{name}.old-"))
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let tmp = parent.join(format!("{name}.tmp-{}", std::process::id()));
    fs::create_dir(&tmp)?;
    Ok(tmp)
}

/// Puts the finished `tmp` in place of `dir` with renames, so a reader sees
/// either the old tree or the new one, never half of one.
fn replace_dir(tmp: &Path, dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        let old = dir.with_file_name(format!(
            "{}.old-{}",
            dir.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        fs::rename(dir, &old)?;
        fs::rename(tmp, dir)?;
        fs::remove_dir_all(&old)
    } else {
        fs::rename(tmp, dir)
    }
}

/// The Debian bookworm root file system (minbase + python3), built once by
/// debootstrap. `Err` holds the reason it is unavailable (no network to the
/// mirror, debootstrap missing or too slow): the cases that need it skip
/// with that reason instead of failing.
pub fn debian_rootfs() -> Result<&'static Path, String> {
    static ROOTFS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOTFS
        .get_or_init(build_debian_rootfs_once)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

fn build_debian_rootfs_once() -> Result<PathBuf, String> {
    let cache = cache_dir();
    let dir = cache.join("debian");
    let stamp_path = cache.join("debian.stamp");
    let failed_path = cache.join("debian.failed");
    let stamp = format!("suite={DEBIAN_SUITE} variant=minbase include={DEBIAN_INCLUDE}\n");
    // The check before the lock is the fast path of every later run.
    let ready = || {
        dir.join("bin").exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp)
    };
    if ready() {
        return Ok(dir);
    }
    let _lock = FileLock::acquire("debian");
    if ready() {
        return Ok(dir);
    }
    if std::env::var_os("VIGIL_DEBIAN_RETRY").is_none() {
        if let Some(reason) = recent_failure(&failed_path) {
            return Err(reason);
        }
    }
    host_packages()?;
    let mirror = std::env::var("VIGIL_DEBIAN_MIRROR").unwrap_or_else(|_| debian_mirror());
    let timeout = std::env::var("VIGIL_DEBOOTSTRAP_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(20 * 60));
    eprintln!("setup: debootstrap {DEBIAN_SUITE} from {mirror} (a one-time cost)");
    let result = debootstrap(&dir, &mirror, timeout);
    match result {
        Ok(()) => {
            let _ = fs::remove_file(&failed_path);
            fs::write(&stamp_path, &stamp).map_err(|e| e.to_string())?;
            Ok(dir)
        }
        Err(reason) => {
            let reason = format!(
                "the Debian rootfs could not be built ({reason}); set VIGIL_DEBIAN_RETRY=1 to retry at once"
            );
            let _ = fs::write(&failed_path, &reason);
            Err(reason)
        }
    }
}

fn recent_failure(path: &Path) -> Option<String> {
    let age = fs::metadata(path).ok()?.modified().ok()?;
    let age = SystemTime::now().duration_since(age).unwrap_or_default();
    (age < DEBIAN_FAILURE_MEMORY).then(|| fs::read_to_string(path).unwrap_or_default())
}

fn debootstrap(dir: &Path, mirror: &str, timeout: Duration) -> Result<(), String> {
    let debs = cache_dir().join("debootstrap-cache");
    fs::create_dir_all(&debs).map_err(|e| e.to_string())?;
    let tmp = fresh_temp_sibling(dir).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={DEBIAN_INCLUDE}"))
        // Keeping the .debs makes a rebuild (after `rm -r` of the rootfs or
        // a stamp change) need no network.
        .arg(format!("--cache-dir={}", debs.display()))
        .arg(DEBIAN_SUITE)
        .arg(&tmp)
        .arg(mirror);
    let out = process::run(&mut cmd, b"", timeout, &mut || {})
        .map_err(|e| format!("starting debootstrap: {e}"))?;
    let log = cache_dir().join("debian.log");
    let _ = fs::File::create(&log).and_then(|mut f| {
        f.write_all(&out.stdout)?;
        f.write_all(&out.stderr)
    });
    if out.timed_out || out.exit != 0 {
        let _ = fs::remove_dir_all(&tmp);
        let what = if out.timed_out {
            format!("debootstrap took longer than {timeout:?}")
        } else {
            format!("debootstrap exited with {}", out.exit)
        };
        return Err(format!("{what}; its log is {}", log.display()));
    }
    for d in MOUNT_POINTS {
        fs::create_dir_all(tmp.join(d)).map_err(|e| e.to_string())?;
    }
    replace_dir(&tmp, dir).map_err(|e| e.to_string())
}

/// The first bookworm `deb` source apt is configured with (one-line
/// `sources.list` entries or deb822 `.sources` files), else Debian's CDN.
pub fn debian_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let found = match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => mirror_from_deb822(&text),
            Some("list") | None => mirror_from_one_line(&text),
            _ => None,
        };
        if let Some(mirror) = found {
            return mirror;
        }
    }
    DEFAULT_DEBIAN_MIRROR.to_string()
}

fn mirror_from_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
        (words.next()? == "deb").then_some(())?;
        let uri = words.next()?;
        (words.next()? == DEBIAN_SUITE).then(|| uri.to_string())
    })
}

fn mirror_from_deb822(text: &str) -> Option<String> {
    // Stanzas are separated by blank lines; comments may sit anywhere.
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let debs = field("Types")?.split_whitespace().any(|t| t == "deb");
        let suite = field("Suites")?
            .split_whitespace()
            .any(|s| s == DEBIAN_SUITE);
        let enabled = field("Enabled").is_none_or(|e| e != "no");
        (debs && suite && enabled).then_some(())?;
        field("URIs")?.split_whitespace().next().map(str::to_string)
    })
}

/// The compiled C programs: for each `programs/NAME.c`, `NAME` (static, for
/// the busybox rootfs) and `NAME-dynamic` (for the Debian rootfs, whose
/// glibc is the one they were linked against). Rebuilt only when a source
/// changed: the source and flags used are kept next to the binaries and
/// compared.
pub fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        host_packages().unwrap_or_else(|e| panic!("setup: {e}"));
        let dir = cache_dir().join("programs");
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
        let _lock = FileLock::acquire("programs");
        fs::create_dir_all(&dir).expect("creating the programs dir");
        let mut entries: Vec<PathBuf> = fs::read_dir(&sources)
            .expect("reading programs/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "c"))
            .collect();
        entries.sort();
        for src in entries {
            compile(&src, &dir).unwrap_or_else(|e| panic!("setup: {e}"));
        }
        dir
    })
}

const CFLAGS: &[&str] = &["-O2", "-Wall", "-Werror", "-D_GNU_SOURCE", "-pthread"];

fn compile(src: &Path, dir: &Path) -> Result<(), String> {
    let name = src.file_stem().unwrap().to_string_lossy().into_owned();
    // The flags are part of what was built: a change of either rebuilds.
    let mut text = format!("// gcc {}\n", CFLAGS.join(" ")).into_bytes();
    text.extend(fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?);
    let kept = dir.join(format!("{name}.c"));
    let outputs = [(name.clone(), true), (format!("{name}-dynamic"), false)];
    let fresh = fs::read(&kept).is_ok_and(|k| k == text)
        && outputs.iter().all(|(o, _)| dir.join(o).exists());
    if fresh {
        return Ok(());
    }
    for (out, is_static) in outputs {
        // Link to a temporary name and rename, so a container started by
        // another process never runs a half-written binary.
        let tmp = dir.join(format!(".{out}.tmp-{}", std::process::id()));
        let mut cmd = Command::new("gcc");
        cmd.args(CFLAGS);
        if is_static {
            cmd.arg("-static");
        }
        cmd.arg("-o").arg(&tmp).arg(src).arg("-ldl");
        let res = cmd.output().map_err(|e| format!("running gcc: {e}"))?;
        if !res.status.success() {
            return Err(format!(
                "gcc {}: {}",
                src.display(),
                String::from_utf8_lossy(&res.stderr)
            ));
        }
        fs::rename(&tmp, dir.join(&out)).map_err(|e| e.to_string())?;
    }
    fs::write(&kept, &text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_sh() {
        assert!(which("sh").is_some_and(|p| p.is_absolute()));
        assert_eq!(which("surely-no-such-program-here"), None);
    }

    #[test]
    fn mirror_from_sources_files() {
        let deb822 = "Types: deb\n# comment\nURIs: http://mirror.example/debian\n\
                      Suites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://mirror.example/debian-security\n\
                      Suites: bookworm-security\n";
        assert_eq!(
            mirror_from_deb822(deb822).as_deref(),
            Some("http://mirror.example/debian")
        );
        let security_only = "Types: deb\nURIs: http://s.example/\nSuites: bookworm-security\n";
        assert_eq!(mirror_from_deb822(security_only), None);
        let list = "# x\ndeb-src http://a.example/ bookworm main\n\
                    deb [arch=amd64] http://b.example/debian bookworm main\n";
        assert_eq!(
            mirror_from_one_line(list).as_deref(),
            Some("http://b.example/debian")
        );
    }
}
