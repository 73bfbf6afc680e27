//! Recovery must never panic, whatever the directory holds: arbitrary bytes
//! become segment files, frames, a checkpoint (see the harness), which are
//! opened read-only and writable and read to the end.
#![no_main]

#[path = "../../tests/common/recover_harness.rs"]
mod recover_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recover_harness::run(data);
});
