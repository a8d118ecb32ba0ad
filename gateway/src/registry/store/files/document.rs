//! A service file as a document: its TOML read as JSON, checked against its place, with
//! secrets written in it dropped, and written back as TOML.

use super::Index;
use crate::config::toml_problem;
use crate::registry::store::{diff, now, Action, Change};
use serde_json::Value;
use std::collections::HashMap;

/// `document` if it is the service its file's place names: its `id` the file's name, its
/// `ministry` the directory's. Anything else is not taken in, so never stored, served or
/// written to the history: a ministry that linked `gateway.toml` (or another ministry's
/// file) into its own directory read it back through the admin API, admin keys' hashes
/// included (found when tried).
pub(super) fn placed(document: Value, id: &str, ministry: &str) -> Result<Value, String> {
    let field = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (field("id"), field("ministry")) {
        (Some(i), Some(m)) if i == id && m == ministry => Ok(document),
        (i, m) => Err(format!(
            "names id {} and ministry {}; a service file's id is its file name ({id:?}) and its ministry its directory ({ministry:?})",
            i.map_or("none".into(), |i| format!("{i:?}")),
            m.map_or("none".into(), |m| format!("{m:?}")),
        )),
    }
}

/// The ministry whose file has `id` when `ministry`'s file with the same id is not the one
/// that counts: the one the registry already knows it from, or, for an id new to it, any
/// other (neither is taken until one is gone).
pub(super) fn claimed_elsewhere<'a>(
    places: &HashMap<&str, Vec<&'a str>>,
    index: &'a Index,
    id: &str,
    ministry: &str,
) -> Option<&'a str> {
    let here = places.get(id)?;
    if here.len() < 2 {
        return None;
    }
    match index.services.get(id) {
        Some(k) if k.ministry == ministry => None,
        Some(k) if here.contains(&k.ministry.as_str()) => Some(k.ministry.as_str()),
        _ => here.iter().copied().find(|m| *m != ministry),
    }
}

/// A service file's document: its TOML as JSON.
/// A TOML problem says where, on one line (as `check` does): `line 3, column 7: ...`.
pub fn document_of(text: &str) -> Result<Value, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| toml_problem(text, &e))?;
    let mut document = serde_json::to_value(value).map_err(|e| e.to_string())?;
    drop_written_secrets(&mut document);
    Ok(document)
}

/// What stands in a document for a secret written in its file where a reference belongs.
pub const WRITTEN_SECRET: &str = "(a secret written in the file: never kept)";

/// Replaces every secret an adapter step holds as written (`password = "..."`, or `{ value
/// = "..." }`, which only the API takes) with [`WRITTEN_SECRET`]: the document of a file is
/// what the API reads back, and what the history keeps for good. Found in a bypass probe: a
/// hand-written `password = "..."` was refused with a message that did not repeat it, but
/// the API's read returned it and the history kept it after the file was mended. Such a
/// step is still refused; only references (`env`, `file`, `stored`) are kept.
fn drop_written_secrets(document: &mut Value) {
    let Some(steps) = document.get_mut("adapters").and_then(Value::as_array_mut) else {
        return;
    };
    for step in steps.iter_mut().filter_map(Value::as_object_mut) {
        for field in ["password", "key"] {
            let Some(v) = step.get_mut(field) else {
                continue;
            };
            let reference = v.as_object().is_some_and(|m| {
                m.len() == 1
                    && ["env", "file", "stored"]
                        .iter()
                        .any(|k| m.get(*k).is_some_and(Value::is_string))
            });
            if !reference {
                *v = Value::String(WRITTEN_SECRET.into());
            }
        }
    }
}

/// The TOML text of a document (`null`s are refused: TOML has none).
pub fn toml_of(document: &Value) -> Result<String, String> {
    let value = toml::Value::try_from(document).map_err(|e| e.to_string())?;
    toml::to_string_pretty(&value).map_err(|e| e.to_string())
}

/// A change a file made (a hand or GitOps edit, or the file as found before its first
/// change through the API): from `before` to `after` (`None`: the file is gone).
pub(super) fn by_file(
    version: u64,
    id: &str,
    ministry: &str,
    before: Option<&Value>,
    after: Option<Value>,
) -> Change {
    Change {
        version,
        id: id.to_string(),
        ministry: ministry.to_string(),
        action: Action::FileEdit,
        actor: "file".into(),
        at: now(),
        diff: diff(before, after.as_ref()),
        document: after,
    }
}
