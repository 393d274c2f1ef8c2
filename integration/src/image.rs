//! The container image the real clients run, built locally because no
//! registry is reachable: the busybox root file system as one uncompressed
//! layer, written as a single tarball that is at the same time an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) and a
//! docker-archive (`manifest.json` naming the same blobs). `ctr images
//! import` reads the first, `docker load` the second and `podman load`
//! either, so one file serves every client.
//!
//! It is cached as `<cache>/image/busybox.tar` and rebuilt when the busybox
//! root file system changes; `pause.tar`, the CRI tests' sandbox image, is
//! the same layer with another entrypoint. The layer is byte-for-byte reproducible (sorted
//! entries, fixed owner and time), so an unchanged rootfs gives the same
//! image id every time.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::setup;

/// The name every client knows the image by. `localhost/` keeps it out of
/// Docker's and podman's `docker.io/library/` normalisation, so the same
/// reference works with all three.
pub const NAME: &str = "localhost/vigil-busybox:latest";

/// The modification time of every entry in the layer, and the image's
/// creation time (2020-01-01): fixed, so the digests depend on the files
/// alone.
const MTIME: u64 = 1_577_836_800;
const CREATED: &str = "2020-01-01T00:00:00Z";

/// Part of the cache stamp: bump it when the image's format changes.
const FORMAT: &str = "2";

/// The pause image: the same root file system, whose entrypoint sleeps
/// until SIGTERM or SIGINT and then exits 0. It is the sandbox image of the
/// CRI tests (a pod's first container, which holds its namespaces).
pub const PAUSE_NAME: &str = "localhost/vigil-pause:latest";

/// `sleep` runs in the background so that the trapped signal interrupts
/// `wait` and its trap runs at once; the sleep is left to die with the
/// pod's pid namespace.
const PAUSE_ENTRYPOINT: &[&str] = &[
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
];

/// The image tarball, built on first use. Panics with the reason if it
/// cannot be built: every client test needs it.
pub fn busybox() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| cached("busybox", NAME, json!({"Cmd": ["sh"]})))
}

/// The pause image tarball ([`PAUSE_NAME`]), built on first use.
pub fn pause() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| cached("pause", PAUSE_NAME, json!({"Entrypoint": PAUSE_ENTRYPOINT})))
}

/// The image `<cache>/image/FILE.tar`: the busybox root file system named
/// `name`, with `run` (the config's `Entrypoint` or `Cmd`) added to the
/// config's `Env`.
fn cached(file: &str, name: &str, run: Value) -> PathBuf {
    let rootfs = setup::busybox_rootfs();
    let dir = setup::cache_dir().join("image");
    let path = dir.join(format!("{file}.tar"));
    let stamp_path = dir.join(format!("{file}.stamp"));
    let _lock = setup::FileLock::acquire("image");
    // The rootfs is rebuilt exactly when its busybox binary changes, so
    // that binary's digest (and the format and config) identifies the image.
    let busybox = fs::read(rootfs.join("bin/busybox")).expect("reading the rootfs busybox");
    let stamp = format!(
        "format={FORMAT} busybox={} run={run}\n",
        hex(&Sha256::digest(&busybox))
    );
    if path.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
        return path;
    }
    fs::create_dir_all(&dir).expect("creating the image dir");
    let tmp = dir.join(format!(".{file}.tar.tmp-{}", std::process::id()));
    write_image(rootfs, name, &run, &tmp)
        .unwrap_or_else(|e| panic!("setup: building the image {name}: {e}"));
    fs::rename(&tmp, &path).expect("moving the image in place");
    fs::write(&stamp_path, stamp).expect("writing the image stamp");
    path
}

/// A blob of the image: its bytes and their digest.
struct Blob {
    bytes: Vec<u8>,
    digest: String,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
        Blob { bytes, digest }
    }

    fn json(value: &Value) -> Blob {
        Blob::new(serde_json::to_vec(value).expect("serialising JSON"))
    }

    /// Where the blob sits in the tarball (both formats use this path).
    fn path(&self) -> String {
        format!("blobs/{}", self.digest.replacen(':', "/", 1))
    }

    fn descriptor(&self, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_image(rootfs: &Path, name: &str, run: &Value, out: &Path) -> std::io::Result<()> {
    let layer = Blob::new(layer(rootfs)?);
    let mut image_config =
        json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]});
    if let (Some(config), Some(run)) = (image_config.as_object_mut(), run.as_object()) {
        config.extend(run.clone());
    }
    let config = Blob::json(&json!({
        "created": CREATED,
        "architecture": go_arch(),
        "os": "linux",
        "config": image_config,
        // The layer is uncompressed, so its diff id is its digest.
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        "history": [{
            "created": CREATED,
            "created_by": "vigil integration: busybox-static root file system",
        }],
    }));
    let manifest = Blob::json(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [layer.descriptor("application/vnd.oci.image.layer.v1.tar")],
    }));
    let (_, tag) = name.rsplit_once(':').expect("the image name has a tag");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest.digest,
            "size": manifest.bytes.len(),
            "annotations": {
                // containerd names imported images by the first, OCI tools
                // (podman's oci-archive reader) by the second.
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    // The docker-archive view of the same blobs.
    let docker_manifest = json!([{
        "Config": config.path(),
        "RepoTags": [name],
        "Layers": [layer.path()],
    }]);

    let mut tarball = tar::Builder::new(fs::File::create(out)?);
    let mut add = |path: &str, bytes: &[u8]| {
        let mut header = entry_header(tar::EntryType::Regular, 0o644);
        header.set_size(bytes.len() as u64);
        tarball.append_data(&mut header, path, bytes)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &serde_json::to_vec(&index)?)?;
    add("manifest.json", &serde_json::to_vec(&docker_manifest)?)?;
    for blob in [&layer, &config, &manifest] {
        add(&blob.path(), &blob.bytes)?;
    }
    tarball.into_inner()?.flush()
}

/// The architecture in the Go spelling image configs use.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn entry_header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header.set_size(0);
    header
}

/// The root file system as an uncompressed layer tarball, entries in path
/// order.
fn layer(rootfs: &Path) -> std::io::Result<Vec<u8>> {
    let mut paths = Vec::new();
    collect(rootfs, rootfs, &mut paths)?;
    paths.sort();
    let mut tar = tar::Builder::new(Vec::new());
    for rel in paths {
        let path = rootfs.join(&rel);
        let meta = fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let mut header = entry_header(tar::EntryType::Symlink, 0o777);
            tar.append_link(&mut header, &rel, fs::read_link(&path)?)?;
        } else if meta.is_dir() {
            let mut header = entry_header(tar::EntryType::Directory, mode);
            tar.append_data(&mut header, &rel, std::io::empty())?;
        } else if meta.is_file() {
            let bytes = fs::read(&path)?;
            let mut header = entry_header(tar::EntryType::Regular, mode);
            header.set_size(bytes.len() as u64);
            tar.append_data(&mut header, &rel, bytes.as_slice())?;
        } else {
            return Err(std::io::Error::other(format!(
                "{}: only directories, files and symlinks belong in the image",
                path.display()
            )));
        }
    }
    tar.into_inner()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        out.push(
            path.strip_prefix(root)
                .expect("under the root")
                .to_path_buf(),
        );
        if fs::symlink_metadata(&path)?.is_dir() {
            collect(root, &path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_is_reproducible_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        fs::write(dir.path().join("bin/busybox"), b"elf").unwrap();
        std::os::unix::fs::symlink("/bin/busybox", dir.path().join("bin/sh")).unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        let first = layer(dir.path()).unwrap();
        assert_eq!(first, layer(dir.path()).unwrap());
        let mut archive = tar::Archive::new(first.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["bin", "bin/busybox", "bin/sh", "etc"]);
    }

    #[test]
    fn both_formats_name_the_same_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::write(rootfs.join("bin/busybox"), b"elf").unwrap();
        let out = dir.path().join("image.tar");
        write_image(&rootfs, NAME, &json!({"Cmd": ["sh"]}), &out).unwrap();
        let mut files = std::collections::BTreeMap::new();
        let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            files.insert(name, bytes);
        }
        let parse = |name: &str| -> Value { serde_json::from_slice(&files[name]).unwrap() };
        let index = parse("index.json");
        let entry = &index["manifests"][0];
        assert_eq!(entry["annotations"]["io.containerd.image.name"], NAME);
        let digest = entry["digest"].as_str().unwrap();
        let manifest = parse(&format!("blobs/{}", digest.replacen(':', "/", 1)));
        let docker = parse("manifest.json");
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        assert_eq!(
            docker[0]["Layers"][0],
            format!("blobs/{}", layer.replacen(':', "/", 1))
        );
        assert!(files.contains_key(docker[0]["Config"].as_str().unwrap()));
        // Every blob's name is its content's digest.
        for (name, bytes) in &files {
            if let Some(hex_digest) = name.strip_prefix("blobs/sha256/") {
                assert_eq!(hex(&Sha256::digest(bytes)), hex_digest);
            }
        }
    }
}
