//! `--strace`: one log line per system call, with its arguments decoded by
//! kind (descriptors, paths read from the application, flag words, signal
//! names) and its result with the errno's name and text.
//!
//! Arguments are decoded when the call arrives, through the notification's
//! memory accessor, before any answer is sent: after the answer the thread
//! runs on (or, for a call that was interrupted, may be gone and its id
//! recycled), so its memory can no longer be trusted to be the caller's. The
//! decoded text travels with the call and is printed with the result when the
//! call finishes, so a blocking call shows up once, when it returns. Nothing
//! here runs unless `--strace` is on.

use super::{name, Args};
use crate::errno::{Errno, SysResult};
use crate::platform::{Memory, MemoryError};
use std::fmt::Write;
use syscalls::Sysno;

/// Longest path prefix shown; longer ones end in `...`.
const PATH_SHOWN: usize = 64;

/// How one argument is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A file descriptor, in decimal.
    Fd,
    /// A directory descriptor of an `*at` call (`AT_FDCWD` by name).
    Dirfd,
    /// A NUL-terminated path in the application's memory.
    Path,
    /// An address, in hex (`NULL` for zero).
    Ptr,
    /// An unsigned size, in decimal.
    Size,
    /// A signed 64-bit value (offsets), in decimal.
    Dec,
    /// A 32-bit `int`, in decimal.
    Int,
    /// Anything else, in hex.
    Hex,
    /// A file mode, in octal.
    Mode,
    /// `open` flags (`O_RDONLY|O_CLOEXEC`).
    OpenFlags,
    /// `AT_*` flags of an `*at` call.
    AtFlags,
    /// `access` mode (`R_OK|W_OK`).
    AccessMode,
    /// `lseek` whence.
    Whence,
    /// `fcntl` command.
    FcntlCmd,
    /// `mmap` protection.
    MmapProt,
    /// `mmap` flags.
    MmapFlags,
    /// A signal number (`SIGTERM`).
    Signal,
    /// `wait4` / `waitid` options.
    WaitOptions,
}

use Kind::*;

/// The argument kinds of `sysno`, for the calls worth decoding; any other
/// call shows all six registers in hex.
fn kinds(sysno: Sysno) -> Option<&'static [Kind]> {
    use Sysno as S;
    Some(match sysno {
        S::read | S::write | S::getdents64 | S::getdents => &[Fd, Ptr, Size],
        S::pread64 | S::pwrite64 => &[Fd, Ptr, Size, Dec],
        S::readv | S::writev => &[Fd, Ptr, Int],
        S::preadv | S::pwritev => &[Fd, Ptr, Int, Dec],
        S::open => &[Path, OpenFlags, Mode],
        S::openat => &[Dirfd, Path, OpenFlags, Mode],
        S::creat | S::mkdir | S::chmod => &[Path, Mode],
        S::mkdirat | S::fchmodat => &[Dirfd, Path, Mode],
        S::mknod => &[Path, Mode, Hex],
        S::mknodat => &[Dirfd, Path, Mode, Hex],
        S::stat | S::lstat | S::statfs => &[Path, Ptr],
        S::newfstatat => &[Dirfd, Path, Ptr, AtFlags],
        S::statx => &[Dirfd, Path, AtFlags, Hex, Ptr],
        S::access => &[Path, AccessMode],
        S::faccessat => &[Dirfd, Path, AccessMode],
        S::faccessat2 => &[Dirfd, Path, AccessMode, AtFlags],
        S::unlink | S::rmdir | S::chdir | S::chroot => &[Path],
        S::unlinkat => &[Dirfd, Path, AtFlags],
        S::rename | S::link | S::symlink => &[Path, Path],
        S::renameat => &[Dirfd, Path, Dirfd, Path],
        S::renameat2 => &[Dirfd, Path, Dirfd, Path, Hex],
        S::linkat => &[Dirfd, Path, Dirfd, Path, AtFlags],
        S::symlinkat => &[Path, Dirfd, Path],
        S::readlink => &[Path, Ptr, Size],
        S::readlinkat => &[Dirfd, Path, Ptr, Size],
        S::chown | S::lchown => &[Path, Int, Int],
        S::fchownat => &[Dirfd, Path, Int, Int, AtFlags],
        S::utimensat => &[Dirfd, Path, Ptr, AtFlags],
        S::truncate => &[Path, Dec],
        S::execve => &[Path, Ptr, Ptr],
        S::execveat => &[Dirfd, Path, Ptr, Ptr, AtFlags],
        S::close | S::dup | S::fchdir | S::fsync | S::fdatasync => &[Fd],
        S::dup2 => &[Fd, Fd],
        S::dup3 => &[Fd, Fd, OpenFlags],
        S::close_range => &[Fd, Fd, Hex],
        S::fcntl => &[Fd, FcntlCmd, Hex],
        S::ioctl => &[Fd, Hex, Hex],
        S::lseek => &[Fd, Dec, Whence],
        S::fstat | S::fstatfs => &[Fd, Ptr],
        S::ftruncate => &[Fd, Dec],
        S::fchmod => &[Fd, Mode],
        S::fchown => &[Fd, Int, Int],
        S::pipe => &[Ptr],
        S::pipe2 => &[Ptr, OpenFlags],
        S::getcwd => &[Ptr, Size],
        S::umask => &[Mode],
        S::mmap => &[Ptr, Size, MmapProt, MmapFlags, Fd, Hex],
        S::mprotect => &[Ptr, Size, MmapProt],
        S::munmap => &[Ptr, Size],
        S::poll => &[Ptr, Int, Int],
        S::wait4 => &[Int, Ptr, WaitOptions, Ptr],
        S::kill | S::tkill => &[Int, Signal],
        S::tgkill => &[Int, Int, Signal],
        S::exit | S::exit_group => &[Int],
        S::getrandom => &[Ptr, Size, Hex],
        S::uname | S::sysinfo => &[Ptr],
        _ => return None,
    })
}

/// The arguments of call `nr`, decoded through `mem` (the calling thread's
/// memory, still valid: the call has not been answered).
pub fn decode_args(nr: i64, args: &Args, mem: &Memory<'_>) -> String {
    let sysno = usize::try_from(nr).ok().and_then(Sysno::new);
    let Some(kinds) = sysno.and_then(kinds) else {
        let shown: Vec<String> = args.0.iter().map(|a| format!("{a:#x}")).collect();
        return shown.join(", ");
    };
    let shown: Vec<String> = kinds
        .iter()
        .zip(args.0)
        .map(|(&k, v)| match k {
            Path => path(
                v,
                |addr, max| mem.read_cstring(addr, max),
                |addr, buf| mem.read_bytes(addr, buf),
            ),
            k => value(k, v),
        })
        .collect();
    shown.join(", ")
}

/// One argument that needs no memory.
fn value(kind: Kind, v: u64) -> String {
    match kind {
        Fd | Int => (v as i32).to_string(),
        Dirfd if v as i32 == libc::AT_FDCWD => "AT_FDCWD".to_string(),
        Dirfd => (v as i32).to_string(),
        Ptr | Path if v == 0 => "NULL".to_string(),
        Ptr | Path | Hex => format!("{v:#x}"),
        Size => v.to_string(),
        Dec => (v as i64).to_string(),
        Mode if v as u32 == 0 => "0".to_string(),
        Mode => format!("0{:o}", v as u32),
        OpenFlags => open_flags(v as u32),
        AtFlags => flags(u64::from(v as u32), AT_FLAGS),
        AccessMode if v as i32 == libc::F_OK => "F_OK".to_string(),
        AccessMode => flags(u64::from(v as u32), ACCESS_MODES),
        Whence => one_of(v as i32, WHENCE),
        FcntlCmd => one_of(v as i32, FCNTL_CMDS),
        MmapProt if v as i32 == libc::PROT_NONE => "PROT_NONE".to_string(),
        MmapProt => flags(u64::from(v as u32), MMAP_PROT),
        MmapFlags => mmap_flags(v as u32),
        Signal => signal_name(v as i32),
        WaitOptions => flags(u64::from(v as u32), WAIT_OPTIONS),
    }
}

/// A path argument, quoted and escaped, cut at [`PATH_SHOWN`] bytes; an
/// unreadable one shows its address. Reading at most a little past the
/// shown prefix keeps a long or unterminated string cheap.
fn path(
    addr: u64,
    read_cstring: impl Fn(u64, usize) -> Result<Vec<u8>, MemoryError>,
    read_bytes: impl Fn(u64, &mut [u8]) -> Result<(), MemoryError>,
) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let (bytes, cut) = match read_cstring(addr, PATH_SHOWN) {
        Ok(b) => (b, false),
        Err(MemoryError::TooLong { .. }) => {
            // The first PATH_SHOWN + 1 bytes were readable (and not NUL).
            let mut b = vec![0u8; PATH_SHOWN];
            if read_bytes(addr, &mut b).is_err() {
                return format!("{addr:#x}");
            }
            (b, true)
        }
        Err(_) => return format!("{addr:#x}"),
    };
    let mut s = String::with_capacity(bytes.len() + 5);
    s.push('"');
    for &b in &bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    if cut {
        s.push_str("...");
    }
    s
}

/// The result as `= value` (decimal; hex for calls that return addresses)
/// or `= -1 ENOENT (No such file or directory)`, with the sentry's own note
/// on the failure, if any, in brackets.
pub fn result(nr: i64, result: &SysResult<i64>) -> String {
    match result {
        Ok(v) if returns_address(nr) => format!("{v:#x}"),
        Ok(v) => v.to_string(),
        Err(e) => {
            let mut s = format!("-1 {} ({})", e.errno.name(), errno_text(e.errno));
            if let Some(msg) = e.msg {
                let _ = write!(s, " [{msg}]");
            }
            s
        }
    }
}

fn returns_address(nr: i64) -> bool {
    [
        libc::SYS_mmap,
        libc::SYS_mremap,
        libc::SYS_brk,
        libc::SYS_shmat,
    ]
    .contains(&nr)
}

/// The text `strerror` gives for `e`; restart codes, which no application
/// sees, are described as the kernel's tracing does.
pub fn errno_text(e: Errno) -> String {
    match e {
        Errno::ERESTARTSYS => "to be restarted if SA_RESTART is set".to_string(),
        Errno::ERESTARTNOINTR => "to be restarted".to_string(),
        Errno::ERESTARTNOHAND => "to be restarted if no handler".to_string(),
        Errno::ERESTART_RESTARTBLOCK => "interrupted by signal".to_string(),
        e => {
            let text = std::io::Error::from_raw_os_error(e.as_raw()).to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// Logs one finished call.
pub fn log(pid: i32, tid: i32, nr: i64, args: &str, result: &str) {
    tracing::info!(
        target: "strace",
        "[{pid:>5}:{tid:>5}] {}({args}) = {result}",
        name(nr)
    );
}

/// `a|b|c` for the bits of `v` named in `names` (masks tried in order, each
/// removed once matched), then any leftover bits in hex; `0` for none.
fn flags(mut v: u64, names: &[(u64, &str)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for &(mask, n) in names {
        if mask != 0 && v & mask == mask {
            parts.push(n.to_string());
            v &= !mask;
        }
    }
    if v != 0 {
        parts.push(format!("{v:#x}"));
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join("|")
    }
}

fn one_of(v: i32, names: &[(i32, &str)]) -> String {
    match names.iter().find(|(n, _)| *n == v) {
        Some((_, s)) => s.to_string(),
        None => v.to_string(),
    }
}

fn open_flags(v: u32) -> String {
    let mode = match v as i32 & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY".to_string(),
        libc::O_WRONLY => "O_WRONLY".to_string(),
        libc::O_RDWR => "O_RDWR".to_string(),
        m => format!("{m:#x}"),
    };
    let rest = u64::from(v & !(libc::O_ACCMODE as u32));
    if rest == 0 {
        mode
    } else {
        format!("{mode}|{}", flags(rest, OPEN_FLAGS))
    }
}

fn mmap_flags(v: u32) -> String {
    let kind = match v as i32 & libc::MAP_TYPE {
        libc::MAP_SHARED => "MAP_SHARED".to_string(),
        libc::MAP_PRIVATE => "MAP_PRIVATE".to_string(),
        libc::MAP_SHARED_VALIDATE => "MAP_SHARED_VALIDATE".to_string(),
        t => format!("{t:#x}"),
    };
    let rest = u64::from(v & !(libc::MAP_TYPE as u32));
    if rest == 0 {
        kind
    } else {
        format!("{kind}|{}", flags(rest, MMAP_FLAGS))
    }
}

/// `SIGTERM`, `SIGRT_2`, or the number for anything else (`0` included).
pub fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match sig {
        0..=31 => NAMES[sig as usize].to_string(),
        32..=64 => format!("SIGRT_{}", sig - 32),
        _ => sig.to_string(),
    }
}

/// Composite flags come before their parts (`O_SYNC` contains `O_DSYNC`,
/// `O_TMPFILE` contains `O_DIRECTORY`).
const OPEN_FLAGS: &[(u64, &str)] = &[
    (libc::O_SYNC as u64, "O_SYNC"),
    (libc::O_TMPFILE as u64, "O_TMPFILE"),
    (libc::O_CREAT as u64, "O_CREAT"),
    (libc::O_EXCL as u64, "O_EXCL"),
    (libc::O_NOCTTY as u64, "O_NOCTTY"),
    (libc::O_TRUNC as u64, "O_TRUNC"),
    (libc::O_APPEND as u64, "O_APPEND"),
    (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
    (libc::O_DSYNC as u64, "O_DSYNC"),
    (libc::O_ASYNC as u64, "O_ASYNC"),
    (libc::O_DIRECT as u64, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
    (libc::O_NOFOLLOW as u64, "O_NOFOLLOW"),
    (libc::O_NOATIME as u64, "O_NOATIME"),
    (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
    (libc::O_PATH as u64, "O_PATH"),
];

/// `0x200` is `AT_REMOVEDIR` for `unlinkat` and `AT_EACCESS` for
/// `faccessat2`; the more common meaning is shown.
const AT_FLAGS: &[(u64, &str)] = &[
    (libc::AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW"),
    (libc::AT_REMOVEDIR as u64, "AT_REMOVEDIR"),
    (libc::AT_SYMLINK_FOLLOW as u64, "AT_SYMLINK_FOLLOW"),
    (libc::AT_NO_AUTOMOUNT as u64, "AT_NO_AUTOMOUNT"),
    (libc::AT_EMPTY_PATH as u64, "AT_EMPTY_PATH"),
];

const ACCESS_MODES: &[(u64, &str)] = &[
    (libc::R_OK as u64, "R_OK"),
    (libc::W_OK as u64, "W_OK"),
    (libc::X_OK as u64, "X_OK"),
];

const WHENCE: &[(i32, &str)] = &[
    (libc::SEEK_SET, "SEEK_SET"),
    (libc::SEEK_CUR, "SEEK_CUR"),
    (libc::SEEK_END, "SEEK_END"),
    (libc::SEEK_DATA, "SEEK_DATA"),
    (libc::SEEK_HOLE, "SEEK_HOLE"),
];

const FCNTL_CMDS: &[(i32, &str)] = &[
    (libc::F_DUPFD, "F_DUPFD"),
    (libc::F_GETFD, "F_GETFD"),
    (libc::F_SETFD, "F_SETFD"),
    (libc::F_GETFL, "F_GETFL"),
    (libc::F_SETFL, "F_SETFL"),
    (libc::F_GETLK, "F_GETLK"),
    (libc::F_SETLK, "F_SETLK"),
    (libc::F_SETLKW, "F_SETLKW"),
    (libc::F_SETOWN, "F_SETOWN"),
    (libc::F_GETOWN, "F_GETOWN"),
    (libc::F_OFD_GETLK, "F_OFD_GETLK"),
    (libc::F_OFD_SETLK, "F_OFD_SETLK"),
    (libc::F_OFD_SETLKW, "F_OFD_SETLKW"),
    (libc::F_SETLEASE, "F_SETLEASE"),
    (libc::F_GETLEASE, "F_GETLEASE"),
    (libc::F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"),
    (libc::F_SETPIPE_SZ, "F_SETPIPE_SZ"),
    (libc::F_GETPIPE_SZ, "F_GETPIPE_SZ"),
    (libc::F_ADD_SEALS, "F_ADD_SEALS"),
    (libc::F_GET_SEALS, "F_GET_SEALS"),
];

const MMAP_PROT: &[(u64, &str)] = &[
    (libc::PROT_READ as u64, "PROT_READ"),
    (libc::PROT_WRITE as u64, "PROT_WRITE"),
    (libc::PROT_EXEC as u64, "PROT_EXEC"),
    (libc::PROT_GROWSDOWN as u64, "PROT_GROWSDOWN"),
    (libc::PROT_GROWSUP as u64, "PROT_GROWSUP"),
];

/// `MAP_FIXED_NOREPLACE` contains no other flag bit; listed by value.
const MMAP_FLAGS: &[(u64, &str)] = &[
    (libc::MAP_FIXED as u64, "MAP_FIXED"),
    (libc::MAP_ANONYMOUS as u64, "MAP_ANONYMOUS"),
    (libc::MAP_GROWSDOWN as u64, "MAP_GROWSDOWN"),
    (libc::MAP_DENYWRITE as u64, "MAP_DENYWRITE"),
    (libc::MAP_EXECUTABLE as u64, "MAP_EXECUTABLE"),
    (libc::MAP_LOCKED as u64, "MAP_LOCKED"),
    (libc::MAP_NORESERVE as u64, "MAP_NORESERVE"),
    (libc::MAP_POPULATE as u64, "MAP_POPULATE"),
    (libc::MAP_NONBLOCK as u64, "MAP_NONBLOCK"),
    (libc::MAP_STACK as u64, "MAP_STACK"),
    (libc::MAP_HUGETLB as u64, "MAP_HUGETLB"),
    (libc::MAP_SYNC as u64, "MAP_SYNC"),
    (libc::MAP_FIXED_NOREPLACE as u64, "MAP_FIXED_NOREPLACE"),
];

const WAIT_OPTIONS: &[(u64, &str)] = &[
    (libc::WNOHANG as u64, "WNOHANG"),
    (libc::WUNTRACED as u64, "WUNTRACED"),
    (libc::WEXITED as u64, "WEXITED"),
    (libc::WCONTINUED as u64, "WCONTINUED"),
    (libc::WNOWAIT as u64, "WNOWAIT"),
    (libc::__WNOTHREAD as u64, "__WNOTHREAD"),
    (libc::__WALL as u64, "__WALL"),
    (libc::__WCLONE as u64, "__WCLONE"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::SysError;

    /// A fake address space: one string at `BASE`, nothing else mapped.
    const BASE: u64 = 0x1000;

    fn show_path(memory: &[u8], addr: u64) -> String {
        let read_cstring = |a: u64, max: usize| {
            let start = a.checked_sub(BASE).map(|o| o as usize);
            let Some(start) = start.filter(|&s| s < memory.len()) else {
                return Err(MemoryError::Fault { addr: a, len: 1 });
            };
            let rest = &memory[start..];
            match rest.iter().position(|&b| b == 0) {
                Some(n) if n <= max => Ok(rest[..n].to_vec()),
                Some(_) => Err(MemoryError::TooLong { addr: a, max }),
                None if rest.len() > max => Err(MemoryError::TooLong { addr: a, max }),
                None => Err(MemoryError::Fault { addr: a, len: 1 }),
            }
        };
        let read_bytes = |a: u64, buf: &mut [u8]| {
            let start = (a - BASE) as usize;
            buf.copy_from_slice(&memory[start..start + buf.len()]);
            Ok(())
        };
        path(addr, read_cstring, read_bytes)
    }

    #[test]
    fn paths_are_quoted_escaped_and_truncated() {
        assert_eq!(show_path(b"/etc/passwd\0", BASE), "\"/etc/passwd\"");
        assert_eq!(show_path(b"a\"b\\c\n\0", BASE), r#""a\"b\\c\x0a""#);
        assert_eq!(show_path(b"x\0", 0), "NULL");
        assert_eq!(show_path(b"x\0", 0xdead_0000), "0xdead0000");
        let exact = [b"a".repeat(PATH_SHOWN), vec![0]].concat();
        assert_eq!(
            show_path(&exact, BASE),
            format!("\"{}\"", "a".repeat(PATH_SHOWN))
        );
        let long = [b"b".repeat(300), vec![0]].concat();
        assert_eq!(
            show_path(&long, BASE),
            format!("\"{}\"...", "b".repeat(PATH_SHOWN))
        );
    }

    #[test]
    fn flag_words_are_named() {
        let v = |k, x: i64| value(k, x as u64);
        assert_eq!(v(OpenFlags, 0), "O_RDONLY");
        assert_eq!(
            v(OpenFlags, (libc::O_RDONLY | libc::O_CLOEXEC).into()),
            "O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(
            v(
                OpenFlags,
                (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC).into()
            ),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(
            v(OpenFlags, (libc::O_RDWR | libc::O_SYNC).into()),
            "O_RDWR|O_SYNC"
        );
        assert_eq!(
            v(OpenFlags, (libc::O_RDWR | libc::O_TMPFILE).into()),
            "O_RDWR|O_TMPFILE"
        );
        assert_eq!(
            v(OpenFlags, (libc::O_RDONLY | libc::O_DIRECTORY).into()),
            "O_RDONLY|O_DIRECTORY"
        );
        assert_eq!(v(OpenFlags, 0x4000_0000), "O_RDONLY|0x40000000");
        assert_eq!(v(MmapProt, 0), "PROT_NONE");
        assert_eq!(
            v(MmapProt, (libc::PROT_READ | libc::PROT_WRITE).into()),
            "PROT_READ|PROT_WRITE"
        );
        assert_eq!(
            v(MmapFlags, (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS).into()),
            "MAP_PRIVATE|MAP_ANONYMOUS"
        );
        assert_eq!(v(MmapFlags, libc::MAP_SHARED.into()), "MAP_SHARED");
        assert_eq!(v(AtFlags, 0), "0");
        assert_eq!(v(AtFlags, libc::AT_REMOVEDIR.into()), "AT_REMOVEDIR");
        assert_eq!(v(AccessMode, 0), "F_OK");
        assert_eq!(v(AccessMode, (libc::R_OK | libc::X_OK).into()), "R_OK|X_OK");
        assert_eq!(v(Whence, libc::SEEK_END.into()), "SEEK_END");
        assert_eq!(v(FcntlCmd, libc::F_SETFD.into()), "F_SETFD");
        assert_eq!(v(FcntlCmd, 9999), "9999");
        assert_eq!(v(WaitOptions, libc::WNOHANG.into()), "WNOHANG");
        assert_eq!(v(Mode, 0o755), "0755");
        assert_eq!(v(Mode, 0), "0");
        assert_eq!(v(Dirfd, libc::AT_FDCWD.into()), "AT_FDCWD");
        assert_eq!(v(Fd, 3), "3");
        assert_eq!(v(Fd, u32::MAX.into()), "-1");
        assert_eq!(v(Ptr, 0), "NULL");
        assert_eq!(v(Ptr, 0x7fff_0000), "0x7fff0000");
        assert_eq!(v(Size, 4096), "4096");
        assert_eq!(v(Dec, -2), "-2");
    }

    #[test]
    fn signals_are_named() {
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(libc::SIGSYS), "SIGSYS");
        assert_eq!(signal_name(0), "0");
        assert_eq!(signal_name(34), "SIGRT_2");
        assert_eq!(signal_name(99), "99");
        assert_eq!(value(Signal, libc::SIGCHLD as u64), "SIGCHLD");
    }

    #[test]
    fn results_show_errno_names_and_text() {
        let enoent: SysResult<i64> = Err(Errno::ENOENT.into());
        assert_eq!(
            result(libc::SYS_openat, &enoent),
            "-1 ENOENT (No such file or directory)"
        );
        let noted: SysResult<i64> = Err(SysError::with_msg(Errno::EBADF, "fd not open"));
        assert_eq!(
            result(libc::SYS_close, &noted),
            "-1 EBADF (Bad file descriptor) [fd not open]"
        );
        assert_eq!(result(libc::SYS_read, &Ok(12)), "12");
        assert_eq!(result(libc::SYS_mmap, &Ok(0x7f00_0000)), "0x7f000000");
        assert_eq!(
            errno_text(Errno::ERESTARTSYS),
            "to be restarted if SA_RESTART is set"
        );
    }

    #[test]
    fn undecoded_calls_show_raw_registers() {
        // No memory is touched for a call without path arguments.
        let mem = Memory::of_thread(crate::platform::HostTid(0));
        let args = Args([1, 2, 3, 4, 5, 6]);
        assert_eq!(
            decode_args(libc::SYS_mount, &args, &mem),
            "0x1, 0x2, 0x3, 0x4, 0x5, 0x6"
        );
        assert_eq!(
            decode_args(libc::SYS_write, &Args([1, 0x5000, 6, 0, 0, 0]), &mem),
            "1, 0x5000, 6"
        );
        assert_eq!(
            decode_args(libc::SYS_kill, &Args([7, 15, 0, 0, 0, 0]), &mem),
            "7, SIGTERM"
        );
        assert_eq!(
            decode_args(
                libc::SYS_openat,
                &Args([libc::AT_FDCWD as u64, 0, 0o2000000, 0, 0, 0]),
                &mem
            ),
            "AT_FDCWD, NULL, O_RDONLY|O_CLOEXEC, 0"
        );
        assert_eq!(
            decode_args(1000, &args, &mem),
            "0x1, 0x2, 0x3, 0x4, 0x5, 0x6"
        );
    }
}
