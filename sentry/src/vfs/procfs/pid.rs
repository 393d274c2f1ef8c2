//! `/proc/PID` and `/proc/PID/task/TID`: one directory per process or
//! thread, with the files describing it, its FDs and its threads.
//!
//! Every node is made afresh by a lookup and reads the kernel's current
//! view when read, so nothing here goes stale but ownership, which the
//! revalidation checks.

use super::text;
use super::{parse_id, ProcessInfo, Shared};
use crate::errno::SysResult;
use crate::return_errno;
use crate::vfs::attr::FileType;
use crate::vfs::attr::{SetAttr, Stat};
use crate::vfs::file::FIRST_FS_OFF;
use crate::vfs::inode::FileOps;
use crate::vfs::inode::Inode;
use crate::vfs::mount::VfsPath;
use crate::vfs::synthetic::{
    ino_of, Attrs, Dir, DirContents, Entry, File, Generator, Symlink, Writer,
};
use std::any::Any;
use std::sync::Arc;

/// The files of a process or thread directory, in listing order, with
/// their kind and permissions.
const TASK_FILES: &[(&str, FileType, u32)] = &[
    ("task", FileType::Directory, 0o555),
    ("fd", FileType::Directory, 0o500),
    ("fdinfo", FileType::Directory, 0o500),
    ("cgroup", FileType::Regular, 0o444),
    ("cmdline", FileType::Regular, 0o444),
    ("comm", FileType::Regular, 0o444),
    ("cwd", FileType::Symlink, 0o777),
    ("environ", FileType::Regular, 0o400),
    ("exe", FileType::Symlink, 0o777),
    ("limits", FileType::Regular, 0o444),
    ("maps", FileType::Regular, 0o444),
    ("mountinfo", FileType::Regular, 0o444),
    ("mounts", FileType::Regular, 0o444),
    ("oom_score", FileType::Regular, 0o444),
    ("oom_score_adj", FileType::Regular, 0o644),
    ("root", FileType::Symlink, 0o777),
    ("stat", FileType::Regular, 0o444),
    ("statm", FileType::Regular, 0o444),
    ("status", FileType::Regular, 0o444),
];

fn prefix(pid: i32, tid: Option<i32>) -> String {
    match tid {
        None => format!("{pid}"),
        Some(t) => format!("{pid}/task/{t}"),
    }
}

/// The inode number of `/proc/PID` or `/proc/PID/task/TID`.
pub(super) fn dir_ino(pid: i32, tid: Option<i32>) -> u64 {
    ino_of(prefix(pid, tid).as_bytes())
}

/// Whether a node made for a process is still valid: the process exists
/// and its owner (which changes at a setuid exec, or with a reused PID)
/// is the one the node shows.
pub(super) fn still_owned(info: Option<&ProcessInfo>, child: &Arc<dyn Inode>) -> bool {
    match (info, child.stat()) {
        (Some(i), Ok(st)) => (st.uid, st.gid) == i.owner(),
        _ => false,
    }
}

/// Which process or thread a node describes.
#[derive(Clone)]
struct Target {
    shared: Arc<Shared>,
    pid: i32,
    tid: Option<i32>,
    prefix: String,
}

impl Target {
    fn info(&self) -> SysResult<ProcessInfo> {
        let src = &self.shared.source;
        let info = match self.tid {
            None => src.process(self.pid),
            Some(t) => src.thread(self.pid, t),
        };
        match info {
            Some(i) => Ok(i),
            None => return_errno!(ESRCH),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// A generator over this target's current info.
    fn gen(&self, f: impl Fn(&ProcessInfo) -> Vec<u8> + Send + Sync + 'static) -> Generator {
        let t = self.clone();
        Arc::new(move || Ok(f(&t.info()?)))
    }

    fn link(
        &self,
        f: impl Fn(&ProcessInfo) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Generator {
        let t = self.clone();
        Arc::new(move || match f(&t.info()?) {
            Some(l) => Ok(l),
            None => return_errno!(ENOENT),
        })
    }

    fn node(&self, name: &str, perm: u32, owner: (u32, u32)) -> Arc<dyn Inode> {
        let attrs = self
            .shared
            .attrs(&self.path(name), perm)
            .owned_by(owner.0, owner.1);
        let sub = |t: &Target, name: &str| Target {
            prefix: t.path(name),
            ..t.clone()
        };
        let ncpus = self.shared.host.cpus;
        let gen = match name {
            "task" => {
                return Dir::new(attrs, TaskList { t: sub(self, name) });
            }
            "fd" | "fdinfo" => {
                let contents = FdDir {
                    t: sub(self, name),
                    info: name == "fdinfo",
                };
                return Dir::new(attrs, contents);
            }
            "exe" => return Symlink::new(attrs, self.link(|i| i.exe.clone())),
            "cwd" => return Symlink::new(attrs, self.link(|i| Some(i.cwd.clone()))),
            "root" => return Symlink::new(attrs, self.link(|i| Some(i.root.clone()))),
            "oom_score_adj" => {
                let (src, pid) = (self.shared.source.clone(), self.pid);
                let write: Writer = Arc::new(move |buf| {
                    let v = text::parse_int(buf)?;
                    if !(-1000..=1000).contains(&v) {
                        return_errno!(EINVAL);
                    }
                    src.set_oom_score_adj(pid, v as i32)
                });
                let gen = self.gen(|i| format!("{}\n", i.oom_score_adj).into_bytes());
                return File::writable(attrs, gen, write);
            }
            "cgroup" => self.gen(|_| b"0::/\n".to_vec()),
            "cmdline" => self.gen(|i| i.cmdline.clone()),
            "comm" => self.gen(|i| {
                let mut c = i.comm.clone();
                c.push(b'\n');
                c
            }),
            "environ" => self.gen(|i| i.environ.clone()),
            "limits" => self.gen(text::limits),
            "maps" => self.gen(|i| i.maps.clone()),
            "mounts" | "mountinfo" => {
                let (src, pid) = (self.shared.source.clone(), self.pid);
                let info = name == "mountinfo";
                Arc::new(move || match src.mount_view(pid) {
                    Some(v) if info => Ok(text::mountinfo(&v)),
                    Some(v) => Ok(text::mounts(&v)),
                    None => return_errno!(ESRCH),
                })
            }
            "oom_score" => self.gen(|_| b"0\n".to_vec()),
            "stat" => self.gen(text::pid_stat),
            "statm" => self.gen(text::statm),
            "status" => self.gen(move |i| text::status(i, ncpus)),
            _ => unreachable!("every TASK_FILES name is handled"),
        };
        File::new(attrs, gen)
    }
}

/// The directory of a process (`tid` None) or of one of its threads.
pub(super) fn task_dir(
    shared: &Arc<Shared>,
    info: &ProcessInfo,
    pid: i32,
    tid: Option<i32>,
) -> Arc<dyn Inode> {
    let (uid, gid) = info.owner();
    let t = Target {
        shared: shared.clone(),
        pid,
        tid,
        prefix: prefix(pid, tid),
    };
    let attrs = shared.attrs(&t.prefix, 0o555).owned_by(uid, gid);
    Dir::new(attrs, TaskDir { t })
}

struct TaskDir {
    t: Target,
}

impl TaskDir {
    fn files(&self) -> impl Iterator<Item = &'static (&'static str, FileType, u32)> {
        // Threads have no `task` directory of their own.
        let threaded = self.t.tid.is_some();
        TASK_FILES
            .iter()
            .filter(move |(n, _, _)| !(threaded && *n == "task"))
    }
}

impl DirContents for TaskDir {
    fn entries(&self) -> SysResult<Vec<Entry>> {
        Ok(self
            .files()
            .enumerate()
            .map(|(i, (name, kind, _))| Entry {
                name: name.as_bytes().to_vec(),
                kind: *kind,
                ino: ino_of(self.t.path(name).as_bytes()),
                cookie: FIRST_FS_OFF + i as u64,
            })
            .collect())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let Some((n, _, perm)) = self.files().find(|(n, _, _)| n.as_bytes() == name) else {
            return_errno!(ENOENT)
        };
        let owner = self.t.info().map_err(|_| crate::errno!(ENOENT))?.owner();
        Ok(self.t.node(n, *perm, owner))
    }

    fn revalidate(&self, _name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        Ok(still_owned(self.t.info().ok().as_ref(), child))
    }
}

/// `/proc/PID/task`: one directory per thread.
struct TaskList {
    t: Target,
}

impl DirContents for TaskList {
    fn entries(&self) -> SysResult<Vec<Entry>> {
        let mut tids = self.t.shared.source.threads(self.t.pid);
        tids.sort_unstable();
        tids.dedup();
        Ok(tids
            .into_iter()
            .filter(|t| *t > 0)
            .map(|tid| Entry {
                name: tid.to_string().into_bytes(),
                kind: FileType::Directory,
                ino: dir_ino(self.t.pid, Some(tid)),
                cookie: FIRST_FS_OFF + tid as u64,
            })
            .collect())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let Some(tid) = parse_id(name) else {
            return_errno!(ENOENT)
        };
        match self.t.shared.source.thread(self.t.pid, tid) {
            Some(info) => Ok(task_dir(&self.t.shared, &info, self.t.pid, Some(tid))),
            None => return_errno!(ENOENT),
        }
    }

    fn revalidate(&self, name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        let Some(tid) = parse_id(name) else {
            return Ok(false);
        };
        let info = self.t.shared.source.thread(self.t.pid, tid);
        Ok(still_owned(info.as_ref(), child))
    }
}

/// The permissions Linux gives an FD link: read and search for a readable
/// FD, write and search for a writable one, owner only.
fn fd_link_perm(flags: u32) -> u32 {
    let acc = flags & libc::O_ACCMODE as u32;
    let mut perm = 0;
    if acc != libc::O_WRONLY as u32 {
        perm |= 0o500;
    }
    if acc != libc::O_RDONLY as u32 {
        perm |= 0o300;
    }
    perm
}

/// `/proc/PID/fd` (links to what each FD refers to) or `fdinfo` (its
/// offset and flags).
struct FdDir {
    t: Target,
    info: bool,
}

impl FdDir {
    fn fd(&self, fd: i32) -> SysResult<super::FdEntry> {
        let fds = self.t.shared.source.fds(self.t.pid);
        match fds.into_iter().find(|e| e.fd == fd) {
            Some(e) => Ok(e),
            None => return_errno!(ENOENT),
        }
    }
}

impl DirContents for FdDir {
    /// Links and files only; listing would describe every open FD, one of
    /// which may be this very directory.
    fn subdirs(&self) -> SysResult<u32> {
        Ok(0)
    }

    fn entries(&self) -> SysResult<Vec<Entry>> {
        let kind = if self.info {
            FileType::Regular
        } else {
            FileType::Symlink
        };
        let mut fds = self.t.shared.source.fds(self.t.pid);
        fds.sort_by_key(|e| e.fd);
        Ok(fds
            .into_iter()
            .filter(|e| e.fd >= 0)
            .map(|e| Entry {
                name: e.fd.to_string().into_bytes(),
                kind,
                ino: ino_of(self.t.path(&e.fd.to_string()).as_bytes()),
                cookie: FIRST_FS_OFF + e.fd as u64,
            })
            .collect())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let Some(fd) = parse_id(name) else {
            return_errno!(ENOENT)
        };
        let entry = self.fd(fd)?;
        let (uid, gid) = self.t.info().map_err(|_| crate::errno!(ENOENT))?.owner();
        let path = self.t.path(&fd.to_string());
        let dir = FdDir {
            t: self.t.clone(),
            info: self.info,
        };
        if self.info {
            let attrs = self.t.shared.attrs(&path, 0o444).owned_by(uid, gid);
            let gen: Generator = Arc::new(move || Ok(text::fdinfo(&dir.fd(fd)?)));
            return Ok(File::new(attrs, gen));
        }
        let attrs = self
            .t
            .shared
            .attrs(&path, fd_link_perm(entry.flags))
            .owned_by(uid, gid);
        Ok(Arc::new(FdLink { attrs, dir, fd }))
    }

    fn revalidate(&self, name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        let Some(fd) = parse_id(name) else {
            return Ok(false);
        };
        let Ok(entry) = self.fd(fd) else {
            return Ok(false);
        };
        if !still_owned(self.t.info().ok().as_ref(), child) {
            return Ok(false);
        }
        // The FD may have been reopened with another access mode.
        Ok(self.info || child.stat()?.perm() == fd_link_perm(entry.flags))
    }
}

/// `/proc/PID/fd/N`: shows what the FD refers to, and following it reaches
/// the open file itself rather than whatever that text names now.
struct FdLink {
    attrs: Attrs,
    dir: FdDir,
    fd: i32,
}

impl Inode for FdLink {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        let size = self.dir.fd(self.fd).map_or(0, |e| e.target.len() as u64);
        Ok(self.attrs.stat(FileType::Symlink, 1, size))
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::Symlink)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        return_errno!(EPERM)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        Ok(self.dir.fd(self.fd)?.target)
    }

    fn magic_target(&self) -> Option<VfsPath> {
        self.dir.fd(self.fd).ok()?.file
    }

    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        return_errno!(ELOOP)
    }
}
