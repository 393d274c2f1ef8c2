//! procfs through the VFS, over a fake process table.

use super::*;
use crate::errno::{Errno, SysError};
use crate::vfs::tmpfs::Tmpfs;
use crate::vfs::{At, Credentials, FsContext, Vfs};
use std::collections::BTreeMap;
use std::sync::Mutex;

const RDONLY: u32 = libc::O_RDONLY as u32;
const WRONLY: u32 = libc::O_WRONLY as u32;

#[derive(Clone, Default)]
struct FakeProc {
    info: ProcessInfo,
    threads: Vec<ProcessInfo>,
    fds: Vec<FdEntry>,
}

#[derive(Default)]
struct Fake {
    procs: Mutex<BTreeMap<i32, FakeProc>>,
    view: Mutex<Option<MountView>>,
    oom_writes: Mutex<Vec<(i32, i32)>>,
}

impl Fake {
    fn add(&self, p: FakeProc) {
        self.procs.lock().unwrap().insert(p.info.pid, p);
    }

    fn remove(&self, pid: i32) {
        self.procs.lock().unwrap().remove(&pid);
    }

    fn with<R>(&self, pid: i32, f: impl FnOnce(&mut FakeProc) -> R) -> R {
        f(self.procs.lock().unwrap().get_mut(&pid).unwrap())
    }
}

impl ProcessSource for Fake {
    fn pids(&self) -> Vec<i32> {
        // Deliberately unordered: procfs sorts.
        self.procs.lock().unwrap().keys().rev().copied().collect()
    }

    fn process(&self, pid: i32) -> Option<ProcessInfo> {
        self.procs.lock().unwrap().get(&pid).map(|p| p.info.clone())
    }

    fn threads(&self, pid: i32) -> Vec<i32> {
        self.procs
            .lock()
            .unwrap()
            .get(&pid)
            .map(|p| p.threads.iter().map(|t| t.pid).collect())
            .unwrap_or_default()
    }

    fn thread(&self, pid: i32, tid: i32) -> Option<ProcessInfo> {
        let procs = self.procs.lock().unwrap();
        procs
            .get(&pid)?
            .threads
            .iter()
            .find(|t| t.pid == tid)
            .cloned()
    }

    fn fds(&self, pid: i32) -> Vec<FdEntry> {
        self.procs
            .lock()
            .unwrap()
            .get(&pid)
            .map(|p| p.fds.clone())
            .unwrap_or_default()
    }

    fn mount_view(&self, _pid: i32) -> Option<MountView> {
        self.view.lock().unwrap().clone()
    }

    fn hostname(&self) -> Vec<u8> {
        b"sandbox".to_vec()
    }

    fn uptime(&self) -> Duration {
        Duration::from_millis(12_340)
    }

    fn set_oom_score_adj(&self, pid: i32, value: i32) -> SysResult<()> {
        self.oom_writes.lock().unwrap().push((pid, value));
        Ok(())
    }
}

fn proc_info(pid: i32, ppid: i32, uid: u32) -> ProcessInfo {
    ProcessInfo {
        pid,
        tgid: pid,
        ppid,
        pgid: pid,
        sid: 1,
        comm: b"sh".to_vec(),
        state: 'S',
        cmdline: b"/bin/sh\0-c\0sleep 1\0".to_vec(),
        environ: b"PATH=/bin\0HOME=/\0".to_vec(),
        exe: Some(b"/bin/sh".to_vec()),
        cwd: b"/work".to_vec(),
        uids: [uid; 4],
        gids: [uid; 4],
        groups: vec![10, 20],
        threads: 1,
        start_time: Duration::from_secs(2),
        user_time: Duration::from_millis(250),
        vsize: 8 << 20,
        rss_pages: 100,
        maps: b"00400000-00401000 r-xp 00000000 00:05 7 /bin/sh\n".to_vec(),
        caps: CapSets {
            bounding: 0xa80425fb,
            ..CapSets::default()
        },
        rlimits: vec![Rlimit::UNLIMITED; 7]
            .into_iter()
            .chain([Rlimit {
                cur: 1024,
                max: 4096,
            }])
            .collect(),
        ..ProcessInfo::default()
    }
}

fn simple(pid: i32, uid: u32) -> FakeProc {
    let info = proc_info(pid, 1, uid);
    FakeProc {
        threads: vec![info.clone()],
        info,
        fds: Vec::new(),
    }
}

fn host() -> HostInfo {
    HostInfo {
        cpuinfo: b"processor\t: 0\nmodel name\t: fake\n".to_vec(),
        cpus: 2,
        mem_total_kib: 1 << 20,
    }
}

fn setup() -> (Arc<Fake>, Arc<Vfs>, FsContext) {
    let fake = Arc::new(Fake::default());
    let src: Arc<dyn ProcessSource> = fake.clone();
    let vfs = Arc::new(Vfs::new(Procfs::new(src, host()), false).unwrap());
    let cx = FsContext::new(&vfs);
    (fake, vfs, cx)
}

fn read(vfs: &Vfs, cx: &FsContext, path: &str) -> SysResult<Vec<u8>> {
    let f = vfs.open(cx, At::Cwd, path.as_bytes(), RDONLY, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 5];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn text(vfs: &Vfs, cx: &FsContext, path: &str) -> String {
    String::from_utf8(read(vfs, cx, path).unwrap()).unwrap()
}

fn errno<T: std::fmt::Debug>(r: Result<T, SysError>) -> Errno {
    r.expect_err("expected an error").errno
}

fn names(vfs: &Vfs, cx: &FsContext, path: &str, chunk: usize) -> Vec<String> {
    let d = vfs.open(cx, At::Cwd, path.as_bytes(), RDONLY, 0).unwrap();
    let mut out = Vec::new();
    loop {
        let ents = d.getdents(chunk).unwrap();
        if ents.is_empty() {
            return out;
        }
        out.extend(
            ents.into_iter()
                .map(|e| String::from_utf8(e.name).unwrap())
                .filter(|n| n != "." && n != ".."),
        );
    }
}

#[test]
fn root_lists_fixed_entries_then_processes_in_order() {
    let (fake, vfs, cx) = setup();
    for pid in [12, 1, 7] {
        fake.add(simple(pid, 0));
    }
    let all = names(&vfs, &cx, "/", 4096);
    assert!(all.starts_with(&["self".to_string(), "thread-self".to_string()]));
    assert_eq!(all[all.len() - 3..], ["1", "7", "12"]);
    for f in [
        "cpuinfo", "meminfo", "uptime", "loadavg", "stat", "version", "sys",
    ] {
        assert!(all.contains(&f.to_string()), "{f}");
    }
    // Reading one entry at a time gives the same listing.
    assert_eq!(names(&vfs, &cx, "/", 32), all);

    // An offset stays valid while processes come and go.
    let d = vfs.open(&cx, At::Cwd, b"/", RDONLY, 0).unwrap();
    let mut seen = Vec::new();
    while !seen.contains(&"1".to_string()) {
        for e in d.getdents(32).unwrap() {
            seen.push(String::from_utf8(e.name).unwrap());
        }
    }
    fake.remove(1);
    fake.remove(7);
    fake.add(simple(9, 0));
    let rest: Vec<String> = d
        .getdents(4096)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    assert_eq!(rest, ["9", "12"]);
}

#[test]
fn self_follows_the_calling_task() {
    let (fake, vfs, cx) = setup();
    fake.add(simple(5, 0));
    fake.add(simple(6, 0));
    assert_eq!(errno(vfs.readlink(&cx, At::Cwd, b"/self")), Errno::ENOENT);
    {
        let _outer = enter_task(Caller { pid: 5, tid: 5 });
        assert_eq!(vfs.readlink(&cx, At::Cwd, b"/self").unwrap(), b"5");
        {
            let _inner = enter_task(Caller { pid: 6, tid: 8 });
            assert_eq!(vfs.readlink(&cx, At::Cwd, b"/self").unwrap(), b"6");
            assert_eq!(
                vfs.readlink(&cx, At::Cwd, b"/thread-self").unwrap(),
                b"6/task/8"
            );
        }
        // The outer task is current again, and paths through /proc/self
        // resolve to its directory.
        assert_eq!(current_task(), Some(Caller { pid: 5, tid: 5 }));
        assert_eq!(
            read(&vfs, &cx, "/self/cmdline").unwrap(),
            b"/bin/sh\0-c\0sleep 1\0"
        );
        // Another thread serves another task.
        let other = std::thread::spawn(current_task).join().unwrap();
        assert_eq!(other, None);
    }
    assert_eq!(current_task(), None);
    assert_eq!(
        vfs.readlink(&cx, At::Cwd, b"/mounts").unwrap(),
        b"self/mounts"
    );
}

#[test]
fn stat_has_52_fields_and_survives_odd_names() {
    let (fake, vfs, cx) = setup();
    let mut p = simple(42, 0);
    p.info.comm = b"a (b) c".to_vec();
    p.info.state = 'R';
    p.info.nice = -5;
    fake.add(p);
    let s = text(&vfs, &cx, "/42/stat");
    assert!(s.ends_with('\n'));
    // Parse as ps does: the name ends at the last ')'.
    let close = s.rfind(')').unwrap();
    assert_eq!(&s[..4], "42 (");
    assert_eq!(&s[4..close], "a (b) c");
    let rest: Vec<&str> = s[close + 2..].split_whitespace().collect();
    assert_eq!(rest.len() + 2, 52);
    assert_eq!(rest[0], "R"); // field 3
    assert_eq!(rest[1], "1"); // ppid
    assert_eq!(rest[11], "25"); // utime: 250 ms in ticks (field 14)
    assert_eq!(rest[15], "15"); // priority 20 + nice
    assert_eq!(rest[16], "-5"); // nice
    assert_eq!(rest[19], "200"); // starttime: 2 s (field 22)
    assert_eq!(rest[20], (8u64 << 20).to_string()); // vsize
    assert_eq!(rest[21], "100"); // rss
    assert_eq!(rest[35], "17"); // exit_signal (field 38)
}

#[test]
fn status_and_limits_text() {
    let (fake, vfs, cx) = setup();
    fake.add(simple(3, 1000));
    let s = text(&vfs, &cx, "/3/status");
    for line in [
        "Name:\tsh\n",
        "Umask:\t0022\n",
        "State:\tS (sleeping)\n",
        "Tgid:\t3\n",
        "Pid:\t3\n",
        "PPid:\t1\n",
        "TracerPid:\t0\n",
        "Uid:\t1000\t1000\t1000\t1000\n",
        "Groups:\t10 20 \n",
        "VmRSS:\t     400 kB\n",
        "Threads:\t1\n",
        "SigBlk:\t0000000000000000\n",
        "CapBnd:\t00000000a80425fb\n",
        "NoNewPrivs:\t0\n",
        "Seccomp:\t0\n",
        "Cpus_allowed_list:\t0-1\n",
    ] {
        assert!(s.contains(line), "{line:?} missing from\n{s}");
    }
    let l = text(&vfs, &cx, "/3/limits");
    let open_files = l.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let cols: Vec<&str> = open_files.split_whitespace().collect();
    assert_eq!(cols[3..], ["1024", "4096", "files"]);
    assert!(l.lines().next().unwrap().starts_with("Limit "));
    assert_eq!(l.lines().count(), 17);
    assert_eq!(text(&vfs, &cx, "/3/comm"), "sh\n");
    assert_eq!(text(&vfs, &cx, "/3/statm"), "2048 100 0 0 0 0 0\n");
    assert_eq!(
        text(&vfs, &cx, "/3/maps"),
        "00400000-00401000 r-xp 00000000 00:05 7 /bin/sh\n"
    );
    assert_eq!(vfs.readlink(&cx, At::Cwd, b"/3/exe").unwrap(), b"/bin/sh");
    assert_eq!(vfs.readlink(&cx, At::Cwd, b"/3/cwd").unwrap(), b"/work");
    assert_eq!(vfs.readlink(&cx, At::Cwd, b"/3/root").unwrap(), b"/");
}

#[test]
fn files_belong_to_the_process_owner() {
    let (fake, vfs, cx) = setup();
    fake.add(simple(3, 1000));
    let st = vfs.stat(&cx, At::Cwd, b"/3", true).unwrap();
    assert_eq!((st.uid, st.gid, st.perm()), (1000, 1000, 0o555));
    let env = vfs.stat(&cx, At::Cwd, b"/3/environ", true).unwrap();
    assert_eq!((env.uid, env.perm()), (1000, 0o400));
    let owner = FsContext {
        creds: Credentials::user(1000, 1000),
        ..cx.clone()
    };
    let other = FsContext {
        creds: Credentials::user(2000, 2000),
        ..cx.clone()
    };
    assert_eq!(
        read(&vfs, &owner, "/3/environ").unwrap(),
        b"PATH=/bin\0HOME=/\0"
    );
    assert_eq!(errno(read(&vfs, &other, "/3/environ")), Errno::EACCES);
    assert!(read(&vfs, &other, "/3/cmdline").is_ok());
    assert_eq!(errno(read(&vfs, &other, "/3/fd")), Errno::EACCES);
    // Inode numbers agree between a listing and a lookup.
    let d = vfs.open(&cx, At::Cwd, b"/3", RDONLY, 0).unwrap();
    let ents = d.getdents(4096).unwrap();
    let stat_ent = ents.iter().find(|e| e.name == b"stat").unwrap();
    assert_eq!(
        stat_ent.ino,
        vfs.stat(&cx, At::Cwd, b"/3/stat", true).unwrap().ino
    );
    assert_eq!(errno(vfs.mkdir(&cx, At::Cwd, b"/3/x", 0o755)), Errno::EPERM);
    assert_eq!(errno(vfs.unlink(&cx, At::Cwd, b"/3/stat")), Errno::EPERM);
}

#[test]
fn exited_and_reused_pids() {
    let (fake, vfs, cx) = setup();
    fake.add(simple(8, 1000));
    let f = vfs.open(&cx, At::Cwd, b"/8/status", RDONLY, 0).unwrap();
    assert!(vfs.stat(&cx, At::Cwd, b"/8/stat", true).is_ok());
    fake.remove(8);
    // An open file of a dead process fails to read; its names are gone.
    let mut buf = [0u8; 8];
    assert_eq!(f.read(&mut buf).unwrap_err(), Errno::ESRCH);
    assert_eq!(
        errno(vfs.stat(&cx, At::Cwd, b"/8/stat", true)),
        Errno::ENOENT
    );
    assert_eq!(errno(vfs.stat(&cx, At::Cwd, b"/8", true)), Errno::ENOENT);
    assert_eq!(errno(vfs.stat(&cx, At::Cwd, b"/08", true)), Errno::ENOENT);
    // The PID comes back owned by someone else: no stale owner is shown.
    fake.add(simple(8, 0));
    assert_eq!(vfs.stat(&cx, At::Cwd, b"/8/stat", true).unwrap().uid, 0);
    fake.with(8, |p| {
        p.info.uids = [5; 4];
        p.info.gids = [5; 4];
    });
    assert_eq!(vfs.stat(&cx, At::Cwd, b"/8", true).unwrap().uid, 5);
}

#[test]
fn fd_links_and_fdinfo() {
    let (fake, vfs, cx) = setup();
    let mut p = simple(4, 0);
    p.fds = vec![
        FdEntry {
            file: None,
            fd: 0,
            target: b"pipe:[77]".to_vec(),
            pos: 0,
            flags: RDONLY,
            mnt_id: 3,
            ino: 77,
        },
        FdEntry {
            file: None,
            fd: 1,
            target: b"/dev/null".to_vec(),
            pos: 12,
            flags: libc::O_WRONLY as u32 | libc::O_CLOEXEC as u32,
            mnt_id: 4,
            ino: 9,
        },
        FdEntry {
            file: None,
            fd: 10,
            target: b"/var/log/app".to_vec(),
            pos: 0,
            flags: libc::O_RDWR as u32,
            mnt_id: 4,
            ino: 11,
        },
    ];
    fake.add(p);
    assert_eq!(names(&vfs, &cx, "/4/fd", 4096), ["0", "1", "10"]);
    assert_eq!(names(&vfs, &cx, "/4/fdinfo", 4096), ["0", "1", "10"]);
    assert_eq!(
        vfs.readlink(&cx, At::Cwd, b"/4/fd/0").unwrap(),
        b"pipe:[77]"
    );
    let perms: Vec<u32> = ["0", "1", "10"]
        .iter()
        .map(|n| {
            let path = format!("/4/fd/{n}");
            vfs.stat(&cx, At::Cwd, path.as_bytes(), false)
                .unwrap()
                .perm()
        })
        .collect();
    assert_eq!(perms, [0o500, 0o300, 0o700]);
    assert_eq!(
        text(&vfs, &cx, "/4/fdinfo/1"),
        format!(
            "pos:\t12\nflags:\t0{:o}\nmnt_id:\t4\nino:\t9\n",
            libc::O_WRONLY | libc::O_CLOEXEC
        )
    );
    // fd 10 is closed and 0 reopened: the cached names follow.
    fake.with(4, |p| {
        p.fds.retain(|e| e.fd != 10);
        p.fds[0].target = b"/etc/hosts".to_vec();
    });
    assert_eq!(
        errno(vfs.readlink(&cx, At::Cwd, b"/4/fd/10")),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.readlink(&cx, At::Cwd, b"/4/fd/0").unwrap(),
        b"/etc/hosts"
    );
    assert_eq!(errno(vfs.readlink(&cx, At::Cwd, b"/4/fd/x")), Errno::ENOENT);
}

#[test]
fn threads_have_their_own_directories() {
    let (fake, vfs, cx) = setup();
    let mut p = simple(20, 0);
    p.info.threads = 2;
    let mut worker = proc_info(21, 1, 0);
    worker.tgid = 20;
    worker.comm = b"worker".to_vec();
    worker.state = 'R';
    p.threads.push(worker);
    fake.add(p);
    assert_eq!(names(&vfs, &cx, "/20/task", 4096), ["20", "21"]);
    assert_eq!(text(&vfs, &cx, "/20/task/21/comm"), "worker\n");
    assert!(text(&vfs, &cx, "/20/task/21/stat").starts_with("21 (worker) R "));
    let st = text(&vfs, &cx, "/20/task/21/status");
    assert!(st.contains("Tgid:\t20\n") && st.contains("Pid:\t21\n"));
    let per_thread = names(&vfs, &cx, "/20/task/21", 4096);
    assert!(!per_thread.contains(&"task".to_string()));
    assert!(per_thread.contains(&"fd".to_string()));
    assert_eq!(
        errno(vfs.stat(&cx, At::Cwd, b"/20/task/22", true)),
        Errno::ENOENT
    );
    let _t = enter_task(Caller { pid: 20, tid: 21 });
    assert_eq!(text(&vfs, &cx, "/thread-self/comm"), "worker\n");
}

#[test]
fn mounts_come_from_the_mount_table() {
    let (fake, procvfs, cx) = setup();
    fake.add(simple(1, 0));
    let ns = Arc::new(Vfs::new(Tmpfs::new_memory(), false).unwrap());
    let ncx = FsContext::new(&ns);
    ns.mkdir(&ncx, At::Cwd, b"/proc", 0o555).unwrap();
    ns.mkdir(&ncx, At::Cwd, b"/my dir", 0o755).unwrap();
    let src: Arc<dyn ProcessSource> = fake.clone();
    ns.mount(&ncx, At::Cwd, b"/proc", Procfs::new(src, host()), false)
        .unwrap();
    ns.mount(&ncx, At::Cwd, b"/my dir", Tmpfs::new_memory(), true)
        .unwrap();
    *fake.view.lock().unwrap() = Some(MountView {
        vfs: ns.clone(),
        root: ns.root(),
    });
    let m = text(&procvfs, &cx, "/1/mounts");
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(
        lines,
        [
            "tmpfs / tmpfs rw,relatime 0 0",
            "proc /proc proc rw,relatime 0 0",
            "tmpfs /my\\040dir tmpfs ro,relatime 0 0",
        ]
    );
    let mi = text(&procvfs, &cx, "/1/mountinfo");
    let lines: Vec<Vec<&str>> = mi.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 3);
    let root_id = lines[0][0];
    assert_eq!(lines[1][1], root_id, "proc's parent is the root mount");
    assert_eq!(lines[1][3], "/");
    assert_eq!(lines[1][4], "/proc");
    assert_eq!(lines[1][6..], ["-", "proc", "proc", "rw"]);
    assert!(lines[1][2].starts_with("0:"));
    // Seen from a chroot into /proc, only what is inside it is listed.
    *fake.view.lock().unwrap() = Some(MountView {
        vfs: ns.clone(),
        root: ns.lookup(&ncx, At::Cwd, b"/proc", true).unwrap(),
    });
    assert_eq!(
        text(&procvfs, &cx, "/1/mounts"),
        "proc / proc rw,relatime 0 0\n"
    );
}

#[test]
fn system_files() {
    let (fake, vfs, cx) = setup();
    fake.add(simple(1, 0));
    fake.add(simple(2, 0));
    let mem = text(&vfs, &cx, "/meminfo");
    assert!(mem.starts_with("MemTotal:        1048576 kB\n"), "{mem}");
    assert!(mem.contains("MemFree:         1047776 kB\n"), "{mem}");
    assert!(mem.contains("MemAvailable:"));
    assert_eq!(
        text(&vfs, &cx, "/cpuinfo"),
        "processor\t: 0\nmodel name\t: fake\n"
    );
    assert_eq!(text(&vfs, &cx, "/uptime"), "12.34 24.68\n");
    assert_eq!(text(&vfs, &cx, "/loadavg"), "0.00 0.00 0.00 1/2 2\n");
    let stat = text(&vfs, &cx, "/stat");
    assert!(stat.starts_with("cpu  50 0 0 "), "{stat}");
    assert!(stat.contains("\ncpu1 "));
    assert!(stat.contains("\nbtime "));
    assert!(stat.contains("\nprocesses 2\n"));
    assert!(text(&vfs, &cx, "/version").starts_with("Linux version 4.4.0 "));
    assert!(text(&vfs, &cx, "/version").contains("vigil"));
    assert!(text(&vfs, &cx, "/filesystems").contains("nodev\tproc\n"));
    assert_eq!(text(&vfs, &cx, "/sys/kernel/hostname"), "sandbox\n");
    assert_eq!(text(&vfs, &cx, "/sys/kernel/ostype"), "Linux\n");
    assert_eq!(text(&vfs, &cx, "/sys/kernel/osrelease"), "4.4.0\n");
    assert_eq!(text(&vfs, &cx, "/sys/kernel/pid_max"), "4194304\n");
    assert_eq!(text(&vfs, &cx, "/sys/vm/overcommit_memory"), "0\n");
    assert!(text(&vfs, &cx, "/sys/fs/file-max")
        .trim()
        .parse::<u64>()
        .is_ok());
    let a = text(&vfs, &cx, "/sys/kernel/random/uuid");
    let b = text(&vfs, &cx, "/sys/kernel/random/uuid");
    assert_ne!(a, b);
    assert_eq!(a.len(), 37);
    let boot = text(&vfs, &cx, "/sys/kernel/random/boot_id");
    assert_eq!(boot, text(&vfs, &cx, "/sys/kernel/random/boot_id"));
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/sys/kernel/hostname", WRONLY, 0)),
        Errno::EACCES
    );
    assert_eq!(vfs.statfs(&cx, At::Cwd, b"/").unwrap().fs_type, PROC_MAGIC);
}

#[test]
fn oom_score_adj_is_writable() {
    let (fake, vfs, cx) = setup();
    fake.add(simple(3, 0));
    assert_eq!(text(&vfs, &cx, "/3/oom_score_adj"), "0\n");
    let f = vfs
        .open(
            &cx,
            At::Cwd,
            b"/3/oom_score_adj",
            WRONLY | libc::O_TRUNC as u32,
            0,
        )
        .unwrap();
    assert_eq!(f.write(b"-999\n").unwrap(), 5);
    assert_eq!(f.write(b"1001").unwrap_err(), Errno::EINVAL);
    assert_eq!(f.write(b"abc").unwrap_err(), Errno::EINVAL);
    assert_eq!(*fake.oom_writes.lock().unwrap(), [(3, -999)]);
}

#[test]
fn fd_entries_describe_anonymous_and_named_files() {
    let vfs = Arc::new(Vfs::new(Tmpfs::new_memory(), false).unwrap());
    let cx = FsContext::new(&vfs);
    let f = vfs
        .open(
            &cx,
            At::Cwd,
            b"/log",
            libc::O_CREAT as u32 | libc::O_RDWR as u32,
            0o644,
        )
        .unwrap();
    f.write(b"abc").unwrap();
    let e = FdEntry::describe(&vfs, &cx.root, 3, &f, true);
    assert_eq!(e.target, b"/log");
    assert_eq!(e.pos, 3);
    assert_eq!(e.flags & libc::O_CLOEXEC as u32, libc::O_CLOEXEC as u32);
    let (r, _w) = crate::vfs::pipe::new_pipe(0, 0, 0).unwrap();
    let e = FdEntry::describe(&vfs, &cx.root, 0, &r, false);
    assert_eq!(
        e.target,
        format!("pipe:[{}]", r.stat().unwrap().ino).into_bytes()
    );
}
