//! `vigil`: the OCI runtime CLI, and the hidden entry points of the sandbox
//! processes it starts. Each command parses its flags here and delegates to
//! the library (or the gofer crate) that does the work.

use anyhow::{anyhow, bail, Context};
use clap::{ArgAction, Args, Parser, Subcommand};
use oci_spec::runtime::Process;
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_runtime::container::{self, CreateArgs, Runtime};
use vigil_runtime::sandbox::{Network, Options};
use vigil_runtime::{boot, features, logging, run};

/// Set once the CLI logs to a file (`--log`): errors go there too.
static LOG_FILE: std::sync::OnceLock<()> = std::sync::OnceLock::new();

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
    #[command(flatten)]
    Standard(liboci_cli::StandardCmd),
    /// Create and run a container.
    Run(liboci_cli::Run),
    /// Run a new process in a running container.
    Exec(liboci_cli::Exec),
    /// List the processes of a container.
    Ps(liboci_cli::Ps),
    /// List the containers under the root.
    List(liboci_cli::List),
    /// Suspend all processes of a container.
    Pause(liboci_cli::Pause),
    /// Resume a paused container.
    Resume(liboci_cli::Resume),
    /// Show a container's resource usage.
    Events(liboci_cli::Events),
    /// Show what this runtime supports.
    Features(liboci_cli::Features),
    /// Write a new default config.json.
    Spec(liboci_cli::Spec),
    /// Run a sandbox's sentry (started by vigil itself).
    #[command(hide = true)]
    Boot(BootFlags),
    /// Serve a container's file systems over lisafs from inside a jail
    /// (started by vigil itself).
    #[command(hide = true)]
    Gofer(GoferFlags),
    /// Wait for a container that joined a pod's sandbox and exit with its
    /// status (started by vigil itself).
    #[command(hide = true)]
    Waiter(WaiterFlags),
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
    /// Inherited listening socket of the control API.
    #[arg(long, value_name = "FD", requires = "fds_fd")]
    control_fd: Option<i32>,
    /// Inherited listening socket for FD hand-overs.
    #[arg(long, value_name = "FD", requires = "control_fd")]
    fds_fd: Option<i32>,
    /// Init waits for the control API's Start.
    #[arg(long, requires = "control_fd")]
    wait_start: bool,
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
    /// The hostname, when the spec has none: that of the UTS namespace the
    /// spec joins (a pod's).
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Write a debug log to this file (warnings go to stderr otherwise).
    #[arg(long, value_name = "FILE")]
    debug_log: Option<PathBuf>,
}

#[derive(Args)]
struct WaiterFlags {
    /// The pod's sandbox container.
    sandbox: String,
    /// The container that joined its sandbox.
    id: String,
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
        // The sentry's errors read like runc's own ("unable to start
        // container process: ...").
        Command::Boot(flags) => ("", boot_sentry(flags)),
        Command::Gofer(flags) => ("gofer: ", gofer(flags).map(|()| 0).map_err(Failure::from)),
        command => {
            // A CLI whose output pipe closes (`vigil list | head`) ends
            // quietly, as other command-line tools do.
            // SAFETY: restores a default disposition; no handler involved.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            ("", cli_command(cli.global, cli.sandbox, command))
        }
    };
    match result {
        Ok(status) => ExitCode::from(status as u8),
        Err(Failure { error, status }) => {
            // To the log file, where runc's callers look for it, and to
            // stderr.
            if LOG_FILE.get().is_some() {
                tracing::error!("{what}{error:#}");
            }
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

/// The runc verbs.
fn cli_command(
    global: liboci_cli::GlobalOpts,
    sandbox: SandboxFlags,
    command: Command,
) -> Result<i32, Failure> {
    let json = match global.log_format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(anyhow!("invalid log format {other:?}: text or json").into());
        }
    };
    logging::init_cli(global.log.as_deref(), json, global.debug)?;
    if global.log.is_some() {
        let _ = LOG_FILE.set(());
    }
    // The sandbox always pivots (the sentry into an empty root, the gofer
    // into the rootfs) and uses no keyring: --no-pivot and --no-new-keyring
    // are accepted for runc compatibility and change nothing. Cgroup paths
    // in systemd's form are placed under cgroupfs directly.
    tracing::debug!(systemd_cgroup = global.systemd_cgroup, "vigil");
    let rt = Runtime {
        root: global.root.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        options: Options {
            debug_log: sandbox.debug_log,
            strace: sandbox.strace,
            directfs: sandbox.directfs,
            overlay2: sandbox.overlay2,
            network: sandbox.network,
            systemd_cgroup: global.systemd_cgroup,
            vigil_binary: None,
        },
    };
    use liboci_cli::StandardCmd;
    match command {
        Command::Standard(StandardCmd::Create(f)) => {
            no_preserved_fds(f.preserve_fds)?;
            container::create(
                &rt,
                &CreateArgs {
                    id: &f.container_id,
                    bundle: &f.bundle,
                    pid_file: f.pid_file.as_deref(),
                    console_socket: f.console_socket.as_deref(),
                    terminal: None,
                },
            )?;
            Ok(0)
        }
        Command::Standard(StandardCmd::Start(f)) => {
            container::start(&rt, &f.container_id)?;
            Ok(0)
        }
        Command::Standard(StandardCmd::State(f)) => {
            let state = container::state(&rt, &f.container_id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        Command::Standard(StandardCmd::Kill(f)) => {
            let signal = container::parse_signal(&f.signal)?;
            container::kill(&rt, &f.container_id, signal, f.all)?;
            Ok(0)
        }
        Command::Standard(StandardCmd::Delete(f)) => {
            container::delete(&rt, &f.container_id, f.force)?;
            Ok(0)
        }
        Command::Run(f) => {
            no_preserved_fds(f.preserve_fds)?;
            let args = CreateArgs {
                id: &f.container_id,
                bundle: &f.bundle,
                pid_file: f.pid_file.as_deref(),
                console_socket: f.console_socket.as_deref(),
                terminal: None,
            };
            run::run(&rt, &args, f.detach).map_err(|error| {
                // A container whose init could not start ends `run` with
                // the sentry's status, as a shell reports a missing program.
                let status = match error.downcast_ref::<container::InitFailed>() {
                    Some(failed) if !f.detach => failed.status,
                    _ => 1,
                };
                Failure { error, status }
            })
        }
        Command::Exec(f) => {
            no_preserved_fds(f.preserve_fds)?;
            let process = exec_process(&rt, &f)?;
            Ok(container::exec(
                &rt,
                container::ExecArgs {
                    id: f.container_id,
                    process,
                    detach: f.detach,
                    pid_file: f.pid_file,
                    console_socket: f.console_socket,
                },
            )?)
        }
        Command::Ps(f) => {
            let pids = container::host_pids(&rt, &f.container_id)?;
            match f.format.as_str() {
                "json" => println!("{}", serde_json::to_string(&pids)?),
                "table" => print_ps_table(&pids, &f.ps_options)?,
                other => return Err(anyhow!("invalid format option {other:?}").into()),
            }
            Ok(0)
        }
        Command::List(f) => {
            let states = container::list(&rt)?;
            match (f.format.as_str(), f.quiet) {
                (_, true) => states.iter().for_each(|s| println!("{}", s.id)),
                ("json", _) => println!("{}", serde_json::to_string(&states)?),
                ("table", _) => print_list_table(&states),
                (other, _) => return Err(anyhow!("invalid format option {other:?}").into()),
            }
            Ok(0)
        }
        Command::Pause(f) => {
            container::pause(&rt, &f.container_id)?;
            Ok(0)
        }
        Command::Resume(f) => {
            container::resume(&rt, &f.container_id)?;
            Ok(0)
        }
        Command::Events(f) if f.stats => {
            let event = container::stats(&rt, &f.container_id)?;
            println!("{}", serde_json::to_string(&event)?);
            Ok(0)
        }
        Command::Events(f) => {
            let interval = std::time::Duration::from_secs(u64::from(f.interval.max(1)));
            container::events(&rt, &f.container_id, interval, |line| println!("{line}"))?;
            Ok(0)
        }
        Command::Features(_) => {
            println!("{}", serde_json::to_string_pretty(&features::features())?);
            Ok(0)
        }
        Command::Spec(f) => {
            features::write_default_spec(f.bundle.as_deref(), f.rootless)?;
            Ok(0)
        }
        Command::Waiter(f) => Ok(vigil_runtime::pod::wait(&rt, &f.sandbox, &f.id)),
        Command::Boot(_) | Command::Gofer(_) => unreachable!("handled in main"),
    }
}

/// `--preserve-fds` passes extra FDs to the container, which vigil's
/// sentry does not take yet.
fn no_preserved_fds(n: i32) -> anyhow::Result<()> {
    if n != 0 {
        bail!("--preserve-fds is not supported");
    }
    Ok(())
}

/// The process `vigil exec` runs: `--process FILE`, or the container's own
/// process with the command line and the flags applied (as runc does).
fn exec_process(rt: &Runtime, f: &liboci_cli::Exec) -> anyhow::Result<Process> {
    if let Some(path) = &f.process {
        let file = std::fs::File::open(path)
            .with_context(|| format!("open process file {}", path.display()))?;
        return serde_json::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("parse process file {}", path.display()));
    }
    if f.command.is_empty() {
        bail!("exec: no command given");
    }
    let c = container::Container::load(rt, &f.container_id)?;
    let config = c.record.bundle.join("config.json");
    let spec = oci_spec::runtime::Spec::load(&config)
        .with_context(|| format!("load {}", config.display()))?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(f.command.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(f.env.iter().map(|(k, v)| format!("{k}={v}")));
    p.set_env(Some(env));
    if let Some(cwd) = &f.cwd {
        p.set_cwd(cwd.clone());
    }
    p.set_terminal(Some(f.tty));
    if let Some((uid, gid)) = f.user {
        let mut user = p.user().clone();
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(0));
        p.set_user(user);
    }
    if !f.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(f.additional_gids.clone()));
        p.set_user(user);
    }
    if !f.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let mut effective = caps.effective().clone().unwrap_or_default();
        for name in &f.cap {
            let cap = name
                .parse()
                .map_err(|_| anyhow!("unknown capability {name:?}"))?;
            effective.insert(cap);
        }
        caps.set_effective(Some(effective));
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// `ps`'s table: the host's `ps` output (`-ef` unless options are given),
/// cut to the container's processes, as runc prints it.
fn print_ps_table(pids: &[i32], options: &[String]) -> anyhow::Result<()> {
    let args: Vec<String> = if options.is_empty() {
        vec!["-ef".into()]
    } else {
        options.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!("ps: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|c| c == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}

/// `list`'s table, in runc's columns.
fn print_list_table(states: &[container::OciState]) {
    let rows: Vec<[String; 6]> = states
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.clone(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("   ").trim_end());
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
        control_fds: flags.control_fd.zip(flags.fds_fd),
        wait_start: flags.wait_start,
        strace: flags.strace,
        terminal: flags.terminal,
        directfs: flags.directfs,
        overlay2: flags.overlay2,
        network: flags.network,
        hostname: flags.hostname,
    };
    match boot::run(args) {
        Ok(exit) => {
            tracing::info!(?exit, "sandbox ended");
            Ok(exit.shell_status())
        }
        Err(boot::Failure { error, reported }) => {
            tracing::info!("boot failed: {error}");
            let status = error.exit_status();
            if reported {
                // The runtime that started this sentry says why.
                return Ok(status);
            }
            Err(Failure {
                error: error.into(),
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
