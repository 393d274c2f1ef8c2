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
