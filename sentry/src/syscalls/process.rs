//! Credentials, sessions and process groups. Ids, waiting and signals need
//! no system calls here: stubs live in the sandbox's own host pid
//! namespace, whose numbering and process tree are the sandbox's, so
//! `getpid`, `fork`'s result, `wait4` and `kill` are the host's, natively.
//! Signal delivery itself is the host's: the sentry translates the
//! sandbox's pids and sends the host signal to the stub, whose handlers and
//! masks are native.

use super::{Args, Ctx};
use crate::errno::SysResult;
use crate::kernel::task::{Pid, Task, ThreadGroup};
use crate::kernel::Kernel;
use crate::return_errno;
use std::sync::Arc;

pub fn getuid(ctx: &Ctx<'_>, _a: &Args) -> SysResult<i64> {
    Ok(i64::from(ctx.task.fs_lock().creds.uid))
}

pub fn getgid(ctx: &Ctx<'_>, _a: &Args) -> SysResult<i64> {
    Ok(i64::from(ctx.task.fs_lock().creds.gid))
}

pub fn getgroups(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let groups = ctx.task.fs_lock().creds.groups.clone();
    let size = a.i32(0);
    if size < 0 {
        return_errno!(EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as i64);
    }
    if (size as usize) < groups.len() {
        return_errno!(EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    ctx.write_bytes(a.u64(1), &bytes)?;
    Ok(groups.len() as i64)
}

fn write_three(ctx: &Ctx<'_>, a: &Args, v: u32) -> SysResult<i64> {
    for i in 0..3 {
        ctx.write(a.u64(i), &v)?;
    }
    Ok(0)
}

pub fn getresuid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let uid = ctx.task.fs_lock().creds.uid;
    write_three(ctx, a, uid)
}

pub fn getresgid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let gid = ctx.task.fs_lock().creds.gid;
    write_three(ctx, a, gid)
}

pub fn getpgrp(ctx: &Ctx<'_>, _a: &Args) -> SysResult<i64> {
    Ok(i64::from(ctx.task.group.state().pgid))
}

fn target(ctx: &Ctx<'_>, pid: Pid) -> SysResult<Arc<ThreadGroup>> {
    if pid == 0 {
        return Ok(ctx.task.group.clone());
    }
    match ctx.kernel.group(pid) {
        Some(g) if g.state().exit.is_none() => Ok(g),
        _ => return_errno!(ESRCH),
    }
}

pub fn getpgid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    Ok(i64::from(target(ctx, a.i32(0))?.state().pgid))
}

pub fn getsid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    Ok(i64::from(target(ctx, a.i32(0))?.state().sid))
}

pub fn setpgid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let (pid, pgid) = (a.i32(0), a.i32(1));
    if pgid < 0 {
        return_errno!(EINVAL);
    }
    let g = target(ctx, pid)?;
    let me = &ctx.task.group;
    let is_child = g.parent().is_some_and(|p| Arc::ptr_eq(&p, me));
    if !Arc::ptr_eq(&g, me) && !is_child {
        return_errno!(ESRCH);
    }
    let my_sid = me.state().sid;
    let mut s = g.state();
    if s.sid != my_sid {
        return_errno!(EPERM);
    }
    if s.sid == g.pid {
        // A session leader cannot change its group.
        return_errno!(EPERM);
    }
    s.pgid = if pgid == 0 { g.pid } else { pgid };
    Ok(0)
}

pub fn setsid(ctx: &Ctx<'_>, _a: &Args) -> SysResult<i64> {
    let g = &ctx.task.group;
    let pid = g.pid;
    let in_use = ctx
        .kernel
        .groups()
        .iter()
        .any(|o| o.pid != pid && o.state().pgid == pid);
    let mut s = g.state();
    if s.pgid == pid || in_use {
        return_errno!(EPERM);
    }
    s.pgid = pid;
    s.sid = pid;
    Ok(i64::from(pid))
}

fn send_to_thread(task: &Task, sig: i32) -> SysResult<()> {
    crate::platform::tgkill(task.group.host.0, task.host.0, sig).map_err(|e| {
        crate::errno::Errno::from_raw(e)
            .unwrap_or(crate::errno::Errno::ESRCH)
            .into()
    })
}

/// Raises `sig` in `task` (e.g. SIGPIPE after a failed write).
pub fn signal_thread(_kernel: &Kernel, task: &Task, sig: i32) {
    if let Err(e) = send_to_thread(task, sig) {
        tracing::debug!("signal {sig} to task {}: {}", task.tid, e.errno.name());
    }
}

/// `CAP_SETUID`, `CAP_SETGID`.
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

fn has_cap(ctx: &Ctx<'_>, cap: u32) -> bool {
    ctx.task.fs_lock().creds.caps.0 & (1 << cap) != 0
}

/// Switches the process's uid to `uid` (`u32::MAX`: unchanged). Without
/// `CAP_SETUID` only the current uid is allowed. Leaving uid 0 drops every
/// capability, as Linux does when no id stays 0.
fn change_uid(ctx: &Ctx<'_>, uid: u32) -> SysResult<i64> {
    if uid == u32::MAX {
        return Ok(0);
    }
    let privileged = has_cap(ctx, CAP_SETUID);
    let mut cx = ctx.task.fs_lock();
    if uid != cx.creds.uid && !privileged {
        return_errno!(EPERM);
    }
    if cx.creds.uid == 0 && uid != 0 {
        cx.creds.caps = crate::vfs::CapSet::EMPTY;
    }
    cx.creds.uid = uid;
    Ok(0)
}

fn change_gid(ctx: &Ctx<'_>, gid: u32) -> SysResult<i64> {
    if gid == u32::MAX {
        return Ok(0);
    }
    let privileged = has_cap(ctx, CAP_SETGID);
    let mut cx = ctx.task.fs_lock();
    if gid != cx.creds.gid && !privileged {
        return_errno!(EPERM);
    }
    cx.creds.gid = gid;
    Ok(0)
}

/// The id a `set*id` call with these arguments ends with: the effective
/// one if given, else the real one.
fn effective(ids: &[u32]) -> u32 {
    ids.iter()
        .rev()
        .copied()
        .find(|&i| i != u32::MAX)
        .unwrap_or(u32::MAX)
}

pub fn setuid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    change_uid(ctx, a.u32(0))
}

pub fn setgid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    change_gid(ctx, a.u32(0))
}

pub fn setreuid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    change_uid(ctx, effective(&[a.u32(0), a.u32(1)]))
}

pub fn setregid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    change_gid(ctx, effective(&[a.u32(0), a.u32(1)]))
}

pub fn setresuid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    change_uid(
        ctx,
        if a.u32(1) != u32::MAX {
            a.u32(1)
        } else {
            a.u32(0)
        },
    )
}

pub fn setresgid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    change_gid(
        ctx,
        if a.u32(1) != u32::MAX {
            a.u32(1)
        } else {
            a.u32(0)
        },
    )
}

/// `setfsuid` returns the previous id whether or not it changed it.
pub fn setfsuid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let old = ctx.task.fs_lock().creds.uid;
    let _ = change_uid(ctx, a.u32(0));
    Ok(i64::from(old))
}

pub fn setfsgid(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let old = ctx.task.fs_lock().creds.gid;
    let _ = change_gid(ctx, a.u32(0));
    Ok(i64::from(old))
}

pub fn setgroups(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let n = a.usize(0);
    if n > 65536 {
        return_errno!(EINVAL);
    }
    if !has_cap(ctx, CAP_SETGID) {
        return_errno!(EPERM);
    }
    let raw = ctx.read_bytes(a.u64(1), n * 4)?;
    let groups = raw
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ctx.task.fs_lock().creds.groups = groups;
    Ok(0)
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_V3: u32 = 0x2008_0522;

pub fn capget(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let version: u32 = ctx.read(a.u64(0))?;
    if version != CAP_V3 && version != 0x2007_1026 {
        // Tell the caller which version to use, as Linux does.
        ctx.write(a.u64(0), &CAP_V3)?;
        return_errno!(EINVAL);
    }
    if a.u64(1) == 0 {
        return Ok(0);
    }
    let caps = ctx.task.fs_lock().creds.caps.0;
    let (lo, hi) = (caps as u32, (caps >> 32) as u32);
    // effective, permitted, inheritable for the low words, then the high.
    ctx.write(a.u64(1), &[lo, lo, 0, hi, hi, 0]).map(|_| 0)
}

pub fn capset(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let version: u32 = ctx.read(a.u64(0))?;
    if version != CAP_V3 && version != 0x2007_1026 {
        return_errno!(EINVAL);
    }
    let d: [u32; 6] = ctx.read(a.u64(1))?;
    let (eff, perm) = (
        u64::from(d[0]) | u64::from(d[3]) << 32,
        u64::from(d[1]) | u64::from(d[4]) << 32,
    );
    let mut cx = ctx.task.fs_lock();
    // Only dropping is served: no new capability may appear.
    if perm & !cx.creds.caps.0 != 0 || eff & !perm != 0 {
        return_errno!(EPERM);
    }
    cx.creds.caps = crate::vfs::CapSet(eff);
    Ok(0)
}
