//! `/sys`, as little of it as programs need: the CPU topology files that
//! runtimes size their thread pools from (`devices/system/cpu/online`,
//! `possible`, `present`), an empty `fs/cgroup` for cgroup-aware programs
//! to find nothing in, and an empty `kernel`. Everything is read-only.

use super::inode::Inode;
use super::procfs::HostInfo;
use super::synthetic::{constant, Attrs, Dir, File, StaticDir, SynthFs};
use std::sync::Arc;

/// `SYSFS_MAGIC`.
const SYSFS_MAGIC: u64 = 0x6265_6572;

/// A sysfs instance describing `host`'s CPUs (the snapshot taken at start).
pub struct Sysfs;

impl Sysfs {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(host: &HostInfo) -> Arc<SynthFs> {
        let dev = super::anon_dev();
        let dir = |path: &str, contents: StaticDir| -> Arc<dyn Inode> {
            Dir::new(Attrs::new(dev, path.as_bytes(), 0o755), contents)
        };
        let cpus = format!("{}\n", super::procfs::cpu_list(host.cpus));
        let file = |path: &str| -> Arc<dyn Inode> {
            File::new(
                Attrs::new(dev, path.as_bytes(), 0o444),
                constant(cpus.clone()),
            )
        };
        let cpu = StaticDir::new()
            .with("online", file("devices/system/cpu/online"))
            .with("possible", file("devices/system/cpu/possible"))
            .with("present", file("devices/system/cpu/present"));
        let system = StaticDir::new().with("cpu", dir("devices/system/cpu", cpu));
        let devices = StaticDir::new().with("system", dir("devices/system", system));
        let fs = StaticDir::new().with("cgroup", dir("fs/cgroup", StaticDir::new()));
        let root = StaticDir::new()
            .with("devices", dir("devices", devices))
            .with("fs", dir("fs", fs))
            .with("kernel", dir("kernel", StaticDir::new()));
        SynthFs::new("sysfs", SYSFS_MAGIC, dir("", root), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::vfs::{At, FsContext, Vfs};

    #[test]
    fn cpu_files_and_read_only_tree() {
        let host = HostInfo {
            cpuinfo: Vec::new(),
            cpus: 4,
            mem_total_kib: 0,
        };
        let vfs = Arc::new(Vfs::new(Sysfs::new(&host), false).unwrap());
        let cx = FsContext::new(&vfs);
        for f in ["online", "possible", "present"] {
            let path = format!("/devices/system/cpu/{f}");
            let file = vfs
                .open(&cx, At::Cwd, path.as_bytes(), libc::O_RDONLY as u32, 0)
                .unwrap();
            let mut buf = [0u8; 16];
            let n = file.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"0-3\n");
            let e = vfs
                .open(&cx, At::Cwd, path.as_bytes(), libc::O_WRONLY as u32, 0)
                .unwrap_err();
            assert_eq!(e, Errno::EACCES);
        }
        let d = vfs
            .open(&cx, At::Cwd, b"/fs/cgroup", libc::O_RDONLY as u32, 0)
            .unwrap();
        let names: Vec<_> = d
            .getdents(4096)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [b".".to_vec(), b"..".to_vec()]);
        assert!(vfs.stat(&cx, At::Cwd, b"/kernel", true).unwrap().is_dir());
        assert_eq!(
            vfs.mkdir(&cx, At::Cwd, b"/kernel/x", 0o755).unwrap_err(),
            Errno::EPERM
        );
        assert_eq!(vfs.statfs(&cx, At::Cwd, b"/").unwrap().fs_type, SYSFS_MAGIC);
    }
}
