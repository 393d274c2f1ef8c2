//! `containerd-shim-vigil-v2`: the containerd shim v2 for vigil. containerd
//! starts it as runtime `io.containerd.vigil.v2`; it runs each container in a
//! vigil sandbox (gofer + sentry, through `vigil_runtime`) and serves
//! containerd's Task API for it.
//!
//! - [`service`]: the shim's own lifecycle (start, delete, the daemon);
//! - [`task`]: the Task API;
//! - [`container`]: the shim's record of a container and its processes;
//! - [`stdio`]: containerd's fifos as the processes' stdio;
//! - [`options`]: runtime options and the TOML config;
//! - [`metrics`]: cgroup statistics in containerd's metrics types;
//! - [`events`]: the event queue to containerd.

mod container;
mod error;
mod events;
mod metrics;
mod options;
mod service;
mod stdio;
mod task;

/// The runtime name containerd knows this shim by.
const RUNTIME_ID: &str = "io.containerd.vigil.v2";

#[tokio::main]
async fn main() {
    let config = containerd_shim::Config {
        // The daemon sets up `tracing` itself (see `service`), so that the
        // sandbox library's events reach containerd's log too.
        no_setup_logger: true,
        ..Default::default()
    };
    containerd_shim::asynchronous::run::<service::Service>(RUNTIME_ID, Some(config)).await;
}
