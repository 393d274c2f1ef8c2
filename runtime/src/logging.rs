//! Logging of the vigil processes: `tracing` to a debug log file (one per
//! sandbox process, opened before its jail hides the host's paths), or
//! warnings only to stderr.

use anyhow::Context;
use std::path::Path;

/// Installs the process's subscriber. With `debug_log`, everything down to
/// debug level is appended to that file; without it, events of `quiet`
/// level and above go to stderr.
pub fn init(debug_log: Option<&Path>, quiet: tracing::Level) -> anyhow::Result<()> {
    use tracing_subscriber::fmt;
    match debug_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open debug log {}", path.display()))?;
            fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .init();
        }
        None => fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(quiet)
            .init(),
    }
    Ok(())
}
