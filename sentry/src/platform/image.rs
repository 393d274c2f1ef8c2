//! The description of a program image to install into a stub: what the ELF
//! loader (later work) produces and [`super::Platform::install_image`] consumes.

use super::sys::{PAGE_SIZE, TASK_SIZE_4LEVEL};
use super::PlatformError;

/// Page protection of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot(pub u32);

impl Prot {
    pub const NONE: Prot = Prot(0);
    pub const READ: Prot = Prot(libc::PROT_READ as u32);
    pub const WRITE: Prot = Prot(libc::PROT_WRITE as u32);
    pub const EXEC: Prot = Prot(libc::PROT_EXEC as u32);
    pub const RW: Prot = Prot((libc::PROT_READ | libc::PROT_WRITE) as u32);
    pub const RX: Prot = Prot((libc::PROT_READ | libc::PROT_EXEC) as u32);
}

impl std::ops::BitOr for Prot {
    type Output = Prot;
    fn bitor(self, o: Prot) -> Prot {
        Prot(self.0 | o.0)
    }
}

/// One private mapping of the new image. It is created anonymous and
/// zero-filled, `contents` is copied in at `contents_offset`, then `prot` is
/// applied. (A file-backed variant, mapping a host fd the sentry got from the
/// gofer so text pages are shared through the page cache, is planned.)
#[derive(Clone, Debug)]
pub struct Mapping {
    /// Page-aligned start address.
    pub addr: u64,
    /// Length in bytes; rounded up to whole pages.
    pub len: u64,
    pub prot: Prot,
    pub contents: Vec<u8>,
    /// Where `contents` starts, relative to `addr`.
    pub contents_offset: u64,
}

/// A complete image: its mappings (stack included) and initial registers.
/// All other general registers start at zero, `fs_base` at 0, the FPU in its
/// reset state.
#[derive(Clone, Debug)]
pub struct Image {
    pub mappings: Vec<Mapping>,
    /// Initial `rip`.
    pub entry: u64,
    /// Initial `rsp` (pointing at `argc` per the x86-64 ABI).
    pub stack_pointer: u64,
    /// The host process's name (`comm`, at most 15 bytes), as Linux sets it
    /// at exec, so host tools (`ps`, `podman top`) name the program rather
    /// than the stub.
    pub name: Vec<u8>,
    /// The layout the host kernel keeps for the address space: the heap
    /// (`brk`) starts where Linux's exec would put it, and host tools read
    /// the command line and environment from the new stack.
    pub layout: MmLayout,
}

/// The address-space layout the host kernel records for a process (what
/// `prctl(PR_SET_MM_MAP)` takes; no privilege is needed without an
/// executable file to change). Every address must be a mappable user
/// address, each range ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
pub struct MmLayout {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// `auxv` pointer and size (0: unchanged), and the executable file
    /// (`u32::MAX`: unchanged).
    pub auxv: u64,
    pub auxv_size: u32,
    pub exe_fd: u32,
}

impl Image {
    /// Rejects images the injection could not install faithfully: unaligned
    /// or overflowing mappings, contents that do not fit, overlaps with each
    /// other or with the reserved ranges (trampoline, vDSO, vvar).
    pub(crate) fn validate(&self, reserved: &[(u64, u64)]) -> Result<(), PlatformError> {
        let bad = |m: String| Err(PlatformError::InvalidImage(m));
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for m in &self.mappings {
            let len = m.len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            let end = m.addr.checked_add(len);
            if m.addr % PAGE_SIZE != 0 || len == 0 || end.is_none_or(|e| e > TASK_SIZE_4LEVEL) {
                return bad(format!(
                    "mapping at {:#x}+{:#x} is unaligned, empty or out of range",
                    m.addr, m.len
                ));
            }
            let end = m.addr + len;
            let fits = m
                .contents_offset
                .checked_add(m.contents.len() as u64)
                .is_some_and(|e| e <= len);
            if !fits {
                return bad(format!("contents overflow the mapping at {:#x}", m.addr));
            }
            if m.prot.0 & !(Prot::READ.0 | Prot::WRITE.0 | Prot::EXEC.0) != 0 {
                return bad(format!("unknown protection bits {:#x}", m.prot.0));
            }
            for &(s, e) in spans.iter().chain(reserved) {
                if m.addr < e && s < end {
                    return bad(format!(
                        "mapping at {:#x}..{end:#x} overlaps {s:#x}..{e:#x}",
                        m.addr
                    ));
                }
            }
            spans.push((m.addr, end));
        }
        Ok(())
    }
}
