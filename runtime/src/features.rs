//! The runtime's self-description (`vigil features`) and the default
//! `config.json` (`vigil spec`), in the OCI runtime spec's formats.

use anyhow::{bail, Context};
use oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, Features, FeaturesBuilder, LinuxFeatureBuilder,
    LinuxNamespaceType, SeccompBuilder, SelinuxBuilder, Spec,
};
use std::path::Path;

/// What vigil supports. Every container gets the same sandbox namespaces
/// whatever the spec asks; the spec's seccomp, AppArmor and SELinux
/// settings are not applied (the sentry, not the host kernel, serves the
/// container's system calls).
pub fn features() -> Features {
    let linux = LinuxFeatureBuilder::default()
        .namespaces(vec![
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::User,
        ])
        .capabilities(
            caps::all()
                .into_iter()
                .map(|c| c.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
        )
        .cgroup(
            CgroupBuilder::default()
                .v1(true)
                .v2(true)
                .systemd(false)
                .systemd_user(false)
                .build()
                .expect("complete"),
        )
        .seccomp(
            SeccompBuilder::default()
                .enabled(false)
                .build()
                .expect("complete"),
        )
        .apparmor(
            ApparmorBuilder::default()
                .enabled(false)
                .build()
                .expect("complete"),
        )
        .selinux(
            SelinuxBuilder::default()
                .enabled(false)
                .build()
                .expect("complete"),
        )
        .build()
        .expect("complete");
    FeaturesBuilder::default()
        .oci_version_min("1.0.0")
        .oci_version_max(crate::container::OCI_VERSION)
        .hooks(Vec::<String>::new())
        .mount_options(
            ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec"]
                .map(String::from)
                .to_vec(),
        )
        .linux(linux)
        .build()
        .expect("complete")
}

/// Writes the default spec to `<bundle>/config.json` (the current
/// directory without `--bundle`); refuses to overwrite one, as runc does.
pub fn write_default_spec(bundle: Option<&Path>, rootless: bool) -> anyhow::Result<()> {
    let dir = bundle.unwrap_or(Path::new("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = if rootless {
        Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        Spec::default()
    };
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_name_the_spec_versions_and_capabilities() {
        let f = serde_json::to_value(features()).unwrap();
        assert_eq!(f["ociVersionMin"], "1.0.0");
        let caps = f["linux"]["capabilities"].as_array().unwrap();
        assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
        assert_eq!(f["linux"]["seccomp"]["enabled"], false);
    }

    #[test]
    fn the_default_spec_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        write_default_spec(Some(dir.path()), false).unwrap();
        let spec = Spec::load(dir.path().join("config.json")).unwrap();
        assert!(spec.process().is_some());
        let again = write_default_spec(Some(dir.path()), false).unwrap_err();
        assert!(again.to_string().contains("exists. Remove it first"));
    }
}
