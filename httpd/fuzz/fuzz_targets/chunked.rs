//! Fuzz the chunked transfer-coding decoder (incremental equals whole).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    httpd::fuzzing::chunked(data);
});
