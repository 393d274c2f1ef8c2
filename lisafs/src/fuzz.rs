//! The decoding property that fuzzers and property tests check: any bytes a
//! hostile peer sends either fail to decode or decode to a message that
//! encodes back to exactly those bytes. It lives in the library, not in a
//! test, so that the cargo-fuzz target (which needs a nightly compiler) and
//! the proptest suite (which runs in CI on stable) exercise the same code.
//!
//! An input is one selector byte followed by a payload. The selector picks a
//! message id (modulo the number of ids); the payload is then decoded as that
//! id's request type and as its response type, the two shapes a peer can make
//! us decode under that id.

use crate::codec::DecodeError;
use crate::message::*;

/// Checks the decoding property for one fuzz input and returns how many
/// message types accepted its payload, so callers can tell whether their
/// inputs reach past the first bounds check.
///
/// Panics if a decoder panics, or if an accepted payload does not re-encode
/// to the same bytes, or if the same payload one byte shorter or longer is
/// also accepted (every lisafs message has exactly one length).
pub fn decode(data: &[u8]) -> usize {
    let Some((&selector, payload)) = data.split_first() else {
        return 0;
    };
    let mid = Mid::ALL[usize::from(selector) % Mid::ALL.len()];
    decode_as(mid, payload)
}

/// The fuzz input that makes `decode` read `payload` under `mid`.
pub fn input(mid: Mid, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + payload.len());
    v.push(mid as u8);
    v.extend_from_slice(payload);
    v
}

/// Decodes `payload` as every type that may travel under `mid`.
pub fn decode_as(mid: Mid, payload: &[u8]) -> usize {
    fn pair<R: Request>(mid: Mid, p: &[u8]) -> usize {
        usize::from(round_trip::<R>(mid, p)) + usize::from(round_trip::<R::Response>(mid, p))
    }
    match mid {
        // Any response may arrive as an error instead.
        Mid::Error => usize::from(round_trip::<ErrorResp>(mid, payload)),
        Mid::Mount => pair::<MountReq>(mid, payload),
        Mid::FStat => pair::<FStatReq>(mid, payload),
        Mid::SetStat => pair::<SetStatReq>(mid, payload),
        Mid::Walk => pair::<WalkReq>(mid, payload),
        Mid::WalkStat => pair::<WalkStatReq>(mid, payload),
        Mid::OpenAt => pair::<OpenAtReq>(mid, payload),
        Mid::OpenCreateAt => pair::<OpenCreateAtReq>(mid, payload),
        Mid::Close => pair::<CloseReq>(mid, payload),
        Mid::FSync => pair::<FSyncReq>(mid, payload),
        Mid::PWrite => pair::<PWriteReq>(mid, payload),
        Mid::PRead => pair::<PReadReq>(mid, payload),
        Mid::MkdirAt => pair::<MkdirAtReq>(mid, payload),
        Mid::MknodAt => pair::<MknodAtReq>(mid, payload),
        Mid::SymlinkAt => pair::<SymlinkAtReq>(mid, payload),
        Mid::LinkAt => pair::<LinkAtReq>(mid, payload),
        Mid::FStatFS => pair::<FStatFsReq>(mid, payload),
        Mid::FAllocate => pair::<FAllocateReq>(mid, payload),
        Mid::ReadLinkAt => pair::<ReadLinkAtReq>(mid, payload),
        Mid::Flush => pair::<FlushReq>(mid, payload),
        Mid::UnlinkAt => pair::<UnlinkAtReq>(mid, payload),
        Mid::RenameAt => pair::<RenameAtReq>(mid, payload),
        Mid::Getdents64 => pair::<Getdents64Req>(mid, payload),
        Mid::FGetXattr => pair::<FGetXattrReq>(mid, payload),
        Mid::FSetXattr => pair::<FSetXattrReq>(mid, payload),
        Mid::FListXattr => pair::<FListXattrReq>(mid, payload),
        Mid::FRemoveXattr => pair::<FRemoveXattrReq>(mid, payload),
        Mid::RenameAt2 => pair::<RenameAt2Req>(mid, payload),
        // Reserved ids have no message types; a server refuses them without
        // decoding, so the most a peer can make us decode is an empty body.
        Mid::Channel
        | Mid::Connect
        | Mid::BindAt
        | Mid::Listen
        | Mid::Accept
        | Mid::ConnectWithCreds => usize::from(round_trip::<Empty>(mid, payload)),
    }
}

/// Decodes `bytes` as `T`; if that succeeds, asserts the round trip and the
/// exact length. Returns whether `T` accepted the bytes.
fn round_trip<T: Wire>(mid: Mid, bytes: &[u8]) -> bool {
    let Ok(value) = decode_exact::<T>(bytes) else {
        return false;
    };
    let again = encode(&value);
    assert!(
        again == bytes,
        "{mid:?}: {} re-encodes {} bytes as {} different bytes",
        std::any::type_name::<T>(),
        bytes.len(),
        again.len()
    );
    // Prefix-freedom: a valid message must not also be valid with its last
    // byte missing or with a byte more, or framing could be ambiguous.
    if let Some((_, shorter)) = bytes.split_last() {
        assert!(
            decode_exact::<T>(shorter).is_err(),
            "{mid:?}: {} accepts a truncated message",
            std::any::type_name::<T>()
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(
        matches!(decode_exact::<T>(&longer), Err(DecodeError::Trailing(1))),
        "{mid:?}: {} accepts a trailing byte",
        std::any::type_name::<T>()
    );
    true
}

/// A valid encoding of every request and response type, each as a fuzz
/// input: the starting points a mutation-based fuzzer or property test
/// needs to get past the outermost length checks.
pub fn seeds() -> Vec<Vec<u8>> {
    let name = |s: &str| s.as_bytes().to_vec();
    let stat = Statx {
        mask: 0x7ff,
        mode: 0o100644,
        ino: 42,
        size: 4096,
        nlink: 1,
        ..Default::default()
    };
    let inode = Inode {
        control_fd: 7,
        stat,
    };
    let mut out = Vec::new();
    let mut add = |mid: Mid, payload: Vec<u8>| out.push(input(mid, &payload));
    add(Mid::Error, encode(&ErrorResp { errno: 2 }));
    add(Mid::Mount, encode(&MountReq { flags: 1 }));
    add(
        Mid::Mount,
        encode(&MountResp {
            root: inode,
            max_message_size: MAX_MESSAGE_SIZE,
            supported: vec![1, 3, 5, 6],
        }),
    );
    add(Mid::FStat, encode(&FStatReq { fd: 1 }));
    add(Mid::FStat, encode(&stat));
    add(
        Mid::SetStat,
        encode(&SetStatReq {
            fd: 1,
            mask: 1,
            mode: 0o600,
            ..Default::default()
        }),
    );
    add(Mid::SetStat, encode(&SetStatResp::default()));
    let path = vec![name("a"), name("bb"), name("ccc")];
    add(
        Mid::Walk,
        encode(&WalkReq {
            dir: 1,
            path: path.clone(),
        }),
    );
    add(
        Mid::Walk,
        encode(&WalkResp {
            status: WALK_COMPONENT_SYMLINK,
            inodes: vec![inode; 2],
        }),
    );
    add(Mid::WalkStat, encode(&WalkStatReq { dir: 1, path }));
    add(
        Mid::WalkStat,
        encode(&WalkStatResp {
            stats: vec![stat; 2],
        }),
    );
    add(Mid::OpenAt, encode(&OpenAtReq { fd: 1, flags: 2 }));
    add(Mid::OpenAt, encode(&OpenAtResp { open_fd: 3 }));
    add(
        Mid::OpenCreateAt,
        encode(&OpenCreateAtReq {
            dir: 1,
            mode: 0o644,
            uid: NO_ID,
            gid: NO_ID,
            flags: 2,
            name: name("new"),
        }),
    );
    add(
        Mid::OpenCreateAt,
        encode(&OpenCreateAtResp {
            child: inode,
            open_fd: 9,
        }),
    );
    add(Mid::Close, encode(&CloseReq { fds: vec![1, 2, 3] }));
    add(Mid::Close, encode(&Empty {}));
    add(Mid::FSync, encode(&FSyncReq { fds: vec![4] }));
    add(
        Mid::PWrite,
        encode(&PWriteReq {
            fd: 3,
            offset: 10,
            data: name("data"),
        }),
    );
    add(Mid::PWrite, encode(&PWriteResp { count: 4 }));
    add(
        Mid::PRead,
        encode(&PReadReq {
            fd: 3,
            offset: 0,
            count: 100,
        }),
    );
    add(Mid::PRead, encode(&PReadResp { data: name("xyz") }));
    add(
        Mid::MkdirAt,
        encode(&MkdirAtReq {
            dir: 1,
            mode: 0o755,
            uid: 0,
            gid: 0,
            name: name("d"),
        }),
    );
    add(Mid::MkdirAt, encode(&InodeResp { inode }));
    add(
        Mid::MknodAt,
        encode(&MknodAtReq {
            dir: 1,
            mode: 0o10644,
            name: name("fifo"),
            ..Default::default()
        }),
    );
    add(
        Mid::SymlinkAt,
        encode(&SymlinkAtReq {
            dir: 1,
            uid: 0,
            gid: 0,
            name: name("l"),
            target: name("../x"),
        }),
    );
    add(
        Mid::LinkAt,
        encode(&LinkAtReq {
            dir: 1,
            target: 2,
            name: name("h"),
        }),
    );
    add(Mid::FStatFS, encode(&FStatFsReq { fd: 1 }));
    add(
        Mid::FStatFS,
        encode(&StatFs {
            block_size: 4096,
            name_length: 255,
            ..Default::default()
        }),
    );
    add(
        Mid::FAllocate,
        encode(&FAllocateReq {
            fd: 3,
            mode: 0,
            offset: 0,
            length: 8192,
        }),
    );
    add(Mid::ReadLinkAt, encode(&ReadLinkAtReq { fd: 5 }));
    add(
        Mid::ReadLinkAt,
        encode(&ReadLinkAtResp {
            target: name("/etc"),
        }),
    );
    add(Mid::Flush, encode(&FlushReq { fd: 3 }));
    add(
        Mid::UnlinkAt,
        encode(&UnlinkAtReq {
            dir: 1,
            flags: 0x200,
            name: name("d"),
        }),
    );
    add(
        Mid::RenameAt,
        encode(&RenameAtReq {
            old_dir: 1,
            new_dir: 2,
            old_name: name("a"),
            new_name: name("b"),
        }),
    );
    add(
        Mid::RenameAt2,
        encode(&RenameAt2Req {
            old_dir: 1,
            new_dir: 1,
            old_name: name("a"),
            new_name: name("b"),
            flags: 1,
        }),
    );
    add(
        Mid::Getdents64,
        encode(&Getdents64Req { fd: 3, count: 4096 }),
    );
    add(
        Mid::Getdents64,
        encode(&Getdents64Resp {
            dirents: vec![
                Dirent64 {
                    ino: 1,
                    off: 1,
                    kind: 4,
                    name: name("."),
                    ..Default::default()
                },
                Dirent64 {
                    ino: 9,
                    off: 2,
                    kind: 8,
                    name: name("file"),
                    ..Default::default()
                },
            ],
        }),
    );
    add(
        Mid::FGetXattr,
        encode(&FGetXattrReq {
            fd: 1,
            size: 64,
            name: name("user.a"),
        }),
    );
    add(
        Mid::FGetXattr,
        encode(&FGetXattrResp {
            value: name("value"),
        }),
    );
    add(
        Mid::FSetXattr,
        encode(&FSetXattrReq {
            fd: 1,
            flags: 1,
            name: name("user.a"),
            value: name("v"),
        }),
    );
    add(Mid::FListXattr, encode(&FListXattrReq { fd: 1, size: 0 }));
    add(
        Mid::FListXattr,
        encode(&FListXattrResp {
            names: vec![name("user.a"), name("trusted.overlay.opaque")],
        }),
    );
    add(
        Mid::FRemoveXattr,
        encode(&FRemoveXattrReq {
            fd: 1,
            name: name("user.a"),
        }),
    );
    for mid in Mid::ALL.into_iter().filter(|m| m.is_reserved()) {
        add(mid, Vec::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_decodes() {
        for seed in seeds() {
            assert!(decode(&seed) > 0, "seed {seed:?} was rejected");
        }
    }

    #[test]
    fn seeds_cover_every_message_id() {
        let seeds = seeds();
        for mid in Mid::ALL {
            assert!(
                seeds.iter().any(|s| s[0] == mid as u8),
                "no seed for {mid:?}"
            );
        }
    }

    #[test]
    fn empty_and_garbage_inputs_are_harmless() {
        assert_eq!(decode(&[]), 0);
        for selector in 0..=u8::MAX {
            decode(&[selector]);
            decode(&[selector, 0xff, 0xff, 0xff, 0xff]);
        }
    }
}
