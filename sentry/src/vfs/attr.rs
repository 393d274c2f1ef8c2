//! The values that cross the filesystem traits: file attributes (`Stat`,
//! `SetAttr`), directory entries, `statfs`, and the argument types of
//! create, open and rename.

use crate::errno::SysResult;

/// A point in time as `struct timespec` / `statx_timestamp` carry it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: u32,
}

impl Timespec {
    /// The current wall-clock time, which is what file timestamps record.
    pub fn now() -> Timespec {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timespec {
            sec: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
        }
    }
}

impl From<lisafs::Timestamp> for Timespec {
    fn from(t: lisafs::Timestamp) -> Timespec {
        Timespec {
            sec: t.sec,
            nsec: t.nsec,
        }
    }
}

/// The type of a file, the `S_IFMT` bits of its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => libc::S_IFREG,
            FileType::Directory => libc::S_IFDIR,
            FileType::Symlink => libc::S_IFLNK,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::Fifo => libc::S_IFIFO,
            FileType::Socket => libc::S_IFSOCK,
        }
    }

    /// The `d_type` of `getdents64`.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => libc::DT_REG,
            FileType::Directory => libc::DT_DIR,
            FileType::Symlink => libc::DT_LNK,
            FileType::CharDevice => libc::DT_CHR,
            FileType::BlockDevice => libc::DT_BLK,
            FileType::Fifo => libc::DT_FIFO,
            FileType::Socket => libc::DT_SOCK,
        }
    }
}

/// Builds a device number the way glibc's `makedev` does.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff)
}

pub fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff)) as u32
}

pub fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffffff00) | (dev & 0xff)) as u32
}

/// Everything `stat(2)` and `statx(2)` report about a file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Device of the filesystem holding the file (`makedev` encoding).
    pub dev: u64,
    pub ino: u64,
    /// File type and permission bits.
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device number of a character or block device file.
    pub rdev: u64,
    pub size: u64,
    pub blksize: u32,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub btime: Timespec,
    /// `STATX_*` bits of the fields that are valid (btime may be absent).
    pub mask: u32,
    /// `STATX_ATTR_*` bits.
    pub attributes: u64,
}

impl Stat {
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode)
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    pub fn is_regular(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// The permission bits, including setuid/setgid/sticky.
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

impl From<&lisafs::Statx> for Stat {
    fn from(s: &lisafs::Statx) -> Stat {
        Stat {
            dev: makedev(s.dev_major, s.dev_minor),
            ino: s.ino,
            mode: u32::from(s.mode),
            nlink: s.nlink,
            uid: s.uid,
            gid: s.gid,
            rdev: makedev(s.rdev_major, s.rdev_minor),
            size: s.size,
            blksize: s.blksize,
            blocks: s.blocks,
            atime: s.atime.into(),
            mtime: s.mtime.into(),
            ctime: s.ctime.into(),
            btime: s.btime.into(),
            mask: s.mask,
            attributes: s.attributes,
        }
    }
}

/// A timestamp change requested by `utimensat(2)`: omitted fields are `None`
/// in [`SetAttr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeChange {
    /// `UTIME_NOW`: the filesystem's current time.
    Now,
    At(Timespec),
}

impl TimeChange {
    pub fn resolve(self, now: Timespec) -> Timespec {
        match self {
            TimeChange::Now => now,
            TimeChange::At(t) => t,
        }
    }
}

/// The attribute changes of `chmod`, `chown`, `truncate` and `utimensat`.
/// `None` leaves a field alone. The VFS has already checked permissions;
/// implementations apply the changes and update ctime.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits only; the file type cannot change.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeChange>,
    pub mtime: Option<TimeChange>,
}

impl SetAttr {
    pub fn is_empty(&self) -> bool {
        *self == SetAttr::default()
    }
}

/// What `statfs(2)` reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub fs_type: u64,
    pub block_size: i64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub name_length: u64,
    pub fragment_size: i64,
    /// `ST_*` mount flags (`ST_RDONLY`), filled in by the VFS from the mount.
    pub flags: u64,
}

/// One directory entry as `getdents64` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: u8,
    /// The offset to resume reading after this entry.
    pub next_off: u64,
}

/// The kind of file to create, with what that kind needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewNode {
    Regular,
    Directory,
    Symlink {
        target: Vec<u8>,
    },
    /// FIFOs, sockets and devices; `rdev` only matters for devices. These are
    /// never opened on the host: the sentry implements them.
    Special {
        kind: FileType,
        rdev: u64,
    },
}

impl NewNode {
    pub fn file_type(&self) -> FileType {
        match self {
            NewNode::Regular => FileType::Regular,
            NewNode::Directory => FileType::Directory,
            NewNode::Symlink { .. } => FileType::Symlink,
            NewNode::Special { kind, .. } => *kind,
        }
    }
}

/// The identity and permissions of a file being created, decided by the VFS
/// (umask applied, setgid directories honoured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewAttrs {
    /// Permission bits.
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `renameat2(2)` flags.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RenameFlags {
    pub noreplace: bool,
    pub exchange: bool,
}

impl RenameFlags {
    pub fn from_raw(flags: u32) -> SysResult<RenameFlags> {
        let known = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;
        if flags & !known != 0 {
            crate::return_errno!(EINVAL, "unsupported rename flags");
        }
        let f = RenameFlags {
            noreplace: flags & libc::RENAME_NOREPLACE != 0,
            exchange: flags & libc::RENAME_EXCHANGE != 0,
        };
        if f.noreplace && f.exchange {
            crate::return_errno!(EINVAL, "RENAME_NOREPLACE with RENAME_EXCHANGE");
        }
        Ok(f)
    }

    pub fn bits(self) -> u32 {
        let mut b = 0;
        if self.noreplace {
            b |= libc::RENAME_NOREPLACE;
        }
        if self.exchange {
            b |= libc::RENAME_EXCHANGE;
        }
        b
    }
}

/// `setxattr(2)` flags.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum XattrSet {
    #[default]
    Any,
    /// `XATTR_CREATE`: fail with `EEXIST` if it exists.
    Create,
    /// `XATTR_REPLACE`: fail with `ENODATA` if it does not.
    Replace,
}

impl XattrSet {
    pub fn bits(self) -> u32 {
        match self {
            XattrSet::Any => 0,
            XattrSet::Create => libc::XATTR_CREATE as u32,
            XattrSet::Replace => libc::XATTR_REPLACE as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_round_trip() {
        for (ma, mi) in [(0, 0), (1, 3), (259, 7), (4095, 1 << 19)] {
            let d = makedev(ma, mi);
            assert_eq!((major(d), minor(d)), (ma, mi));
        }
        assert_eq!(makedev(1, 3), libc::makedev(1, 3));
    }
}
