//! Raw kernel ABI constants that `libc` does not export for every target,
//! collected in one place so the rest of the platform reads in domain terms.

// seccomp filter return actions (include/uapi/linux/seccomp.h).
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
pub const SECCOMP_SET_MODE_FILTER: u32 = 1;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = 1 << 3;
pub const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u64 = 1 << 5;
pub const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
pub const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
pub const SECCOMP_ADDFD_FLAG_SETFD: u32 = 1;

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// System call numbers at or above this bit belong to the x32 ABI.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes (include/uapi/linux/filter.h).
/// BPF_LD | BPF_W | BPF_ABS (the first two are zero).
pub const BPF_LD_W_ABS: u16 = 0x20;
pub const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
pub const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
pub const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
pub const BPF_RET_K: u16 = 0x06;
/// BPF_ALU | BPF_AND | BPF_K.
pub const BPF_ALU_AND_K: u16 = 0x04 | 0x50;

// Offsets into `struct seccomp_data`.
pub const SECCOMP_DATA_NR: u32 = 0;
pub const SECCOMP_DATA_ARCH: u32 = 4;
pub const SECCOMP_DATA_ARGS: u32 = 16;

// ptrace options and events (include/uapi/linux/ptrace.h).
pub const PTRACE_O_TRACESYSGOOD: i32 = 0x01;
pub const PTRACE_O_TRACEFORK: i32 = 0x02;
pub const PTRACE_O_TRACEVFORK: i32 = 0x04;
pub const PTRACE_O_TRACECLONE: i32 = 0x08;
pub const PTRACE_O_TRACESECCOMP: i32 = 0x80;
pub const PTRACE_O_EXITKILL: i32 = 0x0010_0000;
pub const PTRACE_EVENT_FORK: i32 = 1;
pub const PTRACE_EVENT_VFORK: i32 = 2;
pub const PTRACE_EVENT_CLONE: i32 = 3;
pub const PTRACE_EVENT_SECCOMP: i32 = 7;
pub const PTRACE_EVENT_STOP: i32 = 128;

/// The highest user address plus one with 4-level page tables; the host only
/// places mappings above it when asked to by an address hint.
pub const TASK_SIZE_4LEVEL: u64 = 0x7fff_ffff_f000;
pub const PAGE_SIZE: u64 = 4096;

/// A value of this process's own auxiliary vector (`getauxval`): the host
/// kernel's hardware capabilities and signal-frame size, which the sandbox
/// passes on to the programs it loads. 0 if absent.
pub fn host_auxval(key: u64) -> u64 {
    // SAFETY: getauxval only reads the process's auxiliary vector.
    unsafe { libc::getauxval(key) }
}

/// Sends `sig` to host thread `tid` of host process `tgid`; the sentry uses
/// it to raise signals in stubs (the platform lets them through untouched).
pub fn tgkill(tgid: i32, tid: i32, sig: i32) -> Result<(), i32> {
    // SAFETY: tgkill takes three integers and touches no memory.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ESRCH))
    }
}
