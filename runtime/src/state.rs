//! A container's state on the host, kept in `<root>/<id>/` from `create` to
//! `delete` so that each CLI invocation can find the sandbox again: the
//! record (`state.json`), the sentry's control socket and its FD socket.
//!
//! The record names host processes by pid *and* start time, so that a pid
//! the host has reused for something else is never signalled or taken for
//! the sandbox.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The record's file name in the state directory.
const RECORD: &str = "state.json";
/// The sentry's ttrpc control socket (`proto`'s Sandbox service).
pub const CONTROL_SOCKET: &str = "control.sock";
/// The sentry's socket for handing over host FDs (see [`crate::control`]).
pub const FD_SOCKET: &str = "fds.sock";

/// A host process, as it was when the container was created.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostProcess {
    pub pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: with the pid, names the process for
    /// good.
    pub start_time: u64,
}

impl HostProcess {
    /// The live process `pid` (fails if it does not exist).
    pub fn of(pid: i32) -> std::io::Result<HostProcess> {
        let (start_time, _) = stat(pid)?;
        Ok(HostProcess { pid, start_time })
    }

    /// Whether this very process still runs (a zombie does not).
    pub fn alive(&self) -> bool {
        matches!(stat(self.pid), Ok((start, state)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    /// Sends `signal` if the process still runs.
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        if !self.alive() {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        // A pidfd pins the process between the check and the signal.
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(self.pid).ok_or(std::io::ErrorKind::InvalidInput)?,
            rustix::process::PidfdFlags::empty(),
        )?;
        if !self.alive() {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        let sig = rustix::process::Signal::from_named_raw(signal)
            .ok_or(std::io::ErrorKind::InvalidInput)?;
        rustix::process::pidfd_send_signal(&pidfd, sig)?;
        Ok(())
    }
}

/// `(start time, state letter)` of `/proc/<pid>/stat`.
fn stat(pid: i32) -> std::io::Result<(u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold anything; the fields
    // after its last ')' are plain.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); start time is field 22.
    let state = fields
        .first()
        .and_then(|s| s.chars().next())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let start = fields
        .get(19)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    Ok((start, state))
}

/// What `state.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub annotations: HashMap<String, String>,
    /// The host process that exits with the container's status, whose pid
    /// is the container's: the sentry of the container's own sandbox, or
    /// the waiter of a container that joined another's ([`crate::pod`]).
    pub init: HostProcess,
    /// The container's gofer.
    pub gofer: Option<HostProcess>,
    /// For a container that joined another container's sandbox (a pod's
    /// workload container): that container's id.
    #[serde(default)]
    pub sandbox: Option<String>,
    /// The container's cgroup, reopened by `pause`, `events` and `delete`.
    pub cgroup: Option<crate::cgroups::Cgroup>,
}

/// The state directory of one container.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    /// Held open so that sockets are bound and reached through
    /// `/proc/self/fd/N/NAME`: state paths can exceed a socket address's
    /// 108 bytes.
    dir: OwnedFd,
}

/// Why a container's state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container does not exist")]
    NotExist,
    #[error("container with id {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl StateDir {
    /// Creates `<root>/<id>`; fails if the container exists.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, Error> {
        check_id(id)?;
        // Whoever reaches a container's sockets can run anything in it: the
        // root and each state directory are root's alone, as runc's are.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|source| Error::Io {
                what: "create root directory",
                path: root.to_path_buf(),
                source,
            })?;
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(source) => {
                return Err(Error::Io {
                    what: "create",
                    path,
                    source,
                })
            }
        }
        StateDir::open_path(path)
    }

    /// Opens the state of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, Error> {
        check_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(Error::NotExist);
        }
        StateDir::open_path(path)
    }

    fn open_path(path: PathBuf) -> Result<StateDir, Error> {
        let dir = rustix::fs::open(
            &path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::Io {
            what: "open",
            path: path.clone(),
            source: e.into(),
        })?;
        Ok(StateDir { path, dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path to `name` in this directory that fits a socket address.
    pub fn socket_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.dir.as_raw_fd()))
    }

    /// Writes the record atomically (a reader never sees half of it).
    pub fn save(&self, record: &Record) -> Result<(), Error> {
        let path = self.path.join(RECORD);
        let tmp = self.path.join(".state.json.tmp");
        let text = serde_json::to_vec(record).expect("a record serializes");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| Error::Io {
                what: "write",
                path,
                source,
            })
    }

    /// Reads the record. A directory without one belongs to a container
    /// whose `create` has not finished (or failed half-way).
    pub fn load(&self) -> Result<Record, Error> {
        let path = self.path.join(RECORD);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotExist),
            Err(source) => {
                return Err(Error::Io {
                    what: "read",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
            path,
            reason: e.to_string(),
        })
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), Error> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                what: "remove",
                path: self.path,
                source,
            }),
        }
    }
}

/// The ids of all containers under `root`, sorted.
pub fn list(root: &Path) -> Result<Vec<String>, Error> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                what: "read",
                path: root.to_path_buf(),
                source,
            })
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(RECORD).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Checks a container id as runc does: letters, digits, `_`, `+`, `-`
/// and `.`, and not `.` or `..` (it names a directory under the root).
pub fn check_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// Now, in RFC 3339 with nanoseconds and `Z`, as runc's `created`.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_follow_runc() {
        for ok in ["a", "abc-1_2.3+x", "A"] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert!(now_rfc3339().ends_with('Z'));
    }

    #[test]
    fn a_state_directory_is_exclusive_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::create(root.path(), "c1").unwrap();
        let again = StateDir::create(root.path(), "c1").unwrap_err();
        assert_eq!(again.to_string(), "container with id \"c1\" already exists");
        assert!(matches!(dir.load(), Err(Error::NotExist)));
        let path = dir.path().to_path_buf();
        dir.remove().unwrap();
        assert!(!path.exists());
        assert!(matches!(
            StateDir::open(root.path(), "c1"),
            Err(Error::NotExist)
        ));
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = HostProcess::of(std::process::id() as i32).unwrap();
        assert!(me.alive());
        let other = HostProcess {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.alive());
    }
}
