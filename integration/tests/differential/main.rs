//! The differential cases: each entry is one `#[test]` that runs a command
//! under runc (and, with `VIGIL_DIFFERENTIAL=1`, under vigil) and checks
//! it as `integration::case` describes. The expected stdout and exit code of
//! every case were recorded from runc (`VIGIL_RECORD=1`) and reviewed so
//! that they depend on nothing host-specific.

mod debian;
mod programs;
mod shell;
