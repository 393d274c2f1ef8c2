//! Pipes and FIFOs: a bounded byte buffer shared by read and write ends.
//!
//! Every operation here is non-blocking: where Linux would sleep, it
//! returns `EAGAIN`. Blocking is the kernel's business (decision 3: a
//! blocked syscall parks only its own task). Each [`Pipe`] owns an
//! [`Event`] notified, after the pipe's lock is released, whenever
//! readiness may have changed, so a caller parks without lost wake-ups by
//! listening *before* it retries:
//!
//! ```ignore
//! loop {
//!     let listener = end.pipe().event().listen();
//!     match end.try_read(buf) {
//!         Err(e) if e == Errno::EAGAIN && !nonblocking => listener.await,
//!         r => break r,
//!     }
//! }
//! ```
//!
//! Semantics follow pipe(7): 64 KiB capacity; writes of at most
//! [`PIPE_BUF`] bytes are all-or-nothing, longer ones may be partial (a
//! blocking writer loops over the rest); reading an empty pipe with no
//! writers is end of file; writing with no readers is `EPIPE` (sending
//! `SIGPIPE` is the kernel's job).
//!
//! Opening a FIFO (a named pipe in tmpfs) for reading or writing only, in
//! blocking mode, waits for the other side to open. Here the open returns
//! at once with an end that is *pending*; [`FileOps::try_complete_open`]
//! says `EAGAIN` until a peer has opened, with the same event to wait on.
//! The pending end is already counted, so the peer's own open does not
//! wait for it. A non-blocking write-only open with no reader is `ENXIO`.
//!
//! Lock order: a pipe's state lock is a leaf (level 3 of the VFS order);
//! nothing is called while it is held, and the event is notified after it
//! is dropped.

use super::attr::{FileType, SetAttr, Stat, Timespec};
use super::file::FileDescription;
use super::inode::{FileOps, Inode, WritePos};
use crate::errno::SysResult;
use crate::return_errno;
use crate::sync::lock;
use event_listener::Event;
use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Writes up to this size are atomic (`PIPE_BUF`).
pub const PIPE_BUF: usize = 4096;
/// A pipe's capacity (Linux's default of 16 pages).
pub const PIPE_CAPACITY: usize = 64 << 10;

pub const POLLIN: u32 = libc::POLLIN as u32;
pub const POLLOUT: u32 = libc::POLLOUT as u32;
pub const POLLERR: u32 = libc::POLLERR as u32;
pub const POLLHUP: u32 = libc::POLLHUP as u32;
pub const POLLRDNORM: u32 = libc::POLLRDNORM as u32;
pub const POLLWRNORM: u32 = libc::POLLWRNORM as u32;

#[derive(Default)]
struct State {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
    /// Opens of each side ever, so an end can tell "a peer came (and maybe
    /// went) since I opened" from "no peer yet" (Linux's r/w counters).
    reader_opens: u64,
    writer_opens: u64,
}

/// The shared buffer of one pipe or FIFO.
pub struct Pipe {
    state: Mutex<State>,
    event: Event,
}

impl Default for Pipe {
    fn default() -> Pipe {
        Pipe {
            state: Mutex::new(State::default()),
            event: Event::new(),
        }
    }
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Pipe")
            .field("len", &s.buf.len())
            .field("readers", &s.readers)
            .field("writers", &s.writers)
            .finish()
    }
}

impl Pipe {
    pub fn new() -> Arc<Pipe> {
        Arc::new(Pipe::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Wakes everyone parked on this pipe; called with the lock released.
    fn notify(&self) {
        self.event.notify(usize::MAX);
    }

    /// Notified whenever readiness of any end may have changed.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn len(&self) -> usize {
        self.lock().buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many ends are open for reading and for writing.
    pub fn ends(&self) -> (u32, u32) {
        let s = self.lock();
        (s.readers, s.writers)
    }

    /// An anonymous pipe's two ends, as `pipe(2)` makes them.
    pub fn new_pair() -> (PipeEnd, PipeEnd) {
        let pipe = Pipe::new();
        // The reader first, so it sees the writer arrive: its POLLHUP then
        // means "the writer has gone".
        let r = pipe.attach(true, false, false);
        let w = pipe.attach(false, true, false);
        (r, w)
    }

    /// Opens a FIFO backed by this pipe with `open(2)` flags.
    pub fn open_fifo(self: &Arc<Self>, flags: u32) -> SysResult<PipeEnd> {
        let nonblock = flags & libc::O_NONBLOCK as u32 != 0;
        let acc = flags & libc::O_ACCMODE as u32;
        let (read, write) = match acc {
            a if a == libc::O_RDONLY as u32 => (true, false),
            a if a == libc::O_WRONLY as u32 => (false, true),
            a if a == libc::O_RDWR as u32 => (true, true),
            _ => return_errno!(EINVAL),
        };
        if write && !read && nonblock && self.lock().readers == 0 {
            return_errno!(ENXIO, "FIFO has no reader");
        }
        // O_RDWR never waits: it is its own peer.
        let pending = !nonblock && (read != write);
        Ok(self.attach(read, write, pending))
    }

    /// Counts a new end and wakes anyone waiting for a peer to open.
    fn attach(self: &Arc<Self>, read: bool, write: bool, wait_for_peer: bool) -> PipeEnd {
        let mut s = self.lock();
        let (seen_readers, seen_writers) = (s.reader_opens, s.writer_opens);
        if read {
            s.readers += 1;
            s.reader_opens += 1;
        }
        if write {
            s.writers += 1;
            s.writer_opens += 1;
        }
        // Waiting is only needed while the other side is absent.
        let pending = wait_for_peer && if read { s.writers == 0 } else { s.readers == 0 };
        drop(s);
        self.notify();
        PipeEnd {
            pipe: self.clone(),
            read,
            write,
            seen_readers,
            seen_writers,
            pending: AtomicBool::new(pending),
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut s = self.lock();
        if s.buf.is_empty() {
            if s.writers == 0 {
                return Ok(0);
            }
            return_errno!(EAGAIN);
        }
        let n = buf.len().min(s.buf.len());
        let (a, b) = s.buf.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        s.buf.drain(..n);
        drop(s);
        self.notify();
        Ok(n)
    }

    fn try_write(&self, data: &[u8]) -> SysResult<usize> {
        let mut s = self.lock();
        if s.readers == 0 {
            return_errno!(EPIPE);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let free = PIPE_CAPACITY - s.buf.len();
        let n = if data.len() <= PIPE_BUF {
            // Atomic: all of it or nothing.
            if free < data.len() {
                return_errno!(EAGAIN);
            }
            data.len()
        } else {
            if free == 0 {
                return_errno!(EAGAIN);
            }
            data.len().min(free)
        };
        s.buf.extend(&data[..n]);
        drop(s);
        self.notify();
        Ok(n)
    }
}

/// One open end of a pipe or FIFO: the [`FileOps`] of its description.
/// Dropping it (the last FD of the description closed) detaches it.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
    /// The peer open counts when this end opened.
    seen_readers: u64,
    seen_writers: u64,
    /// A blocking FIFO open still waiting for its peer.
    pending: AtomicBool,
}

impl std::fmt::Debug for PipeEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeEnd")
            .field("read", &self.read)
            .field("write", &self.write)
            .field("pipe", &self.pipe)
            .finish()
    }
}

impl PipeEnd {
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    /// Reads what is there, up to `buf.len()`; 0 at end of file (empty and
    /// no writers); `EAGAIN` if empty while a writer remains.
    pub fn try_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if !self.read {
            return_errno!(EBADF);
        }
        self.pipe.try_read(buf)
    }

    /// Writes all of `data` if it is at most [`PIPE_BUF`] and fits, or as
    /// much as fits of a longer one; `EAGAIN` if nothing could be written,
    /// `EPIPE` if no reader is left.
    pub fn try_write(&self, data: &[u8]) -> SysResult<usize> {
        if !self.write {
            return_errno!(EBADF);
        }
        self.pipe.try_write(data)
    }

    /// The `poll(2)` bits of this end now.
    pub fn poll(&self) -> u32 {
        let s = self.pipe.lock();
        let mut bits = 0;
        if self.read {
            if !s.buf.is_empty() {
                bits |= POLLIN | POLLRDNORM;
            }
            // Hung up only once a writer has come and gone: a FIFO reader
            // opened before any writer is not at end of file yet.
            if s.writers == 0 && s.writer_opens != self.seen_writers {
                bits |= POLLHUP;
            }
        }
        if self.write {
            if PIPE_CAPACITY - s.buf.len() >= PIPE_BUF {
                bits |= POLLOUT | POLLWRNORM;
            }
            if s.readers == 0 {
                bits |= POLLERR;
            }
        }
        bits
    }

    fn peer_arrived(&self) -> bool {
        let s = self.pipe.lock();
        if self.read {
            s.writer_opens != self.seen_writers
        } else {
            s.reader_opens != self.seen_readers
        }
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = self.pipe.lock();
        if self.read {
            s.readers -= 1;
        }
        if self.write {
            s.writers -= 1;
        }
        if s.readers == 0 && s.writers == 0 {
            // A FIFO's data does not outlive its last opener.
            s.buf = VecDeque::new();
        }
        drop(s);
        self.pipe.notify();
    }
}

impl FileOps for PipeEnd {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.try_read(buf)
    }

    fn write_at(&self, _pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        // Pipes have no offset; the description's stays at 0.
        Ok((self.try_write(buf)?, 0))
    }

    fn readiness(&self) -> u32 {
        self.poll()
    }

    fn event(&self) -> Option<&Event> {
        Some(&self.pipe.event)
    }

    fn try_complete_open(&self) -> SysResult<()> {
        if !self.pending.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.peer_arrived() {
            return_errno!(EAGAIN);
        }
        self.pending.store(false, Ordering::Release);
        Ok(())
    }
}

/// The inode of an anonymous pipe. It keeps the pipe, so that reopening it
/// (through `/proc/PID/fd/N`, once magic links resolve) opens it as a FIFO
/// again, as Linux does.
pub struct PipeInode {
    stat: Stat,
    pipe: Arc<Pipe>,
}

impl PipeInode {
    fn new(pipe: Arc<Pipe>, uid: u32, gid: u32) -> Arc<PipeInode> {
        static DEV: OnceLock<u64> = OnceLock::new();
        static NEXT_INO: AtomicU64 = AtomicU64::new(1);
        let now = Timespec::now();
        Arc::new(PipeInode {
            stat: Stat {
                dev: *DEV.get_or_init(super::anon_dev),
                ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
                mode: libc::S_IFIFO | 0o600,
                nlink: 1,
                uid,
                gid,
                blksize: PIPE_BUF as u32,
                atime: now,
                mtime: now,
                ctime: now,
                mask: libc::STATX_BASIC_STATS,
                ..Stat::default()
            },
            pipe,
        })
    }

    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }
}

impl Inode for PipeInode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::Fifo)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        return_errno!(EPERM)
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        // Reopening an anonymous pipe (through /proc/PID/fd) never waits
        // for a peer, unlike opening a named FIFO.
        let acc = flags & libc::O_ACCMODE as u32;
        let (read, write) = match acc {
            a if a == libc::O_RDONLY as u32 => (true, false),
            a if a == libc::O_WRONLY as u32 => (false, true),
            a if a == libc::O_RDWR as u32 => (true, true),
            _ => return_errno!(EINVAL),
        };
        Ok(Box::new(self.pipe.attach(read, write, false)))
    }
}

/// `pipe2(2)`: the read and write descriptions of a new anonymous pipe,
/// both on one inode (so `/proc/PID/fd` shows the same `pipe:[ino]`).
/// `flags` may carry `O_NONBLOCK` (`O_CLOEXEC` belongs to the FD table).
pub fn new_pipe(
    flags: u32,
    uid: u32,
    gid: u32,
) -> SysResult<(Arc<FileDescription>, Arc<FileDescription>)> {
    let status = flags & libc::O_NONBLOCK as u32;
    let (r, w) = Pipe::new_pair();
    let inode = PipeInode::new(r.pipe().clone(), uid, gid);
    let rf = super::anon::anon_file(inode.clone(), Box::new(r), libc::O_RDONLY as u32 | status)?;
    let wf = super::anon::anon_file(inode, Box::new(w), libc::O_WRONLY as u32 | status)?;
    Ok((rf, wf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use event_listener::Listener;
    use std::time::Duration;

    const RD: u32 = libc::O_RDONLY as u32;
    const WR: u32 = libc::O_WRONLY as u32;
    const RW: u32 = libc::O_RDWR as u32;
    const NB: u32 = libc::O_NONBLOCK as u32;

    fn eagain<T: std::fmt::Debug>(r: SysResult<T>) {
        assert_eq!(r.unwrap_err(), Errno::EAGAIN);
    }

    #[test]
    fn data_flows_and_eof_after_writer_closes() {
        let (r, w) = Pipe::new_pair();
        let mut buf = [0u8; 8];
        eagain(r.try_read(&mut buf));
        assert_eq!(w.try_write(b"hello").unwrap(), 5);
        assert_eq!(r.try_read(&mut buf[..3]).unwrap(), 3);
        assert_eq!(&buf[..3], b"hel");
        assert_eq!(r.pipe().len(), 2);
        drop(w);
        // What was written is still read before end of file.
        assert_eq!(r.try_read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"lo");
        assert_eq!(r.try_read(&mut buf).unwrap(), 0);
        assert_eq!(r.try_write(b"x").unwrap_err(), Errno::EBADF);
    }

    #[test]
    fn writing_without_readers_is_epipe() {
        let (r, w) = Pipe::new_pair();
        drop(r);
        assert_eq!(w.try_write(b"x").unwrap_err(), Errno::EPIPE);
        assert_eq!(w.try_write(b"").unwrap_err(), Errno::EPIPE);
        assert_eq!(w.poll() & POLLERR, POLLERR);
    }

    #[test]
    fn small_writes_are_atomic_and_large_ones_partial() {
        let (r, w) = Pipe::new_pair();
        let big = vec![7u8; PIPE_CAPACITY - 100];
        assert_eq!(w.try_write(&big).unwrap(), big.len());
        // 200 <= PIPE_BUF does not fit whole: nothing is written.
        eagain(w.try_write(&[1u8; 200]));
        assert_eq!(w.try_write(&[1u8; 100]).unwrap(), 100);
        eagain(w.try_write(&[1u8; PIPE_BUF + 1]));
        let mut buf = vec![0u8; 1000];
        assert_eq!(r.try_read(&mut buf).unwrap(), 1000);
        // A write larger than PIPE_BUF takes what fits.
        assert_eq!(w.try_write(&[2u8; PIPE_BUF * 2]).unwrap(), 1000);
        assert_eq!(r.pipe().len(), PIPE_CAPACITY);
        // Order is kept across the ring's wrap-around.
        let mut all = vec![0u8; PIPE_CAPACITY + 1];
        assert_eq!(r.try_read(&mut all).unwrap(), PIPE_CAPACITY);
        assert!(all[..PIPE_CAPACITY - 1100].iter().all(|b| *b == 7));
        assert!(all[PIPE_CAPACITY - 1100..PIPE_CAPACITY - 1000]
            .iter()
            .all(|b| *b == 1));
        assert!(all[PIPE_CAPACITY - 1000..PIPE_CAPACITY]
            .iter()
            .all(|b| *b == 2));
    }

    #[test]
    fn readiness_bits() {
        let (r, w) = Pipe::new_pair();
        assert_eq!(r.poll(), 0);
        assert_eq!(w.poll(), POLLOUT | POLLWRNORM);
        w.try_write(b"x").unwrap();
        assert_eq!(r.poll(), POLLIN | POLLRDNORM);
        w.try_write(&vec![0u8; PIPE_CAPACITY - PIPE_BUF]).unwrap();
        // Less than PIPE_BUF free: not writable for poll.
        assert_eq!(w.poll(), 0);
        drop(w);
        assert_eq!(r.poll(), POLLIN | POLLRDNORM | POLLHUP);
        let (r, w) = Pipe::new_pair();
        drop(r);
        assert_eq!(w.poll(), POLLOUT | POLLWRNORM | POLLERR);
        // The FileOps view agrees.
        let ops: &dyn FileOps = &w;
        assert_eq!(ops.readiness(), w.poll());
        assert!(ops.event().is_some());
    }

    #[test]
    fn event_wakes_a_parked_reader_without_lost_wakeups() {
        let (r, w) = Pipe::new_pair();
        let r = Arc::new(r);
        let reader = {
            let r = r.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16];
                let mut got = Vec::new();
                loop {
                    let listener = r.pipe().event().listen();
                    match r.try_read(&mut buf) {
                        Ok(0) => return got,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) if e == Errno::EAGAIN => {
                            assert!(
                                listener.wait_timeout(Duration::from_secs(10)).is_some(),
                                "wake-up lost"
                            );
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        };
        for chunk in [b"ab", b"cd", b"ef"] {
            std::thread::sleep(Duration::from_millis(5));
            w.try_write(chunk).unwrap();
        }
        drop(w);
        assert_eq!(reader.join().unwrap(), b"abcdef");
    }

    #[test]
    fn event_fires_on_space_and_on_close() {
        let (r, w) = Pipe::new_pair();
        w.try_write(&vec![0u8; PIPE_CAPACITY]).unwrap();
        let l = w.pipe().event().listen();
        eagain(w.try_write(b"x"));
        let mut buf = [0u8; 1];
        r.try_read(&mut buf).unwrap();
        assert!(l.wait_timeout(Duration::from_secs(1)).is_some());
        let l = w.pipe().event().listen();
        drop(r);
        assert!(l.wait_timeout(Duration::from_secs(1)).is_some());
        assert_eq!(w.try_write(b"x").unwrap_err(), Errno::EPIPE);
    }

    #[test]
    fn fifo_open_waits_for_a_peer() {
        let fifo = Pipe::new();
        // Non-blocking write-only open without a reader.
        assert_eq!(fifo.open_fifo(WR | NB).unwrap_err(), Errno::ENXIO);
        // A non-blocking reader opens at once and reads EOF, not EAGAIN.
        let r = fifo.open_fifo(RD | NB).unwrap();
        r.try_complete_open().unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(r.try_read(&mut buf).unwrap(), 0);
        assert_eq!(r.poll() & POLLHUP, 0);
        drop(r);

        // A blocking reader is pending until a writer opens...
        let r = fifo.open_fifo(RD).unwrap();
        eagain(r.try_complete_open());
        let l = fifo.event().listen();
        // ...and the writer does not wait, the reader being counted.
        let w = fifo.open_fifo(WR).unwrap();
        w.try_complete_open().unwrap();
        assert!(l.wait_timeout(Duration::from_secs(1)).is_some());
        r.try_complete_open().unwrap();
        w.try_write(b"hi").unwrap();
        assert_eq!(r.try_read(&mut buf).unwrap(), 2);
        drop((r, w));

        // A blocking writer waits for a reader; a writer that came and went
        // still completes a waiting reader's open (it then sees EOF).
        let w = fifo.open_fifo(WR).unwrap();
        eagain(w.try_complete_open());
        let r = fifo.open_fifo(RD | NB).unwrap();
        w.try_complete_open().unwrap();
        drop((w, r));
        let r = fifo.open_fifo(RD).unwrap();
        let w = fifo.open_fifo(WR | NB).unwrap();
        drop(w);
        r.try_complete_open().unwrap();
        assert_eq!(r.try_read(&mut buf).unwrap(), 0);
        assert_eq!(r.poll() & POLLHUP, POLLHUP);
    }

    #[test]
    fn pipe2_descriptions_share_one_fifo_inode() {
        let (r, w) = new_pipe(NB, 1000, 1000).unwrap();
        let (rs, ws) = (r.stat().unwrap(), w.stat().unwrap());
        assert_eq!(rs.ino, ws.ino);
        assert_eq!(rs.mode, libc::S_IFIFO | 0o600);
        assert_eq!((rs.uid, rs.gid), (1000, 1000));
        assert_eq!(r.flags() & NB, NB);
        assert!(r.readable() && !r.writable() && w.writable() && !w.readable());
        assert_eq!(w.write(b"abc").unwrap(), 3);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        assert_eq!(r.read(&mut buf).unwrap_err(), Errno::EAGAIN);
        assert_eq!(r.seek(0, libc::SEEK_CUR).unwrap_err(), Errno::ESPIPE);
        // Reopening the inode joins the same pipe, as a FIFO open does.
        let again = r.path().dentry.inode().open(WR).unwrap();
        again.write_at(WritePos::At(0), b"z").unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        drop((w, again));
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn fifo_rdwr_never_waits_and_data_dies_with_last_opener() {
        let fifo = Pipe::new();
        let rw = fifo.open_fifo(RW).unwrap();
        rw.try_complete_open().unwrap();
        rw.try_write(b"kept?").unwrap();
        assert_eq!(fifo.ends(), (1, 1));
        drop(rw);
        assert_eq!(fifo.ends(), (0, 0));
        assert!(fifo.is_empty());
    }
}
