//! Fuzz HTTP request heads (pipelined), body framing, Range, Authorization and percent-decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    httpd::fuzzing::request(data);
});
