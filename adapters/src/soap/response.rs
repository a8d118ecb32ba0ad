//! A legacy service's SOAP answer, read as JSON: only a whole one (one `Envelope` in SOAP's
//! namespace, closed, with nothing beside it), within bounds of size, depth, elements and
//! attributes, and with its fault, if any, classed by SOAP's namespaces rather than by how
//! its code is spelled.

use super::{
    xml_char, FaultClass, SoapError, ENVELOPE_NS, ENVELOPE_NS_12, MAX_ATTRIBUTES, MAX_DEPTH,
    MAX_ENVELOPE_BYTES, MAX_NODES,
};
use crate::charset::{charset_from_content_type, declared_in_document, Encoding};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// One element being read: its local name, attributes, children so far, and text.
struct Frame {
    name: String,
    /// Whether its name is in SOAP's envelope namespace (as the bindings in scope say).
    soap: bool,
    /// The namespace prefixes it declares, and whether each is bound to SOAP's namespace
    /// (`xmlns` itself as the empty prefix). Usually none: no allocation.
    declared: Vec<(Vec<u8>, bool)>,
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

/// Whether `prefix` (empty: the default namespace) is bound to SOAP's namespace, by
/// `own` declarations first, then the open elements', innermost first.
fn soap_bound(stack: &[Frame], own: &[(Vec<u8>, bool)], prefix: &[u8]) -> bool {
    own.iter()
        .chain(stack.iter().rev().flat_map(|f| f.declared.iter()))
        .find(|(p, _)| p.as_slice() == prefix)
        .is_some_and(|(_, soap)| *soap)
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

/// `text`, if every character in it is one XML 1.0 allows (its `Char` production, [`xml_char`]):
/// found when tried, 4 MiB of byte 0x01, which XML forbids, became 25 MB of `\u0001` in
/// the JSON answer.
fn xml_chars(text: Cow<'_, str>) -> Result<Cow<'_, str>, SoapError> {
    if text.chars().all(xml_char) {
        Ok(text)
    } else {
        Err(SoapError::Malformed(
            "a character XML does not allow".into(),
        ))
    }
}

/// Whether `text` is only what XML counts as white space (space, tab, CR, LF): U+00A0 or
/// U+2028 beside the envelope are text, not layout.
fn xml_space(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
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
/// attributes as `@name`, text beside children or attributes as `#text`). A `Fault` of
/// SOAP's namespace anywhere in the `Body` becomes [`SoapError::Fault`], once the whole
/// answer has been read.
///
/// Without the response's `Content-Type`; prefer [`envelope_to_json_with_content_type`],
/// whose `charset` decides the decoding when there is no byte order mark.
pub fn envelope_to_json(xml: &[u8]) -> Result<Value, SoapError> {
    envelope_to_json_with_content_type(xml, None)
}

/// What one start tag says, read once: its name, whether it is SOAP's, the prefixes it
/// binds, its data attributes and `xsi:nil`.
struct StartTag {
    name: String,
    soap: bool,
    declared: Vec<(Vec<u8>, bool)>,
    attributes: Map<String, Value>,
    nil: bool,
}

fn read_start(e: &BytesStart<'_>, stack: &[Frame]) -> Result<StartTag, SoapError> {
    let mut declared = Vec::new();
    let mut attributes = Map::new();
    let mut nil = false;
    for attr in e.attributes() {
        let attr = attr.map_err(malformed)?;
        let key = attr.key;
        let value = xml_chars(attr.unescape_value().map_err(malformed)?)?;
        if let Some(prefix) = key.as_namespace_binding() {
            let prefix = match prefix {
                quick_xml::name::PrefixDeclaration::Default => Vec::new(),
                quick_xml::name::PrefixDeclaration::Named(p) => p.to_vec(),
            };
            let soap = matches!(&*value, v if v == ENVELOPE_NS || v == ENVELOPE_NS_12);
            declared.push((prefix, soap));
        } else if key.local_name().as_ref() == b"nil" {
            nil = matches!(value.trim(), "true" | "1");
        } else if key.prefix().is_none() {
            // Prefixed attributes are the namespaces' machinery (`xsi:type`,
            // `soapenc:arrayType`), not the service's data.
            let name = std::str::from_utf8(key.as_ref()).map_err(malformed)?;
            attributes.insert(format!("@{name}"), Value::String(value.into_owned()));
        }
    }
    let qname = e.name();
    let prefix = qname.prefix();
    let prefix = prefix.as_ref().map_or(&b""[..], |p| p.as_ref());
    Ok(StartTag {
        name: std::str::from_utf8(e.local_name().as_ref())
            .map_err(malformed)?
            .to_string(),
        soap: soap_bound(stack, &declared, prefix),
        declared,
        attributes,
        nil,
    })
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
    let mut saw_anything = false;
    let mut nodes = 0usize;
    let mut payload: Option<Value> = None;
    let mut fault: Option<SoapError> = None;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        let first = !std::mem::replace(&mut saw_anything, true);
        match event {
            Event::Start(e) => {
                if stack.is_empty() && saw_root {
                    return Err(SoapError::Malformed(
                        "more than one element at the top".into(),
                    ));
                }
                // Counted without quick-xml's duplicate check, which is quadratic.
                let attributes = e.attributes().with_checks(false).count();
                if attributes > MAX_ATTRIBUTES {
                    return Err(SoapError::Malformed(format!(
                        "an element with more than {MAX_ATTRIBUTES} attributes"
                    )));
                }
                nodes += 1 + attributes;
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
                let tag = read_start(&e, &stack)?;
                // An `Envelope` of another namespace, or of none, is not a SOAP answer
                // (SOAP 1.1 section 4.1.2); nor is a `Body` of another.
                if stack.is_empty() && !(tag.name == "Envelope" && tag.soap) {
                    return Err(SoapError::Malformed(format!(
                        "<{}> is not a SOAP Envelope",
                        tag.name
                    )));
                }
                saw_root = true;
                saw_body |= stack.len() == 1 && tag.name == "Body" && tag.soap;
                stack.push(Frame {
                    name: tag.name,
                    soap: tag.soap,
                    declared: tag.declared,
                    attributes: tag.attributes,
                    children: Map::new(),
                    text: String::new(),
                    has_children: false,
                    nil: tag.nil,
                });
            }
            Event::Text(t) => {
                let text = xml_chars(t.unescape().map_err(malformed)?)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    // A PHP warning printed before the envelope, or anything after it.
                    None if !xml_space(&text) => {
                        return Err(SoapError::Malformed("text outside the Envelope".into()))
                    }
                    None => {}
                }
            }
            Event::CData(c) => {
                let inner = c.into_inner();
                let text = xml_chars(Cow::Borrowed(
                    std::str::from_utf8(&inner).map_err(malformed)?,
                ))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None => return Err(SoapError::Malformed("text outside the Envelope".into())),
                }
            }
            Event::End(_) => {
                let frame = stack
                    .pop()
                    .ok_or_else(|| SoapError::Malformed("unbalanced end tag".into()))?;
                let in_body = stack.len() == 2 && stack[1].name == "Body" && stack[1].soap;
                if in_body {
                    // A fault may be any entry of the Body (SOAP 1.1 section 4.4), not only
                    // the first; the first other entry is the answer. Either counts only
                    // once the whole answer is read.
                    if frame.name == "Fault" && frame.soap {
                        if fault.is_none() {
                            fault = Some(fault_of(&frame, &stack));
                        }
                        continue;
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
            Event::Decl(_) if !first => {
                return Err(SoapError::Malformed(
                    "an XML declaration that is not the answer's start".into(),
                ))
            }
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
    if let Some(fault) = fault {
        return Err(fault);
    }
    if saw_body {
        // An empty Body is a one-way operation's answer.
        Ok(payload.unwrap_or_else(|| Value::Object(Map::new())))
    } else {
        Err(SoapError::Malformed("no SOAP Body".into()))
    }
}

/// The code, message and class of a SOAP 1.1 fault (`faultcode`, `faultstring`), or of a
/// SOAP 1.2 one (`Code/Value`, `Reason/Text`) from services that answer in the newer
/// dialect; `stack` is what encloses it, whose bindings say what the code's prefix means.
fn fault_of(f: &Frame, stack: &[Frame]) -> SoapError {
    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Array(items) => text(items.first()),
            // `<faultstring xml:lang="en" lang="en">`: its text beside its attributes.
            Value::Object(o) => text(o.get("#text")),
            _ => None,
        }
    }
    let v11 = text(f.children.get("faultcode"));
    let v12 = text(f.children.get("Code").and_then(|c| c.get("Value")));
    let class_of = |code: &str| -> FaultClass {
        // A QName: one colon at most. The local part's class is before its first dot
        // (SOAP 1.1 section 4.4.1: `Client.Authentication` is a `Client` fault), spelled
        // as SOAP spells it; a prefix must be bound to SOAP's namespace where the fault is.
        let (prefix, local) = match code.split_once(':') {
            Some((p, l)) if !l.contains(':') => (Some(p), l),
            Some(_) => return FaultClass::Service,
            None => (None, code),
        };
        let class = local.split('.').next().unwrap_or(local);
        let caller = class == "Client" || class == "Sender";
        let ours = prefix.is_none_or(|p| soap_bound(stack, &f.declared, p.as_bytes()));
        if caller && ours {
            FaultClass::Caller
        } else {
            FaultClass::Service
        }
    };
    let class = match (&v11, &v12) {
        (Some(a), Some(b)) if class_of(a) != class_of(b) => FaultClass::Service,
        (Some(code), _) | (None, Some(code)) => class_of(code),
        (None, None) => FaultClass::Service,
    };
    let code = v11.or(v12).unwrap_or_default();
    let message = text(f.children.get("faultstring"))
        .or_else(|| text(f.children.get("Reason").and_then(|r| r.get("Text"))))
        .unwrap_or_default();
    SoapError::Fault {
        code,
        message,
        class,
    }
}
