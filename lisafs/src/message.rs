//! lisafs messages: ids (gVisor's numbering, so its documentation maps one to
//! one), fixed wire structs, and the request/response pairs with their codecs.

use crate::codec::{DecodeError, Decoder, Encoder};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The largest payload either side sends or accepts: a huge page less a page,
/// as gVisor chooses, so a future shared-memory channel fits one huge page.
pub const MAX_MESSAGE_SIZE: u32 = (2 << 20) - (4 << 10);

/// Largest directory entry name (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Sentinel for "no uid/gid given" in create requests.
pub const NO_ID: u32 = u32::MAX;

/// Identifies an FD on the server: a control FD (a file in the tree) or an
/// open FD (a file opened for I/O).
pub type FdId = u64;

/// Message ids. The order is fixed: new messages are only appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Mid {
    Error = 0,
    Mount = 1,
    Channel = 2,
    FStat = 3,
    SetStat = 4,
    Walk = 5,
    WalkStat = 6,
    OpenAt = 7,
    OpenCreateAt = 8,
    Close = 9,
    FSync = 10,
    PWrite = 11,
    PRead = 12,
    MkdirAt = 13,
    MknodAt = 14,
    SymlinkAt = 15,
    LinkAt = 16,
    FStatFS = 17,
    FAllocate = 18,
    ReadLinkAt = 19,
    Flush = 20,
    Connect = 21,
    UnlinkAt = 22,
    RenameAt = 23,
    Getdents64 = 24,
    FGetXattr = 25,
    FSetXattr = 26,
    FListXattr = 27,
    FRemoveXattr = 28,
    BindAt = 29,
    Listen = 30,
    Accept = 31,
    ConnectWithCreds = 32,
    RenameAt2 = 33,
}

impl Mid {
    pub const ALL: [Mid; 34] = [
        Mid::Error,
        Mid::Mount,
        Mid::Channel,
        Mid::FStat,
        Mid::SetStat,
        Mid::Walk,
        Mid::WalkStat,
        Mid::OpenAt,
        Mid::OpenCreateAt,
        Mid::Close,
        Mid::FSync,
        Mid::PWrite,
        Mid::PRead,
        Mid::MkdirAt,
        Mid::MknodAt,
        Mid::SymlinkAt,
        Mid::LinkAt,
        Mid::FStatFS,
        Mid::FAllocate,
        Mid::ReadLinkAt,
        Mid::Flush,
        Mid::Connect,
        Mid::UnlinkAt,
        Mid::RenameAt,
        Mid::Getdents64,
        Mid::FGetXattr,
        Mid::FSetXattr,
        Mid::FListXattr,
        Mid::FRemoveXattr,
        Mid::BindAt,
        Mid::Listen,
        Mid::Accept,
        Mid::ConnectWithCreds,
        Mid::RenameAt2,
    ];

    pub fn from_u16(v: u16) -> Option<Mid> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// Ids that are reserved for socket and shared-memory support that vigil
    /// does not serve yet; a server answers them with `EOPNOTSUPP`.
    pub fn is_reserved(self) -> bool {
        matches!(
            self,
            Mid::Channel
                | Mid::Connect
                | Mid::BindAt
                | Mid::Listen
                | Mid::Accept
                | Mid::ConnectWithCreds
        )
    }
}

/// A timestamp as in `struct statx_timestamp`.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
    pub pad: u32,
}

/// The fields of `struct statx` that lisafs carries, in the kernel's layout.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Statx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub pad: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: Timestamp,
    pub btime: Timestamp,
    pub ctime: Timestamp,
    pub mtime: Timestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
}

impl Statx {
    pub fn file_type(&self) -> u32 {
        u32::from(self.mode) & libc::S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    pub fn is_regular(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }
}

/// A file in the tree as the client learns it: its control FD and its stat.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Inode {
    pub control_fd: FdId,
    pub stat: Statx,
}

/// `struct statfs` as lisafs carries it.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct StatFs {
    pub fs_type: u64,
    pub block_size: i64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub name_length: u64,
}

/// One entry of a Getdents64 response.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dirent64 {
    pub ino: u64,
    pub dev_minor: u32,
    pub dev_major: u32,
    pub off: u64,
    pub kind: u8,
    pub name: Vec<u8>,
}

/// A value that has a lisafs wire form.
pub trait Wire: Sized {
    /// The fewest bytes an encoded value takes, used to reject hostile
    /// element counts before allocating.
    const MIN_SIZE: usize;
    fn encode(&self, e: &mut Encoder);
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError>;
}

/// Element types that may appear in counted arrays. `u8` is deliberately not
/// one: byte strings have their own fast encoding.
pub trait WireElem: Wire {}

macro_rules! wire_int {
    ($($t:ident),*) => {$(
        impl Wire for $t {
            const MIN_SIZE: usize = size_of::<$t>();
            fn encode(&self, e: &mut Encoder) { e.$t(*self) }
            fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> { d.$t() }
        }
    )*};
}
wire_int!(u8, u16, u32, u64);
impl WireElem for u16 {}
impl WireElem for u64 {}

macro_rules! wire_fixed {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const MIN_SIZE: usize = size_of::<$t>();
            fn encode(&self, e: &mut Encoder) { e.fixed(self) }
            fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> { d.fixed() }
        }
        impl WireElem for $t {}
    )*};
}
wire_fixed!(Timestamp, Statx, Inode, StatFs);

/// Byte strings (names, targets, data) are a `u32` length and the bytes.
impl Wire for Vec<u8> {
    const MIN_SIZE: usize = 4;
    fn encode(&self, e: &mut Encoder) {
        e.bytes(self)
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.bytes().map(<[u8]>::to_vec)
    }
}
impl WireElem for Vec<u8> {}

impl<T: WireElem> Wire for Vec<T> {
    const MIN_SIZE: usize = 4;
    fn encode(&self, e: &mut Encoder) {
        e.u32(self.len() as u32);
        for v in self {
            v.encode(e);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_of(T::MIN_SIZE, T::decode)
    }
}

/// Defines a message struct whose wire form is its fields in order.
macro_rules! wire_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }

        impl Wire for $name {
            const MIN_SIZE: usize = 0 $(+ <$ty as Wire>::MIN_SIZE)*;
            #[allow(unused_variables)]
            fn encode(&self, e: &mut Encoder) { $(self.$field.encode(e);)* }
            #[allow(unused_variables)]
            fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                Ok(Self { $($field: <$ty as Wire>::decode(d)?),* })
            }
        }
    };
}

/// A request message and the response it is answered with.
pub trait Request: Wire {
    const MID: Mid;
    type Response: Wire;
}

macro_rules! request {
    ($mid:ident, $req:ident => $resp:ident) => {
        impl Request for $req {
            const MID: Mid = Mid::$mid;
            type Response = $resp;
        }
    };
}

/// Decodes a complete payload: trailing bytes are an error.
pub fn decode_exact<T: Wire>(payload: &[u8]) -> Result<T, DecodeError> {
    let mut d = Decoder::new(payload);
    let v = T::decode(&mut d)?;
    d.finish()?;
    Ok(v)
}

pub fn encode<T: Wire>(v: &T) -> Vec<u8> {
    let mut e = Encoder::new();
    v.encode(&mut e);
    e.into_bytes()
}

wire_struct!(
    /// The response of every request that returns nothing.
    Empty {}
);

wire_struct!(
    /// Sent in a message with id `Error` instead of the response.
    ErrorResp { errno: u32 }
);

/// `MountReq.flags`: donate the mount root's host FD (directfs).
pub const MOUNT_DIRECTFS: u32 = 1;

wire_struct!(MountReq { flags: u32 });
wire_struct!(MountResp {
    root: Inode,
    max_message_size: u32,
    /// Ids of the messages the server serves.
    supported: Vec<u16>,
});
request!(Mount, MountReq => MountResp);

wire_struct!(FStatReq { fd: FdId });
request!(FStat, FStatReq => Statx);

wire_struct!(SetStatReq {
    fd: FdId,
    /// `STATX_MODE | STATX_UID | STATX_GID | STATX_SIZE | STATX_ATIME | STATX_MTIME`.
    mask: u32,
    /// Only the permission bits are settable.
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    /// `nsec` may be `UTIME_NOW` or `UTIME_OMIT`.
    atime: Timestamp,
    mtime: Timestamp,
});
wire_struct!(
    /// Which of the requested changes failed (a mask), and why.
    SetStatResp {
        failure_mask: u32,
        failure_errno: u32,
    }
);
request!(SetStat, SetStatReq => SetStatResp);

/// `WalkResp.status`.
pub const WALK_SUCCESS: u8 = 0;
pub const WALK_COMPONENT_DOES_NOT_EXIST: u8 = 1;
pub const WALK_COMPONENT_SYMLINK: u8 = 2;

wire_struct!(WalkReq {
    dir: FdId,
    path: Vec<Vec<u8>>,
});
wire_struct!(WalkResp {
    status: u8,
    inodes: Vec<Inode>,
});
request!(Walk, WalkReq => WalkResp);

wire_struct!(WalkStatReq {
    dir: FdId,
    /// A first component "" asks for the stat of `dir` itself too.
    path: Vec<Vec<u8>>,
});
wire_struct!(WalkStatResp { stats: Vec<Statx> });
request!(WalkStat, WalkStatReq => WalkStatResp);

wire_struct!(OpenAtReq {
    fd: FdId,
    flags: u32
});
wire_struct!(OpenAtResp { open_fd: FdId });
request!(OpenAt, OpenAtReq => OpenAtResp);

wire_struct!(OpenCreateAtReq {
    dir: FdId,
    mode: u32,
    uid: u32,
    gid: u32,
    flags: u32,
    name: Vec<u8>,
});
wire_struct!(OpenCreateAtResp {
    child: Inode,
    open_fd: FdId,
});
request!(OpenCreateAt, OpenCreateAtReq => OpenCreateAtResp);

wire_struct!(CloseReq { fds: Vec<FdId> });
request!(Close, CloseReq => Empty);

wire_struct!(FSyncReq { fds: Vec<FdId> });
request!(FSync, FSyncReq => Empty);

wire_struct!(PWriteReq {
    fd: FdId,
    offset: u64,
    data: Vec<u8>,
});
wire_struct!(PWriteResp { count: u64 });
request!(PWrite, PWriteReq => PWriteResp);

wire_struct!(PReadReq {
    fd: FdId,
    offset: u64,
    count: u32,
});
wire_struct!(PReadResp { data: Vec<u8> });
request!(PRead, PReadReq => PReadResp);

wire_struct!(MkdirAtReq {
    dir: FdId,
    mode: u32,
    uid: u32,
    gid: u32,
    name: Vec<u8>,
});
wire_struct!(InodeResp { inode: Inode });
request!(MkdirAt, MkdirAtReq => InodeResp);

wire_struct!(MknodAtReq {
    dir: FdId,
    mode: u32,
    uid: u32,
    gid: u32,
    major: u32,
    minor: u32,
    name: Vec<u8>,
});
request!(MknodAt, MknodAtReq => InodeResp);

wire_struct!(SymlinkAtReq {
    dir: FdId,
    uid: u32,
    gid: u32,
    name: Vec<u8>,
    target: Vec<u8>,
});
request!(SymlinkAt, SymlinkAtReq => InodeResp);

wire_struct!(LinkAtReq {
    dir: FdId,
    /// Control FD of the existing file.
    target: FdId,
    name: Vec<u8>,
});
request!(LinkAt, LinkAtReq => InodeResp);

wire_struct!(FStatFsReq { fd: FdId });
request!(FStatFS, FStatFsReq => StatFs);

wire_struct!(FAllocateReq {
    fd: FdId,
    mode: u32,
    offset: u64,
    length: u64,
});
request!(FAllocate, FAllocateReq => Empty);

wire_struct!(ReadLinkAtReq { fd: FdId });
wire_struct!(ReadLinkAtResp { target: Vec<u8> });
request!(ReadLinkAt, ReadLinkAtReq => ReadLinkAtResp);

wire_struct!(FlushReq { fd: FdId });
request!(Flush, FlushReq => Empty);

wire_struct!(UnlinkAtReq {
    dir: FdId,
    /// 0 or `AT_REMOVEDIR`.
    flags: u32,
    name: Vec<u8>,
});
request!(UnlinkAt, UnlinkAtReq => Empty);

wire_struct!(RenameAtReq {
    old_dir: FdId,
    new_dir: FdId,
    old_name: Vec<u8>,
    new_name: Vec<u8>,
});
request!(RenameAt, RenameAtReq => Empty);

wire_struct!(RenameAt2Req {
    old_dir: FdId,
    new_dir: FdId,
    old_name: Vec<u8>,
    new_name: Vec<u8>,
    /// `RENAME_NOREPLACE | RENAME_EXCHANGE`.
    flags: u32,
});
request!(RenameAt2, RenameAt2Req => Empty);

impl Wire for Dirent64 {
    const MIN_SIZE: usize = 8 + 4 + 4 + 8 + 1 + 4;
    fn encode(&self, e: &mut Encoder) {
        e.u64(self.ino);
        e.u32(self.dev_minor);
        e.u32(self.dev_major);
        e.u64(self.off);
        e.u8(self.kind);
        e.bytes(&self.name);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            ino: d.u64()?,
            dev_minor: d.u32()?,
            dev_major: d.u32()?,
            off: d.u64()?,
            kind: d.u8()?,
            name: d.bytes()?.to_vec(),
        })
    }
}
impl WireElem for Dirent64 {}

wire_struct!(Getdents64Req {
    /// An open FD of a directory.
    fd: FdId,
    /// The most bytes the entries would take in `struct linux_dirent64` form.
    count: u32,
});
wire_struct!(Getdents64Resp {
    dirents: Vec<Dirent64>,
});
request!(Getdents64, Getdents64Req => Getdents64Resp);

wire_struct!(FGetXattrReq {
    fd: FdId,
    size: u32,
    name: Vec<u8>,
});
wire_struct!(FGetXattrResp { value: Vec<u8> });
request!(FGetXattr, FGetXattrReq => FGetXattrResp);

wire_struct!(FSetXattrReq {
    fd: FdId,
    flags: u32,
    name: Vec<u8>,
    value: Vec<u8>,
});
request!(FSetXattr, FSetXattrReq => Empty);

wire_struct!(FListXattrReq {
    fd: FdId,
    size: u64
});
wire_struct!(FListXattrResp {
    names: Vec<Vec<u8>>,
});
request!(FListXattr, FListXattrReq => FListXattrResp);

wire_struct!(FRemoveXattrReq {
    fd: FdId,
    name: Vec<u8>,
});
request!(FRemoveXattr, FRemoveXattrReq => Empty);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_gvisor_numbering() {
        for (i, mid) in Mid::ALL.iter().enumerate() {
            assert_eq!(*mid as u16 as usize, i);
            assert_eq!(Mid::from_u16(i as u16), Some(*mid));
        }
        assert_eq!(Mid::from_u16(34), None);
        assert_eq!(Mid::RenameAt2 as u16, 33);
        assert_eq!(Mid::Getdents64 as u16, 24);
    }

    #[test]
    fn messages_round_trip() {
        let req = OpenCreateAtReq {
            dir: 3,
            mode: 0o644,
            uid: 1,
            gid: 2,
            flags: libc::O_RDWR as u32,
            name: b"file".to_vec(),
        };
        assert_eq!(decode_exact::<OpenCreateAtReq>(&encode(&req)).unwrap(), req);
        let resp = Getdents64Resp {
            dirents: vec![Dirent64 {
                ino: 9,
                name: b"x".to_vec(),
                ..Default::default()
            }],
        };
        assert_eq!(
            decode_exact::<Getdents64Resp>(&encode(&resp)).unwrap(),
            resp
        );
        let walk = WalkResp {
            status: WALK_COMPONENT_SYMLINK,
            inodes: vec![Inode::default(); 3],
        };
        assert_eq!(decode_exact::<WalkResp>(&encode(&walk)).unwrap(), walk);
    }

    #[test]
    fn truncated_messages_are_errors() {
        let req = RenameAtReq {
            old_dir: 1,
            new_dir: 2,
            old_name: b"a".to_vec(),
            new_name: b"b".to_vec(),
        };
        let bytes = encode(&req);
        for len in 0..bytes.len() {
            assert!(decode_exact::<RenameAtReq>(&bytes[..len]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_exact::<RenameAtReq>(&longer),
            Err(DecodeError::Trailing(1))
        );
    }
}
