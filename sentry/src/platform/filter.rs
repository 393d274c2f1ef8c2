//! The stub's seccomp filter, written as data and assembled into classic BPF.
//!
//! `seccompiler` cannot express `SECCOMP_RET_USER_NOTIF`, so the filter is
//! assembled here. Every rule carries the reason it exists; anything without a
//! rule is routed to the sentry by user notification, so forgetting a rule
//! costs speed, never safety.

use super::sys::*;

/// What the filter does with a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run natively in the host kernel.
    Allow,
    /// Fail natively with this errno, without bothering the sentry.
    Errno(u16),
    /// Stop for the ptrace tracer (`PTRACE_EVENT_SECCOMP`, with this data).
    Trace(u16),
    /// Ask the sentry by user notification.
    Notify,
    /// Kill the whole stub process.
    Kill,
    /// Go on with the following rules as if this one had not matched (the
    /// next rule for the same call, or the default). Only valid as a rule's
    /// `otherwise`; it lets several rules split one call three or more ways.
    Next,
}

impl Action {
    fn ret_value(self) -> u32 {
        match self {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | u32::from(e),
            Action::Trace(d) => SECCOMP_RET_TRACE | u32::from(d),
            Action::Notify => SECCOMP_RET_USER_NOTIF,
            Action::Kill => SECCOMP_RET_KILL_PROCESS,
            Action::Next => unreachable!("Action::Next is not a filter verdict"),
        }
    }
}

/// A test on the low 32 bits of one system call argument. Every argument the
/// filter inspects is an `int` in the kernel's prototype, so the high half is
/// ignored by the kernel as well.
#[derive(Clone, Copy, Debug)]
pub enum Cond {
    /// `arg & mask != 0`.
    AnySet { arg: u8, mask: u32 },
    /// `arg & mask == 0`.
    NoneSet { arg: u8, mask: u32 },
    /// Every bit of `set` is set and every bit of `clear` is clear:
    /// `arg & (set | clear) == set`.
    SetAndClear { arg: u8, set: u32, clear: u32 },
    /// `arg` is one of the values.
    OneOf { arg: u8, values: &'static [u32] },
    /// `arg` is none of the values.
    NoneOf { arg: u8, values: &'static [u32] },
}

/// One entry of the filter: for system call `nr`, if `cond` holds (or there
/// is none) take `then`, otherwise `otherwise`.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub nr: i64,
    pub cond: Option<Cond>,
    pub then: Action,
    pub otherwise: Action,
    /// Why the rule exists; kept next to the rule so a reviewer sees both.
    pub why: &'static str,
}

/// The data tag of the `RET_TRACE` stop for `execve`.
pub const TRACE_EXECVE: u16 = 1;
/// The data tag of the `RET_TRACE` stop for `execveat`.
pub const TRACE_EXECVEAT: u16 = 2;
/// The data tag of the `RET_TRACE` stop for `vfork` (made a `fork`).
pub const TRACE_VFORK: u16 = 3;
/// The data tag of the `RET_TRACE` stop for a `clone` of a process that
/// would share memory or suspend its parent (made a plain fork-like clone).
pub const TRACE_CLONE_VM: u16 = 4;

const fn rule(nr: i64, then: Action, why: &'static str) -> Rule {
    Rule {
        nr,
        cond: None,
        then,
        otherwise: Action::Notify,
        why,
    }
}

const fn checked(nr: i64, cond: Cond, why: &'static str) -> Rule {
    Rule {
        nr,
        cond: Some(cond),
        then: Action::Allow,
        otherwise: Action::Notify,
        why,
    }
}

/// Clone flags a stub may never use natively: new namespaces, escaping the
/// tracer, reparenting to the sentry, and pidfds (a host fd the app could
/// use). The sentry sees such a clone by notification and refuses it.
const CLONE_FORBIDDEN: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_UNTRACED
    | libc::CLONE_PTRACE
    | libc::CLONE_PARENT
    | libc::CLONE_PIDFD) as u32;

/// `madvise` advice that needs privilege and acts on host pages beyond the
/// caller's own mapping (memory-failure injection).
const MADV_PRIVILEGED: &[u32] = &[
    100, /* MADV_HWPOISON */
    101, /* MADV_SOFT_OFFLINE */
];

const ARCH_FS: &[u32] = &[0x1002 /* ARCH_SET_FS */, 0x1003 /* ARCH_GET_FS */];

/// The stub filter. Order matters only for speed: hot calls first.
pub const STUB_RULES: &[Rule] = &[
    rule(libc::SYS_futex, Action::Allow, "thread synchronisation; addresses only, no host objects"),
    checked(
        libc::SYS_mmap,
        Cond::AnySet { arg: 3, mask: libc::MAP_ANONYMOUS as u32 },
        "anonymous memory is the stub's own; file mappings need the sentry's fd",
    ),
    rule(libc::SYS_munmap, Action::Allow, "address-space management of the stub's own memory"),
    rule(libc::SYS_mprotect, Action::Allow, "address-space management of the stub's own memory"),
    checked(
        libc::SYS_madvise,
        Cond::NoneOf { arg: 2, values: MADV_PRIVILEGED },
        "page hints on own memory; memory-failure injection goes to the sentry",
    ),
    rule(libc::SYS_mremap, Action::Allow, "address-space management of the stub's own memory"),
    rule(libc::SYS_brk, Action::Allow, "the heap is the stub's own memory"),
    rule(libc::SYS_rt_sigprocmask, Action::Allow, "the host delivers signals into the stub's frames"),
    rule(libc::SYS_rt_sigaction, Action::Allow, "the host builds signal frames for the stub"),
    rule(libc::SYS_rt_sigreturn, Action::Allow, "returns from a host-built signal frame"),
    rule(libc::SYS_sigaltstack, Action::Allow, "the host builds signal frames for the stub"),
    rule(libc::SYS_restart_syscall, Action::Allow, "restarts an interrupted native sleep or futex"),
    Rule {
        nr: libc::SYS_clone,
        cond: Some(Cond::SetAndClear {
            arg: 0,
            set: libc::CLONE_VM as u32,
            clear: libc::CLONE_THREAD as u32 | CLONE_FORBIDDEN,
        }),
        then: Action::Trace(TRACE_CLONE_VM),
        otherwise: Action::Next,
        why: "a process sharing its parent's memory would take the parent's image down at its exec; the tracer makes it a copy",
    },
    Rule {
        nr: libc::SYS_clone,
        cond: Some(Cond::SetAndClear {
            arg: 0,
            set: libc::CLONE_VFORK as u32,
            clear: libc::CLONE_THREAD as u32 | CLONE_FORBIDDEN,
        }),
        then: Action::Trace(TRACE_CLONE_VM),
        otherwise: Action::Next,
        why: "the sentry's exec is no host exec, so a vfork parent would stay suspended until the child exits; the tracer drops the flag",
    },
    checked(
        libc::SYS_clone,
        Cond::NoneSet { arg: 0, mask: CLONE_FORBIDDEN },
        "threads and forks are host tasks, reported to the tracer; namespaces and untraced children are not",
    ),
    rule(libc::SYS_fork, Action::Allow, "the same as clone(SIGCHLD), which is native"),
    rule(libc::SYS_vfork, Action::Trace(TRACE_VFORK), "a shared-memory child would take the parent's image down at its exec; the tracer makes it a fork"),
    rule(libc::SYS_getpid, Action::Allow, "in the sandbox's own pid namespace the host answers with the sandbox's ids"),
    rule(libc::SYS_gettid, Action::Allow, "in the sandbox's own pid namespace the host answers with the sandbox's ids"),
    rule(libc::SYS_getppid, Action::Allow, "in the sandbox's own pid namespace the host answers with the sandbox's ids"),
    rule(libc::SYS_set_tid_address, Action::Allow, "in the sandbox's own pid namespace the host answers with the sandbox's ids"),
    rule(libc::SYS_wait4, Action::Allow, "the host process tree is the sandbox's (own pid namespace): reaping and statuses are exact"),
    rule(libc::SYS_waitid, Action::Allow, "the host process tree is the sandbox's (own pid namespace): reaping and statuses are exact"),
    rule(libc::SYS_kill, Action::Allow, "the sandbox's pid namespace holds only its own processes; the host delivers into native handlers"),
    rule(libc::SYS_tgkill, Action::Allow, "the sandbox's pid namespace holds only its own processes; the host delivers into native handlers"),
    rule(libc::SYS_tkill, Action::Allow, "the sandbox's pid namespace holds only its own processes; the host delivers into native handlers"),
    rule(libc::SYS_rt_sigqueueinfo, Action::Allow, "the sandbox's pid namespace holds only its own processes; the host delivers into native handlers"),
    rule(libc::SYS_rt_tgsigqueueinfo, Action::Allow, "the sandbox's pid namespace holds only its own processes; the host delivers into native handlers"),
    rule(libc::SYS_rt_sigsuspend, Action::Allow, "waits on the native signal mask"),
    rule(libc::SYS_pause, Action::Allow, "waits for a natively delivered signal"),
    rule(libc::SYS_rt_sigtimedwait, Action::Allow, "waits on the native signal mask"),
    rule(libc::SYS_rt_sigpending, Action::Allow, "reads the native signal state"),
    rule(libc::SYS_setitimer, Action::Allow, "interval timers signal the stub process itself, natively"),
    rule(libc::SYS_getitimer, Action::Allow, "interval timers signal the stub process itself, natively"),
    rule(libc::SYS_alarm, Action::Allow, "interval timers signal the stub process itself, natively"),
    rule(libc::SYS_timer_create, Action::Allow, "POSIX timers signal the stub's own threads (ids of its own pid namespace)"),
    rule(libc::SYS_timer_settime, Action::Allow, "POSIX timers signal the stub's own threads (ids of its own pid namespace)"),
    rule(libc::SYS_timer_gettime, Action::Allow, "POSIX timers signal the stub's own threads (ids of its own pid namespace)"),
    rule(libc::SYS_timer_getoverrun, Action::Allow, "POSIX timers signal the stub's own threads (ids of its own pid namespace)"),
    rule(libc::SYS_timer_delete, Action::Allow, "POSIX timers signal the stub's own threads (ids of its own pid namespace)"),
    rule(libc::SYS_clone3, Action::Errno(libc::ENOSYS as u16), "its flags sit behind a pointer BPF cannot read; libc falls back to clone"),
    rule(libc::SYS_exit, Action::Allow, "thread exit; the tracer reports it"),
    rule(libc::SYS_exit_group, Action::Allow, "process exit; the tracer reports it"),
    rule(libc::SYS_clock_gettime, Action::Allow, "time is not virtualised yet; the vDSO reads it natively anyway"),
    rule(libc::SYS_clock_getres, Action::Allow, "time is not virtualised yet"),
    rule(libc::SYS_gettimeofday, Action::Allow, "time is not virtualised yet"),
    rule(libc::SYS_time, Action::Allow, "time is not virtualised yet"),
    rule(libc::SYS_nanosleep, Action::Allow, "sleeping blocks only the calling stub thread"),
    rule(libc::SYS_clock_nanosleep, Action::Allow, "sleeping blocks only the calling stub thread"),
    rule(libc::SYS_sched_yield, Action::Allow, "a scheduling hint about the stub's own thread"),
    rule(libc::SYS_set_robust_list, Action::Allow, "robust futexes live in the stub's own memory"),
    Rule {
        nr: libc::SYS_rseq,
        cond: Some(Cond::OneOf { arg: 2, values: &[1 /* RSEQ_FLAG_UNREGISTER */] }),
        then: Action::Allow,
        otherwise: Action::Errno(libc::ENOSYS as u16),
        why: "registration is optional for libc and stays off; unregistering (used at image installation) is harmless",
    },
    checked(
        libc::SYS_arch_prctl,
        Cond::OneOf { arg: 0, values: ARCH_FS },
        "TLS register of the calling thread; other arch_prctl operations go to the sentry",
    ),
    rule(libc::SYS_execve, Action::Trace(TRACE_EXECVE), "the sentry loads the new image itself under ptrace"),
    rule(libc::SYS_execveat, Action::Trace(TRACE_EXECVEAT), "the sentry loads the new image itself under ptrace"),
];

/// Whether the filter always runs `nr` natively (an unconditional allow
/// rule); every other call may reach the sentry.
pub fn always_native(nr: i64) -> bool {
    STUB_RULES
        .iter()
        .any(|r| r.nr == nr && r.cond.is_none() && matches!(r.then, Action::Allow))
}

/// The action for a system call that matches no rule.
pub const DEFAULT_ACTION: Action = Action::Notify;

/// Assembles `rules` into a BPF program: arch check, x32 check, then one
/// block per rule, then the default.
pub fn assemble(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut p = Vec::new();
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    // A filter only sees numbers of the arch it checked: an `int 0x80` call
    // arrives as AUDIT_ARCH_I386 with the i386 numbering, so it is killed.
    p.push(ins(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH));
    p.push(ins(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64));
    p.push(ins(BPF_RET_K, 0, 0, Action::Kill.ret_value()));
    p.push(ins(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR));
    // x32 numbers share the x86-64 arch value; they must not alias ours.
    p.push(ins(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT));
    p.push(ins(BPF_RET_K, 0, 0, Action::Kill.ret_value()));
    for r in rules {
        let block = rule_block(r);
        let skip = u8::try_from(block.len()).expect("rule block fits a BPF jump");
        p.push(ins(BPF_JMP_JEQ_K, 0, skip, r.nr as u32));
        p.extend(block);
    }
    p.push(ins(BPF_RET_K, 0, 0, DEFAULT_ACTION.ret_value()));
    p
}

/// The instructions run once `nr` matched, laid out as tests, then the
/// `then` return, then the `otherwise` instruction last. Every path ends in a
/// return except `otherwise` = [`Action::Next`], which reloads the call number
/// and falls through to the following rule; so the accumulator may be
/// clobbered.
fn rule_block(r: &Rule) -> Vec<libc::sock_filter> {
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    assert!(r.then != Action::Next, "Action::Next only as `otherwise`");
    let then = ins(BPF_RET_K, 0, 0, r.then.ret_value());
    let otherwise = match r.otherwise {
        Action::Next => ins(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        a => ins(BPF_RET_K, 0, 0, a.ret_value()),
    };
    let Some(cond) = r.cond else {
        return vec![then];
    };
    let load = |arg: u8| ins(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARGS + 8 * u32::from(arg));
    let mut b = match cond {
        Cond::AnySet { arg, mask } => vec![load(arg), ins(BPF_JMP_JSET_K, 0, 1, mask)],
        Cond::NoneSet { arg, mask } => vec![load(arg), ins(BPF_JMP_JSET_K, 1, 0, mask)],
        Cond::SetAndClear { arg, set, clear } => vec![
            load(arg),
            ins(BPF_ALU_AND_K, 0, 0, set | clear),
            ins(BPF_JMP_JEQ_K, 0, 1, set),
        ],
        Cond::OneOf { arg, values } => {
            let mut b = vec![load(arg)];
            let n = values.len();
            for (i, v) in values.iter().enumerate() {
                // A hit jumps over the remaining compares to `then`; the
                // last miss skips `then`.
                let to_then = u8::try_from(n - 1 - i).expect("small value list");
                let jf = u8::from(i == n - 1);
                b.push(ins(BPF_JMP_JEQ_K, to_then, jf, *v));
            }
            b
        }
        Cond::NoneOf { arg, values } => {
            let mut b = vec![load(arg)];
            let n = values.len();
            for (i, v) in values.iter().enumerate() {
                // A hit jumps over the remaining compares and `then`.
                let to_otherwise = u8::try_from(n - i).expect("small value list");
                b.push(ins(BPF_JMP_JEQ_K, to_otherwise, 0, *v));
            }
            b
        }
    };
    b.push(then);
    b.push(otherwise);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny classic-BPF interpreter for the subset `assemble` emits.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                BPF_RET_K => return i.k,
                BPF_ALU_AND_K => acc &= i.k,
                c => {
                    let taken = match c {
                        BPF_JMP_JEQ_K => acc == i.k,
                        BPF_JMP_JGE_K => acc >= i.k,
                        BPF_JMP_JSET_K => acc & i.k != 0,
                        _ => panic!("unexpected opcode {c:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
            }
        }
    }

    fn verdict(nr: i64, args: [u64; 6]) -> u32 {
        run(&assemble(STUB_RULES), AUDIT_ARCH_X86_64, nr as u32, args)
    }

    #[test]
    fn anonymous_mmap_is_native_file_mmap_is_notified() {
        let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        assert_eq!(
            verdict(libc::SYS_mmap, [0, 4096, 3, anon, u64::MAX, 0]),
            SECCOMP_RET_ALLOW
        );
        let file = libc::MAP_PRIVATE as u64;
        assert_eq!(
            verdict(libc::SYS_mmap, [0, 4096, 3, file, 3, 0]),
            SECCOMP_RET_USER_NOTIF
        );
    }

    #[test]
    fn clone_flags_are_checked() {
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(
            verdict(libc::SYS_clone, [thread, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        assert_eq!(
            verdict(libc::SYS_clone, [fork, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        for bad in [libc::CLONE_UNTRACED, libc::CLONE_NEWUSER, libc::CLONE_PIDFD] {
            let flags = fork | bad as u64;
            assert_eq!(
                verdict(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
                SECCOMP_RET_USER_NOTIF
            );
        }
        // A process sharing memory (posix_spawn's CLONE_VM | CLONE_VFORK),
        // or only suspending its parent, stops for the tracer.
        let spawn = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
        for flags in [
            spawn,
            (libc::CLONE_VM | libc::SIGCHLD) as u64,
            (libc::CLONE_VFORK | libc::SIGCHLD) as u64,
        ] {
            assert_eq!(
                verdict(libc::SYS_clone, [flags, 0x1000, 0, 0, 0, 0]),
                SECCOMP_RET_TRACE | u32::from(TRACE_CLONE_VM),
                "flags {flags:#x}"
            );
        }
        // ... unless it also asks for something forbidden: the sentry
        // refuses that.
        assert_eq!(
            verdict(
                libc::SYS_clone,
                [spawn | libc::CLONE_NEWPID as u64, 0, 0, 0, 0, 0]
            ),
            SECCOMP_RET_USER_NOTIF
        );
        // What the tracer rewrites such a clone into is native.
        assert_eq!(
            verdict(libc::SYS_clone, [libc::SIGCHLD as u64, 0x1000, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            verdict(libc::SYS_vfork, [0; 6]),
            SECCOMP_RET_TRACE | u32::from(TRACE_VFORK)
        );
        assert_eq!(verdict(libc::SYS_fork, [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(
            verdict(libc::SYS_clone3, [0; 6]),
            SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn conditions_and_fall_through_assemble_as_written() {
        const TWO: &[u32] = &[7, 9];
        let rules = [
            Rule {
                nr: 1,
                cond: Some(Cond::SetAndClear {
                    arg: 0,
                    set: 0b0011,
                    clear: 0b0100,
                }),
                then: Action::Errno(1),
                otherwise: Action::Next,
                why: "test",
            },
            Rule {
                nr: 1,
                cond: Some(Cond::OneOf {
                    arg: 1,
                    values: TWO,
                }),
                then: Action::Errno(2),
                otherwise: Action::Next,
                why: "test",
            },
            Rule {
                nr: 1,
                cond: Some(Cond::NoneOf {
                    arg: 1,
                    values: TWO,
                }),
                then: Action::Errno(3),
                otherwise: Action::Kill,
                why: "test",
            },
            Rule {
                nr: 2,
                cond: Some(Cond::AnySet { arg: 0, mask: 0b10 }),
                then: Action::Allow,
                otherwise: Action::Next,
                why: "test",
            },
            Rule {
                nr: 3,
                cond: Some(Cond::NoneSet { arg: 0, mask: 0b10 }),
                then: Action::Allow,
                otherwise: Action::Errno(4),
                why: "test",
            },
        ];
        let prog = assemble(&rules);
        let v = |nr: u32, a0: u64, a1: u64| run(&prog, AUDIT_ARCH_X86_64, nr, [a0, a1, 0, 0, 0, 0]);
        let errno = |e: u32| SECCOMP_RET_ERRNO | e;
        // SetAndClear: all of `set`, none of `clear`; other bits are free.
        assert_eq!(v(1, 0b0011, 0), errno(1));
        assert_eq!(v(1, 0b1011, 0), errno(1));
        assert_eq!(v(1, 0xffff_ffff_0000_0003, 0), errno(1));
        // Missing a `set` bit or having a `clear` bit falls through.
        assert_eq!(v(1, 0b0001, 7), errno(2));
        assert_eq!(v(1, 0b0111, 9), errno(2));
        assert_eq!(v(1, 0b0111, 8), errno(3));
        assert_eq!(v(1, 0, 0), errno(3));
        // A fall-through from the last rule of a call reaches the default,
        // even past rules for other calls.
        assert_eq!(v(2, 0b10, 0), SECCOMP_RET_ALLOW);
        assert_eq!(v(2, 0b01, 0), DEFAULT_ACTION.ret_value());
        assert_eq!(v(3, 0b01, 0), SECCOMP_RET_ALLOW);
        assert_eq!(v(3, 0b10, 0), errno(4));
        assert_eq!(v(4, 0, 0), DEFAULT_ACTION.ret_value());
    }

    #[test]
    fn arch_prctl_and_madvise_are_argument_checked() {
        assert_eq!(
            verdict(libc::SYS_arch_prctl, [0x1002, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            verdict(libc::SYS_arch_prctl, [0x1003, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            verdict(libc::SYS_arch_prctl, [0x1011, 0, 0, 0, 0, 0]),
            SECCOMP_RET_USER_NOTIF
        );
        assert_eq!(
            verdict(libc::SYS_madvise, [0, 4096, 4, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            verdict(libc::SYS_madvise, [0, 4096, 100, 0, 0, 0]),
            SECCOMP_RET_USER_NOTIF
        );
    }

    #[test]
    fn ids_are_native() {
        for nr in [
            libc::SYS_getpid,
            libc::SYS_gettid,
            libc::SYS_getppid,
            libc::SYS_set_tid_address,
            libc::SYS_wait4,
            libc::SYS_kill,
            libc::SYS_tgkill,
        ] {
            assert_eq!(verdict(nr, [0; 6]), SECCOMP_RET_ALLOW, "nr {nr}");
        }
    }

    #[test]
    fn everything_else_is_notified_or_traced_or_killed() {
        for nr in [
            libc::SYS_read,
            libc::SYS_getuid,
            libc::SYS_mount,
            libc::SYS_ptrace,
            libc::SYS_bpf,
        ] {
            assert_eq!(verdict(nr, [0; 6]), SECCOMP_RET_USER_NOTIF, "nr {nr}");
        }
        assert_eq!(
            verdict(libc::SYS_execve, [0; 6]),
            SECCOMP_RET_TRACE | u32::from(TRACE_EXECVE)
        );
        assert_eq!(
            verdict(0x4000_0000 + libc::SYS_getpid, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
        let prog = assemble(STUB_RULES);
        assert_eq!(
            run(&prog, 0x4000_0003 /* i386 */, 20, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
    }
}
