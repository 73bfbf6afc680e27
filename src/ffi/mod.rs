//! The C ABI (see `include/fanlog.h`). Grows with the C-ABI issue; for now
//! the version entry points that let a binding check it matches its header.

/// Version of the C ABI described by `include/fanlog.h`. A binding compares
/// it with the `FANLOG_ABI_VERSION` it was compiled against.
pub const FANLOG_ABI_VERSION: u32 = 1;

/// Returns the ABI version of the linked library (`FANLOG_ABI_VERSION`).
///
/// Thread-safe, never blocks, never fails.
#[unsafe(no_mangle)]
pub extern "C" fn fanlog_abi_version() -> u32 {
    FANLOG_ABI_VERSION
}

/// Returns the library version as a static NUL-terminated string
/// (e.g. `"0.1.0"`). The pointer is valid for the life of the process; do
/// not free it.
///
/// Thread-safe, never blocks, never fails.
#[unsafe(no_mangle)]
pub extern "C" fn fanlog_version_string() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
