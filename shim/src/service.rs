//! The shim's lifecycle as containerd drives it: `start` (launch the shim
//! daemon, or find the one of the same pod, and tell containerd its
//! address), the daemon itself (the Task service, events, the exit monitor)
//! and `delete` (clean up after a shim that died).
//!
//! # containerd versions
//!
//! containerd-shim 0.12 serves the Task API as `containerd.task.v3.Task`
//! and answers `start` in the forms of containerd 1.7 and later. containerd
//! 1.6 speaks `containerd.task.v2.Task` (the same messages) and reads a bare
//! address. So the daemon also serves the task service under the v2 name,
//! on a second socket (the crate's, plus [`V2_SUFFIX`]), and to a daemon of
//! the legacy start protocol (all before 2.3, which take a bare address as
//! a v2 shim) `start` prints that socket's address itself.

use crate::options::{Settings, ROOT_FILE};
use crate::task::TaskService;
use async_trait::async_trait;
use containerd_shim::asynchronous::monitor::monitor_subscribe;
use containerd_shim::asynchronous::{spawn, ExitSignal, Shim};
use containerd_shim::monitor::{Subject, Topic};
use containerd_shim::protos::shim_async::create_task;
use containerd_shim::protos::ttrpc::r#async::Server;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::util::{read_spec, timestamp, write_str_to_file};
use containerd_shim::{Config, DeleteResponse, Flags, StartOpts};
use std::io::Write;
use std::sync::Arc;

/// Pod annotations that group containers into one shim (CRI's, CRI-O's).
const GROUP_LABELS: [&str; 2] = [
    "io.kubernetes.cri.sandbox-id",
    "io.kubernetes.cri-o.SandboxID",
];
/// The task API service names: what the crate registers, and containerd
/// 1.6's.
const TASK_V3: &str = "containerd.task.v3.Task";
const TASK_V2: &str = "containerd.task.v2.Task";
/// The v2 socket's address is the crate's with this suffix.
const V2_SUFFIX: &str = "-v2";

pub struct Service {
    id: String,
    namespace: String,
    /// The crate's socket address (`-socket`), in the daemon.
    socket: String,
    exit: Arc<ExitSignal>,
    /// The v2 server, held until the daemon ends.
    v2_server: std::sync::Mutex<Option<Server>>,
}

#[async_trait]
impl Shim for Service {
    type T = TaskService;

    async fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        // The daemon (no action) logs to containerd's log fifo in the
        // bundle; `delete` its warnings to stderr, which containerd logs.
        // `start` logs nothing: containerd 1.6 reads its stderr together
        // with the address on stdout.
        match args.action.as_str() {
            "" => init_logging(args.debug),
            "delete" => tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .with_writer(std::io::stderr)
                .init(),
            _ => {}
        }
        Service {
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            socket: args.socket.clone(),
            exit: Arc::new(ExitSignal::default()),
            v2_server: std::sync::Mutex::new(None),
        }
    }

    async fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        // The working directory is the bundle.
        let mut grouping = opts.id.clone();
        let spec = read_spec("").await?;
        if let Some(annotations) = spec.annotations() {
            if let Some(group) = GROUP_LABELS.iter().find_map(|l| annotations.get(*l)) {
                grouping = group.clone();
            }
        }
        let legacy = opts.containerd_version.is_empty();
        let address = spawn(opts, &grouping, Vec::new()).await?;
        if !legacy {
            write_str_to_file("address", &address).await?;
            return Ok(address);
        }
        let v2 = v2_address(&address);
        write_str_to_file("address", &v2).await?;
        // The crate would answer in JSON, which containerd 1.6 takes for an
        // address; every legacy daemon reads a bare one.
        let mut stdout = std::io::stdout();
        stdout
            .write_all(v2.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| containerd_shim::Error::Other(format!("write the address: {e}")))?;
        std::process::exit(0);
    }

    async fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        // The working directory is the bundle of a container whose shim
        // died: kill whatever of its sandbox is left and remove its state.
        let bundle = std::env::current_dir()
            .map_err(|e| containerd_shim::Error::Other(format!("bundle: {e}")))?;
        let mut runtime = Settings::defaults(&self.namespace).runtime;
        if let Ok(root) = std::fs::read_to_string(bundle.join(ROOT_FILE)) {
            runtime.root = root.into();
        }
        let pid = vigil_runtime::container::Container::load(&runtime, &self.id)
            .map(|c| c.record.init.pid)
            .unwrap_or(0);
        if let Err(e) = vigil_runtime::container::delete(&runtime, &self.id, true) {
            tracing::warn!("delete {}: {e:#}", self.id);
        }
        let rootfs = bundle.join("rootfs");
        if let Err(e) = containerd_shim::mount::umount_recursive(rootfs.to_str(), 0) {
            tracing::warn!("unmount {}: {e}", rootfs.display());
        }
        let _ = std::fs::remove_file(bundle.join(ROOT_FILE));
        // The dead daemon's sockets (unless a daemon of the same group
        // still listens there).
        if let Ok(address) = std::fs::read_to_string(bundle.join("address")) {
            let base = address.strip_suffix(V2_SUFFIX).unwrap_or(&address);
            for address in [base.to_string(), v2_address(base)] {
                socket_in_use(address.trim_start_matches("unix://"));
            }
        }
        Ok(DeleteResponse {
            pid: pid as u32,
            // Killed, as far as anyone can tell.
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: containerd_shim::protos::protobuf::MessageField::some(timestamp()?),
            ..Default::default()
        })
    }

    async fn wait(&mut self) {
        self.exit.wait().await;
        let server = self.v2_server.lock().ok().and_then(|mut s| s.take());
        if let Some(mut server) = server {
            let _ = server.shutdown().await;
        }
        // The crate removes the socket named in the bundle's `address`
        // file, which is the v2 one for a legacy daemon: both go here.
        for address in [self.socket.clone(), v2_address(&self.socket)] {
            let _ = std::fs::remove_file(address.trim_start_matches("unix://"));
        }
    }

    async fn create_task_service(&self, publisher: RemotePublisher) -> TaskService {
        let events = crate::events::Events::forward(publisher, self.namespace.clone());
        let task = TaskService::new(&self.namespace, events, self.exit.clone());
        // Subscribed before any child exists, so no exit is missed.
        match monitor_subscribe(Topic::Pid).await {
            Ok(mut exits) => {
                let task = task.clone();
                tokio::spawn(async move {
                    while let Some(e) = exits.rx.recv().await {
                        if let Subject::Pid(pid) = e.subject {
                            task.child_exited(pid, e.exit_code).await;
                        }
                    }
                });
            }
            Err(e) => tracing::error!("subscribe to exits: {e}"),
        }
        match serve_v2(&self.socket, &task).await {
            Ok(server) => {
                if let Ok(mut slot) = self.v2_server.lock() {
                    *slot = server;
                }
            }
            Err(e) => tracing::error!("serve the task v2 API: {e}"),
        }
        task
    }
}

/// Whether a daemon accepts connections at `path`. A socket file that
/// nothing listens on any more is removed.
fn socket_in_use(path: &str) -> bool {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => true,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                let _ = std::fs::remove_file(path);
            }
            false
        }
    }
}

fn v2_address(socket: &str) -> String {
    format!("{socket}{V2_SUFFIX}")
}

/// Serves `task` under the v2 service name next to the crate's socket,
/// unless a daemon already does.
async fn serve_v2(socket: &str, task: &TaskService) -> Result<Option<Server>, String> {
    let address = v2_address(socket);
    // A live socket belongs to the daemon of this container's group, which
    // this process (started for the group's next container) hands over to.
    if socket_in_use(address.trim_start_matches("unix://")) {
        return Ok(None);
    }
    let mut services = create_task(Arc::new(task.clone()));
    let service = services
        .remove(TASK_V3)
        .ok_or_else(|| format!("the shim protos register no {TASK_V3}"))?;
    services.insert(TASK_V2.to_string(), service);
    let mut server = Server::new()
        .bind(&address)
        .map_err(|e| format!("bind {address}: {e}"))?
        .register_service(services);
    server.start().await.map_err(|e| format!("start: {e}"))?;
    Ok(Some(server))
}

/// The daemon's log: containerd's `log` fifo in the bundle, where
/// containerd reads it into its own log.
fn init_logging(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(level);
    match std::fs::OpenOptions::new().write(true).open("log") {
        Ok(fifo) => builder.with_writer(std::sync::Mutex::new(fifo)).init(),
        Err(_) => builder.with_writer(std::io::stderr).init(),
    }
}
