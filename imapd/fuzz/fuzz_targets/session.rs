//! Fuzz a whole logged-in IMAP session over the in-memory store.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = imapd::fuzzing::session(data);
});
