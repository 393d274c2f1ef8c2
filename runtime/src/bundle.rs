//! An OCI bundle as the runtime accepts it: `config.json` parsed and checked
//! for what every sandbox needs, before any process is started, so that a
//! bad bundle fails with one clear message and nothing to clean up.

use gofer::jail::Plan;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// Why a bundle was refused. The messages follow runc's: they name the file
/// or the spec field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle {0}: no such directory")]
    NoBundle(PathBuf),
    #[error("open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {reason}")]
    Json { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Spec { path: PathBuf, reason: String },
    #[error("config.json: process is not set")]
    NoProcess,
    #[error("config.json: process.args must not be empty")]
    NoArgs,
    #[error("config.json: process.cwd {0:?} is not an absolute path")]
    RelativeCwd(PathBuf),
    #[error("config.json: root is not set")]
    NoRoot,
    #[error("rootfs {0}: no such directory")]
    NoRootfs(PathBuf),
    /// What the gofer will refuse (bind sources, destinations), found now.
    #[error("config.json: {0}")]
    Mounts(gofer::jail::Error),
}

/// A loaded, checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    pub spec: Spec,
    /// What the gofer serves: the root, then each bind mount in spec order,
    /// one lisafs connection each.
    pub plan: Plan,
}

impl Bundle {
    /// Reads and checks `<dir>/config.json`.
    pub fn load(dir: &Path) -> Result<Bundle, Error> {
        let dir = std::path::absolute(dir).map_err(|source| Error::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        if !dir.is_dir() {
            return Err(Error::NoBundle(dir));
        }
        let path = dir.join("config.json");
        let spec = parse(&path)?;
        Bundle::check(dir, spec)
    }

    fn check(dir: PathBuf, spec: Spec) -> Result<Bundle, Error> {
        let process = spec.process().as_ref().ok_or(Error::NoProcess)?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::NoArgs);
        }
        if !process.cwd().is_absolute() {
            return Err(Error::RelativeCwd(process.cwd().clone()));
        }
        let root = spec.root().as_ref().ok_or(Error::NoRoot)?;
        if root.path().as_os_str().is_empty() {
            return Err(Error::NoRoot);
        }
        let rootfs = dir.join(root.path());
        if !rootfs.is_dir() {
            return Err(Error::NoRootfs(rootfs));
        }
        let plan = Plan::from_spec(&dir, &spec).map_err(Error::Mounts)?;
        Ok(Bundle { dir, spec, plan })
    }

    /// Lisafs connections the gofer serves: the root's, then one per bind
    /// mount in spec order.
    pub fn served_mounts(&self) -> usize {
        self.plan.served_mounts()
    }

    /// Whether the container's process gets a terminal
    /// (`process.terminal`).
    pub fn terminal(&self) -> bool {
        self.spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false)
    }
}

/// oci-spec's own message for a parse error is "serde failed"; serde's
/// says where in the file the error is.
fn parse(path: &Path) -> Result<Spec, Error> {
    Spec::load(path).map_err(|e| match e {
        oci_spec::OciSpecError::SerDe(e) => Error::Json {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        oci_spec::OciSpecError::Io(source) => Error::Open {
            path: path.to_path_buf(),
            source,
        },
        e => Error::Spec {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    })
}
