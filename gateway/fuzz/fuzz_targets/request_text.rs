//! Random request targets and `Host` values through what the gateway reads of a request
//! before routing: the host it names (normalised as routing compares it) and the form its
//! path takes in every log line.
//!
//! Nothing may panic; a normalised host has no upper case; a
//! logged path never carries a query value (every `=` is followed by `&` or the end).

#![no_main]

use egov_gateway::host::normalize;
use egov_gateway::telemetry::access_log::summary;
use libfuzzer_sys::fuzz_target;
use pingora_http::RequestHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (host, target) = text.split_once('\n').unwrap_or((text, "/"));
    let normalised = normalize(host);
    assert!(!normalised.bytes().any(|b| b.is_ascii_uppercase()), "{host:?}");
    let Ok(req) = RequestHeader::build("GET", target.as_bytes(), None) else {
        return;
    };
    let line = summary(&req);
    if let Some((_, query)) = line.split_once('?') {
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                assert!(value.is_empty(), "a query value reached the log: {line:?}");
            }
        }
    }
});
