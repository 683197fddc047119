//! Fuzz a whole HTTP session without sockets: framing, routing, AutoDiscover, autoconfig, auth.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    httpd::fuzzing::session(data);
});
