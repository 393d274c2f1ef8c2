//! Round-trip cost of lisafs: a `lisafs::Client` against `lisafs::serve`
//! over the gofer's `HostBackend`, on a socket pair in one process, next to
//! the host system calls the same requests make, so the protocol's share
//! (framing, two context switches, decoding) is visible.
//!
//! A plain timing binary (`cargo bench -p gofer --bench lisafs`); each
//! operation is timed on its own so the table shows the median and the tail,
//! not only the mean. `LISAFS_BENCH_ITERS` sets the iterations (default
//! 20000). Every case runs twice: with the two threads free to sit on any
//! CPU, and with both pinned to one, because a cross-CPU wake-up costs far
//! more than a same-CPU one in a VM.

use gofer::backend::{HostBackend, ProcSelfFd};
use lisafs::{Client, ServeOptions, Socket};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use std::hint::black_box;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

const PATH: [&str; 5] = ["a", "b", "c", "d", "e"];

fn main() {
    let iters: usize = std::env::var("LISAFS_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let parent = dir.path().join(PATH[..4].join("/"));
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(parent.join(PATH[4]), b"benchmark").unwrap();

    println!("lisafs round trips: {iters} iterations per case, times in µs per operation");
    for pin in [None, Some(0)] {
        match pin {
            None => println!("\nthreads unpinned"),
            Some(cpu) => println!("\nclient and server threads pinned to CPU {cpu}"),
        }
        run(dir.path(), iters, pin);
    }
}

/// Pins the calling thread to `cpu`, if given.
fn pin_to(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        set.set(cpu).expect("cpu number");
        // Pid 0 is the calling thread.
        sched_setaffinity(Pid::from_raw(0), &set).expect("sched_setaffinity");
    }
}

/// Undoes `pin_to`, so the next round starts free again.
fn unpin() {
    let mut set = CpuSet::new();
    for cpu in 0..CpuSet::count() {
        let _ = set.set(cpu);
    }
    let _ = sched_setaffinity(Pid::from_raw(0), &set);
}

fn run(root: &Path, iters: usize, pin: Option<usize>) {
    pin_to(pin);
    let mut table = Table::default();

    // The server, on its own thread as the gofer serves each connection.
    let root_fd = open_path(root);
    let proc = ProcSelfFd::open().expect("open /proc/self/fd");
    let (client_sock, server_sock) = Socket::pair().expect("socketpair");
    let server = std::thread::spawn(move || {
        pin_to(pin);
        lisafs::serve(
            &HostBackend::new(root_fd, proc),
            server_sock,
            ServeOptions::default(),
        )
    });
    let mounted = Client::mount(client_sock, false).expect("mount");
    let client = mounted.client;
    let root_id = mounted.root.control_fd;
    let comps: Vec<&[u8]> = PATH.iter().map(|c| c.as_bytes()).collect();
    let walked = client.walk(root_id, &comps).expect("walk a/b/c/d/e");
    let file_id = walked.inodes.last().expect("five inodes").control_fd;

    table.add(
        "lisafs FStat (file)",
        time(iters, || {
            black_box(client.fstat(file_id).unwrap());
        }),
    );
    table.add(
        "lisafs WalkStat a/b/c/d/e",
        time(iters, || {
            let stats = client.walk_stat(root_id, &comps, false).unwrap();
            assert_eq!(stats.len(), 5);
        }),
    );
    drop(client);
    server
        .join()
        .expect("server thread")
        .expect("server ends cleanly");

    // What the same requests cost without the protocol.
    let host_root = open_path(root);
    let file = open_path(&root.join(PATH.join("/")));
    table.add(
        "host statx (file fd)",
        time(iters, || {
            black_box(statx(file.as_fd(), "", AtFlags::EMPTY_PATH));
        }),
    );
    table.add(
        "host walk: openat+statx per component",
        time(iters, || {
            black_box(host_walk_stat(host_root.as_fd()));
        }),
    );
    table.add(
        "host statx a/b/c/d/e (one call)",
        time(iters, || {
            black_box(statx(
                host_root.as_fd(),
                "a/b/c/d/e",
                AtFlags::SYMLINK_NOFOLLOW,
            ));
        }),
    );
    table.add(
        "seqpacket ping-pong (transport only)",
        ping_pong(iters, pin),
    );

    table.print();
    table.overhead("lisafs FStat (file)", "host statx (file fd)");
    table.overhead(
        "lisafs WalkStat a/b/c/d/e",
        "host walk: openat+statx per component",
    );
    unpin();
}

fn open_path(p: &Path) -> OwnedFd {
    rustix::fs::open(p, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).expect("open O_PATH")
}

fn statx(dir: std::os::fd::BorrowedFd<'_>, path: &str, flags: AtFlags) -> rustix::fs::Statx {
    rustix::fs::statx(
        dir,
        path,
        flags,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    )
    .expect("statx")
}

/// What the backend does for a WalkStat, without the protocol: hold each
/// directory by an `O_PATH` FD and stat the next component from it.
fn host_walk_stat(root: std::os::fd::BorrowedFd<'_>) -> [u64; 5] {
    let mut inos = [0u64; 5];
    let mut held: Option<OwnedFd> = None;
    for (i, comp) in PATH.iter().enumerate() {
        let dir = held.as_ref().map_or(root, |fd| fd.as_fd());
        let st = statx(dir, comp, AtFlags::SYMLINK_NOFOLLOW);
        inos[i] = st.stx_ino;
        if i + 1 < PATH.len() {
            let next = rustix::fs::openat(
                dir,
                *comp,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .expect("openat");
            held = Some(next);
        }
    }
    inos
}

/// One 16-byte datagram each way between two threads: the floor under any
/// lisafs round trip on this transport.
fn ping_pong(iters: usize, pin: Option<usize>) -> Vec<Duration> {
    let (a, b) = Socket::pair().expect("socketpair");
    let echo = std::thread::spawn(move || {
        pin_to(pin);
        let mut buf = Vec::new();
        while let Ok(got) = b.recv(&mut buf) {
            let body = lisafs::transport::payload(&buf, &got).to_vec();
            if b.send(got.mid, &body, &[]).is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::new();
    let samples = time(iters, || {
        a.send(3, &[0u8; 8], &[]).unwrap();
        black_box(a.recv(&mut buf).unwrap());
    });
    drop(a);
    echo.join().expect("echo thread");
    samples
}

/// Runs `op` a tenth of `iters` times to warm up, then `iters` times, each
/// timed alone.
fn time(iters: usize, mut op: impl FnMut()) -> Vec<Duration> {
    for _ in 0..iters / 10 {
        op();
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        op();
        samples.push(start.elapsed());
    }
    samples
}

#[derive(Default)]
struct Table {
    rows: Vec<(&'static str, Summary)>,
}

#[derive(Clone, Copy)]
struct Summary {
    n: usize,
    mean: f64,
    median: f64,
    p99: f64,
    min: f64,
}

impl Summary {
    fn of(mut samples: Vec<Duration>) -> Summary {
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let at = |q: f64| us(samples[((samples.len() - 1) as f64 * q).round() as usize]);
        let total: Duration = samples.iter().sum();
        Summary {
            n: samples.len(),
            mean: us(total) / samples.len() as f64,
            median: at(0.5),
            p99: at(0.99),
            min: us(samples[0]),
        }
    }
}

impl Table {
    fn add(&mut self, name: &'static str, samples: Vec<Duration>) {
        self.rows.push((name, Summary::of(samples)));
    }

    fn get(&self, name: &str) -> Summary {
        self.rows
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .expect("row exists")
    }

    fn print(&self) {
        println!(
            "{:<40} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "operation", "n", "median", "p99", "mean", "min"
        );
        for (name, s) in &self.rows {
            println!(
                "{:<40} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                name, s.n, s.median, s.p99, s.mean, s.min
            );
        }
    }

    /// The protocol's share of `rpc`: its median less that of `native`.
    fn overhead(&self, rpc: &str, native: &str) {
        let (r, n) = (self.get(rpc), self.get(native));
        println!(
            "protocol overhead of {rpc}: {:.2} µs median ({:.1}x the host calls)",
            r.median - n.median,
            r.median / n.median
        );
    }
}
