//! `execve`: the sentry resolves the program in the sandbox's VFS, loads it
//! with the [`crate::loader`], and has the platform install the new image;
//! the host never resolves an application path.

use super::task::Task;
use super::{BootError, Kernel};
use crate::errno::{Errno, SysError, SysResult};
use crate::loader::{self, ExecFile, ExecRequest, Resolver, StackSpec};
use crate::platform::{host_auxval, ExecCall, Image, Mapping, MmLayout, Prot};
use crate::return_errno;
use crate::vfs::creds::check;
use crate::vfs::{Access, At, FileOps, FileType, FsContext};
use std::sync::Arc;

/// Longest argument or environment string read from the application.
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Most argv + envp entries read from the application.
const MAX_ARGS: usize = 0x7fff_ffff / 8;
/// Size of the initial stack mapping (the default `RLIMIT_STACK`).
const STACK_SIZE: u64 = 8 << 20;
const PAGE: u64 = 4096;

/// A program file opened for loading (shared between the loader, which
/// reads its headers, and the image built from its segments).
#[derive(Clone)]
struct ProgramFile {
    ops: Arc<dyn FileOps>,
    size: u64,
}

impl ExecFile for ProgramFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32> {
        self.ops.read_at(offset, buf).map_err(|e| e.errno.as_raw())
    }
}

/// Opens files for the loader the way `execve` does: the path is resolved
/// in the task's root and cwd, must be a regular file, and must be
/// executable by the task.
struct VfsResolver<'a> {
    cx: &'a FsContext,
    /// The interpreters the loader opened (`#!` and `PT_INTERP`), by the
    /// path it asked for, so their segments are read from the very files
    /// that were checked.
    opened: Vec<(Vec<u8>, ProgramFile)>,
}

impl VfsResolver<'_> {
    fn open_program(&self, path: &[u8]) -> SysResult<ProgramFile> {
        if path.is_empty() {
            return_errno!(ENOENT);
        }
        let p = self.cx.vfs.lookup(self.cx, At::Cwd, path, true)?;
        let stat = p.dentry.inode().stat()?;
        if stat.file_type() != Some(FileType::Regular) {
            return_errno!(EACCES);
        }
        check(&stat, &self.cx.creds, Access::EXEC)?;
        let ops = p.dentry.inode().open(libc::O_RDONLY as u32)?;
        Ok(ProgramFile {
            ops: Arc::from(ops),
            size: stat.size,
        })
    }

    /// The interpreter the loader opened as `path`.
    fn opened(&self, path: &[u8]) -> SysResult<ProgramFile> {
        match self.opened.iter().rev().find(|(p, _)| p == path) {
            Some((_, f)) => Ok(f.clone()),
            None => return_errno!(EIO, "loader result names a file it did not open"),
        }
    }
}

impl Resolver for VfsResolver<'_> {
    type File = ProgramFile;

    fn open(&mut self, path: &[u8]) -> Result<ProgramFile, i32> {
        let file = self.open_program(path).map_err(|e| e.errno.as_raw())?;
        self.opened.push((path.to_vec(), file.clone()));
        Ok(file)
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    u64::from_ne_bytes(b)
}

/// The file bytes of the loaded segments, as mappings the platform copies in.
/// Segments may share a page (the end of one and the start of the next);
/// such neighbours are merged into one mapping.
fn mappings(file: &ProgramFile, image: &loader::ElfImage) -> SysResult<Vec<Mapping>> {
    let mut out: Vec<Mapping> = Vec::new();
    for seg in &image.segments {
        let mut data = vec![0u8; seg.data_len as usize];
        let mut done = 0;
        while done < data.len() {
            let n = file
                .read_at(seg.data_offset + done as u64, &mut data[done..])
                .map_err(|e| SysError::from(Errno::from_raw(e).unwrap_or(Errno::EIO)))?;
            if n == 0 {
                return_errno!(ENOEXEC, "segment past the end of the file");
            }
            done += n;
        }
        let prot = Prot(seg.prot.bits());
        let m = Mapping {
            addr: seg.start,
            len: seg.end - seg.start,
            prot,
            contents_offset: seg.data_addr - seg.start,
            contents: data,
        };
        match out.last_mut() {
            Some(prev) if prev.addr + prev.len > m.addr => merge(prev, m),
            _ => out.push(m),
        }
    }
    Ok(out)
}

/// Folds `next` into `prev`, which it overlaps by a shared page.
fn merge(prev: &mut Mapping, next: Mapping) {
    let end = (prev.addr + prev.len).max(next.addr + next.len);
    let mut contents = vec![0u8; (end - prev.addr) as usize];
    let at = prev.contents_offset as usize;
    contents[at..at + prev.contents.len()].copy_from_slice(&prev.contents);
    let at = (next.addr - prev.addr + next.contents_offset) as usize;
    contents[at..at + next.contents.len()].copy_from_slice(&next.contents);
    prev.len = end - prev.addr;
    prev.prot = prev.prot | next.prot;
    prev.contents = contents;
    prev.contents_offset = 0;
}

/// The highest stack top whose mapping avoids the platform's reserved pages.
fn stack_top(reserved: &[(u64, u64)]) -> u64 {
    let mut top = loader::STACK_TOP;
    loop {
        let bottom = top - STACK_SIZE;
        match reserved.iter().find(|&&(s, e)| s < top && bottom < e) {
            Some(&(s, _)) => top = s & !(PAGE - 1),
            None => return top,
        }
    }
}

/// The address range covered by the `maps` whose protection `pick`s, or
/// `None` if none does.
fn span(maps: &[Mapping], pick: impl Fn(Prot) -> bool) -> Option<(u64, u64)> {
    maps.iter()
        .filter(|m| pick(m.prot))
        .map(|m| (m.addr, m.addr + m.len))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
}

/// Replaces `task`'s program with the one at `path`. On an error before the
/// old image is gone, the task carries on (the caller fails its `execve`).
pub fn exec(
    kernel: &Kernel,
    task: &Arc<Task>,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> SysResult<()> {
    let cx = task.fs_context();
    let mut resolver = VfsResolver {
        cx: &cx,
        opened: Vec::new(),
    };
    let file = resolver.open_program(path)?;
    let main = file.clone();
    let reserved = kernel.platform().reserved_ranges();
    let top = stack_top(&reserved);
    let req = ExecRequest {
        filename: path,
        argv: &argv,
        envp: &envp,
        stack_rlimit: STACK_SIZE,
        pie_random: (random_u64() & ((1 << 28) - 1)) << 12,
        mmap_base: loader::mmap_base(STACK_SIZE, 0, (random_u64() & ((1 << 28) - 1)) << 12),
    };
    let loaded = loader::load(&mut resolver, file, &req)
        .map_err(|e| SysError::from(Errno::from_raw(e.errno()).unwrap_or(Errno::ENOEXEC)))?;

    // For a script the image is its (last) interpreter's, whose path the
    // loader put in argv[0].
    let exe_file = match loaded.script_depth {
        0 => main,
        _ => resolver.opened(&loaded.argv[0])?,
    };
    let mut maps = mappings(&exe_file, &loaded.executable)?;
    let code = span(&maps, |p| p.0 & Prot::EXEC.0 != 0)
        .or_else(|| span(&maps, |_| true))
        .unwrap_or_default();
    let data = span(&maps, |p| p.0 & Prot::WRITE.0 != 0).unwrap_or((code.1, code.1));
    if let (Some(interp), Some(ipath)) = (&loaded.interpreter, &loaded.interpreter_path) {
        maps.extend(mappings(&resolver.opened(ipath)?, interp)?);
    }
    maps.sort_by_key(|m| m.addr);

    let mut random = [0u8; 16];
    let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
    let mut aux = loaded.aux_values();
    aux.uid = u64::from(cx.creds.uid);
    aux.euid = u64::from(cx.creds.uid);
    aux.gid = u64::from(cx.creds.gid);
    aux.egid = u64::from(cx.creds.gid);
    aux.hwcap = host_auxval(libc::AT_HWCAP);
    aux.hwcap2 = host_auxval(libc::AT_HWCAP2);
    aux.minsigstksz = host_auxval(51);
    aux.sysinfo_ehdr = kernel.platform().vdso_base();
    let stack = loader::build_stack(&StackSpec {
        stack_top: top,
        argv: &loaded.argv,
        envp: &envp,
        execfn: path,
        random,
        platform: Some(loader::PLATFORM),
        shift: 0,
        aux,
    })
    .map_err(|e| SysError::from(Errno::from_raw(e.errno()).unwrap_or(Errno::E2BIG)))?;
    let (args, env) = (
        (stack.arg_start, stack.arg_end),
        (stack.env_start, stack.env_end),
    );
    let stack_base = top - STACK_SIZE;
    let stack_prot = if loaded.stack_executable {
        Prot::RW | Prot::EXEC
    } else {
        Prot::RW
    };
    maps.push(Mapping {
        addr: stack_base,
        len: STACK_SIZE,
        prot: stack_prot,
        contents_offset: stack.sp - stack_base,
        contents: stack.bytes,
    });

    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let comm = name[..name.len().min(15)].to_vec();
    let image = Image {
        mappings: maps,
        entry: loaded.entry,
        stack_pointer: stack.sp,
        name: comm.clone(),
        layout: MmLayout {
            start_code: code.0,
            end_code: code.1,
            start_data: data.0,
            end_data: data.1,
            start_brk: loaded.brk,
            brk: loaded.brk,
            start_stack: stack.sp,
            arg_start: args.0,
            arg_end: args.1,
            env_start: env.0,
            env_end: env.1,
            auxv: 0,
            auxv_size: 0,
            exe_fd: u32::MAX,
        },
    };
    // What /proc shows about the process changes before the new program
    // runs its first instruction, as with Linux's exec; restored if the
    // image cannot be installed and the old program goes on.
    let mut cmdline = loaded.argv.join(&0u8);
    cmdline.push(0);
    let mut environ = envp.join(&0u8);
    if !envp.is_empty() {
        environ.push(0);
    }
    let new = super::task::Image {
        comm,
        exe: cx
            .vfs
            .path_of(&cx.root, &cx.vfs.lookup(&cx, At::Cwd, path, true)?),
        cmdline,
        environ,
        args,
        env,
    };
    let old = std::mem::replace(&mut task.group.state().image, new);
    // Close-on-exec descriptors go before the new program can run (it must
    // find the lowest numbers free). The platform fails an image before
    // tearing down the old one only for an invalid layout, which the loader
    // never produces.
    task.files.close_on_exec();
    if let Err(e) = kernel.platform().install_image(task.host, image) {
        tracing::warn!("exec {}: {e}", String::from_utf8_lossy(path));
        task.group.state().image = old;
        return Err(SysError::from(Errno::ENOEXEC));
    }
    Ok(())
}

/// Reads a NULL-terminated array of strings (argv or envp) from the caller.
fn read_strings(mem: &crate::platform::Memory<'_>, mut addr: u64) -> SysResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    loop {
        let ptr: u64 = mem.read(addr).map_err(|_| SysError::from(Errno::EFAULT))?;
        if ptr == 0 {
            return Ok(out);
        }
        if out.len() >= MAX_ARGS {
            return_errno!(E2BIG);
        }
        out.push(
            mem.read_cstring(ptr, MAX_ARG_STRLEN)
                .map_err(|_| SysError::from(Errno::EFAULT))?,
        );
        addr += 8;
    }
}

/// Serves an `execve`/`execveat` a stub thread stopped in.
pub fn exec_request(kernel: &Arc<Kernel>, task: &Arc<Task>, call: ExecCall, args: [u64; 6]) {
    let result = (|| {
        let mem = kernel.platform().memory(task.host);
        let (dirfd, path, argv, envp, flags) = match call {
            ExecCall::Execve => (libc::AT_FDCWD, args[0], args[1], args[2], 0),
            ExecCall::Execveat => (args[0] as i32, args[1], args[2], args[3], args[4] as i32),
        };
        let mut path = mem
            .read_cstring(path, crate::vfs::PATH_MAX)
            .map_err(|_| SysError::from(Errno::EFAULT))?;
        if dirfd != libc::AT_FDCWD || flags != 0 {
            // execveat relative to a directory FD: resolve to an absolute
            // path in the task's root so the loader can reopen it.
            if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
                return_errno!(EINVAL);
            }
            let file = task.files.get(dirfd)?;
            let cx = task.fs_context();
            let base = cx.vfs.path_of(&cx.root, file.path());
            if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                path = base;
            } else if path.first() != Some(&b'/') {
                let mut p = base;
                p.push(b'/');
                p.extend_from_slice(&path);
                path = p;
            }
        }
        let argv = read_strings(&mem, argv)?;
        let envp = read_strings(&mem, envp)?;
        exec(kernel, task, &path, argv, envp)
    })();
    if let Err(e) = result {
        if let Err(pe) = kernel.platform().fail_exec(task.host, e.errno.as_raw()) {
            tracing::debug!("fail exec of {:?}: {pe}", task.host);
        }
    }
}

/// Finds init's program as runc does: a name without `/` is searched in the
/// `PATH` of init's environment.
pub fn find_in_path(
    cx: &FsContext,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<Vec<u8>, BootError> {
    let Some(name) = argv.first() else {
        return Err(BootError::NotFound(String::new()));
    };
    if name.contains(&b'/') {
        return Ok(name.clone());
    }
    let path = envp
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(|&b| b == b':').filter(|d| !d.is_empty()) {
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(name);
        let found = cx
            .vfs
            .lookup(cx, At::Cwd, &candidate, true)
            .and_then(|p| p.dentry.inode().stat());
        if let Ok(stat) = found {
            if stat.file_type() == Some(FileType::Regular)
                && check(&stat, &cx.creds, Access::EXEC).is_ok()
            {
                return Ok(candidate);
            }
        }
    }
    Err(BootError::NotFound(
        String::from_utf8_lossy(name).into_owned(),
    ))
}
