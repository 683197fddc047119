//! Fuzz the PROXY protocol v1/v2 header parser.
#![no_main]

use gromox_runtime::proxy::{parse_proxy_header, ProxyHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ProxyHeader::Done { len, .. }) = parse_proxy_header(data) {
        assert!(len <= data.len());
    }
    // A prefix of valid input is never rejected when the whole was accepted.
    if let Ok(ProxyHeader::Done { len, .. }) = parse_proxy_header(data) {
        for i in 0..len {
            assert!(parse_proxy_header(&data[..i]).is_ok());
        }
    }
});
