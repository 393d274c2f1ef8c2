//! What the sentry needs to start a sandbox, in its own terms: the runtime
//! turns an OCI spec and the gofer connections into a [`BootConfig`], and
//! [`crate::kernel::Kernel::boot`] runs the container's init until the
//! sandbox ends.

use lisafs::Socket;
use std::os::fd::OwnedFd;

/// A filesystem to mount in the sandbox.
pub enum MountSource {
    /// A gofer connection serving a host tree (the root, or a bind mount).
    Gofer { socket: Socket, exclusive: bool },
    /// A sentry-internal tmpfs (`mode` of its root, e.g. `0o1777`).
    Tmpfs { mode: u32 },
    /// The sandbox's `/proc`.
    Proc,
    /// The sandbox's `/dev`.
    Dev,
    /// The sandbox's `/sys`.
    Sys,
    /// `devpts` at `/dev/pts`.
    Devpts,
    /// An OCI mount type the sentry does not provide (e.g. `mqueue`,
    /// `cgroup`): skipped with a log line, as runsc skips unsupported ones.
    Unsupported(String),
}

/// One mount, in the order the spec lists them (the root is separate).
pub struct MountConfig {
    /// Absolute path inside the sandbox.
    pub destination: Vec<u8>,
    pub source: MountSource,
    pub readonly: bool,
}

/// Identity of the container's init process.
#[derive(Clone, Debug, Default)]
pub struct UserConfig {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
}

/// A resource limit (`RLIMIT_*` number, soft, hard).
#[derive(Clone, Copy, Debug)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// A process to start in the sandbox: the container's init, or one added
/// to a running sandbox (`exec`).
pub struct ProcessSpec {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Working directory (absolute).
    pub cwd: Vec<u8>,
    pub user: UserConfig,
    /// Capability mask (bit per `CAP_*`) the process gets in its effective set.
    pub capabilities: u64,
    pub rlimits: Vec<Rlimit>,
    /// The process's stdin, stdout and stderr: host FDs the application
    /// reaches only through the sentry.
    pub stdio: [OwnedFd; 3],
    /// `process.terminal`: `stdio[0]` is the replica of a host pty (1 and
    /// 2 are the same terminal), and the process gets an emulated terminal
    /// bridged to it as its stdio and controlling terminal
    /// ([`crate::tty::attach_console`]).
    pub terminal: bool,
}

/// One container of a sandbox: its filesystems and its init.
pub struct ContainerConfig {
    pub root: MountSource,
    pub root_readonly: bool,
    pub mounts: Vec<MountConfig>,
    pub init: ProcessSpec,
}

/// Everything the sentry needs to build a sandbox and run its init: the
/// container it boots with, and what its containers share.
pub struct BootConfig {
    pub container: ContainerConfig,
    pub hostname: Vec<u8>,
    /// Print every system call (`--strace`).
    pub strace: bool,
}

/// How the sandbox ended: init's exit, as `wait(2)` would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxExit {
    Exited(i32),
    Signaled(i32),
}

impl SandboxExit {
    /// The exit status a shell (and `runc run`) reports: the code, or
    /// 128 + the signal.
    pub fn shell_status(self) -> i32 {
        match self {
            SandboxExit::Exited(code) => code,
            SandboxExit::Signaled(sig) => 128 + sig,
        }
    }
}
