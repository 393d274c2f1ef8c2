//! Runs one `ctr` command, with this process's stdio, against a private and
//! throwaway containerd: its configuration, state and content under a new
//! temporary directory, the test image imported (as
//! `localhost/vigil-busybox:latest`, built from the busybox root file
//! system on first use), and `SHIM_DIR` first on its PATH, where it looks
//! for `containerd-shim-NAME-v2` when asked for runtime
//! `io.containerd.NAME.v2`. Everything is removed when the command ends.
//! `make demo` uses it to run a container through containerd with vigil's
//! shim without touching the machine's containerd.
//!
//! ```sh
//! private-ctr SHIM_DIR run --rm --runtime io.containerd.vigil.v2 \
//!     localhost/vigil-busybox:latest demo uname -a
//! ```
//!
//! For `run`, the stdio FIFOs go under the private directory too.

use std::path::PathBuf;
use std::process::ExitCode;

use integration::clients::Containerd;
use integration::process;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(shims) = args.next().map(PathBuf::from) else {
        eprintln!("usage: private-ctr SHIM_DIR CTR-ARGS...");
        return ExitCode::FAILURE;
    };
    let mut args: Vec<String> = args.collect();
    let containerd = match Containerd::with_shims(&shims) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("private-ctr: {why}");
            return ExitCode::FAILURE;
        }
    };
    if args.first().map(String::as_str) == Some("run") {
        args.splice(1..1, containerd.fifo_flags());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let status = containerd.ctr(&args).status();
    // Stops containerd and cleans up before exiting: `exit` would skip the
    // guard's drop.
    drop(containerd);
    match status {
        Ok(status) => ExitCode::from(process::exit_code(status).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("private-ctr: running ctr: {e}");
            ExitCode::FAILURE
        }
    }
}
