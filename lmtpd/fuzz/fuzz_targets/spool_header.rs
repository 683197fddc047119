#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lmtpd::fuzzing::spool_header(data));
