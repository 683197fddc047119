//! Fuzz target: the MT stream reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gromox_mt::fuzz_stream(data);
});
