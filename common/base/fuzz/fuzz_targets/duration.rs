#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gromox_base::fuzzing::duration(data));
