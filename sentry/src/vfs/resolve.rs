//! Path resolution: from a start directory through names, `.`/`..`, mount
//! points and symlinks to the dentry a path names (or the directory and name
//! where it would be created).
//!
//! Symlinks are read and followed here, never by a filesystem or the host:
//! an absolute target restarts at the task's root, and `..` stops at that
//! root, so no path can name anything outside it.

use super::creds::{check, Access};
use super::dentry::Dentry;
use super::mount::VfsPath;
use super::{At, FsContext, Vfs, MAX_SYMLINKS, NAME_MAX, PATH_MAX};
use crate::errno::{Errno, SysResult};
use crate::return_errno;
use std::sync::Arc;

/// What the last component of a path was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Last {
    /// A name: the usual case.
    Name(Vec<u8>),
    /// `.`: the path names the directory it was in.
    Dot,
    /// `..`.
    DotDot,
    /// No component at all: `/`, or a symlink to `/`.
    Root,
}

/// The result of a walk.
#[derive(Debug)]
pub(super) struct Walk {
    /// The directory holding the last component (for `Dot`, `DotDot` and
    /// `Root`: the directory the path names).
    pub parent: VfsPath,
    pub last: Last,
    /// What the path names, if it exists.
    pub child: Option<VfsPath>,
    /// A trailing `/`: the result must be a directory.
    pub must_be_dir: bool,
    /// The last component was a magic link: `child` is the file it stands
    /// for, which is not an entry of `parent`.
    pub jumped: bool,
}

impl Walk {
    /// The last name, for operations that need one (create, unlink, rename):
    /// `dot` is the error for a path ending in `.`, `..` or `/`.
    pub fn name(&self, dot: Errno) -> SysResult<&[u8]> {
        match &self.last {
            Last::Name(n) => Ok(n),
            _ => Err(dot.into()),
        }
    }

    /// The existing file the path names, checked against a trailing `/`.
    pub fn existing(self) -> SysResult<VfsPath> {
        let child = self.child.ok_or(crate::errno!(ENOENT))?;
        if self.must_be_dir && !child.dentry.is_dir() {
            return_errno!(ENOTDIR);
        }
        Ok(child)
    }
}

/// Splits a path into its non-empty components.
fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

impl Vfs {
    /// Resolves `path` from `at` (or the root, if absolute). With
    /// `follow_last`, a symlink as the last component is followed; a trailing
    /// slash always follows.
    pub(super) fn walk(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow_last: bool,
    ) -> SysResult<Walk> {
        if path.is_empty() {
            return_errno!(ENOENT);
        }
        if path.len() >= PATH_MAX {
            return_errno!(ENAMETOOLONG);
        }
        if path.contains(&0) {
            return_errno!(EINVAL);
        }
        let mut cur = if path[0] == b'/' {
            cx.root.clone()
        } else {
            match at {
                At::Cwd => cx.cwd.clone(),
                At::Dir(d) => d.clone(),
            }
        };
        // Components still to walk, the next one last.
        let mut pending: Vec<Vec<u8>> = components(path).rev().map(<[u8]>::to_vec).collect();
        let mut must_be_dir = path.ends_with(b"/");
        let mut last = Last::Root;
        let mut symlinks = 0u32;
        while let Some(comp) = pending.pop() {
            let is_last = pending.is_empty();
            if !cur.dentry.is_dir() {
                return_errno!(ENOTDIR);
            }
            check(&cur.dentry.inode().stat()?, &cx.creds, Access::EXEC)?;
            if comp == b"." {
                if is_last {
                    last = Last::Dot;
                }
                continue;
            }
            if comp == b".." {
                cur = self.dotdot(cx, &cur);
                if is_last {
                    last = Last::DotDot;
                }
                continue;
            }
            if comp.len() > NAME_MAX {
                return_errno!(ENAMETOOLONG);
            }
            let Some(dentry) = self.lookup_child(&cur, &comp, false)? else {
                if is_last {
                    return Ok(Walk {
                        parent: cur,
                        last: Last::Name(comp),
                        child: None,
                        must_be_dir,
                        jumped: false,
                    });
                }
                return_errno!(ENOENT);
            };
            let child = self.cross_down(VfsPath::new(cur.mount.clone(), dentry));
            let follow = !is_last || follow_last || must_be_dir;
            if child.dentry.kind() == super::FileType::Symlink && follow {
                symlinks += 1;
                if symlinks > MAX_SYMLINKS {
                    return_errno!(ELOOP);
                }
                if let Some(jump) = child.dentry.inode().magic_target() {
                    if is_last {
                        return Ok(Walk {
                            parent: cur,
                            last: Last::Name(comp),
                            child: Some(jump),
                            must_be_dir,
                            jumped: true,
                        });
                    }
                    cur = jump;
                    continue;
                }
                let target = child.dentry.inode().readlink()?;
                if target.is_empty() {
                    return_errno!(ENOENT);
                }
                if target[0] == b'/' {
                    cur = cx.root.clone();
                }
                if is_last && target.ends_with(b"/") {
                    must_be_dir = true;
                }
                pending.extend(components(&target).rev().map(<[u8]>::to_vec));
                if is_last && pending.is_empty() {
                    // The target was `/`: the path names the root.
                    last = Last::Root;
                }
                continue;
            }
            if is_last {
                return Ok(Walk {
                    parent: cur,
                    last: Last::Name(comp),
                    child: Some(child),
                    must_be_dir,
                    jumped: false,
                });
            }
            cur = child;
        }
        Ok(Walk {
            parent: cur.clone(),
            last,
            child: Some(cur),
            must_be_dir,
            jumped: false,
        })
    }

    /// Resolves a path that must exist.
    pub fn lookup(
        &self,
        cx: &FsContext,
        at: At<'_>,
        path: &[u8],
        follow: bool,
    ) -> SysResult<VfsPath> {
        self.walk(cx, at, path, follow)?.existing()
    }

    /// `..` from `cur`: nowhere above the task's root; from a mount's root,
    /// to the parent of what the mount covers.
    fn dotdot(&self, cx: &FsContext, cur: &VfsPath) -> VfsPath {
        let mut p = cur.clone();
        loop {
            if p.same(&cx.root) {
                return p;
            }
            if !p.is_mount_root() {
                break;
            }
            match p.mount.parent() {
                Some((m, d)) => p = VfsPath::new(m.clone(), d.clone()),
                // The namespace root: `..` of `/` is `/`.
                None => return p,
            }
        }
        match p.dentry.parent() {
            Some(parent) => self.cross_down(VfsPath::new(p.mount.clone(), parent)),
            // A removed directory has no way up; stay, as Linux does.
            None => p,
        }
    }

    /// The cached or looked-up child `name` of directory `dir`; `None` if it
    /// does not exist. `locked` says the caller holds `dir`'s lock
    /// exclusively already.
    pub(super) fn lookup_child(
        &self,
        dir: &VfsPath,
        name: &[u8],
        locked: bool,
    ) -> SysResult<Option<Arc<Dentry>>> {
        let d = &dir.dentry;
        if let Some(c) = d.cached(name) {
            if !dir.mount.fs().revalidates() || c.has_mounts() {
                return Ok(Some(c));
            }
            if d.inode().revalidate(name, c.inode())? {
                return Ok(Some(c));
            }
            // Changed behind our back: look it up afresh.
            d.forget_child(name);
        }
        let _guard = (!locked).then(|| d.read_lock());
        if let Some(c) = d.cached(name) {
            return Ok(Some(c));
        }
        match d.inode().lookup(name) {
            Ok(inode) => Ok(Some(d.insert_child(name, inode)?)),
            Err(e) if e.errno == Errno::ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }
}
