//! The loader: what `execve` turns a file into. It resolves `#!` scripts,
//! reads the ELF executable and its dynamic linker, chooses where they go and
//! describes the new process image (mappings, entry point, brk, the argument
//! vector) and its initial stack. It never touches an address space: the
//! kernel installs the description through the platform.
//!
//! Files are reached only through [`ExecFile`] and interpreters are opened
//! only through a [`Resolver`], so the loader works on the sentry's own VFS
//! and never resolves a path on the host. Permission checks (`EACCES`,
//! `noexec` mounts) are the resolver's and the caller's business.

mod elf;
mod error;
mod layout;
mod script;
mod stack;

pub use elf::{
    ElfFile, ElfImage, ElfKind, LoadSegment, Prot, Segment, EHDR_SIZE, MAX_INTERP_LEN,
    MAX_PHDR_BYTES, MMAP_MIN_ADDR, PHDR_SIZE,
};
pub use error::{LoadError, LoadResult};
pub use layout::{
    mmap_base, page_down, page_up, ArgBudget, ARG_MAX, ELF_ET_DYN_BASE, MAX_ARG_STRINGS,
    MAX_ARG_STRLEN, PAGE_SIZE, STACK_GUARD_GAP, STACK_TOP, TASK_SIZE,
};
pub use script::{is_script, parse_shebang, rewrite_argv, Shebang, BINPRM_BUF_SIZE};
pub use stack::{at, build_stack, AuxValues, InitialStack, StackSpec};

/// How many `#!` rewrites one exec follows before failing with `ELOOP`.
///
/// Linux's exec loop gives up once more than five format handlers have
/// rewritten the exec, so a chain of five scripts ending in an ELF binary
/// runs and a sixth script fails. (Older kernels stopped one level earlier,
/// at `BINPRM_MAX_RECURSION` = 4; the current limit is the one measured on
/// Linux 6.x.)
pub const MAX_SCRIPT_DEPTH: usize = 5;

/// The platform string for `AT_PLATFORM`.
pub const PLATFORM: &[u8] = b"x86_64";

/// A file the loader can read: an open executable, script or interpreter.
pub trait ExecFile {
    /// Size of the file in bytes.
    fn size(&self) -> u64;

    /// Reads up to `buf.len()` bytes at `offset`, returning how many were
    /// read (0 only at end of file) or an errno.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32>;
}

impl ExecFile for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32> {
        let start = usize::try_from(offset).map_or(self.len(), |o| o.min(self.len()));
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl ExecFile for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32> {
        self.as_slice().read_at(offset, buf)
    }
}

/// Opens the interpreters an exec needs: `#!` interpreters and the ELF
/// dynamic linker (`PT_INTERP`), by path as written in the file. Relative
/// paths resolve against the caller's working directory, as on Linux.
pub trait Resolver {
    type File: ExecFile;

    /// Opens `path` for execution, or fails with the errno `execve` should
    /// return (`ENOENT` when it does not exist, `EACCES` when it may not be
    /// executed, ...).
    fn open(&mut self, path: &[u8]) -> Result<Self::File, i32>;
}

/// What to execute and under which limits.
#[derive(Clone, Debug)]
pub struct ExecRequest<'a> {
    /// The path `execve` was given: becomes `AT_EXECFN` and, for scripts,
    /// the script argument of the interpreter.
    pub filename: &'a [u8],
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// Soft `RLIMIT_STACK`, which bounds the argument space.
    pub stack_rlimit: u64,
    /// Page-aligned randomization added to a PIE program's base (0 without
    /// ASLR).
    pub pie_random: u64,
    /// Top of the mmap area (see [`mmap_base`]); the dynamic linker, or a
    /// static PIE without one, goes directly below it.
    pub mmap_base: u64,
}

/// The new process image, ready to be installed.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// The main executable, placed.
    pub executable: ElfImage,
    /// The dynamic linker, placed, when the executable has `PT_INTERP`.
    pub interpreter: Option<ElfImage>,
    /// Its path as written in `PT_INTERP`.
    pub interpreter_path: Option<Vec<u8>>,
    /// Where execution starts: the dynamic linker's entry if there is one.
    pub entry: u64,
    /// The argument vector after `#!` rewriting (never empty).
    pub argv: Vec<Vec<u8>>,
    /// Page-aligned initial program break (before any randomization): the
    /// end of the executable's highest segment, or [`ELF_ET_DYN_BASE`] for a
    /// static PIE.
    pub brk: u64,
    /// `PT_GNU_STACK` asked for an executable stack.
    pub stack_executable: bool,
    /// How many `#!` scripts were followed.
    pub script_depth: usize,
}

impl LoadedImage {
    /// The auxiliary vector entries that come from the image; the caller
    /// fills in credentials, hwcaps, the vDSO address and the rest.
    pub fn aux_values(&self) -> AuxValues {
        AuxValues {
            phdr: self.executable.phdr_addr,
            phent: PHDR_SIZE as u64,
            phnum: u64::from(self.executable.phnum),
            pagesz: PAGE_SIZE,
            base: self.interpreter.as_ref().map_or(0, |i| i.bias),
            entry: self.executable.entry,
            clktck: 100,
            ..AuxValues::default()
        }
    }
}

/// Loads `file`, the already opened and permission-checked target of
/// `execve`: follows `#!` scripts (up to [`MAX_SCRIPT_DEPTH`]), parses the
/// ELF executable, opens and parses its dynamic linker, and places both.
///
/// Errors come in Linux's order: argument size (`E2BIG`) before anything
/// is read, then format errors (`ENOEXEC`; `ELIBBAD` for a bad dynamic
/// linker), nesting (`ELOOP`), the resolver's errno for interpreters that
/// cannot be opened, and `EINVAL` for images outside the address space.
pub fn load<R: Resolver>(
    resolver: &mut R,
    file: R::File,
    req: &ExecRequest<'_>,
) -> LoadResult<LoadedImage> {
    // Linux hands programs an empty argv[0] rather than argc == 0, so
    // nothing walks from argv[1] into the environment.
    let mut argv: Vec<Vec<u8>> = if req.argv.is_empty() {
        vec![Vec::new()]
    } else {
        req.argv.to_vec()
    };
    let mut budget = ArgBudget::new(req.stack_rlimit, req.argv.len(), req.envp.len())?;
    budget.charge(req.filename)?;
    for s in req.envp.iter().chain(&argv) {
        budget.charge(s)?;
    }

    let mut file = file;
    let mut script_path = req.filename.to_vec();
    let mut depth = 0;
    let elf = loop {
        // Checked before looking at the file, like Linux: the sixth script
        // is still parsed and its interpreter opened, then the exec fails.
        if depth > MAX_SCRIPT_DEPTH {
            return Err(LoadError::TooManyLevels);
        }
        let mut head = [0u8; BINPRM_BUF_SIZE];
        let n = usize::try_from(file.size()).map_or(head.len(), |s| s.min(head.len()));
        read_exact_at(&file, 0, &mut head[..n])?;
        if !is_script(&head[..n]) {
            break ElfFile::parse(&file)?;
        }
        let shebang = parse_shebang(&head[..n])?;
        budget.refund(&argv[0]);
        let rewritten = rewrite_argv(&shebang, &script_path, &argv);
        let added = if shebang.arg.is_some() { 3 } else { 2 };
        for s in &rewritten[..added] {
            budget.charge(s)?;
        }
        argv = rewritten;
        file = resolver
            .open(&shebang.interpreter)
            .map_err(|errno| LoadError::Errno {
                what: "opening the #! interpreter",
                errno,
            })?;
        script_path = shebang.interpreter;
        depth += 1;
    };

    let (interpreter, interpreter_path) = match &elf.interp {
        Some(path) => {
            let ld = resolver.open(path).map_err(|errno| LoadError::Errno {
                what: "opening the ELF interpreter",
                errno,
            })?;
            let ld_elf = ElfFile::parse(&ld).map_err(|e| match e {
                LoadError::NotExecutable(why) => LoadError::BadInterpreter(why),
                other => other,
            })?;
            let placed = ld_elf.place(ld_elf.interpreter_bias(req.mmap_base)?)?;
            (Some(placed), Some(path.clone()))
        }
        None => (None, None),
    };
    let executable = elf.place(elf.executable_bias(req.pie_random, req.mmap_base)?)?;
    let entry = interpreter.as_ref().map_or(executable.entry, |i| i.entry);
    // A loader (ET_DYN without PT_INTERP) lives in the mmap area, where a
    // heap growing up from its end would soon meet other mappings, so its
    // brk starts in the unused region at ELF_ET_DYN_BASE instead, as on
    // current Linux.
    let brk = if executable.kind == ElfKind::SharedObject && interpreter.is_none() {
        page_down(ELF_ET_DYN_BASE + PAGE_SIZE - 1)
    } else {
        executable.brk
    };
    Ok(LoadedImage {
        brk,
        entry,
        executable,
        interpreter,
        interpreter_path,
        argv,
        stack_executable: elf.stack_executable,
        script_depth: depth,
    })
}

/// Fills `buf` from `offset`, failing with `ENOEXEC` if the file ends
/// first, so a header or segment that claims bytes the file lacks is a
/// format error rather than a short read.
pub(crate) fn read_exact_at<F: ExecFile + ?Sized>(
    file: &F,
    offset: u64,
    buf: &mut [u8],
) -> LoadResult<()> {
    let truncated = LoadError::NotExecutable("file too short for the data its headers describe");
    if offset
        .checked_add(buf.len() as u64)
        .is_none_or(|end| end > file.size())
    {
        return Err(truncated);
    }
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(offset + done as u64, &mut buf[done..]) {
            Ok(0) => return Err(truncated),
            Ok(n) => done += n.min(buf.len() - done),
            Err(errno) if errno == libc::EINTR => {}
            Err(errno) => {
                return Err(LoadError::Errno {
                    what: "reading the executable",
                    errno,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A resolver over an in-memory file table.
    #[derive(Default)]
    struct Files(HashMap<Vec<u8>, Vec<u8>>);

    impl Files {
        fn with(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Files {
            self.0.insert(path.as_bytes().to_vec(), contents.into());
            self
        }
    }

    impl Resolver for Files {
        type File = Vec<u8>;
        fn open(&mut self, path: &[u8]) -> Result<Vec<u8>, i32> {
            self.0.get(path).cloned().ok_or(libc::ENOENT)
        }
    }

    fn static_elf() -> Vec<u8> {
        elf::tests::build(
            2,
            0x401000,
            &[(1, 5, 0, 0x400000, 0x200, 0x200, 0x1000)],
            0x200,
        )
    }

    fn dynamic_elf(interp: &[u8]) -> Vec<u8> {
        let mut f = elf::tests::build(
            3,
            0x1000,
            &[
                (3, 4, 0x300, 0, interp.len() as u64 + 1, 0, 1),
                (1, 5, 0, 0, 0x400, 0x400, 0x1000),
            ],
            0x400,
        );
        f[0x300..0x300 + interp.len()].copy_from_slice(interp);
        f[0x300 + interp.len()] = 0;
        f
    }

    fn strings(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn request<'a>(filename: &'a str, argv: &'a [Vec<u8>], envp: &'a [Vec<u8>]) -> ExecRequest<'a> {
        ExecRequest {
            filename: filename.as_bytes(),
            argv,
            envp,
            stack_rlimit: 8 << 20,
            pie_random: 0,
            mmap_base: mmap_base(8 << 20, 0, 0),
        }
    }

    #[test]
    fn script_argv_and_nesting() {
        let mut files = Files::default()
            .with("/bin/sh", static_elf())
            .with("/s1", "#!/bin/sh -e\n")
            .with("/s2", "#! /s1  a b \n");
        let argv = strings(&["name", "x", "y"]);
        let img = load(
            &mut files,
            b"#!/s2\n".to_vec(),
            &request("./s3", &argv, &[]),
        )
        .unwrap();
        assert_eq!(
            img.argv,
            strings(&["/bin/sh", "-e", "/s1", "a b", "/s2", "./s3", "x", "y"])
        );
        assert_eq!(img.script_depth, 3);
        assert_eq!(img.entry, 0x401000);
    }

    #[test]
    fn nesting_limit_is_eloop() {
        let mut files = Files::default().with("/bin/true", static_elf());
        let mut prev = "/bin/true".to_string();
        for i in 1..=7 {
            let name = format!("/s{i}");
            files = files.with(&name, format!("#!{prev}\n"));
            prev = name;
        }
        let argv = strings(&["s"]);
        for depth in 1..=7 {
            let script = files.0[format!("/s{depth}").as_bytes()].clone();
            let got = load(&mut files, script, &request("s", &argv, &[]));
            if depth <= MAX_SCRIPT_DEPTH {
                assert_eq!(got.unwrap().script_depth, depth);
            } else {
                assert_eq!(got.unwrap_err().errno(), libc::ELOOP, "depth {depth}");
            }
        }
    }

    #[test]
    fn missing_interpreters_are_enoent() {
        let argv = strings(&["s"]);
        let err = load(
            &mut Files::default(),
            b"#!/nope\n".to_vec(),
            &request("s", &argv, &[]),
        )
        .unwrap_err();
        assert_eq!(err.errno(), libc::ENOENT);
        let err = load(
            &mut Files::default(),
            dynamic_elf(b"/lib/ld.so"),
            &request("p", &argv, &[]),
        )
        .unwrap_err();
        assert_eq!(err.errno(), libc::ENOENT);
    }

    #[test]
    fn dynamic_linker_is_placed_and_checked() {
        let argv = strings(&["p"]);
        let mut files = Files::default().with("/lib/ld.so", dynamic_elf(b"/lib/ld.so"));
        let img = load(
            &mut files,
            dynamic_elf(b"/lib/ld.so"),
            &request("p", &argv, &[]),
        )
        .unwrap();
        let ld = img.interpreter.as_ref().unwrap();
        assert_eq!(ld.segments[0].end, mmap_base(8 << 20, 0, 0));
        assert_eq!(img.entry, ld.bias + 0x1000);
        assert_eq!(img.executable.bias, 0x5555_5555_4000);
        assert_eq!(img.aux_values().base, ld.bias);
        assert_eq!(img.aux_values().entry, 0x5555_5555_5000);

        let mut files = Files::default().with("/lib/ld.so", "#!/bin/sh\n");
        let err = load(
            &mut files,
            dynamic_elf(b"/lib/ld.so"),
            &request("p", &argv, &[]),
        )
        .unwrap_err();
        assert_eq!(err.errno(), libc::ELIBBAD);
    }

    #[test]
    fn not_executable_formats() {
        let argv = strings(&["p"]);
        for junk in [&b""[..], b"#", b"MZ\x90\x00", b"\x7fELF", b"#!\n"] {
            let err = load(
                &mut Files::default(),
                junk.to_vec(),
                &request("p", &argv, &[]),
            )
            .unwrap_err();
            assert_eq!(err.errno(), libc::ENOEXEC, "{junk:?}");
        }
    }

    #[test]
    fn argument_limits() {
        let mut files = Files::default();
        // The default 8 MiB rlimit allows 2 MiB of strings and pointers.
        let big = vec![vec![b'a'; 100_000]; 21];
        let err = load(&mut files, static_elf(), &request("p", &big, &[])).unwrap_err();
        assert_eq!(err.errno(), libc::E2BIG);
        let fits = vec![vec![b'a'; 100_000]; 20];
        load(&mut files, static_elf(), &request("p", &fits, &[])).unwrap();
        // One string over 128 KiB fails whatever the rlimit.
        let long = vec![vec![b'a'; MAX_ARG_STRLEN as usize]];
        let mut req = request("p", &long, &[]);
        req.stack_rlimit = u64::MAX;
        assert_eq!(
            load(&mut files, static_elf(), &req).unwrap_err().errno(),
            libc::E2BIG
        );
        // E2BIG comes before the format check.
        assert_eq!(
            load(&mut files, b"junk".to_vec(), &request("p", &big, &[]))
                .unwrap_err()
                .errno(),
            libc::E2BIG
        );
        // Empty argv gets an empty argv[0].
        assert_eq!(
            load(&mut files, static_elf(), &request("p", &[], &[]))
                .unwrap()
                .argv,
            vec![Vec::<u8>::new()]
        );
    }
}
