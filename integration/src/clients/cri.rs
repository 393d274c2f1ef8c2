//! A client of containerd's CRI (`runtime.v1`), the API a kubelet drives
//! pods with. There is no crictl here and no CRI crate is worth its build
//! time for a few calls, so the client is `integration/cri/cri.py`: it
//! builds the API from the descriptor compiled into containerd itself and
//! answers JSON requests, one per line, as long as it runs. Requests and
//! responses are protobuf's JSON mapping with the .proto's field names
//! (`pod_sandbox_id`), as the CRI's documentation spells them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{installed, Containerd, COMMAND_TIMEOUT};

/// Debian's interpreter, which python3-grpcio installs into (another
/// `python3` earlier on PATH may lack it).
const PYTHON: &str = "/usr/bin/python3";

/// A running `cri.py` connected to one containerd. Dropping it ends the
/// program (its stdin closes).
pub struct Cri {
    child: Child,
    /// One call at a time: a request line, then its answer line.
    pipes: Mutex<Option<(ChildStdin, BufReader<ChildStdout>)>>,
}

/// A call that failed: its gRPC status code name (`NOT_FOUND`) and message.
#[derive(Debug, Clone)]
pub struct CriError {
    pub code: String,
    pub details: String,
}

impl std::fmt::Display for CriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.details)
    }
}

impl Cri {
    /// Starts the client for `containerd`'s socket.
    pub fn connect(containerd: &Containerd) -> Result<Cri, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("cri/cri.py");
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .arg("--containerd")
            .arg(installed("containerd"))
            .arg("--address")
            .arg(format!("unix://{}", containerd.address().display()))
            .arg("--timeout")
            .arg(COMMAND_TIMEOUT.as_secs().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {PYTHON} {}: {e}", script.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Cri {
            child,
            pipes: Mutex::new(Some((stdin, stdout))),
        })
    }

    /// Calls `method` (of RuntimeService or ImageService) with `request`.
    /// Panics if the client itself is gone (it printed why on stderr).
    pub fn call(&self, method: &str, request: Value) -> Result<Value, CriError> {
        let line = json!({"method": method, "request": request}).to_string();
        let mut pipes = self.pipes.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = pipes.as_mut().expect("open until drop");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("cri.py is gone ({e}); it was asked {line}"));
        let mut answer = String::new();
        match stdout.read_line(&mut answer) {
            Ok(n) if n > 0 => {}
            other => panic!("cri.py did not answer ({other:?}); it was asked {line}"),
        }
        let answer: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("cri.py answered {answer:?}: {e}"));
        match (answer.get("response"), answer.get("error")) {
            (Some(response), _) => Ok(response.clone()),
            (None, Some(error)) => Err(CriError {
                code: error["code"].as_str().unwrap_or_default().to_string(),
                details: error["details"].as_str().unwrap_or_default().to_string(),
            }),
            (None, None) => panic!("cri.py answered neither a response nor an error: {answer}"),
        }
    }
}

/// The steps of a pod's life, as a kubelet takes them.
impl Cri {
    /// RunPodSandbox: the pod's id.
    pub fn run_pod(&self, config: &Value, handler: &str) -> Result<String, CriError> {
        let pod = self.call(
            "RunPodSandbox",
            json!({"config": config, "runtime_handler": handler}),
        )?;
        Ok(pod["pod_sandbox_id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// CreateContainer and StartContainer in pod `pod` (created with
    /// `pod_config`): the container's id.
    pub fn start_container(
        &self,
        pod: &str,
        pod_config: &Value,
        config: &Value,
    ) -> Result<String, CriError> {
        let created = self.call(
            "CreateContainer",
            json!({"pod_sandbox_id": pod, "config": config, "sandbox_config": pod_config}),
        )?;
        let id = created["container_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.call("StartContainer", json!({"container_id": id}))?;
        Ok(id)
    }

    /// ContainerStatus (verbose: with containerd's `info`, which has the
    /// host pid): its `status`.
    pub fn container_status(&self, id: &str) -> Result<Value, CriError> {
        let status = self.call(
            "ContainerStatus",
            json!({"container_id": id, "verbose": true}),
        )?;
        let mut found = status["status"].clone();
        if let Some(info) = status["info"]["info"].as_str() {
            found["info"] = serde_json::from_str(info).unwrap_or_default();
        }
        Ok(found)
    }

    /// Waits (up to `timeout`) for container `id` to exit: its exit code.
    pub fn wait_exited(&self, id: &str, timeout: Duration) -> Result<i64, String> {
        let t0 = Instant::now();
        loop {
            let status = self.container_status(id).map_err(|e| e.to_string())?;
            if status["state"] == "CONTAINER_EXITED" {
                // The JSON mapping leaves out a zero.
                return Ok(status["exit_code"].as_i64().unwrap_or(0));
            }
            if t0.elapsed() > timeout {
                return Err(format!("{id} still {} after {timeout:?}", status["state"]));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// StopPodSandbox and RemovePodSandbox.
    pub fn remove_pod(&self, pod: &str) -> Result<(), CriError> {
        self.call("StopPodSandbox", json!({"pod_sandbox_id": pod}))?;
        self.call("RemovePodSandbox", json!({"pod_sandbox_id": pod}))?;
        Ok(())
    }
}

/// A PodSandboxConfig: the pod `name` (with a `uid` unique on the machine),
/// its `hostname`, the directory its containers' logs go to, and the
/// cgroup its containers' cgroups are made under. The pod has its own
/// network, IPC and UTS namespaces; each container its own pid namespace
/// (Kubernetes' defaults).
pub fn pod_config(name: &str, uid: &str, hostname: &str, logs: &Path, cgroup: &str) -> Value {
    json!({
        "metadata": {"name": name, "uid": uid, "namespace": "vigil-tests"},
        "hostname": hostname,
        "log_directory": logs,
        "linux": {
            "cgroup_parent": cgroup,
            "security_context": {"namespace_options": {
                "network": "POD", "pid": "CONTAINER", "ipc": "POD"
            }},
        },
    })
}

/// A ContainerConfig: container `name` of `image` running `command`,
/// logging to `<log_directory>/<name>.log`.
pub fn container_config(name: &str, image: &str, command: &[&str]) -> Value {
    json!({
        "metadata": {"name": name},
        "image": {"image": image},
        "command": command,
        "log_path": format!("{name}.log"),
        "linux": {},
    })
}

impl Drop for Cri {
    fn drop(&mut self) {
        // EOF on its stdin ends it; a call in flight has its own deadline.
        drop(self.pipes.lock().unwrap_or_else(|e| e.into_inner()).take());
        let _ = self.child.wait();
    }
}

/// The value of a `bytes` field of a response (base64 in the JSON
/// mapping); empty when the field is absent, as protobuf leaves empty
/// fields out.
pub fn bytes_field(value: &Value) -> Vec<u8> {
    let text = value.as_str().unwrap_or_default();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue, // padding
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_fields_decode_from_base64() {
        assert_eq!(bytes_field(&json!("aGVsbG8K")), b"hello\n");
        assert_eq!(bytes_field(&json!("aGk=")), b"hi");
        assert_eq!(bytes_field(&json!("/+8=")), [0xff, 0xef]);
        assert_eq!(bytes_field(&Value::Null), b"");
    }
}
