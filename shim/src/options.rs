//! The shim's settings for one container: where vigil keeps its state, which
//! `vigil` binary starts the sandbox, and the sandbox options (runsc's flag
//! names), read from containerd's runtime options and, when the operator
//! allows it, from the pod's `dev.vigil.*` annotations.
//!
//! containerd hands runtime options over as a protobuf `Any`. Two kinds are
//! understood:
//! - `runtimeoptions.v1.Options` (what CRI sends for a runtime that is not
//!   runc, and `ctr run --runtime-config-path`): its `config_path` names a
//!   TOML file, read here (see the README's containerd section);
//! - `containerd.runc.v1.Options`: `binary_name`, `root` and
//!   `systemd_cgroup` apply.

use crate::error::Error;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{CodedInputStream, Message};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vigil_runtime::container::Runtime;
use vigil_runtime::sandbox::{Network, Options};

/// Where state lives unless the options say otherwise; the namespace is
/// appended, as containerd's runc shim does.
pub const DEFAULT_ROOT: &str = "/run/vigil-shim";
/// The state root a container's shim recorded in its bundle, for `delete`
/// after that shim died.
pub const ROOT_FILE: &str = "vigil-root";

/// The name of the `vigil` binary looked for next to the shim, then on PATH.
const VIGIL_BINARY: &str = "vigil";
/// Annotations `dev.vigil.<key>` set sandbox option `<key>`.
const ANNOTATION_PREFIX: &str = "dev.vigil.";
/// The one platform vigil has: seccomp user notification for system calls,
/// ptrace for control (the name runsc gives its own default).
const PLATFORM: &str = "ptrace";

const RUNTIME_OPTIONS_TYPE: &str = "runtimeoptions.v1.Options";
const RUNC_OPTIONS_TYPE: &str = "containerd.runc.v1.Options";

/// The sandbox keys a config file or annotation may set.
const KEYS: &[&str] = &[
    "debug-log",
    "strace",
    "directfs",
    "overlay2",
    "platform",
    "network",
    "systemd-cgroup",
];

/// Everything the shim needs to run one container.
#[derive(Clone, Debug)]
pub struct Settings {
    pub runtime: Runtime,
    /// Whether `dev.vigil.*` annotations may change sandbox options. Off by
    /// default: a pod could otherwise point the debug log anywhere on the
    /// host.
    allow_annotations: bool,
}

/// The TOML file a `runtimeoptions.v1.Options` names.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct ConfigFile {
    /// The `vigil` binary.
    binary_name: Option<PathBuf>,
    /// The state root (the namespace is appended).
    root: Option<PathBuf>,
    /// Sandbox options by runsc's flag names; values are strings or TOML
    /// booleans.
    #[serde(default)]
    vigil: toml::Table,
}

impl Settings {
    /// The defaults for containers of `namespace`.
    pub fn defaults(namespace: &str) -> Settings {
        Settings {
            runtime: Runtime {
                root: Path::new(DEFAULT_ROOT).join(namespace),
                options: Options {
                    directfs: true,
                    vigil_binary: Some(default_binary()),
                    ..Options::default()
                },
            },
            allow_annotations: false,
        }
    }

    /// The settings for a container: the defaults, then containerd's
    /// runtime options, then the spec's annotations (if allowed).
    pub fn resolve(
        namespace: &str,
        options: Option<&Any>,
        annotations: &HashMap<String, String>,
    ) -> Result<Settings, Error> {
        let mut settings = Settings::defaults(namespace);
        if let Some(any) = options.filter(|a| !a.type_url.is_empty()) {
            settings.apply_runtime_options(namespace, any)?;
        }
        if settings.allow_annotations {
            for (key, value) in annotations {
                if let Some(key) = key.strip_prefix(ANNOTATION_PREFIX) {
                    settings.set(key, value)?;
                }
            }
        }
        Ok(settings)
    }

    fn apply_runtime_options(&mut self, namespace: &str, any: &Any) -> Result<(), Error> {
        let type_name = any.type_url.rsplit('/').next().unwrap_or_default();
        match type_name {
            RUNTIME_OPTIONS_TYPE => {
                let path = config_path(&any.value)?;
                if path.is_empty() {
                    return Ok(());
                }
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::InvalidArgument(format!("read the shim config {path}: {e}"))
                })?;
                self.apply_config(namespace, &text)
                    .map_err(|e| Error::InvalidArgument(format!("shim config {path}: {e}")))
            }
            RUNC_OPTIONS_TYPE => {
                let runc = containerd_shim::api::Options::parse_from_bytes(&any.value)
                    .map_err(|e| Error::InvalidArgument(format!("runc options: {e}")))?;
                if !runc.binary_name.is_empty() {
                    self.runtime.options.vigil_binary = Some(runc.binary_name.into());
                }
                if !runc.root.is_empty() {
                    self.runtime.root = Path::new(&runc.root).join(namespace);
                }
                self.runtime.options.systemd_cgroup = runc.systemd_cgroup;
                Ok(())
            }
            other => Err(Error::InvalidArgument(format!(
                "runtime options of type {other:?}: vigil takes {RUNTIME_OPTIONS_TYPE} or {RUNC_OPTIONS_TYPE}"
            ))),
        }
    }

    /// Applies a TOML config file's text.
    fn apply_config(&mut self, namespace: &str, text: &str) -> Result<(), String> {
        let config: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(binary) = config.binary_name {
            self.runtime.options.vigil_binary = Some(binary);
        }
        if let Some(root) = config.root {
            self.runtime.root = root.join(namespace);
        }
        for (key, value) in &config.vigil {
            let value = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => b.to_string(),
                other => return Err(format!("{key}: a string or boolean, not {other}")),
            };
            if key == "allow-annotations" {
                self.allow_annotations = parse_bool(key, &value).map_err(|e| e.to_string())?;
            } else {
                self.set(key, &value).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Sets one sandbox option by its runsc flag name.
    fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let o = &mut self.runtime.options;
        match key {
            "debug-log" => o.debug_log = (!value.is_empty()).then(|| PathBuf::from(value)),
            "strace" => o.strace = parse_bool(key, value)?,
            "directfs" => o.directfs = parse_bool(key, value)?,
            "overlay2" => o.overlay2 = (!value.is_empty()).then(|| value.to_string()),
            "systemd-cgroup" => o.systemd_cgroup = parse_bool(key, value)?,
            "network" => {
                o.network = match value {
                    "none" => Network::None,
                    "host" => Network::Host,
                    _ => return Err(invalid(key, value, "none or host")),
                }
            }
            "platform" if value == PLATFORM => {}
            "platform" => return Err(invalid(key, value, PLATFORM)),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unknown vigil option {key:?} (known: {}, allow-annotations)",
                    KEYS.join(", ")
                )))
            }
        }
        Ok(())
    }
}

fn invalid(key: &str, value: &str, expected: &str) -> Error {
    Error::InvalidArgument(format!("vigil option {key}={value:?}: expected {expected}"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "true or false")),
    }
}

/// `config_path` (field 2) of a `runtimeoptions.v1.Options`. The message
/// has two strings and no generated type in the shim protos, so it is read
/// field by field.
fn config_path(bytes: &[u8]) -> Result<String, Error> {
    let bad = |e: containerd_shim::protos::protobuf::Error| {
        Error::InvalidArgument(format!("{RUNTIME_OPTIONS_TYPE}: {e}"))
    };
    let mut input = CodedInputStream::from_bytes(bytes);
    let mut path = String::new();
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(bad)? {
        match tag {
            // Field 2, length-delimited.
            0x12 => path = input.read_string().map_err(bad)?,
            _ => input
                .skip_field(
                    containerd_shim::protos::protobuf::rt::WireType::new(tag & 7).ok_or_else(
                        || Error::InvalidArgument(format!("{RUNTIME_OPTIONS_TYPE}: bad wire type")),
                    )?,
                )
                .map_err(bad)?,
        }
    }
    Ok(path)
}

/// `vigil` next to the shim binary (where `install` puts both), else the
/// name for PATH lookup by the launcher.
fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(VIGIL_BINARY)))
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(VIGIL_BINARY))
                    .find(|p| p.is_file())
            })
        })
        .unwrap_or_else(|| PathBuf::from(VIGIL_BINARY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_sets_sandbox_options() {
        let mut s = Settings::defaults("k8s.io");
        s.apply_config(
            "k8s.io",
            r#"
binary_name = "/opt/vigil/vigil"
root = "/run/v"
[vigil]
debug-log = "/var/log/vigil"
strace = true
directfs = "false"
overlay2 = "root:memory"
platform = "ptrace"
network = "host"
"#,
        )
        .unwrap();
        let o = &s.runtime.options;
        assert_eq!(s.runtime.root, Path::new("/run/v/k8s.io"));
        assert_eq!(
            o.vigil_binary.as_deref(),
            Some(Path::new("/opt/vigil/vigil"))
        );
        assert_eq!(o.debug_log.as_deref(), Some(Path::new("/var/log/vigil")));
        assert!(o.strace && !o.directfs);
        assert_eq!(o.overlay2.as_deref(), Some("root:memory"));
        assert_eq!(o.network, Network::Host);
    }

    #[test]
    fn unknown_keys_and_values_are_rejected() {
        let mut s = Settings::defaults("default");
        assert!(s.apply_config("default", "[vigil]\nfoo = \"1\"").is_err());
        assert!(s
            .apply_config("default", "[vigil]\nplatform = \"kvm\"")
            .is_err());
        assert!(s
            .apply_config("default", "[vigil]\nstrace = \"yes\"")
            .is_err());
        assert!(s.apply_config("default", "nope = 1").is_err());
    }

    #[test]
    fn annotations_apply_only_when_allowed() {
        let annotations = HashMap::from([("dev.vigil.strace".to_string(), "true".to_string())]);
        let s = Settings::resolve("default", None, &annotations).unwrap();
        assert!(!s.runtime.options.strace);

        let mut s = Settings::defaults("default");
        s.apply_config("default", "[vigil]\nallow-annotations = true")
            .unwrap();
        assert!(s.allow_annotations);
        s.set("strace", "true").unwrap();
        assert!(s.runtime.options.strace);
    }

    #[test]
    fn runtime_options_name_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, "[vigil]\nstrace = true\n").unwrap();
        // runtimeoptions.v1.Options{type_url: "x", config_path: path}.
        let p = path.to_str().unwrap().as_bytes();
        let mut value = vec![0x0a, 1, b'x', 0x12, p.len() as u8];
        value.extend_from_slice(p);
        let any = Any {
            type_url: RUNTIME_OPTIONS_TYPE.into(),
            value,
            ..Default::default()
        };
        let s = Settings::resolve("default", Some(&any), &HashMap::new()).unwrap();
        assert!(s.runtime.options.strace);
        assert_eq!(s.runtime.root, Path::new(DEFAULT_ROOT).join("default"));
    }
}
