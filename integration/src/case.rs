//! A test case as data: what to run, in which root file system, with which
//! input and mounts, and what runc is recorded to print. `check` runs it the
//! way the crate documentation describes (runc against the record by
//! `VIGIL_DIFFERENTIAL=0`; by default, vigil against runc as well).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{self, Container, Mount, Runtime};
use crate::process::Captured;
use crate::setup;

/// The root file system a case runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rootfs {
    /// busybox-static and its applets: small, always available.
    Busybox,
    /// Debian bookworm minbase with python3 (built by debootstrap; cases
    /// skip when it cannot be built).
    Debian,
}

/// What a case must produce.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Exactly this stdout and exit code, under runc and under vigil.
    Output { stdout: &'static str, exit: i32 },
    /// Syscalls that must be refused inside the sandbox. The program prints
    /// `name: ok` or `name: ERRNO` per syscall; vigil must print an errno
    /// for every one. runc's answers depend on the host kernel's settings
    /// for some (io_uring, bpf, perf): `Some(errno)` pins the ones that are
    /// fixed by the spec's capabilities, `None` only logs runc's answer.
    Refused {
        syscalls: &'static [(&'static str, Option<&'static str>)],
    },
}

/// A host directory bind-mounted into the container, seeded with files.
#[derive(Debug, Clone)]
pub struct Bind {
    pub destination: &'static str,
    pub seed: &'static [(&'static str, &'static str)],
    pub readonly: bool,
}

/// One case; built with the functions below and the builder methods.
#[derive(Debug, Clone)]
pub struct Case {
    pub rootfs: Rootfs,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub stdin: Vec<u8>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<&'static str>,
    /// Mount the compiled C programs at `setup::PROGRAMS_MOUNT`.
    pub programs: bool,
    pub expect: Expect,
    /// The first bind mount's host directory after the run, as listed by
    /// `list_host_dir`: proof that writes reached the host.
    pub host_after: Option<&'static str>,
    pub timeout: Duration,
}

fn case(rootfs: Rootfs, args: &[&str]) -> Case {
    Case {
        rootfs,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        stdin: vec![],
        binds: vec![],
        tmpfs: vec![],
        programs: false,
        expect: Expect::Output {
            stdout: "",
            exit: 0,
        },
        host_after: None,
        timeout: Duration::from_secs(30),
    }
}

/// `sh -c SCRIPT` in the busybox rootfs.
pub fn sh(script: &str) -> Case {
    case(Rootfs::Busybox, &["/bin/sh", "-c", script])
}

/// `bash -c SCRIPT` in the Debian rootfs.
pub fn bash(script: &str) -> Case {
    case(Rootfs::Debian, &["/bin/bash", "-c", script])
}

/// `python3 -c CODE` in the Debian rootfs.
pub fn python(code: &str) -> Case {
    case(Rootfs::Debian, &["/usr/bin/python3", "-c", code])
}

/// A static C program from `programs/` in the busybox rootfs.
pub fn program(name: &str, args: &[&str]) -> Case {
    let path = format!("{}/{name}", setup::PROGRAMS_MOUNT);
    let mut argv = vec![path.as_str()];
    argv.extend_from_slice(args);
    let mut c = case(Rootfs::Busybox, &argv);
    c.programs = true;
    c
}

/// The dynamically linked build of a C program, in the Debian rootfs.
pub fn dynamic_program(name: &str, args: &[&str]) -> Case {
    let mut c = program(&format!("{name}-dynamic"), args);
    c.rootfs = Rootfs::Debian;
    c
}

impl Case {
    pub fn stdout(mut self, stdout: &'static str) -> Case {
        let exit = self.exit_code();
        self.expect = Expect::Output { stdout, exit };
        self
    }

    pub fn exit(mut self, exit: i32) -> Case {
        let stdout = match self.expect {
            Expect::Output { stdout, .. } => stdout,
            Expect::Refused { .. } => "",
        };
        self.expect = Expect::Output { stdout, exit };
        self
    }

    fn exit_code(&self) -> i32 {
        match self.expect {
            Expect::Output { exit, .. } => exit,
            Expect::Refused { .. } => 0,
        }
    }

    pub fn refused(mut self, syscalls: &'static [(&'static str, Option<&'static str>)]) -> Case {
        self.expect = Expect::Refused { syscalls };
        self
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Case {
        self.stdin = bytes.to_vec();
        self
    }

    pub fn env(mut self, var: &str) -> Case {
        self.env.push(var.to_string());
        self
    }

    pub fn bind(
        mut self,
        destination: &'static str,
        seed: &'static [(&'static str, &'static str)],
    ) -> Case {
        self.binds.push(Bind {
            destination,
            seed,
            readonly: false,
        });
        self
    }

    pub fn bind_readonly(
        mut self,
        destination: &'static str,
        seed: &'static [(&'static str, &'static str)],
    ) -> Case {
        self.binds.push(Bind {
            destination,
            seed,
            readonly: true,
        });
        self
    }

    pub fn tmpfs(mut self, destination: &'static str) -> Case {
        self.tmpfs.push(destination);
        self
    }

    pub fn host_after(mut self, listing: &'static str) -> Case {
        self.host_after = Some(listing);
        self
    }

    pub fn timeout(mut self, secs: u64) -> Case {
        self.timeout = Duration::from_secs(secs);
        self
    }
}

/// What one runtime did with a case.
#[derive(Debug)]
struct Observed {
    out: Captured,
    host_after: Option<String>,
}

/// Runs `case` (named `name` in reports) as the crate documentation says.
pub fn check(name: &str, case: Case) {
    let rootfs: PathBuf = match case.rootfs {
        Rootfs::Busybox => setup::busybox_rootfs().to_path_buf(),
        Rootfs::Debian => match setup::debian_rootfs() {
            Ok(dir) => dir.to_path_buf(),
            Err(reason) => {
                if std::env::var_os("VIGIL_REQUIRE_DEBIAN").is_some() {
                    panic!("{name}: {reason}");
                }
                // The test harness has no skip state; this line is the
                // record that the case did not run, and why.
                eprintln!("SKIPPED {name}: {reason}");
                return;
            }
        },
    };
    let programs = case.programs.then(setup::programs);
    let runc = observe(Runtime::Runc, &case, &rootfs, programs);

    if std::env::var_os("VIGIL_RECORD").is_some() {
        record(name, &runc);
        return;
    }
    // vigil runs every case next to runc unless asked not to (to check
    // recorded expectations against runc alone).
    let differential = std::env::var("VIGIL_DIFFERENTIAL").map_or(true, |v| v != "0");
    // runc is checked against the record even in differential mode, so a
    // host that changed the reference is reported as such, not as a vigil bug.
    if let Err(why) = check_reference(&case, &runc) {
        panic!(
            "{name}: runc disagrees with the recorded expectation: {why}\n{}",
            report(&case, &[(Runtime::Runc, &runc)])
        );
    }
    if !differential {
        return;
    }
    let vigil = observe(Runtime::Vigil, &case, &rootfs, programs);
    if let Err(why) = check_against(&case, &runc, &vigil) {
        panic!(
            "{name}: vigil differs from runc: {why}\n{}",
            report(&case, &[(Runtime::Runc, &runc), (Runtime::Vigil, &vigil)])
        );
    }
}

fn observe(runtime: Runtime, case: &Case, rootfs: &Path, programs: Option<&Path>) -> Observed {
    // Fresh host directories per run, so runc's writes cannot leak into
    // vigil's run; they are removed when `dirs` drops.
    let dirs: Vec<tempfile::TempDir> = case
        .binds
        .iter()
        .map(|b| {
            let dir = tempfile::Builder::new()
                .prefix("vigil-bind-")
                .tempdir()
                .expect("creating a bind dir");
            for (path, content) in b.seed {
                let file = dir.path().join(path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(file, content).unwrap();
            }
            dir
        })
        .collect();
    let mut mounts: Vec<Mount> = case
        .binds
        .iter()
        .zip(&dirs)
        .map(|(b, dir)| Mount::Bind {
            source: dir.path().to_path_buf(),
            destination: b.destination.to_string(),
            readonly: b.readonly,
        })
        .collect();
    mounts.extend(case.tmpfs.iter().map(|d| Mount::Tmpfs {
        destination: d.to_string(),
    }));
    if let Some(dir) = programs {
        mounts.push(Mount::Bind {
            source: dir.to_path_buf(),
            destination: setup::PROGRAMS_MOUNT.to_string(),
            readonly: true,
        });
    }
    let container = Container {
        rootfs: rootfs.to_path_buf(),
        args: case.args.clone(),
        env: case.env.clone(),
        stdin: case.stdin.clone(),
        mounts,
        timeout: case.timeout,
    };
    let out = harness::run(runtime, &container);
    let host_after = dirs.first().map(|d| list_host_dir(d.path()));
    Observed { out, host_after }
}

/// A directory's tree, one line per entry in path order: `dir/`,
/// `file=content` (trailing newline dropped, others escaped),
/// `link -> target`, `fifo (special)`.
pub fn list_host_dir(root: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap_or_default();
                out.insert(rel.clone(), format!("{rel} -> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel.clone(), format!("{rel}/"));
                walk(root, &path, out);
            } else if !meta.is_file() {
                // Never open a FIFO or device: reading one could block.
                out.insert(rel.clone(), format!("{rel} (special)"));
            } else {
                let content = fs::read(&path).unwrap_or_default();
                let text = String::from_utf8_lossy(&content);
                let text = text
                    .strip_suffix('\n')
                    .unwrap_or(&text)
                    .replace('\n', "\\n");
                out.insert(rel.clone(), format!("{rel}={text}"));
            }
        }
    }
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    entries.values().map(|l| format!("{l}\n")).collect()
}

fn check_reference(case: &Case, runc: &Observed) -> Result<(), String> {
    if runc.out.timed_out {
        return Err(format!("timed out after {:?}", case.timeout));
    }
    match &case.expect {
        Expect::Output { stdout, exit } => {
            let got = String::from_utf8_lossy(&runc.out.stdout);
            if got != *stdout {
                return Err(format!("stdout\n  expected {stdout:?}\n  got      {got:?}"));
            }
            if runc.out.exit != *exit {
                return Err(format!("exit code: expected {exit}, got {}", runc.out.exit));
            }
        }
        Expect::Refused { syscalls } => {
            let answers = refusals(&runc.out, syscalls)?;
            for ((name, pinned), answer) in syscalls.iter().zip(&answers) {
                if let Some(errno) = pinned {
                    if answer != errno {
                        return Err(format!("{name}: expected {errno}, got {answer}"));
                    }
                }
            }
            // The host-dependent answers, for whoever reads the log.
            eprintln!("runc's answers: {answers:?}");
        }
    }
    check_host_dir(case, runc)
}

fn check_host_dir(case: &Case, observed: &Observed) -> Result<(), String> {
    match (case.host_after, &observed.host_after) {
        (Some(expected), Some(got)) if got != expected => Err(format!(
            "host directory after the run\n  expected {expected:?}\n  got      {got:?}"
        )),
        _ => Ok(()),
    }
}

/// The answers of a refusal program, one per expected syscall, in order.
fn refusals(out: &Captured, syscalls: &[(&str, Option<&str>)]) -> Result<Vec<String>, String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if out.exit != 0 || lines.len() != syscalls.len() {
        return Err(format!(
            "expected one line per syscall and exit 0, got {text:?} (exit {})",
            out.exit
        ));
    }
    syscalls
        .iter()
        .zip(lines)
        .map(|((name, _), line)| {
            line.strip_prefix(&format!("{name}: "))
                .map(str::to_string)
                .ok_or_else(|| format!("expected a line for {name}, got {line:?}"))
        })
        .collect()
}

fn check_against(case: &Case, runc: &Observed, vigil: &Observed) -> Result<(), String> {
    if vigil.out.timed_out {
        return Err(format!("timed out after {:?}", case.timeout));
    }
    match &case.expect {
        Expect::Output { .. } => {
            if vigil.out.stdout != runc.out.stdout {
                return Err("stdout differs".into());
            }
            if vigil.out.exit != runc.out.exit {
                return Err(format!(
                    "exit code: runc {}, vigil {}",
                    runc.out.exit, vigil.out.exit
                ));
            }
            if vigil.host_after != runc.host_after {
                return Err(format!(
                    "host directory after the run: runc {:?}, vigil {:?}",
                    runc.host_after, vigil.host_after
                ));
            }
            Ok(())
        }
        Expect::Refused { syscalls } => {
            let answers = refusals(&vigil.out, syscalls)?;
            match syscalls
                .iter()
                .zip(&answers)
                .find(|(_, a)| !a.starts_with('E'))
            {
                Some(((name, _), answer)) => Err(format!("{name} was allowed ({answer})")),
                None => Ok(()),
            }
        }
    }
}

fn report(case: &Case, runs: &[(Runtime, &Observed)]) -> String {
    let mut s = format!("  argv: {:?}\n", case.args);
    if !case.env.is_empty() {
        let _ = writeln!(s, "  env: {:?}", case.env);
    }
    for (runtime, o) in runs {
        let _ = writeln!(
            s,
            "  --- {} (exit {}{})\n  stdout: {:?}\n  stderr: {:?}",
            runtime.name(),
            o.out.exit,
            if o.out.timed_out { ", timed out" } else { "" },
            String::from_utf8_lossy(&o.out.stdout),
            String::from_utf8_lossy(&o.out.stderr),
        );
        if let Some(listing) = &o.host_after {
            let _ = writeln!(s, "  host dir: {listing:?}");
        }
    }
    s
}

/// `VIGIL_RECORD=1`: write runc's output as the builder calls that expect
/// it, to `<cache>/record/<name>`, for a person to review and paste into the
/// case list. Nothing is asserted.
fn record(name: &str, runc: &Observed) {
    let dir = setup::cache_dir().join("record");
    fs::create_dir_all(&dir).unwrap();
    let mut s = format!(
        ".stdout({:?}).exit({})",
        String::from_utf8_lossy(&runc.out.stdout),
        runc.out.exit
    );
    if let Some(listing) = &runc.host_after {
        let _ = write!(s, ".host_after({listing:?})");
    }
    let _ = write!(
        s,
        "\n// timed out: {}; stderr: {:?}\n",
        runc.out.timed_out,
        String::from_utf8_lossy(&runc.out.stderr)
    );
    fs::write(dir.join(name.replace("::", "__")), s).unwrap();
}

/// Declares cases: one `#[test]` per entry, named after it, so nextest runs
/// them in parallel and reports each; plus `cases()` listing them all.
///
/// ```ignore
/// integration::cases! {
///     echo: sh("echo hi").stdout("hi\n"),
/// }
/// ```
#[macro_export]
macro_rules! cases {
    ($($name:ident: $case:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::case::check(
                    concat!(module_path!(), "::", stringify!($name)),
                    $case,
                );
            }
        )*

        /// Every case of this module, by name.
        #[allow(dead_code)]
        pub fn cases() -> Vec<(&'static str, $crate::case::Case)> {
            vec![$((stringify!($name), $case)),*]
        }
    };
}
