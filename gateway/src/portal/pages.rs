//! The portal's pages, rendered from the templates in `templates/` (compiled into the binary,
//! HTML auto-escaped) with what a registry snapshot and the status board know.
//!
//! Rendering is the slow part and happens once per snapshot, language and status sample
//! (see [`super::Portal`]); what changes per request (the login slot) is left as a marker
//! that the page is split around.

use super::lang::Lang;
use super::text::{self, Ui};
use crate::config::{Category, Localized};
use crate::registry::{Service, Snapshot};
use crate::telemetry::status::ServiceStatus;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the per-request login slot goes in a cached page.
pub const LOGIN_SLOT: &str = "<!--egov:login-->";

/// How many services the home page lists as most used.
const POPULAR: usize = 6;
/// How many services the "not what I meant" list offers.
const CHOICES: usize = 40;

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

/// A text and the language it is really in (an Amazigh page shows an Arabic fallback marked
/// `lang="ar" dir="rtl"`).
#[derive(Debug, Serialize)]
pub struct Text<'a> {
    pub text: &'a str,
    /// Set only when it differs from the page's language.
    pub lang: Option<&'static str>,
}

fn text<'a>(l: &'a Localized, lang: Lang) -> Text<'a> {
    let (text, actual) = l.get_tagged(lang.code());
    Text {
        text,
        lang: (actual != lang.code()).then_some(actual),
    }
}

/// A service as a card links it.
#[derive(Debug, Serialize)]
pub struct Card<'a> {
    pub id: &'a str,
    pub name: Text<'a>,
    pub description: Text<'a>,
}

impl<'a> Card<'a> {
    pub fn of(s: &'a Service, lang: Lang) -> Self {
        Card {
            id: &s.config.id,
            name: text(&s.config.names, lang),
            description: text(&s.config.descriptions, lang),
        }
    }
}

/// `tag(text)` in a template: ` lang=".." dir=".."` when the text is in another language
/// than the page (the values are our own constants, so the output is safe).
fn tag(t: Value) -> Value {
    let lang = t
        .get_attr("lang")
        .ok()
        .filter(|v| !v.is_none() && !v.is_undefined())
        .and_then(|v| v.as_str().and_then(Lang::from_code));
    match lang {
        Some(l) => Value::from_safe_string(format!(" lang=\"{}\" dir=\"{}\"", l.code(), l.dir())),
        None => Value::from_safe_string(String::new()),
    }
}

/// A language switcher entry.
#[derive(Serialize)]
struct LangLink {
    code: &'static str,
    dir: &'static str,
    name: &'static str,
    href: String,
    current: bool,
}

fn langs(current: Lang, back: &str) -> Vec<LangLink> {
    let back: String = percent_encoding::utf8_percent_encode(back, super::WAY_BACK).collect();
    Lang::ALL
        .iter()
        .map(|&l| LangLink {
            code: l.code(),
            dir: l.dir(),
            name: l.endonym(),
            href: format!("/lang?set={}&back={back}", l.code()),
            current: l == current,
        })
        .collect()
}

/// The values every portal page passes to the frame and `portal.html`.
fn base(lang: Lang, title: &str, back: &str, login_slot: Value) -> Value {
    let ui: &Ui = text::ui(lang);
    context! {
        ui => Value::from_serialize(ui),
        brand => ui.portal,
        skip => ui.skip,
        langs => Value::from_serialize(langs(lang, back)),
        login_slot => login_slot,
        ..crate::response::frame_context(lang.code(), lang.dir(), title)
    }
}

/// The slot marker, for pages cached across requests.
fn slot() -> Value {
    Value::from_safe_string(LOGIN_SLOT.to_string())
}

/// Services of `category`, grouped by ministry (in the ministries file's order).
fn by_ministry(snap: &Snapshot, category: Category) -> BTreeMap<&str, Vec<&Arc<Service>>> {
    let mut groups: BTreeMap<&str, Vec<&Arc<Service>>> = BTreeMap::new();
    for s in snap
        .services()
        .iter()
        .filter(|s| s.config.category == category)
    {
        groups
            .entry(s.config.ministry.as_str())
            .or_default()
            .push(s);
    }
    groups
}

impl Pages {
    /// Compiles the templates (they are part of the binary; a test renders each).
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        crate::response::template_env(&mut env)?;
        env.add_function("tag", tag);
        for (name, source) in [
            ("portal.html", include_str!("templates/portal.html")),
            ("card.html", include_str!("templates/card.html")),
            ("home.html", include_str!("templates/home.html")),
            ("category.html", include_str!("templates/category.html")),
            ("service.html", include_str!("templates/service.html")),
            ("search.html", include_str!("templates/search.html")),
            ("thanks.html", include_str!("templates/thanks.html")),
        ] {
            env.add_template(name, source)?;
        }
        Ok(Pages { env })
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// The home page: the box, the most used services, the categories. Its size does not
    /// grow with the catalog beyond one line per category.
    pub fn home(
        &self,
        snap: &Snapshot,
        lang: Lang,
        status: &[ServiceStatus],
    ) -> Result<String, minijinja::Error> {
        let ui = text::ui(lang);
        // Pages citizens got (2xx), not requests: 300 requests for pages that do not exist
        // put any service first (found when tried), and anonymous ones get redirects.
        let mut popular: Vec<&ServiceStatus> = status.iter().filter(|s| s.served > 0).collect();
        popular.sort_by(|a, b| b.served.cmp(&a.served).then(a.service.cmp(&b.service)));
        let mut cards: Vec<Card<'_>> = popular
            .iter()
            .filter_map(|s| snap.service(&s.service))
            .take(POPULAR)
            .map(|s| Card::of(s, lang))
            .collect();
        if cards.is_empty() {
            // No traffic yet: the public services first, in catalog order.
            cards = snap
                .services()
                .iter()
                .filter(|s| s.config.access == crate::config::Access::Public)
                .take(POPULAR)
                .map(|s| Card::of(s, lang))
                .collect();
        }
        #[derive(Serialize)]
        struct CategoryLink {
            id: &'static str,
            name: &'static str,
            count: usize,
        }
        let categories: Vec<CategoryLink> = Category::ALL
            .iter()
            .map(|&c| CategoryLink {
                id: c.as_str(),
                name: text::category(c, lang),
                count: snap
                    .services()
                    .iter()
                    .filter(|s| s.config.category == c)
                    .count(),
            })
            .filter(|c| c.count > 0)
            .collect();
        self.render(
            "home.html",
            context! {
                popular => Value::from_serialize(&cards),
                categories => Value::from_serialize(&categories),
                ..base(lang, ui.portal, "/", slot())
            },
        )
    }

    /// One category: its services, grouped by the ministry that runs them.
    pub fn category(
        &self,
        snap: &Snapshot,
        lang: Lang,
        category: Category,
    ) -> Result<String, minijinja::Error> {
        #[derive(Serialize)]
        struct Group<'a> {
            name: Text<'a>,
            services: Vec<Card<'a>>,
        }
        let groups: Vec<Group<'_>> = by_ministry(snap, category)
            .into_iter()
            .filter_map(|(mid, services)| {
                Some(Group {
                    name: text(&snap.ministries.get(mid)?.names, lang),
                    services: services.into_iter().map(|s| Card::of(s, lang)).collect(),
                })
            })
            .collect();
        let name = text::category(category, lang);
        self.render(
            "category.html",
            context! {
                category => context! { id => category.as_str(), name => name },
                groups => Value::from_serialize(&groups),
                ..base(lang, name, &format!("/categories/{}", category.as_str()), slot())
            },
        )
    }

    /// One service: what it is, who runs it, who may use it, whether it works right now,
    /// what to prepare, and the way in.
    pub fn service(
        &self,
        snap: &Snapshot,
        lang: Lang,
        service: &Service,
        health: &str,
    ) -> Result<String, minijinja::Error> {
        let ui = text::ui(lang);
        let c = &service.config;
        let ministry = snap
            .ministries
            .get(&c.ministry)
            .map(|m| {
                let name = text(&m.names, lang);
                match c.agency.as_ref().and_then(|a| m.agencies.get(a)) {
                    Some(agency) => {
                        let agency = text(agency, lang);
                        Text {
                            text: agency.text,
                            lang: agency.lang.or(name.lang),
                        }
                    }
                    None => name,
                }
            })
            .unwrap_or(Text {
                text: &c.ministry,
                lang: None,
            });
        let prepare = match &c.prepare {
            Some(p) => text(p, lang),
            None if c.access == crate::config::Access::Public => Text {
                text: ui.prepare_nothing,
                lang: None,
            },
            None => Text {
                text: ui.prepare_login,
                lang: None,
            },
        };
        let name = text(&c.names, lang);
        let title = name.text;
        self.render(
            "service.html",
            context! {
                s => context! {
                    name => Value::from_serialize(&name),
                    description => Value::from_serialize(text(&c.descriptions, lang)),
                    ministry => Value::from_serialize(&ministry),
                    access => text::access(c.access, lang),
                    health => health,
                    health_text => text::health(health, lang),
                    prepare => Value::from_serialize(&prepare),
                    start => super::lang::way_in(service, &snap.portal.origin, lang, "/"),
                },
                category => context! {
                    id => c.category.as_str(),
                    name => text::category(c.category, lang),
                },
                ..base(lang, title, &format!("/services/{}", c.id), slot())
            },
        )
    }

    /// The answer to the box, rendered per request (it depends on the query). `found` are
    /// the services to show, `routed` the one the router chose (offered a "not what I
    /// meant" form listing `choices`). `feedback_kept`: whether that form's answer is kept
    /// (`portal.feedback_log` is not `off`), so the form says what is kept, and for how long.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        snap: &Snapshot,
        lang: Lang,
        query: &str,
        back: &str,
        outcome: &str,
        found: &[&Service],
        routed: Option<&str>,
        feedback_kept: bool,
        login_slot: Value,
    ) -> Result<String, minijinja::Error> {
        let ui = text::ui(lang);
        let cards: Vec<Card<'_>> = found.iter().map(|s| Card::of(s, lang)).collect();
        // The right service is most likely a sibling: the others found, then the routed
        // service's category, then everything else, capped.
        let choices: Vec<Card<'_>> = match routed.and_then(|id| snap.service(id)) {
            None => Vec::new(),
            Some(r) => {
                let mut ids: Vec<&Service> = found
                    .iter()
                    .copied()
                    .filter(|s| s.config.id != r.config.id)
                    .collect();
                for s in snap.services() {
                    if ids.len() >= CHOICES {
                        break;
                    }
                    if s.config.id != r.config.id
                        && s.config.category == r.config.category
                        && !ids.iter().any(|x| x.config.id == s.config.id)
                    {
                        ids.push(s);
                    }
                }
                for s in snap.services() {
                    if ids.len() >= CHOICES {
                        break;
                    }
                    if s.config.id != r.config.id && !ids.iter().any(|x| x.config.id == s.config.id)
                    {
                        ids.push(s);
                    }
                }
                ids.into_iter().map(|s| Card::of(s, lang)).collect()
            }
        };
        // The page's title says what came of it, as its heading does (every search page was
        // "your request" whatever happened: found when tried).
        let title = match outcome {
            "empty" => ui.ask,
            "routed" => ui.found,
            "ambiguous" => ui.did_you_mean,
            _ => ui.your_request,
        };
        self.render(
            "search.html",
            context! {
                q => query,
                outcome => outcome,
                found => Value::from_serialize(&cards),
                routed => routed.unwrap_or(""),
                choices => Value::from_serialize(&choices),
                feedback_kept => feedback_kept,
                ..base(lang, title, back, login_slot)
            },
        )
    }

    /// The answer to "not what I meant": thanks, and the way to the chosen service.
    pub fn thanks(
        &self,
        lang: Lang,
        chosen: &Service,
        login_slot: Value,
    ) -> Result<String, minijinja::Error> {
        let ui = text::ui(lang);
        self.render(
            "thanks.html",
            context! {
                found => Value::from_serialize([Card::of(chosen, lang)]),
                ..base(lang, ui.thanks, "/", login_slot)
            },
        )
    }
}
