//! The text formats of `/proc` files. Their layout is an interface that
//! `ps`, `top`, `free`, libc and language runtimes parse, so field order,
//! separators and units follow Linux's `proc(5)` exactly.

use super::{FdEntry, MountView, ProcessInfo, Shared, CLOCK_TICKS, KERNEL_RELEASE, KERNEL_VERSION};
use crate::errno::SysResult;
use crate::return_errno;
use crate::vfs::attr::{major, minor};
use crate::vfs::mount::VfsPath;
use std::fmt::Write as _;
use std::time::Duration;

const PAGE_KIB: u64 = 4;

fn ticks(d: Duration) -> u64 {
    d.as_millis() as u64 * CLOCK_TICKS / 1000
}

/// A random (version 4) UUID in its text form.
pub fn uuid() -> Vec<u8> {
    let mut b = [0u8; 16];
    // Without the host's randomness a constant still parses as a UUID.
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s.into_bytes()
}

/// A decimal integer written to a file, with optional whitespace around.
pub fn parse_int(buf: &[u8]) -> SysResult<i64> {
    let s = std::str::from_utf8(buf).map_err(|_| crate::errno!(EINVAL))?;
    match s.trim().parse() {
        Ok(v) => Ok(v),
        Err(_) => return_errno!(EINVAL),
    }
}

pub fn version() -> Vec<u8> {
    format!("Linux version {KERNEL_RELEASE} (vigil@vigil) (vigil application kernel) {KERNEL_VERSION}\n")
        .into_bytes()
}

pub fn filesystems() -> Vec<u8> {
    ["sysfs", "tmpfs", "proc", "devpts", "9p"]
        .iter()
        .map(|f| format!("nodev\t{f}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Resident memory of all processes, in KiB: the sandbox's usage.
fn used_kib(sh: &Shared) -> u64 {
    let src = &sh.source;
    src.pids()
        .into_iter()
        .filter_map(|p| src.process(p))
        .map(|i| i.rss_pages * PAGE_KIB)
        .sum()
}

pub fn meminfo(sh: &Shared) -> SysResult<Vec<u8>> {
    let total = sh.host.mem_total_kib;
    let free = total.saturating_sub(used_kib(sh));
    let mut s = String::new();
    for (name, v) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", total - free),
        ("Mapped", 0),
        ("Shmem", 0),
        ("SReclaimable", 0),
        ("CommitLimit", total),
        ("Committed_AS", total - free),
        ("VmallocTotal", 0),
    ] {
        let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{name}:"));
    }
    Ok(s.into_bytes())
}

pub fn uptime(sh: &Shared) -> SysResult<Vec<u8>> {
    let up = sh.source.uptime().as_secs_f64();
    // Idle time summed over CPUs: the sandbox does not track it, and an
    // idle share close to all is what a mostly waiting sandbox has.
    let idle = up * f64::from(sh.host.cpus);
    Ok(format!("{up:.2} {idle:.2}\n").into_bytes())
}

pub fn loadavg(sh: &Shared) -> SysResult<Vec<u8>> {
    let src = &sh.source;
    let infos: Vec<ProcessInfo> = src
        .pids()
        .into_iter()
        .filter_map(|p| src.process(p))
        .collect();
    let threads: u32 = infos.iter().map(|i| i.threads.max(1)).sum();
    let running = infos.iter().filter(|i| i.state == 'R').count().max(1);
    let last = infos.iter().map(|i| i.pid).max().unwrap_or(0);
    Ok(format!("0.00 0.00 0.00 {running}/{threads} {last}\n").into_bytes())
}

pub fn stat(sh: &Shared) -> SysResult<Vec<u8>> {
    let src = &sh.source;
    let infos: Vec<ProcessInfo> = src
        .pids()
        .into_iter()
        .filter_map(|p| src.process(p))
        .collect();
    let cpus = u64::from(sh.host.cpus.max(1));
    let user: u64 = infos.iter().map(|i| ticks(i.user_time)).sum();
    let system: u64 = infos.iter().map(|i| ticks(i.system_time)).sum();
    let up = src.uptime();
    let idle = (ticks(up) * cpus).saturating_sub(user + system);
    let mut s = String::new();
    let _ = writeln!(s, "cpu  {user} 0 {system} {idle} 0 0 0 0 0 0");
    for c in 0..cpus {
        // Per-CPU accounting is not kept: share the totals out evenly.
        let _ = writeln!(
            s,
            "cpu{c} {} 0 {} {} 0 0 0 0 0 0",
            user / cpus,
            system / cpus,
            idle / cpus
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let btime = now.saturating_sub(up).as_secs();
    let running = infos.iter().filter(|i| i.state == 'R').count();
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {btime}\nprocesses {}\nprocs_running {running}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
        infos.len()
    );
    Ok(s.into_bytes())
}

/// `/proc/PID/stat`: 52 space-separated fields on one line.
pub fn pid_stat(i: &ProcessInfo) -> Vec<u8> {
    let rsslim = i.rlimit(libc::RLIMIT_RSS as usize).cur;
    let sig = &i.signals;
    let fields: [u64; 10] = [
        0, // flags
        0, // minflt
        0, // cminflt
        0, // majflt
        0, // cmajflt
        ticks(i.user_time),
        ticks(i.system_time),
        ticks(i.children_user_time),
        ticks(i.children_system_time),
        // priority: 20 + nice for normal scheduling.
        (20 + i64::from(i.nice)) as u64,
    ];
    let mut s = format!(
        "{} ({}) {} {} {} {} {} {}",
        i.pid,
        String::from_utf8_lossy(&i.comm),
        i.state,
        i.ppid,
        i.pgid,
        i.sid,
        i.tty_nr,
        i.tpgid
    );
    for f in fields {
        let _ = write!(s, " {f}");
    }
    // nice, num_threads, itrealvalue, starttime, vsize, rss, rsslim.
    let _ = write!(
        s,
        " {} {} 0 {} {} {} {}",
        i.nice,
        i.threads,
        ticks(i.start_time),
        i.vsize,
        i.rss_pages,
        rsslim
    );
    // startcode endcode startstack kstkesp kstkeip: not exposed.
    s.push_str(" 0 0 0 0 0");
    // Linux shows the low 32 signals here, in decimal.
    let low = |m: u64| m & 0xffff_ffff;
    let _ = write!(
        s,
        " {} {} {} {}",
        low(sig.pending | sig.shared_pending),
        low(sig.blocked),
        low(sig.ignored),
        low(sig.caught)
    );
    // wchan nswap cnswap, exit_signal, processor, rt_priority policy,
    // blkio ticks, guest_time cguest_time, then the seven memory layout
    // addresses and the exit code.
    let _ = writeln!(
        s,
        " 0 0 0 {} {} 0 0 0 0 0 0 0 0 0 0 0 0 0",
        i.exit_signal, i.cpu
    );
    s.into_bytes()
}

pub fn statm(i: &ProcessInfo) -> Vec<u8> {
    format!("{} {} 0 0 0 0 0\n", i.vsize / 4096, i.rss_pages).into_bytes()
}

fn state_name(state: char) -> &'static str {
    match state {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        'X' => "X (dead)",
        _ => "S (sleeping)",
    }
}

/// `/proc/PID/status`: `Name:\tvalue` lines.
pub fn status(i: &ProcessInfo, cpus: u32) -> Vec<u8> {
    let mut s = String::new();
    let ids = |v: &[u32; 4]| format!("{}\t{}\t{}\t{}", v[0], v[1], v[2], v[3]);
    let groups: String = i.groups.iter().map(|g| format!("{g} ")).collect();
    let kib = |v: u64| format!("{v:>8} kB");
    let vm = i.vsize / 1024;
    let rss = i.rss_pages * PAGE_KIB;
    let sigpending = i.rlimit(libc::RLIMIT_SIGPENDING as usize).cur;
    let sigq_max = if sigpending == u64::MAX {
        "unlimited".to_string()
    } else {
        sigpending.to_string()
    };
    let pending = (i.signals.pending | i.signals.shared_pending).count_ones();
    let cpus = cpus.max(1);
    let _ = writeln!(s, "Name:\t{}", String::from_utf8_lossy(&i.comm));
    let _ = writeln!(s, "Umask:\t{:04o}", i.umask);
    let _ = writeln!(s, "State:\t{}", state_name(i.state));
    let _ = writeln!(s, "Tgid:\t{}", i.tgid);
    let _ = writeln!(s, "Ngid:\t0");
    let _ = writeln!(s, "Pid:\t{}", i.pid);
    let _ = writeln!(s, "PPid:\t{}", i.ppid);
    let _ = writeln!(s, "TracerPid:\t0");
    let _ = writeln!(s, "Uid:\t{}", ids(&i.uids));
    let _ = writeln!(s, "Gid:\t{}", ids(&i.gids));
    let _ = writeln!(s, "FDSize:\t{}", i.fd_size);
    let _ = writeln!(s, "Groups:\t{groups}");
    let _ = writeln!(s, "NStgid:\t{}", i.tgid);
    let _ = writeln!(s, "NSpid:\t{}", i.pid);
    let _ = writeln!(s, "NSpgid:\t{}", i.pgid);
    let _ = writeln!(s, "NSsid:\t{}", i.sid);
    for (name, v) in [
        ("VmPeak", vm),
        ("VmSize", vm),
        ("VmLck", 0),
        ("VmPin", 0),
        ("VmHWM", rss),
        ("VmRSS", rss),
        ("RssAnon", rss),
        ("RssFile", 0),
        ("RssShmem", 0),
        ("VmData", 0),
        ("VmStk", 0),
        ("VmExe", 0),
        ("VmLib", 0),
        ("VmPTE", 0),
        ("VmSwap", 0),
    ] {
        let _ = writeln!(s, "{name}:\t{}", kib(v));
    }
    let _ = writeln!(s, "Threads:\t{}", i.threads);
    let _ = writeln!(s, "SigQ:\t{pending}/{sigq_max}");
    let sig = &i.signals;
    for (name, v) in [
        ("SigPnd", sig.pending),
        ("ShdPnd", sig.shared_pending),
        ("SigBlk", sig.blocked),
        ("SigIgn", sig.ignored),
        ("SigCgt", sig.caught),
        ("CapInh", i.caps.inheritable),
        ("CapPrm", i.caps.permitted),
        ("CapEff", i.caps.effective),
        ("CapBnd", i.caps.bounding),
        ("CapAmb", i.caps.ambient),
    ] {
        let _ = writeln!(s, "{name}:\t{v:016x}");
    }
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(i.no_new_privs));
    let _ = writeln!(s, "Seccomp:\t{}", i.seccomp);
    let _ = writeln!(s, "Cpus_allowed:\t{}", cpu_mask(cpus));
    let _ = writeln!(s, "Cpus_allowed_list:\t{}", cpu_list(cpus));
    let _ = writeln!(s, "Mems_allowed:\t1");
    let _ = writeln!(s, "Mems_allowed_list:\t0");
    let _ = writeln!(s, "voluntary_ctxt_switches:\t0");
    let _ = writeln!(s, "nonvoluntary_ctxt_switches:\t0");
    s.into_bytes()
}

/// `0-3` for four CPUs (`0` for one), as `cpu/online` and
/// `Cpus_allowed_list` show.
pub(crate) fn cpu_list(cpus: u32) -> String {
    match cpus {
        0 | 1 => "0".to_string(),
        n => format!("0-{}", n - 1),
    }
}

/// A hex CPU mask, in comma-separated 32-bit groups as Linux prints it.
fn cpu_mask(cpus: u32) -> String {
    let mut words = Vec::new();
    let mut left = cpus;
    loop {
        let n = left.min(32);
        let w: u32 = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        words.push(format!("{w:08x}"));
        left -= n;
        if left == 0 {
            break;
        }
    }
    words.reverse();
    words.join(",")
}

/// `/proc/PID/limits`: a header, then one line per resource.
pub fn limits(i: &ProcessInfo) -> Vec<u8> {
    const ROWS: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let show = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (r, (name, unit)) in ROWS.iter().enumerate() {
        let l = i.rlimit(r);
        let _ = writeln!(
            s,
            "{name:<25} {:<20} {:<20} {unit:<10}",
            show(l.cur),
            show(l.max)
        );
    }
    s.into_bytes()
}

pub fn fdinfo(e: &FdEntry) -> Vec<u8> {
    format!(
        "pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{}\nino:\t{}\n",
        e.pos, e.flags, e.mnt_id, e.ino
    )
    .into_bytes()
}

/// Escapes the characters that would break a mount table's fields.
fn mangle(out: &mut Vec<u8>, path: &[u8]) {
    for &b in path {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => out.push(b),
        }
    }
}

/// The name a mount table shows as a mount's source. The sentry does not
/// record the source string given to mount(2); a filesystem's own type is
/// what Linux shows for the virtual ones.
fn source_name(fs_type: &str) -> &str {
    match fs_type {
        "proc" | "sysfs" | "tmpfs" | "devpts" => fs_type,
        _ => "none",
    }
}

/// Each mount visible from the view's root with its mount point.
fn visible_mounts(v: &MountView) -> Vec<(std::sync::Arc<crate::vfs::Mount>, Vec<u8>)> {
    let mut out = Vec::new();
    for m in v.vfs.mounts() {
        let at = VfsPath::new(m.clone(), m.root().clone());
        let path = v.vfs.path_of(&v.root, &at);
        if path.starts_with(b"(unreachable)") {
            continue;
        }
        out.push((m, path));
    }
    out
}

fn options(m: &crate::vfs::Mount) -> &'static str {
    if m.readonly() {
        "ro,relatime"
    } else {
        "rw,relatime"
    }
}

/// `/proc/PID/mounts`: `source target type options 0 0`.
pub fn mounts(v: &MountView) -> Vec<u8> {
    let mut out = Vec::new();
    for (m, path) in visible_mounts(v) {
        let t = m.fs().fs_type();
        out.extend_from_slice(source_name(t).as_bytes());
        out.push(b' ');
        mangle(&mut out, &path);
        out.extend_from_slice(format!(" {t} {} 0 0\n", options(&m)).as_bytes());
    }
    out
}

/// `/proc/PID/mountinfo`: `id parent major:minor root target options -
/// type source super-options`.
pub fn mountinfo(v: &MountView) -> Vec<u8> {
    let mut out = Vec::new();
    for (m, path) in visible_mounts(v) {
        let parent = m.parent().map(|(p, _)| p.id()).unwrap_or(m.id());
        let dev = m.root().inode().stat().map(|s| s.dev).unwrap_or(0);
        // Where in its filesystem the mount's root is (a bind mount of a
        // subdirectory shows that directory).
        let mut names = Vec::new();
        let mut d = m.root().clone();
        while let Some(p) = d.parent() {
            names.push(d.name());
            d = p;
        }
        let mut fs_root = Vec::new();
        for n in names.iter().rev() {
            fs_root.push(b'/');
            fs_root.extend_from_slice(n);
        }
        if fs_root.is_empty() {
            fs_root.push(b'/');
        }
        out.extend_from_slice(
            format!("{} {parent} {}:{} ", m.id(), major(dev), minor(dev)).as_bytes(),
        );
        mangle(&mut out, &fs_root);
        out.push(b' ');
        mangle(&mut out, &path);
        let t = m.fs().fs_type();
        let rw = if m.readonly() { "ro" } else { "rw" };
        out.extend_from_slice(
            format!(" {} - {t} {} {rw}\n", options(&m), source_name(t)).as_bytes(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_masks_and_lists() {
        assert_eq!(cpu_list(1), "0");
        assert_eq!(cpu_list(4), "0-3");
        assert_eq!(cpu_mask(4), "0000000f");
        assert_eq!(cpu_mask(36), "0000000f,ffffffff");
    }

    #[test]
    fn uuids_are_version_4() {
        let u = String::from_utf8(uuid()).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid(), uuid());
    }

    #[test]
    fn mount_paths_are_escaped() {
        let mut out = Vec::new();
        mangle(&mut out, b"/a b\\c");
        assert_eq!(out, b"/a\\040b\\134c");
    }
}
