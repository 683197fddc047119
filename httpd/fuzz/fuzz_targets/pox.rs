//! Fuzz the AutoDiscover POX request parser (DTDs and entities refused).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    httpd::fuzzing::pox(data);
});
