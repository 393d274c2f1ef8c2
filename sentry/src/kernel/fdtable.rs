//! Per-process file descriptor tables. The application's descriptors exist
//! only here: the stub's host FD table holds nothing the application can
//! use.

use crate::errno::SysResult;
use crate::return_errno;
use crate::sync::lock;
use crate::vfs::FileDescription;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One descriptor: the open file description and its close-on-exec flag.
#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<FileDescription>,
    pub cloexec: bool,
}

/// A descriptor table, shared by the threads of a process (and by processes
/// created with `CLONE_FILES`).
#[derive(Default)]
pub struct FdTable {
    fds: Mutex<BTreeMap<i32, FdEntry>>,
}

/// The default `RLIMIT_NOFILE`: descriptors are numbered below it.
pub const DEFAULT_NOFILE: u64 = 1024;

impl FdTable {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, FdEntry>> {
        lock(&self.fds)
    }

    /// A copy for `fork`: the same descriptions under the same numbers.
    pub fn fork(&self) -> FdTable {
        FdTable {
            fds: Mutex::new(self.lock().clone()),
        }
    }

    pub fn get(&self, fd: i32) -> SysResult<Arc<FileDescription>> {
        match self.lock().get(&fd) {
            Some(e) => Ok(e.file.clone()),
            None => return_errno!(EBADF),
        }
    }

    pub fn entry(&self, fd: i32) -> SysResult<FdEntry> {
        match self.lock().get(&fd) {
            Some(e) => Ok(e.clone()),
            None => return_errno!(EBADF),
        }
    }

    /// Installs `file` at the lowest free number not below `min`.
    pub fn insert(
        &self,
        file: Arc<FileDescription>,
        cloexec: bool,
        min: i32,
        limit: u64,
    ) -> SysResult<i32> {
        let mut fds = self.lock();
        let mut fd = min;
        for (&n, _) in fds.range(min..) {
            if n != fd {
                break;
            }
            fd += 1;
        }
        if fd as u64 >= limit {
            return_errno!(EMFILE);
        }
        fds.insert(fd, FdEntry { file, cloexec });
        Ok(fd)
    }

    /// Installs `file` at exactly `fd`, returning what was there (whose last
    /// reference the caller drops outside the table lock).
    pub fn insert_at(
        &self,
        fd: i32,
        file: Arc<FileDescription>,
        cloexec: bool,
        limit: u64,
    ) -> SysResult<Option<FdEntry>> {
        if fd < 0 || fd as u64 >= limit {
            return_errno!(EBADF);
        }
        Ok(self.lock().insert(fd, FdEntry { file, cloexec }))
    }

    pub fn remove(&self, fd: i32) -> SysResult<FdEntry> {
        match self.lock().remove(&fd) {
            Some(e) => Ok(e),
            None => return_errno!(EBADF),
        }
    }

    pub fn set_cloexec(&self, fd: i32, cloexec: bool) -> SysResult<()> {
        match self.lock().get_mut(&fd) {
            Some(e) => {
                e.cloexec = cloexec;
                Ok(())
            }
            None => return_errno!(EBADF),
        }
    }

    /// Drops every close-on-exec descriptor (at `execve`).
    pub fn close_on_exec(&self) {
        let closed: Vec<FdEntry> = {
            let mut fds = self.lock();
            let doomed: Vec<i32> = fds
                .iter()
                .filter(|(_, e)| e.cloexec)
                .map(|(&n, _)| n)
                .collect();
            doomed.iter().filter_map(|n| fds.remove(n)).collect()
        };
        drop(closed);
    }

    /// All descriptors, for `/proc/PID/fd`.
    pub fn entries(&self) -> Vec<(i32, FdEntry)> {
        self.lock().iter().map(|(&n, e)| (n, e.clone())).collect()
    }

    /// Closes the range `[first, last]` (`close_range`).
    pub fn close_range(&self, first: i32, last: i32, cloexec_only: bool) {
        let mut fds = self.lock();
        let keys: Vec<i32> = fds.range(first..=last).map(|(&n, _)| n).collect();
        let mut closed = Vec::new();
        for n in keys {
            if cloexec_only {
                if let Some(e) = fds.get_mut(&n) {
                    e.cloexec = true;
                }
            } else if let Some(e) = fds.remove(&n) {
                closed.push(e);
            }
        }
        drop(fds);
        drop(closed);
    }
}
