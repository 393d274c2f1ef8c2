//! Round-trip cost of a trapped system call: a static program makes 100,000
//! `getuid` calls, each answered with a constant. Reports µs per call, the
//! median of several runs, for two ways of answering:
//!
//! * `inline`: the event sink answers on the receiver thread itself (the
//!   floor the platform imposes);
//! * `channel`: the sink hands the trap to a kernel thread over a channel,
//!   which answers it (one more cross-thread hop, as a real kernel may do).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sentry::platform::{Event, EventSink, Platform, PlatformConfig};

#[allow(dead_code, unused_imports)]
#[path = "../tests/platform.rs"]
mod harness;

const CALLS: f64 = 100_000.0;
const RUNS: usize = 7;

/// Answers getuid where it arrives; forwards everything else.
struct Inline(mpsc::Sender<Event>);

impl EventSink for Inline {
    fn deliver(&self, event: Event) {
        match event {
            Event::Syscall(t) if t.nr == libc::SYS_getuid => {
                let _ = t.reply_value(0);
            }
            e => {
                let _ = self.0.send(e);
            }
        }
    }
}

fn run_once(inline: bool, elf: &[u8]) -> f64 {
    let (tx, rx) = mpsc::channel();
    let platform = if inline {
        Platform::new(Inline(tx), PlatformConfig::default())
    } else {
        Platform::new(tx, PlatformConfig::default())
    }
    .expect("platform");
    let tid = platform.create_process().expect("stub");
    let image = harness::support::load(elf, &["getuid_loop"], &[], platform.vdso_base());
    let start = Instant::now();
    platform.install_image(tid, image).expect("image");
    loop {
        match rx.recv_timeout(Duration::from_secs(60)).expect("progress") {
            Event::Syscall(t) if t.nr == libc::SYS_getuid => {
                let _ = t.reply_value(0);
            }
            Event::Syscall(t) => {
                let _ = t.reply_errno(libc::ENOSYS);
            }
            Event::Exited { last: true, .. } => break,
            _ => {}
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / CALLS
}

fn main() {
    let elf = harness::support::program("getuid_loop", false);
    for (name, inline) in [("inline", true), ("channel", false)] {
        let mut runs: Vec<f64> = (0..RUNS).map(|_| run_once(inline, &elf)).collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "trapped getuid round trip ({name}): median {:.2} µs/call (min {:.2}, max {:.2}, {RUNS} runs of 100k)",
            runs[RUNS / 2],
            runs[0],
            runs[RUNS - 1]
        );
    }
}
