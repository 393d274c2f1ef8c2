//! `devpts`, mounted at `/dev/pts`: `ptmx`, whose every open makes a new
//! pseudo-terminal pair and returns its master, and one replica node `N`
//! per pair whose master is open (`/dev/pts/N`, character device 136:N).
//!
//! Each mount is its own instance (Linux's `newinstance`, as runtimes
//! mount it), numbering its pairs from 0 with the lowest free index.
//! Attributes follow the options runc and Docker pass (`ptmxmode=0666`,
//! `mode=0620`, `gid=5`).

use super::{Master, Terminal};
use crate::errno::SysResult;
use crate::return_errno;
use crate::sync::lock;
use crate::vfs::attr::{makedev, FileType, SetAttr, Stat, StatFs};
use crate::vfs::inode::{FileOps, Filesystem, Inode};
use crate::vfs::synthetic::{Attrs, Dir, DirContents, Entry};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

/// `DEVPTS_SUPER_MAGIC`.
const DEVPTS_MAGIC: u64 = 0x1cd1;
/// Major number of pty replicas (`UNIX98_PTY_SLAVE_MAJOR`).
pub const PTS_MAJOR: u32 = 136;
/// The `tty` group, owner of replicas (`gid=5`).
const TTY_GID: u32 = 5;
/// Inode numbers as Linux's devpts gives them: root 1, ptmx 2, N at N+3.
const PTMX_INO: u64 = 2;
const FIRST_PTS_INO: u64 = 3;
/// How many pairs one instance may hold (Linux's default `max`).
const MAX_PTYS: u32 = 4096;

/// The pairs of one devpts instance, by index.
struct Table {
    dev: u64,
    pairs: Mutex<BTreeMap<u32, Weak<Terminal>>>,
}

impl Table {
    /// The pair at `index` while its master is open.
    fn get(&self, index: u32) -> Option<Arc<Terminal>> {
        lock(&self.pairs)
            .get(&index)
            .and_then(Weak::upgrade)
            .filter(|t| t.has_master())
    }

    /// A new pair at the lowest free index, with its first master end.
    fn allocate(&self) -> SysResult<Master> {
        let mut pairs = lock(&self.pairs);
        pairs.retain(|_, w| w.upgrade().is_some_and(|t| t.has_master()));
        let Some(index) = (0..MAX_PTYS).find(|i| !pairs.contains_key(i)) else {
            return_errno!(ENOSPC, "no free pty index");
        };
        let t = Terminal::new(index);
        let master = t.open_master();
        pairs.insert(index, Arc::downgrade(&t));
        Ok(master)
    }

    fn live(&self) -> Vec<Arc<Terminal>> {
        lock(&self.pairs)
            .values()
            .filter_map(Weak::upgrade)
            .filter(|t| t.has_master())
            .collect()
    }
}

/// The root directory's contents.
struct Listing {
    table: Arc<Table>,
    ptmx: Arc<dyn Inode>,
}

impl DirContents for Listing {
    fn entries(&self) -> SysResult<Vec<Entry>> {
        let mut v = vec![Entry {
            name: b"ptmx".to_vec(),
            kind: FileType::CharDevice,
            ino: PTMX_INO,
            cookie: crate::vfs::file::FIRST_FS_OFF,
        }];
        for t in self.table.live() {
            let i = u64::from(t.index());
            v.push(Entry {
                name: t.index().to_string().into_bytes(),
                kind: FileType::CharDevice,
                ino: FIRST_PTS_INO + i,
                cookie: crate::vfs::file::FIRST_FS_OFF + 1 + i,
            });
        }
        Ok(v)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if name == b"ptmx" {
            return Ok(self.ptmx.clone());
        }
        let index = std::str::from_utf8(name)
            .ok()
            .filter(|s| !s.starts_with('0') || s.len() == 1)
            .and_then(|s| s.parse::<u32>().ok());
        match index.and_then(|i| self.table.get(i)) {
            Some(term) => Ok(Arc::new(ReplicaNode {
                dev: self.table.dev,
                term,
            })),
            None => return_errno!(ENOENT),
        }
    }

    fn revalidate(&self, name: &[u8], child: &Arc<dyn Inode>) -> SysResult<bool> {
        let Some(node) = child.as_any().downcast_ref::<ReplicaNode>() else {
            return Ok(name == b"ptmx");
        };
        Ok(self
            .table
            .get(node.term.index())
            .is_some_and(|t| Arc::ptr_eq(&t, &node.term)))
    }

    fn subdirs(&self) -> SysResult<u32> {
        Ok(0)
    }
}

/// `/dev/pts/ptmx`: each open is a new pair.
struct PtmxNode {
    table: Weak<Table>,
}

impl Inode for PtmxNode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        let dev = self.table.upgrade().map_or(0, |t| t.dev);
        let mut st = Attrs::new(dev, b"ptmx", 0o666).stat(FileType::CharDevice, 1, 0);
        st.ino = PTMX_INO;
        st.rdev = makedev(
            crate::vfs::devfs::TTYAUX_MAJOR,
            crate::vfs::devfs::PTMX_MINOR,
        );
        Ok(st)
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::CharDevice)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        return_errno!(EPERM)
    }

    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        let Some(table) = self.table.upgrade() else {
            return_errno!(ENXIO);
        };
        Ok(Box::new(table.allocate()?))
    }
}

/// `/dev/pts/N`.
struct ReplicaNode {
    dev: u64,
    term: Arc<Terminal>,
}

impl Inode for ReplicaNode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stat(&self) -> SysResult<Stat> {
        let i = self.term.index();
        let mut st = Attrs::new(self.dev, i.to_string().as_bytes(), 0o620)
            .owned_by(0, TTY_GID)
            .stat(FileType::CharDevice, 1, 0);
        st.ino = FIRST_PTS_INO + u64::from(i);
        st.rdev = makedev(PTS_MAJOR, i);
        Ok(st)
    }

    fn file_type(&self) -> SysResult<FileType> {
        Ok(FileType::CharDevice)
    }

    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        // Ownership of replicas is fixed (root:tty, 0620).
        return_errno!(EPERM)
    }

    fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
        Ok(Box::new(self.term.open_replica()?))
    }
}

/// One devpts instance.
pub struct Devpts {
    table: Arc<Table>,
    root: Arc<dyn Inode>,
}

impl Devpts {
    pub fn new() -> Arc<Devpts> {
        super::register_tty_device();
        let dev = crate::vfs::anon_dev();
        let table = Arc::new(Table {
            dev,
            pairs: Mutex::default(),
        });
        let ptmx: Arc<dyn Inode> = Arc::new(PtmxNode {
            table: Arc::downgrade(&table),
        });
        let root = Dir::new(
            Attrs::new(dev, b"", 0o755),
            Listing {
                table: table.clone(),
                ptmx,
            },
        );
        Arc::new(Devpts { table, root })
    }
}

impl Filesystem for Devpts {
    fn fs_type(&self) -> &'static str {
        "devpts"
    }

    fn root(&self) -> SysResult<Arc<dyn Inode>> {
        Ok(self.root.clone())
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs {
            fs_type: DEVPTS_MAGIC,
            block_size: 4096,
            fragment_size: 4096,
            name_length: crate::vfs::NAME_MAX as u64,
            ..StatFs::default()
        })
    }

    fn revalidates(&self) -> bool {
        // Replicas vanish when their master closes.
        true
    }
}

impl std::fmt::Debug for Devpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devpts")
            .field("pairs", &self.table.live().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::tty::Replica;
    use crate::vfs::attr::{major, minor};
    use crate::vfs::{At, FsContext, Vfs};

    const RDWR: u32 = libc::O_RDWR as u32;

    fn vfs() -> (Arc<Vfs>, FsContext) {
        let vfs = Arc::new(Vfs::new(Devpts::new(), false).unwrap());
        let cx = FsContext::new(&vfs);
        (vfs, cx)
    }

    fn names(vfs: &Vfs, cx: &FsContext) -> Vec<String> {
        let d = vfs
            .open(cx, At::Cwd, b"/", libc::O_RDONLY as u32, 0)
            .unwrap();
        d.getdents(1 << 16)
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.name).unwrap())
            .collect()
    }

    #[test]
    fn ptmx_makes_numbered_pairs_that_vanish_with_their_master() {
        let (vfs, cx) = vfs();
        assert_eq!(names(&vfs, &cx), [".", "..", "ptmx"]);
        let m0 = vfs.open(&cx, At::Cwd, b"ptmx", RDWR, 0).unwrap();
        let m1 = vfs.open(&cx, At::Cwd, b"ptmx", RDWR, 0).unwrap();
        assert_eq!(names(&vfs, &cx), [".", "..", "ptmx", "0", "1"]);
        let st = vfs.stat(&cx, At::Cwd, b"1", true).unwrap();
        assert_eq!(st.mode, libc::S_IFCHR | 0o620);
        assert_eq!((major(st.rdev), minor(st.rdev)), (136, 1));
        assert_eq!((st.uid, st.gid), (0, 5));
        // Locked until unlockpt.
        assert_eq!(
            vfs.open(&cx, At::Cwd, b"0", RDWR, 0).unwrap_err(),
            Errno::EIO
        );
        let master = m0.ops().as_any().unwrap().downcast_ref::<Master>().unwrap();
        master.terminal().set_locked(false);
        let r = vfs.open(&cx, At::Cwd, b"0", RDWR, 0).unwrap();
        assert!(r.ops().as_any().unwrap().is::<Replica>());
        assert_eq!(m0.write(b"ls\n").unwrap(), 3);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        drop(m0);
        assert_eq!(names(&vfs, &cx), [".", "..", "ptmx", "1"]);
        assert_eq!(
            vfs.stat(&cx, At::Cwd, b"0", true).unwrap_err(),
            Errno::ENOENT
        );
        // The lowest free index is reused.
        let again = vfs.open(&cx, At::Cwd, b"ptmx", RDWR, 0).unwrap();
        let t = again
            .ops()
            .as_any()
            .unwrap()
            .downcast_ref::<Master>()
            .unwrap();
        assert_eq!(t.terminal().index(), 0);
        drop(m1);
        assert_eq!(
            vfs.stat(&cx, At::Cwd, b"00", true).unwrap_err(),
            Errno::ENOENT
        );
    }
}
