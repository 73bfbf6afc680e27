//! Runs the Go binding's checks: builds the release static library that
//! `bindings/go` links (`target/release/libfanlog.a`; the build also
//! regenerates `include/fanlog.h`), then `gofmt -l`, `go vet ./...` and
//! `go test -race -count=1 ./...` in `bindings/go`.
//!
//! Without a `go` toolchain on PATH the test prints a `SKIP:` line and
//! passes, unless `FANLOG_REQUIRE_GO=1` is set (CI sets it): then it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `go version`, or why there is no usable toolchain.
fn go_version() -> Result<String, String> {
    match Command::new("go").arg("version").output() {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        // A version-manager shim can exist without a toolchain behind it.
        Ok(out) => Err(format!(
            "`go version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("`go` not runnable: {e}")),
    }
}

/// Builds `target/release/libfanlog.a` in this checkout's `target/` (the
/// path the Go package's `#cgo LDFLAGS` names), unless this test binary is
/// itself a release build there: then cargo built the library with it.
/// The release build uses its own lock (`target/release`), so it does not
/// wait for the `cargo test` that runs us, which holds `target/debug`.
fn build_release_staticlib() {
    let target = root().join("target");
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>
    let lib = target.join("release/libfanlog.a");
    if profile_dir == target.join("release") && lib.exists() {
        return;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--lib"])
        .current_dir(root())
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build --release --lib failed");
    assert!(lib.exists(), "{} was not built", lib.display());
}

/// A hash of the header, passed to cgo as a -D flag. The Go build cache
/// keys a cgo package on the files in its own directory, not on headers it
/// includes from elsewhere (`include/fanlog.h`), so without this a changed
/// header could be compiled against stale cached objects.
fn header_stamp() -> String {
    use std::hash::{Hash, Hasher};
    let header = std::fs::read(root().join("include/fanlog.h")).expect("read include/fanlog.h");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    header.hash(&mut h);
    format!("-DFANLOG_HEADER_STAMP=0x{:016x}", h.finish())
}

/// A stamp of the static library (size and modification time), passed to
/// the Go linker as an `-X` of a variable that does not exist (ignored).
/// The Go build cache does not look at libraries named in `#cgo LDFLAGS`:
/// without this, `go run` and `go build` can reuse a binary linked against
/// an older `libfanlog.a` (`go test` relinks its test binary every time).
fn lib_stamp_ldflags() -> String {
    let lib = root().join("target/release/libfanlog.a");
    let meta = std::fs::metadata(&lib).expect("stat target/release/libfanlog.a");
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("-ldflags=-X=main.fanlogLibStamp={}-{mtime}", meta.len())
}

fn run(dir: &Path, program: &str, args: &[&str], cflags: &str) -> Output {
    println!("$ (cd {}) {program} {}", dir.display(), args.join(" "));
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("CGO_ENABLED", "1")
        .env("CGO_CFLAGS", cflags)
        // go.mod says `go 1.22`; never download a toolchain in a test.
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    print!("{}", String::from_utf8_lossy(&out.stdout));
    print!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn check(dir: &Path, program: &str, args: &[&str], cflags: &str) -> Output {
    let out = run(dir, program, args, cflags);
    assert!(
        out.status.success(),
        "`{program} {}` failed in {} ({})",
        args.join(" "),
        dir.display(),
        out.status
    );
    out
}

#[test]
fn go_binding() {
    let version = match go_version() {
        Ok(v) => v,
        Err(why) => {
            if std::env::var("FANLOG_REQUIRE_GO").as_deref() == Ok("1") {
                panic!("FANLOG_REQUIRE_GO=1 but no Go toolchain: {why}");
            }
            println!("SKIP: go toolchain not found; Go binding tests not run ({why})");
            return;
        }
    };
    println!("{version}");
    build_release_staticlib();

    let dir = root().join("bindings/go");
    let cflags = format!(
        "{} {}",
        std::env::var("CGO_CFLAGS").unwrap_or_else(|_| "-O2 -g".into()),
        header_stamp()
    );

    // gofmt is not always on PATH (Go installed as a pip package, say).
    let goroot = check(&dir, "go", &["env", "GOROOT"], &cflags);
    let gofmt = Path::new(String::from_utf8_lossy(&goroot.stdout).trim()).join("bin/gofmt");
    let unformatted = check(&dir, gofmt.to_str().unwrap(), &["-l", "."], &cflags);
    assert!(
        unformatted.stdout.is_empty(),
        "gofmt -l lists files to format:\n{}",
        String::from_utf8_lossy(&unformatted.stdout)
    );

    let ldflags = lib_stamp_ldflags();
    check(&dir, "go", &["vet", "./..."], &cflags);
    check(
        &dir,
        "go",
        &[
            "test",
            "-race",
            "-count=1",
            "-timeout=10m",
            &ldflags,
            "./...",
        ],
        &cflags,
    );
    // The example program builds and its verified runs pass: batches, and
    // one record per call through a Writer.
    for extra in [&[][..], &["-writer"][..]] {
        let mut args = vec!["run", &ldflags, "./examples/fanout", "-records", "200000"];
        args.extend_from_slice(extra);
        check(&dir, "go", &args, &cflags);
    }
}
