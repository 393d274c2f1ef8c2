//! Building blocks for filesystems whose contents the sentry generates
//! (procfs, sysfs): directories whose names come from code, files whose
//! bytes are produced when read, and symlinks whose targets are computed
//! each time they are followed. None of them can be changed by name
//! (create, unlink, rename, chmod fail with `EPERM`).
//!
//! Inode numbers are derived from a node's path inside its filesystem, so
//! a name gets the same number whether it is reached by `getdents64` or by
//! a lookup, and a recreated node (a `/proc/PID` after the dentry cache
//! dropped it) keeps its number: `find` and `du` compare `(dev, ino)`.
//!
//! No lock is held by these nodes: generators run unlocked and may take the
//! locks of whatever they describe (the kernel's process table), which sit
//! outside the VFS's order.

use super::attr::{Dirent, FileType, SetAttr, Stat, StatFs, Timespec};
use super::file::FIRST_FS_OFF;
use super::inode::{FileOps, Filesystem, Inode, WritePos};
use crate::errno::SysResult;
use crate::return_errno;
use crate::sync::lock;
use std::any::Any;
use std::sync::{Arc, Mutex};

/// Produces a file's whole contents or a symlink's target.
pub type Generator = Arc<dyn Fn() -> SysResult<Vec<u8>> + Send + Sync>;
/// Receives one `write(2)` to a generated file.
pub type Writer = Arc<dyn Fn(&[u8]) -> SysResult<()> + Send + Sync>;

/// A generator that always returns `bytes`.
pub fn constant(bytes: impl Into<Vec<u8>>) -> Generator {
    let bytes: Vec<u8> = bytes.into();
    Arc::new(move || Ok(bytes.clone()))
}

/// The inode number of the node at `path` (relative to the filesystem
/// root, which is inode 1): 64-bit FNV-1a, kept clear of 0 and 1.
pub fn ino_of(path: &[u8]) -> u64 {
    if path.is_empty() {
        return 1;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(2)
}

/// The attributes of a generated node.
#[derive(Debug, Clone, Copy)]
pub struct Attrs {
    pub dev: u64,
    pub ino: u64,
    /// Permission bits only; the type comes from the node kind.
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Shown as all four timestamps (when the node was made).
    pub time: Timespec,
}

impl Attrs {
    /// Root-owned attributes for the node at `path` of a filesystem on `dev`.
    pub fn new(dev: u64, path: &[u8], perm: u32) -> Attrs {
        Attrs {
            dev,
            ino: ino_of(path),
            perm,
            uid: 0,
            gid: 0,
            time: Timespec::now(),
        }
    }

    pub fn owned_by(mut self, uid: u32, gid: u32) -> Attrs {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn stat(&self, kind: FileType, nlink: u32, size: u64) -> Stat {
        Stat {
            dev: self.dev,
            ino: self.ino,
            mode: kind.mode_bits() | (self.perm & 0o7777),
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: 0,
            atime: self.time,
            mtime: self.time,
            ctime: self.time,
            btime: self.time,
            mask: libc::STATX_BASIC_STATS,
            attributes: 0,
        }
    }
}

/// A filesystem made of generated nodes.
pub struct SynthFs {
    fs_type: &'static str,
    magic: u64,
    root: Arc<dyn Inode>,
    revalidates: bool,
}

impl SynthFs {
    /// `revalidates` is true when names can disappear without the VFS
    /// seeing it (processes exit, FDs close), so cached dentries are asked
    /// [`DirContents::revalidate`] on each walk.
    pub fn new(
        fs_type: &'static str,
        magic: u64,
        root: Arc<dyn Inode>,
        revalidates: bool,
    ) -> Arc<SynthFs> {
        Arc::new(SynthFs {
            fs_type,
            magic,
            root,
            revalidates,
        })
    }
}

impl Filesystem for SynthFs {
    fn fs_type(&self) -> &'static str {
        self.fs_type
    }

    fn root(&self) -> SysResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs {
            fs_type: self.magic,
            block_size: 4096,
            fragment_size: 4096,
            name_length: super::NAME_MAX as u64,
            ..StatFs::default()
        })
    }

    fn revalidates(&self) -> bool {
        self.revalidates
    }
}

/// One name of a generated directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: FileType,
    pub ino: u64,
    /// The `getdents64` offset of this entry, at least
    /// [`FIRST_FS_OFF`] and strictly increasing along the listing. Tying it
    /// to the name (a PID, an FD number) rather than to the position keeps
    /// a listing stable while entries come and go between two reads.
    pub cookie: u64,
}

/// What a generated directory contains.
pub trait DirContents: Send + Sync + 'static {
    /// The entries in increasing cookie order.
    fn entries(&self) -> SysResult<Vec<Entry>>;
    /// The node called `name` (`ENOENT` if there is none).
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>>;
    /// Whether `child`, found earlier under `name`, still is what the name
    /// means (the process or FD may be gone, or the PID reused).
    fn revalidate(&self, _name: &[u8], _child: &Arc<dyn Inode>) -> SysResult<bool> {
        Ok(true)
    }
    /// How many entries are directories (each adds a link to the
    /// directory's `st_nlink`). Contents whose entries are never directories
    /// say so, so a `stat` need not list them.
    fn subdirs(&self) -> SysResult<u32> {
        Ok(self
            .entries()?
            .iter()
            .filter(|e| e.kind == FileType::Directory)
            .count() as u32)
    }
}

/// One child of a [`StaticDir`], with what a listing shows of it.
struct Child {
    name: Vec<u8>,
    node: Arc<dyn Inode>,
    kind: FileType,
    ino: u64,
}

/// A directory with a fixed list of children, in the order given.
#[derive(Default)]
pub struct StaticDir {
    children: Vec<Child>,
}

impl StaticDir {
    pub fn new() -> StaticDir {
        StaticDir::default()
    }

    pub fn with(mut self, name: &str, node: Arc<dyn Inode>) -> StaticDir {
        self.add(name, node);
        self
    }

    pub fn add(&mut self, name: &str, node: Arc<dyn Inode>) {
        // Kept from the start so that a listing (and the `stat` of the
        // directory, which counts subdirectories) does not walk the subtree.
        let kind = node.file_type().unwrap_or(FileType::Regular);
        let ino = node.stat().map(|s| s.ino).unwrap_or(0);
        self.children.push(Child {
            name: name.as_bytes().to_vec(),
            node,
            kind,
            ino,
        });
    }

    /// The entries, numbered from `first_cookie`.
    pub fn entries_from(&self, first_cookie: u64) -> SysResult<Vec<Entry>> {
        Ok(self
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| Entry {
                name: c.name.clone(),
                kind: c.kind,
                ino: c.ino,
                cookie: first_cookie + i as u64,
            })
            .collect())
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<dyn Inode>> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.node)
    }
}

impl DirContents for StaticDir {
    fn entries(&self) -> SysResult<Vec<Entry>> {
        self.entries_from(FIRST_FS_OFF)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        match self.get(name) {
            Some(n) => Ok(n.clone()),
            None => return_errno!(ENOENT),
        }
    }
}

/// A generated directory.
pub struct Dir {
    attrs: Attrs,
    contents: Arc<dyn DirContents>,
}

impl Dir {
    pub fn new(attrs: Attrs, contents: impl DirContents) -> Arc<Dir> {
        Arc::new(Dir {
            attrs,
            contents: Arc::new(contents),
        })
    }
}

/// The name operations no generated directory supports.
macro_rules! read_only_names {
    () => {
        fn create(
            &self,
            _name: &[u8],
            _node: &super::attr::NewNode,
            _attrs: &super::attr::NewAttrs,
        ) -> SysResult<Arc<dyn Inode>> {
            return_errno!(EPERM)
        }

        fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
            return_errno!(EPERM)
        }

        fn unlink(&self, _name: &[u8], _child: &dyn Inode) -> SysResult<()> {
            return_errno!(EPERM)
        }

        fn rmdir(&self, _name: &[u8], _child: &dyn Inode) -> SysResult<()> {
            return_errno!(EPERM)
        }

        fn rename(
            &self,
            _old_name: &[u8],
            _new_dir: &dyn Inode,
            _new_name: &[u8],
            _flags: super::attr::RenameFlags,
        ) -> SysResult<()> {
            return_errno!(EPERM)
        }
    };
}

impl Inode for Dir {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        // `..` and `.` plus one `..` per subdirectory, as real directories
        // count; tools use it to tell leaf directories.
        Ok(self
            .attrs
            .stat(FileType::Directory, 2 + self.contents.subdirs()?, 0))
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::Directory)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        return_errno!(EPERM)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        self.contents.lookup(name)
    }

    fn revalidate(&self, name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        self.contents.revalidate(name, child)
    }

    read_only_names!();

    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        Ok(Box::new(DirFile {
            contents: self.contents.clone(),
        }))
    }
}

struct DirFile {
    contents: Arc<dyn DirContents>,
}

impl FileOps for DirFile {
    fn readdir(&self, off: u64, emit: &mut dyn FnMut(Dirent) -> bool) -> SysResult<()> {
        for e in self.contents.entries()? {
            if e.cookie < off {
                continue;
            }
            let d = Dirent {
                name: e.name,
                ino: e.ino,
                kind: e.kind.dirent_type(),
                next_off: e.cookie + 1,
            };
            if !emit(d) {
                break;
            }
        }
        Ok(())
    }
}

/// A regular file whose contents are generated.
pub struct File {
    attrs: Attrs,
    generate: Generator,
    write: Option<Writer>,
}

impl File {
    pub fn new(attrs: Attrs, generate: Generator) -> Arc<File> {
        Arc::new(File {
            attrs,
            generate,
            write: None,
        })
    }

    /// A file that also accepts writes, each handed whole to `write`.
    pub fn writable(attrs: Attrs, generate: Generator, write: Writer) -> Arc<File> {
        Arc::new(File {
            attrs,
            generate,
            write: Some(write),
        })
    }
}

impl Inode for File {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        // Size 0, as Linux reports for generated files: the length is only
        // known once generated.
        Ok(self.attrs.stat(FileType::Regular, 1, 0))
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::Regular)
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        // `O_TRUNC` on a writable file (`echo 1 > file`) is harmless.
        if self.write.is_some()
            && *attr
                == (SetAttr {
                    size: Some(0),
                    ..SetAttr::default()
                })
        {
            return Ok(());
        }
        return_errno!(EPERM)
    }

    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>> {
        let acc = flags & libc::O_ACCMODE as u32;
        if acc != libc::O_RDONLY as u32 && self.write.is_none() {
            return_errno!(EACCES, "generated file is read-only");
        }
        Ok(Box::new(GeneratedFile {
            generate: self.generate.clone(),
            write: self.write.clone(),
            snapshot: Mutex::new(None),
        }))
    }
}

/// An open generated file. Like Linux's `seq_file`, the contents are
/// generated by a read at offset 0 and kept for reads further on, so a
/// reader in several chunks sees one consistent snapshot and one that
/// seeks back to 0 (`top` re-reading `/proc/stat`) sees fresh data.
struct GeneratedFile {
    generate: Generator,
    write: Option<Writer>,
    snapshot: Mutex<Option<Vec<u8>>>,
}

impl FileOps for GeneratedFile {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        let mut snap = lock(&self.snapshot);
        if off == 0 || snap.is_none() {
            *snap = Some((self.generate)()?);
        }
        let data = snap.as_deref().unwrap_or_default();
        let start = usize::try_from(off).unwrap_or(usize::MAX).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        let Some(write) = &self.write else {
            return_errno!(EINVAL)
        };
        write(buf)?;
        let off = match pos {
            WritePos::At(o) => o,
            WritePos::End => 0,
        };
        Ok((buf.len(), off + buf.len() as u64))
    }
}

/// A symlink whose target is computed whenever it is read or followed.
pub struct Symlink {
    attrs: Attrs,
    target: Generator,
}

impl Symlink {
    pub fn new(attrs: Attrs, target: Generator) -> Arc<Symlink> {
        Arc::new(Symlink { attrs, target })
    }
}

impl Inode for Symlink {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        let size = (self.target)().map(|t| t.len() as u64).unwrap_or(0);
        Ok(self.attrs.stat(FileType::Symlink, 1, size))
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::Symlink)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        return_errno!(EPERM)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        (self.target)()
    }

    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        return_errno!(ELOOP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    fn read_all(ops: &dyn FileOps) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = ops.read_at(out.len() as u64, &mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn generated_file_snapshots_until_reread_from_zero() {
        let counter = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let c = counter.clone();
        let gen: Generator = Arc::new(move || {
            let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(format!("generation {n}\n").into_bytes())
        });
        let f = File::new(Attrs::new(9, b"f", 0o444), gen);
        let ops = f.open(libc::O_RDONLY as u32).unwrap();
        assert_eq!(read_all(&*ops), b"generation 0\n");
        assert_eq!(read_all(&*ops), b"generation 1\n");
        assert_eq!(f.open(libc::O_WRONLY as u32).err().unwrap(), Errno::EACCES);
    }

    #[test]
    fn static_dir_lists_in_order_with_stable_inodes() {
        let a = File::new(Attrs::new(9, b"d/a", 0o444), constant("a"));
        let b = Dir::new(Attrs::new(9, b"d/b", 0o555), StaticDir::new());
        let d = Dir::new(
            Attrs::new(9, b"d", 0o555),
            StaticDir::new().with("a", a).with("b", b),
        );
        assert_eq!(d.stat().unwrap().nlink, 3);
        let ops = d.open(0).unwrap();
        let mut got = Vec::new();
        ops.readdir(FIRST_FS_OFF + 1, &mut |e| {
            got.push(e);
            true
        })
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, b"b");
        assert_eq!(got[0].ino, ino_of(b"d/b"));
        assert_eq!(d.lookup(b"a").unwrap().stat().unwrap().ino, ino_of(b"d/a"));
        assert_eq!(d.lookup(b"c").err().unwrap(), Errno::ENOENT);
        assert_eq!(
            d.unlink(b"a", &*d.lookup(b"a").unwrap()).unwrap_err(),
            Errno::EPERM
        );
    }
}
