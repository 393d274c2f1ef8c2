//! End-to-end tests of the platform: real static programs run in stubs, and a
//! miniature kernel in the test serves their system calls.
//!
//! Needs root-equivalent ptrace rights, seccomp user notification and gcc
//! with static glibc. The test programs are compiled into Cargo's per-target
//! temporary directory.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::Duration;

use sentry::platform::{
    CloneKind, Event, ExitStatus, HostTid, Image, Platform, PlatformConfig, Prot, SyscallTrap,
};

use support::*;

/// Helpers shared with the benchmark: building test programs, loading them,
/// and a miniature kernel.
pub mod support {
    use super::*;
    use sentry::platform::Mapping;
    use std::path::PathBuf;
    use std::process::Command;

    /// Compiles `tests/programs/<name>.c` (freestanding unless `libc`) into
    /// the target's temporary directory and returns the binary's bytes.
    pub fn program(name: &str, libc: bool) -> Vec<u8> {
        let src =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"));
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.bin"));
        let fresh = match (std::fs::metadata(&src), std::fs::metadata(&out)) {
            (Ok(s), Ok(o)) => o.modified().unwrap() >= s.modified().unwrap(),
            _ => false,
        };
        if !fresh {
            // A per-process temporary name keeps parallel test binaries from
            // reading a half-written output.
            let tmp = out.with_extension(format!("tmp{}", std::process::id()));
            let mut cmd = Command::new("gcc");
            cmd.args(["-static", "-O2", "-fno-stack-protector", "-o"])
                .arg(&tmp)
                .arg(&src);
            if libc {
                cmd.arg("-pthread");
            } else {
                cmd.args(["-nostdlib", "-fno-builtin", "-Wl,--build-id=none"]);
            }
            let st = cmd.status().expect("run gcc");
            assert!(st.success(), "gcc failed for {name}");
            std::fs::rename(&tmp, &out).unwrap();
        }
        std::fs::read(out).unwrap()
    }

    fn u16_at(b: &[u8], o: usize) -> u64 {
        u64::from(u16::from_le_bytes(b[o..o + 2].try_into().unwrap()))
    }
    fn u32_at(b: &[u8], o: usize) -> u64 {
        u64::from(u32::from_le_bytes(b[o..o + 4].try_into().unwrap()))
    }
    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }

    const PAGE: u64 = 4096;
    const STACK_TOP: u64 = 0x5000_0000_0000;
    const STACK_SIZE: u64 = 1 << 20;

    /// A minimal static-ELF loader: PT_LOAD segments and an initial stack
    /// with argc, argv, envp and auxv, as the sentry's loader will build.
    pub fn load(elf: &[u8], argv: &[&str], envp: &[&str], vdso: Option<u64>) -> Image {
        assert_eq!(&elf[..4], b"\x7fELF");
        let entry = u64_at(elf, 0x18);
        let phoff = u64_at(elf, 0x20);
        let phentsize = u16_at(elf, 0x36);
        let phnum = u16_at(elf, 0x38);
        let mut mappings = Vec::new();
        let mut phdr_addr = 0;
        for i in 0..phnum {
            let ph = (phoff + i * phentsize) as usize;
            if u32_at(elf, ph) != 1 {
                continue; // not PT_LOAD
            }
            let flags = u32_at(elf, ph + 4);
            let (off, vaddr) = (u64_at(elf, ph + 8), u64_at(elf, ph + 0x10));
            let (filesz, memsz) = (u64_at(elf, ph + 0x20), u64_at(elf, ph + 0x28));
            if off <= phoff && phoff < off + filesz {
                phdr_addr = vaddr + (phoff - off);
            }
            let start = vaddr & !(PAGE - 1);
            let end = (vaddr + memsz).div_ceil(PAGE) * PAGE;
            let mut prot = Prot::NONE;
            for (bit, p) in [(4, Prot::READ), (2, Prot::WRITE), (1, Prot::EXEC)] {
                if flags & bit != 0 {
                    prot = prot | p;
                }
            }
            mappings.push(Mapping {
                addr: start,
                len: end - start,
                prot,
                contents: elf[off as usize..(off + filesz) as usize].to_vec(),
                contents_offset: vaddr - start,
            });
        }

        // The stack, built downwards from STACK_TOP: strings, AT_RANDOM
        // bytes, then (16-byte aligned) argc, argv, envp, auxv.
        let base = STACK_TOP - STACK_SIZE;
        let mut data = vec![0u8; STACK_SIZE as usize];
        let mut sp = STACK_TOP;
        let mut push_bytes = |bytes: &[u8], sp: &mut u64| {
            *sp -= bytes.len() as u64;
            let o = (*sp - base) as usize;
            data[o..o + bytes.len()].copy_from_slice(bytes);
            *sp
        };
        let mut str_ptrs = |list: &[&str], sp: &mut u64| -> Vec<u64> {
            list.iter()
                .map(|s| {
                    let mut b = s.as_bytes().to_vec();
                    b.push(0);
                    push_bytes(&b, sp)
                })
                .collect()
        };
        let argv_p = str_ptrs(argv, &mut sp);
        let envp_p = str_ptrs(envp, &mut sp);
        let random = {
            sp -= 16;
            sp
        };
        let mut words = vec![argv.len() as u64];
        words.extend(&argv_p);
        words.push(0);
        words.extend(&envp_p);
        words.push(0);
        let mut aux = vec![
            (3, phdr_addr),
            (4, phentsize),
            (5, phnum),
            (6, PAGE),
            (9, entry),
            (25, random),
        ];
        if let Some(v) = vdso {
            aux.push((33, v));
        }
        for (k, v) in aux {
            words.extend([k, v]);
        }
        words.extend([0, 0]);
        sp = (sp - words.len() as u64 * 8) & !15;
        for (i, w) in words.iter().enumerate() {
            let o = (sp - base) as usize + i * 8;
            data[o..o + 8].copy_from_slice(&w.to_le_bytes());
        }
        let o = (random - base) as usize;
        data[o..o + 16].copy_from_slice(b"0123456789abcdef");
        mappings.push(Mapping {
            addr: base,
            len: STACK_SIZE,
            prot: Prot::RW,
            contents: data,
            contents_offset: 0,
        });
        Image {
            mappings,
            entry,
            stack_pointer: sp,
            name: b"test".to_vec(),
            // No layout: the host keeps the stub's (the platform treats
            // setting it as best effort).
            layout: Default::default(),
        }
    }

    /// What the mini kernel saw.
    #[derive(Default)]
    pub struct Seen {
        pub stdout: Vec<u8>,
        pub exits: HashMap<HostTid, ExitStatus>,
        pub clones: Vec<(HostTid, HostTid, CloneKind)>,
        pub syscalls: Vec<(HostTid, i64)>,
        pub live_groups: usize,
    }

    /// What a test's hook did with a trapped call.
    pub enum Hook {
        Handled,
        Default(SyscallTrap),
    }

    /// A miniature kernel: serves write(1/2) and ENOSYS for the rest, unless
    /// the test's hook takes the call first. (Process ids are native.)
    pub struct MiniKernel {
        pub platform: Platform,
        pub rx: mpsc::Receiver<Event>,
        pub seen: Seen,
    }

    impl MiniKernel {
        pub fn start() -> MiniKernel {
            let (tx, rx) = mpsc::channel();
            let platform = Platform::new(tx, PlatformConfig::default()).expect("start platform");
            MiniKernel {
                platform,
                rx,
                seen: Seen::default(),
            }
        }

        /// Starts `elf` in a new stub.
        pub fn spawn(&mut self, elf: &[u8], argv: &[&str]) -> HostTid {
            let tid = self.platform.create_process().expect("create stub");
            let image = load(elf, argv, &["HOME=/"], self.platform.vdso_base());
            self.platform
                .install_image(tid, image)
                .expect("install image");
            self.seen.live_groups += 1;
            tid
        }

        /// Serves events until every stub group exited. `hook` sees every
        /// event first (with the kernel) and may consume syscalls.
        pub fn run(&mut self, mut hook: impl FnMut(&mut MiniKernel, Event) -> Option<Event>) {
            while self.seen.live_groups > 0 {
                let ev = self
                    .rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("stub made no progress for 30s");
                let Some(ev) = hook(self, ev) else { continue };
                self.default_event(ev);
            }
        }

        pub fn default_event(&mut self, ev: Event) {
            match ev {
                Event::Syscall(t) => self.default_syscall(t),
                Event::Cloned {
                    parent,
                    child,
                    kind,
                } => {
                    self.seen.clones.push((parent, child, kind));
                    if kind != CloneKind::Thread {
                        self.seen.live_groups += 1;
                    }
                }
                Event::Exited {
                    tid, status, last, ..
                } => {
                    self.seen.exits.insert(tid, status);
                    if last {
                        self.seen.live_groups -= 1;
                    }
                }
                Event::ExecRequested { tid, .. } => {
                    self.platform.fail_exec(tid, libc::ENOENT).unwrap();
                }
                Event::Signal { tid, .. } => {
                    self.platform.resume_signal(tid, None).unwrap();
                }
            }
        }

        pub fn default_syscall(&mut self, t: SyscallTrap) {
            self.seen.syscalls.push((t.tid, t.nr));
            let r = match t.nr {
                libc::SYS_write if t.args[0] == 1 || t.args[0] == 2 => {
                    let mut buf = vec![0u8; t.args[2].min(1 << 16) as usize];
                    match t.memory().read_bytes(t.args[1], &mut buf) {
                        Ok(()) => {
                            self.seen.stdout.extend_from_slice(&buf);
                            t.reply_value(buf.len() as i64)
                        }
                        Err(_) => t.reply_errno(libc::EFAULT),
                    }
                }
                _ => t.reply_errno(libc::ENOSYS),
            };
            // A killed caller is not an error for the kernel.
            let _ = r;
        }
    }
}

fn code(seen: &Seen, tid: HostTid) -> Option<ExitStatus> {
    seen.exits.get(&tid).copied()
}

#[test]
fn write_is_served_and_exit_code_observed() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("hello", false), &["hello"]);
    k.run(|_, e| Some(e));
    assert_eq!(k.seen.stdout, b"hello\n");
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(3)));
}

#[test]
fn init_stub_is_pid_1_of_its_own_namespace() {
    let mut k = MiniKernel::start();
    let tid = k.platform.create_process().expect("create stub");
    assert_ne!(tid.0, 1);
    assert_eq!(k.platform.ns_tid(tid).unwrap(), 1);
    let image = load(
        &program("getpid", false),
        &["getpid"],
        &[],
        k.platform.vdso_base(),
    );
    k.platform.install_image(tid, image).unwrap();
    k.seen.live_groups += 1;
    k.run(|_, e| Some(e));
    // The native getpid answered 1; nothing was trapped.
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(1)));
    assert!(k.seen.syscalls.is_empty(), "{:?}", k.seen.syscalls);
    // Each tree has a namespace of its own: a second one is pid 1 as well.
    let other = k.platform.create_process().unwrap();
    assert_eq!(k.platform.ns_tid(other).unwrap(), 1);
    k.platform.kill(other).unwrap();
    // Gone threads, and ids that are not stubs, are errors, not guesses.
    assert!(k.platform.ns_tid(tid).is_err());
    assert!(k
        .platform
        .ns_tid(HostTid(std::process::id() as i32))
        .is_err());
    assert!(k.platform.ns_tid(HostTid(0)).is_err());
    assert!(k.platform.ns_tid(HostTid(-1)).is_err());
}

#[test]
fn unimplemented_syscall_returns_enosys() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("enosys", false), &["enosys"]);
    k.run(|_, e| Some(e));
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(libc::ENOSYS)));
    assert!(k.seen.syscalls.contains(&(tid, libc::SYS_bpf)));
}

#[test]
fn threads_are_reported_and_served() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("threads", true), &["threads"]);
    let mut ns_tids = vec![];
    k.run(|k, e| {
        if let Event::Cloned { child, .. } = &e {
            ns_tids.push(k.platform.ns_tid(*child).unwrap());
        }
        Some(e)
    });
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(0)));
    ns_tids.sort();
    assert_eq!(
        ns_tids,
        [2, 3, 4, 5],
        "threads are numbered in the namespace"
    );
    let threads: Vec<_> = k
        .seen
        .clones
        .iter()
        .filter(|c| c.2 == CloneKind::Thread)
        .collect();
    assert_eq!(threads.len(), 4, "{:?}", k.seen.clones);
    let mut lines: Vec<&str> = std::str::from_utf8(&k.seen.stdout)
        .unwrap()
        .lines()
        .collect();
    lines.sort();
    assert_eq!(lines, ["thread 0", "thread 1", "thread 2", "thread 3"]);
    // Each worker's write came from its own host thread.
    for (_, child, _) in threads {
        assert!(
            k.seen.syscalls.contains(&(*child, libc::SYS_write)),
            "no write from {child:?}"
        );
        assert!(k.seen.exits.contains_key(child));
    }
}

#[test]
fn fork_child_is_traced_and_waited() {
    let mut k = MiniKernel::start();
    let parent = k.spawn(&program("fork", true), &["fork"]);
    // wait4 parks until the child's exit event: the trap's reply token is
    // kept aside, as a blocking call in the real kernel would be.
    let mut parked: Option<SyscallTrap> = None;
    let mut child_status: Option<(HostTid, i32)> = None;
    let mut ns_ids = HashMap::new();
    k.run(|k, e| {
        let e = match e {
            Event::Cloned { parent, child, .. } => {
                ns_ids.insert(parent, k.platform.ns_tid(parent).unwrap());
                ns_ids.insert(child, k.platform.ns_tid(child).unwrap());
                Some(e)
            }
            Event::Syscall(t) if t.nr == libc::SYS_wait4 => {
                parked = Some(t);
                None
            }
            Event::Exited {
                tid,
                status: ExitStatus::Code(c),
                last,
                tgid,
            } if tid != parent => {
                child_status = Some((tid, c));
                Some(Event::Exited {
                    tid,
                    status: ExitStatus::Code(c),
                    last,
                    tgid,
                })
            }
            e => Some(e),
        };
        if let (Some((child, c)), true) = (child_status, parked.is_some()) {
            let t = parked.take().unwrap();
            // The child's exit sends the parent a host SIGCHLD, which
            // interrupts the pending notification; the host restarts the
            // call, so a stale token fails and a fresh wait4 trap follows.
            let status_ok = t.args[1] == 0 || t.memory().write(t.args[1], &(c << 8)).is_ok();
            if status_ok {
                // wait4 reports the pid the parent knows: the namespace's.
                let _ = t.reply_value(i64::from(ns_ids[&child]));
            }
        }
        e
    });
    let forks: Vec<_> = k
        .seen
        .clones
        .iter()
        .filter(|c| c.2 == CloneKind::Process)
        .collect();
    assert_eq!(forks.len(), 1);
    let child = forks[0].1;
    assert_eq!(forks[0].0, parent);
    assert!(
        k.seen.syscalls.contains(&(child, libc::SYS_getuid)),
        "child's getuid not seen with its tid"
    );
    assert_eq!(ns_ids[&parent], 1);
    assert_eq!(ns_ids[&child], 2);
    // The child exited with its own getpid(); the parent exits 5 only if
    // fork() returned that same number.
    assert_eq!(code(&k.seen, child), Some(ExitStatus::Code(2)));
    assert_eq!(code(&k.seen, parent), Some(ExitStatus::Code(5)));
}

#[test]
fn exec_installs_a_new_image() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("exec", true), &["exec"]);
    let second = program("second", true);
    let mut parked_reads = Vec::new();
    let mut exec_args = None;
    k.run(|k, e| match e {
        Event::Syscall(t) if t.nr == libc::SYS_read => {
            // Never answered: the reader must be killed by the exec.
            parked_reads.push(t.hold());
            None
        }
        Event::ExecRequested { tid: t, args, .. } => {
            let mem = k.platform.memory(t);
            let path = mem.read_cstring(args[0], 4096).unwrap();
            exec_args = Some(String::from_utf8(path).unwrap());
            let argv0: u64 = mem.read(args[1]).unwrap();
            let argv1: u64 = mem.read(args[1] + 8).unwrap();
            let a0 = String::from_utf8(mem.read_cstring(argv0, 4096).unwrap()).unwrap();
            let a1 = String::from_utf8(mem.read_cstring(argv1, 4096).unwrap()).unwrap();
            let envp0: u64 = mem.read(args[2]).unwrap();
            let env = String::from_utf8(mem.read_cstring(envp0, 4096).unwrap()).unwrap();
            let image = load(&second, &[&a0, &a1], &[&env], k.platform.vdso_base());
            // The exec releases the reads the kernel holds; reads arriving
            // meanwhile are held at once, as the kernel's receiver threads
            // would, not left queued behind the install it waits for.
            let mut later = Vec::new();
            let installed = std::thread::scope(|s| {
                let platform = &k.platform;
                let install = s.spawn(move || platform.install_image(t, image));
                while !install.is_finished() {
                    match k.rx.recv_timeout(Duration::from_millis(1)) {
                        Ok(Event::Syscall(call)) if call.nr == libc::SYS_read => {
                            parked_reads.push(call.hold())
                        }
                        Ok(other) => later.push(other),
                        Err(_) => {}
                    }
                }
                install.join().expect("install thread")
            });
            installed.expect("install at exec");
            for e in later {
                k.default_event(e);
            }
            None
        }
        e => Some(e),
    });
    assert_eq!(exec_args.as_deref(), Some("/bin/second"));
    let out = String::from_utf8(k.seen.stdout.clone()).unwrap();
    assert_eq!(
        out,
        "before exec\nargc=2 argv0=second argv1=arg-one GREETING=hi clock=1 vdso=1\n"
    );
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(42)));
    // Both helper threads were made to exit by the exec.
    let threads: Vec<_> = k
        .seen
        .clones
        .iter()
        .filter(|c| c.2 == CloneKind::Thread)
        .collect();
    assert_eq!(threads.len(), 2);
    for (_, child, _) in threads {
        assert_eq!(
            code(&k.seen, *child),
            Some(ExitStatus::Code(0)),
            "thread {child:?}"
        );
    }
    // The parked read's caller is gone: answering it is harmless.
    for r in parked_reads {
        assert!(!r.is_pending());
        assert!(r.value(0).is_err());
    }
}

#[test]
fn file_backed_mmap_uses_addfd_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![b'.'; 4096]).unwrap();
    std::fs::write(&path, {
        let mut v = b"FILEDATA".to_vec();
        v.resize(4096, b'.');
        v
    })
    .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("mmap", false), &["mmap"]);
    let mut mmaps = 0;
    k.run(|_, e| match e {
        Event::Syscall(t) if t.nr == libc::SYS_mmap && t.args[4] == 5 => {
            mmaps += 1;
            let r = t.into_reply();
            assert_eq!(r.add_fd(file.as_fd(), Some(5), true).unwrap(), 5);
            r.continue_mmap().unwrap();
            None
        }
        e => Some(e),
    });
    assert_eq!(mmaps, 2);
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(0)));
    assert_eq!(k.seen.stdout, b"FILEDATA");
    assert_eq!(&std::fs::read(&path).unwrap()[..8], b"SHARED!A");
}

#[test]
fn continue_is_refused_for_anything_but_mmap() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("getuid", false), &["getuid"]);
    k.run(|_, e| match e {
        Event::Syscall(t) if t.nr == libc::SYS_getuid => {
            let r = t.into_reply();
            assert!(r.continue_mmap().is_err());
            // The refused token was consumed and answered nothing; its
            // drop did, with ENOSYS.
            None
        }
        e => Some(e),
    });
    assert_eq!(
        code(&k.seen, tid),
        Some(ExitStatus::Code(-libc::ENOSYS & 0xff))
    );
}

#[test]
fn confinement_holds() {
    let secret = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut &secret, b"SECRET").unwrap();
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("security", false), &["security"]);
    k.run(|_, e| match e {
        Event::Syscall(t) if t.nr == libc::SYS_getuid => {
            let r = t.into_reply();
            r.add_fd(secret.as_fd(), Some(7), false).unwrap();
            r.value(0).unwrap();
            None
        }
        Event::Syscall(t) if t.nr == libc::SYS_read => {
            // The kernel never handed out fd 7: whatever the host table holds.
            let _ = t.reply_errno(libc::EBADF);
            None
        }
        Event::Syscall(t) if t.nr == libc::SYS_mount || t.nr == libc::SYS_ptrace => {
            let _ = t.reply_errno(libc::EPERM);
            None
        }
        e => Some(e),
    });
    assert_eq!(k.seen.stdout, b"TTTT");
    for nr in [
        libc::SYS_read,
        libc::SYS_mount,
        libc::SYS_ptrace,
        libc::SYS_bpf,
    ] {
        assert!(
            k.seen.syscalls.contains(&(tid, nr)) || nr != libc::SYS_bpf,
            "nr {nr} not trapped"
        );
    }
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(0)));
}

#[test]
fn foreign_abis_are_killed() {
    for name in ["int80", "x32"] {
        let mut k = MiniKernel::start();
        let tid = k.spawn(&program(name, false), &[name]);
        k.run(|_, e| Some(e));
        assert_eq!(
            code(&k.seen, tid),
            Some(ExitStatus::Signaled {
                signal: libc::SIGSYS,
                core_dumped: false
            }),
            "{name}"
        );
    }
}

#[test]
fn memory_access_is_bounds_checked() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("hello", false), &["hello"]);
    k.run(|_, e| match e {
        Event::Syscall(t) if t.nr == libc::SYS_write => {
            let m = t.memory();
            let mut b = [0u8; 6];
            assert!(m.read_bytes(0, &mut b).is_err(), "page zero is unmapped");
            assert!(
                m.read_bytes(u64::MAX - 2, &mut b).is_err(),
                "range overflows"
            );
            let s = m.read_cstring(t.args[1], 3);
            assert!(s.is_err(), "longer than max");
            m.read_bytes(t.args[1], &mut b).unwrap();
            assert_eq!(&b, b"hello\n");
            // Text is read-only: a write must fail cleanly, not fault.
            assert!(m.write_bytes(t.args[1], b"x").is_err());
            Some(Event::Syscall(t))
        }
        e => Some(e),
    });
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(3)));
}

#[test]
fn dropping_the_platform_kills_stubs() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("getuid", false), &["getuid"]);
    // Take the getuid trap and hold it unanswered while the platform goes.
    let ev = k.rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(matches!(ev, Event::Syscall(_)));
    drop(k);
    drop(ev);
    // The stub must be gone and reaped: no process with that pid is still
    // our child (the pid itself may in principle be reused by someone else).
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", tid.0)).unwrap_or_default();
    let ppid = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().nth(1))
        .unwrap_or("0");
    assert_ne!(
        ppid,
        std::process::id().to_string(),
        "stub {} outlived its platform",
        tid.0
    );
}

#[test]
fn sentry_signals_pass_through_and_init_ignores_default_ones() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("getuid", false), &["getuid"]);
    let mut signalled = false;
    let mut getuids = 0;
    k.run(|_, e| match e {
        Event::Syscall(t) if t.nr == libc::SYS_getuid => {
            getuids += 1;
            if !signalled {
                // Hold the call and signal the thread as the sentry does:
                // the signal is not reported back, it does not abort a call
                // the sentry has received (only a fatal one would), and the
                // init's default action for SIGUSR1 is ignored, as in a
                // container.
                signalled = true;
                sentry::platform::tgkill(tid.0, tid.0, libc::SIGUSR1).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                assert!(t.into_reply().value(0).is_ok(), "the held call was aborted");
            } else {
                let _ = t.reply_value(0);
            }
            None
        }
        Event::Signal { signal, .. } => panic!("sentry-sent signal reported: {signal:?}"),
        e => Some(e),
    });
    assert_eq!(getuids, 1, "the held call was restarted");
    assert_eq!(code(&k.seen, tid), Some(ExitStatus::Code(0)));
}

#[test]
fn unhandled_fault_kills_an_init_stub() {
    let mut k = MiniKernel::start();
    let tid = k.spawn(&program("segv", false), &["segv"]);
    let mut faults = 0;
    k.run(|k, e| match e {
        Event::Signal { tid: t, signal } => {
            assert_eq!(signal.signo, libc::SIGSEGV);
            assert_eq!(signal.sender, 0);
            faults += 1;
            assert!(faults < 3, "the fault is re-run instead of delivered");
            k.platform.resume_signal(t, Some(signal.signo)).unwrap();
            None
        }
        e => Some(e),
    });
    assert_eq!(faults, 1);
    assert_eq!(
        code(&k.seen, tid),
        Some(ExitStatus::Signaled {
            signal: libc::SIGSEGV,
            core_dumped: false
        })
    );
}

/// The parent and the children it created (by fork-like calls), in order.
fn process_children(seen: &Seen, parent: HostTid) -> Vec<HostTid> {
    assert!(
        seen.clones.iter().all(|c| c.2 != CloneKind::Vfork),
        "shared-memory process creation must be reported as a plain fork"
    );
    seen.clones
        .iter()
        .filter(|c| c.0 == parent && c.2 == CloneKind::Process)
        .map(|c| c.1)
        .collect()
}

#[test]
fn vfork_and_clone_vm_become_forks() {
    let mut k = MiniKernel::start();
    let parent = k.spawn(&program("vfork", true), &["vfork"]);
    k.run(|_, e| Some(e));
    let out = String::from_utf8(k.seen.stdout.clone()).unwrap();
    // Exit codes reach the native waitpid; the parent's globals keep the
    // values it wrote, the children's writes stayed in their copies.
    assert_eq!(out, "vfork=7 g=1 clone=9 h=1\n");
    assert_eq!(code(&k.seen, parent), Some(ExitStatus::Code(0)));
    let children = process_children(&k.seen, parent);
    assert_eq!(children.len(), 2);
    assert_eq!(code(&k.seen, children[0]), Some(ExitStatus::Code(7)));
    assert_eq!(code(&k.seen, children[1]), Some(ExitStatus::Code(9)));
    // No vfork reached the kernel as a trapped call.
    assert!(!k.seen.syscalls.iter().any(|s| s.1 == libc::SYS_vfork));
}

#[test]
fn vfork_child_exec_leaves_the_parent_intact() {
    let mut k = MiniKernel::start();
    let parent = k.spawn(&program("vfork_exec", true), &["vfork_exec"]);
    let second = program("second", true);
    let mut execs = Vec::new();
    k.run(|k, e| match e {
        Event::ExecRequested { tid, args, .. } => {
            let mem = k.platform.memory(tid);
            let path = mem.read_cstring(args[0], 4096).unwrap();
            execs.push((tid, String::from_utf8(path).unwrap()));
            let image = load(
                &second,
                &["second", "arg-one"],
                &["GREETING=hi"],
                k.platform.vdso_base(),
            );
            k.platform
                .install_image(tid, image)
                .expect("install at exec");
            None
        }
        e => Some(e),
    });
    let children = process_children(&k.seen, parent);
    assert_eq!(children.len(), 2);
    assert_eq!(
        execs,
        children
            .iter()
            .map(|&c| (c, "/bin/second".to_string()))
            .collect::<Vec<_>>()
    );
    let out = String::from_utf8(k.seen.stdout.clone()).unwrap();
    let line = "argc=2 argv0=second argv1=arg-one GREETING=hi clock=1 vdso=1\n";
    assert_eq!(
        out,
        format!("{line}{line}vfork child=42 spawn child=42 parent sum=16773120\n")
    );
    for c in children {
        assert_eq!(code(&k.seen, c), Some(ExitStatus::Code(42)));
    }
    assert_eq!(code(&k.seen, parent), Some(ExitStatus::Code(3)));
}
