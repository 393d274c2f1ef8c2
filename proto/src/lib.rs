//! The sandbox control API (`protos/sandbox.proto`): generated rust-protobuf
//! messages and the ttrpc client and server traits. The CLI and the shim
//! speak it to the sentry; both convert at the edge, so no other crate's
//! logic sees these types.

/// The messages.
#[allow(
    unknown_lints,
    clippy::all,
    unused_attributes,
    unused_imports,
    unused_mut,
    unused_results,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    trivial_casts,
    missing_docs
)]
pub mod sandbox {
    include!(concat!(env!("OUT_DIR"), "/sandbox.rs"));
}

/// The ttrpc client (`SandboxClient`) and server trait (`Sandbox`).
#[allow(
    unknown_lints,
    clippy::all,
    unused_imports,
    unused_results,
    non_camel_case_types,
    non_snake_case,
    missing_docs
)]
pub mod sandbox_ttrpc {
    include!(concat!(env!("OUT_DIR"), "/sandbox_ttrpc.rs"));
}
