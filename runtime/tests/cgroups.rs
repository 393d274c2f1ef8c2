//! The sandbox's cgroup seen from the host: where its processes live,
//! what `linux.resources` does to them (memory limit and the OOM killer,
//! pids limit, CPU values, bad values), freezing, statistics and cleanup.
//! runc runs the same bundle where the comparison means something.
//!
//! These tests need root and a cgroup file system.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_runtime::cgroups::{Cgroup, FreezerState, Version};
use vigil_runtime::launch;

/// Allocates and touches the given number of MiB, then says so.
const ALLOC_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 256;
    for (size_t i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (!p) { puts("malloc failed"); return 1; }
        memset(p, 1, 1 << 20);
    }
    printf("allocated %zu MiB\n", mib);
    return 0;
}
"#;

/// A cgroup path no other test process uses.
fn unique(name: &str) -> String {
    format!("/vigil-test-{}-{name}", std::process::id())
}

/// A busybox bundle running `args`, with `linux.cgroupsPath` (if any) and
/// `linux.resources` set. Its `/dev` is a tmpfs that both runtimes give a
/// `/dev/null`, which the shell needs for background jobs.
fn bundle(args: &[&str], path: Option<&str>, resources: Value) -> Bundle {
    let b = Bundle::new(args);
    let dev = r#",
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}"#;
    let mut config: Value = serde_json::from_str(&spec(args, dev)).unwrap();
    if let Some(path) = path {
        config["linux"]["cgroupsPath"] = path.into();
    }
    config["linux"]["resources"] = resources;
    b.config(&config.to_string());
    b
}

/// Compiles the allocator into the bundle's rootfs as `/bin/alloc`.
fn add_alloc(b: &Bundle) {
    assert!(
        ensure("/usr/bin/gcc", "gcc"),
        "gcc is needed: apt-get install gcc libc6-dev"
    );
    let src = b.path().join("alloc.c");
    fs::write(&src, ALLOC_C).unwrap();
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(b.path().join("rootfs/bin/alloc"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success(), "gcc: {}", stderr(&out));
}

/// `runc run` of the same bundle, if runc is there.
fn runc_run(b: &Bundle, id: &str) -> Option<Output> {
    Some(output_within(b.runc(id)?, LIMIT))
}

/// `(controllers, path)` of every hierarchy in `/proc/PID/cgroup`.
fn cgroups_of(pid: i32) -> Vec<(String, String)> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ':');
            parts.next();
            (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().to_string(),
            )
        })
        .collect()
}

/// The cgroup at absolute `path` as the running sandbox made it: joining
/// an existing cgroup creates nothing, so this handle removes nothing.
fn handle(path: &str) -> Cgroup {
    Cgroup::create(Some(path), "handle", None, false)
        .unwrap()
        .expect("a cgroup file system is mounted")
}

/// Fails if a directory of absolute cgroup `path` is left in any
/// hierarchy.
fn assert_no_cgroup(path: &str) {
    let inner = path.trim_start_matches('/');
    let mut dirs = vec![Path::new("/sys/fs/cgroup").join(inner)];
    for h in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        dirs.push(h.path().join(inner));
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

/// Ends `r`'s container, which must exit 0, and checks that its cgroup
/// `path` went with it.
fn finish_and_leave_nothing(r: &mut Running, path: &str) {
    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_no_cgroup(path);
}

/// The host pids of the sentry's children (the stubs).
fn stubs_of(sentry: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for task in fs::read_dir(format!("/proc/{sentry}/task"))
        .unwrap()
        .flatten()
    {
        let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        pids.extend(
            children
                .split_whitespace()
                .map(|p| p.parse::<i32>().unwrap()),
        );
    }
    pids
}

fn gofer_of(r: &Running) -> i32 {
    let (pid, _) = processes_of(r.bundle.path())
        .into_iter()
        .find(|(_, cmdline)| cmdline.contains(" gofer "))
        .expect("the gofer runs");
    pid
}

// ---------------------------------------------------------------------------
// Placement.

#[test]
fn the_sentry_the_gofer_and_the_stubs_are_in_the_spec_cgroup_everywhere() {
    let path = unique("place");
    let b = bundle(&["/bin/sh", "-c", "sleep 60 & cat"], Some(&path), json!({}));
    let mut r = Running::start_in(b, &[]);
    let sentry = r.sentry_pid();
    wait_for("two stubs", || stubs_of(sentry).len() >= 2);
    let mut pids = vec![("sentry", sentry), ("gofer", gofer_of(&r))];
    pids.extend(stubs_of(sentry).into_iter().map(|p| ("stub", p)));
    let hierarchies = cgroups_of(std::process::id() as i32).len();
    for (what, pid) in pids {
        let cgroups = cgroups_of(pid);
        assert_eq!(cgroups.len(), hierarchies, "{what} {pid}: {cgroups:?}");
        for (controllers, p) in cgroups {
            assert_eq!(p, path, "{what} {pid} in hierarchy {controllers:?}");
        }
    }
    finish_and_leave_nothing(&mut r, &path);
}

/// runc's default, seen on this host: the container id under the caller's
/// own cgroup (on a v2 host, under its parent).
#[test]
fn without_a_cgroups_path_the_id_names_a_cgroup_below_the_own_one() {
    let b = bundle(&["/bin/cat"], None, json!({}));
    let mut r = Running::start_in(b, &[]);
    let own = cgroups_of(std::process::id() as i32);
    let v2 = own.len() == 1;
    let got = cgroups_of(r.sentry_pid());
    for ((controllers, mine), (_, its)) in own.iter().zip(&got) {
        let mut base = PathBuf::from(mine);
        if v2 {
            base.pop();
        }
        let want = base.join(&r.id);
        assert_eq!(Path::new(its), want, "hierarchy {controllers:?}");
    }
    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    // Its directories are gone with it.
    let cgroup = Cgroup::create(None, &r.id, None, false).unwrap().unwrap();
    let memory = cgroup.path("memory").unwrap().to_path_buf();
    cgroup.destroy().unwrap();
    assert!(!memory.exists());
}

#[test]
fn systemd_cgroup_paths_become_scopes_under_the_cgroup_tree() {
    let slice = format!("vigiltest{}.slice", std::process::id());
    let b = bundle(&["/bin/cat"], Some(&format!("{slice}:vt:c1")), json!({}));
    let mut r = Running::start_in(b, &["--systemd-cgroup"]);
    let want = format!("/{slice}/vt-c1.scope");
    for (controllers, p) in cgroups_of(r.sentry_pid()) {
        assert_eq!(p, want, "hierarchy {controllers:?}");
    }
    let out = r.finish();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    // The slice was made for the scope, and goes with it.
    assert_no_cgroup(&format!("/{slice}"));
}

#[test]
fn a_launched_child_is_in_the_cgroup_before_it_runs() {
    let path = unique("launch");
    let cgroup = Cgroup::create(Some(&path), "launch", None, false)
        .unwrap()
        .unwrap();
    let (r, w) = rustix::pipe::pipe().unwrap();
    let mut cmd = launch::Command::new("/bin/cat".as_ref()).unwrap();
    cmd.arg("/proc/self/cgroup")
        .unwrap()
        .fd(std::os::fd::AsFd::as_fd(&w), 1)
        .cgroup(&cgroup);
    let child = cmd.spawn().unwrap();
    drop(w);
    assert_eq!(child.wait(false).unwrap(), Some(launch::Exit::Code(0)));
    let text = std::io::read_to_string(fs::File::from(r)).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(line.ends_with(&format!(":{path}")), "{text}");
    }
    assert_eq!(cgroup.procs_files().len(), text.lines().count());
    cgroup.destroy().unwrap();
    assert_no_cgroup(&path);
}

/// A child that cannot join its cgroup is never released: the launch fails
/// and nothing of it is left.
#[test]
fn a_child_that_cannot_join_its_cgroup_does_not_run() {
    let path = unique("gone");
    let cgroup = Cgroup::create(Some(&path), "gone", None, false)
        .unwrap()
        .unwrap();
    cgroup.destroy().unwrap();
    let marker = tempfile::tempdir().unwrap();
    let file = marker.path().join("ran");
    let mut cmd = launch::Command::new("/bin/touch".as_ref()).unwrap();
    cmd.arg(&file).unwrap().cgroup(&cgroup);
    match cmd.spawn() {
        Err(launch::Error::Cgroup { source, .. }) => {
            assert!(source.to_string().contains("cgroup.procs"), "{source}")
        }
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(!file.exists(), "the child ran");
    assert_no_cgroup(&path);
}

// ---------------------------------------------------------------------------
// Memory and the OOM killer.

const MIB_64: i64 = 64 << 20;

/// A bundle running `args` in cgroup `path` limited to [`MIB_64`] of
/// memory, with `/bin/alloc` to go over it.
fn memory_limited(args: &[&str], path: &str) -> Bundle {
    let b = bundle(args, Some(path), json!({"memory": {"limit": MIB_64}}));
    add_alloc(&b);
    b
}

/// Like runc: the container's init is killed by the OOM killer, and the
/// run ends with 128 + SIGKILL.
#[test]
fn a_container_over_its_memory_limit_exits_137_like_runc() {
    let path = unique("oom");
    let b = memory_limited(&["/bin/alloc", "256"], &path);
    let out = b.run("oom");
    assert_eq!(out.status.code(), Some(137), "stderr: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_no_cgroup(&path);

    let Some(reference) = runc_run(&b, "oom") else {
        eprintln!("runc is not installed: the comparison is skipped");
        return;
    };
    assert_eq!(out.status.code(), reference.status.code());
    assert_eq!(out.stdout, reference.stdout);
}

/// The OOM killer may choose the sentry itself (here made its first
/// choice): the run still ends as runc's would, 137, and the gofer and the
/// cgroup go with it.
#[test]
fn an_oom_killed_sentry_ends_the_run_with_137_and_leaves_nothing() {
    let path = unique("oomsentry");
    let b = memory_limited(
        &["/bin/sh", "-c", "sleep 1; alloc 256; echo status $?"],
        &path,
    );
    let mut r = Running::start_in(b, &[]);
    let sentry = r.sentry_pid();
    let cgroup = handle(&path);
    fs::write(format!("/proc/{sentry}/oom_score_adj"), "1000").unwrap();
    wait_for("the sentry's end", || {
        !Path::new(&format!("/proc/{sentry}")).exists() || r.vigil.try_wait().unwrap().is_some()
    });
    let out = r.finish();
    assert_eq!(out.status.code(), Some(137), "stderr: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(cgroup.path("memory").is_some_and(|p| !p.exists()));
    assert_no_cgroup(&path);
}

/// A process of the container killed for memory is counted, the rest of
/// the container goes on, and usage shows in the statistics.
#[test]
fn the_oom_killer_counts_in_the_cgroup_and_stats_show_usage() {
    let path = unique("oomcount");
    let b = memory_limited(&["/bin/sh", "-c", "alloc 256; echo status $?; cat"], &path);
    let mut r = Running::start_in(b, &[]);
    let cgroup = handle(&path);
    wait_for("an OOM kill", || cgroup.oom_kill_count().unwrap() >= 1);

    let stats = cgroup.stats().unwrap();
    assert!(stats.memory.usage.usage > 0, "{stats:?}");
    assert_eq!(stats.memory.usage.limit, MIB_64 as u64, "{stats:?}");
    assert!(stats.memory.usage.failcnt > 0 || cgroup.version() == Version::V2);
    assert!(!stats.memory.raw.is_empty(), "{stats:?}");
    assert!(stats.cpu.usage.total > 0, "{stats:?}");
    assert!(stats.pids.current > 0, "{stats:?}");
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["memory"]["usage"]["usage"].as_u64().unwrap() > 0);

    let out = r.finish();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "status 137\n",
        "stderr: {}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    assert_no_cgroup(&path);
}

// ---------------------------------------------------------------------------
// pids.

/// With a pids limit, forks fail inside the container and the shell says
/// so, as under runc. The limit covers every task of the sandbox,
/// including the sentry's and the gofer's threads, so the point where it
/// bites differs from runc's; what the container sees of it does not.
#[test]
fn a_pids_limit_makes_fork_fail_like_runc() {
    let path = unique("pids");
    // The subshell's loop ends when a fork fails.
    let script = "(i=0; while [ $i -lt 64 ]; do sleep 5 & i=$((i+1)); done); echo subshell $?";
    let b = bundle(
        &["/bin/sh", "-c", script],
        Some(&path),
        json!({"pids": {"limit": 32}}),
    );
    let out = b.run("pids");
    assert_no_cgroup(&path);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "subshell 2\n");
    assert!(
        stderr(&out).contains("can't fork: Resource temporarily unavailable"),
        "{}",
        stderr(&out)
    );
    let Some(reference) = runc_run(&b, "pids") else {
        eprintln!("runc is not installed: the comparison is skipped");
        return;
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&reference.stdout),
        "stderr: {} / runc: {}",
        stderr(&out),
        stderr(&reference)
    );
    assert_eq!(out.status.code(), reference.status.code());
}

// ---------------------------------------------------------------------------
// Freezer.

#[test]
fn a_frozen_container_makes_no_progress_until_thawed() {
    let path = unique("freeze");
    let b = bundle(
        &[
            "/bin/sh",
            "-c",
            "while true; do echo tick; sleep 0.05; done & cat",
        ],
        Some(&path),
        json!({}),
    );
    let mut r = Running::start_in(b, &[]);
    let ticks = Arc::new(AtomicUsize::new(0));
    let stdout = r.vigil.stdout.take().unwrap();
    let counter = ticks.clone();
    std::thread::spawn(move || {
        for _ in BufReader::new(stdout).lines() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let count = || ticks.load(Ordering::Relaxed);
    wait_for("ticks", || count() >= 3);

    let cgroup = handle(&path);
    assert_eq!(cgroup.state().unwrap(), FreezerState::Thawed);
    cgroup.freeze().unwrap();
    assert_eq!(cgroup.state().unwrap(), FreezerState::Frozen);
    // A tick already written may still arrive; none after that.
    std::thread::sleep(Duration::from_millis(100));
    let frozen = count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(), frozen, "the container ran while frozen");

    cgroup.thaw().unwrap();
    assert_eq!(cgroup.state().unwrap(), FreezerState::Thawed);
    wait_for("ticks after thawing", || count() >= frozen + 3);

    finish_and_leave_nothing(&mut r, &path);
}

// ---------------------------------------------------------------------------
// Resource values.

#[test]
fn cpu_memory_and_pids_values_land_in_the_files() {
    let path = unique("cpu");
    let b = bundle(
        &["/bin/cat"],
        Some(&path),
        json!({
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 100},
            "memory": {"limit": 256 << 20, "reservation": 128 << 20, "swap": 512 << 20}
        }),
    );
    let mut r = Running::start_in(b, &[]);
    let cgroup = handle(&path);
    let read = |controller: &str, file: &str| {
        let dir = cgroup.path(controller).unwrap();
        fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    // Swap accounting is a host setting; without it swap is not applied.
    let has = |controller: &str, file: &str| cgroup.path(controller).unwrap().join(file).exists();
    match cgroup.version() {
        Version::V1 => {
            assert_eq!(read("cpu", "cpu.shares"), "512");
            assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
            assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
            assert_eq!(
                read("memory", "memory.limit_in_bytes"),
                (256 << 20).to_string()
            );
            assert_eq!(
                read("memory", "memory.soft_limit_in_bytes"),
                (128 << 20).to_string()
            );
            if has("memory", "memory.memsw.limit_in_bytes") {
                let memsw = read("memory", "memory.memsw.limit_in_bytes");
                assert_eq!(memsw, (512 << 20).to_string());
            }
        }
        Version::V2 => {
            // runc's conversion of 512 shares.
            assert_eq!(read("cpu", "cpu.weight"), "20");
            assert_eq!(read("cpu", "cpu.max"), "50000 100000");
            assert_eq!(read("memory", "memory.max"), (256 << 20).to_string());
            assert_eq!(read("memory", "memory.low"), (128 << 20).to_string());
            if has("memory", "memory.swap.max") {
                // memory+swap less memory.
                assert_eq!(read("memory", "memory.swap.max"), (256 << 20).to_string());
            }
        }
    }
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(read("cpuset", "cpuset.mems"), "0");
    assert_eq!(read("pids", "pids.max"), "100");
    finish_and_leave_nothing(&mut r, &path);
}

/// Values the kernel refuses (or would silently change) fail the run with
/// the file named, and leave no cgroup behind.
#[test]
fn bad_values_are_refused_naming_the_file() {
    let v1 = cgroups_of(std::process::id() as i32).len() > 1;
    let cases = [
        // Below the kernel's 1 ms minimum.
        (
            json!({"cpu": {"quota": 500, "period": 100000}}),
            if v1 { "cpu.cfs_quota_us" } else { "cpu.max" },
        ),
        (json!({"cpu": {"cpus": "4096"}}), "cpuset.cpus"),
        // memory+swap below memory.
        (
            json!({"memory": {"limit": MIB_64, "swap": MIB_64 / 2}}),
            if v1 {
                "memory.memsw.limit_in_bytes"
            } else {
                "memory.swap"
            },
        ),
    ];
    let mut cases: Vec<(Value, &str)> = cases.into_iter().collect();
    if v1 {
        // The kernel clamps it to 2 without an error; runc refuses it.
        cases.push((json!({"cpu": {"shares": 1}}), "cpu.shares"));
    }
    for (i, (resources, file)) in cases.into_iter().enumerate() {
        let path = format!("{}/bad{i}", unique("bad"));
        let b = bundle(&["/bin/true"], Some(&path), resources.clone());
        let out = b.run("bad");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{resources}: {err}");
        assert!(err.starts_with("vigil: cgroup: "), "{resources}: {err}");
        assert!(err.contains(file), "{resources}: want {file} in {err}");
        assert!(out.stdout.is_empty());
        assert_no_cgroup(&unique("bad"));
    }
}

#[test]
fn destroy_removes_what_create_made_and_nothing_else() {
    let parent = unique("destroy");
    let sibling = Cgroup::create(Some(&format!("{parent}/c")), "y", None, false)
        .unwrap()
        .unwrap();
    let cgroup = Cgroup::create(Some(&format!("{parent}/a/b")), "x", None, false)
        .unwrap()
        .unwrap();
    // A process in it that is gone by the time of the removal.
    let mut cmd = launch::Command::new("/bin/true".as_ref()).unwrap();
    cmd.cgroup(&cgroup);
    cmd.spawn().unwrap().wait(false).unwrap();
    cgroup.destroy().unwrap();
    let memory = sibling.path("memory").unwrap().to_path_buf();
    // The parent stays for the sibling that made it; `a` goes.
    assert!(memory.exists());
    assert!(!memory.parent().unwrap().join("a").exists());
    sibling.destroy().unwrap();
    assert_no_cgroup(&parent);
}

// ---------------------------------------------------------------------------
// A cgroup2-only host.

/// The same sandbox in a mount namespace that sees only a cgroup2 tree at
/// `/sys/fs/cgroup`, as on a v2 host: a relative path goes below the parent
/// of the caller's cgroup (runc's rule there), the sentry joins it, and it
/// is gone at the end. Resources are left out: this host's controllers
/// belong to its v1 hierarchies.
#[test]
fn on_a_cgroup2_only_host_the_sandbox_joins_the_unified_tree() {
    let b = bundle(&["/bin/sleep", "1"], None, json!({}));
    let outer = format!("vigil-test-{}-v2", std::process::id());
    let id = "v2";
    let script = format!(
        r#"set -e
for m in $(awk '$9 == "cgroup" || $9 == "cgroup2" {{print $5}}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
done
umount -l /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /sys/fs/cgroup/{outer}/me
echo $$ > /sys/fs/cgroup/{outer}/me/cgroup.procs
"$0" --root "$1" run --pid-file "$2/pid" --bundle "$2" {id} </dev/null &
while [ ! -s "$2/pid" ]; do sleep 0.05; done
grep '^0::' /proc/$(cat "$2/pid")/cgroup
wait $! && echo exit 0 || echo exit $?
echo $$ > /sys/fs/cgroup/cgroup.procs
ls -d /sys/fs/cgroup/{outer}/{id} 2>/dev/null || echo gone
rmdir /sys/fs/cgroup/{outer}/me /sys/fs/cgroup/{outer}
"#
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &script, VIGIL])
        .arg(b.state_root())
        .arg(b.path());
    let out = output_within(cmd, LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("0::/{outer}/{id}\nexit 0\ngone\n"),
        "stderr: {}",
        stderr(&out)
    );
    assert_no_cgroup(&format!("/{outer}"));
}

/// A create that fails half-way through making the path removes the part
/// it made.
#[test]
fn a_path_that_cannot_be_made_leaves_nothing() {
    let parent = unique("halfway");
    // cgroupfs refuses a newline in a name.
    let path = format!("{parent}/a\nb/c");
    match Cgroup::create(Some(&path), "long", None, false) {
        Err(e) => assert!(e.to_string().contains("create cgroup"), "{e}"),
        Ok(cgroup) => {
            cgroup.unwrap().destroy().unwrap();
            panic!("a name with a newline was accepted");
        }
    }
    assert_no_cgroup(&parent);
}

/// `vigil events` reports an OOM kill in the container (here of a child
/// the shell survives) as runc's `oom` event.
#[test]
fn events_report_an_oom_kill() {
    let path = unique("oomevent");
    let b = memory_limited(&["/bin/sh", "-c", "sleep 0.3; alloc 256; sleep 100"], &path);
    let vigil = |args: &[&str]| {
        let mut cmd = Command::new(VIGIL);
        cmd.arg("--root").arg(b.state_root()).args(args);
        cmd.stdin(Stdio::null());
        cmd
    };
    let bundle_dir = b.path().to_str().unwrap().to_string();
    let created = vigil(&["create", "--bundle", &bundle_dir, "oomev"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());
    assert!(vigil(&["start", "oomev"]).status().unwrap().success());
    let mut events = vigil(&["events", "--interval", "1", "oomev"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(events.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut oom = None;
    while oom.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["type"] == "oom" {
                oom = Some(event);
            }
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    assert!(vigil(&["delete", "--force", "oomev"])
        .status()
        .unwrap()
        .success());
    let oom = oom.expect("no oom event");
    assert_eq!(oom["id"], "oomev");
    assert_no_cgroup(&path);
}
