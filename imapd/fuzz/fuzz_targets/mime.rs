//! Fuzz the MIME/RFC 5322 decoders behind FETCH, SORT and THREAD.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = imapd::fuzzing::mime(data);
});
