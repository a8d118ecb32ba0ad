//! OpenAPI documents checked by a real validator: `openapi-spec-validator` (PyPI, installed
//! by `tests/setup.sh`), which validates 3.0 and 3.1 documents against the published schemas.

use crate::scratch::{python, TempDir};
use serde_json::Value;
use std::process::Command;

/// Panics with the validator's report unless `doc` is a valid OpenAPI document.
pub fn assert_valid(doc: &Value) {
    let dir = TempDir::new("openapi");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let out = Command::new(python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator (tests/setup.sh installs it)");
    assert!(
        out.status.success(),
        "the OpenAPI document is not valid:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
