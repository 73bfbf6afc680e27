//! Builds every C test in `ffi/tests/` against the static library with
//! AddressSanitizer and UndefinedBehaviorSanitizer, runs it, and checks that
//! the header compiles cleanly as C11 and C++17 with `-Wall -Wextra -Werror`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The static library of the profile this test was built with (cargo builds
/// it alongside the test, since the crate lists `staticlib`).
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>
    let lib = profile_dir.join("libfanlog.a");
    if !lib.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--lib"]).current_dir(root());
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "cargo build --lib failed");
    }
    lib
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn compile(src: &Path, out: &Path, extra: &[&str]) {
    let status = Command::new(cc())
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-O1",
        ])
        .args(extra)
        .arg("-I")
        .arg(root().join("include"))
        .arg(src)
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out)
        .status()
        .expect("a C compiler (cc) is needed for the C-ABI tests");
    assert!(status.success(), "compiling {} failed", src.display());
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_c_test(name: &str) {
    let src = root().join("ffi/tests").join(format!("{name}.c"));
    let exe = out_dir().join(name);
    compile(
        &src,
        &exe,
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let out = Command::new(&exe)
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    print!("{stdout}");
}

#[test]
fn c_log_api() {
    run_c_test("test_log_api");
}

#[test]
fn c_log_threads() {
    run_c_test("test_log_threads");
}

#[test]
fn c_hub_api() {
    run_c_test("test_hub_api");
}

#[test]
fn c_snapshot_api() {
    run_c_test("test_snapshot_api");
}

#[test]
fn c_store_api() {
    run_c_test("test_store_api");
}

#[test]
fn header_compiles_as_c11_and_cxx17() {
    let dir = out_dir();
    let c = dir.join("header.c");
    std::fs::write(&c, "#include \"fanlog.h\"\nint main(void) { return fanlog_abi_version() == FANLOG_ABI_VERSION ? 0 : 1; }\n").unwrap();
    compile(&c, &dir.join("header-c"), &[]);
    let cpp = dir.join("header.cpp");
    std::fs::write(&cpp, "#include \"fanlog.h\"\nint main() { return fanlog_abi_version() == FANLOG_ABI_VERSION ? 0 : 1; }\n").unwrap();
    let status = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-I",
        ])
        .arg(root().join("include"))
        .arg(&cpp)
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(dir.join("header-cpp"))
        .status()
        .expect("a C++ compiler is needed");
    assert!(status.success(), "header does not compile as C++17");
    assert!(Command::new(dir.join("header-c"))
        .status()
        .unwrap()
        .success());
    assert!(Command::new(dir.join("header-cpp"))
        .status()
        .unwrap()
        .success());
}
