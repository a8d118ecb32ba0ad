//! A small JSON ↔ SOAP 1.1 facade for legacy web services.
//!
//! Some ministries expose their back office only as SOAP 1.1 (document/literal) services.
//! The portal's own pages and partners speak JSON, so a declared operation is called with a
//! flat JSON object (its keys are the operation's declared request fields, nothing else), and
//! the `<XResponse>` element that comes back is turned into JSON; a `soap:Fault` becomes a
//! typed error. Input size, nesting and the number of elements are bounded, DTDs are
//! refused, and an answer counts only whole: one envelope in SOAP's namespace, closed, with
//! nothing beside it. Any namespace prefix is accepted, since every legacy toolkit picks
//! its own.

mod response;

pub use response::{envelope_to_json, envelope_to_json_with_content_type};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// The largest SOAP response parsed, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;
/// The deepest element nesting accepted in a response.
pub const MAX_DEPTH: usize = 64;
/// The most elements and attributes, together, a response may have. Each becomes a JSON
/// value of its own, costing far more than its bytes: found when tried, 466,000
/// `<a b=""/>` in a 4 MiB answer took 330 MB to convert. At this bound an answer costs
/// tens of megabytes at most; a legacy list of 5,000 records of 9 fields fits.
pub const MAX_NODES: usize = 50_000;
/// The `Content-Type` of a SOAP 1.1 request.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";
const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2's envelope namespace: some legacy services answer in the newer dialect.
const ENVELOPE_NS_12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The most attributes one element of a response may have: quick-xml checks each against
/// every other for duplicates, so 49,000 on one element took 5 s (found when tried).
pub const MAX_ATTRIBUTES: usize = 256;

/// One operation of a legacy SOAP service, as declared in the service's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapOperation {
    /// The request element's name, e.g. `GetDossierStatus`.
    pub name: String,
    /// The target namespace the request element (and its fields) live in.
    pub namespace: String,
    /// The `SOAPAction` the service expects.
    pub soap_action: String,
    /// The request's child elements, in the order the service expects them.
    pub request_fields: Vec<String>,
    /// Whether the fields are in the namespace too (XSD `elementFormDefault="qualified"`,
    /// what .NET services expect) or in none (`"unqualified"`, XSD's default and what
    /// JAX-WS, CXF and Metro generate: such a service reads a qualified field as absent).
    pub qualified_fields: bool,
}

impl SoapOperation {
    /// The `SOAPAction` header value, quoted as SOAP 1.1 requires.
    pub fn soap_action_header(&self) -> String {
        format!("\"{}\"", self.soap_action.replace('"', ""))
    }
}

/// Why a call could not be translated, or the fault the service answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error("the request must be a JSON object")]
    NotAnObject,
    #[error("the request is not JSON: {0}")]
    InvalidJson(String),
    #[error("field {0:?} is given twice")]
    DuplicateField(String),
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("missing field {0:?}")]
    MissingField(String),
    #[error("field {0:?} must be a string, number or boolean that XML can carry")]
    InvalidValue(String),
    #[error("{0:?} is not a valid XML element name")]
    InvalidName(String),
    #[error("the SOAP response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("malformed SOAP response: {0}")]
    Malformed(String),
    #[error("SOAP fault {code}: {message}")]
    Fault {
        /// As the service wrote it (for the log; see [`shown_fault_code`]).
        code: String,
        message: String,
        /// Whose fault it is, as SOAP's namespaces say ([`FaultClass`]).
        class: FaultClass,
    },
}

/// Whose a fault is: the caller's to fix (SOAP 1.1 `Client` and its dotted subclasses,
/// SOAP 1.2 `Sender`, in SOAP's own namespace), or the service's (anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    Caller,
    Service,
}

/// A fault code fit to show a caller: a QName (`soap:Server`, `Client.Validation`) of at
/// most 100 bytes; `None` for anything else. Found when tried: a service's "code" carried
/// `java.sql.SQLException: db01.internal user=sa password=...` to the citizen.
pub fn shown_fault_code(code: &str) -> Option<&str> {
    let qname = match code.split_once(':') {
        Some((prefix, local)) => valid_name(prefix) && valid_name(local),
        None => valid_name(code),
    };
    (qname && code.len() <= 100).then_some(code)
}

/// Whether `name` is an XML name without a colon (an NCName, as far as a legacy toolkit
/// writes one): an operation's, a field's, either part of a fault code.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether XML 1.0 allows `c` at all (its `Char` production, as far as a `char` goes): not
/// NUL, most control characters, U+FFFE or U+FFFF. One rule for what the gateway writes
/// to a legacy service and what it accepts from one.
fn xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Escapes text for XML content and attribute values; `None` for characters XML 1.0
/// cannot carry at all (NUL and most control characters).
fn escape_into(out: &mut String, text: &str) -> Option<()> {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if !xml_char(c) => return None,
            c => out.push(c),
        }
    }
    Some(())
}

/// The SOAP 1.1 request envelope for calling `op` with the JSON object in `json` (a request
/// body), whose keys must be exactly the operation's declared fields, each once, with
/// string, number or boolean values.
///
/// A number goes to the service as the caller wrote it: parsed into a float first, a
/// 24-digit account number would arrive with other digits, and `1e2` as `100.0`.
pub fn json_to_envelope(op: &SoapOperation, json: &[u8]) -> Result<String, SoapError> {
    // RFC 8259 section 8.1: a parser may ignore a byte order mark, and some clients send one.
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
    let fields: Fields<'_> = match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(json).map_err(invalid_json)?,
        _ => {
            return Err(match serde_json::from_slice::<Value>(json) {
                Ok(_) => SoapError::NotAnObject,
                Err(e) => invalid_json(e),
            })
        }
    };
    for name in std::iter::once(&op.name).chain(&op.request_fields) {
        if !valid_name(name) {
            return Err(SoapError::InvalidName(name.clone()));
        }
    }
    for (i, (key, _)) in fields.0.iter().enumerate() {
        if !op.request_fields.iter().any(|f| f == key) {
            return Err(SoapError::UnknownField(key.to_string()));
        }
        if fields.0[..i].iter().any(|(k, _)| k == key) {
            return Err(SoapError::DuplicateField(key.to_string()));
        }
    }
    let mut out = String::with_capacity(256);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(r#"<soap:Envelope xmlns:soap=""#);
    out.push_str(ENVELOPE_NS);
    out.push_str(r#""><soap:Body><"#);
    // Unqualified fields are in no namespace: only the operation's element gets one, by a
    // prefix its children do not inherit.
    let prefix = if op.qualified_fields { "" } else { "op:" };
    out.push_str(prefix);
    out.push_str(&op.name);
    out.push_str(if op.qualified_fields {
        r#" xmlns=""#
    } else {
        r#" xmlns:op=""#
    });
    escape_into(&mut out, &op.namespace)
        .ok_or_else(|| SoapError::InvalidName(op.namespace.clone()))?;
    out.push_str(r#"">"#);
    for field in &op.request_fields {
        let (_, raw) = fields
            .0
            .iter()
            .find(|(k, _)| k == field)
            .ok_or_else(|| SoapError::MissingField(field.clone()))?;
        let text = scalar_text(raw).ok_or_else(|| SoapError::InvalidValue(field.clone()))?;
        out.push('<');
        out.push_str(field);
        out.push('>');
        escape_into(&mut out, &text).ok_or_else(|| SoapError::InvalidValue(field.clone()))?;
        out.push_str("</");
        out.push_str(field);
        out.push('>');
    }
    out.push_str("</");
    out.push_str(prefix);
    out.push_str(&op.name);
    out.push_str("></soap:Body></soap:Envelope>");
    Ok(out)
}

fn invalid_json(e: serde_json::Error) -> SoapError {
    SoapError::InvalidJson(e.to_string())
}

/// A JSON object's members in the order written, duplicates kept (a map would keep only one
/// of them, silently), each value as its JSON text.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// The text of a string, number or boolean as the service gets it: a string unescaped, a
/// number exactly as written.
fn scalar_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get().trim();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        b'-' | b'0'..=b'9' => Some(Cow::Borrowed(text)),
        b't' | b'f' => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
