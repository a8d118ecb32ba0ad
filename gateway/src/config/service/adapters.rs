//! A service's adapter chain (`[[adapters]]`), and that it answers the quirks the service declares.

use super::headers::{
    header_name, header_rules, identity_header_name, PORTAL_REWRITTEN_RESPONSE_HEADERS,
};
use super::{at_most, SOAP_FIELDS, SOAP_OPERATIONS};
use crate::config::error::Problems;
use crate::config::fields::secret_ref;
use crate::config::raw::RawAdapterStep;
use crate::config::values;
use crate::config::{AdapterStep, Quirk};
use std::path::Path;

pub(super) fn adapters(
    raw: &[RawAdapterStep],
    file: &Path,
    p: &mut Problems<'_>,
) -> Option<Vec<AdapterStep>> {
    let mut out = Vec::new();
    let mut ok = true;
    let mut seen: Vec<&'static str> = Vec::new();
    for (i, step) in raw.iter().enumerate() {
        let field = format!("adapters[{i}]");
        let kind = step_kind(step);
        if seen.contains(&kind) {
            p.add(
                format!("{field}.step"),
                format!("{kind:?} appears twice; a chain has at most one step of each kind"),
            );
            ok = false;
            continue;
        }
        seen.push(kind);
        let built = match step {
            RawAdapterStep::Charset { fallback } => {
                let label = fallback.as_deref().unwrap_or("windows-1252");
                match egov_adapters::charset::encoding_for_label(label) {
                    // A page's legacy charset is one a browser reads markup in: found in a
                    // bypass probe, "replacement" (or UTF-16, x-user-defined) turned every
                    // page into one U+FFFD.
                    Some(enc)
                        if !enc.is_ascii_compatible()
                            || ["replacement", "x-user-defined"].contains(&enc.name()) =>
                    {
                        p.add(
                            format!("{field}.fallback"),
                            format!("{label:?} ({}) is not a charset legacy pages are written in: name the site's (windows-1256, iso-8859-1...)", enc.name()),
                        );
                        None
                    }
                    Some(enc) => Some(AdapterStep::Charset {
                        fallback: enc.name().to_string(),
                    }),
                    None => {
                        p.add(
                            format!("{field}.fallback"),
                            format!("{label:?} is not a charset label known to the WHATWG Encoding Standard"),
                        );
                        None
                    }
                }
            }
            RawAdapterStep::HtmlLinks { banner } => Some(AdapterStep::HtmlLinks {
                banner: banner.unwrap_or(false),
            }),
            RawAdapterStep::BasicAuth { username, password } => {
                let user_ok = !username.is_empty() && !username.contains(':');
                if !user_ok {
                    p.add(
                        format!("{field}.username"),
                        "must be non-empty and must not contain ':'",
                    );
                }
                let pw = secret_ref(file, &format!("{field}.password"), password, p);
                match (user_ok, pw) {
                    (true, Some(password)) => Some(AdapterStep::BasicAuth {
                        username: username.clone(),
                        password,
                    }),
                    _ => None,
                }
            }
            RawAdapterStep::ApiKey { header, key } => {
                let h = p.check(
                    format!("{field}.header"),
                    header_name(header.as_deref().unwrap_or("x-api-key")),
                );
                let k = secret_ref(file, &format!("{field}.key"), key, p);
                match (h, k) {
                    (Some(header), Some(key)) => Some(AdapterStep::ApiKey { header, key }),
                    _ => None,
                }
            }
            RawAdapterStep::IdentityHeaders { subject, name } => {
                let subject = p.check(
                    format!("{field}.subject"),
                    identity_header_name(subject.as_deref().unwrap_or("x-remote-user")),
                );
                let name = match name {
                    None => Some(None),
                    Some(n) => p
                        .check(format!("{field}.name"), identity_header_name(n))
                        .map(Some),
                };
                match (subject, name) {
                    (Some(subject), Some(name)) => {
                        Some(AdapterStep::IdentityHeaders { subject, name })
                    }
                    _ => None,
                }
            }
            RawAdapterStep::Soap {
                endpoint,
                namespace,
                operations,
                expose_endpoint,
                element_form,
            } => {
                let mut ok = true;
                let qualified_fields = match element_form.as_deref() {
                    None | Some("qualified") => true,
                    Some("unqualified") => false,
                    Some(other) => {
                        p.add(
                            format!("{field}.element_form"),
                            format!("{other:?} is neither \"qualified\" nor \"unqualified\" (the WSDL's elementFormDefault)"),
                        );
                        ok = false;
                        true
                    }
                };
                let endpoint = match p.check(
                    format!("{field}.endpoint"),
                    values::path_prefix(endpoint.as_deref().unwrap_or("/ws")),
                ) {
                    Some(e) => e,
                    None => {
                        ok = false;
                        String::new()
                    }
                };
                if namespace.trim().is_empty() {
                    p.add(format!("{field}.namespace"), "must not be empty");
                    ok = false;
                }
                if operations.is_empty() {
                    p.add(
                        format!("{field}.operations"),
                        "declare at least one operation",
                    );
                    ok = false;
                }
                if !at_most(
                    p,
                    &format!("{field}.operations"),
                    operations.len(),
                    SOAP_OPERATIONS,
                ) {
                    ok = false;
                }
                let mut ops = Vec::new();
                for (j, op) in operations.iter().enumerate() {
                    let f = format!("{field}.operations[{j}]");
                    if !at_most(p, &format!("{f}.fields"), op.fields.len(), SOAP_FIELDS) {
                        ok = false;
                    }
                    if !xml_name(&op.name) {
                        p.add(
                            format!("{f}.name"),
                            format!("{:?} is not an XML element name", op.name),
                        );
                        ok = false;
                    }
                    for (k, fld) in op.fields.iter().enumerate() {
                        if !xml_name(fld) {
                            p.add(
                                format!("{f}.fields[{k}]"),
                                format!("{fld:?} is not an XML element name"),
                            );
                            ok = false;
                        }
                    }
                    if ops
                        .iter()
                        .any(|o: &crate::config::SoapOperationConfig| o.name == op.name)
                    {
                        p.add(
                            format!("{f}.name"),
                            format!("{:?} is declared twice", op.name),
                        );
                        ok = false;
                    }
                    ops.push(crate::config::SoapOperationConfig {
                        name: op.name.clone(),
                        namespace: namespace.clone(),
                        action: op.action.clone().unwrap_or_else(|| {
                            format!("{}/{}", namespace.trim_end_matches('/'), op.name)
                        }),
                        fields: op.fields.clone(),
                        qualified_fields,
                    });
                }
                ok.then_some(AdapterStep::Soap {
                    endpoint,
                    operations: ops,
                    expose_endpoint: *expose_endpoint,
                })
            }
            RawAdapterStep::Headers { request, response } => {
                let rq = header_rules(&format!("{field}.request"), request, &[], p);
                let rs = header_rules(
                    &format!("{field}.response"),
                    response,
                    PORTAL_REWRITTEN_RESPONSE_HEADERS,
                    p,
                );
                match (rq, rs) {
                    (Some(request), Some(response)) => {
                        Some(AdapterStep::Headers { request, response })
                    }
                    _ => None,
                }
            }
        };
        match built {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A plain XML element name (letters, digits, `_`, `-`, `.`; not starting with a digit).
pub(super) fn xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub(super) fn step_kind(step: &RawAdapterStep) -> &'static str {
    match step {
        RawAdapterStep::Charset { .. } => "charset",
        RawAdapterStep::HtmlLinks { .. } => "html-links",
        RawAdapterStep::BasicAuth { .. } => "basic-auth",
        RawAdapterStep::ApiKey { .. } => "api-key",
        RawAdapterStep::IdentityHeaders { .. } => "identity-headers",
        RawAdapterStep::Soap { .. } => "soap",
        RawAdapterStep::Headers { .. } => "headers",
    }
}

/// A quirk the service declares must be answered by the adapter step that fixes it, so a
/// ministry cannot forget one silently.
pub(super) fn quirks_answered(quirks: &[Quirk], adapters: &[AdapterStep], p: &mut Problems<'_>) {
    let has = |pred: fn(&AdapterStep) -> bool| adapters.iter().any(pred);
    for (i, q) in quirks.iter().enumerate() {
        let (answered, step) = match q {
            Quirk::Windows1256 | Quirk::Iso88591 => {
                (has(|s| matches!(s, AdapterStep::Charset { .. })), "charset")
            }
            Quirk::AbsoluteLinks | Quirk::AbsoluteForms | Quirk::Frames => (
                has(|s| matches!(s, AdapterStep::HtmlLinks { .. })),
                "html-links",
            ),
            Quirk::BasicAuth => (
                has(|s| matches!(s, AdapterStep::BasicAuth { .. })),
                "basic-auth",
            ),
            Quirk::ApiKey => (has(|s| matches!(s, AdapterStep::ApiKey { .. })), "api-key"),
            Quirk::Soap => (has(|s| matches!(s, AdapterStep::Soap { .. })), "soap"),
            _ => (true, ""),
        };
        if !answered {
            p.add(
                format!("legacy.quirks[{i}]"),
                format!("{q} needs a [[adapters]] step = {step:?}"),
            );
        }
    }
    charset_as_declared(quirks, adapters, p);
}

/// The charset step reads a page that names no charset of its own as the charset the
/// service's quirks say its pages are in. Found when tried: `fallback = "arabic"` beside
/// the `windows-1256` quirk passed every check, and "arabic" is a WHATWG label of
/// ISO-8859-6: a page without a `<meta>` came out as `نزارة افتش�ٍف`, not `وزارة التشغيل`.
/// (`iso-8859-1` is read as windows-1252, as browsers do.)
pub(super) fn charset_as_declared(
    quirks: &[Quirk],
    adapters: &[AdapterStep],
    p: &mut Problems<'_>,
) {
    let declared: Vec<(usize, &'static str)> = quirks
        .iter()
        .enumerate()
        .filter(|(_, q)| matches!(q, Quirk::Windows1256 | Quirk::Iso88591))
        .filter_map(|(i, q)| {
            egov_adapters::charset::encoding_for_label(q.as_str()).map(|e| (i, e.name()))
        })
        .collect();
    let step = adapters.iter().enumerate().find_map(|(k, s)| match s {
        AdapterStep::Charset { fallback } => Some((k, fallback)),
        _ => None,
    });
    if let [(_, first), .., (i, other)] = declared.as_slice() {
        if first != other {
            // Found in a bypass probe: both passed, and half the pages came out garbled.
            p.add(
                format!("legacy.quirks[{i}]"),
                format!("a site's pages are in one charset; the quirks say {first} and {other}"),
            );
            return;
        }
    }
    let (Some((k, fallback)), Some((i, wanted))) = (step, declared.first()) else {
        return;
    };
    if declared.iter().any(|(_, e)| e == fallback) {
        return;
    }
    p.add(
        format!("adapters[{k}].fallback"),
        format!(
            "reads a page without a charset of its own as {fallback}, but legacy.quirks[{i}] says the site's pages are {wanted}: write fallback = {wanted:?}"
        ),
    );
}
