//! The initial process stack of the x86-64 System V ABI, laid out the way
//! Linux lays it out so that programs inspecting it (and `/proc/PID/cmdline`,
//! `environ` and `auxv`) see what they would see on Linux.
//!
//! From the stack top down:
//!
//! ```text
//!   8 zero bytes
//!   exec filename (AT_EXECFN)
//!   environment strings        env_start .. env_end
//!   argument strings           arg_start .. arg_end
//!   padding (caller's random shift, then 16-byte alignment)
//!   platform string (AT_PLATFORM)
//!   16 random bytes (AT_RANDOM)
//!   padding to 16 bytes
//!   auxv pairs, AT_NULL last
//!   envp pointers, NULL
//!   argv pointers, NULL
//!   argc                       <- rsp, 16-byte aligned
//! ```

use super::error::{LoadError, LoadResult};

/// Auxiliary vector keys (`AT_*`) the loader emits.
pub mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const PLATFORM: u64 = 15;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const HWCAP2: u64 = 26;
    pub const EXECFN: u64 = 31;
    pub const SYSINFO_EHDR: u64 = 33;
    pub const MINSIGSTKSZ: u64 = 51;
}

/// The values of the auxiliary vector that do not point into the stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuxValues {
    /// Program headers of the main executable in memory.
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    pub pagesz: u64,
    /// Load bias of the dynamic linker, 0 without one.
    pub base: u64,
    pub flags: u64,
    /// Entry point of the main executable (not the dynamic linker's).
    pub entry: u64,
    pub uid: u64,
    pub euid: u64,
    pub gid: u64,
    pub egid: u64,
    /// Set for set-user-ID style execs; tells libc to ignore LD_* variables.
    pub secure: bool,
    pub hwcap: u64,
    pub hwcap2: u64,
    /// Clock ticks per second for `times` (100 on Linux).
    pub clktck: u64,
    /// Address of the vDSO's ELF header, if one is mapped.
    pub sysinfo_ehdr: Option<u64>,
    /// Signal frame size the kernel needs, so libc can size alternate stacks.
    pub minsigstksz: u64,
    /// Further entries, placed just before `AT_NULL` (for example the rseq
    /// feature size and alignment when the kernel offers rseq).
    pub extra: Vec<(u64, u64)>,
}

/// Everything the initial stack is built from.
#[derive(Clone, Debug)]
pub struct StackSpec<'a> {
    /// One past the highest stack byte; aligned down to 16 if it is not.
    pub stack_top: u64,
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// The filename `execve` was called with (`AT_EXECFN`).
    pub execfn: &'a [u8],
    /// `AT_RANDOM`'s 16 bytes (libc seeds its stack protector and pointer
    /// guard from them).
    pub random: [u8; 16],
    /// `AT_PLATFORM`, "x86_64"; `None` leaves the entry out.
    pub platform: Option<&'a [u8]>,
    /// Bytes to shift the pointer tables down by (Linux uses a random value
    /// below 8 KiB so the stack pointer is not predictable from the strings);
    /// 0 for none.
    pub shift: u64,
    pub aux: AuxValues,
}

/// The built stack: `bytes` go at `sp .. sp + bytes.len()`, which ends at the
/// (aligned) stack top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialStack {
    /// Initial `rsp`, pointing at `argc`; 16-byte aligned.
    pub sp: u64,
    pub bytes: Vec<u8>,
    /// Range of the argument strings (`/proc/PID/cmdline`).
    pub arg_start: u64,
    pub arg_end: u64,
    /// Range of the environment strings (`/proc/PID/environ`).
    pub env_start: u64,
    pub env_end: u64,
    pub execfn_addr: u64,
    pub random_addr: u64,
    pub platform_addr: Option<u64>,
    /// The auxiliary vector as written, `AT_NULL` included
    /// (`/proc/PID/auxv`).
    pub auxv: Vec<(u64, u64)>,
}

/// Builds the initial stack. Fails with `E2BIG` when the contents would not
/// fit below `stack_top` (address arithmetic would wrap); the size limit on
/// arguments is enforced earlier, by [`super::ArgBudget`]. Strings must not
/// contain NUL bytes (they come from C strings).
pub fn build_stack(spec: &StackSpec<'_>) -> LoadResult<InitialStack> {
    let too_big = || LoadError::ArgumentsTooLong;
    let below = |addr: u64, len: u64| addr.checked_sub(len).ok_or_else(too_big);
    let strings_len = |v: &[Vec<u8>]| v.iter().map(|s| s.len() as u64 + 1).sum::<u64>();

    let top = spec.stack_top & !15;
    // The topmost word stays zero, as on Linux.
    let execfn_addr = below(top, 8 + spec.execfn.len() as u64 + 1)?;
    let env_end = execfn_addr;
    let env_start = below(env_end, strings_len(spec.envp))?;
    let arg_end = env_start;
    let arg_start = below(arg_end, strings_len(spec.argv))?;

    let mut p = below(arg_start, spec.shift)? & !15;
    let platform_addr = match spec.platform {
        Some(platform) => {
            p = below(p, platform.len() as u64 + 1)?;
            Some(p)
        }
        None => None,
    };
    let random_addr = below(p, 16)?;

    let auxv = aux_vector(&spec.aux, random_addr, execfn_addr, platform_addr);
    let words =
        1 + (spec.argv.len() as u64 + 1) + (spec.envp.len() as u64 + 1) + 2 * auxv.len() as u64;
    let sp = below(random_addr, words.checked_mul(8).ok_or_else(too_big)?)? & !15;

    let size = usize::try_from(top - sp).map_err(|_| too_big())?;
    let mut image = StackWriter {
        base: sp,
        bytes: vec![0; size],
    };
    image.put_word(sp, spec.argv.len() as u64);
    let mut slot = sp + 8;
    let mut string = arg_start;
    for strings in [spec.argv, spec.envp] {
        for s in strings {
            image.put_word(slot, string);
            image.put_cstr(string, s);
            slot += 8;
            string += s.len() as u64 + 1;
        }
        // The NULL ending each pointer array is already zero.
        slot += 8;
    }
    for &(key, value) in &auxv {
        image.put_word(slot, key);
        image.put_word(slot + 8, value);
        slot += 16;
    }
    image.put(random_addr, &spec.random);
    if let (Some(addr), Some(platform)) = (platform_addr, spec.platform) {
        image.put_cstr(addr, platform);
    }
    image.put_cstr(execfn_addr, spec.execfn);

    Ok(InitialStack {
        sp,
        bytes: image.bytes,
        arg_start,
        arg_end,
        env_start,
        env_end,
        execfn_addr,
        random_addr,
        platform_addr,
        auxv,
    })
}

/// The auxiliary vector in Linux's order, so a dump of it matches.
fn aux_vector(aux: &AuxValues, random: u64, execfn: u64, platform: Option<u64>) -> Vec<(u64, u64)> {
    let mut v = Vec::with_capacity(24 + aux.extra.len());
    if let Some(vdso) = aux.sysinfo_ehdr {
        v.push((at::SYSINFO_EHDR, vdso));
    }
    v.extend([
        (at::MINSIGSTKSZ, aux.minsigstksz),
        (at::HWCAP, aux.hwcap),
        (at::PAGESZ, aux.pagesz),
        (at::CLKTCK, aux.clktck),
        (at::PHDR, aux.phdr),
        (at::PHENT, aux.phent),
        (at::PHNUM, aux.phnum),
        (at::BASE, aux.base),
        (at::FLAGS, aux.flags),
        (at::ENTRY, aux.entry),
        (at::UID, aux.uid),
        (at::EUID, aux.euid),
        (at::GID, aux.gid),
        (at::EGID, aux.egid),
        (at::SECURE, u64::from(aux.secure)),
        (at::RANDOM, random),
        (at::HWCAP2, aux.hwcap2),
        (at::EXECFN, execfn),
    ]);
    if let Some(p) = platform {
        v.push((at::PLATFORM, p));
    }
    v.extend(aux.extra.iter().copied());
    v.push((at::NULL, 0));
    v
}

/// Writes into the stack image by user address. Every address it is given
/// was computed above to lie inside the image.
struct StackWriter {
    base: u64,
    bytes: Vec<u8>,
}

impl StackWriter {
    fn put(&mut self, addr: u64, data: &[u8]) {
        let at = (addr - self.base) as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
    }

    fn put_word(&mut self, addr: u64, value: u64) {
        self.put(addr, &value.to_le_bytes());
    }

    fn put_cstr(&mut self, addr: u64, s: &[u8]) {
        // The byte after `s` is already zero.
        self.put(addr, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(st: &InitialStack, addr: u64) -> u64 {
        let at = (addr - st.sp) as usize;
        u64::from_le_bytes(st.bytes[at..at + 8].try_into().unwrap())
    }

    fn cstr(st: &InitialStack, addr: u64) -> Vec<u8> {
        let at = (addr - st.sp) as usize;
        let len = st.bytes[at..].iter().position(|&b| b == 0).unwrap();
        st.bytes[at..at + len].to_vec()
    }

    fn spec<'a>(argv: &'a [Vec<u8>], envp: &'a [Vec<u8>]) -> StackSpec<'a> {
        StackSpec {
            stack_top: 0x7fff_ffff_f000,
            argv,
            envp,
            execfn: b"/bin/prog",
            random: *b"0123456789abcdef",
            platform: Some(b"x86_64"),
            shift: 0,
            aux: AuxValues {
                pagesz: 4096,
                phent: 56,
                ..Default::default()
            },
        }
    }

    #[test]
    fn layout_round_trips() {
        let argv = vec![b"prog".to_vec(), b"-x".to_vec(), Vec::new()];
        let envp = vec![b"A=1".to_vec(), b"PATH=/bin".to_vec()];
        let st = build_stack(&spec(&argv, &envp)).unwrap();
        assert_eq!(st.sp % 16, 0);
        assert_eq!(st.sp + st.bytes.len() as u64, 0x7fff_ffff_f000);
        assert_eq!(word(&st, st.sp), 3);
        for (i, a) in argv.iter().enumerate() {
            assert_eq!(&cstr(&st, word(&st, st.sp + 8 + 8 * i as u64)), a);
        }
        let envp_at = st.sp + 8 * (argv.len() as u64 + 2);
        assert_eq!(word(&st, envp_at - 8), 0);
        for (i, e) in envp.iter().enumerate() {
            assert_eq!(&cstr(&st, word(&st, envp_at + 8 * i as u64)), e);
        }
        assert_eq!(word(&st, envp_at + 8 * envp.len() as u64), 0);
        let mut aux = envp_at + 8 * (envp.len() as u64 + 1);
        let mut seen = Vec::new();
        loop {
            let (k, v) = (word(&st, aux), word(&st, aux + 8));
            seen.push((k, v));
            aux += 16;
            if k == at::NULL {
                break;
            }
        }
        assert_eq!(seen, st.auxv);
        let get = |k| st.auxv.iter().find(|e| e.0 == k).unwrap().1;
        assert_eq!(cstr(&st, get(at::EXECFN)), b"/bin/prog");
        assert_eq!(cstr(&st, get(at::PLATFORM)), b"x86_64");
        let r = (get(at::RANDOM) - st.sp) as usize;
        assert_eq!(&st.bytes[r..r + 16], b"0123456789abcdef");
        assert!(!st.auxv.iter().any(|e| e.0 == at::SYSINFO_EHDR));
        // String ranges: argv then envp, contiguous, NUL separated.
        assert_eq!(st.arg_end - st.arg_start, 5 + 3 + 1);
        assert_eq!(st.env_start, st.arg_end);
        assert_eq!(st.env_end - st.env_start, 4 + 10);
        assert_eq!(st.execfn_addr, st.env_end);
        assert_eq!(word(&st, 0x7fff_ffff_f000 - 8), 0);
    }

    #[test]
    fn alignment_holds_for_every_count() {
        for argc in 0..4 {
            for envc in 0..4 {
                for shift in [0, 1, 8, 4095] {
                    let argv = vec![b"a".to_vec(); argc];
                    let envp = vec![b"bb".to_vec(); envc];
                    let mut s = spec(&argv, &envp);
                    s.shift = shift;
                    s.aux.sysinfo_ehdr = (argc % 2 == 1).then_some(0x7fff_f000_0000);
                    let st = build_stack(&s).unwrap();
                    assert_eq!(st.sp % 16, 0);
                    assert_eq!(word(&st, st.sp), argc as u64);
                    assert!(st.random_addr + 16 <= st.platform_addr.unwrap());
                    assert!(st.platform_addr.unwrap() + 7 <= st.arg_start - shift);
                }
            }
        }
    }

    #[test]
    fn aux_order_matches_linux() {
        let mut s = spec(&[], &[]);
        s.aux.sysinfo_ehdr = Some(0x1000);
        s.aux.extra = vec![(27, 28), (28, 32)];
        let keys: Vec<u64> = build_stack(&s).unwrap().auxv.iter().map(|e| e.0).collect();
        assert_eq!(
            keys,
            [33, 51, 16, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 23, 25, 26, 31, 15, 27, 28, 0]
        );
    }

    #[test]
    fn no_room_is_an_error() {
        let mut s = spec(&[], &[]);
        s.stack_top = 0x40;
        assert_eq!(build_stack(&s).unwrap_err(), LoadError::ArgumentsTooLong);
    }
}
