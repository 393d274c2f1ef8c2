//! The cost of a container as users meet it: `podman run --rm IMAGE true`
//! and `ctr run --rm IMAGE ID true` (through containerd's runc shim), end to
//! end, under runc, vigil and, for ctr, gVisor's runsc when it is installed
//! (runsc has no podman-compatible way to run without a network here, and
//! the runc shim is how Docker runs it); and `ctr run` with vigil's own
//! shim (`--runtime io.containerd.vigil.v2`, "vigil-shim"), as containerd
//! runs vigil natively. Each figure is the median of several runs after
//! one untimed warm-up, with its ratio to runc.
//!
//! Then a pod through containerd's CRI, as a kubelet runs one:
//! RunPodSandbox, CreateContainer and StartContainer of `true`, until it
//! has exited, StopPodSandbox and RemovePodSandbox, with the RuntimeClass
//! handler `runc` (containerd's runc shim) and `vigil` (vigil's shim).
//!
//! A plain timing binary (`cargo bench -p integration --bench clients`, or
//! `make bench`); it needs root. The clients are private instances, as in
//! the `clients` tests. A runtime that fails is reported as failed, with
//! the reason, and the others still run. `CLIENTS_BENCH_RUNS` sets the
//! number of timed runs (default 10).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use integration::clients::{self, Containerd, Cri, Podman};
use integration::harness::{self, Runtime};
use integration::image;
use integration::process::Captured;
use integration::setup;

/// A runtime under comparison, as the clients are given it.
struct Candidate {
    name: &'static str,
    binary: PathBuf,
    /// podman can run it (runsc cannot, see the module documentation).
    with_podman: bool,
}

fn main() {
    let runs: usize = std::env::var("CLIENTS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10);
    let work = tempfile::Builder::new()
        .prefix("vigil-clients-bench-")
        .tempdir()
        .expect("creating a work dir");
    let mut candidates = vec![
        Candidate {
            name: "runc",
            binary: Runtime::Runc.binary(),
            with_podman: true,
        },
        Candidate {
            name: "vigil",
            binary: harness::vigil_binary().to_path_buf(),
            with_podman: true,
        },
    ];
    match setup::which("runsc") {
        Some(runsc) => candidates.push(Candidate {
            name: "runsc",
            binary: runsc_without_network(&runsc, work.path()),
            with_podman: false,
        }),
        None => println!("runsc: not installed, left out (`apt-get install runsc` adds it)"),
    }
    println!("vigil: {}", harness::vigil_binary().display());
    println!("image: {} ({})", image::NAME, image::busybox().display());

    let t0 = Instant::now();
    let podman = Podman::new().unwrap_or_else(|e| panic!("podman: {e}"));
    println!(
        "podman: private storage ready, image loaded, in {:?}",
        t0.elapsed()
    );
    let shims = harness::shim_binary()
        .parent()
        .expect("the shim's directory");
    let containerd = Containerd::with_shims(shims).unwrap_or_else(|e| panic!("containerd: {e}"));
    println!(
        "containerd: answered after {:?}, image imported after {:?}",
        containerd.startup(),
        t0.elapsed()
    );
    println!();

    let mut rows: Vec<(&str, &str, Result<f64, String>)> = Vec::new();
    for c in candidates.iter().filter(|c| c.with_podman) {
        let mut flags = vec!["run".to_string(), "--rm".to_string()];
        flags.extend(Podman::run_flags(&c.binary));
        flags.extend([image::NAME.to_string(), "true".to_string()]);
        let args: Vec<&str> = flags.iter().map(String::as_str).collect();
        let median = time(runs, |_| succeeded(podman.run(&args, b"")));
        rows.push(("podman run --rm IMAGE true", c.name, median));
    }
    for c in &candidates {
        let median = time(runs, |i| {
            // Unique on the machine: the shim names the cgroup after it.
            let id = format!("bench-{}-{}-{i}", std::process::id(), c.name);
            let mut cmd: Command = containerd.ctr(&["run", "--rm"]);
            cmd.args(containerd.runtime_flags(&c.binary))
                .args([image::NAME, &id, "true"]);
            succeeded(clients::run(&mut cmd, b""))
        });
        rows.push(("ctr run --rm IMAGE ID true", c.name, median));
    }
    let median = time(runs, |i| {
        let id = format!("bench-{}-vigil-shim-{i}", std::process::id());
        let mut cmd: Command =
            containerd.ctr(&["run", "--rm", "--runtime", "io.containerd.vigil.v2"]);
        cmd.args(containerd.fifo_flags())
            .args([image::NAME, &id, "true"]);
        succeeded(clients::run(&mut cmd, b""))
    });
    rows.push(("ctr run --rm IMAGE ID true", "vigil-shim", median));
    drop(containerd);

    let containerd = Containerd::with_cri().unwrap_or_else(|e| panic!("containerd (CRI): {e}"));
    let cri = Cri::connect(&containerd).unwrap_or_else(|e| panic!("cri.py: {e}"));
    for handler in ["runc", "vigil"] {
        let cgroup = format!("/vigil-bench-{}-{handler}", std::process::id());
        let median = time(runs, |i| {
            pod_round_trip(&containerd, &cri, handler, &cgroup, i)
        });
        rows.push(("CRI pod with `true`", handler, median));
        // The runtimes leave the pods' parent cgroup.
        for hierarchy in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(hierarchy.path().join(cgroup.trim_start_matches('/')));
        }
    }
    print_table(&rows, runs);
}

/// One pod of `handler` whose one container runs `true`, from
/// RunPodSandbox to RemovePodSandbox. A pod that fails is still removed.
fn pod_round_trip(
    containerd: &Containerd,
    cri: &Cri,
    handler: &str,
    cgroup: &str,
    i: usize,
) -> Result<(), String> {
    let name = format!("bench-{}-{handler}-{i}", std::process::id());
    let logs = containerd.dir().join("pods").join(&name);
    fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let pod_config = clients::pod_config(&name, &name, "bench", &logs, cgroup);
    let pod = cri
        .run_pod(&pod_config, handler)
        .map_err(|e| format!("RunPodSandbox: {e}"))?;
    let container = clients::container_config("true", image::NAME, &["true"]);
    let ran = cri
        .start_container(&pod, &pod_config, &container)
        .map_err(|e| format!("starting the container: {e}"))
        .and_then(|id| cri.wait_exited(&id, clients::COMMAND_TIMEOUT))
        .and_then(|code| match code {
            0 => Ok(()),
            code => Err(format!("`true` exited {code}")),
        });
    let removed = cri
        .remove_pod(&pod)
        .map_err(|e| format!("removing the pod: {e}"));
    ran.and(removed)
}

/// A wrapper that runs runsc with `--network=none` (this runsc build
/// rejects every network namespace on recent kernels), since the runc shim
/// passes no extra flags to its binary.
fn runsc_without_network(runsc: &Path, dir: &Path) -> PathBuf {
    let wrapper = dir.join("runsc-network-none");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --network=none \"$@\"\n",
            runsc.display()
        ),
    )
    .expect("writing the runsc wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod");
    wrapper
}

/// The median wall time, in ms, of `runs` runs of `one` (given the run's
/// number) after one untimed warm-up, or the first failure.
fn time(runs: usize, mut one: impl FnMut(usize) -> Result<(), String>) -> Result<f64, String> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let t0 = Instant::now();
        one(i)?;
        let elapsed = t0.elapsed();
        if i > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(ms(times[times.len() / 2]))
}

/// A client command's failure, with the reason it gave.
fn succeeded(out: Captured) -> Result<(), String> {
    if !out.timed_out && out.exit == 0 {
        return Ok(());
    }
    // The client's own error line names the cause; a runtime's usage text
    // after it does not.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let reason = lines
        .iter()
        .rev()
        .find(|l| l.contains("rror"))
        .or(lines.last())
        .copied()
        .unwrap_or("(no message)");
    Err(format!(
        "exit {}{}: {}",
        out.exit,
        if out.timed_out { ", timed out" } else { "" },
        reason.chars().take(400).collect::<String>()
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_table(rows: &[(&str, &str, Result<f64, String>)], runs: usize) {
    println!(
        "median of {runs} runs, start to exit of the client command \
         (the CRI pod: RunPodSandbox sent to RemovePodSandbox answered):"
    );
    println!(
        "{:<28} {:<10} {:>10} {:>8}",
        "command", "runtime", "ms", "×runc"
    );
    let mut failures = Vec::new();
    for (command, runtime, result) in rows {
        let runc = rows
            .iter()
            .find(|(c, r, _)| c == command && *r == "runc")
            .and_then(|(_, _, m)| m.as_ref().ok().copied());
        let (value, ratio) = match result {
            Ok(v) => (
                format!("{v:.1}"),
                runc.map_or("–".into(), |b| format!("{:.2}×", v / b)),
            ),
            Err(why) => {
                failures.push(format!("{runtime} / {command}: {why}"));
                (format!("FAILED[{}]", failures.len()), "–".into())
            }
        };
        println!("{command:<28} {runtime:<10} {value:>10} {ratio:>8}");
    }
    if !failures.is_empty() {
        println!("\nfailures:");
        for (n, f) in failures.iter().enumerate() {
            println!("  [{}] {f}", n + 1);
        }
    }
}
