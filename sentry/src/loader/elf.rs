//! ELF64 x86-64 executables: reading the headers of an executable or of the
//! dynamic linker ([`ElfFile::parse`]) and turning them, once a load bias is
//! chosen, into the mappings of the new address space ([`ElfFile::place`]).
//!
//! Only the file header and program headers matter here; sections, symbols
//! and relocations are the dynamic linker's business. Every field read from
//! the file is treated as hostile: sizes are bounded, arithmetic is checked
//! and anything Linux would refuse to map is rejected with an error.

use object::elf::{
    FileHeader64, ProgramHeader64, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_X86_64, ET_DYN, ET_EXEC,
    PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR,
};
use object::{pod, LittleEndian as LE};

use super::error::{LoadError, LoadResult};
use super::layout::{page_down, page_up, ELF_ET_DYN_BASE, PAGE_SIZE, TASK_SIZE};
use super::{read_exact_at, ExecFile};

/// Size of the ELF64 file header.
pub const EHDR_SIZE: usize = std::mem::size_of::<FileHeader64<LE>>();

/// Size of one ELF64 program header (`AT_PHENT`).
pub const PHDR_SIZE: usize = std::mem::size_of::<ProgramHeader64<LE>>();

/// Linux reads all program headers into one page and refuses larger tables;
/// that bounds both the allocation and the work per exec.
pub const MAX_PHDR_BYTES: usize = PAGE_SIZE as usize;

/// Longest `PT_INTERP` contents accepted, terminating NUL included (PATH_MAX).
pub const MAX_INTERP_LEN: u64 = 4096;

/// Lowest address a segment may occupy. Linux refuses mappings below
/// `vm.mmap_min_addr` (64 KiB by default) so NULL dereferences always fault.
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;

/// How an ELF file is positioned in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: segment addresses are absolute.
    Executable,
    /// `ET_DYN`: a PIE, static-pie or the dynamic linker; every address is
    /// relative to a load bias the loader chooses.
    SharedObject,
}

/// Page protection of a mapping, in `PROT_*` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot(u32);

impl Prot {
    pub const NONE: Prot = Prot(0);
    pub const READ: Prot = Prot(libc::PROT_READ as u32);
    pub const WRITE: Prot = Prot(libc::PROT_WRITE as u32);
    pub const EXEC: Prot = Prot(libc::PROT_EXEC as u32);

    /// The protection a segment with these `p_flags` is mapped with.
    pub fn from_segment_flags(p_flags: u32) -> Prot {
        let mut prot = Prot::NONE;
        if p_flags & PF_R.0 != 0 {
            prot = prot | Prot::READ;
        }
        if p_flags & PF_W.0 != 0 {
            prot = prot | Prot::WRITE;
        }
        if p_flags & PF_X.0 != 0 {
            prot = prot | Prot::EXEC;
        }
        prot
    }

    /// The `PROT_*` bits for `mmap`/`mprotect`.
    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Prot {
    type Output = Prot;
    fn bitor(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }
}

/// One `PT_LOAD` program header, as found in the file (unbiased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub prot: Prot,
    pub align: u64,
}

/// What the loader needs from an ELF file's headers, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfFile {
    pub kind: ElfKind,
    /// `e_entry`, unbiased.
    pub entry: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u16,
    /// Non-empty `PT_LOAD` segments, sorted by address and disjoint.
    pub loads: Vec<LoadSegment>,
    /// The `PT_INTERP` path, without its NUL.
    pub interp: Option<Vec<u8>>,
    /// `PT_GNU_STACK` asks for an executable stack. Without the header the
    /// stack is not executable: x86-64 Linux only implies exec for 32-bit
    /// binaries.
    pub stack_executable: bool,
    /// Unbiased address of the program header table in memory, if the
    /// image maps it (see [`ElfFile::parse`]).
    pub phdr_vaddr: Option<u64>,
    /// Largest power-of-two `p_align` of the loadable segments, at least a
    /// page: a PIE's bias is aligned to it so huge-page aligned segments stay
    /// aligned.
    pub max_align: u64,
}

/// One mapping of the new image, with a load bias applied.
///
/// Pages `[start, start + file_len)` map the file from `file_offset`
/// privately; pages `[start + file_len, end)` are anonymous zero pages (the
/// bss beyond the last file page). When `zero_from` is set, the bytes from
/// there to `start + file_len` must read as zero even though the file has
/// data there: they are the start of the bss sharing the last file page.
/// An installer that copies instead of mapping can use `data_*`: exactly the
/// segment's file bytes, everything else in `[start, end)` zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Page-aligned first address.
    pub start: u64,
    /// Page-aligned end (exclusive), bss included.
    pub end: u64,
    pub prot: Prot,
    /// Page-aligned file offset mapped at `start` (meaningless when
    /// `file_len` is 0).
    pub file_offset: u64,
    /// Length of the file-backed part, a multiple of the page size.
    pub file_len: u64,
    /// Start of the bytes to zero in the last file-backed page.
    pub zero_from: Option<u64>,
    /// Address of the segment's first file byte (`bias + p_vaddr`).
    pub data_addr: u64,
    /// `p_offset`.
    pub data_offset: u64,
    /// `p_filesz`.
    pub data_len: u64,
}

impl Segment {
    /// The anonymous zero-fill pages after the file-backed part, if any.
    pub fn anonymous_range(&self) -> Option<(u64, u64)> {
        let from = self.start + self.file_len;
        (from < self.end).then_some((from, self.end))
    }
}

/// An ELF file placed at a load bias: what to map and the addresses the
/// auxiliary vector and the registers need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    pub kind: ElfKind,
    /// Added to every address in the file (0 for `ET_EXEC`).
    pub bias: u64,
    /// Biased entry point (`AT_ENTRY` for the main executable).
    pub entry: u64,
    /// In address order, non-overlapping except that two segments may share
    /// a page; a later segment's pages then replace the earlier ones, as a
    /// sequence of fixed mappings would.
    pub segments: Vec<Segment>,
    /// Address of the program headers in memory (`AT_PHDR`).
    pub phdr_addr: u64,
    /// `AT_PHNUM`.
    pub phnum: u16,
    /// Page-aligned end of the highest segment: where `brk` starts.
    pub brk: u64,
}

impl ElfFile {
    /// Reads and validates the headers of `file`.
    ///
    /// Rejected with [`LoadError::NotExecutable`]: no ELF magic, not 64-bit
    /// little-endian x86-64, neither `ET_EXEC` nor `ET_DYN`, odd program
    /// header size, no or too many program headers, tables or segments past
    /// the end of the file, `p_filesz > p_memsz`, a segment whose file offset
    /// and address disagree modulo the page size, loadable segments out of
    /// order or overlapping, a malformed `PT_INTERP`, or no loadable segment.
    ///
    /// The in-memory program header address is found the way Linux finds it:
    /// the loadable segment whose file range holds the table; failing that,
    /// `PT_PHDR`'s address.
    pub fn parse<F: ExecFile + ?Sized>(file: &F) -> LoadResult<ElfFile> {
        let size = file.size();
        if size < EHDR_SIZE as u64 {
            return Err(LoadError::NotExecutable("too short for an ELF header"));
        }
        let mut ehdr_bytes = [0u8; EHDR_SIZE];
        read_exact_at(file, 0, &mut ehdr_bytes)?;
        let (ehdr, _) = pod::from_bytes::<FileHeader64<LE>>(&ehdr_bytes)
            .map_err(|()| LoadError::NotExecutable("unreadable ELF header"))?;
        if ehdr.e_ident.magic != ELFMAG {
            return Err(LoadError::NotExecutable("no ELF magic"));
        }
        if ehdr.e_ident.class != ELFCLASS64 {
            return Err(LoadError::NotExecutable("not a 64-bit ELF file"));
        }
        if ehdr.e_ident.data != ELFDATA2LSB {
            return Err(LoadError::NotExecutable("not a little-endian ELF file"));
        }
        let kind = match ehdr.e_type.get(LE) {
            t if t == ET_EXEC => ElfKind::Executable,
            t if t == ET_DYN => ElfKind::SharedObject,
            _ => return Err(LoadError::NotExecutable("neither ET_EXEC nor ET_DYN")),
        };
        if ehdr.e_machine.get(LE) != EM_X86_64 {
            return Err(LoadError::NotExecutable("not an x86-64 ELF file"));
        }
        if usize::from(ehdr.e_phentsize.get(LE)) != PHDR_SIZE {
            return Err(LoadError::NotExecutable("unexpected program header size"));
        }
        let phnum = ehdr.e_phnum.get(LE);
        let table_len = usize::from(phnum) * PHDR_SIZE;
        if phnum == 0 {
            return Err(LoadError::NotExecutable("no program headers"));
        }
        if table_len > MAX_PHDR_BYTES {
            return Err(LoadError::NotExecutable("too many program headers"));
        }
        let phoff = ehdr.e_phoff.get(LE);
        let mut table = vec![0u8; table_len];
        read_exact_at(file, phoff, &mut table)?;
        let (phdrs, _) = pod::slice_from_bytes::<ProgramHeader64<LE>>(&table, usize::from(phnum))
            .map_err(|()| LoadError::NotExecutable("unreadable program headers"))?;

        let mut elf = ElfFile {
            kind,
            entry: ehdr.e_entry.get(LE),
            phnum,
            loads: Vec::new(),
            interp: None,
            stack_executable: false,
            phdr_vaddr: None,
            max_align: PAGE_SIZE,
        };
        let mut pt_phdr = None;
        for ph in phdrs {
            let p_type = ph.p_type.get(LE);
            if p_type == PT_LOAD {
                elf.add_load(ph, size)?;
            } else if p_type == PT_INTERP {
                // Like Linux, only the first PT_INTERP counts.
                if elf.interp.is_none() {
                    elf.interp = Some(read_interp(file, ph)?);
                }
            } else if p_type == PT_GNU_STACK {
                elf.stack_executable = ph.p_flags.get(LE).0 & PF_X.0 != 0;
            } else if p_type == PT_PHDR && pt_phdr.is_none() {
                pt_phdr = Some(ph.p_vaddr.get(LE));
            }
        }
        if elf.loads.is_empty() {
            return Err(LoadError::NotExecutable("no loadable segments"));
        }
        elf.phdr_vaddr = elf
            .loads
            .iter()
            .find(|l| l.offset <= phoff && phoff - l.offset < l.filesz)
            .map(|l| l.vaddr + (phoff - l.offset))
            .or(pt_phdr);
        Ok(elf)
    }

    fn add_load(&mut self, ph: &ProgramHeader64<LE>, file_size: u64) -> LoadResult<()> {
        let seg = LoadSegment {
            vaddr: ph.p_vaddr.get(LE),
            memsz: ph.p_memsz.get(LE),
            offset: ph.p_offset.get(LE),
            filesz: ph.p_filesz.get(LE),
            prot: Prot::from_segment_flags(ph.p_flags.get(LE).0),
            align: ph.p_align.get(LE),
        };
        if seg.align.is_power_of_two() {
            self.max_align = self.max_align.max(seg.align);
        }
        if seg.filesz > seg.memsz {
            return Err(LoadError::NotExecutable(
                "segment file size exceeds its memory size",
            ));
        }
        if seg.memsz == 0 {
            // Maps nothing; Linux skips it too.
            return Ok(());
        }
        if seg.memsz > TASK_SIZE || seg.vaddr.checked_add(seg.memsz).is_none() {
            return Err(LoadError::NotExecutable(
                "segment larger than the address space",
            ));
        }
        if seg.filesz > 0 {
            if seg
                .offset
                .checked_add(seg.filesz)
                .is_none_or(|end| end > file_size)
            {
                return Err(LoadError::NotExecutable(
                    "segment extends past the end of the file",
                ));
            }
            // A private file mapping can only start at a page-aligned offset,
            // so the address must sit at the same offset within its page.
            if seg.vaddr % PAGE_SIZE != seg.offset % PAGE_SIZE {
                return Err(LoadError::NotExecutable(
                    "segment address and file offset differ modulo the page size",
                ));
            }
        }
        if let Some(prev) = self.loads.last() {
            if seg.vaddr < prev.vaddr + prev.memsz {
                return Err(LoadError::NotExecutable(
                    "loadable segments overlap or are out of order",
                ));
            }
        }
        self.loads.push(seg);
        Ok(())
    }

    /// Lowest page and end of the highest segment, unbiased.
    fn extent(&self) -> (u64, u64) {
        // `parse` guarantees at least one segment, sorted and disjoint.
        let lo = self.loads.first().map_or(0, |l| page_down(l.vaddr));
        let hi = self.loads.last().map_or(0, |l| l.vaddr + l.memsz);
        (lo, hi)
    }

    /// Load bias for this file as the main executable, chosen as Linux
    /// chooses it:
    ///
    /// - `ET_EXEC`: 0, the addresses are absolute.
    /// - `ET_DYN` with `PT_INTERP` (a PIE program): [`ELF_ET_DYN_BASE`] plus
    ///   `random` (a page-aligned randomization offset, 0 without ASLR),
    ///   aligned down to the largest segment alignment, minus the first
    ///   segment's address.
    /// - `ET_DYN` without `PT_INTERP` (a static PIE or a dynamic linker run
    ///   directly, a "loader"): directly below `mmap_base`, aligned down to
    ///   the largest segment alignment, so that a program such a loader
    ///   loads at [`ELF_ET_DYN_BASE`] cannot collide with it.
    pub fn executable_bias(&self, random: u64, mmap_base: u64) -> LoadResult<u64> {
        match self.kind {
            ElfKind::Executable => Ok(0),
            ElfKind::SharedObject if self.interp.is_some() => {
                let base = ELF_ET_DYN_BASE.wrapping_add(random) & !(self.max_align - 1);
                // Wrapping on purpose: a first segment above the base gives a
                // "negative" bias whose sum with each address is still right;
                // `place` checks where the segments end up.
                Ok(page_down(
                    base.wrapping_sub(self.loads.first().map_or(0, |l| l.vaddr)),
                ))
            }
            ElfKind::SharedObject => self.bias_below(mmap_base, self.max_align),
        }
    }

    /// Load bias for this file as the dynamic linker: 0 for `ET_EXEC`; for
    /// `ET_DYN`, the whole image sits directly below `mmap_base`, where a
    /// top-down `mmap` of its total size would put it (segment alignment
    /// is not applied to interpreters, as on Linux).
    pub fn interpreter_bias(&self, mmap_base: u64) -> LoadResult<u64> {
        match self.kind {
            ElfKind::Executable => Ok(0),
            ElfKind::SharedObject => self.bias_below(mmap_base, PAGE_SIZE),
        }
    }

    /// The bias that puts the whole image right below `top`, its lowest
    /// page aligned to `align`.
    fn bias_below(&self, top: u64, align: u64) -> LoadResult<u64> {
        let (lo, hi) = self.extent();
        let span = page_up(hi - lo).ok_or(LoadError::AddressSpace(
            "image larger than the address space",
        ))?;
        let base = page_down(top)
            .checked_sub(span)
            .ok_or(LoadError::AddressSpace(
                "image does not fit below the mmap base",
            ))?;
        Ok((base & !(align - 1)).wrapping_sub(lo))
    }

    /// The mappings and addresses of this file loaded at `bias`. Fails when a
    /// segment would fall outside `[MMAP_MIN_ADDR, TASK_SIZE)` or the entry
    /// point beyond `TASK_SIZE`.
    pub fn place(&self, bias: u64) -> LoadResult<ElfImage> {
        let mut segments = Vec::with_capacity(self.loads.len());
        let mut brk = 0;
        for l in &self.loads {
            let addr = bias.wrapping_add(l.vaddr);
            let mem_end = addr
                .checked_add(l.memsz)
                .filter(|&e| e <= TASK_SIZE)
                .ok_or(LoadError::AddressSpace(
                    "segment beyond the top of the address space",
                ))?;
            let start = page_down(addr);
            if start < MMAP_MIN_ADDR {
                return Err(LoadError::AddressSpace(
                    "segment below the lowest mappable address",
                ));
            }
            // TASK_SIZE is page aligned, so rounding up cannot pass it.
            let end = page_up(mem_end).unwrap_or(TASK_SIZE);
            let in_page = addr - start;
            let (file_offset, file_len) = if l.filesz == 0 {
                (0, 0)
            } else {
                // Both cannot fail: `parse` checked the congruence and that
                // filesz <= memsz, so the file part ends no later than `end`.
                (
                    l.offset - in_page,
                    page_up(in_page + l.filesz).unwrap_or(end - start),
                )
            };
            let data_end = addr + l.filesz;
            let zero_from = (l.filesz > 0 && l.memsz > l.filesz && data_end % PAGE_SIZE != 0)
                .then_some(data_end);
            segments.push(Segment {
                start,
                end,
                prot: l.prot,
                file_offset,
                file_len,
                zero_from,
                data_addr: addr,
                data_offset: l.offset,
                data_len: l.filesz,
            });
            brk = brk.max(end);
        }
        let entry = bias.wrapping_add(self.entry);
        if entry >= TASK_SIZE {
            return Err(LoadError::AddressSpace(
                "entry point beyond the top of the address space",
            ));
        }
        Ok(ElfImage {
            kind: self.kind,
            bias,
            entry,
            segments,
            // Without a mapped table, Linux reports the bias itself.
            phdr_addr: bias.wrapping_add(self.phdr_vaddr.unwrap_or(0)),
            phnum: self.phnum,
            brk,
        })
    }
}

/// Reads the `PT_INTERP` path: between 2 bytes and PATH_MAX, NUL-terminated
/// at its last byte, used up to its first NUL.
fn read_interp<F: ExecFile + ?Sized>(file: &F, ph: &ProgramHeader64<LE>) -> LoadResult<Vec<u8>> {
    let len = ph.p_filesz.get(LE);
    if !(2..=MAX_INTERP_LEN).contains(&len) {
        return Err(LoadError::NotExecutable("bad PT_INTERP size"));
    }
    let mut path = vec![0u8; len as usize];
    read_exact_at(file, ph.p_offset.get(LE), &mut path)?;
    if path.last() != Some(&0) {
        return Err(LoadError::NotExecutable("PT_INTERP is not NUL-terminated"));
    }
    let nul = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    path.truncate(nul);
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A program header for [`build`]: (type, flags, offset, vaddr, filesz,
    /// memsz, align).
    pub(crate) type Ph = (u32, u32, u64, u64, u64, u64, u64);

    /// Builds a minimal ELF64 x86-64 file with these program headers right
    /// after the file header, padded with 0xcc to `len` bytes.
    pub(crate) fn build(e_type: u16, entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
        let mut b = vec![0xccu8; len.max(EHDR_SIZE + phdrs.len() * PHDR_SIZE)];
        b[..16].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&62u16.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&entry.to_le_bytes());
        b[32..40].copy_from_slice(&(EHDR_SIZE as u64).to_le_bytes());
        b[40..48].copy_from_slice(&0u64.to_le_bytes());
        b[48..52].copy_from_slice(&0u32.to_le_bytes());
        b[52..54].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        b[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        b[58..64].fill(0);
        for (i, &(t, f, off, va, fsz, msz, al)) in phdrs.iter().enumerate() {
            let p = EHDR_SIZE + i * PHDR_SIZE;
            b[p..p + 4].copy_from_slice(&t.to_le_bytes());
            b[p + 4..p + 8].copy_from_slice(&f.to_le_bytes());
            for (j, v) in [off, va, va, fsz, msz, al].iter().enumerate() {
                b[p + 8 + j * 8..p + 16 + j * 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        b
    }

    const R: u32 = 4;
    const W: u32 = 2;
    const X: u32 = 1;
    const LOAD: u32 = 1;
    const INTERP: u32 = PT_INTERP.0;
    const STACK: u32 = PT_GNU_STACK.0;
    const PHDR: u32 = PT_PHDR.0;

    fn static_exec() -> Vec<u8> {
        build(
            2,
            0x401000,
            &[
                (LOAD, R, 0, 0x400000, 0x200, 0x200, 0x1000),
                (LOAD, R | X, 0x1000, 0x401000, 0x800, 0x800, 0x1000),
                // Data with bss: file part ends mid-page, bss runs two pages on.
                (LOAD, R | W, 0x1e10, 0x402e10, 0x100, 0x2300, 0x1000),
                (STACK, R | W, 0, 0, 0, 0, 16),
            ],
            0x2000,
        )
    }

    #[test]
    fn parses_and_places_a_static_executable() {
        let elf = ElfFile::parse(&static_exec()[..]).unwrap();
        assert_eq!(elf.kind, ElfKind::Executable);
        assert_eq!(elf.loads.len(), 3);
        assert!(!elf.stack_executable);
        assert_eq!(elf.phdr_vaddr, Some(0x400040));
        let img = elf
            .place(elf.executable_bias(0x12345000, 0x7000_0000_0000).unwrap())
            .unwrap();
        assert_eq!(img.bias, 0);
        assert_eq!(img.entry, 0x401000);
        assert_eq!(img.phdr_addr, 0x400040);
        let data = &img.segments[2];
        assert_eq!((data.start, data.end), (0x402000, 0x406000));
        assert_eq!((data.file_offset, data.file_len), (0x1000, 0x1000));
        assert_eq!(data.zero_from, Some(0x402f10));
        assert_eq!(data.anonymous_range(), Some((0x403000, 0x406000)));
        assert_eq!(data.prot, Prot::READ | Prot::WRITE);
        assert_eq!(img.segments[1].prot, Prot::READ | Prot::EXEC);
        assert_eq!(img.segments[1].zero_from, None);
        assert_eq!(img.brk, 0x406000);
    }

    /// Parses `bytes` and marks the result as having a dynamic linker, which
    /// is what makes an ET_DYN file a PIE program rather than a loader.
    fn program(bytes: &[u8]) -> ElfFile {
        let mut elf = ElfFile::parse(bytes).unwrap();
        elf.interp = Some(b"/ld.so".to_vec());
        elf
    }

    const MMAP_BASE: u64 = 0x7fff_f7ff_f000;

    #[test]
    fn pie_bias_follows_base_random_and_alignment() {
        let pie = build(
            3,
            0x1040,
            &[
                (LOAD, R | X, 0, 0, 0x2000, 0x2000, 0x1000),
                (LOAD, R | W, 0x2000, 0x3000, 0x10, 0x10, 0x1000),
            ],
            0x2010,
        );
        let elf = program(&pie);
        assert_eq!(elf.executable_bias(0, MMAP_BASE), Ok(0x5555_5555_4000));
        assert_eq!(elf.executable_bias(0x7000, MMAP_BASE), Ok(0x5555_5555_b000));
        let img = elf
            .place(elf.executable_bias(0, MMAP_BASE).unwrap())
            .unwrap();
        assert_eq!(img.entry, 0x5555_5555_5040);
        assert_eq!(img.brk, 0x5555_5555_8000);

        let huge = build(3, 0, &[(LOAD, R | X, 0, 0, 0x10, 0x10, 0x20_0000)], 0x100);
        assert_eq!(
            program(&huge).executable_bias(0, MMAP_BASE),
            Ok(0x5555_5540_0000)
        );
        // Non-power-of-two alignments are ignored.
        let odd = build(3, 0, &[(LOAD, R | X, 0, 0, 0x10, 0x10, 0x3000)], 0x100);
        assert_eq!(ElfFile::parse(&odd[..]).unwrap().max_align, PAGE_SIZE);
    }

    #[test]
    fn static_pie_goes_below_the_mmap_base() {
        let spie = build(
            3,
            0x100,
            &[(LOAD, R | X, 0, 0, 0x1800, 0x1800, 0x1000)],
            0x1800,
        );
        let elf = ElfFile::parse(&spie[..]).unwrap();
        assert_eq!(
            elf.executable_bias(0x7000, MMAP_BASE),
            Ok(MMAP_BASE - 0x2000)
        );
        // A 2 MiB alignment is honoured for loaders run as programs.
        let aligned = build(
            3,
            0x100,
            &[(LOAD, R | X, 0, 0, 0x1800, 0x1800, 0x20_0000)],
            0x1800,
        );
        let elf = ElfFile::parse(&aligned[..]).unwrap();
        assert_eq!(elf.executable_bias(0, MMAP_BASE), Ok(0x7fff_f7e0_0000));
    }

    #[test]
    fn interpreter_goes_right_below_the_mmap_base() {
        let ld = build(
            3,
            0x1100,
            &[
                (LOAD, R | X, 0, 0, 0x1800, 0x1800, 0x1000),
                (LOAD, R | W, 0x1800, 0x2800, 0x100, 0x900, 0x1000),
            ],
            0x1900,
        );
        let elf = ElfFile::parse(&ld[..]).unwrap();
        let base = 0x7fff_f7ff_f000;
        let bias = elf.interpreter_bias(base).unwrap();
        let img = elf.place(bias).unwrap();
        assert_eq!(img.segments.last().unwrap().end, base);
        assert_eq!(bias, base - 0x4000);
        assert_eq!(img.segments[1].zero_from, Some(bias + 0x2900));
        assert!(elf.interpreter_bias(0x1000).is_err());
    }

    #[test]
    fn interp_and_stack_flags() {
        let mut f = build(
            3,
            0,
            &[
                (INTERP, R, 0x200, 0, 11, 11, 1),
                (LOAD, R | X, 0, 0, 0x300, 0x300, 0x1000),
                (STACK, R | W | X, 0, 0, 0, 0, 16),
            ],
            0x300,
        );
        f[0x200..0x20b].copy_from_slice(b"/lib/ld.so\0");
        let elf = ElfFile::parse(&f[..]).unwrap();
        assert_eq!(elf.interp.as_deref(), Some(&b"/lib/ld.so"[..]));
        assert!(elf.stack_executable);

        f[0x20a] = b'x';
        assert_eq!(
            ElfFile::parse(&f[..]).unwrap_err(),
            LoadError::NotExecutable("PT_INTERP is not NUL-terminated")
        );
    }

    fn reject(bytes: &[u8], why: &str) {
        match ElfFile::parse(bytes) {
            Err(LoadError::NotExecutable(m)) => assert!(m.contains(why), "{m:?} lacks {why:?}"),
            other => panic!("expected rejection for {why:?}, got {other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = static_exec();
        let patched = |at: usize, v: &[u8]| {
            let mut b = good.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        reject(&good[..40], "too short");
        reject(&patched(0, b"\x7fELG"), "magic");
        reject(&patched(4, &[1]), "64-bit");
        reject(&patched(5, &[2]), "little-endian");
        reject(&patched(16, &1u16.to_le_bytes()), "ET_EXEC");
        reject(&patched(18, &3u16.to_le_bytes()), "x86-64");
        reject(&patched(54, &32u16.to_le_bytes()), "program header size");
        reject(&patched(56, &0u16.to_le_bytes()), "no program headers");
        reject(&patched(56, &0xffffu16.to_le_bytes()), "too many");
        reject(&patched(56, &74u16.to_le_bytes()), "too many");
        reject(&patched(32, &0x1fa0u64.to_le_bytes()), "too short");
        reject(&patched(32, &u64::MAX.to_le_bytes()), "too short");
    }

    #[test]
    fn rejects_bad_segments() {
        let one = |ph: Ph| build(2, 0x400000, &[ph], 0x3000);
        reject(
            &one((LOAD, R, 0, 0x400000, 0x200, 0x100, 0x1000)),
            "exceeds its memory size",
        );
        reject(
            &one((LOAD, R, 0x2f00, 0x400f00, 0x200, 0x200, 0x1000)),
            "past the end",
        );
        reject(
            &one((LOAD, R, u64::MAX - 1, 0x400ffe, 0x200, 0x200, 0x1000)),
            "past the end",
        );
        reject(
            &one((LOAD, R, 0x100, 0x400200, 0x200, 0x200, 0x1000)),
            "modulo the page size",
        );
        reject(
            &one((LOAD, R, 0, u64::MAX - 0xfff, 0x200, 0x2000, 0x1000)),
            "larger than",
        );
        reject(
            &one((LOAD, R, 0, 0x400000, 0, 1 << 60, 0x1000)),
            "larger than",
        );
        reject(
            &build(2, 0, &[(STACK, R, 0, 0, 0, 0, 16)], 0x100),
            "no loadable",
        );
        let two = |a: Ph, b: Ph| build(2, 0x400000, &[a, b], 0x3000);
        reject(
            &two(
                (LOAD, R, 0x1000, 0x401000, 0x100, 0x100, 0x1000),
                (LOAD, R, 0, 0x400000, 0x100, 0x100, 0x1000),
            ),
            "out of order",
        );
        reject(
            &two(
                (LOAD, R, 0, 0x400000, 0x100, 0x1100, 0x1000),
                (LOAD, R, 0x1000, 0x401000, 0x100, 0x100, 0x1000),
            ),
            "overlap",
        );
        // Sharing a page without sharing bytes is allowed.
        let shared = two(
            (LOAD, R | X, 0, 0x400000, 0x100, 0x100, 0x1000),
            (LOAD, R | W, 0x200, 0x400200, 0x100, 0x100, 0x1000),
        );
        let img = ElfFile::parse(&shared[..]).unwrap().place(0).unwrap();
        assert_eq!(img.segments[0].start, img.segments[1].start);
        let interp = |len: u64| {
            build(
                2,
                0x400000,
                &[
                    (INTERP, R, 0x100, 0, len, len, 1),
                    (LOAD, R, 0, 0x400000, 0x10, 0x10, 0x1000),
                ],
                0x2000,
            )
        };
        reject(&interp(1), "PT_INTERP size");
        reject(&interp(4097), "PT_INTERP size");
        reject(&interp(0x2000), "PT_INTERP size");
    }

    #[test]
    fn placement_range_checks() {
        let low = build(
            2,
            0x1000,
            &[(LOAD, R, 0, 0x1000, 0x10, 0x10, 0x1000)],
            0x100,
        );
        let elf = ElfFile::parse(&low[..]).unwrap();
        assert_eq!(elf.place(0).unwrap_err().errno(), libc::EINVAL);
        let high = build(
            2,
            0x400000,
            &[(LOAD, R, 0, TASK_SIZE - 0x1000, 0x10, 0x2000, 0x1000)],
            0x100,
        );
        let elf = ElfFile::parse(&high[..]).unwrap();
        assert!(matches!(elf.place(0), Err(LoadError::AddressSpace(_))));
        let entry = build(
            2,
            TASK_SIZE,
            &[(LOAD, R, 0, 0x400000, 0x10, 0x10, 0x1000)],
            0x100,
        );
        assert!(ElfFile::parse(&entry[..]).unwrap().place(0).is_err());
        // A first segment above ELF_ET_DYN_BASE wraps the bias but lands right.
        let above = build(
            3,
            0x6000_0000_0000,
            &[(LOAD, R, 0, 0x6000_0000_0000, 0x10, 0x10, 0x1000)],
            0x100,
        );
        let elf = program(&above);
        let img = elf
            .place(elf.executable_bias(0, MMAP_BASE).unwrap())
            .unwrap();
        assert_eq!(img.segments[0].start, 0x5555_5555_4000);
        assert_eq!(img.entry, 0x5555_5555_4000);
    }

    #[test]
    fn phdr_address_falls_back_to_pt_phdr() {
        // The table (at file offset 64) is outside the only PT_LOAD's file range.
        let f = build(
            2,
            0x401000,
            &[
                (PHDR, R, 64, 0x500040, 112, 112, 8),
                (LOAD, R | X, 0x1000, 0x401000, 0x10, 0x10, 0x1000),
            ],
            0x1100,
        );
        let elf = ElfFile::parse(&f[..]).unwrap();
        assert_eq!(elf.place(0).unwrap().phdr_addr, 0x500040);
    }
}
