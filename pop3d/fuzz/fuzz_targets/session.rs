//! Fuzz a whole POP3 session (framing, SASL, state machine) over the in-memory maildrop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pop3d::fuzzing::session(data);
});
