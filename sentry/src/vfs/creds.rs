//! Credentials and the discretionary access checks the VFS makes on the
//! sentry side. Filesystems never check permissions: the gofer runs with
//! `CAP_DAC_OVERRIDE` and trusts the sentry, and tmpfs has nobody else to ask.

use super::attr::Stat;
use crate::errno::SysResult;
use crate::return_errno;

/// A capability number, as in `linux/capability.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Capability {
    Chown = 0,
    DacOverride = 1,
    DacReadSearch = 2,
    Fowner = 3,
    Fsetid = 4,
    SysChroot = 18,
    SysAdmin = 21,
    Mknod = 27,
}

/// A set of capabilities as the kernel's 64-bit mask.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Every capability, as root holds them in its user namespace.
    pub const FULL: CapSet = CapSet(u64::MAX);
    pub const EMPTY: CapSet = CapSet(0);

    pub fn has(self, cap: Capability) -> bool {
        self.0 & (1 << cap as u32) != 0
    }

    pub fn with(self, cap: Capability) -> CapSet {
        CapSet(self.0 | 1 << cap as u32)
    }
}

/// The filesystem identity of a task: what permission checks and new files'
/// owners use (the fsuid/fsgid and effective capabilities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub caps: CapSet,
}

impl Credentials {
    pub fn root() -> Credentials {
        Credentials {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            caps: CapSet::FULL,
        }
    }

    /// An unprivileged user with no capabilities.
    pub fn user(uid: u32, gid: u32) -> Credentials {
        Credentials {
            uid,
            gid,
            groups: Vec::new(),
            caps: CapSet::EMPTY,
        }
    }

    pub fn has(&self, cap: Capability) -> bool {
        self.caps.has(cap)
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether these credentials own a file or may act as its owner
    /// (`inode_owner_or_capable`).
    pub fn owns(&self, stat: &Stat) -> bool {
        self.uid == stat.uid || self.has(Capability::Fowner)
    }
}

/// Access wanted, as the `R_OK | W_OK | X_OK` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(pub u32);

impl Access {
    pub const READ: Access = Access(4);
    pub const WRITE: Access = Access(2);
    pub const EXEC: Access = Access(1);
    pub const NONE: Access = Access(0);

    pub fn union(self, o: Access) -> Access {
        Access(self.0 | o.0)
    }

    fn contains(self, o: Access) -> bool {
        self.0 & o.0 == o.0
    }
}

/// Checks `want` against a file's `mode`, `uid` and `gid` the way Linux's
/// `generic_permission` does: the owner class, else the group class, else
/// other; then the DAC capabilities. `EACCES` if denied.
pub fn may_access(
    mode: u32,
    uid: u32,
    gid: u32,
    creds: &Credentials,
    want: Access,
) -> SysResult<()> {
    let perm = if creds.uid == uid {
        mode >> 6
    } else if creds.in_group(gid) {
        mode >> 3
    } else {
        mode
    } & 7;
    if Access(perm).contains(want) {
        return Ok(());
    }
    let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
    if creds.has(Capability::DacOverride) {
        // Execute is granted by override only if somebody may execute,
        // unless it is a directory (search).
        if !want.contains(Access::EXEC) || is_dir || mode & 0o111 != 0 {
            return Ok(());
        }
    }
    if creds.has(Capability::DacReadSearch) {
        let read_search = if is_dir {
            Access::READ.union(Access::EXEC)
        } else {
            Access::READ
        };
        if read_search.contains(want) {
            return Ok(());
        }
    }
    return_errno!(EACCES)
}

/// [`may_access`] for a file's `Stat`.
pub fn check(stat: &Stat, creds: &Credentials, want: Access) -> SysResult<()> {
    may_access(stat.mode, stat.uid, stat.gid, creds, want)
}

/// Whether `creds` may remove or rename `child` out of `dir` when `dir` has
/// the sticky bit: only the owner of either, or `CAP_FOWNER`.
pub fn check_sticky(dir: &Stat, child: &Stat, creds: &Credentials) -> SysResult<()> {
    if dir.mode & libc::S_ISVTX == 0
        || creds.uid == child.uid
        || creds.uid == dir.uid
        || creds.has(Capability::Fowner)
    {
        return Ok(());
    }
    return_errno!(EPERM, "sticky directory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    const DIR: u32 = libc::S_IFDIR;
    const REG: u32 = libc::S_IFREG;

    #[test]
    fn owner_group_other_classes() {
        let u = Credentials {
            groups: vec![50],
            ..Credentials::user(1000, 100)
        };
        // The owner class applies even when it grants less than "other".
        assert_eq!(
            may_access(REG | 0o077, 1000, 0, &u, Access::READ).unwrap_err(),
            Errno::EACCES
        );
        assert!(may_access(REG | 0o040, 0, 50, &u, Access::READ).is_ok());
        assert!(may_access(REG | 0o004, 0, 0, &u, Access::READ).is_ok());
        assert!(may_access(REG | 0o004, 0, 0, &u, Access::WRITE).is_err());
    }

    #[test]
    fn capabilities_override() {
        let mut c = Credentials::user(1000, 1000);
        c.caps = CapSet::EMPTY.with(Capability::DacOverride);
        assert!(may_access(REG, 0, 0, &c, Access::WRITE).is_ok());
        // No execute bit anywhere: even DAC_OVERRIDE cannot execute it.
        assert!(may_access(REG | 0o600, 0, 0, &c, Access::EXEC).is_err());
        assert!(may_access(DIR, 0, 0, &c, Access::EXEC).is_ok());
        c.caps = CapSet::EMPTY.with(Capability::DacReadSearch);
        assert!(may_access(REG, 0, 0, &c, Access::READ).is_ok());
        assert!(may_access(REG, 0, 0, &c, Access::WRITE).is_err());
        assert!(may_access(DIR, 0, 0, &c, Access::EXEC).is_ok());
    }
}
