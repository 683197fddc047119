#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| timerd::fuzzing::command(data));
