#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventd::fuzzing::command(data));
