//! Every structure error of a configuration document, not only the first.
//!
//! serde stops at the first key of the wrong type or name, so a ministry whose service had
//! three such keys learned of them in three rounds (`check`, or the admin API's 422): the
//! offending key is taken out of the document and the rest read again, until it reads or
//! what is wrong cannot be taken out (a missing key, an item of a list, whose removal would
//! renumber the others), at most [`MAX_STRUCTURE_ERRORS`] times.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

/// The most structure errors reported for one document: enough for any hand-made mistake,
/// and a bound on the re-reads a hostile document of thousands of wrong keys costs.
pub const MAX_STRUCTURE_ERRORS: usize = 20;

/// One structure error: the dotted key path (`upstream.timeouts.connect`; empty for the
/// document itself) and what serde says is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureError {
    pub field: String,
    pub reason: String,
}

/// `doc` read as a `T`, or its structure errors (at least one), in the order of their keys
/// (a JSON document's keys are kept sorted).
pub fn read<T: DeserializeOwned>(doc: &serde_json::Value) -> Result<T, Vec<StructureError>> {
    let mut errors: Vec<StructureError> = Vec::new();
    let mut doc = std::borrow::Cow::Borrowed(doc);
    loop {
        let e = match serde_path_to_error::deserialize::<_, T>(doc.as_ref()) {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => return Err(errors),
            Err(e) => e,
        };
        let path = e.path().clone();
        let error = StructureError {
            field: field_of(&path),
            reason: e.into_inner().to_string(),
        };
        // A key that is missing stays missing: nothing more is learned by reading on.
        let removable = !error.reason.starts_with("missing field")
            && !errors.iter().any(|seen| seen.field == error.field);
        errors.push(error);
        if !removable || errors.len() >= MAX_STRUCTURE_ERRORS || !remove(doc.to_mut(), &path) {
            return Err(errors);
        }
    }
}

/// A path as the configuration's errors name keys: `upstream.url[1].weight`, empty for the
/// document.
pub fn field_of(path: &serde_path_to_error::Path) -> String {
    let path = path.to_string();
    if path == "." {
        String::new()
    } else {
        path
    }
}

/// Takes the key at `path` out of `doc`: whether there was one to take (a path ending in a
/// list's item, or passing through an enum, is left alone).
fn remove(doc: &mut serde_json::Value, path: &serde_path_to_error::Path) -> bool {
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((Segment::Map { key }, parents)) = segments.split_last() else {
        return false;
    };
    let mut at = doc;
    for segment in parents {
        let next = match segment {
            Segment::Map { key } => at.get_mut(key.as_str()),
            Segment::Seq { index } => at.get_mut(*index),
            Segment::Enum { .. } | Segment::Unknown => None,
        };
        let Some(next) = next else {
            return false;
        };
        at = next;
    }
    at.as_object_mut()
        .is_some_and(|map| map.remove(key.as_str()).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        port: Option<u16>,
        inner: Option<Inner>,
        list: Option<Vec<u8>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        size: Option<u32>,
    }

    fn fields(doc: serde_json::Value) -> Vec<String> {
        read::<Doc>(&doc)
            .expect_err("refused")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn every_key_of_the_wrong_type_or_name_is_named_at_once() {
        let doc = serde_json::json!({
            "name": "x", "port": "eighty", "inner": { "size": -1, "colour": 1 }, "extra": true
        });
        assert_eq!(
            fields(doc),
            ["extra", "inner.colour", "inner.size", "port"],
            "in the order of their keys"
        );
    }

    #[test]
    fn a_missing_key_ends_the_reading_without_an_echo_of_its_parent() {
        let doc = serde_json::json!({ "port": "eighty" });
        let errors = read::<Doc>(&doc).expect_err("refused");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[1].reason.starts_with("missing field `name`"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_wrong_item_of_a_list_is_named_and_the_reading_ends_there() {
        let doc = serde_json::json!({ "name": "x", "list": [1, "two", "three"], "port": "p" });
        assert_eq!(
            fields(doc),
            ["list[1]"],
            "the items after it are not renumbered"
        );
    }

    #[test]
    fn a_document_of_many_wrong_keys_costs_a_bounded_number_of_readings() {
        let mut doc = serde_json::json!({ "name": "x" });
        for i in 0..1000 {
            doc[format!("k{i}")] = serde_json::json!(i);
        }
        assert_eq!(fields(doc).len(), MAX_STRUCTURE_ERRORS);
    }

    #[test]
    fn a_good_document_reads() {
        let doc = serde_json::json!({ "name": "x", "port": 80, "inner": { "size": 3 } });
        assert!(read::<Doc>(&doc).is_ok());
    }
}
