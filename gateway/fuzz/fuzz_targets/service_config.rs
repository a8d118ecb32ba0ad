//! Random service documents through the validation every ministry's change goes through
//! (the admin API's JSON and the service files' TOML take the same path).
//!
//! Nothing may panic; a document is either refused with at least one error naming a key,
//! or gives a service whose id is the document's and which validates again the same way.

#![no_main]

use egov_gateway::config::{
    service_from_document, Defaults, LegacyHostMode, Localized, Ministry, Timeouts,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = toml::from_str::<toml::Value>(text) else {
        return;
    };
    let Ok(doc) = serde_json::to_value(&value) else {
        return;
    };
    let mut ministries = BTreeMap::new();
    ministries.insert(
        "interior".to_string(),
        Ministry {
            id: "interior".into(),
            names: Localized::default(),
            agencies: BTreeMap::new(),
        },
    );
    let defaults = Defaults {
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(10),
            total: Duration::from_secs(30),
        },
        on_legacy_host: LegacyHostMode::Redirect,
    };
    let file = Path::new("fuzz/interior/x.toml");
    match service_from_document(&doc, file, &ministries, &defaults) {
        Ok(service) => {
            assert_eq!(Some(service.id.as_str()), doc["id"].as_str());
            let again = service_from_document(&doc, file, &ministries, &defaults);
            assert_eq!(again.ok().as_ref(), Some(&service), "validation is not deterministic");
        }
        Err(errors) => assert!(!errors.0.is_empty(), "refused without a reason"),
    }
});
