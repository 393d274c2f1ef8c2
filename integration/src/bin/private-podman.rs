//! Runs one podman command, with this process's stdio, against a private
//! and throwaway podman: storage, configuration and temporary files under a
//! new temporary directory, the test image loaded (as
//! `localhost/vigil-busybox:latest`, built from the busybox root file system
//! on first use), everything removed when the command ends. `make demo`
//! uses it to run vigil under podman without touching the machine's podman.
//!
//! ```sh
//! private-podman run --rm --runtime /path/to/vigil --pull=never \
//!     --network=none localhost/vigil-busybox:latest uname -a
//! ```

use std::process::ExitCode;

use integration::clients::Podman;
use integration::process;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let podman = match Podman::new() {
        Ok(podman) => podman,
        Err(why) => {
            eprintln!("private-podman: {why}");
            return ExitCode::FAILURE;
        }
    };
    let status = podman.command(&args).status();
    // Cleans up before exiting: `exit` would skip the guard's drop.
    drop(podman);
    match status {
        Ok(status) => ExitCode::from(process::exit_code(status).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("private-podman: running podman: {e}");
            ExitCode::FAILURE
        }
    }
}
