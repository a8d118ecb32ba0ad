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

use crate::charset::{charset_from_content_type, declared_in_document, Encoding};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
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
    Fault { code: String, message: String },
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => return None,
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

/// One element being read: its local name, attributes, children so far, and text.
struct Frame {
    name: String,
    /// Its own attributes (`@name`), without the namespace machinery (`xmlns`, `xsi:*`...).
    attributes: Map<String, Value>,
    children: Map<String, Value>,
    text: String,
    has_children: bool,
    nil: bool,
}

impl Frame {
    /// An element with only text is that text, and one with `xsi:nil` is null. Otherwise it
    /// is an object of its attributes (`@name`), its children, and its text (`#text`) when
    /// it has more than whitespace besides them, so that nothing the service said is lost.
    fn into_value(self) -> Value {
        if self.nil {
            return Value::Null;
        }
        if !self.has_children && self.attributes.is_empty() {
            return Value::String(self.text);
        }
        self.into_object()
    }

    fn into_object(self) -> Value {
        let mut out = self.attributes;
        out.extend(self.children);
        if !self.text.trim().is_empty() {
            out.insert("#text".into(), Value::String(self.text));
        }
        Value::Object(out)
    }
}

/// Adds a child's value; a name seen again turns into an array of all its values.
fn insert_child(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        None => {
            map.insert(name, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> SoapError {
    SoapError::Malformed(e.to_string())
}

/// The response XML as text, decoded by the first of: a byte order mark, the `charset` of
/// the HTTP `Content-Type`, the XML declaration's `encoding`, else UTF-8 (legacy Java and
/// .NET services answer in ISO-8859-1 too). A declaration is read like a `<meta charset>`
/// ([`declared_in_document`]): one found in ASCII cannot mean UTF-16, so `encoding="utf-16"`
/// without a byte order mark (what .NET writes when it serializes a string) is UTF-8.
fn xml_text<'a>(xml: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(xml) {
        return enc.decode_without_bom_handling(&xml[bom_len..]).0;
    }
    content_type
        .and_then(charset_from_content_type)
        .or_else(|| xml_declared_encoding(xml))
        .unwrap_or(encoding_rs::UTF_8)
        .decode_without_bom_handling(xml)
        .0
}

/// The encoding an `<?xml ... encoding="..."?>` declaration at the very start names.
fn xml_declared_encoding(xml: &[u8]) -> Option<&'static Encoding> {
    if !xml.starts_with(b"<?xml") {
        return None;
    }
    let end = memchr::memmem::find(xml, b"?>")?;
    let decl = std::str::from_utf8(&xml[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    let label = rest.get(1..)?.split(quote).next()?;
    declared_in_document(label.as_bytes())
}

/// The JSON form of a SOAP response: the children of the element inside `Body` (repeated
/// elements as arrays, nested ones as objects, text as strings, `xsi:nil` as null,
/// attributes as `@name`, text beside children or attributes as `#text`). A `Fault`
/// anywhere in the `Body` becomes [`SoapError::Fault`].
///
/// Without the response's `Content-Type`; prefer [`envelope_to_json_with_content_type`],
/// whose `charset` decides the decoding when there is no byte order mark.
pub fn envelope_to_json(xml: &[u8]) -> Result<Value, SoapError> {
    envelope_to_json_with_content_type(xml, None)
}

/// [`envelope_to_json`] for a response served with `content_type`: its `charset`, when it
/// names a known encoding, is how the body is decoded unless a byte order mark says
/// otherwise; only without one does the XML declaration decide.
pub fn envelope_to_json_with_content_type(
    xml: &[u8],
    content_type: Option<&str>,
) -> Result<Value, SoapError> {
    if xml.len() > MAX_ENVELOPE_BYTES {
        return Err(SoapError::TooLarge {
            limit: MAX_ENVELOPE_BYTES,
        });
    }
    let text = xml_text(xml, content_type);
    let mut reader = Reader::from_str(&text);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Frame> = Vec::new();
    let mut saw_body = false;
    let mut saw_root = false;
    let mut nodes = 0usize;
    let mut payload: Option<Value> = None;
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(e) => {
                if stack.is_empty() && saw_root {
                    return Err(SoapError::Malformed(
                        "more than one element at the top".into(),
                    ));
                }
                nodes += 1 + e.attributes().count();
                if nodes > MAX_NODES {
                    return Err(SoapError::Malformed(format!(
                        "more than {MAX_NODES} elements and attributes"
                    )));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::Malformed(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                let name = std::str::from_utf8(e.local_name().as_ref())
                    .map_err(malformed)?
                    .to_string();
                let mut nil = false;
                let mut attributes = Map::new();
                for attr in e.attributes() {
                    let attr = attr.map_err(malformed)?;
                    let key = attr.key;
                    if key.local_name().as_ref() == b"nil" {
                        let v = attr.unescape_value().map_err(malformed)?;
                        nil = matches!(v.trim(), "true" | "1");
                    } else if key.prefix().is_none() && key.as_ref() != b"xmlns" {
                        // Prefixed attributes are the namespaces' machinery (`xmlns:*`,
                        // `xsi:type`, `soapenc:arrayType`), not the service's data.
                        let name = std::str::from_utf8(key.as_ref()).map_err(malformed)?;
                        let value = attr.unescape_value().map_err(malformed)?;
                        attributes.insert(format!("@{name}"), Value::String(value.into_owned()));
                    }
                }
                if stack.is_empty() && (name != "Envelope" || !in_envelope_namespace(&e)) {
                    return Err(SoapError::Malformed(format!(
                        "<{name}> is not a SOAP Envelope"
                    )));
                }
                saw_root = true;
                saw_body |= stack.len() == 1 && name == "Body";
                stack.push(Frame {
                    name,
                    attributes,
                    children: Map::new(),
                    text: String::new(),
                    has_children: false,
                    nil,
                });
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(malformed)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    // A PHP warning printed before the envelope, or anything after it.
                    None if !text.trim().is_empty() => {
                        return Err(SoapError::Malformed("text outside the Envelope".into()))
                    }
                    None => {}
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text
                        .push_str(std::str::from_utf8(&c.into_inner()).map_err(malformed)?);
                }
            }
            Event::End(_) => {
                let frame = stack
                    .pop()
                    .ok_or_else(|| SoapError::Malformed("unbalanced end tag".into()))?;
                if stack.len() == 2 && stack[1].name == "Body" {
                    // A fault may be any entry of the Body (SOAP 1.1 section 4.4), not only
                    // the first; the first other entry is the answer.
                    if frame.name == "Fault" {
                        return Err(fault(&frame.children));
                    }
                    payload.get_or_insert(frame.into_object());
                    continue;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.has_children = true;
                    let name = frame.name.clone();
                    insert_child(&mut parent.children, name, frame.into_value());
                }
            }
            Event::DocType(_) => return Err(SoapError::Malformed("DTDs are not allowed".into())),
            Event::Eof => match stack.last() {
                // Found when tried: an answer cut off inside its Body (a Content-Length
                // that said so, or a server that died mid-answer on a connection it
                // closed) was a `200 {}`, and a server fault cut off the same.
                Some(open) => {
                    return Err(SoapError::Malformed(format!(
                        "the answer ends inside <{}>",
                        open.name
                    )))
                }
                None => break,
            },
            // `Empty` does not occur: empty elements are expanded to Start + End.
            Event::Empty(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if saw_body {
        // An empty Body is a one-way operation's answer.
        Ok(payload.unwrap_or_else(|| Value::Object(Map::new())))
    } else {
        Err(SoapError::Malformed("no SOAP Body".into()))
    }
}

/// Whether the root element `e` is in SOAP 1.1's or 1.2's envelope namespace, declared on
/// it for its prefix (any prefix, or none). An `Envelope` of another namespace, or of none,
/// is not a SOAP answer (SOAP 1.1 section 4.1.2).
fn in_envelope_namespace(e: &quick_xml::events::BytesStart<'_>) -> bool {
    let name = e.name();
    let declaration: Vec<u8> = match name.prefix() {
        Some(prefix) => [b"xmlns:".as_slice(), prefix.as_ref()].concat(),
        None => b"xmlns".to_vec(),
    };
    e.attributes().flatten().any(|a| {
        a.key.as_ref() == declaration.as_slice()
            && matches!(&*a.value, v if v == ENVELOPE_NS.as_bytes() || v == ENVELOPE_NS_12.as_bytes())
    })
}

/// The code and message of a SOAP 1.1 fault (`faultcode`, `faultstring`), or of a SOAP 1.2
/// one (`Code/Value`, `Reason/Text`) from services that answer in the newer dialect.
fn fault(f: &Map<String, Value>) -> SoapError {
    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Array(items) => text(items.first()),
            _ => None,
        }
    }
    let code = text(f.get("faultcode"))
        .or_else(|| text(f.get("Code").and_then(|c| c.get("Value"))))
        .unwrap_or_default();
    let message = text(f.get("faultstring"))
        .or_else(|| text(f.get("Reason").and_then(|r| r.get("Text"))))
        .unwrap_or_default();
    SoapError::Fault { code, message }
}

#[cfg(test)]
mod tests;
