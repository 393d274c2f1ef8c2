//! The VFS through its public operations, the way the syscall layer will use
//! it: path resolution, permissions, tmpfs data and rename semantics on
//! tmpfs, then the gofer filesystem against a real lisafs server.

use sentry::errno::{Errno, SysResult};
use sentry::vfs::tmpfs::Tmpfs;
use sentry::vfs::{
    Access, At, CapSet, Credentials, FileDescription, FsContext, RenameFlags, SetAttr, TimeChange,
    Timespec, Vfs, VfsPath,
};
use std::sync::Arc;

const RDONLY: u32 = libc::O_RDONLY as u32;
const WRONLY: u32 = libc::O_WRONLY as u32;
const RDWR: u32 = libc::O_RDWR as u32;
const CREAT: u32 = libc::O_CREAT as u32;
const EXCL: u32 = libc::O_EXCL as u32;
const APPEND: u32 = libc::O_APPEND as u32;
const TRUNC: u32 = libc::O_TRUNC as u32;
const NOFOLLOW: u32 = libc::O_NOFOLLOW as u32;
const DIRECTORY: u32 = libc::O_DIRECTORY as u32;

fn tmpfs_vfs() -> (Arc<Vfs>, FsContext) {
    let vfs = Arc::new(Vfs::new(Tmpfs::new_memory(), false).unwrap());
    let cx = FsContext::new(&vfs);
    (vfs, cx)
}

fn errno<T: std::fmt::Debug>(r: SysResult<T>) -> Errno {
    r.expect_err("expected an error").errno
}

fn write_file(vfs: &Vfs, cx: &FsContext, path: &str, data: &[u8]) {
    let f = vfs
        .open(cx, At::Cwd, path.as_bytes(), WRONLY | CREAT | TRUNC, 0o644)
        .unwrap();
    assert_eq!(f.write(data).unwrap(), data.len());
}

fn read_all(f: &FileDescription) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn read_file(vfs: &Vfs, cx: &FsContext, path: &str) -> SysResult<Vec<u8>> {
    let f = vfs.open(cx, At::Cwd, path.as_bytes(), RDONLY, 0)?;
    Ok(read_all(&f))
}

fn mkdir(vfs: &Vfs, cx: &FsContext, path: &str, mode: u32) {
    vfs.mkdir(cx, At::Cwd, path.as_bytes(), mode).unwrap();
}

fn user(cx: &FsContext, uid: u32) -> FsContext {
    FsContext {
        creds: Credentials::user(uid, uid),
        ..cx.clone()
    }
}

fn names(f: &FileDescription) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let ents = f.getdents(4096).unwrap();
        if ents.is_empty() {
            return out;
        }
        out.extend(ents.into_iter().map(|d| String::from_utf8(d.name).unwrap()));
    }
}

// ---- path resolution -------------------------------------------------------

#[test]
fn symlink_loops_are_eloop() {
    let (vfs, cx) = tmpfs_vfs();
    vfs.symlink(&cx, b"b", At::Cwd, b"/a").unwrap();
    vfs.symlink(&cx, b"a", At::Cwd, b"/b").unwrap();
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/a", RDONLY, 0)),
        Errno::ELOOP
    );
    assert_eq!(errno(vfs.stat(&cx, At::Cwd, b"/a/x", false)), Errno::ELOOP);
    // Without following, the link itself is there.
    assert!(vfs.stat(&cx, At::Cwd, b"/a", false).unwrap().is_symlink());
    // A chain of exactly 40 links resolves; 41 does not.
    write_file(&vfs, &cx, "/target", b"end");
    vfs.symlink(&cx, b"/target", At::Cwd, b"/l0").unwrap();
    for i in 1..=40 {
        let t = format!("/l{}", i - 1);
        let l = format!("/l{i}");
        vfs.symlink(&cx, t.as_bytes(), At::Cwd, l.as_bytes())
            .unwrap();
    }
    assert_eq!(read_file(&vfs, &cx, "/l39").unwrap(), b"end");
    assert_eq!(errno(read_file(&vfs, &cx, "/l40")), Errno::ELOOP);
}

#[test]
fn dotdot_at_root_and_across_mounts() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/mnt", 0o755);
    write_file(&vfs, &cx, "/top", b"root fs");
    let inner = Tmpfs::new_memory();
    let inner_dev = inner.dev();
    vfs.mount(&cx, At::Cwd, b"/mnt", inner, false).unwrap();
    write_file(&vfs, &cx, "/mnt/inner", b"inner fs");
    // Downward: the mount hides nothing else and is its own device.
    assert_eq!(
        vfs.stat(&cx, At::Cwd, b"/mnt", true).unwrap().dev,
        inner_dev
    );
    assert_eq!(read_file(&vfs, &cx, "/mnt/inner").unwrap(), b"inner fs");
    // Upward: `..` of the mount root is the mount point's parent.
    assert_eq!(read_file(&vfs, &cx, "/mnt/../top").unwrap(), b"root fs");
    assert_eq!(
        read_file(&vfs, &cx, "/mnt/./../mnt/inner").unwrap(),
        b"inner fs"
    );
    // `..` at the root stays there.
    assert_eq!(read_file(&vfs, &cx, "/../../../top").unwrap(), b"root fs");
    let mut cx2 = cx.clone();
    cx2.cwd = vfs.lookup_dir(&cx, At::Cwd, b"/mnt").unwrap();
    assert_eq!(read_file(&vfs, &cx2, "../top").unwrap(), b"root fs");
    assert_eq!(vfs.path_of(&cx.root, &cx2.cwd), b"/mnt");
    // Unmount reveals the directory again.
    assert_eq!(errno(vfs.umount(&cx, At::Cwd, b"/")), Errno::EBUSY);
    vfs.umount(&cx, At::Cwd, b"/mnt").unwrap();
    assert_eq!(errno(read_file(&vfs, &cx, "/mnt/inner")), Errno::ENOENT);
}

#[test]
fn chroot_confines_dotdot_and_absolute_symlinks() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/etc", 0o755);
    write_file(&vfs, &cx, "/etc/passwd", b"host");
    mkdir(&vfs, &cx, "/jail", 0o755);
    mkdir(&vfs, &cx, "/jail/etc", 0o755);
    write_file(&vfs, &cx, "/jail/etc/passwd", b"jail");
    vfs.symlink(&cx, b"/etc/passwd", At::Cwd, b"/jail/abs")
        .unwrap();
    vfs.symlink(&cx, b"../../../../etc/passwd", At::Cwd, b"/jail/etc/rel")
        .unwrap();
    let jail = vfs.lookup_dir(&cx, At::Cwd, b"/jail").unwrap();
    let jcx = FsContext {
        root: jail.clone(),
        cwd: jail.clone(),
        ..cx.clone()
    };
    assert_eq!(read_file(&vfs, &jcx, "/abs").unwrap(), b"jail");
    assert_eq!(read_file(&vfs, &jcx, "abs").unwrap(), b"jail");
    assert_eq!(read_file(&vfs, &jcx, "/etc/rel").unwrap(), b"jail");
    assert_eq!(read_file(&vfs, &jcx, "/../../etc/passwd").unwrap(), b"jail");
    // The same links seen from outside the jail resolve outside it.
    assert_eq!(read_file(&vfs, &cx, "/jail/abs").unwrap(), b"host");
    // getcwd inside the jail is relative to it; outside it, unreachable.
    let etc = vfs.lookup_dir(&jcx, At::Cwd, b"/etc").unwrap();
    assert_eq!(vfs.path_of(&jcx.root, &etc), b"/etc");
    let outside = vfs.lookup_dir(&cx, At::Cwd, b"/etc").unwrap();
    assert!(vfs
        .path_of(&jcx.root, &outside)
        .starts_with(b"(unreachable)"));
}

#[test]
fn trailing_slash_requires_a_directory() {
    let (vfs, cx) = tmpfs_vfs();
    write_file(&vfs, &cx, "/file", b"x");
    mkdir(&vfs, &cx, "/dir/", 0o755);
    vfs.symlink(&cx, b"dir", At::Cwd, b"/dirlink").unwrap();
    vfs.symlink(&cx, b"file", At::Cwd, b"/filelink").unwrap();
    assert_eq!(
        errno(vfs.stat(&cx, At::Cwd, b"/file/", true)),
        Errno::ENOTDIR
    );
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/file/", RDONLY, 0)),
        Errno::ENOTDIR
    );
    assert!(vfs.stat(&cx, At::Cwd, b"/dir/", true).unwrap().is_dir());
    // A trailing slash follows a symlink even without "follow".
    assert!(vfs
        .stat(&cx, At::Cwd, b"/dirlink/", false)
        .unwrap()
        .is_dir());
    assert_eq!(
        errno(vfs.stat(&cx, At::Cwd, b"/filelink/", false)),
        Errno::ENOTDIR
    );
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/new/", WRONLY | CREAT, 0o644)),
        Errno::EISDIR
    );
    assert_eq!(errno(vfs.unlink(&cx, At::Cwd, b"/file/")), Errno::ENOTDIR);
    assert_eq!(errno(vfs.unlink(&cx, At::Cwd, b"/dir")), Errno::EISDIR);
    assert_eq!(errno(vfs.rmdir(&cx, At::Cwd, b"/file")), Errno::ENOTDIR);
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/file", RDONLY | DIRECTORY, 0)),
        Errno::ENOTDIR
    );
    vfs.rmdir(&cx, At::Cwd, b"/dir/").unwrap();
    assert_eq!(errno(vfs.rmdir(&cx, At::Cwd, b"/.")), Errno::EINVAL);
    assert_eq!(errno(vfs.mkdir(&cx, At::Cwd, b"/", 0o755)), Errno::EEXIST);
}

#[test]
fn creating_through_dangling_symlinks() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/d", 0o755);
    vfs.symlink(&cx, b"d/created", At::Cwd, b"/dangling")
        .unwrap();
    assert_eq!(errno(read_file(&vfs, &cx, "/dangling")), Errno::ENOENT);
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/dangling", WRONLY | CREAT | EXCL, 0o600)),
        Errno::EEXIST
    );
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/dangling", WRONLY | CREAT | NOFOLLOW, 0o600)),
        Errno::ELOOP
    );
    let f = vfs
        .open(&cx, At::Cwd, b"/dangling", WRONLY | CREAT, 0o600)
        .unwrap();
    f.write(b"via link").unwrap();
    assert_eq!(read_file(&vfs, &cx, "/d/created").unwrap(), b"via link");
    let st = vfs.stat(&cx, At::Cwd, b"/d/created", false).unwrap();
    assert_eq!(st.perm(), 0o600);
    // O_EXCL on an existing file; the umask on a new one.
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/d/created", RDWR | CREAT | EXCL, 0o600)),
        Errno::EEXIST
    );
    vfs.open(&cx, At::Cwd, b"/d/masked", RDWR | CREAT, 0o777)
        .unwrap();
    assert_eq!(
        vfs.stat(&cx, At::Cwd, b"/d/masked", false).unwrap().perm(),
        0o755
    );
    // O_CREAT on an existing directory.
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/d", RDONLY | CREAT, 0o600)),
        Errno::EISDIR
    );
    // A missing directory in the middle is ENOENT even with O_CREAT.
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/nodir/f", WRONLY | CREAT, 0o600)),
        Errno::ENOENT
    );
}

#[test]
fn relative_symlinks_resolve_from_their_directory() {
    let (vfs, cx) = tmpfs_vfs();
    for d in ["/a", "/a/b", "/a/c", "/a/b/deep"] {
        mkdir(&vfs, &cx, d, 0o755);
    }
    write_file(&vfs, &cx, "/a/c/file", b"c file");
    vfs.symlink(&cx, b"../c/file", At::Cwd, b"/a/b/link")
        .unwrap();
    vfs.symlink(&cx, b"../link", At::Cwd, b"/a/b/deep/up")
        .unwrap();
    vfs.symlink(&cx, b"./deep/../../c", At::Cwd, b"/a/b/dirlink")
        .unwrap();
    assert_eq!(read_file(&vfs, &cx, "/a/b/link").unwrap(), b"c file");
    assert_eq!(read_file(&vfs, &cx, "/a/b/deep/up").unwrap(), b"c file");
    assert_eq!(
        read_file(&vfs, &cx, "/a/b/dirlink/file").unwrap(),
        b"c file"
    );
    // From a directory FD, as the *at calls do.
    let b = vfs.lookup_dir(&cx, At::Cwd, b"/a/b").unwrap();
    let f = vfs.open(&cx, At::Dir(&b), b"deep/up", RDONLY, 0).unwrap();
    assert_eq!(read_all(&f), b"c file");
    assert_eq!(
        vfs.readlink(&cx, At::Dir(&b), b"link").unwrap(),
        b"../c/file"
    );
    assert_eq!(errno(vfs.readlink(&cx, At::Cwd, b"/a")), Errno::EINVAL);
    // The description remembers where it was opened.
    assert_eq!(vfs.path_of(&cx.root, f.path()), b"/a/c/file");
}

#[test]
fn long_names_and_paths() {
    let (vfs, cx) = tmpfs_vfs();
    let long = "x".repeat(256);
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, long.as_bytes(), WRONLY | CREAT, 0o644)),
        Errno::ENAMETOOLONG
    );
    let ok = "y".repeat(255);
    vfs.open(&cx, At::Cwd, ok.as_bytes(), WRONLY | CREAT, 0o644)
        .unwrap();
    let path = "a/".repeat(2048);
    assert_eq!(
        errno(vfs.stat(&cx, At::Cwd, path.as_bytes(), true)),
        Errno::ENAMETOOLONG
    );
    assert_eq!(errno(vfs.stat(&cx, At::Cwd, b"", true)), Errno::ENOENT);
}

#[test]
fn bind_mounts_and_stacked_mounts() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/src", 0o755);
    mkdir(&vfs, &cx, "/src/sub", 0o755);
    write_file(&vfs, &cx, "/src/sub/f", b"bound");
    write_file(&vfs, &cx, "/outside", b"outside");
    mkdir(&vfs, &cx, "/dst", 0o755);
    vfs.bind_mount(&cx, (At::Cwd, b"/src/sub"), (At::Cwd, b"/dst"), false)
        .unwrap();
    assert_eq!(read_file(&vfs, &cx, "/dst/f").unwrap(), b"bound");
    // `..` of a bind mount's root is the parent of where it is mounted,
    // not the parent of its source.
    assert_eq!(read_file(&vfs, &cx, "/dst/../outside").unwrap(), b"outside");
    let dst = vfs.lookup_dir(&cx, At::Cwd, b"/dst").unwrap();
    assert_eq!(vfs.path_of(&cx.root, &dst), b"/dst");
    // Changes through one path show through the other: one dentry tree.
    vfs.unlink(&cx, At::Cwd, b"/dst/f").unwrap();
    assert_eq!(errno(read_file(&vfs, &cx, "/src/sub/f")), Errno::ENOENT);

    // Stacked mounts: the newest is seen; unmounting uncovers the older.
    mkdir(&vfs, &cx, "/m", 0o755);
    vfs.mount(&cx, At::Cwd, b"/m", Tmpfs::new_memory(), false)
        .unwrap();
    write_file(&vfs, &cx, "/m/which", b"first");
    vfs.mount(&cx, At::Cwd, b"/m", Tmpfs::new_memory(), false)
        .unwrap();
    assert_eq!(errno(read_file(&vfs, &cx, "/m/which")), Errno::ENOENT);
    mkdir(&vfs, &cx, "/m/inner", 0o755);
    vfs.mount(&cx, At::Cwd, b"/m/inner", Tmpfs::new_memory(), false)
        .unwrap();
    // A mount with a mount inside it is busy.
    assert_eq!(errno(vfs.umount(&cx, At::Cwd, b"/m")), Errno::EBUSY);
    assert_eq!(errno(vfs.umount(&cx, At::Cwd, b"/src")), Errno::EINVAL);
    vfs.umount(&cx, At::Cwd, b"/m/inner").unwrap();
    vfs.umount(&cx, At::Cwd, b"/m").unwrap();
    assert_eq!(read_file(&vfs, &cx, "/m/which").unwrap(), b"first");
}

#[test]
fn exclusive_create_races_have_one_winner() {
    let (vfs, cx) = tmpfs_vfs();
    let vfs = Arc::new(vfs);
    for round in 0..20 {
        let name = format!("/race{round}");
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (vfs, cx, name) = (&vfs, &cx, &name);
                    s.spawn(move || {
                        vfs.open(cx, At::Cwd, name.as_bytes(), WRONLY | CREAT | EXCL, 0o644)
                            .is_ok() as usize
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "{name}");
    }
    // Concurrent renames back and forth never lose the file.
    write_file(&vfs, &cx, "/ping", b"ball");
    mkdir(&vfs, &cx, "/x", 0o755);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (vfs, cx) = (&vfs, &cx);
            s.spawn(move || {
                for _ in 0..200 {
                    let (a, b) = if t % 2 == 0 {
                        ("/ping", "/x/pong")
                    } else {
                        ("/x/pong", "/ping")
                    };
                    let _ = rename(vfs, cx, a, b, 0);
                }
            });
        }
    });
    let here = read_file(&vfs, &cx, "/ping").or_else(|_| read_file(&vfs, &cx, "/x/pong"));
    assert_eq!(here.unwrap(), b"ball");
}

// ---- permissions ------------------------------------------------------------

#[test]
fn private_directories_refuse_other_users() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/home", 0o755);
    mkdir(&vfs, &cx, "/home/alice", 0o700);
    let set_owner = SetAttr {
        uid: Some(1000),
        gid: Some(1000),
        ..SetAttr::default()
    };
    vfs.setattr(&cx, At::Cwd, b"/home/alice", true, &set_owner)
        .unwrap();
    let alice = user(&cx, 1000);
    let bob = user(&cx, 1001);
    write_file(&vfs, &alice, "/home/alice/secret", b"s");
    let st = vfs
        .stat(&alice, At::Cwd, b"/home/alice/secret", true)
        .unwrap();
    assert_eq!((st.uid, st.gid), (1000, 1000));
    assert_eq!(
        errno(read_file(&vfs, &bob, "/home/alice/secret")),
        Errno::EACCES
    );
    assert_eq!(
        errno(vfs.open(&bob, At::Cwd, b"/home/alice", RDONLY, 0)),
        Errno::EACCES
    );
    assert_eq!(
        errno(vfs.open(&bob, At::Cwd, b"/home/alice/new", WRONLY | CREAT, 0o644)),
        Errno::EACCES
    );
    assert_eq!(
        errno(vfs.lookup_dir(&bob, At::Cwd, b"/home/alice")),
        Errno::EACCES
    );
    // Root's DAC_OVERRIDE gets in; a root without capabilities does not.
    assert_eq!(read_file(&vfs, &cx, "/home/alice/secret").unwrap(), b"s");
    let powerless_root = FsContext {
        creds: Credentials {
            caps: CapSet::EMPTY,
            ..Credentials::root()
        },
        ..cx.clone()
    };
    assert_eq!(
        errno(read_file(&vfs, &powerless_root, "/home/alice/secret")),
        Errno::EACCES
    );
    // Non-owners cannot chmod or chown.
    let chmod = SetAttr {
        mode: Some(0o777),
        ..SetAttr::default()
    };
    assert_eq!(
        errno(vfs.setattr(&bob, At::Cwd, b"/home/alice", true, &chmod)),
        Errno::EPERM
    );
    vfs.setattr(&alice, At::Cwd, b"/home/alice", true, &chmod)
        .unwrap();
    assert_eq!(
        errno(vfs.setattr(&alice, At::Cwd, b"/home/alice", true, &set_owner_to(1001))),
        Errno::EPERM
    );
}

fn set_owner_to(uid: u32) -> SetAttr {
    SetAttr {
        uid: Some(uid),
        ..SetAttr::default()
    }
}

#[test]
fn every_path_component_needs_search_permission() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/a", 0o755);
    mkdir(&vfs, &cx, "/a/noexec", 0o766);
    mkdir(&vfs, &cx, "/a/noexec/b", 0o777);
    write_file(&vfs, &cx, "/a/noexec/b/f", b"x");
    let u = user(&cx, 1000);
    assert_eq!(errno(read_file(&vfs, &u, "/a/noexec/b/f")), Errno::EACCES);
    assert_eq!(
        errno(vfs.stat(&u, At::Cwd, b"/a/noexec/b", true)),
        Errno::EACCES
    );
    // Listing needs read only, but nothing inside can be reached.
    let d = vfs
        .open(&u, At::Cwd, b"/a/noexec", RDONLY | DIRECTORY, 0)
        .unwrap();
    assert!(names(&d).contains(&"b".to_string()));
    assert_eq!(vfs.access(&u, At::Cwd, b"/a", Access::EXEC), Ok(()));
    assert_eq!(
        errno(vfs.access(&u, At::Cwd, b"/a", Access::WRITE)),
        Errno::EACCES
    );
}

#[test]
fn sticky_tmp_protects_other_users_files() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/tmp", 0o777);
    vfs.setattr(
        &cx,
        At::Cwd,
        b"/tmp",
        true,
        &SetAttr {
            mode: Some(0o1777),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let alice = user(&cx, 1000);
    let bob = user(&cx, 1001);
    write_file(&vfs, &alice, "/tmp/alice", b"a");
    write_file(&vfs, &bob, "/tmp/bob", b"b");
    assert_eq!(
        errno(vfs.unlink(&bob, At::Cwd, b"/tmp/alice")),
        Errno::EPERM
    );
    let to = |p: &'static str| (At::Cwd, p.as_bytes());
    assert_eq!(
        errno(vfs.rename(
            &bob,
            to("/tmp/alice"),
            to("/tmp/mine"),
            RenameFlags::default()
        )),
        Errno::EPERM
    );
    // Nor may bob replace alice's file by renaming over it.
    assert_eq!(
        errno(vfs.rename(
            &bob,
            to("/tmp/bob"),
            to("/tmp/alice"),
            RenameFlags::default()
        )),
        Errno::EPERM
    );
    vfs.unlink(&alice, At::Cwd, b"/tmp/alice").unwrap();
    vfs.unlink(&cx, At::Cwd, b"/tmp/bob").unwrap();
}

#[test]
fn read_only_mounts_refuse_changes() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/data", 0o755);
    write_file(&vfs, &cx, "/data/f", b"keep");
    mkdir(&vfs, &cx, "/ro", 0o755);
    vfs.bind_mount(&cx, (At::Cwd, b"/data"), (At::Cwd, b"/ro"), true)
        .unwrap();
    assert_eq!(read_file(&vfs, &cx, "/ro/f").unwrap(), b"keep");
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/ro/f", WRONLY, 0)),
        Errno::EROFS
    );
    assert_eq!(
        errno(vfs.open(&cx, At::Cwd, b"/ro/g", WRONLY | CREAT, 0o644)),
        Errno::EROFS
    );
    assert_eq!(
        errno(vfs.mkdir(&cx, At::Cwd, b"/ro/d", 0o755)),
        Errno::EROFS
    );
    assert_eq!(errno(vfs.unlink(&cx, At::Cwd, b"/ro/f")), Errno::EROFS);
    // Existing names still answer EEXIST before EROFS, as on Linux.
    assert_eq!(
        errno(vfs.mkdir(&cx, At::Cwd, b"/ro/f", 0o755)),
        Errno::EEXIST
    );
    let statfs = vfs.statfs(&cx, At::Cwd, b"/ro").unwrap();
    assert_ne!(statfs.flags & libc::ST_RDONLY, 0);
    // The same files stay writable through the original path.
    write_file(&vfs, &cx, "/data/f", b"changed");
    assert_eq!(read_file(&vfs, &cx, "/ro/f").unwrap(), b"changed");
    vfs.remount(&cx, At::Cwd, b"/ro", false).unwrap();
    write_file(&vfs, &cx, "/ro/f", b"now writable");
}

// ---- tmpfs file data ---------------------------------------------------------

#[test]
fn write_read_holes_truncate() {
    let (vfs, cx) = tmpfs_vfs();
    let f = vfs.open(&cx, At::Cwd, b"/f", RDWR | CREAT, 0o644).unwrap();
    assert_eq!(f.write(b"hello").unwrap(), 5);
    assert_eq!(f.pwrite(b"world", 10).unwrap(), 5);
    assert_eq!(f.offset(), 5);
    let mut buf = [0xaau8; 32];
    assert_eq!(f.pread(&mut buf, 0).unwrap(), 15);
    assert_eq!(&buf[..15], b"hello\0\0\0\0\0world");
    assert_eq!(f.pread(&mut buf, 15).unwrap(), 0);
    let st = f.stat().unwrap();
    assert_eq!(st.size, 15);
    assert!(st.blocks > 0);
    // Truncate down, then up: the regrown part reads as zeros.
    let p = f.path().clone();
    vfs.setattr_at(
        &cx,
        &p,
        &SetAttr {
            size: Some(3),
            ..SetAttr::default()
        },
        true,
    )
    .unwrap();
    vfs.setattr_at(
        &cx,
        &p,
        &SetAttr {
            size: Some(8),
            ..SetAttr::default()
        },
        true,
    )
    .unwrap();
    assert_eq!(f.pread(&mut buf, 0).unwrap(), 8);
    assert_eq!(&buf[..8], b"hel\0\0\0\0\0");
    // Seeking past the end and writing leaves a hole.
    assert_eq!(f.seek(100, libc::SEEK_SET).unwrap(), 100);
    f.write(b"!").unwrap();
    assert_eq!(f.stat().unwrap().size, 101);
    assert_eq!(f.seek(-1, libc::SEEK_END).unwrap(), 100);
    assert_eq!(f.seek(0, libc::SEEK_CUR).unwrap(), 100);
    assert_eq!(errno(f.seek(-200, libc::SEEK_CUR)), Errno::EINVAL);
    // Access modes are the description's.
    let ro = vfs.open(&cx, At::Cwd, b"/f", RDONLY, 0).unwrap();
    assert_eq!(errno(ro.write(b"x")), Errno::EBADF);
    let wo = vfs.open(&cx, At::Cwd, b"/f", WRONLY | TRUNC, 0).unwrap();
    assert_eq!(errno(wo.read(&mut buf)), Errno::EBADF);
    assert_eq!(ro.stat().unwrap().size, 0);
}

#[test]
fn append_goes_to_the_end_and_offsets_are_shared_by_dups() {
    let (vfs, cx) = tmpfs_vfs();
    let a = vfs
        .open(&cx, At::Cwd, b"/log", WRONLY | CREAT | APPEND, 0o644)
        .unwrap();
    let b = vfs.open(&cx, At::Cwd, b"/log", WRONLY | APPEND, 0).unwrap();
    a.write(b"one ").unwrap();
    b.write(b"two ").unwrap();
    // pwrite on an O_APPEND description appends, as Linux does.
    a.pwrite(b"three", 0).unwrap();
    assert_eq!(read_file(&vfs, &cx, "/log").unwrap(), b"one two three");
    assert_eq!(a.offset(), 4, "pwrite leaves the offset alone");
    assert_eq!(b.offset(), 8);
    // A dup shares the description, hence the offset.
    let r = vfs.open(&cx, At::Cwd, b"/log", RDONLY, 0).unwrap();
    let dup: Arc<FileDescription> = r.clone();
    let mut buf = [0u8; 4];
    r.read(&mut buf).unwrap();
    dup.read(&mut buf).unwrap();
    assert_eq!(&buf, b"two ");
    assert_eq!(r.offset(), 8);
    // F_SETFL can drop O_APPEND.
    a.set_status_flags(0);
    a.seek(0, libc::SEEK_SET).unwrap();
    a.write(b"ONE").unwrap();
    assert_eq!(read_file(&vfs, &cx, "/log").unwrap(), b"ONE two three");
}

#[test]
fn timestamps_and_links_move_like_linux() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/d", 0o755);
    let old = Timespec { sec: 1000, nsec: 0 };
    let set_old = SetAttr {
        atime: Some(TimeChange::At(old)),
        mtime: Some(TimeChange::At(old)),
        ..SetAttr::default()
    };
    vfs.setattr(&cx, At::Cwd, b"/d", true, &set_old).unwrap();
    write_file(&vfs, &cx, "/d/f", b"data");
    let d = vfs.stat(&cx, At::Cwd, b"/d", true).unwrap();
    assert!(d.mtime > old, "create updates the directory's mtime");
    assert_eq!(d.nlink, 2);
    mkdir(&vfs, &cx, "/d/sub", 0o755);
    assert_eq!(vfs.stat(&cx, At::Cwd, b"/d", true).unwrap().nlink, 3);

    vfs.setattr(&cx, At::Cwd, b"/d/f", true, &set_old).unwrap();
    let before = vfs.stat(&cx, At::Cwd, b"/d/f", true).unwrap();
    assert_eq!((before.mtime, before.atime), (old, old));
    let f = vfs.open(&cx, At::Cwd, b"/d/f", RDWR, 0).unwrap();
    let mut buf = [0u8; 4];
    f.read(&mut buf).unwrap();
    let after_read = f.stat().unwrap();
    assert!(after_read.atime > old, "relatime updates an old atime");
    assert_eq!(after_read.mtime, old, "reads leave mtime alone");
    f.write(b"more").unwrap();
    let after_write = f.stat().unwrap();
    assert!(after_write.mtime > old && after_write.ctime >= after_write.mtime);

    vfs.link(&cx, (At::Cwd, b"/d/f"), (At::Cwd, b"/d/g"), false)
        .unwrap();
    assert_eq!(f.stat().unwrap().nlink, 2);
    assert_eq!(
        vfs.stat(&cx, At::Cwd, b"/d/g", true).unwrap().ino,
        after_write.ino
    );
    vfs.unlink(&cx, At::Cwd, b"/d/f").unwrap();
    vfs.unlink(&cx, At::Cwd, b"/d/g").unwrap();
    // Open and unlinked: still readable, nlink 0, path marked deleted.
    let st = f.stat().unwrap();
    assert_eq!(st.nlink, 0);
    assert_eq!(f.pread(&mut buf, 0).unwrap(), 4);
    assert!(vfs.path_of(&cx.root, f.path()).ends_with(b" (deleted)"));
    // UTIME_NOW by a non-owner needs write permission only.
    write_file(&vfs, &cx, "/d/shared", b"");
    vfs.setattr(
        &cx,
        At::Cwd,
        b"/d/shared",
        true,
        &SetAttr {
            mode: Some(0o666),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let now = SetAttr {
        atime: Some(TimeChange::Now),
        mtime: Some(TimeChange::Now),
        ..SetAttr::default()
    };
    let u = user(&cx, 1000);
    vfs.setattr(&u, At::Cwd, b"/d/shared", true, &now).unwrap();
    assert_eq!(
        errno(vfs.setattr(&u, At::Cwd, b"/d/shared", true, &set_old)),
        Errno::EPERM
    );
}

#[test]
fn getdents_offsets_resume_and_seek() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/d", 0o755);
    for i in 0..20 {
        write_file(&vfs, &cx, &format!("/d/file{i:02}"), b"");
    }
    let d = vfs
        .open(&cx, At::Cwd, b"/d", RDONLY | DIRECTORY, 0)
        .unwrap();
    let first = d.getdents(100).unwrap();
    assert_eq!(first[0].name, b".");
    assert_eq!(first[1].name, b"..");
    let mark = d.offset();
    let after_mark = d.getdents(4096).unwrap();
    d.seek(mark as i64, libc::SEEK_SET).unwrap();
    // Remove one already listed and one not yet listed.
    vfs.unlink(&cx, At::Cwd, b"/d/file00").unwrap();
    let gone = String::from_utf8(after_mark[1].name.clone()).unwrap();
    vfs.unlink(&cx, At::Cwd, format!("/d/{gone}").as_bytes())
        .unwrap();
    let again = d.getdents(4096).unwrap();
    assert_eq!(again.len(), after_mark.len() - 1);
    assert_eq!(again[0].name, after_mark[0].name);
    d.seek(0, libc::SEEK_SET).unwrap();
    let all = names(&d);
    assert_eq!(all.len(), 2 + 18);
    // At the end a small buffer is fine; with an entry to return, not.
    assert_eq!(d.getdents(10).unwrap(), vec![]);
    d.seek(0, libc::SEEK_SET).unwrap();
    assert_eq!(errno(d.getdents(10)), Errno::EINVAL);
}

// ---- rename ---------------------------------------------------------------

fn rename(vfs: &Vfs, cx: &FsContext, from: &str, to: &str, flags: u32) -> SysResult<()> {
    vfs.rename(
        cx,
        (At::Cwd, from.as_bytes()),
        (At::Cwd, to.as_bytes()),
        RenameFlags::from_raw(flags)?,
    )
}

#[test]
fn rename_semantics() {
    let (vfs, cx) = tmpfs_vfs();
    write_file(&vfs, &cx, "/a", b"a");
    write_file(&vfs, &cx, "/b", b"b");
    let open_b = vfs.open(&cx, At::Cwd, b"/b", RDONLY, 0).unwrap();
    // Over a file: the old one is unlinked but open FDs keep it.
    rename(&vfs, &cx, "/a", "/b", 0).unwrap();
    assert_eq!(read_file(&vfs, &cx, "/b").unwrap(), b"a");
    assert_eq!(errno(read_file(&vfs, &cx, "/a")), Errno::ENOENT);
    assert_eq!(read_all(&open_b), b"b");
    assert_eq!(open_b.stat().unwrap().nlink, 0);

    mkdir(&vfs, &cx, "/d1", 0o755);
    mkdir(&vfs, &cx, "/d2", 0o755);
    mkdir(&vfs, &cx, "/full", 0o755);
    write_file(&vfs, &cx, "/full/x", b"");
    write_file(&vfs, &cx, "/d1/inside", b"in d1");
    // Over an empty directory: fine; over a non-empty one: ENOTEMPTY.
    rename(&vfs, &cx, "/d1", "/d2", 0).unwrap();
    assert_eq!(read_file(&vfs, &cx, "/d2/inside").unwrap(), b"in d1");
    assert_eq!(
        errno(rename(&vfs, &cx, "/d2", "/full", 0)),
        Errno::ENOTEMPTY
    );
    // Type mismatches.
    assert_eq!(errno(rename(&vfs, &cx, "/d2", "/b", 0)), Errno::ENOTDIR);
    assert_eq!(errno(rename(&vfs, &cx, "/b", "/d2", 0)), Errno::EISDIR);
    // A directory into itself.
    mkdir(&vfs, &cx, "/d2/sub", 0o755);
    assert_eq!(
        errno(rename(&vfs, &cx, "/d2", "/d2/sub/moved", 0)),
        Errno::EINVAL
    );
    assert_eq!(
        errno(rename(&vfs, &cx, "/d2", "/d2/moved", 0)),
        Errno::EINVAL
    );
    // `.`/`..` and the root cannot be renamed.
    assert_eq!(errno(rename(&vfs, &cx, "/d2/.", "/x", 0)), Errno::EBUSY);
    // NOREPLACE and EXCHANGE.
    let noreplace = libc::RENAME_NOREPLACE;
    assert_eq!(
        errno(rename(&vfs, &cx, "/b", "/full/x", noreplace)),
        Errno::EEXIST
    );
    rename(&vfs, &cx, "/b", "/fresh", noreplace).unwrap();
    rename(&vfs, &cx, "/fresh", "/d2", libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(read_file(&vfs, &cx, "/d2").unwrap(), b"a");
    assert_eq!(read_file(&vfs, &cx, "/fresh/inside").unwrap(), b"in d1");
    assert_eq!(
        errno(rename(
            &vfs,
            &cx,
            "/fresh",
            "/nothing",
            libc::RENAME_EXCHANGE
        )),
        Errno::ENOENT
    );
    assert_eq!(
        errno(rename(
            &vfs,
            &cx,
            "/d2",
            "/x",
            libc::RENAME_EXCHANGE | noreplace
        )),
        Errno::EINVAL
    );
    // Moved directory: its cwd-style path follows it.
    let sub = vfs.lookup_dir(&cx, At::Cwd, b"/fresh/sub").unwrap();
    rename(&vfs, &cx, "/fresh", "/renamed", 0).unwrap();
    assert_eq!(vfs.path_of(&cx.root, &sub), b"/renamed/sub");
    // Hard links of one file: nothing happens.
    vfs.link(&cx, (At::Cwd, b"/d2"), (At::Cwd, b"/d2link"), false)
        .unwrap();
    rename(&vfs, &cx, "/d2", "/d2link", 0).unwrap();
    assert!(vfs.stat(&cx, At::Cwd, b"/d2", false).is_ok());
}

#[test]
fn rename_and_link_across_mounts_is_exdev() {
    let (vfs, cx) = tmpfs_vfs();
    mkdir(&vfs, &cx, "/mnt", 0o755);
    mkdir(&vfs, &cx, "/bind", 0o755);
    vfs.mount(&cx, At::Cwd, b"/mnt", Tmpfs::new_memory(), false)
        .unwrap();
    write_file(&vfs, &cx, "/f", b"");
    assert_eq!(errno(rename(&vfs, &cx, "/f", "/mnt/f", 0)), Errno::EXDEV);
    assert_eq!(
        errno(vfs.link(&cx, (At::Cwd, b"/f"), (At::Cwd, b"/mnt/f"), false)),
        Errno::EXDEV
    );
    // Even a bind mount of the same filesystem is another mount.
    vfs.bind_mount(&cx, (At::Cwd, b"/"), (At::Cwd, b"/bind"), false)
        .unwrap();
    assert_eq!(errno(rename(&vfs, &cx, "/f", "/bind/g", 0)), Errno::EXDEV);
    // Mount points are busy.
    assert_eq!(errno(rename(&vfs, &cx, "/mnt", "/mnt2", 0)), Errno::EBUSY);
    assert_eq!(errno(vfs.rmdir(&cx, At::Cwd, b"/mnt")), Errno::EBUSY);
}

#[test]
fn special_files_and_paths_of_descriptions() {
    let (vfs, cx) = tmpfs_vfs();
    vfs.mknod(&cx, At::Cwd, b"/fifo", libc::S_IFIFO | 0o644, 0)
        .unwrap();
    assert_eq!(
        vfs.stat(&cx, At::Cwd, b"/fifo", false).unwrap().mode & libc::S_IFMT,
        libc::S_IFIFO
    );
    let u = user(&cx, 1000);
    assert_eq!(
        errno(vfs.mknod(&cx.clone(), At::Cwd, b"/fifo", libc::S_IFIFO, 0)),
        Errno::EEXIST
    );
    mkdir(&vfs, &cx, "/open", 0o777);
    assert_eq!(
        errno(vfs.mknod(&u, At::Cwd, b"/open/null", libc::S_IFCHR | 0o666, 0x103)),
        Errno::EPERM
    );
    // A whiteout as the overlay will make it: char device 0:0.
    vfs.mknod(&cx, At::Cwd, b"/wh", libc::S_IFCHR, 0).unwrap();
    let st = vfs.stat(&cx, At::Cwd, b"/wh", false).unwrap();
    assert_eq!((st.mode & libc::S_IFMT, st.rdev), (libc::S_IFCHR, 0));
    let mut sub = cx.clone();
    sub.cwd = vfs.lookup_dir(&cx, At::Cwd, b"/open").unwrap();
    let f = vfs
        .open(&sub, At::Cwd, b"x", WRONLY | CREAT, 0o600)
        .unwrap();
    assert_eq!(vfs.path_of(&cx.root, f.path()), b"/open/x");
    let root: VfsPath = vfs.root();
    assert_eq!(vfs.path_of(&root, &root), b"/");
}

// ---- the gofer filesystem against a real server -------------------------------

mod gofer_fs {
    use super::*;
    use gofer::backend::{HostBackend, ProcSelfFd};
    use lisafs::{ServeOptions, Socket};
    use rustix::fs::{Mode, OFlags};
    use sentry::vfs::gofer::{GoferFs, GoferOptions};
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    /// A gofer serving a temporary directory from a thread of this process,
    /// as the gofer conformance tests do, mounted as the VFS root.
    struct Sandbox {
        host: tempfile::TempDir,
        vfs: Arc<Vfs>,
        cx: FsContext,
        /// A duplicate of the server's end of the socket, to cut the line.
        server_end: OwnedFd,
        server: Option<std::thread::JoinHandle<Result<(), lisafs::ServeError>>>,
    }

    impl Sandbox {
        fn new(exclusive: bool) -> Sandbox {
            let host = tempfile::tempdir().unwrap();
            let root_fd = rustix::fs::open(
                host.path(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            let proc = ProcSelfFd::open().unwrap();
            let (client, server) = Socket::pair().unwrap();
            let server_fd = server.into_fd();
            let server_end = server_fd.try_clone().unwrap();
            let server = Socket::from_fd(server_fd);
            let thread = std::thread::spawn(move || {
                let backend = HostBackend::new(root_fd, proc);
                lisafs::serve(&backend, server, ServeOptions::default())
            });
            let fs = GoferFs::new(client, GoferOptions { exclusive }).unwrap();
            let vfs = Arc::new(Vfs::new(fs, false).unwrap());
            let cx = FsContext::new(&vfs);
            Sandbox {
                host,
                vfs,
                cx,
                server_end,
                server: Some(thread),
            }
        }

        fn host(&self, rel: &str) -> std::path::PathBuf {
            self.host.path().join(rel)
        }

        /// Ends the connection from the server's side, as a dying gofer would.
        fn kill_server(&mut self) {
            rustix::net::shutdown(&self.server_end, rustix::net::Shutdown::Both).unwrap();
            let _ = self.server.take().unwrap().join().unwrap();
        }
    }

    #[test]
    fn files_created_in_the_sandbox_appear_on_the_host() {
        let sb = Sandbox::new(true);
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        mkdir(vfs, cx, "/dir", 0o750);
        write_file(vfs, cx, "/dir/file", b"from the sandbox");
        assert_eq!(
            std::fs::read(sb.host("dir/file")).unwrap(),
            b"from the sandbox"
        );
        let meta = std::fs::metadata(sb.host("dir")).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
        // New files get the caller's ids, not the gofer's.
        let u = user(cx, 1000);
        vfs.setattr(
            cx,
            At::Cwd,
            b"/dir",
            true,
            &SetAttr {
                mode: Some(0o777),
                ..SetAttr::default()
            },
        )
        .unwrap();
        write_file(vfs, &u, "/dir/users", b"u");
        let meta = std::fs::metadata(sb.host("dir/users")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
        assert_eq!(
            vfs.stat(cx, At::Cwd, b"/dir/users", true).unwrap().uid,
            1000
        );
        vfs.symlink(cx, b"file", At::Cwd, b"/dir/link").unwrap();
        assert_eq!(
            std::fs::read_link(sb.host("dir/link")).unwrap(),
            Path::new("file")
        );
        assert_eq!(
            read_file(vfs, cx, "/dir/link").unwrap(),
            b"from the sandbox"
        );
        vfs.link(cx, (At::Cwd, b"/dir/file"), (At::Cwd, b"/hard"), false)
            .unwrap();
        assert_eq!(std::fs::metadata(sb.host("hard")).unwrap().nlink(), 2);
        assert_eq!(vfs.stat(cx, At::Cwd, b"/dir/file", true).unwrap().nlink, 2);
        // Appends, truncation and times go through to the host file.
        let f = vfs.open(cx, At::Cwd, b"/hard", WRONLY | APPEND, 0).unwrap();
        f.write(b"!").unwrap();
        assert_eq!(
            std::fs::read(sb.host("dir/file")).unwrap(),
            b"from the sandbox!"
        );
        vfs.setattr(
            cx,
            At::Cwd,
            b"/hard",
            true,
            &SetAttr {
                size: Some(4),
                ..SetAttr::default()
            },
        )
        .unwrap();
        assert_eq!(std::fs::read(sb.host("dir/file")).unwrap(), b"from");
        let t = Timespec {
            sec: 1_000_000,
            nsec: 5,
        };
        let times = SetAttr {
            mtime: Some(TimeChange::At(t)),
            ..SetAttr::default()
        };
        vfs.setattr(cx, At::Cwd, b"/hard", true, &times).unwrap();
        assert_eq!(
            std::fs::metadata(sb.host("hard")).unwrap().mtime(),
            1_000_000
        );
        assert_eq!(vfs.stat(cx, At::Cwd, b"/hard", true).unwrap().mtime, t);
        // Rename and unlink.
        rename(vfs, cx, "/hard", "/dir/moved", 0).unwrap();
        assert!(sb.host("dir/moved").exists() && !sb.host("hard").exists());
        assert_eq!(
            errno(rename(
                vfs,
                cx,
                "/dir/moved",
                "/dir/file",
                libc::RENAME_NOREPLACE
            )),
            Errno::EEXIST
        );
        vfs.unlink(cx, At::Cwd, b"/dir/moved").unwrap();
        assert!(!sb.host("dir/moved").exists());
        assert_eq!(errno(vfs.rmdir(cx, At::Cwd, b"/dir")), Errno::ENOTEMPTY);
        // Devices are never made on the host, FIFOs may be.
        assert_eq!(
            errno(vfs.mknod(cx, At::Cwd, b"/null", libc::S_IFCHR | 0o666, 0x103)),
            Errno::EPERM
        );
        vfs.mknod(cx, At::Cwd, b"/fifo", libc::S_IFIFO | 0o600, 0)
            .unwrap();
        assert_eq!(
            errno(vfs.open(cx, At::Cwd, b"/fifo", RDONLY, 0)),
            Errno::ENXIO
        );
        let st = vfs.statfs(cx, At::Cwd, b"/").unwrap();
        assert_eq!(st.fs_type, 0x0102_1997);
    }

    #[test]
    fn host_files_are_visible_in_the_sandbox() {
        let sb = Sandbox::new(true);
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        std::fs::create_dir(sb.host("etc")).unwrap();
        std::fs::write(sb.host("etc/hostname"), b"sandbox\n").unwrap();
        for i in 0..50 {
            std::fs::write(sb.host(&format!("etc/f{i}")), b"").unwrap();
        }
        assert_eq!(read_file(vfs, cx, "/etc/hostname").unwrap(), b"sandbox\n");
        let st = vfs.stat(cx, At::Cwd, b"/etc/hostname", true).unwrap();
        assert_eq!(st.size, 8);
        assert_eq!(
            st.ino,
            std::fs::metadata(sb.host("etc/hostname")).unwrap().ino()
        );
        // The mount's own device, not the host's.
        assert_ne!(st.dev, std::fs::metadata(sb.host("etc")).unwrap().dev());
        // Directory listing, in small reads, resumable and rewindable.
        let d = vfs
            .open(cx, At::Cwd, b"/etc", RDONLY | DIRECTORY, 0)
            .unwrap();
        let mut seen = Vec::new();
        loop {
            let ents = d.getdents(128).unwrap();
            if ents.is_empty() {
                break;
            }
            seen.extend(ents.into_iter().map(|e| e.name));
        }
        assert_eq!(seen.len(), 2 + 51);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 2 + 51);
        d.seek(0, libc::SEEK_SET).unwrap();
        assert_eq!(names(&d).len(), 2 + 51);
        // Content changed on the host is read fresh (through the host FD).
        std::fs::write(sb.host("etc/hostname"), b"changed\n").unwrap();
        assert_eq!(read_file(vfs, cx, "/etc/hostname").unwrap(), b"changed\n");
        // A file created on the host after a failed lookup is found.
        assert_eq!(errno(read_file(vfs, cx, "/etc/late")), Errno::ENOENT);
        std::fs::write(sb.host("etc/late"), b"late").unwrap();
        assert_eq!(read_file(vfs, cx, "/etc/late").unwrap(), b"late");
    }

    #[test]
    fn host_symlinks_resolve_inside_the_sandbox_root() {
        let sb = Sandbox::new(true);
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        std::fs::create_dir_all(sb.host("etc")).unwrap();
        std::fs::create_dir_all(sb.host("a/b")).unwrap();
        std::fs::write(sb.host("etc/shadow"), b"the sandbox's shadow").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", sb.host("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/shadow", sb.host("a/b/rel")).unwrap();
        std::os::unix::fs::symlink("/", sb.host("a/root")).unwrap();
        assert_eq!(read_file(vfs, cx, "/abs").unwrap(), b"the sandbox's shadow");
        assert_eq!(
            read_file(vfs, cx, "/a/b/rel").unwrap(),
            b"the sandbox's shadow"
        );
        assert_eq!(
            read_file(vfs, cx, "/a/root/etc/shadow").unwrap(),
            b"the sandbox's shadow"
        );
        // With the sandbox's file gone, the host's is still out of reach.
        vfs.unlink(cx, At::Cwd, b"/etc/shadow").unwrap();
        assert!(!sb.host("etc/shadow").exists());
        assert_eq!(errno(read_file(vfs, cx, "/abs")), Errno::ENOENT);
        assert_eq!(errno(read_file(vfs, cx, "/a/b/rel")), Errno::ENOENT);
        // Writing through a dangling link creates the file inside.
        let f = vfs
            .open(cx, At::Cwd, b"/abs", WRONLY | CREAT, 0o600)
            .unwrap();
        f.write(b"new").unwrap();
        assert_eq!(std::fs::read(sb.host("etc/shadow")).unwrap(), b"new");
    }

    #[test]
    fn shared_mounts_revalidate_names_changed_on_the_host() {
        let sb = Sandbox::new(false);
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        std::fs::write(sb.host("f"), b"first").unwrap();
        std::fs::create_dir(sb.host("d")).unwrap();
        assert_eq!(read_file(vfs, cx, "/f").unwrap(), b"first");
        let ino1 = vfs.stat(cx, At::Cwd, b"/f", true).unwrap().ino;
        // Replace the file on the host: a new inode under the cached name.
        std::fs::write(sb.host("g"), b"second").unwrap();
        std::fs::rename(sb.host("g"), sb.host("f")).unwrap();
        let st = vfs.stat(cx, At::Cwd, b"/f", true).unwrap();
        assert_ne!(st.ino, ino1);
        assert_eq!(read_file(vfs, cx, "/f").unwrap(), b"second");
        // Attribute changes on the host show through stat.
        std::fs::set_permissions(sb.host("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(vfs.stat(cx, At::Cwd, b"/f", true).unwrap().perm(), 0o600);
        // Removal on the host.
        std::fs::remove_file(sb.host("f")).unwrap();
        assert_eq!(errno(vfs.stat(cx, At::Cwd, b"/f", true)), Errno::ENOENT);
        // A directory replaced by a file.
        std::fs::remove_dir(sb.host("d")).unwrap();
        assert!(vfs.stat(cx, At::Cwd, b"/d", true).is_err());
        std::fs::write(sb.host("d"), b"now a file").unwrap();
        assert_eq!(read_file(vfs, cx, "/d").unwrap(), b"now a file");
    }

    #[test]
    fn permissions_are_checked_by_the_sentry() {
        let sb = Sandbox::new(true);
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        std::fs::create_dir(sb.host("private")).unwrap();
        std::fs::set_permissions(sb.host("private"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::write(sb.host("private/secret"), b"s").unwrap();
        let u = user(cx, 1000);
        // The gofer itself could read it (it runs privileged); the sentry says no.
        assert_eq!(errno(read_file(vfs, &u, "/private/secret")), Errno::EACCES);
        assert_eq!(read_file(vfs, cx, "/private/secret").unwrap(), b"s");
    }

    #[test]
    fn dentries_can_be_pruned_and_looked_up_again() {
        let sb = Sandbox::new(true);
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        std::fs::create_dir_all(sb.host("x/y/z")).unwrap();
        std::fs::write(sb.host("x/y/z/f"), b"deep").unwrap();
        let keep = vfs.open(cx, At::Cwd, b"/x/y/z/f", RDONLY, 0).unwrap();
        assert_eq!(read_file(vfs, cx, "/x/y/z/f").unwrap(), b"deep");
        // The open file pins its ancestors; nothing else is cached.
        assert_eq!(vfs.prune_dentries(), 0);
        drop(keep);
        assert_eq!(vfs.prune_dentries(), 4);
        assert_eq!(read_file(vfs, cx, "/x/y/z/f").unwrap(), b"deep");
    }

    #[test]
    fn a_dead_server_gives_eio() {
        let mut sb = Sandbox::new(true);
        std::fs::write(sb.host("f"), b"data").unwrap();
        let f = sb.vfs.open(&sb.cx, At::Cwd, b"/f", RDWR, 0).unwrap();
        sb.kill_server();
        let (vfs, cx) = (&sb.vfs, &sb.cx);
        assert_eq!(errno(vfs.stat(cx, At::Cwd, b"/nothing", true)), Errno::EIO);
        assert_eq!(errno(vfs.mkdir(cx, At::Cwd, b"/d", 0o755)), Errno::EIO);
        assert_eq!(errno(f.fsync()), Errno::EIO);
        assert_eq!(errno(vfs.statfs(cx, At::Cwd, b"/")), Errno::EIO);
        // The host FD donated earlier still works: it is a plain host file.
        let mut buf = [0u8; 4];
        assert_eq!(f.pread(&mut buf, 0).unwrap(), 4);
    }
}
