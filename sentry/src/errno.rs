//! The sentry's error type: the Linux error number an application will see,
//! plus an optional static note for logs and `--strace`.
//!
//! `Errno` is our own `#[repr(i32)]` enum rather than a re-export of
//! `rustix::io::Errno` because the sentry also needs the kernel-internal
//! restart codes (`ERESTARTSYS` and friends), which never reach an
//! application but must travel through every layer until syscall exit
//! resolves them against the signal state. Host and lisafs errors (both
//! `rustix` errnos) convert one to one by number.
#![deny(unsafe_code)]

use std::fmt;

macro_rules! errnos {
    ($($name:ident = $val:expr,)*) => {
        /// A Linux error number, as returned negated from a system call.
        #[allow(clippy::upper_case_acronyms, non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Errno {
            $($name = $val,)*
        }

        impl Errno {
            /// The errno with number `raw`, if Linux (or the sentry's
            /// restart machinery) defines one.
            pub fn from_raw(raw: i32) -> Option<Errno> {
                match raw {
                    $(v if v == $val => Some(Errno::$name),)*
                    _ => None,
                }
            }

            /// The symbolic name, as `--strace` prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                }
            }
        }
    };
}

errnos! {
    EPERM = libc::EPERM,
    ENOENT = libc::ENOENT,
    ESRCH = libc::ESRCH,
    EINTR = libc::EINTR,
    EIO = libc::EIO,
    ENXIO = libc::ENXIO,
    E2BIG = libc::E2BIG,
    ENOEXEC = libc::ENOEXEC,
    EBADF = libc::EBADF,
    ECHILD = libc::ECHILD,
    EAGAIN = libc::EAGAIN,
    ENOMEM = libc::ENOMEM,
    EACCES = libc::EACCES,
    EFAULT = libc::EFAULT,
    ENOTBLK = libc::ENOTBLK,
    EBUSY = libc::EBUSY,
    EEXIST = libc::EEXIST,
    EXDEV = libc::EXDEV,
    ENODEV = libc::ENODEV,
    ENOTDIR = libc::ENOTDIR,
    EISDIR = libc::EISDIR,
    EINVAL = libc::EINVAL,
    ENFILE = libc::ENFILE,
    EMFILE = libc::EMFILE,
    ENOTTY = libc::ENOTTY,
    ETXTBSY = libc::ETXTBSY,
    EFBIG = libc::EFBIG,
    ENOSPC = libc::ENOSPC,
    ESPIPE = libc::ESPIPE,
    EROFS = libc::EROFS,
    EMLINK = libc::EMLINK,
    EPIPE = libc::EPIPE,
    EDOM = libc::EDOM,
    ERANGE = libc::ERANGE,
    EDEADLK = libc::EDEADLK,
    ENAMETOOLONG = libc::ENAMETOOLONG,
    ENOLCK = libc::ENOLCK,
    ENOSYS = libc::ENOSYS,
    ENOTEMPTY = libc::ENOTEMPTY,
    ELOOP = libc::ELOOP,
    ENOMSG = libc::ENOMSG,
    EIDRM = libc::EIDRM,
    ENOSTR = libc::ENOSTR,
    ENODATA = libc::ENODATA,
    ETIME = libc::ETIME,
    ENOSR = libc::ENOSR,
    EREMOTE = libc::EREMOTE,
    ENOLINK = libc::ENOLINK,
    EPROTO = libc::EPROTO,
    EBADMSG = libc::EBADMSG,
    EOVERFLOW = libc::EOVERFLOW,
    EILSEQ = libc::EILSEQ,
    EUSERS = libc::EUSERS,
    ENOTSOCK = libc::ENOTSOCK,
    EDESTADDRREQ = libc::EDESTADDRREQ,
    EMSGSIZE = libc::EMSGSIZE,
    EPROTOTYPE = libc::EPROTOTYPE,
    ENOPROTOOPT = libc::ENOPROTOOPT,
    EPROTONOSUPPORT = libc::EPROTONOSUPPORT,
    ESOCKTNOSUPPORT = libc::ESOCKTNOSUPPORT,
    EOPNOTSUPP = libc::EOPNOTSUPP,
    EPFNOSUPPORT = libc::EPFNOSUPPORT,
    EAFNOSUPPORT = libc::EAFNOSUPPORT,
    EADDRINUSE = libc::EADDRINUSE,
    EADDRNOTAVAIL = libc::EADDRNOTAVAIL,
    ENETDOWN = libc::ENETDOWN,
    ENETUNREACH = libc::ENETUNREACH,
    ENETRESET = libc::ENETRESET,
    ECONNABORTED = libc::ECONNABORTED,
    ECONNRESET = libc::ECONNRESET,
    ENOBUFS = libc::ENOBUFS,
    EISCONN = libc::EISCONN,
    ENOTCONN = libc::ENOTCONN,
    ESHUTDOWN = libc::ESHUTDOWN,
    ETOOMANYREFS = libc::ETOOMANYREFS,
    ETIMEDOUT = libc::ETIMEDOUT,
    ECONNREFUSED = libc::ECONNREFUSED,
    EHOSTDOWN = libc::EHOSTDOWN,
    EHOSTUNREACH = libc::EHOSTUNREACH,
    EALREADY = libc::EALREADY,
    EINPROGRESS = libc::EINPROGRESS,
    ESTALE = libc::ESTALE,
    EDQUOT = libc::EDQUOT,
    ECANCELED = libc::ECANCELED,
    EOWNERDEAD = libc::EOWNERDEAD,
    ENOTRECOVERABLE = libc::ENOTRECOVERABLE,
    // Kernel-internal restart codes: resolved at syscall exit into a restart
    // or EINTR, never returned to an application as such.
    ERESTARTSYS = 512,
    ERESTARTNOINTR = 513,
    ERESTARTNOHAND = 514,
    ERESTART_RESTARTBLOCK = 516,
}

impl Errno {
    /// `ENOTSUP` is the same number as `EOPNOTSUPP` on Linux.
    pub const ENOTSUP: Errno = Errno::EOPNOTSUPP;
    /// `EWOULDBLOCK` is the same number as `EAGAIN` on Linux.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;

    pub fn as_raw(self) -> i32 {
        self as i32
    }

    /// Whether this is a restart code that must not escape to an application.
    pub fn is_restart(self) -> bool {
        matches!(
            self,
            Errno::ERESTARTSYS
                | Errno::ERESTARTNOINTR
                | Errno::ERESTARTNOHAND
                | Errno::ERESTART_RESTARTBLOCK
        )
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<rustix::io::Errno> for Errno {
    /// Host and lisafs errors map by number. A number Linux does not define
    /// would mean nothing to the application, so it becomes `EIO`.
    fn from(e: rustix::io::Errno) -> Errno {
        Errno::from_raw(e.raw_os_error()).unwrap_or(Errno::EIO)
    }
}

/// An error as a system call returns it: the errno and, for logs only, a
/// static explanation of which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError {
    pub errno: Errno,
    pub msg: Option<&'static str>,
}

impl SysError {
    pub const fn new(errno: Errno) -> SysError {
        SysError { errno, msg: None }
    }

    pub const fn with_msg(errno: Errno, msg: &'static str) -> SysError {
        SysError {
            errno,
            msg: Some(msg),
        }
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.msg {
            Some(m) => write!(f, "{}: {m}", self.errno),
            None => write!(f, "{}", self.errno),
        }
    }
}

impl std::error::Error for SysError {}

impl From<Errno> for SysError {
    fn from(errno: Errno) -> SysError {
        SysError::new(errno)
    }
}

impl From<rustix::io::Errno> for SysError {
    fn from(e: rustix::io::Errno) -> SysError {
        SysError::new(e.into())
    }
}

impl PartialEq<Errno> for SysError {
    fn eq(&self, other: &Errno) -> bool {
        self.errno == *other
    }
}

pub type SysResult<T> = Result<T, SysError>;

/// Builds a [`SysError`]: `errno!(EBADF)` or `errno!(EBADF, "fd not open")`.
#[macro_export]
macro_rules! errno {
    ($e:ident) => {
        $crate::errno::SysError::new($crate::errno::Errno::$e)
    };
    ($e:ident, $msg:expr) => {
        $crate::errno::SysError::with_msg($crate::errno::Errno::$e, $msg)
    };
}

/// Returns a [`SysError`] from the enclosing function:
/// `return_errno!(EBADF)` or `return_errno!(EBADF, "fd not open")`.
#[macro_export]
macro_rules! return_errno {
    ($($t:tt)*) => {
        return Err($crate::errno!($($t)*).into())
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        assert_eq!(Errno::ENOENT.as_raw(), 2);
        assert_eq!(Errno::from_raw(libc::ENOTEMPTY), Some(Errno::ENOTEMPTY));
        assert_eq!(Errno::from_raw(512), Some(Errno::ERESTARTSYS));
        assert_eq!(Errno::from_raw(9999), None);
        assert!(Errno::ERESTARTSYS.is_restart());
        assert_eq!(Errno::ELOOP.name(), "ELOOP");
    }

    #[test]
    fn host_errors_map_by_number() {
        assert_eq!(Errno::from(rustix::io::Errno::NOENT), Errno::ENOENT);
        assert_eq!(
            SysError::from(rustix::io::Errno::IO),
            SysError::new(Errno::EIO)
        );
    }

    fn fails() -> SysResult<()> {
        return_errno!(EBADF, "fd not open");
    }

    #[test]
    fn macro_carries_message() {
        let e = fails().unwrap_err();
        assert_eq!(e, Errno::EBADF);
        assert_eq!(e.to_string(), "EBADF: fd not open");
    }
}
