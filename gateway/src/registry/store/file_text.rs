//! The text a changed service file is written with. The files store's directory is meant
//! to be read and reviewed as the repository's (comments that say why a quirk is there, the
//! order a ministry chose), so a document written over an existing file is edited into that
//! file's text: what did not change keeps its comments, order and layout; what changed takes
//! the new value in place; what is new is added at the end of its table. Found when tried:
//! one `PATCH` of a timeout rewrote the whole file, its comments gone and its keys sorted,
//! and the reviewer's diff was every line.
//!
//! The edited text must read back as the document exactly; if it does not (a TOML shape
//! this edit does not know), the document is written afresh instead.

use serde_json::{Map, Value};
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table};

/// `document` as the text of a service file that was `old` (its text before).
pub fn edited(old: &str, document: &Value) -> Result<String, String> {
    let Some(object) = document.as_object() else {
        return super::files::toml_of(document);
    };
    let Ok(mut doc) = old.parse::<DocumentMut>() else {
        return super::files::toml_of(document);
    };
    if merge_table(doc.as_table_mut(), object, true).is_err() {
        return super::files::toml_of(document);
    }
    let text = doc.to_string();
    match super::files::document_of(&text) {
        Ok(read) if read == *document => Ok(text),
        _ => super::files::toml_of(document),
    }
}

/// Something TOML cannot hold (a `null`).
struct Unwritable;

/// `table` made to hold `object`. At the `root`, a new object is a `[table]` and a new array
/// of objects `[[tables]]`; below it, inline, as a hand-written file has them
/// (`password = { env = "…" }`).
fn merge_table(
    table: &mut Table,
    object: &Map<String, Value>,
    root: bool,
) -> Result<(), Unwritable> {
    let gone: Vec<String> = table
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !object.contains_key(k))
        .collect();
    for k in gone {
        table.remove(&k);
    }
    for (key, value) in object {
        match table.get_mut(key) {
            Some(item) if json_of_item(item).as_ref() == Some(value) => {}
            Some(Item::Table(t)) if value.is_object() => {
                merge_table(t, value.as_object().ok_or(Unwritable)?, false)?;
            }
            Some(Item::ArrayOfTables(tables)) if objects(value).is_some() => {
                merge_tables(tables, objects(value).ok_or(Unwritable)?)?;
            }
            Some(Item::Value(old)) => {
                let mut new = toml_value(value)?;
                *new.decor_mut() = old.decor().clone();
                *old = new;
            }
            _ if root => {
                table.insert(key, new_item(value)?);
            }
            _ => {
                table.insert(key, Item::Value(toml_value(value)?));
            }
        }
    }
    Ok(())
}

/// The elements of an array of tables, merged element by element (a table kept keeps its
/// comments) while each still holds the same `step`; extra ones added, missing ones removed
/// from the end. Otherwise (one taken out of the middle, an order changed) the array is
/// written afresh: merged by position, a comment about one adapter ended up above another
/// (found in review).
fn merge_tables(
    tables: &mut ArrayOfTables,
    objects: Vec<&Map<String, Value>>,
) -> Result<(), Unwritable> {
    let step = |t: &Table| t.get("step").and_then(Item::as_str).map(str::to_owned);
    let same = tables
        .iter()
        .zip(&objects)
        .all(|(t, o)| step(t).as_deref() == o.get("step").and_then(Value::as_str));
    if !same {
        let mut fresh = ArrayOfTables::new();
        for object in objects {
            fresh.push(new_table(object)?);
        }
        *tables = fresh;
        return Ok(());
    }
    while tables.len() > objects.len() {
        tables.remove(tables.len() - 1);
    }
    for (i, object) in objects.into_iter().enumerate() {
        match tables.get_mut(i) {
            Some(t) => merge_table(t, object, false)?,
            None => tables.push(new_table(object)?),
        }
    }
    Ok(())
}

/// `value`'s elements when it is a non-empty array of objects (what `[[adapters]]` holds).
fn objects(value: &Value) -> Option<Vec<&Map<String, Value>>> {
    let array = value.as_array().filter(|a| !a.is_empty())?;
    array.iter().map(Value::as_object).collect()
}

/// A new key's item: an object as a `[table]`, an array of objects as `[[tables]]`, the
/// rest as a value (as a hand-written service file has them).
fn new_item(value: &Value) -> Result<Item, Unwritable> {
    if let Some(object) = value.as_object() {
        return Ok(Item::Table(new_table(object)?));
    }
    if let Some(objects) = objects(value) {
        let mut tables = ArrayOfTables::new();
        for object in objects {
            tables.push(new_table(object)?);
        }
        return Ok(Item::ArrayOfTables(tables));
    }
    Ok(Item::Value(toml_value(value)?))
}

fn new_table(object: &Map<String, Value>) -> Result<Table, Unwritable> {
    let mut table = Table::new();
    for (key, value) in object {
        let item = match value {
            // Inside a new table, nested objects stay inline: `{ env = "…" }`.
            Value::Object(_) => Item::Value(toml_value(value)?),
            _ => new_item(value)?,
        };
        table.insert(key, item);
    }
    Ok(table)
}

fn toml_value(value: &Value) -> Result<toml_edit::Value, Unwritable> {
    Ok(match value {
        Value::Null => return Err(Unwritable),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) => f.into(),
            (None, None) => return Err(Unwritable),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for v in items {
                array.push(toml_value(v)?);
            }
            toml_edit::Value::Array(array)
        }
        Value::Object(object) => {
            let mut inline = InlineTable::new();
            for (k, v) in object {
                inline.insert(k, toml_value(v)?);
            }
            toml_edit::Value::InlineTable(inline)
        }
    })
}

/// What an item holds, as the document has it (`None`: a shape compared as changed).
fn json_of_item(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(v) => json_of_value(v),
        Item::Table(t) => t
            .iter()
            .map(|(k, i)| Some((k.to_string(), json_of_item(i)?)))
            .collect::<Option<Map<_, _>>>()
            .map(Value::Object),
        Item::ArrayOfTables(tables) => tables
            .iter()
            .map(|t| json_of_item(&Item::Table(t.clone())))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
    }
}

fn json_of_value(value: &toml_edit::Value) -> Option<Value> {
    use toml_edit::Value as V;
    Some(match value {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => Value::from(*f.value()),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(_) => return None,
        V::Array(a) => Value::Array(a.iter().map(json_of_value).collect::<Option<_>>()?),
        V::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Some((k.to_string(), json_of_value(v)?)))
                .collect::<Option<Map<_, _>>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::edited;
    use serde_json::json;

    const FILE: &str = r#"# CNIE renewal: the interior's oldest site.
id = "cnie-renewal"
ministry = "interior"

[names]
fr = "Renouvellement"   # as on the counter's sign
ar = "تجديد"

[timeouts]
# The site answers slowly at month's end.
read = "20s"
connect = "2s"

[[adapters]]
# Root-relative links must land under the service.
step = "html-links"

[[adapters]]
step = "basic-auth"
username = "svc-portal"
password = { env = "EGOV_SECRET_X" }
"#;

    fn document() -> serde_json::Value {
        crate::registry::store::files::document_of(FILE).expect("the file reads")
    }

    #[test]
    fn a_changed_value_is_written_in_place_and_every_comment_and_key_order_stays() {
        let mut doc = document();
        doc["timeouts"]["read"] = json!("40s");
        let text = edited(FILE, &doc).expect("text");
        assert_eq!(text, FILE.replace(r#"read = "20s""#, r#"read = "40s""#));
    }

    #[test]
    fn added_removed_and_reordered_parts_read_back_as_the_document() {
        let mut doc = document();
        doc["names"]["en"] = json!("Renewal");
        doc["cache"] = json!({ "ttl": "5m", "paths": ["/static/*"] });
        doc["adapters"].as_array_mut().expect("adapters").pop();
        doc.as_object_mut().expect("object").remove("ministry");
        let text = edited(FILE, &doc).expect("text");
        assert_eq!(
            crate::registry::store::files::document_of(&text).expect("reads"),
            doc
        );
        assert!(
            text.starts_with("# CNIE renewal: the interior's oldest site.\n"),
            "{text}"
        );
        assert!(
            text.contains("# The site answers slowly at month's end."),
            "{text}"
        );
        assert!(
            text.contains("# Root-relative links must land under the service."),
            "{text}"
        );
        assert!(text.contains("[cache]"), "{text}");
        assert!(!text.contains("basic-auth"), "{text}");
    }

    #[test]
    fn a_comment_stays_with_its_adapter_when_another_is_taken_out() {
        let mut doc = document();
        doc["adapters"].as_array_mut().expect("adapters").remove(0);
        let text = edited(FILE, &doc).expect("text");
        assert_eq!(
            crate::registry::store::files::document_of(&text).expect("reads"),
            doc
        );
        assert!(!text.contains("Root-relative links"), "{text}");
        assert!(text.contains("password = {"), "inline, as written: {text}");
    }

    #[test]
    fn an_unreadable_old_text_is_written_afresh() {
        let doc = document();
        let text = edited("this is = = not toml", &doc).expect("text");
        assert_eq!(
            crate::registry::store::files::document_of(&text).expect("reads"),
            doc
        );
    }
}
