//! Fuzz the POP3 command parser: every line of the input is parsed; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pop3d::fuzzing::command(data);
});
