//! End-to-end tests of vigil against runc: the same container, run from the
//! same OCI bundle under both runtimes, must print the same stdout and exit
//! with the same code. Linux behind runc is the specification.
//!
//! The library is test support only (no product code): [`setup`] prepares
//! the host packages, the root file systems and the C test programs;
//! [`harness`] writes bundles and runs a runtime with a deadline; [`case`]
//! holds the case model and the check. The cases themselves are data in
//! `tests/differential/`, one `#[test]` each.
//!
//! The same differential idea, one level up: `tests/clients/` drives the
//! real clients (podman, ctr through containerd's runc shim, Docker) with
//! runc and then vigil as the runtime and compares what the client commands
//! printed and returned. [`image`] builds the image they load, [`clients`]
//! starts and tears down private instances of them.
//!
//! # Running
//!
//! Everything here needs root (runc creates namespaces and cgroups).
//!
//! ```sh
//! cargo nextest run -p integration        # or: cargo test -p integration
//! cargo nextest run -p integration --test clients   # the clients only
//! ```
//!
//! Each case runs under runc and under vigil, which must print the same
//! stdout, exit with the same code and (for bind mounts) leave the same host
//! directory contents as runc; runc's output must also match what the case
//! recorded. stderr may differ and is shown when a case fails.
//!
//! ```sh
//! VIGIL_DIFFERENTIAL=0 cargo nextest run -p integration   # runc only
//! ```
//!
//! The `vigil` binary is built by `cargo build -p runtime` in the tests'
//! profile before the first vigil run, or taken from `VIGIL_BIN`.
//!
//! Other switches:
//! - `VIGIL_RECORD=1`: run under runc and write each case's output as the
//!   builder calls that expect it to `target/vigil-rootfs/record/`, for
//!   recording a new case (review before pasting: output must not depend on
//!   the host).
//! - `VIGIL_REQUIRE_DEBIAN=1`: fail, rather than skip, Debian cases when
//!   the Debian root file system cannot be built.
//! - `VIGIL_DEBIAN_RETRY=1`: retry debootstrap now although it failed in
//!   the last ten minutes; `VIGIL_DEBIAN_MIRROR`, and
//!   `VIGIL_DEBOOTSTRAP_TIMEOUT_SECS` (default 1200), tune it.
//!
//! The first run installs what is missing (runc, busybox-static,
//! debootstrap, gcc; podman, containerd and docker.io for the client
//! tests), builds the busybox root file system and runs
//! debootstrap (under a minute with a nearby mirror); later runs reuse all
//! of it from `target/vigil-rootfs/`.

pub mod case;
pub mod clients;
pub mod harness;
pub mod image;
pub mod process;
pub mod setup;
