//! Fuzz the FastCGI record parser, CGI header splitter and the rewrite/fastcgi/cache list parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    httpd::fuzzing::fcgi(data);
});
