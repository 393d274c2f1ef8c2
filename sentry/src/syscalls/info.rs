//! System information: `uname`, host name, randomness, `sysinfo`, resource
//! limits, CPU affinity, usage accounting and `prctl`.

use super::{Args, Ctx};
use crate::errno::SysResult;
use crate::kernel::{RELEASE, VERSION};
use crate::return_errno;
use crate::sync::lock;

/// Each `struct utsname` field is 65 bytes.
const UTS_LEN: usize = 65;

fn uts_field(out: &mut Vec<u8>, v: &[u8]) {
    let n = v.len().min(UTS_LEN - 1);
    out.extend_from_slice(&v[..n]);
    out.resize(out.len() + UTS_LEN - n, 0);
}

pub fn uname(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let host = lock(&ctx.kernel.hostname).clone();
    let mut out = Vec::with_capacity(UTS_LEN * 6);
    uts_field(&mut out, b"Linux");
    uts_field(&mut out, &host);
    uts_field(&mut out, RELEASE.as_bytes());
    uts_field(&mut out, VERSION.as_bytes());
    uts_field(&mut out, b"x86_64");
    uts_field(&mut out, b"(none)");
    ctx.write_bytes(a.u64(0), &out).map(|_| 0)
}

pub fn sethostname(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    if !ctx
        .task
        .fs_lock()
        .creds
        .caps
        .has(crate::vfs::Capability::SysAdmin)
    {
        return_errno!(EPERM);
    }
    if a.usize(1) > UTS_LEN - 1 {
        return_errno!(EINVAL);
    }
    let name = ctx.read_bytes(a.u64(0), a.usize(1))?;
    *lock(&ctx.kernel.hostname) = name;
    Ok(0)
}

pub fn getrandom(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    if a.u32(2) & !(libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE) != 0 {
        return_errno!(EINVAL);
    }
    let mut buf = vec![0u8; a.usize(1).min(super::IO_CHUNK)];
    rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty())
        .map_err(|_| crate::errno!(EIO))?;
    ctx.write_bytes(a.u64(0), &buf)?;
    Ok(buf.len() as i64)
}

pub fn sysinfo(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let host = rustix::system::sysinfo();
    let mut out = Vec::with_capacity(112);
    out.extend_from_slice(&(ctx.kernel.started.elapsed().as_secs() as i64).to_ne_bytes());
    for _ in 0..3 {
        out.extend_from_slice(&0u64.to_ne_bytes());
    }
    let unit = u64::from(host.mem_unit.max(1));
    for v in [
        host.totalram,
        host.freeram,
        host.sharedram,
        host.bufferram,
        host.totalswap,
        host.freeswap,
    ] {
        out.extend_from_slice(&(v * unit).to_ne_bytes());
    }
    let procs = ctx.kernel.groups().len() as u16;
    out.extend_from_slice(&procs.to_ne_bytes());
    out.extend_from_slice(&[0u8; 6]);
    out.extend_from_slice(&0u64.to_ne_bytes());
    out.extend_from_slice(&0u64.to_ne_bytes());
    out.extend_from_slice(&1u32.to_ne_bytes());
    out.resize(112, 0);
    ctx.write_bytes(a.u64(0), &out).map(|_| 0)
}

fn rlimit_slot(resource: u32) -> SysResult<usize> {
    if resource as usize >= 16 {
        return_errno!(EINVAL);
    }
    Ok(resource as usize)
}

fn write_rlimit(ctx: &Ctx<'_>, addr: u64, (soft, hard): (u64, u64)) -> SysResult<()> {
    ctx.write(addr, &[soft, hard])
}

pub fn getrlimit(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let slot = rlimit_slot(a.u32(0))?;
    let v = ctx.task.group.state().rlimits[slot];
    write_rlimit(ctx, a.u64(1), v).map(|_| 0)
}

fn set_rlimit(
    ctx: &Ctx<'_>,
    group: &crate::kernel::task::ThreadGroup,
    slot: usize,
    addr: u64,
) -> SysResult<()> {
    let [soft, hard]: [u64; 2] = ctx.read(addr)?;
    if soft > hard {
        return_errno!(EINVAL);
    }
    let mut s = group.state();
    let old = s.rlimits[slot];
    let privileged = ctx.task.fs_lock().creds.caps.0 & (1 << 24) != 0; // CAP_SYS_RESOURCE
    if hard > old.1 && !privileged {
        return_errno!(EPERM);
    }
    if slot == libc::RLIMIT_NOFILE as usize && hard > 1 << 20 {
        return_errno!(EPERM);
    }
    s.rlimits[slot] = (soft, hard);
    Ok(())
}

pub fn setrlimit(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let slot = rlimit_slot(a.u32(0))?;
    set_rlimit(ctx, &ctx.task.group, slot, a.u64(1)).map(|_| 0)
}

pub fn prlimit64(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let group = match a.i32(0) {
        0 => ctx.task.group.clone(),
        pid => ctx.kernel.group(pid).ok_or(crate::errno!(ESRCH))?,
    };
    let slot = rlimit_slot(a.u32(1))?;
    let old = group.state().rlimits[slot];
    if a.u64(2) != 0 {
        set_rlimit(ctx, &group, slot, a.u64(2))?;
    }
    if a.u64(3) != 0 {
        write_rlimit(ctx, a.u64(3), old)?;
    }
    Ok(0)
}

pub fn sched_getaffinity(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    let size = a.usize(1);
    if size < 8 || size % 8 != 0 {
        return_errno!(EINVAL);
    }
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(64);
    let mask: u64 = if cpus == 64 {
        u64::MAX
    } else {
        (1 << cpus) - 1
    };
    ctx.write(a.u64(2), &mask)?;
    Ok(8)
}

pub fn getrusage(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    ctx.write_bytes(a.u64(1), &[0u8; 144]).map(|_| 0)
}

pub fn times(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    if a.u64(0) != 0 {
        ctx.write_bytes(a.u64(0), &[0u8; 32])?;
    }
    // Clock ticks (100 per second) since the sandbox started.
    Ok((ctx.kernel.started.elapsed().as_millis() / 10) as i64)
}

pub fn prctl(ctx: &Ctx<'_>, a: &Args) -> SysResult<i64> {
    match a.i32(0) {
        libc::PR_SET_NAME => {
            let name = ctx
                .mem
                .read_cstring(a.u64(1), 16)
                .map_err(|_| crate::errno!(EFAULT))?;
            ctx.task.group.state().image.comm = name[..name.len().min(15)].to_vec();
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut name = ctx.task.group.state().image.comm.clone();
            name.resize(16, 0);
            ctx.write_bytes(a.u64(1), &name).map(|_| 0)
        }
        libc::PR_SET_PDEATHSIG
        | libc::PR_SET_DUMPABLE
        | libc::PR_SET_NO_NEW_PRIVS
        | libc::PR_SET_CHILD_SUBREAPER => Ok(0),
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_GET_NO_NEW_PRIVS => Ok(0),
        libc::PR_CAPBSET_READ => {
            let cap = a.u32(1);
            if cap > 63 {
                return_errno!(EINVAL);
            }
            Ok(i64::from(ctx.task.fs_lock().creds.caps.0 >> cap & 1 != 0))
        }
        _ => return_errno!(EINVAL),
    }
}
