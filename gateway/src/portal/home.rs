//! The portal's home page: every service, grouped by ministry, in three languages.
//! (The full citizen portal comes later; this keeps `/` useful from day one.)

use crate::config::Ministry;
use crate::registry::Service;
use crate::response::{escape, frame};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Renders the page listing every service in `services` with a link to where it lives (its
/// own origin, or `/s/<id>/`).
/// Called once per registry snapshot (it depends on nothing else), never per request
/// (see [`super::Portal`]).
pub fn render_home(ministries: &BTreeMap<String, Ministry>, services: &[Arc<Service>]) -> Bytes {
    let mut sections = Vec::new();
    for (lang, heading) in [
        ("ar", "البوابة الموحدة للخدمات الإدارية"),
        ("fr", "Portail unifié des services administratifs"),
        ("en", "Unified portal of government services"),
    ] {
        let mut html = format!("<h1>{heading}</h1>");
        for (mid, ministry) in ministries {
            let items: Vec<String> = services
                .iter()
                .filter(|s| &s.config.ministry == mid)
                .map(|s| {
                    // Straight to the service's own origin when it has one.
                    let home = s.origin.as_deref().unwrap_or(&s.portal_prefix);
                    format!(
                        "<li><a href=\"{home}/\">{}</a></li>",
                        escape(s.config.names.get(lang))
                    )
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            html.push_str(&format!(
                "<h2>{}</h2><ul>{}</ul>",
                escape(ministry.names.get(lang)),
                items.concat()
            ));
        }
        sections.push((lang, html));
    }
    let refs: Vec<(&str, &str)> = sections.iter().map(|(l, h)| (*l, h.as_str())).collect();
    Bytes::from(frame(
        "Portail national · البوابة الوطنية",
        &refs,
        &format!("{} services", services.len()),
    ))
}
