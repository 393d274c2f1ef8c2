//! Mounts and the mount table: which filesystem (or which subtree of one,
//! for bind mounts) is attached at which dentry of which parent mount.

use super::dentry::Dentry;
use super::inode::Filesystem;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

static NEXT_MOUNT_ID: AtomicU64 = AtomicU64::new(1);

/// One mount: a filesystem, the dentry that is its root (the filesystem's
/// root, or any directory of it for a bind mount), and where it is attached.
pub struct Mount {
    id: u64,
    fs: Arc<dyn Filesystem>,
    root: Arc<Dentry>,
    readonly: AtomicBool,
    /// The mount and dentry this one covers; `None` for the namespace root.
    parent: Option<(Arc<Mount>, Arc<Dentry>)>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("id", &self.id)
            .field("fs", &self.fs.fs_type())
            .field("readonly", &self.readonly())
            .finish()
    }
}

impl Mount {
    pub(super) fn new(
        fs: Arc<dyn Filesystem>,
        root: Arc<Dentry>,
        readonly: bool,
        parent: Option<(Arc<Mount>, Arc<Dentry>)>,
    ) -> Arc<Mount> {
        Arc::new(Mount {
            id: NEXT_MOUNT_ID.fetch_add(1, Ordering::Relaxed),
            fs,
            root,
            readonly: AtomicBool::new(readonly),
            parent,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn fs(&self) -> &Arc<dyn Filesystem> {
        &self.fs
    }

    pub fn root(&self) -> &Arc<Dentry> {
        &self.root
    }

    pub fn readonly(&self) -> bool {
        self.readonly.load(Ordering::Acquire)
    }

    pub(super) fn set_readonly(&self, ro: bool) {
        self.readonly.store(ro, Ordering::Release);
    }

    pub fn parent(&self) -> Option<&(Arc<Mount>, Arc<Dentry>)> {
        self.parent.as_ref()
    }
}

/// A location in the mounted tree, as Linux's `struct path`: a dentry as
/// seen through a particular mount (the same dentry may be visible through
/// several bind mounts, with different `..` and read-only-ness).
#[derive(Clone, Debug)]
pub struct VfsPath {
    pub mount: Arc<Mount>,
    pub dentry: Arc<Dentry>,
}

impl VfsPath {
    pub fn new(mount: Arc<Mount>, dentry: Arc<Dentry>) -> VfsPath {
        VfsPath { mount, dentry }
    }

    /// The same location (mount and dentry), not merely the same file.
    pub fn same(&self, o: &VfsPath) -> bool {
        self.mount.id == o.mount.id && self.dentry.id() == o.dentry.id()
    }

    pub fn is_mount_root(&self) -> bool {
        self.dentry.id() == self.mount.root.id()
    }
}

/// The mounts of a mount namespace, keyed by what they cover: the parent
/// mount's id and the covered dentry's id. Mounting on a mount point stacks:
/// the new mount covers the root of the one that was on top.
#[derive(Default)]
pub(super) struct MountTable {
    by_point: RwLock<HashMap<(u64, u64), Arc<Mount>>>,
}

impl MountTable {
    pub fn covering(&self, at: &VfsPath) -> Option<Arc<Mount>> {
        let map = self.by_point.read().unwrap_or_else(|p| p.into_inner());
        map.get(&(at.mount.id, at.dentry.id())).cloned()
    }

    pub fn insert(&self, m: Arc<Mount>) {
        let (pm, pd) = m
            .parent
            .as_ref()
            .expect("only the namespace root has no parent");
        pd.add_mount();
        let key = (pm.id, pd.id());
        let mut map = self.by_point.write().unwrap_or_else(|p| p.into_inner());
        map.insert(key, m);
    }

    /// Removes `m`, unless another mount sits on something inside it.
    pub fn remove(&self, m: &Arc<Mount>) -> bool {
        let mut map = self.by_point.write().unwrap_or_else(|p| p.into_inner());
        if map.keys().any(|(pm, _)| *pm == m.id) {
            return false;
        }
        let Some((pm, pd)) = m.parent.as_ref() else {
            return false;
        };
        if map.remove(&(pm.id, pd.id())).is_some() {
            pd.remove_mount();
        }
        true
    }

    /// Every mount but the namespace root, in no particular order.
    pub fn all(&self) -> Vec<Arc<Mount>> {
        let map = self.by_point.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Every mount's root dentry, for pruning the dentry cache.
    pub fn roots(&self) -> Vec<Arc<Dentry>> {
        let map = self.by_point.read().unwrap_or_else(|p| p.into_inner());
        map.values().map(|m| m.root.clone()).collect()
    }
}
