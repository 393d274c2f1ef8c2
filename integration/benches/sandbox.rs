//! The cost of the sandbox, side by side: the same workloads, in the same
//! root file system and `config.json`, under runc (Linux itself), vigil and,
//! when it is installed, gVisor's runsc, in one run, printed as one table with each figure's ratio
//! to runc and vigil's targets beside it.
//!
//! A plain timing binary (`cargo bench -p integration --bench sandbox`, or
//! `make bench`); it needs root, like the integration tests. Each workload
//! is `programs/bench_sandbox.c`, compiled statically into a copy of the
//! busybox root file system, and times itself inside the container with
//! `clock_gettime`, so container start-up is not part of its figure. Only
//! the last row, `RUNTIME run /bin/true`, is timed from outside: start to
//! exit of the runtime's `run`, the median of several runs.
//!
//! vigil is the workspace's release build (cargo is asked to bring it up to
//! date first) unless `VIGIL_BIN` names another. runsc is used when
//! `/usr/bin/runsc` exists (`apt-get install runsc` provides it) and is
//! otherwise left out, never installed from here. A workload that fails
//! under a runtime is reported as failed in the table, with the reason
//! below it, and the others still run.
//!
//! `SANDBOX_BENCH_STARTS` sets how many timed `run /bin/true` runs each
//! runtime gets (default 10).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use integration::harness::{self, Container};
use integration::process;
use integration::setup;

/// Where runsc is looked for; the bench never installs it.
const RUNSC: &str = "/usr/bin/runsc";
/// The workload program's source, compiled into the bundle's root.
const PROGRAM: &str = "bench_sandbox";
/// Where the program and its data file appear inside the container.
const BENCH_DIR: &str = "/bench";
/// The file `stat` and `open + read + close` use: 8 KiB, so a 4 KiB read
/// is full.
const DATA_FILE: &str = "/bench/data";
/// fork + exec rounds of the spawn workloads.
const SPAWNS: &str = "500";
/// Rounds of them; the figure is the median round.
const SPAWN_ROUNDS: &str = "3";

/// One OCI runtime under comparison.
struct Runtime {
    name: &'static str,
    binary: PathBuf,
    /// Global flags, before the verb (after `--root`).
    flags: Vec<String>,
    /// Runtime state, a fresh directory per runtime.
    root: PathBuf,
}

impl Runtime {
    fn command(&self, verb: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .args(&self.flags)
            .args(verb);
        cmd
    }

    /// `delete --force`, for a container a failed or killed run left.
    fn delete(&self, id: &str) {
        let _ = self
            .command(&["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What a measurement gave: a value in the row's unit, or why there is none.
type Outcome = Result<f64, String>;

/// A row of the table.
struct Row {
    label: &'static str,
    unit: &'static str,
    /// vigil's target: at most this much.
    target: Option<f64>,
    /// The measured range for runsc (ptrace) on this machine class.
    runsc_reference: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        label: "getuid (trapped by vigil), median",
        unit: "µs",
        target: Some(5.0),
        runsc_reference: "22–50",
    },
    Row {
        label: "getpid (native under vigil), median",
        unit: "µs",
        target: None,
        runsc_reference: "",
    },
    Row {
        label: "stat of a rootfs file, median",
        unit: "µs",
        target: Some(10.0),
        runsc_reference: "23–58",
    },
    Row {
        label: "open + read 4 KiB + close, median",
        unit: "µs",
        target: None,
        runsc_reference: "74–147",
    },
    Row {
        label: "500 × fork+execve+wait /bin/true (C), median of 3",
        unit: "s",
        target: Some(1.5),
        runsc_reference: "2.7–3.9",
    },
    Row {
        label: "500 × /bin/true from a sh loop, median of 3",
        unit: "s",
        target: Some(1.5),
        runsc_reference: "2.7–3.9",
    },
    Row {
        label: "`run /bin/true` start to exit, median",
        unit: "ms",
        target: Some(60.0),
        runsc_reference: "140",
    },
];

/// One container run of the workload program: its mode and arguments, the
/// `result` lines it prints and, for each, the field holding the figure
/// and the row it fills (scaled into the row's unit).
struct Workload {
    args: &'static [&'static str],
    timeout: Duration,
    /// (result name, field, row index, scale to the row's unit)
    reads: &'static [(&'static str, &'static str, usize, f64)],
}

const WORKLOADS: &[Workload] = &[
    Workload {
        // At most 200k calls or 2.5 s per system call, whichever is first.
        args: &["syscall", "200000", "2500"],
        timeout: Duration::from_secs(30),
        reads: &[
            ("getuid", "median_us", 0, 1.0),
            ("getpid", "median_us", 1, 1.0),
        ],
    },
    Workload {
        args: &["stat", DATA_FILE, "100000", "2000"],
        timeout: Duration::from_secs(30),
        reads: &[("stat", "median_us", 2, 1.0)],
    },
    Workload {
        args: &["read", DATA_FILE, "50000", "2000"],
        timeout: Duration::from_secs(30),
        reads: &[("read", "median_us", 3, 1.0)],
    },
    Workload {
        args: &["spawn", SPAWNS, SPAWN_ROUNDS],
        timeout: Duration::from_secs(90),
        reads: &[("spawn", "seconds", 4, 1.0)],
    },
    Workload {
        args: &["shloop", SPAWNS, SPAWN_ROUNDS],
        timeout: Duration::from_secs(90),
        reads: &[("shloop", "seconds", 5, 1.0)],
    },
];

/// The row `run /bin/true` fills.
const START_ROW: usize = 6;

fn main() {
    let started = Instant::now();
    // Other work on the machine moves every figure: say how busy it was.
    let load_before = load_average();
    let starts: usize = std::env::var("SANDBOX_BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10);

    let work = tempfile::Builder::new()
        .prefix("vigil-bench-")
        .tempdir()
        .expect("creating a work dir");
    let rootfs = prepare_rootfs(work.path());

    let mut runtimes = vec![
        Runtime {
            name: "runc",
            binary: PathBuf::from("runc"),
            flags: vec![],
            root: work.path().join("state-runc"),
        },
        Runtime {
            name: "vigil",
            binary: harness::vigil_binary().to_path_buf(),
            flags: vec![],
            root: work.path().join("state-vigil"),
        },
    ];
    let have_runsc = Path::new(RUNSC).exists();
    if have_runsc {
        runtimes.push(Runtime {
            name: "runsc",
            binary: PathBuf::from(RUNSC),
            // runsc's sandbox has a network stack of its own; the others
            // get an empty network namespace, and so does this.
            flags: vec!["--network=none".into()],
            root: work.path().join("state-runsc"),
        });
    }
    for rt in &runtimes {
        fs::create_dir_all(&rt.root).expect("creating a state dir");
    }

    println!(
        "sandbox benchmark: the same workloads under {}",
        names(&runtimes)
    );
    println!("vigil: {}", harness::vigil_binary().display());
    if !have_runsc {
        println!("runsc: not installed, left out (`apt-get install runsc` adds it)");
    }
    println!();

    // results[runtime][row]. Workload by workload, each under every
    // runtime in turn, so that a change in the machine's load during the
    // run falls on all runtimes alike rather than on one.
    let mut results: Vec<Vec<Option<Outcome>>> = vec![vec![None; ROWS.len()]; runtimes.len()];
    let mut details: Vec<String> = Vec::new();
    for w in WORKLOADS {
        for (i, rt) in runtimes.iter().enumerate() {
            let t0 = Instant::now();
            let outcome = run_workload(rt, &rootfs, w);
            eprintln!(
                "{:>6} {:<8} {:>6.1} s",
                rt.name,
                w.args[0],
                t0.elapsed().as_secs_f64()
            );
            match outcome {
                Ok(lines) => {
                    for &(name, field, row, scale) in w.reads {
                        let value = lines
                            .get(name)
                            .and_then(|fields| fields.get(field))
                            .copied()
                            .map(|v| v * scale)
                            .ok_or_else(|| format!("no `{name} {field}` in its output"));
                        results[i][row] = Some(value);
                    }
                    for (name, fields) in &lines {
                        let mut line = format!("{:>6} {name}:", rt.name);
                        for (k, v) in fields {
                            let _ = write!(line, " {k}={v}");
                        }
                        details.push(line);
                    }
                }
                Err(reason) => {
                    for &(_, _, row, _) in w.reads {
                        results[i][row] = Some(Err(reason.clone()));
                    }
                }
            }
        }
    }
    for (i, rt) in runtimes.iter().enumerate() {
        let t0 = Instant::now();
        results[i][START_ROW] = Some(time_starts(rt, &rootfs, work.path(), starts));
        eprintln!(
            "{:>6} {:<8} {:>6.1} s",
            rt.name,
            "run",
            t0.elapsed().as_secs_f64()
        );
    }

    print_table(&runtimes, &results, starts);
    println!("\nper-workload detail (batch medians and spread, in µs unless named):");
    for line in details {
        println!("  {line}");
    }
    println!(
        "\ntotal bench time {:.0} s; load average at the start {load_before}, at the end {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn names(runtimes: &[Runtime]) -> String {
    runtimes
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A copy of the busybox root file system with the workload program
/// compiled into it and the data file beside it.
fn prepare_rootfs(work: &Path) -> PathBuf {
    let source = setup::busybox_rootfs();
    let rootfs = work.join("rootfs");
    let status = Command::new("cp")
        .arg("-a")
        .arg(source)
        .arg(&rootfs)
        .status()
        .expect("running cp");
    assert!(status.success(), "copying the busybox rootfs failed");
    let bench = rootfs.join(BENCH_DIR.trim_start_matches('/'));
    fs::create_dir_all(&bench).expect("creating the bench dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(format!("{PROGRAM}.c"));
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-D_GNU_SOURCE", "-static", "-o"])
        .arg(bench.join(PROGRAM))
        .arg(&src)
        .output()
        .expect("running gcc");
    assert!(
        out.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // Not all zeroes, so no file system can keep it sparse.
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 131 % 251) as u8).collect();
    fs::write(rootfs.join(DATA_FILE.trim_start_matches('/')), data).expect("writing data");
    rootfs
}

/// A container id unique in this run.
fn container_id(runtime: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "bench-{runtime}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes a bundle running `args` in `rootfs` and returns its directory.
fn write_bundle(dir: &Path, rootfs: &Path, args: &[String]) -> PathBuf {
    fs::create_dir_all(dir).expect("creating a bundle dir");
    let container = Container {
        rootfs: rootfs.to_path_buf(),
        args: args.to_vec(),
        env: vec![],
        stdin: vec![],
        mounts: vec![],
        timeout: Duration::from_secs(60),
    };
    let config = serde_json::to_vec_pretty(&harness::config(&container)).expect("config.json");
    fs::write(dir.join("config.json"), config).expect("writing config.json");
    dir.to_path_buf()
}

/// Parsed `result NAME key=value ...` lines: NAME -> key -> value.
type Results = BTreeMap<String, BTreeMap<String, f64>>;

fn parse_results(stdout: &str) -> Results {
    let mut out = Results::new();
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("result") {
            continue;
        }
        let Some(name) = words.next() else { continue };
        let fields = words
            .filter_map(|w| {
                let (k, v) = w.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        out.insert(name.to_string(), fields);
    }
    out
}

/// Runs one workload container; its parsed results, or why it failed.
fn run_workload(rt: &Runtime, rootfs: &Path, w: &Workload) -> Result<Results, String> {
    let mut args = vec![format!("{BENCH_DIR}/{PROGRAM}")];
    args.extend(w.args.iter().map(|a| a.to_string()));
    let id = container_id(rt.name);
    let bundle = write_bundle(
        &rootfs.with_file_name(format!("bundle-{id}")),
        rootfs,
        &args,
    );
    let mut cmd = rt.command(&["run", "--bundle"]);
    cmd.arg(&bundle).arg(&id);
    let out = process::run(&mut cmd, b"", w.timeout, &mut || rt.delete(&id))
        .map_err(|e| format!("starting {}: {e}", rt.binary.display()))?;
    rt.delete(&id);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results = parse_results(&stdout);
    if out.timed_out {
        return Err(format!("timed out after {:?}", w.timeout));
    }
    if out.exit != 0 || results.is_empty() {
        return Err(format!(
            "exit {}: {}",
            out.exit,
            last_line(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    Ok(results)
}

/// The last non-empty line of a runtime's stderr: usually the reason.
fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no message)")
        .trim();
    let mut line: String = line.chars().take(160).collect();
    if line.is_empty() {
        line.push_str("(no message)");
    }
    line
}

/// The median wall time, in ms, of `RUNTIME run` of `/bin/true`, from the
/// runtime's start to its exit, over `n` runs after one untimed warm-up.
/// Output goes to a file: runsc prints a container's output only when its
/// stdout is a pipe or a file, and a file never blocks a child that
/// outlives the runtime.
fn time_starts(rt: &Runtime, rootfs: &Path, work: &Path, n: usize) -> Outcome {
    let bundle = write_bundle(
        &work.join(format!("bundle-true-{}", rt.name)),
        rootfs,
        &["/bin/true".to_string()],
    );
    let log = work.join(format!("run-true-{}.log", rt.name));
    let mut times = Vec::with_capacity(n);
    for i in 0..=n {
        let id = container_id(rt.name);
        let file = fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = rt.command(&["run", "--bundle"]);
        cmd.arg(&bundle)
            .arg(&id)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file);
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", rt.binary.display()))?;
        let deadline = t0 + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                rt.delete(&id);
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let elapsed = t0.elapsed();
        let Some(status) = status else {
            rt.delete(&id);
            return Err("`run /bin/true` timed out after 20 s".into());
        };
        if !status.success() {
            rt.delete(&id);
            let text = fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "exit {}: {}",
                process::exit_code(status),
                last_line(&text)
            ));
        }
        if i > 0 {
            times.push(elapsed.as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "s" => format!("{v:.3}"),
        "ms" => format!("{v:.1}"),
        _ if v < 1.0 => format!("{v:.3}"),
        _ if v < 100.0 => format!("{v:.2}"),
        _ => format!("{v:.0}"),
    }
}

fn print_table(runtimes: &[Runtime], results: &[Vec<Option<Outcome>>], starts: usize) {
    let runc = runtimes.iter().position(|r| r.name == "runc");
    let vigil = runtimes.iter().position(|r| r.name == "vigil");
    let mut header = vec![
        "workload".to_string(),
        "unit".to_string(),
        "vigil target".to_string(),
    ];
    for (i, rt) in runtimes.iter().enumerate() {
        header.push(rt.name.to_string());
        if Some(i) != runc {
            header.push(format!("{} ×runc", rt.name));
        }
    }
    header.push("vigil meets target".to_string());
    header.push("runsc reference".to_string());

    let mut failures: Vec<String> = Vec::new();
    let mut table: Vec<Vec<String>> = vec![header];
    for (r, row) in ROWS.iter().enumerate() {
        let label = if r == START_ROW {
            format!("{} of {starts}", row.label)
        } else {
            row.label.to_string()
        };
        let mut line = vec![
            label,
            row.unit.to_string(),
            row.target
                .map(|t| format!("≤ {}", format_value(t, row.unit)))
                .unwrap_or_else(|| "–".into()),
        ];
        let base = runc.and_then(|i| results[i][r].as_ref()?.as_ref().ok().copied());
        for (i, rt) in runtimes.iter().enumerate() {
            let cell = match &results[i][r] {
                Some(Ok(v)) => format_value(*v, row.unit),
                Some(Err(reason)) => {
                    failures.push(format!("{} / {}: {reason}", rt.name, row.label));
                    format!("FAILED[{}]", failures.len())
                }
                None => "–".into(),
            };
            line.push(cell);
            if Some(i) != runc {
                let ratio = match (&results[i][r], base) {
                    (Some(Ok(v)), Some(b)) if b > 0.0 => format!("{:.1}×", v / b),
                    _ => "–".into(),
                };
                line.push(ratio);
            }
        }
        let meets = match (row.target, vigil.and_then(|i| results[i][r].as_ref())) {
            (Some(t), Some(Ok(v))) if *v <= t => "yes",
            (Some(_), Some(Ok(_))) => "NO",
            (Some(_), Some(Err(_))) => "NO (failed)",
            _ => "–",
        };
        line.push(meets.to_string());
        line.push(if row.runsc_reference.is_empty() {
            "–".to_string()
        } else {
            format!("{} {}", row.runsc_reference, row.unit)
        });
        table.push(line);
    }

    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (n, line) in table.iter().enumerate() {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                let _ = write!(text, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(text, "  {}{cell}", " ".repeat(pad));
            }
        }
        println!("{}", text.trim_end());
        if n == 0 {
            println!(
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            );
        }
    }
    println!(
        "\nrunsc reference: gVisor runsc (ptrace platform) on this machine class; \
         native 500 spawns 0.33 s, `runc run /bin/true` 19 ms."
    );
    if !failures.is_empty() {
        println!("\nfailures:");
        for (n, f) in failures.iter().enumerate() {
            println!("  [{}] {f}", n + 1);
        }
    }
}
