//! `poll`, `ppoll`, `select` and `pselect6`: readiness of the sentry's files,
//! parked until one of them changes or the timeout passes.

use super::{ctx_of, Args};
use crate::errno::SysResult;
use crate::kernel::sched::{sleep, SyscallFuture};
use crate::kernel::task::Task;
use crate::kernel::Kernel;
use crate::return_errno;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Most descriptors one call may watch (`RLIMIT_NOFILE`'s usual ceiling).
const MAX_FDS: usize = 1 << 16;

/// Completes when any of its futures does.
struct AnyOf(Vec<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Future for AnyOf {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for f in self.0.iter_mut() {
            if f.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

/// Waits until one of `watch` (fd, requested events) is ready; returns the
/// ready events per entry (0 where none). `timeout` `None` waits forever.
async fn wait_ready(
    kernel: &Arc<Kernel>,
    task: &Arc<Task>,
    watch: &[(i32, i16)],
    timeout: Option<Duration>,
) -> Vec<i16> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
        let mut revents = Vec::with_capacity(watch.len());
        let mut ready = false;
        for &(fd, events) in watch {
            if fd < 0 {
                revents.push(0);
                continue;
            }
            let file = match task.files.get(fd) {
                Ok(f) => f,
                Err(_) => {
                    revents.push(libc::POLLNVAL);
                    ready = true;
                    continue;
                }
            };
            if let Some(e) = file.ops().event() {
                let l = e.listen();
                waits.push(Box::pin(l));
            }
            let always = (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) as u32;
            let r = file.ops().readiness() & (events as u16 as u32 | always);
            ready |= r != 0;
            revents.push(r as i16);
        }
        let _ = kernel;
        if ready {
            return revents;
        }
        let left = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return revents,
            },
            None => None,
        };
        if let Some(left) = left {
            waits.push(Box::pin(sleep(left)));
        }
        if waits.is_empty() {
            // Nothing can ever change: wait out the timeout (or forever,
            // until a signal interrupts the call).
            std::future::pending::<()>().await;
        }
        AnyOf(waits).await;
    }
}

fn timespec_timeout(
    kernel: &Arc<Kernel>,
    task: &Arc<Task>,
    addr: u64,
) -> SysResult<Option<Duration>> {
    if addr == 0 {
        return Ok(None);
    }
    let ctx = ctx_of(kernel, task);
    let [sec, nsec]: [i64; 2] = ctx.read(addr)?;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return_errno!(EINVAL);
    }
    Ok(Some(Duration::new(sec as u64, nsec as u32)))
}

async fn do_poll(
    kernel: Arc<Kernel>,
    task: Arc<Task>,
    addr: u64,
    nfds: usize,
    timeout: Option<Duration>,
) -> SysResult<i64> {
    if nfds > MAX_FDS {
        return_errno!(EINVAL);
    }
    let raw = ctx_of(&kernel, &task).read_bytes(addr, nfds * 8)?;
    let watch: Vec<(i32, i16)> = raw
        .chunks_exact(8)
        .map(|c| {
            (
                i32::from_ne_bytes([c[0], c[1], c[2], c[3]]),
                i16::from_ne_bytes([c[4], c[5]]),
            )
        })
        .collect();
    let revents = wait_ready(&kernel, &task, &watch, timeout).await;
    let mut out = raw;
    for (i, r) in revents.iter().enumerate() {
        out[i * 8 + 6..i * 8 + 8].copy_from_slice(&r.to_ne_bytes());
    }
    ctx_of(&kernel, &task).write_bytes(addr, &out)?;
    Ok(revents.iter().filter(|&&r| r != 0).count() as i64)
}

pub fn poll(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let ms = a.i32(2);
        let timeout = (ms >= 0).then(|| Duration::from_millis(ms as u64));
        do_poll(kernel, task, a.u64(0), a.usize(1), timeout).await
    })
}

pub fn ppoll(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let timeout = timespec_timeout(&kernel, &task, a.u64(2))?;
        do_poll(kernel, task, a.u64(0), a.usize(1), timeout).await
    })
}

/// `select`'s three descriptor sets, read from the caller.
async fn do_select(
    kernel: Arc<Kernel>,
    task: Arc<Task>,
    a: Args,
    timeout: Option<Duration>,
) -> SysResult<i64> {
    let nfds = a.i32(0);
    if !(0..=MAX_FDS as i32).contains(&nfds) {
        return_errno!(EINVAL);
    }
    let bytes = (nfds as usize).div_ceil(64) * 8;
    let ctx = ctx_of(&kernel, &task);
    let read_set = |addr: u64| -> SysResult<Option<Vec<u8>>> {
        if addr == 0 {
            Ok(None)
        } else {
            ctx.read_bytes(addr, bytes).map(Some)
        }
    };
    let sets = [
        read_set(a.u64(1))?,
        read_set(a.u64(2))?,
        read_set(a.u64(3))?,
    ];
    let bits = [
        libc::POLLIN | libc::POLLHUP | libc::POLLERR,
        libc::POLLOUT | libc::POLLERR,
        libc::POLLPRI,
    ];
    let mut watch = Vec::new();
    let mut owner = Vec::new();
    for fd in 0..nfds {
        let (byte, bit) = (fd as usize / 8, fd as usize % 8);
        let mut events = 0i16;
        for (set, b) in sets.iter().zip(bits) {
            if set.as_ref().is_some_and(|s| s[byte] & (1 << bit) != 0) {
                events |= b;
            }
        }
        if events != 0 {
            if task.files.get(fd).is_err() {
                return_errno!(EBADF);
            }
            watch.push((fd, events));
            owner.push(fd);
        }
    }
    let revents = wait_ready(&kernel, &task, &watch, timeout).await;
    let mut out: [Vec<u8>; 3] = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
    let mut count = 0;
    for (&fd, &r) in owner.iter().zip(&revents) {
        let (byte, bit) = (fd as usize / 8, fd as usize % 8);
        let requested = watch.iter().find(|w| w.0 == fd).map_or(0, |w| w.1);
        for (i, b) in bits.iter().enumerate() {
            if r & b != 0 && requested & b != 0 {
                out[i][byte] |= 1 << bit;
                count += 1;
            }
        }
    }
    let ctx = ctx_of(&kernel, &task);
    for (i, addr) in [a.u64(1), a.u64(2), a.u64(3)].into_iter().enumerate() {
        if addr != 0 {
            ctx.write_bytes(addr, &out[i])?;
        }
    }
    Ok(count)
}

pub fn select(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let timeout = if a.u64(4) == 0 {
            None
        } else {
            let [sec, usec]: [i64; 2] = ctx_of(&kernel, &task).read(a.u64(4))?;
            if sec < 0 || !(0..1_000_000).contains(&usec) {
                return_errno!(EINVAL);
            }
            Some(Duration::new(sec as u64, usec as u32 * 1000))
        };
        do_select(kernel, task, a, timeout).await
    })
}

pub fn pselect6(kernel: Arc<Kernel>, task: Arc<Task>, a: Args) -> SyscallFuture {
    Box::pin(async move {
        let timeout = timespec_timeout(&kernel, &task, a.u64(4))?;
        do_select(kernel, task, a, timeout).await
    })
}
