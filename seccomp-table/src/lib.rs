//! seccomp filters kept as data: a process role lists the system calls it
//! may make, each with its argument conditions and the reason it is allowed,
//! and this crate compiles that table into BPF and installs it. Anything
//! outside the table kills the whole process: a compromised process must
//! die, not probe.
//!
//! A role's table lists what the role does; what Rust's std and glibc do on
//! their own in any threaded process is the shared [`STD_RUNTIME`] table.
//!
//! `clone3` cannot be argument-checked (its flags sit behind a pointer), so
//! every filter comes with a second one that answers it with `ENOSYS`; libc
//! then falls back to `clone`, whose flags [`STD_RUNTIME`] checks.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

#[cfg(feature = "test-support")]
pub mod test_support;

/// The `allow!` macro names system calls through this crate's `libc`.
#[doc(hidden)]
pub use libc;

/// Why a filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("compile seccomp filter: {0}")]
    Compile(String),
    #[error("install seccomp filter: {0}")]
    Install(String),
}

/// A comparison of one syscall argument: the bits in `mask` equal `value`.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    index: u8,
    /// Compare only these bits (all bits of the width for plain equality).
    mask: u64,
    value: Value,
    width: Width,
}

/// The C type of an argument: only its low 32 bits are compared for `int`.
#[derive(Debug, Clone, Copy)]
enum Width {
    Int,
    Long,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Const(u64),
    /// This process's id, known when the filter is compiled.
    OwnPid,
}

/// An `int` argument equal to `v`.
pub const fn eq(index: u8, v: i32) -> Arg {
    masked(index, -1, v)
}

/// An `int` argument whose bits in `mask` equal `v`.
pub const fn masked(index: u8, mask: i32, v: i32) -> Arg {
    Arg {
        index,
        mask: mask as u32 as u64,
        value: Value::Const(v as u32 as u64),
        width: Width::Int,
    }
}

/// An `unsigned long` argument whose bits in `mask` equal `v`.
pub const fn masked64(index: u8, mask: u64, v: u64) -> Arg {
    Arg {
        index,
        mask,
        value: Value::Const(v),
        width: Width::Long,
    }
}

/// An `int` argument equal to the id of the process that compiles the
/// filter.
pub const fn own_pid(index: u8) -> Arg {
    Arg {
        index,
        mask: u32::MAX as u64,
        value: Value::OwnPid,
        width: Width::Int,
    }
}

/// An allowed system call: unconditionally if `when` is empty, else when
/// all conditions of any one of its rules hold. Written with [`allow!`].
#[derive(Debug)]
pub struct Allow {
    /// `c_long`, which is `i64` on every architecture seccompiler targets.
    pub nr: i64,
    pub name: &'static str,
    pub when: &'static [&'static [Arg]],
    /// Documentation that the compiler keeps next to the rule.
    pub why: &'static str,
}

/// One table row: `allow!(SYS_name, "why")`, or
/// `allow!(SYS_name, [[cond, ...], ...], "why")` for a call allowed only
/// when all conditions of one of the bracketed rules hold.
#[macro_export]
macro_rules! allow {
    ($nr:ident, $why:literal) => {
        $crate::Allow {
            nr: $crate::libc::$nr,
            name: stringify!($nr),
            when: &[],
            why: $why,
        }
    };
    ($nr:ident, [$($rule:expr),+ $(,)?], $why:literal) => {
        $crate::Allow {
            nr: $crate::libc::$nr,
            name: stringify!($nr),
            when: &[$(&$rule),+],
            why: $why,
        }
    };
}

/// `clone` flags every thread creation has; a `clone` without them would
/// make a process.
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD) as u64;

/// `clone` flags that would give a thread new namespaces or hide it from
/// tracers.
const CLONE_FORBIDDEN: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_UNTRACED
    | libc::CLONE_PIDFD) as u64;

/// The futex operation without its flag bits.
const FUTEX_CMD: i32 = !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);

/// The system calls Rust's std and glibc make on their own in a jailed,
/// threaded process: memory, threads, locks, signal plumbing. Every role
/// compiles its table together with this one, so a role's table lists only
/// what the role itself does. No new executable mappings (a jailed process
/// loads no code), and threads only: never a process or a namespace.
pub static STD_RUNTIME: &[Allow] = &[
    // Memory.
    allow!(
        SYS_mmap,
        [[masked(2, libc::PROT_EXEC, 0)]],
        "the allocator and thread stacks"
    ),
    allow!(
        SYS_mprotect,
        [[masked(2, libc::PROT_EXEC, 0)]],
        "thread stack guard pages"
    ),
    allow!(SYS_munmap, "the allocator and thread stacks"),
    allow!(SYS_mremap, "the allocator grows large buffers"),
    allow!(
        SYS_madvise,
        "the allocator; libc releases finished threads' stacks"
    ),
    allow!(SYS_brk, "the allocator"),
    // Threads.
    allow!(
        SYS_clone,
        [[
            masked64(0, THREAD_FLAGS, THREAD_FLAGS),
            masked64(0, CLONE_FORBIDDEN, 0)
        ]],
        "start a thread; never a process or a namespace"
    ),
    allow!(
        SYS_clone3,
        "reaches only the second filter, which answers ENOSYS so libc uses clone"
    ),
    allow!(SYS_set_robust_list, "libc sets up every new thread"),
    allow!(SYS_rseq, "libc sets up every new thread"),
    allow!(
        SYS_sched_getaffinity,
        "std reads a new thread's attributes (its stack bounds) through libc"
    ),
    allow!(
        SYS_futex,
        [
            [masked(1, FUTEX_CMD, libc::FUTEX_WAIT)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAKE)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAIT_BITSET)],
            [masked(1, FUTEX_CMD, libc::FUTEX_WAKE_BITSET)],
        ],
        "locks, condition variables, joining threads"
    ),
    allow!(SYS_gettid, "libc and logging"),
    allow!(
        SYS_getpid,
        "abort() finds its own pid, so an abort is a SIGABRT"
    ),
    allow!(SYS_getrandom, "hash map seeds, one per thread"),
    allow!(SYS_exit, "a thread ends"),
    allow!(SYS_exit_group, "the process ends"),
    // Signals.
    allow!(
        SYS_rt_sigprocmask,
        "libc blocks signals around thread creation"
    ),
    allow!(SYS_rt_sigaction, "abort() resets SIGABRT before raising it"),
    allow!(SYS_rt_sigreturn, "return from a signal handler"),
    allow!(
        SYS_sigaltstack,
        "each thread's stack-overflow handler stack"
    ),
    allow!(SYS_restart_syscall, "resume a call a signal interrupted"),
    // Time.
    allow!(SYS_clock_gettime, "timestamps when the vDSO falls back"),
];

/// A table's compiled filters, in installation order.
pub struct Programs {
    /// Answers `clone3` with `ENOSYS`, allows everything else.
    clone3: BpfProgram,
    /// The allowlist; kills the process on anything else.
    allowlist: BpfProgram,
}

fn condition(a: &Arg, pid: u32) -> Result<SeccompCondition, Error> {
    let value = match a.value {
        Value::Const(v) => v,
        Value::OwnPid => pid as u64,
    };
    let (len, full) = match a.width {
        Width::Int => (SeccompCmpArgLen::Dword, u32::MAX as u64),
        Width::Long => (SeccompCmpArgLen::Qword, u64::MAX),
    };
    let op = if a.mask == full {
        SeccompCmpOp::Eq
    } else {
        SeccompCmpOp::MaskedEq(a.mask)
    };
    SeccompCondition::new(a.index, len, op, value).map_err(|e| Error::Compile(e.to_string()))
}

fn compile_one(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, Error> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Compile(e.to_string()))?;
    let filter = SeccompFilter::new(rules, mismatch, matched, arch)
        .map_err(|e| Error::Compile(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Compile(e.to_string()))
}

/// Builds the filters of a role's tables (its own and [`STD_RUNTIME`]) for
/// this process. A system call listed twice is an error: the second row
/// would silently replace the first.
pub fn compile(tables: &[&[Allow]]) -> Result<Programs, Error> {
    let pid = std::process::id();
    let mut rules = BTreeMap::new();
    for allow in tables.iter().copied().flatten() {
        let chain = allow
            .when
            .iter()
            .map(|conds| {
                let conds = conds
                    .iter()
                    .map(|a| condition(a, pid))
                    .collect::<Result<Vec<_>, _>>()?;
                SeccompRule::new(conds).map_err(|e| Error::Compile(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rules.insert(allow.nr, chain).is_some() {
            return Err(Error::Compile(format!("{} is listed twice", allow.name)));
        }
    }
    let allowlist = compile_one(rules, SeccompAction::KillProcess, SeccompAction::Allow)?;
    let clone3 = compile_one(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok(Programs { clone3, allowlist })
}

/// Installs compiled filters on every thread of the process (TSYNC). Needs
/// `no_new_privs` (or `CAP_SYS_ADMIN`). Allocates nothing, so it may run in
/// a child forked from a threaded process.
pub fn apply(p: &Programs) -> Result<(), Error> {
    // The clone3 filter goes first: once the allowlist is in, installing
    // another filter would itself be killed.
    for prog in [&p.clone3, &p.allowlist] {
        seccompiler::apply_filter_all_threads(prog).map_err(|e| Error::Install(e.to_string()))?;
    }
    Ok(())
}

/// Compiles a role's tables and installs them on every thread of the
/// process.
pub fn install(tables: &[&[Allow]]) -> Result<(), Error> {
    apply(&compile(tables)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    static TABLE: &[Allow] = &[
        allow!(SYS_read, "unconditional"),
        allow!(
            SYS_fcntl,
            [[eq(1, libc::F_GETFD)], [eq(1, libc::F_SETFD)]],
            "two rules"
        ),
        allow!(SYS_tgkill, [[own_pid(0)]], "resolved at compile time"),
    ];

    #[test]
    fn tables_compile_to_two_programs() {
        let p = compile(&[STD_RUNTIME, TABLE]).unwrap();
        assert!(!p.allowlist.is_empty());
        assert!(!p.clone3.is_empty());
    }

    #[test]
    fn a_call_listed_twice_is_refused() {
        static TWICE: &[Allow] = &[allow!(SYS_brk, "again")];
        let err = compile(&[STD_RUNTIME, TWICE]).err().unwrap();
        assert!(err.to_string().contains("SYS_brk is listed twice"), "{err}");
    }

    #[test]
    fn full_width_masks_compare_for_equality() {
        assert_eq!(eq(1, -1).mask, u32::MAX as u64);
        assert!(matches!(eq(1, -1).value, Value::Const(v) if v == u32::MAX as u64));
        assert_eq!(masked(2, libc::PROT_EXEC, 0).mask, libc::PROT_EXEC as u64);
    }
}
