//! Fuzz the IMAP command framer and parser (literals, continuations, every command).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = imapd::fuzzing::command(data);
});
