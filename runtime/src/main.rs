//! `vigil`: the OCI runtime CLI, and the hidden entry points of the sandbox
//! processes it starts. Each command parses its flags here and delegates to
//! the crate that does the work.

use anyhow::Context;
use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "vigil", version, about = "A secure container runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a container's file systems over lisafs from inside a jail
    /// (started by vigil itself).
    #[command(hide = true)]
    Gofer(GoferFlags),
}

#[derive(Args)]
struct GoferFlags {
    /// The OCI bundle directory (holding config.json).
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Inherited lisafs sockets: the root's, then one per bind mount in
    /// spec order.
    #[arg(long, value_name = "FD,...", value_delimiter = ',', required = true)]
    io_fds: Vec<i32>,
    /// Hand mount-point FDs to the sentry when it asks.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    directfs: bool,
    /// Write a debug log to this file (warnings go to stderr otherwise).
    #[arg(long, value_name = "FILE")]
    debug_log: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gofer(flags) => gofer(flags),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: gofer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the process's subscriber: with `debug_log`, everything down to
/// debug level is appended to that file; otherwise warnings go to stderr.
fn init_logging(debug_log: Option<&Path>) -> anyhow::Result<()> {
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
            .with_max_level(tracing::Level::WARN)
            .init(),
    }
    Ok(())
}

fn gofer(flags: GoferFlags) -> anyhow::Result<()> {
    // The log file is opened before the jail hides the host's paths.
    init_logging(flags.debug_log.as_deref())?;
    gofer::run(gofer::GoferArgs {
        bundle: flags.bundle,
        io_fds: flags.io_fds,
        directfs: flags.directfs,
    })?;
    Ok(())
}
