//! Validation of `ministries.toml`: every ministry and agency id a slug, every name given
//! in the portal's languages.

use super::error::Problems;
use super::fields::{localized, NAME_CHARS};
use super::raw::RawMinistries;
use super::values;
use super::Ministry;
use std::collections::BTreeMap;

pub(crate) fn validate_ministries(
    raw: RawMinistries,
    p: &mut Problems<'_>,
) -> BTreeMap<String, Ministry> {
    let mut out = BTreeMap::new();
    for (id, m) in raw {
        if p.check(id.clone(), values::slug(&id)).is_none() {
            continue;
        }
        let names = localized(p, &format!("{id}.names"), &m.names, NAME_CHARS);
        let mut agencies = BTreeMap::new();
        for (aid, a) in &m.agencies {
            let field = format!("{id}.agencies.{aid}");
            if p.check(field.clone(), values::slug(aid)).is_none() {
                continue;
            }
            if let Some(n) = localized(p, &format!("{field}.names"), &a.names, NAME_CHARS) {
                agencies.insert(aid.clone(), n);
            }
        }
        if let Some(names) = names {
            out.insert(
                id.clone(),
                Ministry {
                    id,
                    names,
                    agencies,
                },
            );
        }
    }
    out
}
