//! Parking of system calls that block (ARCHITECTURE.md decision 3).
//!
//! A blocking system call is an `async` handler. The receiver thread that
//! picked up the notification polls it once; if it completes, the answer goes
//! out at once. If it would block, its future is parked together with the
//! notification's reply token, and whatever it waits for (a pipe, a child's
//! exit, a timer) wakes it later through an ordinary `Waker`. Woken calls are
//! polled on the kernel's worker thread, never on the thread that woke them,
//! so a waker may hold locks. Receiver threads therefore never wait on an
//! application event.
//!
//! Once the sentry has received a call, only a fatal signal ends the stub's
//! wait. A parked call is interrupted by the kernel itself when a signal
//! becomes deliverable to its thread (see `Kernel`'s signal watch): it is
//! answered `ERESTARTSYS`, and the host then restarts it or fails it with
//! `EINTR` by the handler's `SA_RESTART`, as Linux does for a blocked call.
//! A thread has at most one call in flight, so a new call from the same
//! thread, or the thread's exit, drops any parked call it replaces.

use crate::errno::SysResult;
use crate::platform::Reply;
use crate::sync::lock;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

pub type SyscallFuture = Pin<Box<dyn Future<Output = SysResult<i64>> + Send>>;

/// What to do with a finished call's result.
pub type Finish = Box<dyn FnOnce(SysResult<i64>, Reply) + Send>;

/// A blocked system call: its future and the token that answers it.
pub struct Parked {
    state: Mutex<Option<(SyscallFuture, Reply, Finish)>>,
}

impl Parked {
    /// Polls the call once on this thread. Returns the parked call if it
    /// must wait, `None` if it was answered.
    pub fn start(fut: SyscallFuture, reply: Reply, finish: Finish) -> Option<Arc<Parked>> {
        let parked = Arc::new(Parked {
            state: Mutex::new(Some((fut, reply, finish))),
        });
        parked.clone().poll();
        let done = lock(&parked.state).is_none();
        (!done).then_some(parked)
    }

    fn poll(self: Arc<Self>) {
        let mut state = lock(&self.state);
        let Some((fut, reply, _)) = state.as_mut() else {
            return;
        };
        if !reply.is_pending() {
            // The application thread was interrupted or died: the call is
            // gone, and so is any reason to go on with it.
            *state = None;
            return;
        }
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
            let (_, reply, finish) = state.take().expect("checked above");
            drop(state);
            finish(result, reply);
        }
    }
}

impl Parked {
    /// Ends the call because a signal is due (see [`Reply::interrupt`]);
    /// returns whether it was still waiting.
    pub fn interrupt(&self) -> bool {
        let taken = lock(&self.state).take();
        match taken {
            Some((_, reply, _)) => {
                let _ = reply.interrupt();
                true
            }
            None => false,
        }
    }
}

impl Wake for Parked {
    fn wake(self: Arc<Self>) {
        worker().send(self).ok();
    }
}

/// The thread that polls woken calls.
fn worker() -> &'static Sender<Arc<Parked>> {
    static WORKER: OnceLock<Sender<Arc<Parked>>> = OnceLock::new();
    WORKER.get_or_init(|| {
        let (tx, rx) = channel::<Arc<Parked>>();
        std::thread::Builder::new()
            .name("sentry-worker".into())
            .spawn(move || {
                for parked in rx {
                    parked.poll();
                }
            })
            .expect("start the sentry worker thread");
        tx
    })
}

/// A future that completes after `d` (for timeouts of parked calls).
pub fn sleep(d: std::time::Duration) -> impl Future<Output = ()> + Send {
    let deadline = std::time::Instant::now() + d;
    Sleep {
        deadline,
        armed: false,
    }
}

struct Sleep {
    deadline: std::time::Instant,
    armed: bool,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::time::Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            timers().send((self.deadline, cx.waker().clone())).ok();
        }
        Poll::Pending
    }
}

/// The timer thread: wakes sleepers at their deadlines.
fn timers() -> &'static Sender<(std::time::Instant, Waker)> {
    static TIMERS: OnceLock<Sender<(std::time::Instant, Waker)>> = OnceLock::new();
    TIMERS.get_or_init(|| {
        let (tx, rx) = channel::<(std::time::Instant, Waker)>();
        std::thread::Builder::new()
            .name("sentry-timers".into())
            .spawn(move || {
                let mut heap: Vec<(std::time::Instant, Waker)> = Vec::new();
                loop {
                    let now = std::time::Instant::now();
                    heap.retain(|(at, w)| {
                        if *at <= now {
                            w.wake_by_ref();
                            false
                        } else {
                            true
                        }
                    });
                    let next = heap.iter().map(|(at, _)| *at).min();
                    let got = match next {
                        Some(at) => rx.recv_timeout(at.saturating_duration_since(now)),
                        None => rx
                            .recv()
                            .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
                    };
                    match got {
                        Ok(t) => heap.push(t),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("start the sentry timer thread");
        tx
    })
}
