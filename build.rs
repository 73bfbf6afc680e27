//! Generates `include/fanlog.h` from `src/ffi` with cbindgen (config in
//! `ffi/cbindgen.toml`). The header is committed; it is rewritten only when
//! its content changes, and CI fails when a build changes it.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=ffi/cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    // Loom builds compile a different crate shape; the header is for the
    // shipped library only.
    if std::env::var_os("CARGO_CFG_FANLOG_LOOM").is_some() {
        return;
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let config = match cbindgen::Config::from_file(root.join("ffi/cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            println!("cargo:warning=cannot read ffi/cbindgen.toml: {e}");
            return;
        }
    };
    // Only the extern "C" layer: src/ffi/mod.rs and the modules it declares.
    let builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"));
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => {
            println!("cargo:warning=cbindgen failed, include/fanlog.h not regenerated: {e}");
            return;
        }
    };
    let mut out = Vec::new();
    bindings.write(&mut out);
    let path = root.join("include/fanlog.h");
    if std::fs::read(&path).ok().as_deref() != Some(&out[..]) {
        std::fs::create_dir_all(root.join("include")).expect("create include/");
        std::fs::write(&path, &out).expect("write include/fanlog.h");
    }
}
