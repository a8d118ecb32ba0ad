//! What in a service's names, keywords and examples would let it take other services'
//! searches, judged as the router reads them ([`super::text::tokens`]: accents, punctuation,
//! case and word forms folded). The registry refuses such a service when it builds a
//! snapshot, at start-up, on a reload and for every change through the admin API.
//!
//! Found when tried: a ministry copied the passport service's keywords and examples with a
//! trailing `.` or `!`, or a word repeated inside one entry, and every passport query went
//! to its service, the real one not even offered; its names were the passport's with a
//! trailing dot, or with a Cyrillic `а`. Then a ministry's own "Passport" service listed the
//! passport's keywords as they were, and took "renew my passport": a keyword or example
//! the router reads as another ministry's service's is refused too. Then paraphrases took
//! the passport's own keyword: a change after which another ministry's service's own
//! words are routed to the changed service is refused ([`takeovers`]). Searches no service
//! declared are the platform's review to make.

use super::catalog::Catalog;
use super::injection::mixes_scripts;
use super::text::tokens;
use crate::config::{ConfigError, ServiceConfig};
use std::collections::{HashMap, HashSet};

/// How often one word may appear in one keyword or example.
const MAX_REPEATS: usize = 2;

/// The words `tokens` name, each once, sorted: what two texts share when the router reads
/// them as the same (the index counts such entries of one field once).
pub(super) fn word_set(tokens: &[String]) -> Vec<String> {
    let mut out = tokens.to_vec();
    out.sort();
    out.dedup();
    out
}

/// What of a service already ran as it is now: its names, and which of its keywords and
/// examples (as the router reads them).
#[derive(Debug, Clone)]
pub struct Settled {
    pub names: bool,
    /// The word sets of the entries that ran; `None`: every entry did.
    terms: Option<HashSet<Vec<String>>>,
}

impl Settled {
    /// What `now` keeps of `before`, the version that ran until now (if any). A service
    /// moved to another ministry is new to everything.
    pub fn of(now: &ServiceConfig, before: Option<&ServiceConfig>) -> Settled {
        match before.filter(|b| b.ministry == now.ministry) {
            None => Settled::none(),
            Some(b) => Settled {
                names: b.names == now.names,
                terms: Some(
                    b.keywords
                        .iter()
                        .chain(&b.examples)
                        .map(|e| word_set(&tokens(e)))
                        .collect(),
                ),
            },
        }
    }

    /// Nothing of it (a new service).
    pub fn none() -> Settled {
        Settled {
            names: false,
            terms: Some(HashSet::new()),
        }
    }

    /// All of it (a service that did not change).
    pub fn all() -> Settled {
        Settled {
            names: true,
            terms: None,
        }
    }

    fn term(&self, set: &[String]) -> bool {
        self.terms.as_ref().is_none_or(|t| t.contains(set))
    }
}

/// Every problem of `services`' search terms: an entry repeating a word, a name word mixing
/// Latin with Cyrillic or Greek letters, two services' names the router (and a citizen)
/// reads as the same, and a keyword or example read as one of another ministry's
/// service's. Entries of one service the router reads as the same (`pasport`,
/// `lpassport`: spellings citizens type) are allowed, and counted once by the index.
///
/// A collision is the newcomer's problem: `before` says what of each service ran before
/// this change (the snapshot before). Of a name (or a search term) that ran and one that
/// is new, only the new one is refused; when both are new, or both ran (a registry from
/// before the rule), all are, as at start-up, where nothing ran before: what a running
/// gateway takes, its next start takes too (found in review). A ministry copying a name or
/// a term into its own file then refuses its own change, not the owner's service.
pub fn problems(
    services: &[ServiceConfig],
    before: impl Fn(&ServiceConfig) -> Settled,
) -> Vec<ConfigError> {
    let settled: Vec<Settled> = services.iter().map(before).collect();
    let mut out = Vec::new();
    let mut names: HashMap<(&str, Vec<String>), usize> = HashMap::new();
    // Each term (as the router reads it) → every entry giving it: (service, field, entry).
    let mut terms: HashMap<Vec<String>, Vec<(usize, &str, usize)>> = HashMap::new();
    for (si, s) in services.iter().enumerate() {
        for (field, list) in [("keywords", &s.keywords), ("examples", &s.examples)] {
            for (i, entry) in list.iter().enumerate() {
                let toks = tokens(entry);
                let set = word_set(&toks);
                if !set.is_empty() {
                    terms.entry(set).or_default().push((si, field, i));
                }
                let mut counts: HashMap<&str, usize> = HashMap::new();
                for t in &toks {
                    *counts.entry(t.as_str()).or_default() += 1;
                }
                let most = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
                if let Some((word, n)) = most.filter(|(_, n)| **n > MAX_REPEATS) {
                    out.push(ConfigError::new(
                        &s.file,
                        format!("{field}[{i}]"),
                        format!("repeats the word {word:?} {n} times; at most {MAX_REPEATS}"),
                    ));
                }
            }
        }
        let n = &s.names;
        let langs = [("ar", &n.ar), ("fr", &n.fr), ("en", &n.en)];
        for (lang, name) in langs.into_iter().chain(n.zgh.iter().map(|z| ("zgh", z))) {
            if name.split_whitespace().any(mixes_scripts) {
                out.push(ConfigError::new(
                    &s.file,
                    format!("names.{lang}"),
                    "mixes Latin letters with letters of another script in a word",
                ));
            }
            // As read: a variation selector inside a word split it for the router's
            // tokens, and the copy passed as another name (found when tried).
            let set = word_set(&tokens(&crate::config::values::folded(name)));
            if set.is_empty() {
                continue;
            }
            if let Some(oi) = names.insert((lang, set), si) {
                let blamed: &[(usize, usize)] = match (settled[si].names, settled[oi].names) {
                    (false, true) => &[(si, oi)],
                    (true, false) => &[(oi, si)],
                    _ => &[(si, oi), (oi, si)],
                };
                for &(this, that) in blamed {
                    out.push(ConfigError::new(
                        &services[this].file,
                        format!("names.{lang}"),
                        format!(
                            "reads as the name of service {:?}; citizens could not tell them apart",
                            services[that].id
                        ),
                    ));
                }
            }
        }
    }
    out.extend(shared_terms(services, &settled, &terms));
    out
}

/// The entries of `terms` that another ministry's service gives too, as [`problems`] blames
/// them, in the services' order whatever the map's.
fn shared_terms(
    services: &[ServiceConfig],
    settled: &[Settled],
    terms: &HashMap<Vec<String>, Vec<(usize, &str, usize)>>,
) -> Vec<ConfigError> {
    let mut blamed: Vec<(usize, &str, usize, usize)> = Vec::new();
    for (set, holders) in terms {
        let ministry = |h: &(usize, &str, usize)| services[h.0].ministry.as_str();
        let Some(first) = holders.first() else {
            continue;
        };
        if holders.iter().all(|h| ministry(h) == ministry(first)) {
            continue;
        }
        let new: Vec<&(usize, &str, usize)> =
            holders.iter().filter(|h| !settled[h.0].term(set)).collect();
        let refused = if new.is_empty() {
            holders.iter().collect()
        } else {
            new
        };
        for h in refused {
            if let Some(other) = holders.iter().find(|o| ministry(o) != ministry(h)) {
                blamed.push((h.0, h.1, h.2, other.0));
            }
        }
    }
    // Keywords before examples, as the services list them.
    blamed.sort_unstable_by_key(|&(si, field, i, _)| (si, field != "keywords", i));
    blamed
        .into_iter()
        .map(|(si, field, i, other)| {
            ConfigError::new(
                &services[si].file,
                format!("{field}[{i}]"),
                format!(
                    "reads as a search term of service {:?} of another ministry: the router \
would send its searches to whichever weighs more",
                    services[other].id
                ),
            )
        })
        .collect()
}

/// Whether `now`'s words for the router (names, descriptions, keywords, examples, and the
/// ministry they speak for) differ from `before`'s, or it is new.
pub fn search_words_changed(now: &ServiceConfig, before: Option<&ServiceConfig>) -> bool {
    before.is_none_or(|b| {
        b.ministry != now.ministry
            || b.names != now.names
            || b.descriptions != now.descriptions
            || b.keywords != now.keywords
            || b.examples != now.examples
    })
}

/// The services a change would let take another ministry's searches: after the change, one
/// of the **own** keywords, examples or names of a service whose words did not change
/// (`changed` says which did) is routed to a service of a ministry that made the change
/// (`changing`: the ministries of the services changed, added or removed), where it was
/// routed to that service itself before (`before`, the running catalog; `after`, the one
/// with the change).
///
/// Found when tried: a ministry registered "Online passport renewal" with paraphrases of the
/// passport service's keywords ("renouveler passeport en ligne", "passeport urgent"), none a
/// copy, and the interior's own keyword "renouvellement passeport" was then routed to it
/// (and listed first in the portal's search). Then, the check passing only the changed
/// service, a ministry registered ten bland services, then a "passport for minors" that did
/// not win yet, then deleted the ten: the words' weights moved, and "passeport mineur" went
/// to its service (found when tried again). Paraphrases as such are not judged here; what a
/// ministry's change lets it take of another ministry's own words is. One error per service
/// taken, with the first of its words that moved.
pub fn takeovers(
    services: &[ServiceConfig],
    before: &Catalog,
    after: &Catalog,
    changed: impl Fn(&ServiceConfig) -> bool,
    changing: &HashSet<String>,
) -> Vec<ConfigError> {
    if changing.is_empty() {
        return Vec::new();
    }
    let by_id: HashMap<&str, &ServiceConfig> =
        services.iter().map(|s| (s.id.as_str(), s)).collect();
    let top = |catalog: &Catalog, words: &str| {
        let ranking = catalog.ranker().rank(words, 1);
        ranking
            .candidates
            .first()
            .and_then(|c| catalog.id(c.index))
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    for owner in services.iter().filter(|s| !changed(s)) {
        let n = &owner.names;
        let own_words = owner
            .keywords
            .iter()
            .chain(&owner.examples)
            .chain([&n.fr, &n.ar, &n.en])
            .chain(n.zgh.iter());
        for words in own_words {
            let Some(taker) = top(after, words).and_then(|id| by_id.get(id.as_str()).copied())
            else {
                continue;
            };
            if taker.ministry == owner.ministry
                || !changing.contains(&taker.ministry)
                || top(before, words).as_deref() != Some(&owner.id)
            {
                continue;
            }
            out.push(ConfigError::new(
                &taker.file,
                "keywords",
                format!(
                    "with this change, service {:?} would take the searches of service {:?} of \
                     another ministry: its own words {words:?} would be routed there instead; \
                     keep to your services' own words (if that service's words are too broad, \
                     its ministry or the platform can change them)",
                    taker.id, owner.id
                ),
            ));
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<ServiceConfig> {
        crate::config::fixtures::config_without_secrets().services
    }

    /// The interior's passport service in `services`.
    fn passport(services: &[ServiceConfig]) -> ServiceConfig {
        services
            .iter()
            .find(|s| s.id == "passport-application")
            .expect("the passport service")
            .clone()
    }

    /// The problems (field, reason) of a newcomer copying the first service, its English
    /// name as `english` makes it and its other names its own.
    fn problems_of_a_copy_named(english: impl Fn(&str) -> String) -> Vec<(String, String)> {
        let mut services = catalog();
        let mut copy = services[0].clone();
        copy.id = "look-alike".into();
        copy.file = "look-alike.toml".into();
        copy.names.en = english(&services[0].names.en);
        copy.names.fr = format!("{} copie", copy.names.fr);
        copy.names.ar = format!("{} نسخة", copy.names.ar);
        services.push(copy);
        problems(&services, |s| running_unless(s, |s| s.id == "look-alike"))
            .into_iter()
            .filter(|e| e.file.ends_with("look-alike.toml"))
            .map(|e| (e.field, e.reason))
            .collect()
    }

    /// Every service ran as it is, but those `new` picks, which are newcomers.
    fn running_unless(s: &ServiceConfig, new: impl Fn(&ServiceConfig) -> bool) -> Settled {
        if new(s) {
            Settled::none()
        } else {
            Settled::all()
        }
    }

    #[test]
    fn the_shipped_catalog_has_none() {
        // As at start-up, where nothing ran before.
        assert_eq!(problems(&catalog(), |_| Settled::none()), Vec::new());
    }

    /// Found when tried: copies with a trailing `.` or `!`, a word repeated inside one
    /// entry, a name with a trailing dot or a Cyrillic `а`.
    #[test]
    fn copies_the_router_reads_as_the_same_are_problems() {
        let mut services = catalog();
        let mut copy = services[0].clone();
        copy.id = "look-alike".into();
        copy.file = "look-alike.toml".into();
        copy.names.fr = format!("{}.", services[0].names.fr);
        copy.names.en = copy.names.en.replace('a', "\u{430}");
        copy.names.ar = format!("{} x", copy.names.ar);
        let first = copy.keywords[0].clone();
        copy.keywords = vec![first.clone(), format!("{first}!")];
        copy.examples = vec!["passeport passeport passeport".into()];
        services.push(copy);
        let found: Vec<String> = problems(&services, |_| Settled::none())
            .iter()
            .filter(|e| e.file.ends_with("look-alike.toml"))
            .map(|e| e.field.clone())
            .collect();
        for field in ["names.fr", "names.en", "examples[0]"] {
            assert!(found.iter().any(|f| f == field), "{field}: {found:?}");
        }
    }

    /// Found when tried: the passport's keywords copied with `.` and `!` added (three times
    /// each) and its examples twice took every passport query. Entries the router reads as
    /// the same count once, so the copy only ties with the original's terms at best.
    #[test]
    fn punctuated_copies_of_anothers_terms_do_not_take_its_searches() {
        let mut services = catalog();
        let passport = passport(&services);
        let mut copy = services
            .iter()
            .find(|s| s.id != passport.id)
            .expect("another service")
            .clone();
        let suffixed = |list: &[String], ends: &[&str]| -> Vec<String> {
            list.iter()
                .flat_map(|k| ends.iter().map(move |e| format!("{k}{e}")))
                .collect()
        };
        copy.keywords = suffixed(&passport.keywords, &["", ".", "!"]);
        copy.examples = suffixed(&passport.examples, &[".", "!"]);
        let copy_id = copy.id.clone();
        services.retain(|s| s.id != copy_id);
        services.push(copy);
        let catalog = super::super::Catalog::new(&services);
        for query in [
            "renouvellement passeport",
            "passport renewal",
            "تجديد جواز السفر",
            "suivi demande de passeport",
        ] {
            let ranking = catalog.ranker().rank(query, 3);
            let top = ranking.candidates.first().and_then(|c| catalog.id(c.index));
            assert_eq!(top, Some("passport-application"), "{query}");
        }
    }

    /// Found in review: a copied name refused the owner's service too, and with it every
    /// reload. Of a service already running under its name and a newcomer, only the
    /// newcomer is refused.
    #[test]
    fn a_name_collision_is_the_newcomers_problem() {
        let mut services = catalog();
        let owner = services[0].id.clone();
        let mut copy = services[0].clone();
        copy.id = "copy".into();
        copy.file = "copy.toml".into();
        services.push(copy);
        let blamed: Vec<String> = problems(&services, |s| running_unless(s, |s| s.id != owner))
            .iter()
            .filter(|e| e.field.starts_with("names."))
            .map(|e| e.file.display().to_string())
            .collect();
        assert!(!blamed.is_empty());
        assert!(blamed.iter().all(|f| f == "copy.toml"), "{blamed:?}");
    }

    /// Found when tried: a variation selector, a Hangul filler or a blank Braille pattern
    /// inside a word of a copied name, invisible on the page, made it another name.
    #[test]
    fn a_copied_name_with_an_invisible_letter_inside_a_word_is_a_problem() {
        for hidden in [
            '\u{FE0F}',
            '\u{3164}',
            '\u{2800}',
            '\u{1D173}',
            '\u{180B}',
            '\u{17B4}',
            '\u{1BCA0}',
            '\u{034F}',
        ] {
            let found = problems_of_a_copy_named(|name| {
                let cut = name.char_indices().nth(3).map_or(0, |(i, _)| i);
                format!("{}{hidden}{}", &name[..cut], &name[cut..])
            });
            assert!(
                found.iter().any(|(field, reason)| field == "names.en"
                    && reason.starts_with("reads as the name of service")),
                "U+{:04X}: {found:?}",
                u32::from(hidden)
            );
        }
    }

    /// Found when tried: another ministry's own "Passport" service listed the passport's
    /// keywords as they were and took "renew my passport".
    #[test]
    fn another_ministrys_copy_of_a_search_term_is_the_newcomers_problem() {
        let mut services = catalog();
        let passport = passport(&services);
        let mut copy = services
            .iter()
            .find(|s| s.ministry != passport.ministry)
            .expect("another ministry's service")
            .clone();
        copy.keywords.push(passport.keywords[0].clone());
        copy.examples = vec![passport.examples[1].to_uppercase()];
        let copy_id = copy.id.clone();
        services.retain(|s| s.id != copy_id);
        services.push(copy.clone());
        let found: Vec<(String, String)> =
            problems(&services, |s| running_unless(s, |s| s.id == copy_id))
                .iter()
                .map(|e| (e.file.display().to_string(), e.field.clone()))
                .collect();
        let file = copy.file.display().to_string();
        assert_eq!(
            found,
            [
                (
                    file.clone(),
                    format!("keywords[{}]", copy.keywords.len() - 1)
                ),
                (file, "examples[0]".to_string())
            ]
        );
    }

    #[test]
    fn a_ministrys_services_may_share_search_terms() {
        let mut services = catalog();
        let first = services
            .iter()
            .find(|s| {
                services
                    .iter()
                    .any(|o| o.ministry == s.ministry && o.id != s.id)
            })
            .expect("a ministry with two services")
            .clone();
        let sibling = services
            .iter_mut()
            .find(|s| s.ministry == first.ministry && s.id != first.id)
            .expect("a second service of the same ministry");
        sibling.keywords.push(first.keywords[0].clone());
        let sibling_id = sibling.id.clone();
        assert_eq!(
            problems(&services, |s| running_unless(s, |s| s.id == sibling_id)),
            Vec::new()
        );
    }

    /// Found in review: a ministry's service already running under its names took another
    /// ministry's keyword in a change that kept the names, and counted as settled.
    #[test]
    fn a_running_service_that_takes_another_ministrys_term_is_refused() {
        let mut services = catalog();
        let passport = passport(&services);
        let taker = services
            .iter_mut()
            .find(|s| s.ministry != passport.ministry)
            .expect("another ministry's service");
        let before = taker.clone();
        taker.keywords.push(passport.keywords[0].clone());
        let taker_id = taker.id.clone();
        let found: Vec<String> = problems(&services, |s| {
            Settled::of(s, Some(if s.id == taker_id { &before } else { s }))
        })
        .iter()
        .map(|e| e.field.clone())
        .collect();
        assert_eq!(found, [format!("keywords[{}]", before.keywords.len())]);
    }

    /// Found in review: a term two ministries' running services shared was taken by a
    /// running gateway and refused by its next start. Now both refuse it alike, and the
    /// owner's edit of another entry leaves its own entries settled.
    #[test]
    fn a_term_two_ministries_share_is_refused_running_or_starting() {
        let mut services = catalog();
        let passport = passport(&services);
        let copier = services
            .iter_mut()
            .find(|s| s.ministry != passport.ministry)
            .expect("another ministry's service");
        copier.keywords.push(passport.keywords[0].clone());
        let copier_file = copier.file.clone();
        let running = problems(&services, |_| Settled::all());
        let starting = problems(&services, |_| Settled::none());
        assert_eq!(running, starting);
        assert!(running.iter().any(|e| e.file == copier_file), "{running:?}");
        // The owner adds a keyword: only the copier's entry is the problem.
        let owner = services
            .iter_mut()
            .find(|s| s.id == "passport-application")
            .expect("the passport service");
        let before = owner.clone();
        owner.keywords.push("passeport express".into());
        let found = problems(&services, |s| {
            let ran = if s.id == "passport-application" {
                &before
            } else {
                s
            };
            let mut settled = Settled::of(s, Some(ran));
            if s.file == copier_file {
                settled = Settled::none();
            }
            settled
        });
        assert!(found.iter().all(|e| e.file == copier_file), "{found:?}");
    }

    /// Found in review: an Armenian, Cherokee, full-width or mathematical letter in a word
    /// of a copied name made it another name that reads the same.
    #[test]
    fn a_name_word_with_a_letter_of_another_script_is_a_problem() {
        for (from, to) in [
            ('o', '\u{0585}'),
            ('a', '\u{13AA}'),
            ('a', '\u{FF41}'),
            ('a', '\u{1D41A}'),
        ] {
            let found = problems_of_a_copy_named(|name| {
                assert!(name.contains(from), "{name} has no {from:?}");
                name.replacen(from, &to.to_string(), 1)
            });
            assert!(
                found.iter().any(|(field, reason)| field == "names.en"
                    && reason.starts_with("mixes Latin letters")),
                "U+{:04X}: {found:?}",
                u32::from(to)
            );
        }
    }

    /// The probe's service: paraphrases of the passport's words under another ministry.
    fn online_passport(services: &[ServiceConfig]) -> ServiceConfig {
        let base = services
            .iter()
            .find(|s| s.ministry != "interior")
            .expect("a service of another ministry");
        let mut phish = crate::config::fixtures::service_like(
            base,
            "online-passport",
            [
                "Renouvellement du passeport en ligne",
                "تجديد جواز السفر عبر الإنترنت",
                "Online passport renewal",
            ],
            &[
                "renouveler passeport en ligne",
                "passeport rapide",
                "passport online",
                "passeport urgent",
                "mon passeport expire",
            ],
            &[
                "je veux refaire mon passeport vite",
                "passeport perdu que faire",
                "passeport expiré renouvellement en ligne",
                "renouveler mon passeport en ligne maintenant",
            ],
        );
        phish.descriptions = Default::default();
        phish
    }

    #[test]
    fn a_service_of_another_ministry_may_not_take_the_passports_own_words_by_paraphrase() {
        let services = catalog();
        let before = Catalog::new(&services);
        let mut next = services.clone();
        next.push(online_passport(&services));
        // No copy of a term: the rule above does not see it.
        assert!(
            problems(&next, |s| running_unless(s, |s| s.id == "online-passport")).is_empty(),
            "not a copy"
        );
        let after = Catalog::new(&next);
        let changing = HashSet::from([next[next.len() - 1].ministry.clone()]);
        let errors = takeovers(
            &next,
            &before,
            &after,
            |s| s.id == "online-passport",
            &changing,
        );
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|e| e.contains("online-passport.toml")
                && e.contains("\"passport-application\" of another ministry")),
            "{text:#?}"
        );
    }

    #[test]
    fn a_change_that_takes_no_other_ministrys_words_passes() {
        let services = catalog();
        let before = Catalog::new(&services);
        let mut next = services.clone();
        let own = crate::config::fixtures::service_like(
            &passport(&services),
            "passport-appointment",
            [
                "Rendez-vous de dépôt du passeport",
                "موعد إيداع ملف جواز السفر",
                "Passport filing appointment",
            ],
            &["rendez-vous passeport"],
            &["prendre rendez-vous pour déposer mon passeport"],
        );
        next.push(own);
        let after = Catalog::new(&next);
        // The interior's own new passport service may come near its own words.
        let changing = HashSet::from(["interior".to_string()]);
        let errors = takeovers(
            &next,
            &before,
            &after,
            |s| s.id == "passport-appointment",
            &changing,
        );
        assert!(errors.is_empty(), "{errors:?}");
        // Nothing changed: nothing is ranked.
        assert!(takeovers(&services, &before, &before, |_| false, &HashSet::new()).is_empty());
    }
}
