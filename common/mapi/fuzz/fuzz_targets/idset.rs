#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (name, f) in gromox_mapi::fuzz_entry_points() {
        if name == "idset" {
            f(data);
        }
    }
});
