//! The vigil runtime: the sandbox lifecycle on the host ([`sandbox`], shared
//! by the `vigil` CLI and the containerd shim), the `run` verb, and the
//! entry point of the sentry process ([`boot`]), and the host side of a
//! container's terminal ([`console`]). The gofer's entry point is
//! the `gofer` crate.

pub mod boot;
pub mod bundle;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod control;
pub mod features;
pub mod launch;
pub mod logging;
pub mod pod;
pub mod run;
pub mod sandbox;
pub mod state;
