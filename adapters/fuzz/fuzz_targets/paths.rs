//! Random request paths through `paths::clean`, the check that keeps a request inside its
//! service.
//!
//! A path either is refused or comes out clean: still absolute, with no segment that a
//! legacy server would resolve as `.` or `..` (plain, percent-encoded in any case, or with
//! Tomcat's `;` parameters), no encoded separator, no control byte, and cleaning it again
//! changes nothing.

#![no_main]

use egov_adapters::paths::clean;
use libfuzzer_sys::fuzz_target;

/// What a Java or PHP server would make of one segment: percent-decoded dots, parameters
/// dropped.
fn as_a_legacy_server_reads(segment: &str) -> String {
    let without_params = segment.split(';').next().unwrap_or_default();
    without_params
        .to_ascii_lowercase()
        .replace("%2e", ".")
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cleaned) = clean(path) else {
        return;
    };
    assert!(cleaned.starts_with('/'), "{path:?} → {cleaned:?}");
    for segment in cleaned.split('/') {
        let read = as_a_legacy_server_reads(segment);
        assert!(read != "." && read != "..", "{path:?} → {cleaned:?}");
    }
    let lower = cleaned.to_ascii_lowercase();
    assert!(!lower.contains("%2f") && !lower.contains("%5c") && !cleaned.contains('\\'));
    assert!(!cleaned.bytes().any(|b| b < 0x20 || b == 0x7f), "{path:?}");
    assert_eq!(clean(&cleaned).ok().as_deref(), Some(&*cleaned), "not idempotent: {path:?}");
});
