//! `vigil`: the OCI runtime CLI, and the hidden entry points of the sandbox
//! processes it starts. Each command parses its flags here and delegates to
//! the library (or the gofer crate) that does the work.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_runtime::sandbox::{Network, Options};
use vigil_runtime::{boot, logging, run};

/// Where container state lives unless `--root` says otherwise.
const DEFAULT_ROOT: &str = "/run/vigil";

#[derive(Parser)]
#[command(name = "vigil", version, about = "A secure container runtime")]
struct Cli {
    /// runc's global flags.
    #[command(flatten)]
    global: liboci_cli::GlobalOpts,
    #[command(flatten)]
    sandbox: SandboxFlags,
    #[command(subcommand)]
    command: Command,
}

/// vigil's own global flags (runsc's names), settings of the sandboxes
/// this invocation starts.
#[derive(Args)]
struct SandboxFlags {
    /// Write one debug log per sandbox process into this directory
    /// (`<id>.sentry.log`, `<id>.gofer.log`).
    #[arg(long, value_name = "DIR")]
    debug_log: Option<PathBuf>,
    /// Log every system call the container makes.
    #[arg(long)]
    strace: bool,
    /// Let the sentry open the container's files itself, through FDs the
    /// gofer donates.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    directfs: bool,
    /// Overlay for the container's mounts: root:self|root:memory|root:DIR|
    /// all:...|none.
    #[arg(long, value_name = "SPEC")]
    overlay2: Option<String>,
    /// The sandbox's network: none (an empty network namespace) or host.
    #[arg(long, value_enum, default_value_t = Network::None)]
    network: Network,
}

#[derive(Subcommand)]
enum Command {
    /// Create and run a container in the foreground.
    Run(liboci_cli::Run),
    /// Run a sandbox's sentry (started by vigil itself).
    #[command(hide = true)]
    Boot(BootFlags),
    /// Serve a container's file systems over lisafs from inside a jail
    /// (started by vigil itself).
    #[command(hide = true)]
    Gofer(GoferFlags),
}

#[derive(Args)]
struct BootFlags {
    /// The container's id (for logs).
    #[arg(long)]
    id: String,
    /// The OCI bundle directory (holding config.json).
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Inherited lisafs sockets: the root's, then one per bind mount in
    /// spec order.
    #[arg(long, value_name = "FD,...", value_delimiter = ',', required = true)]
    io_fds: Vec<i32>,
    /// Written and closed once the sentry is jailed and ready to run the
    /// container.
    #[arg(long, value_name = "FD")]
    ready_fd: Option<i32>,
    #[arg(long)]
    strace: bool,
    /// FD 0 is the replica of a host pty (and 1 and 2 the same terminal):
    /// the container's init gets an emulated terminal bridged to it.
    #[arg(long)]
    terminal: bool,
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    directfs: bool,
    #[arg(long, value_name = "SPEC")]
    overlay2: Option<String>,
    #[arg(long, value_enum, default_value_t = Network::None)]
    network: Network,
    /// Write a debug log to this file (warnings go to stderr otherwise).
    #[arg(long, value_name = "FILE")]
    debug_log: Option<PathBuf>,
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
    let (what, result) = match cli.command {
        Command::Run(flags) => ("", run_container(cli.global, cli.sandbox, flags)),
        // The sentry's errors read like runc's own ("unable to start
        // container process: ...").
        Command::Boot(flags) => ("", boot_sentry(flags)),
        Command::Gofer(flags) => ("gofer: ", gofer(flags).map(|()| 0).map_err(Failure::from)),
    };
    match result {
        Ok(status) => ExitCode::from(status as u8),
        Err(Failure { error, status }) => {
            eprintln!("vigil: {what}{error:#}");
            ExitCode::from(status as u8)
        }
    }
}

/// An error and the exit status it ends the process with.
struct Failure {
    error: anyhow::Error,
    status: i32,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            error: e.into(),
            status: 1,
        }
    }
}

fn run_container(
    global: liboci_cli::GlobalOpts,
    sandbox: SandboxFlags,
    flags: liboci_cli::Run,
) -> Result<i32, Failure> {
    if flags.detach {
        return Err(anyhow::anyhow!("run --detach is not supported yet").into());
    }
    if flags.preserve_fds != 0 {
        return Err(anyhow::anyhow!("run --preserve-fds is not supported yet").into());
    }
    if let Some(format) = global.log_format.as_deref() {
        if !matches!(format, "text" | "json") {
            return Err(anyhow::anyhow!("invalid --log-format {format:?}: text or json").into());
        }
    }
    init_run_logging(global.log.as_deref(), global.debug)?;
    // The sandbox always pivots (the sentry into an empty root, the gofer
    // into the rootfs): that is the isolation, so --no-pivot is accepted
    // for runc compatibility and changes nothing.
    tracing::debug!(
        no_pivot = flags.no_pivot,
        systemd_cgroup = global.systemd_cgroup,
        "run"
    );
    Ok(run::run(run::RunArgs {
        id: flags.container_id,
        bundle: flags.bundle,
        root: global.root.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        pid_file: flags.pid_file,
        console_socket: flags.console_socket,
        options: Options {
            debug_log: sandbox.debug_log,
            strace: sandbox.strace,
            directfs: sandbox.directfs,
            overlay2: sandbox.overlay2,
            network: sandbox.network,
        },
    })?)
}

/// `--log FILE` (runc's): vigil's own log; `--debug` raises it to debug.
fn init_run_logging(log: Option<&std::path::Path>, debug: bool) -> anyhow::Result<()> {
    match log {
        Some(path) if debug => logging::init(Some(path), tracing::Level::WARN),
        Some(path) => {
            // Without --debug only warnings are worth a file.
            use anyhow::Context;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open log {}", path.display()))?;
            tracing_subscriber::fmt()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .init();
            Ok(())
        }
        None => logging::init(None, tracing::Level::WARN),
    }
}

fn boot_sentry(flags: BootFlags) -> Result<i32, Failure> {
    // The log file is opened before the jail hides the host's paths. The
    // sentry's stderr is the container's: only errors go there.
    logging::init(flags.debug_log.as_deref(), tracing::Level::ERROR)?;
    let args = boot::BootArgs {
        id: flags.id,
        bundle: flags.bundle,
        io_fds: flags.io_fds,
        ready_fd: flags.ready_fd,
        strace: flags.strace,
        terminal: flags.terminal,
        directfs: flags.directfs,
        overlay2: flags.overlay2,
        network: flags.network,
    };
    match boot::run(args) {
        Ok(exit) => {
            tracing::info!(?exit, "sandbox ended");
            Ok(exit.shell_status())
        }
        Err(e) => {
            tracing::info!("boot failed: {e}");
            let status = e.exit_status();
            Err(Failure {
                error: e.into(),
                status,
            })
        }
    }
}

fn gofer(flags: GoferFlags) -> anyhow::Result<()> {
    // The log file is opened before the jail hides the host's paths.
    logging::init(flags.debug_log.as_deref(), tracing::Level::WARN)?;
    gofer::run(gofer::GoferArgs {
        bundle: flags.bundle,
        io_fds: flags.io_fds,
        directfs: flags.directfs,
    })?;
    Ok(())
}
