//! The path operations a syscall layer calls: open, create, link, unlink,
//! rename, stat, setattr, statfs, xattrs. Each resolves its path, takes the
//! directory locks in the documented order, applies Linux's permission and
//! type rules, and then asks the filesystem.

use super::attr::{FileType, NewAttrs, NewNode, RenameFlags, SetAttr, Stat, StatFs, XattrSet};
use super::creds::{check, check_sticky, Access, Capability, Credentials};
use super::dentry::Dentry;
use super::file::FileDescription;
use super::inode::NoIo;
use super::mount::VfsPath;
use super::resolve::Last;
use super::{At, FsContext, Vfs, PATH_MAX};
use crate::errno::{Errno, SysResult};
use crate::return_errno;
use crate::sync::lock;
use std::sync::{Arc, RwLockWriteGuard};

fn writable_mount(p: &VfsPath) -> SysResult<()> {
    if p.mount.readonly() {
        return_errno!(EROFS);
    }
    Ok(())
}

/// Owner and mode of a new file (Linux's `inode_init_owner`): the caller's
/// ids, except that a setgid directory passes on its group (and, to
/// subdirectories, the setgid bit).
fn new_attrs(creds: &Credentials, dir: &Stat, perm: u32, is_dir: bool) -> NewAttrs {
    let mut perm = perm & 0o7777;
    let gid = if dir.mode & libc::S_ISGID != 0 {
        if is_dir {
            perm |= libc::S_ISGID;
        } else if perm & libc::S_ISGID != 0
            && !creds.in_group(dir.gid)
            && !creds.has(Capability::Fsetid)
        {
            perm &= !libc::S_ISGID;
        }
        dir.gid
    } else {
        creds.gid
    };
    NewAttrs {
        perm,
        uid: creds.uid,
        gid,
    }
}

/// Permission to add or remove names in `dir`.
fn may_modify_dir(dir: &VfsPath, creds: &Credentials) -> SysResult<Stat> {
    let st = dir.dentry.inode().stat()?;
    check(&st, creds, Access::WRITE.union(Access::EXEC))?;
    Ok(st)
}

/// Locks two directories for a rename, in the documented order.
fn lock_pair<'a>(
    a: &'a Arc<Dentry>,
    b: &'a Arc<Dentry>,
) -> (RwLockWriteGuard<'a, ()>, Option<RwLockWriteGuard<'a, ()>>) {
    if a.id() == b.id() {
        return (a.write_lock(), None);
    }
    let a_first = if a.is_ancestor_of(b) {
        true
    } else if b.is_ancestor_of(a) {
        false
    } else {
        a.id() < b.id()
    };
    if a_first {
        let ga = a.write_lock();
        (ga, Some(b.write_lock()))
    } else {
        let gb = b.write_lock();
        (gb, Some(a.write_lock()))
    }
}

impl Vfs {
    /// `open(2)`/`openat(2)`: `flags` as Linux takes them, `mode` before the
    /// umask.
    pub fn open(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        flags: u32,
        mode: u32,
    ) -> SysResult<Arc<FileDescription>> {
        let has = |f: i32| flags & f as u32 != 0;
        let creat = has(libc::O_CREAT) && !has(libc::O_PATH);
        let excl = creat && has(libc::O_EXCL);
        // O_CREAT|O_EXCL never follows: an existing symlink is "existing".
        let follow = !has(libc::O_NOFOLLOW) && !excl;
        let w = self.walk(cx, at, path, follow)?;
        if !creat {
            let target = w.existing()?;
            return self.open_existing(cx, target, flags);
        }
        if w.jumped {
            // A magic link names an existing open file, not an entry to
            // create in its directory.
            if excl {
                return_errno!(EEXIST);
            }
            let target = w.existing()?;
            return self.open_existing(cx, target, flags);
        }
        let name = match &w.last {
            Last::Name(n) => n.clone(),
            _ => return_errno!(EISDIR),
        };
        let parent = w.parent.clone();
        let guard = parent.dentry.write_lock();
        if let Some(d) = self.lookup_child(&parent, &name, true)? {
            drop(guard);
            if excl {
                return_errno!(EEXIST);
            }
            let child = self.cross_down(VfsPath::new(parent.mount.clone(), d));
            if w.must_be_dir && !child.dentry.is_dir() {
                return_errno!(EISDIR);
            }
            return self.open_existing(cx, child, flags);
        }
        if w.must_be_dir {
            return_errno!(EISDIR);
        }
        writable_mount(&parent)?;
        let dir_stat = may_modify_dir(&parent, &cx.creds)?;
        let attrs = new_attrs(&cx.creds, &dir_stat, mode & !cx.umask, false);
        // The creator may use the new file whatever its mode: no check here.
        let (inode, ops) = parent.dentry.inode().create_open(&name, &attrs, flags)?;
        let dentry = parent.dentry.insert_child(&name, inode)?;
        drop(guard);
        let path = VfsPath::new(parent.mount.clone(), dentry);
        Ok(Arc::new(FileDescription::new(path, ops, flags)))
    }

    fn open_existing(
        &self,
        cx: &FsContext,
        p: VfsPath,
        flags: u32,
    ) -> SysResult<Arc<FileDescription>> {
        let has = |f: i32| flags & f as u32 != 0;
        let kind = p.dentry.kind();
        if has(libc::O_PATH) {
            if has(libc::O_DIRECTORY) && kind != FileType::Directory {
                return_errno!(ENOTDIR);
            }
            return Ok(Arc::new(FileDescription::new(p, Box::new(NoIo), flags)));
        }
        if kind == FileType::Symlink {
            return_errno!(ELOOP);
        }
        if has(libc::O_DIRECTORY) && kind != FileType::Directory {
            return_errno!(ENOTDIR);
        }
        let acc = flags & libc::O_ACCMODE as u32;
        if acc == libc::O_ACCMODE as u32 {
            return_errno!(EINVAL);
        }
        let reads = acc != libc::O_WRONLY as u32;
        let writes = acc != libc::O_RDONLY as u32;
        let trunc = has(libc::O_TRUNC);
        if kind == FileType::Directory && (writes || has(libc::O_CREAT)) {
            return_errno!(EISDIR);
        }
        let st = p.dentry.inode().stat()?;
        let mut want = Access::NONE;
        if reads {
            want = want.union(Access::READ);
        }
        if writes || trunc {
            want = want.union(Access::WRITE);
        }
        check(&st, &cx.creds, want)?;
        let on_fs = matches!(
            kind,
            FileType::Regular | FileType::Directory | FileType::Symlink
        );
        if on_fs && (writes || trunc) {
            writable_mount(&p)?;
        }
        let ops = p.dentry.inode().open(flags)?;
        if trunc && kind == FileType::Regular {
            p.dentry.inode().setattr(&SetAttr {
                size: Some(0),
                ..SetAttr::default()
            })?;
        }
        Ok(Arc::new(FileDescription::new(p, ops, flags)))
    }

    /// Creates `node` at the path; the common part of mkdir, mknod, symlink.
    fn create_node(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        node: NewNode,
        perm: u32,
    ) -> SysResult<()> {
        let w = self.walk(cx, at, path, false)?;
        let name = w.name(Errno::EEXIST)?.to_vec();
        if w.child.is_some() {
            return_errno!(EEXIST);
        }
        let is_dir = node == NewNode::Directory;
        if w.must_be_dir && !is_dir {
            return_errno!(ENOENT);
        }
        let parent = w.parent;
        let _guard = parent.dentry.write_lock();
        if self.lookup_child(&parent, &name, true)?.is_some() {
            return_errno!(EEXIST);
        }
        writable_mount(&parent)?;
        let dir_stat = may_modify_dir(&parent, &cx.creds)?;
        let attrs = new_attrs(&cx.creds, &dir_stat, perm, is_dir);
        let inode = parent.dentry.inode().create(&name, &node, &attrs)?;
        parent.dentry.insert_child(&name, inode)?;
        Ok(())
    }

    pub fn mkdir(&self, cx: &FsContext, at: At<'_>, path: &[u8], mode: u32) -> SysResult<()> {
        let perm = mode & 0o7777 & !cx.umask;
        self.create_node(cx, at, path, NewNode::Directory, perm)
    }

    /// `mknod(2)`: regular files, FIFOs, sockets, and (with `CAP_MKNOD`)
    /// devices. The sentry implements what these nodes do when opened.
    pub fn mknod(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        mode: u32,
        rdev: u64,
    ) -> SysResult<()> {
        let perm = mode & 0o7777 & !cx.umask;
        let node = match mode & libc::S_IFMT {
            0 | libc::S_IFREG => NewNode::Regular,
            libc::S_IFIFO => NewNode::Special {
                kind: FileType::Fifo,
                rdev: 0,
            },
            libc::S_IFSOCK => NewNode::Special {
                kind: FileType::Socket,
                rdev: 0,
            },
            t @ (libc::S_IFCHR | libc::S_IFBLK) => {
                if !cx.creds.has(Capability::Mknod) {
                    return_errno!(EPERM);
                }
                let kind = if t == libc::S_IFCHR {
                    FileType::CharDevice
                } else {
                    FileType::BlockDevice
                };
                NewNode::Special { kind, rdev }
            }
            libc::S_IFDIR => return_errno!(EPERM),
            _ => return_errno!(EINVAL),
        };
        self.create_node(cx, at, path, node, perm)
    }

    pub fn symlink(&self, cx: &FsContext, target: &[u8], at: At<'_>, path: &[u8]) -> SysResult<()> {
        if target.is_empty() {
            return_errno!(ENOENT);
        }
        if target.len() >= PATH_MAX {
            return_errno!(ENAMETOOLONG);
        }
        let node = NewNode::Symlink {
            target: target.to_vec(),
        };
        self.create_node(cx, at, path, node, 0o777)
    }

    /// `linkat(2)`; `follow` is `AT_SYMLINK_FOLLOW`.
    pub fn link(
        &self,
        cx: &FsContext,
        old: (At<'_>, &[u8]),
        new: (At<'_>, &[u8]),
        follow: bool,
    ) -> SysResult<()> {
        let src = self.lookup(cx, old.0, old.1, follow)?;
        if src.dentry.is_dir() {
            return_errno!(EPERM);
        }
        let w = self.walk(cx, new.0, new.1, false)?;
        let name = w.name(Errno::EEXIST)?.to_vec();
        if w.child.is_some() {
            return_errno!(EEXIST);
        }
        if w.must_be_dir {
            return_errno!(ENOENT);
        }
        let parent = w.parent;
        if parent.mount.id() != src.mount.id() {
            return_errno!(EXDEV);
        }
        let _guard = parent.dentry.write_lock();
        if self.lookup_child(&parent, &name, true)?.is_some() {
            return_errno!(EEXIST);
        }
        writable_mount(&parent)?;
        may_modify_dir(&parent, &cx.creds)?;
        // fs.protected_hardlinks: only link what one owns or could open
        // for reading and writing.
        let st = src.dentry.inode().stat()?;
        if !cx.creds.owns(&st) {
            let rw = Access::READ.union(Access::WRITE);
            let special = st.mode & libc::S_ISUID != 0
                || st.mode & (libc::S_ISGID | libc::S_IXGRP) == (libc::S_ISGID | libc::S_IXGRP);
            if !st.is_regular() || special || check(&st, &cx.creds, rw).is_err() {
                return_errno!(EPERM, "protected hardlink");
            }
        }
        if src.dentry.is_deleted() && st.nlink == 0 {
            return_errno!(ENOENT);
        }
        let inode = parent.dentry.inode().link(&name, src.dentry.inode())?;
        parent.dentry.insert_child(&name, inode)?;
        Ok(())
    }

    /// The unlink/rmdir common part: resolve, lock, check, remove.
    fn remove(&self, cx: &FsContext, at: At<'_>, path: &[u8], dir: bool) -> SysResult<()> {
        let w = self.walk(cx, at, path, false)?;
        let name = match (&w.last, dir) {
            (Last::Name(n), _) => n.clone(),
            (Last::Dot, true) => return_errno!(EINVAL),
            (Last::DotDot, true) => return_errno!(ENOTEMPTY),
            (Last::Root, true) => return_errno!(EBUSY),
            (_, false) => return_errno!(EISDIR),
        };
        let parent = w.parent;
        let _guard = parent.dentry.write_lock();
        let Some(d) = self.lookup_child(&parent, &name, true)? else {
            return_errno!(ENOENT);
        };
        let child = VfsPath::new(parent.mount.clone(), d);
        match (dir, child.dentry.is_dir()) {
            (true, false) => return_errno!(ENOTDIR),
            (false, true) => return_errno!(EISDIR),
            _ => {}
        }
        if !dir && w.must_be_dir {
            return_errno!(ENOTDIR);
        }
        writable_mount(&parent)?;
        let dir_stat = may_modify_dir(&parent, &cx.creds)?;
        check_sticky(&dir_stat, &child.dentry.inode().stat()?, &cx.creds)?;
        if self.is_busy(&child) {
            return_errno!(EBUSY);
        }
        let victim = &**child.dentry.inode();
        if dir {
            parent.dentry.inode().rmdir(&name, victim)?;
        } else {
            parent.dentry.inode().unlink(&name, victim)?;
        }
        parent.dentry.remove_child(&name);
        Ok(())
    }

    pub fn unlink(&self, cx: &FsContext, at: At<'_>, path: &[u8]) -> SysResult<()> {
        self.remove(cx, at, path, false)
    }

    pub fn rmdir(&self, cx: &FsContext, at: At<'_>, path: &[u8]) -> SysResult<()> {
        self.remove(cx, at, path, true)
    }

    /// `renameat2(2)`.
    pub fn rename(
        &self,
        cx: &FsContext,
        old: (At<'_>, &[u8]),
        new: (At<'_>, &[u8]),
        flags: RenameFlags,
    ) -> SysResult<()> {
        let ow = self.walk(cx, old.0, old.1, false)?;
        let nw = self.walk(cx, new.0, new.1, false)?;
        let oname = ow.name(Errno::EBUSY)?.to_vec();
        let nname = nw.name(Errno::EBUSY)?.to_vec();
        let (op, np) = (ow.parent.clone(), nw.parent.clone());
        if op.mount.id() != np.mount.id() {
            return_errno!(EXDEV);
        }
        writable_mount(&op)?;
        let _rename = lock(&self.rename_lock);
        let _guards = lock_pair(&op.dentry, &np.dentry);
        let Some(src) = self.lookup_child(&op, &oname, true)? else {
            return_errno!(ENOENT);
        };
        let dst = self.lookup_child(&np, &nname, true)?;
        let src_dir = src.is_dir();
        if (ow.must_be_dir || nw.must_be_dir) && !src_dir {
            return_errno!(ENOTDIR);
        }
        if let Some(d) = &dst {
            if Arc::ptr_eq(d.inode(), src.inode()) {
                // Two names of one file: rename does nothing.
                return Ok(());
            }
            if flags.noreplace {
                return_errno!(EEXIST);
            }
            if !flags.exchange {
                match (src_dir, d.is_dir()) {
                    (true, false) => return_errno!(ENOTDIR),
                    (false, true) => return_errno!(EISDIR),
                    _ => {}
                }
            }
        } else if flags.exchange {
            return_errno!(ENOENT);
        }
        // A directory cannot move beneath itself; for an exchange, neither
        // may the other one.
        if src_dir && src.is_ancestor_of(&np.dentry) {
            return_errno!(EINVAL);
        }
        if let Some(d) = &dst {
            if d.is_ancestor_of(&op.dentry) {
                if flags.exchange {
                    return_errno!(EINVAL);
                }
                return_errno!(ENOTEMPTY);
            }
        }
        let ostat = may_modify_dir(&op, &cx.creds)?;
        let nstat = if op.dentry.id() == np.dentry.id() {
            ostat
        } else {
            may_modify_dir(&np, &cx.creds)?
        };
        let src_stat = src.inode().stat()?;
        check_sticky(&ostat, &src_stat, &cx.creds)?;
        let moves_dir = op.dentry.id() != np.dentry.id();
        if src_dir && moves_dir {
            // Its `..` changes.
            check(&src_stat, &cx.creds, Access::WRITE)?;
        }
        if let Some(d) = &dst {
            let dst_stat = d.inode().stat()?;
            check_sticky(&nstat, &dst_stat, &cx.creds)?;
            if flags.exchange && d.is_dir() && moves_dir {
                check(&dst_stat, &cx.creds, Access::WRITE)?;
            }
        }
        let src_path = VfsPath::new(op.mount.clone(), src.clone());
        if self.is_busy(&src_path) {
            return_errno!(EBUSY);
        }
        if let Some(d) = &dst {
            if self.is_busy(&VfsPath::new(np.mount.clone(), d.clone())) {
                return_errno!(EBUSY);
            }
        }
        op.dentry
            .inode()
            .rename(&oname, &**np.dentry.inode(), &nname, flags)?;
        if flags.exchange {
            // Move the destination out of the way under a name no real
            // entry has (it contains a `/`), then swap.
            let parked: &[u8] = b"/exchange";
            np.dentry.move_to(&nname, &np.dentry, parked);
            op.dentry.move_to(&oname, &np.dentry, &nname);
            np.dentry.move_to(parked, &op.dentry, &oname);
        } else {
            if dst.is_some() {
                np.dentry.remove_child(&nname);
            }
            op.dentry.move_to(&oname, &np.dentry, &nname);
        }
        Ok(())
    }

    pub fn readlink(&self, cx: &FsContext, at: At<'_>, path: &[u8]) -> SysResult<Vec<u8>> {
        let p = self.lookup(cx, at, path, false)?;
        if p.dentry.kind() != FileType::Symlink {
            return_errno!(EINVAL);
        }
        p.dentry.inode().readlink()
    }

    pub fn stat(&self, cx: &FsContext, at: At<'_>, path: &[u8], follow: bool) -> SysResult<Stat> {
        super::stat_of(&self.lookup(cx, at, path, follow)?)
    }

    /// `access(2)`/`faccessat(2)` with the given credentials.
    pub fn access(&self, cx: &FsContext, at: At<'_>, path: &[u8], want: Access) -> SysResult<()> {
        let p = self.lookup(cx, at, path, true)?;
        if want.0 & Access::WRITE.0 != 0
            && matches!(p.dentry.kind(), FileType::Regular | FileType::Directory)
        {
            writable_mount(&p)?;
        }
        check(&p.dentry.inode().stat()?, &cx.creds, want)
    }

    /// A directory a task may make its cwd or root (`chdir`, `chroot`).
    pub fn lookup_dir(&self, cx: &FsContext, at: At<'_>, path: &[u8]) -> SysResult<VfsPath> {
        let p = self.lookup(cx, at, path, true)?;
        if !p.dentry.is_dir() {
            return_errno!(ENOTDIR);
        }
        check(&p.dentry.inode().stat()?, &cx.creds, Access::EXEC)?;
        Ok(p)
    }

    /// `chmod`/`chown`/`truncate`/`utimensat` on a path.
    pub fn setattr(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow: bool,
        attr: &SetAttr,
    ) -> SysResult<()> {
        let p = self.lookup(cx, at, path, follow)?;
        self.setattr_at(cx, &p, attr, false)
    }

    /// Applies `attr` to the file at `p` after Linux's checks
    /// (`setattr_prepare`). `via_fd` is true for `ftruncate`, whose
    /// permission came from opening the file for writing.
    pub fn setattr_at(
        &self,
        cx: &FsContext,
        p: &VfsPath,
        attr: &SetAttr,
        via_fd: bool,
    ) -> SysResult<()> {
        if attr.is_empty() {
            return Ok(());
        }
        writable_mount(p)?;
        let st = p.dentry.inode().stat()?;
        let creds = &cx.creds;
        let mut attr = *attr;
        if let Some(size) = attr.size {
            match p.dentry.kind() {
                FileType::Directory => return_errno!(EISDIR),
                FileType::Regular => {}
                _ => return_errno!(EINVAL),
            }
            if size > i64::MAX as u64 {
                return_errno!(EINVAL);
            }
            if !via_fd {
                check(&st, creds, Access::WRITE)?;
            }
        }
        if let Some(uid) = attr.uid {
            let unchanged = uid == st.uid && creds.uid == st.uid;
            if !unchanged && !creds.has(Capability::Chown) {
                return_errno!(EPERM, "chown");
            }
        }
        if let Some(gid) = attr.gid {
            let allowed = creds.uid == st.uid && (gid == st.gid || creds.in_group(gid));
            if !allowed && !creds.has(Capability::Chown) {
                return_errno!(EPERM, "chgrp");
            }
        }
        if let Some(mut mode) = attr.mode {
            if !creds.owns(&st) {
                return_errno!(EPERM, "chmod");
            }
            let gid = attr.gid.unwrap_or(st.gid);
            if !creds.in_group(gid) && !creds.has(Capability::Fsetid) {
                mode &= !libc::S_ISGID;
            }
            attr.mode = Some(mode & 0o7777);
        }
        let ids_change =
            attr.uid.is_some_and(|u| u != st.uid) || attr.gid.is_some_and(|g| g != st.gid);
        if (attr.uid.is_some() || attr.gid.is_some()) && !p.dentry.is_dir() && ids_change {
            // Changing the owner drops setuid, and setgid if it means
            // anything (group execute set).
            let mut mode = attr.mode.unwrap_or(st.perm());
            mode &= !libc::S_ISUID;
            if mode & libc::S_IXGRP != 0 {
                mode &= !libc::S_ISGID;
            }
            if mode != st.perm() || attr.mode.is_some() {
                attr.mode = Some(mode);
            }
        }
        if attr.atime.is_some() || attr.mtime.is_some() {
            use super::attr::TimeChange;
            let only_now = attr.atime.is_none_or(|t| t == TimeChange::Now)
                && attr.mtime.is_none_or(|t| t == TimeChange::Now)
                && attr.atime.is_some()
                && attr.mtime.is_some();
            if !creds.owns(&st) {
                if !only_now {
                    return_errno!(EPERM, "set times");
                }
                check(&st, creds, Access::WRITE)?;
            }
        }
        p.dentry.inode().setattr(&attr)
    }

    pub fn statfs(&self, cx: &FsContext, at: At<'_>, path: &[u8]) -> SysResult<StatFs> {
        let p = self.lookup(cx, at, path, true)?;
        Self::statfs_at(&p)
    }

    pub fn statfs_at(p: &VfsPath) -> SysResult<StatFs> {
        let mut s = p.mount.fs().statfs()?;
        if p.mount.readonly() {
            s.flags |= libc::ST_RDONLY;
        }
        Ok(s)
    }

    /// Who may touch xattr `name` of a file (Linux's `xattr_permission`).
    fn xattr_access(p: &VfsPath, creds: &Credentials, name: &[u8], write: bool) -> SysResult<()> {
        if name.is_empty() || name.len() > 255 {
            return_errno!(ERANGE);
        }
        if write {
            writable_mount(p)?;
        }
        let st = p.dentry.inode().stat()?;
        if name.starts_with(b"trusted.") {
            if !creds.has(Capability::SysAdmin) {
                // Invisible and untouchable without CAP_SYS_ADMIN.
                return Err(if write { Errno::EPERM } else { Errno::ENODATA }.into());
            }
            return Ok(());
        }
        if name.starts_with(b"security.") {
            if write && !creds.has(Capability::SysAdmin) {
                return_errno!(EPERM);
            }
            return Ok(());
        }
        if name.starts_with(b"user.") {
            if !matches!(p.dentry.kind(), FileType::Regular | FileType::Directory) {
                return Err(if write { Errno::EPERM } else { Errno::ENODATA }.into());
            }
            if write && p.dentry.is_dir() && st.mode & libc::S_ISVTX != 0 && !creds.owns(&st) {
                return_errno!(EPERM);
            }
            let want = if write { Access::WRITE } else { Access::READ };
            return check(&st, creds, want);
        }
        return_errno!(EOPNOTSUPP)
    }

    pub fn getxattr(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow: bool,
        name: &[u8],
    ) -> SysResult<Vec<u8>> {
        let p = self.lookup(cx, at, path, follow)?;
        Self::xattr_access(&p, &cx.creds, name, false)?;
        p.dentry.inode().getxattr(name)
    }

    // The arguments are setxattr(2)'s own, plus the resolution context.
    #[allow(clippy::too_many_arguments)]
    pub fn setxattr(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow: bool,
        name: &[u8],
        value: &[u8],
        how: XattrSet,
    ) -> SysResult<()> {
        let p = self.lookup(cx, at, path, follow)?;
        if value.len() > 64 << 10 {
            return_errno!(E2BIG);
        }
        Self::xattr_access(&p, &cx.creds, name, true)?;
        p.dentry.inode().setxattr(name, value, how)
    }

    /// Names the caller may see: `trusted.*` only with `CAP_SYS_ADMIN`.
    pub fn listxattr(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow: bool,
    ) -> SysResult<Vec<Vec<u8>>> {
        let p = self.lookup(cx, at, path, follow)?;
        let mut names = p.dentry.inode().listxattr()?;
        if !cx.creds.has(Capability::SysAdmin) {
            names.retain(|n| !n.starts_with(b"trusted."));
        }
        Ok(names)
    }

    pub fn removexattr(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow: bool,
        name: &[u8],
    ) -> SysResult<()> {
        let p = self.lookup(cx, at, path, follow)?;
        Self::xattr_access(&p, &cx.creds, name, true)?;
        p.dentry.inode().removexattr(name)
    }
}
