//! Dentries: the VFS's cache of names. A dentry ties a name in a parent
//! directory to an inode; the tree of dentries is what mounts attach to,
//! what cwd and open files point at, and what `getcwd` walks back up.
//!
//! A parent holds its cached children strongly and a child its parent
//! weakly, so there are no cycles; a directory with cached children is never
//! pruned, so every dentry in use can reach the root.

use super::attr::FileType;
use super::inode::Inode;
use crate::errno::SysResult;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Where a dentry sits: its parent and its name there. Changed by rename.
struct Link {
    parent: Weak<Dentry>,
    name: Vec<u8>,
}

pub struct Dentry {
    id: u64,
    inode: Arc<dyn Inode>,
    /// An inode's type never changes, so it is kept here for walks.
    kind: FileType,
    link: Mutex<Link>,
    children: Mutex<HashMap<Vec<u8>, Arc<Dentry>>>,
    /// The directory lock (Linux's `i_rwsem`): shared for filling the cache
    /// on a lookup, exclusive for changing the directory's names, so a
    /// lookup never caches a name that a concurrent unlink just removed.
    dir_lock: RwLock<()>,
    /// How many mounts sit on this dentry, to skip the mount table when none.
    mounts: AtomicU32,
    /// Unlinked (or replaced by rename) while still referenced.
    deleted: AtomicBool,
}

impl std::fmt::Debug for Dentry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dentry")
            .field("id", &self.id)
            .field("name", &String::from_utf8_lossy(&self.name()))
            .field("kind", &self.kind)
            .finish()
    }
}

impl Dentry {
    /// A dentry with no parent: a filesystem's root.
    pub fn new_root(inode: Arc<dyn Inode>) -> SysResult<Arc<Dentry>> {
        Self::new(inode, Weak::new(), Vec::new())
    }

    fn new(inode: Arc<dyn Inode>, parent: Weak<Dentry>, name: Vec<u8>) -> SysResult<Arc<Dentry>> {
        let kind = inode.file_type()?;
        Ok(Arc::new(Dentry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            inode,
            kind,
            link: Mutex::new(Link { parent, name }),
            children: Mutex::new(HashMap::new()),
            dir_lock: RwLock::new(()),
            mounts: AtomicU32::new(0),
            deleted: AtomicBool::new(false),
        }))
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    pub fn kind(&self) -> FileType {
        self.kind
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    pub fn name(&self) -> Vec<u8> {
        lock(&self.link).name.clone()
    }

    pub fn parent(&self) -> Option<Arc<Dentry>> {
        lock(&self.link).parent.upgrade()
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub(super) fn has_mounts(&self) -> bool {
        self.mounts.load(Ordering::Acquire) > 0
    }

    pub(super) fn add_mount(&self) {
        self.mounts.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn remove_mount(&self) {
        self.mounts.fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) fn read_lock(&self) -> RwLockReadGuard<'_, ()> {
        self.dir_lock.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write_lock(&self) -> RwLockWriteGuard<'_, ()> {
        self.dir_lock.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn cached(&self, name: &[u8]) -> Option<Arc<Dentry>> {
        lock(&self.children).get(name).cloned()
    }

    /// Caches `inode` as `name`, unless another thread cached it first, in
    /// which case that dentry wins so there is one dentry per name.
    pub(super) fn insert_child(
        self: &Arc<Self>,
        name: &[u8],
        inode: Arc<dyn Inode>,
    ) -> SysResult<Arc<Dentry>> {
        if let Some(d) = self.cached(name) {
            return Ok(d);
        }
        let child = Dentry::new(inode, Arc::downgrade(self), name.to_vec())?;
        Ok(lock(&self.children)
            .entry(name.to_vec())
            .or_insert(child)
            .clone())
    }

    /// Drops `name` from the cache (it was found stale).
    pub(super) fn forget_child(&self, name: &[u8]) {
        lock(&self.children).remove(name);
    }

    /// `name` was unlinked: drop it from the cache and mark it deleted.
    pub(super) fn remove_child(&self, name: &[u8]) {
        if let Some(d) = lock(&self.children).remove(name) {
            d.deleted.store(true, Ordering::Release);
            lock(&d.children).clear();
        }
    }

    /// Moves `child` to `name` under `new_parent`, after a rename.
    pub(super) fn move_to(
        self: &Arc<Self>,
        old_name: &[u8],
        new_parent: &Arc<Dentry>,
        name: &[u8],
    ) {
        let Some(child) = lock(&self.children).remove(old_name) else {
            return;
        };
        {
            let mut link = lock(&child.link);
            link.parent = Arc::downgrade(new_parent);
            link.name = name.to_vec();
        }
        lock(&new_parent.children).insert(name.to_vec(), child);
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub(super) fn is_ancestor_of(&self, other: &Arc<Dentry>) -> bool {
        let mut cur = Some(other.clone());
        while let Some(d) = cur {
            if d.id == self.id {
                return true;
            }
            cur = d.parent();
        }
        false
    }

    /// Drops cached children nobody else uses, deepest first; returns how
    /// many were dropped. For filesystems whose inodes hold host resources
    /// (gofer control FDs), this is what releases them.
    pub fn prune(&self) -> usize {
        let kids: Vec<Arc<Dentry>> = lock(&self.children).values().cloned().collect();
        let mut n = 0;
        for k in &kids {
            n += k.prune();
        }
        drop(kids);
        lock(&self.children).retain(|_, d| {
            // One reference: this map's. A mount point or a directory with
            // cached children stays.
            let unused =
                Arc::strong_count(d) == 1 && !d.has_mounts() && lock(&d.children).is_empty();
            if unused {
                n += 1;
            }
            !unused
        });
        n
    }
}
