#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exmdbd::search::fuzz_criteria(data);
});
