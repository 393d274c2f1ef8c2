//! Why an `execve` could not produce a new image, and the errno Linux reports
//! for each reason.

/// A failure of the loader. Every variant maps to the errno `execve` returns
/// on Linux for the same input ([`LoadError::errno`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not a format we run: bad ELF headers, wrong class, byte order or
    /// machine, a `#!` line without an interpreter, or neither ELF nor script.
    #[error("exec format error: {0}")]
    NotExecutable(&'static str),
    /// The ELF interpreter named by `PT_INTERP` is not a usable ELF file.
    #[error("bad ELF interpreter: {0}")]
    BadInterpreter(&'static str),
    /// The image does not fit the user address space (segments or entry
    /// point at or beyond the top, arithmetic that would wrap).
    #[error("image does not fit the address space: {0}")]
    AddressSpace(&'static str),
    /// More nested `#!` interpreters than Linux follows.
    #[error("too many levels of #! interpreters")]
    TooManyLevels,
    /// Arguments and environment exceed the limit derived from the stack
    /// rlimit, or one string exceeds the per-string limit.
    #[error("argument list too long")]
    ArgumentsTooLong,
    /// Reading the file or opening an interpreter failed with this errno
    /// (`ENOENT` for a missing interpreter, `EACCES`, `EIO`, ...). The
    /// resolver decides it; the loader passes it through unchanged.
    #[error("{what} failed with errno {errno}")]
    Errno { what: &'static str, errno: i32 },
}

impl LoadError {
    /// The errno `execve` returns for this failure.
    pub fn errno(&self) -> i32 {
        match self {
            LoadError::NotExecutable(_) => libc::ENOEXEC,
            LoadError::BadInterpreter(_) => libc::ELIBBAD,
            // Linux rejects a main executable whose segments or entry lie
            // outside the task size with EINVAL.
            LoadError::AddressSpace(_) => libc::EINVAL,
            LoadError::TooManyLevels => libc::ELOOP,
            LoadError::ArgumentsTooLong => libc::E2BIG,
            LoadError::Errno { errno, .. } => *errno,
        }
    }
}

/// Shorthand used throughout the loader.
pub type LoadResult<T> = Result<T, LoadError>;
