//! Every structure error of a configuration document, not only the first.
//!
//! serde stops at the first key of the wrong type or name, so a ministry whose service had
//! three such keys learned of them in three rounds (`check`, or the admin API's 422): the
//! offending key is taken out of the document and the rest read again, at most
//! [`MAX_STRUCTURE_ERRORS`] times. serde names a missing key only once every key beside it
//! was read, so a table missing one (or missing one this reading took out) is taken out in
//! turn and the reading goes on; it ends at an item of a list, whose removal would renumber
//! the others. Messages never quote the value written ([`without_values`]).

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
    // The keys this reading took out, as their dotted paths.
    let mut removed: Vec<String> = Vec::new();
    let mut doc = std::borrow::Cow::Borrowed(doc);
    for _ in 0..MAX_STRUCTURE_ERRORS * 4 {
        let e = match serde_path_to_error::deserialize::<_, T>(doc.as_ref()) {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => return Err(errors),
            Err(e) => e,
        };
        let path = e.path().clone();
        let field = field_of(&path);
        let reason = without_values(&e.into_inner().to_string());
        let missing = missing_field(&reason).map(|name| joined(&field, name));
        // A key this reading took out is not missing from what was written.
        if !missing.as_ref().is_some_and(|key| removed.contains(key)) {
            if errors
                .iter()
                .any(|seen| seen.field == field && seen.reason == reason)
            {
                return Err(errors);
            }
            errors.push(StructureError {
                field: field.clone(),
                reason,
            });
        }
        if errors.len() >= MAX_STRUCTURE_ERRORS || field.is_empty() {
            break;
        }
        // A wrong key goes; so does a table missing one (every key in it was read).
        if !remove(doc.to_mut(), &path) {
            break;
        }
        removed.push(field);
    }
    if errors.is_empty() {
        errors.push(StructureError {
            field: String::new(),
            reason: "the document does not read as a service".into(),
        });
    }
    Err(errors)
}

/// `field.name`, or `name` for the document's own.
fn joined(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_string()
    } else {
        format!("{field}.{name}")
    }
}

/// The key a "missing field `x`" message names.
fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.split('`').next()
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

/// serde's `message` without the value it quotes: "invalid type: string \"http://svc:
/// hunter2@…\", expected a table" says only "invalid type: string, expected a table".
/// Found in a bypass probe: a Redis URL with its password, an LLM key and an admin key
/// written where a table or list belongs were quoted back by `check` and the admin API.
pub fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = ["invalid type: ", "invalid value: "]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
        .min()
    {
        let (start, len) = at;
        out.push_str(&rest[..start + len]);
        rest = &rest[start + len..];
        // The kind (`string`, `integer`, `floating point`...), then the value: a string in
        // quotes with escapes, anything else in backticks.
        let Some(open) = rest.find([' ', ',']) else {
            break;
        };
        let (kind, after) = rest.split_at(open);
        out.push_str(kind);
        rest = match after.strip_prefix(" \"") {
            Some(quoted) => after_quoted(quoted),
            None => match after.strip_prefix(" `") {
                Some(ticked) => ticked.find('`').map_or("", |end| &ticked[end + 1..]),
                None => after,
            },
        };
    }
    out.push_str(rest);
    out
}

/// What follows a Rust-escaped string's closing quote (`quoted` starts after its opening
/// one); nothing if it has none.
fn after_quoted(quoted: &str) -> &str {
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return &quoted[i + 1..],
            _ => {}
        }
    }
    ""
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
    fn a_missing_key_is_named_once() {
        let doc = serde_json::json!({ "port": "eighty" });
        let errors = read::<Doc>(&doc).expect_err("refused");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[1].reason.starts_with("missing field `name`"),
            "{errors:?}"
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Service {
        upstream: Upstream,
        zone: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Upstream {
        url: String,
        host: Option<String>,
    }

    /// Found in a bypass probe: a required key of the wrong type was named twice, the
    /// second time as missing, and the keys after its table were never read.
    #[test]
    fn a_required_key_of_the_wrong_type_is_not_also_missing_and_hides_nothing_after_it() {
        let doc = serde_json::json!({ "upstream": { "url": 5, "host": 7 }, "zone": "z" });
        let errors = read::<Service>(&doc).expect_err("refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["upstream.host", "upstream.url", "zone"],
            "{errors:?}"
        );
        assert!(
            errors.iter().all(|e| !e.reason.contains("missing")),
            "{errors:?}"
        );
    }

    /// Found in a bypass probe: a Redis URL with its password, written where a table
    /// belongs, was quoted back.
    #[test]
    fn no_message_quotes_the_value_written() {
        let doc = serde_json::json!({
            "upstream": "redis://:hunter2@10.0.0.5:6379/?t=\"a, expected b\"",
            "zone": 98765432
        });
        let errors = read::<Service>(&doc).expect_err("refused");
        let text = format!("{errors:?}");
        assert!(
            !text.contains("hunter2")
                && !text.contains("98765432")
                && !text.contains("a, expected"),
            "{text}"
        );
        assert!(
            text.contains("invalid type: string, expected struct Upstream"),
            "{text}"
        );
        assert!(
            text.contains("invalid value: integer, expected u8"),
            "{text}"
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
