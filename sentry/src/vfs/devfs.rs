//! `/dev` as a container expects it, and the behaviour of device files.
//!
//! The tree is the one runc and runsc give a container: a writable tmpfs
//! (mode 0755) holding the character devices `null`, `zero`, `full`,
//! `random`, `urandom` and `tty`, the symlinks `fd`, `stdin`, `stdout`,
//! `stderr` into `/proc/self/fd` and `ptmx -> pts/ptmx`, a `pts` directory
//! for devpts to be mounted on (holding a `ptmx` node until then, as an
//! empty devpts does) and a world-writable sticky `shm` directory, which an
//! OCI `/dev/shm` mount may cover.
//!
//! What a device file does depends on its device number, not on where the
//! node lives (as on Linux, `mknod /tmp/n c 1 3` is another `/dev/null`):
//! every filesystem that keeps device nodes opens them with
//! [`open_device`]. The memory devices are built in; others (the terminal
//! devices) are provided by whoever implements them through
//! [`register_char_device`].

use super::attr::{makedev, FileType, NewAttrs, NewNode};
use super::inode::{FileOps, Filesystem, WritePos};
use super::tmpfs::{Filestore, MemoryFilestore, Tmpfs};
use crate::errno::SysResult;
use crate::return_errno;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Major 1: the memory devices.
pub const MEM_MAJOR: u32 = 1;
pub const NULL_MINOR: u32 = 3;
pub const ZERO_MINOR: u32 = 5;
pub const FULL_MINOR: u32 = 7;
pub const RANDOM_MINOR: u32 = 8;
pub const URANDOM_MINOR: u32 = 9;
/// Major 5: `/dev/tty` (the caller's controlling terminal) and `/dev/ptmx`.
pub const TTYAUX_MAJOR: u32 = 5;
pub const TTY_MINOR: u32 = 0;
pub const PTMX_MINOR: u32 = 2;

/// A character device driver: what opening a node with its number gives.
pub trait CharDevice: Send + Sync {
    /// Opens the device with `open(2)` flags. The calling task is the one
    /// the kernel is serving on this thread, for drivers that depend on it
    /// (`/dev/tty` is the caller's controlling terminal).
    fn open(&self, flags: u32) -> SysResult<Box<dyn FileOps>>;
}

type Registry = RwLock<HashMap<(u32, u32), Arc<dyn CharDevice>>>;

fn registry() -> &'static Registry {
    static DEVICES: OnceLock<Registry> = OnceLock::new();
    DEVICES.get_or_init(Registry::default)
}

/// Installs the driver of character device `major:minor`, replacing any
/// earlier one, which is returned. The terminal layer registers `5:0`
/// (`/dev/tty`: open the caller's controlling terminal, `ENXIO` without
/// one) and devpts registers `5:2` and its pty slaves here.
pub fn register_char_device(
    major: u32,
    minor: u32,
    dev: Arc<dyn CharDevice>,
) -> Option<Arc<dyn CharDevice>> {
    let mut r = registry().write().unwrap_or_else(|p| p.into_inner());
    r.insert((major, minor), dev)
}

/// Opens a device node of type `kind` with device number `rdev`.
pub fn open_device(kind: FileType, rdev: u64, flags: u32) -> SysResult<Box<dyn FileOps>> {
    if kind != FileType::CharDevice {
        // No block devices in a sandbox; sockets are opened by connect(2).
        return_errno!(ENXIO);
    }
    let (major, minor) = (super::attr::major(rdev), super::attr::minor(rdev));
    if major == MEM_MAJOR {
        let dev: Box<dyn FileOps> = match minor {
            NULL_MINOR => Box::new(Null),
            ZERO_MINOR => Box::new(Zero),
            FULL_MINOR => Box::new(Full),
            RANDOM_MINOR | URANDOM_MINOR => Box::new(Random),
            _ => return_errno!(ENXIO),
        };
        return Ok(dev);
    }
    let driver = registry()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(major, minor))
        .cloned();
    match driver {
        Some(d) => d.open(flags),
        // The terminal hook: until the terminal layer registers 5:0, no
        // task has a controlling terminal, which is ENXIO, as on Linux.
        None if (major, minor) == (TTYAUX_MAJOR, TTY_MINOR) => {
            return_errno!(ENXIO, "no controlling terminal")
        }
        None => return_errno!(ENXIO, "no driver for this device"),
    }
}

/// A write that is accepted whole and goes nowhere.
fn discard(pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
    let off = match pos {
        WritePos::At(o) => o,
        WritePos::End => 0,
    };
    Ok((buf.len(), off.saturating_add(buf.len() as u64)))
}

/// `/dev/null`: reads are end of file, writes vanish.
struct Null;

impl FileOps for Null {
    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Ok(0)
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        discard(pos, buf)
    }
}

/// `/dev/zero`: endless zeros; writes vanish.
struct Zero;

impl FileOps for Zero {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        buf.fill(0);
        Ok(buf.len())
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        discard(pos, buf)
    }
}

/// `/dev/full`: reads like `/dev/zero`, every write finds the disk full.
struct Full;

impl FileOps for Full {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        buf.fill(0);
        Ok(buf.len())
    }

    fn write_at(&self, _pos: WritePos, _buf: &[u8]) -> SysResult<(usize, u64)> {
        return_errno!(ENOSPC)
    }
}

/// `/dev/random` and `/dev/urandom`: the host's CSPRNG. Since Linux 5.6
/// both only block until the pool is first seeded, which a running host
/// long has been, so they are one device here. Writes (entropy an
/// application offers) are accepted and ignored.
struct Random;

impl FileOps for Random {
    fn read_at(&self, _off: u64, buf: &mut [u8]) -> SysResult<usize> {
        getrandom::fill(buf).map_err(|_| crate::errno!(EIO, "host getrandom failed"))?;
        Ok(buf.len())
    }

    fn write_at(&self, pos: WritePos, buf: &[u8]) -> SysResult<(usize, u64)> {
        discard(pos, buf)
    }
}

/// A `/dev` on a memory-backed tmpfs.
pub fn new_memory() -> SysResult<Arc<Tmpfs>> {
    new(Arc::new(MemoryFilestore))
}

/// A `/dev` tree on a new tmpfs whose file data (files applications create
/// in `/dev`, `/dev/shm`) lives in `store`.
pub fn new(store: Arc<dyn Filestore>) -> SysResult<Arc<Tmpfs>> {
    let fs = Tmpfs::new(store, 0o755, 0, 0);
    let root = fs.root()?;
    let attrs = |perm| NewAttrs {
        perm,
        uid: 0,
        gid: 0,
    };
    let chr = |major, minor| NewNode::Special {
        kind: FileType::CharDevice,
        rdev: makedev(major, minor),
    };
    let devices = [
        ("null", MEM_MAJOR, NULL_MINOR),
        ("zero", MEM_MAJOR, ZERO_MINOR),
        ("full", MEM_MAJOR, FULL_MINOR),
        ("random", MEM_MAJOR, RANDOM_MINOR),
        ("urandom", MEM_MAJOR, URANDOM_MINOR),
        ("tty", TTYAUX_MAJOR, TTY_MINOR),
    ];
    for (name, major, minor) in devices {
        root.create(name.as_bytes(), &chr(major, minor), &attrs(0o666))?;
    }
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ];
    for (name, target) in links {
        let node = NewNode::Symlink {
            target: target.as_bytes().to_vec(),
        };
        root.create(name.as_bytes(), &node, &attrs(0o777))?;
    }
    let pts = root.create(b"pts", &NewNode::Directory, &attrs(0o755))?;
    pts.create(b"ptmx", &chr(TTYAUX_MAJOR, PTMX_MINOR), &attrs(0o666))?;
    root.create(b"shm", &NewNode::Directory, &attrs(0o1777))?;
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::vfs::attr::{major, minor};
    use crate::vfs::{At, FsContext, Vfs};

    const RDWR: u32 = libc::O_RDWR as u32;

    fn dev_vfs() -> (Arc<Vfs>, FsContext) {
        let vfs = Arc::new(Vfs::new(new_memory().unwrap(), false).unwrap());
        let cx = FsContext::new(&vfs);
        (vfs, cx)
    }

    #[test]
    fn nodes_have_linux_numbers_and_modes() {
        let (vfs, cx) = dev_vfs();
        for (name, ma, mi) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
            ("pts/ptmx", 5, 2),
        ] {
            let st = vfs.stat(&cx, At::Cwd, name.as_bytes(), true).unwrap();
            assert_eq!(st.mode, libc::S_IFCHR | 0o666, "{name}");
            assert_eq!((major(st.rdev), minor(st.rdev)), (ma, mi), "{name}");
        }
        let shm = vfs.stat(&cx, At::Cwd, b"shm", true).unwrap();
        assert_eq!(shm.mode, libc::S_IFDIR | 0o1777);
        assert_eq!(vfs.stat(&cx, At::Cwd, b"/", true).unwrap().perm(), 0o755);
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            let t = vfs.readlink(&cx, At::Cwd, name.as_bytes()).unwrap();
            assert_eq!(t, target.as_bytes());
        }
        // /dev/ptmx resolves to the placeholder node.
        let st = vfs.stat(&cx, At::Cwd, b"ptmx", true).unwrap();
        assert_eq!(minor(st.rdev), PTMX_MINOR);
    }

    #[test]
    fn memory_devices_behave() {
        let (vfs, cx) = dev_vfs();
        let open = |p: &str| vfs.open(&cx, At::Cwd, p.as_bytes(), RDWR, 0).unwrap();
        let mut buf = [0xaau8; 64];

        let null = open("null");
        assert_eq!(null.read(&mut buf).unwrap(), 0);
        assert_eq!(null.write(b"gone").unwrap(), 4);

        let zero = open("zero");
        assert_eq!(zero.read(&mut buf).unwrap(), 64);
        assert!(buf.iter().all(|b| *b == 0));
        assert_eq!(zero.write(b"x").unwrap(), 1);

        let full = open("full");
        buf.fill(1);
        assert_eq!(full.read(&mut buf).unwrap(), 64);
        assert!(buf.iter().all(|b| *b == 0));
        assert_eq!(full.write(b"x").unwrap_err(), Errno::ENOSPC);

        for name in ["random", "urandom"] {
            let f = open(name);
            let mut a = [0u8; 32];
            let mut b = [0u8; 32];
            assert_eq!(f.read(&mut a).unwrap(), 32);
            assert_eq!(f.read(&mut b).unwrap(), 32);
            assert_ne!(a, b, "{name}");
            assert_eq!(f.write(b"entropy").unwrap(), 7);
        }
    }

    #[test]
    fn tty_without_terminal_and_ptmx_without_devpts_are_enxio() {
        let (vfs, cx) = dev_vfs();
        let e = vfs.open(&cx, At::Cwd, b"tty", RDWR, 0).unwrap_err();
        assert_eq!(e, Errno::ENXIO);
        let e = vfs.open(&cx, At::Cwd, b"ptmx", RDWR, 0).unwrap_err();
        assert_eq!(e, Errno::ENXIO);
    }

    #[test]
    fn registered_driver_serves_its_number_anywhere() {
        struct Answer;
        impl CharDevice for Answer {
            fn open(&self, _flags: u32) -> SysResult<Box<dyn FileOps>> {
                Ok(Box::new(Zero))
            }
        }
        // A number no other test uses: the registry is process-wide.
        register_char_device(240, 7, Arc::new(Answer));
        let (vfs, cx) = dev_vfs();
        vfs.mknod(
            &cx,
            At::Cwd,
            b"shm/mine",
            libc::S_IFCHR | 0o600,
            makedev(240, 7),
        )
        .unwrap();
        let f = vfs.open(&cx, At::Cwd, b"shm/mine", RDWR, 0).unwrap();
        let mut b = [9u8; 4];
        assert_eq!(f.read(&mut b).unwrap(), 4);
        assert_eq!(b, [0; 4]);
        // And a second /dev/null made by mknod is a /dev/null.
        vfs.mknod(
            &cx,
            At::Cwd,
            b"shm/null2",
            libc::S_IFCHR | 0o666,
            makedev(1, 3),
        )
        .unwrap();
        let f = vfs.open(&cx, At::Cwd, b"shm/null2", RDWR, 0).unwrap();
        assert_eq!(f.read(&mut b).unwrap(), 0);
    }

    #[test]
    fn fifo_in_tmpfs_connects_its_openers() {
        let (vfs, cx) = dev_vfs();
        vfs.mknod(&cx, At::Cwd, b"shm/fifo", libc::S_IFIFO | 0o600, 0)
            .unwrap();
        let nb = libc::O_NONBLOCK as u32;
        let wr = libc::O_WRONLY as u32;
        let e = vfs.open(&cx, At::Cwd, b"shm/fifo", wr | nb, 0).unwrap_err();
        assert_eq!(e, Errno::ENXIO);
        let r = vfs
            .open(&cx, At::Cwd, b"shm/fifo", libc::O_RDONLY as u32, 0)
            .unwrap();
        assert_eq!(r.ops().try_complete_open().unwrap_err(), Errno::EAGAIN);
        let w = vfs.open(&cx, At::Cwd, b"shm/fifo", wr, 0).unwrap();
        r.ops().try_complete_open().unwrap();
        assert_eq!(w.write(b"through the fifo").unwrap(), 16);
        let mut buf = [0u8; 32];
        assert_eq!(r.read(&mut buf).unwrap(), 16);
        assert_eq!(&buf[..16], b"through the fifo");
        assert_eq!(r.seek(0, libc::SEEK_SET).unwrap_err(), Errno::ESPIPE);
        assert_eq!(r.read(&mut buf).unwrap_err(), Errno::EAGAIN);
        drop(w);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
