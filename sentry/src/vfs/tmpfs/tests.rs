//! tmpfs inode-level tests; path-level behaviour is in the VFS tests.

use super::*;
use crate::errno::Errno;

fn attrs(perm: u32) -> NewAttrs {
    NewAttrs {
        perm,
        uid: 0,
        gid: 0,
    }
}

fn fs() -> Arc<Tmpfs> {
    Tmpfs::new_memory()
}

#[test]
fn directory_size_and_links_follow_entries() {
    let fs = fs();
    let root = fs.root().unwrap();
    assert_eq!(root.stat().unwrap().size, 40);
    assert_eq!(root.stat().unwrap().nlink, 2);
    root.create(b"d", &NewNode::Directory, &attrs(0o755))
        .unwrap();
    root.create(b"f", &NewNode::Regular, &attrs(0o644)).unwrap();
    let st = root.stat().unwrap();
    assert_eq!(st.size, 80);
    assert_eq!(st.nlink, 3);
    let d = root.lookup(b"d").unwrap();
    root.rmdir(b"d", &*d).unwrap();
    assert_eq!(root.stat().unwrap().nlink, 2);
    let f = root.lookup(b"f").unwrap();
    assert_eq!(root.rmdir(b"f", &*f).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(root.unlink(b"nope", &*f).unwrap_err(), Errno::ENOENT);
}

#[test]
fn store_is_created_lazily_and_holes_read_as_zero() {
    let fs = fs();
    let root = fs.root().unwrap();
    let f = root.create(b"f", &NewNode::Regular, &attrs(0o644)).unwrap();
    let t = f.as_any().downcast_ref::<TmpfsInode>().unwrap();
    f.setattr(&SetAttr {
        size: Some(10),
        ..SetAttr::default()
    })
    .unwrap();
    let file = f.open(libc::O_RDWR as u32).unwrap();
    let mut buf = [0xffu8; 16];
    assert_eq!(file.read_at(0, &mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], &[0; 10]);
    assert_eq!(
        file.write_at(WritePos::At(4096 * 4), b"x").unwrap(),
        (1, 4097 * 4 - 3)
    );
    assert!(match &t.body {
        Body::Regular(d) => lock(d).store.is_some(),
        _ => false,
    });
    let st = f.stat().unwrap();
    assert_eq!(st.size, 4096 * 4 + 1);
    // Only the page written is allocated.
    assert!(st.blocks > 0 && st.blocks <= 16, "blocks {}", st.blocks);
    assert!(file.host_fd().unwrap().is_some());
}

#[test]
fn readdir_cookies_survive_removal() {
    let fs = fs();
    let root = fs.root().unwrap();
    for n in [b"a", b"b", b"c", b"d"] {
        root.create(n, &NewNode::Regular, &attrs(0o644)).unwrap();
    }
    let dir = root.open(libc::O_RDONLY as u32).unwrap();
    let mut first = Vec::new();
    dir.readdir(FIRST_FS_OFF, &mut |d| {
        first.push(d);
        first.len() < 2
    })
    .unwrap();
    assert_eq!(first.len(), 2);
    let resume = first[1].next_off;
    let (b, c) = (
        root.lookup(&first[1].name).unwrap(),
        root.lookup(b"c").unwrap(),
    );
    root.unlink(&first[1].name, &*b).unwrap();
    root.unlink(b"c", &*c).unwrap();
    let mut rest = Vec::new();
    dir.readdir(resume, &mut |d| {
        rest.push(d.name);
        true
    })
    .unwrap();
    let mut all: Vec<Vec<u8>> = first.iter().map(|d| d.name.clone()).collect();
    all.extend(rest);
    all.sort();
    assert_eq!(all, vec![b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]);
}

#[test]
fn rename_exchange_moves_directory_links() {
    let fs = fs();
    let root = fs.root().unwrap();
    let a = root
        .create(b"a", &NewNode::Directory, &attrs(0o755))
        .unwrap();
    a.create(b"sub", &NewNode::Directory, &attrs(0o755))
        .unwrap();
    root.create(b"f", &NewNode::Regular, &attrs(0o644)).unwrap();
    assert_eq!(a.stat().unwrap().nlink, 3);
    let exchange = RenameFlags {
        exchange: true,
        ..RenameFlags::default()
    };
    root.rename(b"f", &*a, b"sub", exchange).unwrap();
    // `sub` moved to the root, `f` into `a`.
    assert_eq!(a.stat().unwrap().nlink, 2);
    assert_eq!(root.stat().unwrap().nlink, 4);
    assert!(root.lookup(b"f").unwrap().stat().unwrap().is_dir());
    assert!(a.lookup(b"sub").unwrap().stat().unwrap().is_regular());
}

#[test]
fn xattrs_honour_create_and_replace() {
    let fs = fs();
    let f = fs
        .root()
        .unwrap()
        .create(b"f", &NewNode::Regular, &attrs(0o644))
        .unwrap();
    assert_eq!(
        f.setxattr(b"user.a", b"1", XattrSet::Replace).unwrap_err(),
        Errno::ENODATA
    );
    f.setxattr(b"user.a", b"1", XattrSet::Create).unwrap();
    assert_eq!(
        f.setxattr(b"user.a", b"2", XattrSet::Create).unwrap_err(),
        Errno::EEXIST
    );
    f.setxattr(b"trusted.overlay.opaque", b"y", XattrSet::Any)
        .unwrap();
    assert_eq!(f.getxattr(b"user.a").unwrap(), b"1");
    assert_eq!(f.listxattr().unwrap().len(), 2);
    f.removexattr(b"user.a").unwrap();
    assert_eq!(f.getxattr(b"user.a").unwrap_err(), Errno::ENODATA);
}
