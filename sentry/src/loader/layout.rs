//! Address-space constants of an x86-64 process with 4-level page tables and
//! the limits Linux puts on `execve` arguments, with the small computations
//! around them (where a PIE goes, where the mmap area starts, how many
//! argument bytes fit).

use super::error::{LoadError, LoadResult};

/// The only page size the loader supports (x86-64 base pages).
pub const PAGE_SIZE: u64 = 4096;

/// One past the highest user address with 4-level paging (47 bits, minus the
/// guard page Linux keeps below the non-canonical hole).
pub const TASK_SIZE: u64 = (1 << 47) - PAGE_SIZE;

/// Default top of the initial stack, before any randomization.
pub const STACK_TOP: u64 = TASK_SIZE;

/// Where a position-independent main executable goes before randomization:
/// two thirds of the address space, high enough to leave room below for
/// `brk` and low enough to stay clear of the mmap area. The value matches
/// Linux, so a PIE run under vigil without randomization lands where it
/// lands on Linux with `setarch -R` (0x5555_5555_4000 for a 4 KiB aligned
/// binary).
pub const ELF_ET_DYN_BASE: u64 = TASK_SIZE / 3 * 2;

/// Smallest and largest gap Linux leaves between the stack top and the mmap
/// base, whatever the stack rlimit says.
const MMAP_MIN_GAP: u64 = 128 << 20;
const MMAP_MAX_GAP: u64 = TASK_SIZE / 6 * 5;

/// Linux's default `stack_guard_gap` (256 pages), kept free below the stack.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// Longest single argument or environment string, terminating NUL included.
pub const MAX_ARG_STRLEN: u64 = 32 * PAGE_SIZE;

/// Most argument or environment strings `execve` accepts.
pub const MAX_ARG_STRINGS: usize = 0x7fff_ffff;

/// The floor of the argument space, whatever the stack rlimit.
pub const ARG_MAX: u64 = 32 * PAGE_SIZE;

/// Linux's default stack rlimit; arguments never get more than 3/4 of it, so
/// a huge rlimit cannot let the strings eat the whole stack region.
const STK_LIM: u64 = 8 << 20;

/// Rounds down to a page boundary.
pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds up to a page boundary; `None` when that overflows.
pub const fn page_up(addr: u64) -> Option<u64> {
    match addr.checked_add(PAGE_SIZE - 1) {
        Some(a) => Some(page_down(a)),
        None => None,
    }
}

/// The mmap base for the top-down layout: the top of the address space minus
/// a gap that keeps room for the stack to grow to its rlimit (plus the range
/// the stack top may be randomized over and the guard gap), clamped to
/// [128 MiB, 5/6 of the address space], minus `random`, page aligned.
///
/// `stack_random_range` is the largest shift applied to the stack top (0
/// without randomization). The dynamic linker is placed just below this.
pub fn mmap_base(stack_rlimit: u64, stack_random_range: u64, random: u64) -> u64 {
    let pad = stack_random_range.saturating_add(STACK_GUARD_GAP);
    let gap = stack_rlimit
        .checked_add(pad)
        .unwrap_or(stack_rlimit)
        .clamp(MMAP_MIN_GAP, MMAP_MAX_GAP);
    page_down(TASK_SIZE.saturating_sub(gap).saturating_sub(random))
}

/// Accounts the bytes `execve` copies onto the new stack (filename,
/// environment and argument strings) against the limit Linux derives from
/// the stack rlimit, so oversized argument lists fail with `E2BIG` before
/// anything is built.
///
/// The limit is a quarter of the stack rlimit, capped at 3/4 of 8 MiB and
/// never below [`ARG_MAX`], minus the space the pointer arrays will take.
#[derive(Debug, Clone)]
pub struct ArgBudget {
    remaining: u64,
}

impl ArgBudget {
    /// Starts a budget for `argc` arguments and `envc` environment strings.
    /// An empty argv still reserves one pointer, because the loader then
    /// supplies an empty `argv[0]`.
    pub fn new(stack_rlimit: u64, argc: usize, envc: usize) -> LoadResult<ArgBudget> {
        if argc > MAX_ARG_STRINGS || envc > MAX_ARG_STRINGS {
            return Err(LoadError::ArgumentsTooLong);
        }
        let limit = (stack_rlimit / 4).clamp(ARG_MAX, STK_LIM / 4 * 3);
        let pointers = (argc.max(1) as u64 + envc as u64) * 8;
        match limit.checked_sub(pointers) {
            Some(remaining) if remaining > 0 => Ok(ArgBudget { remaining }),
            _ => Err(LoadError::ArgumentsTooLong),
        }
    }

    /// Charges one string (its NUL included).
    pub fn charge(&mut self, s: &[u8]) -> LoadResult<()> {
        let len = s.len() as u64 + 1;
        if len > MAX_ARG_STRLEN || len > self.remaining {
            return Err(LoadError::ArgumentsTooLong);
        }
        self.remaining -= len;
        Ok(())
    }

    /// Gives back the space of a string that was dropped (a script's
    /// `argv[0]`, replaced by the interpreter's arguments).
    pub fn refund(&mut self, s: &[u8]) {
        self.remaining = self.remaining.saturating_add(s.len() as u64 + 1);
    }

    /// Bytes still available.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pie_base_matches_linux_without_randomization() {
        assert_eq!(page_down(ELF_ET_DYN_BASE), 0x5555_5555_4000);
    }

    #[test]
    fn mmap_base_clamps_the_gap() {
        // 8 MiB rlimit + guard gap is below the 128 MiB minimum.
        assert_eq!(mmap_base(8 << 20, 0, 0), TASK_SIZE - (128 << 20));
        // An infinite rlimit is capped at 5/6 of the address space.
        assert_eq!(
            mmap_base(u64::MAX, 0, 0),
            page_down(TASK_SIZE - TASK_SIZE / 6 * 5)
        );
        assert_eq!(
            mmap_base(8 << 20, 0, 0x10_0000),
            TASK_SIZE - (128 << 20) - 0x10_0000
        );
    }

    #[test]
    fn arg_budget_limits() {
        // 8 MiB rlimit: a quarter, 2 MiB, minus 3 pointers.
        let b = ArgBudget::new(8 << 20, 2, 1).unwrap();
        assert_eq!(b.remaining(), (2 << 20) - 24);
        // Tiny rlimit: never below ARG_MAX.
        let b = ArgBudget::new(4096, 0, 0).unwrap();
        assert_eq!(b.remaining(), ARG_MAX - 8);
        // Huge rlimit: capped at 6 MiB.
        let b = ArgBudget::new(u64::MAX, 1, 0).unwrap();
        assert_eq!(b.remaining(), (6 << 20) - 8);
        // Pointer arrays alone exhaust it.
        assert_eq!(
            ArgBudget::new(0, (ARG_MAX / 8) as usize, 0).unwrap_err(),
            LoadError::ArgumentsTooLong
        );
    }

    #[test]
    fn arg_budget_per_string_limit() {
        let mut b = ArgBudget::new(u64::MAX, 1, 0).unwrap();
        b.charge(&vec![b'a'; (MAX_ARG_STRLEN - 1) as usize])
            .unwrap();
        assert_eq!(
            b.charge(&vec![b'a'; MAX_ARG_STRLEN as usize]),
            Err(LoadError::ArgumentsTooLong)
        );
        let before = b.remaining();
        b.charge(b"abc").unwrap();
        assert_eq!(b.remaining(), before - 4);
        b.refund(b"abc");
        assert_eq!(b.remaining(), before);
    }
}
