//! Random citizen text through the redaction that runs before anything is sent to the LLM.
//!
//! Nothing may panic (digit runs of any length, dates of any shape, any script); each
//! placeholder in the output stands for one thing found, and the text sent to the LLM keeps
//! them.

#![no_main]

use egov_gateway::assist::redact::redact;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let r = redact(text);
    let placeholders = [
        "[CIN]", "[PHONE]", "[EMAIL]", "[CNSS]", "[RIB]", "[IBAN]", "[CARD]", "[NAME]",
        "[PASSPORT]", "[DATE]",
    ];
    let input_has = placeholders.iter().map(|p| text.matches(p).count()).sum::<usize>();
    let output_has = placeholders.iter().map(|p| r.text.matches(p).count()).sum::<usize>();
    assert!(output_has >= r.found.len(), "{text:?} -> {:?}", r.text);
    assert!(output_has <= r.found.len() + input_has + r.found.len(), "{text:?}");
    let sent = r.normalized();
    let sent_has = placeholders.iter().map(|p| sent.matches(p).count()).sum::<usize>();
    assert!(sent_has >= r.found.len(), "{text:?} -> {sent:?}");
});
