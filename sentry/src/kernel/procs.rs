//! The kernel as the source of `/proc`: what procfs shows about processes
//! comes from the kernel's task tables.

use super::task::{Task, ThreadGroup};
use super::Kernel;
use crate::sync::lock;
use crate::vfs::procfs::{CapSets, FdEntry, MountView, ProcessInfo, ProcessSource, Rlimit};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// Filled in once the kernel exists (procfs is mounted while it is built).
#[derive(Default)]
pub struct KernelProcs(OnceLock<Weak<Kernel>>);

impl KernelProcs {
    pub fn set(&self, kernel: &Arc<Kernel>) {
        let _ = self.0.set(Arc::downgrade(kernel));
    }

    fn kernel(&self) -> Option<Arc<Kernel>> {
        self.0.get().and_then(Weak::upgrade)
    }
}

fn info(k: &Kernel, g: &ThreadGroup, t: Option<&Arc<Task>>) -> ProcessInfo {
    // The session's terminal first: finding it takes group locks.
    let sid = g.state().sid;
    let (tty_nr, tpgid) = crate::tty::controlling(k, sid).map_or((0, -1), |t| {
        (t.device(), t.foreground().map_or(-1, |(fg, _)| fg))
    });
    let s = g.state();
    let task = t.cloned().or_else(|| s.threads.first().cloned());
    let (cwd, root, creds, umask) = match &task {
        Some(t) => {
            let cx = t.fs_context();
            (
                cx.vfs.path_of(&cx.root, &cx.cwd),
                b"/".to_vec(),
                cx.creds,
                cx.umask,
            )
        }
        None => (
            b"/".to_vec(),
            b"/".to_vec(),
            crate::vfs::Credentials::root(),
            0o022,
        ),
    };
    ProcessInfo {
        pid: t.map_or(g.pid, |t| t.tid),
        tgid: g.pid,
        // Not g.ppid(): that would take the state lock held here.
        ppid: s.parent.upgrade().map_or(0, |p| p.pid),
        pgid: s.pgid,
        sid: s.sid,
        comm: s.image.comm.clone(),
        // The task reading its own status is, by definition, running.
        state: match s.exit {
            Some(_) => 'Z',
            None if crate::vfs::procfs::current_task().is_some_and(|c| c.pid == g.pid) => 'R',
            None => 'S',
        },
        cmdline: live(k, &s, s.image.args).unwrap_or_else(|| s.image.cmdline.clone()),
        environ: live(k, &s, s.image.env).unwrap_or_else(|| s.image.environ.clone()),
        exe: (!s.image.exe.is_empty()).then(|| s.image.exe.clone()),
        cwd,
        root,
        uids: [creds.uid; 4],
        gids: [creds.gid; 4],
        groups: creds.groups.clone(),
        umask,
        threads: s.threads.len().max(1) as u32,
        caps: CapSets {
            permitted: creds.caps.0,
            effective: creds.caps.0,
            bounding: creds.caps.0,
            ..CapSets::default()
        },
        rlimits: s
            .rlimits
            .iter()
            .map(|&(cur, max)| Rlimit { cur, max })
            .collect(),
        maps: task
            .as_ref()
            .and_then(|t| k.platform().maps(t.host).ok())
            .unwrap_or_default()
            .into_bytes(),
        tty_nr,
        tpgid,
        ..ProcessInfo::default()
    }
}

/// The task whose files (`/proc/PID/fd`, `mounts`) show process `g`, if
/// the task asking may see them: not if it runs in another container,
/// whose mount namespace they would let it reach (an FD link leads to the
/// open file itself). The kernel's own reads, with no task asking, may.
fn looked_into(k: &Kernel, g: &ThreadGroup) -> Option<Arc<Task>> {
    if let Some(caller) = crate::vfs::procfs::current_task() {
        let asking = k.group(caller.pid)?;
        if asking.container != g.container {
            return None;
        }
    }
    g.state().threads.first().cloned()
}

/// Bytes `range` of a live process's memory (its argument or environment
/// strings), read now as Linux does.
fn live(k: &Kernel, s: &super::task::GroupState, (start, end): (u64, u64)) -> Option<Vec<u8>> {
    let task = s.threads.first()?;
    let len = usize::try_from(end.checked_sub(start)?).ok()?.min(1 << 20);
    if start == 0 || len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len];
    k.platform()
        .memory(task.host)
        .read_bytes(start, &mut buf)
        .ok()?;
    Some(buf)
}

impl ProcessSource for KernelProcs {
    fn pids(&self) -> Vec<i32> {
        self.kernel()
            .map_or_else(Vec::new, |k| k.groups().iter().map(|g| g.pid).collect())
    }

    fn process(&self, pid: i32) -> Option<ProcessInfo> {
        let k = self.kernel()?;
        let g = k.group(pid)?;
        Some(info(&k, &g, None))
    }

    fn threads(&self, pid: i32) -> Vec<i32> {
        let Some(g) = self.kernel().and_then(|k| k.group(pid)) else {
            return Vec::new();
        };
        let mut tids: Vec<i32> = g.state().threads.iter().map(|t| t.tid).collect();
        tids.sort_unstable();
        tids
    }

    fn thread(&self, pid: i32, tid: i32) -> Option<ProcessInfo> {
        let k = self.kernel()?;
        let t = k.task(tid)?;
        if t.group.pid != pid {
            return None;
        }
        Some(info(&k, &t.group, Some(&t)))
    }

    fn fds(&self, pid: i32) -> Vec<FdEntry> {
        let Some(k) = self.kernel() else {
            return Vec::new();
        };
        let Some(t) = k.group(pid).and_then(|g| looked_into(&k, &g)) else {
            return Vec::new();
        };
        let cx = t.fs_context();
        t.files
            .entries()
            .into_iter()
            .map(|(fd, e)| FdEntry::describe(&cx.vfs, &cx.root, fd, &e.file, e.cloexec))
            .collect()
    }

    fn mount_view(&self, pid: i32) -> Option<MountView> {
        let k = self.kernel()?;
        let cx = looked_into(&k, &*k.group(pid)?)?.fs_context();
        Some(MountView {
            vfs: cx.vfs,
            root: cx.root,
        })
    }

    fn hostname(&self) -> Vec<u8> {
        self.kernel()
            .map(|k| lock(&k.hostname).clone())
            .unwrap_or_default()
    }

    fn uptime(&self) -> Duration {
        self.kernel()
            .map_or(Duration::ZERO, |k| k.started.elapsed())
    }
}
