#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| midbd::codec::fuzz_answer(data));
