//! Generates the rust-protobuf messages and the ttrpc client and server of
//! `protos/sandbox.proto` into `OUT_DIR` (pure Rust: no `protoc` needed).

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=protos/sandbox.proto");
    ttrpc_codegen::Codegen::new()
        .out_dir(&out)
        .inputs(["protos/sandbox.proto"])
        .include("protos")
        .rust_protobuf()
        .run()
        .expect("generate the sandbox control API");
    // The generated files open with inner attributes (`#![allow(...)]`),
    // which `include!` cannot take; `lib.rs` puts them on the modules.
    for name in ["sandbox.rs", "sandbox_ttrpc.rs"] {
        let path = Path::new(&out).join(name);
        let text = std::fs::read_to_string(&path).expect("read generated code");
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                !l.starts_with("#![") && !l.starts_with("//!")
            })
            .collect();
        std::fs::write(&path, kept.join("\n")).expect("write generated code");
    }
}
