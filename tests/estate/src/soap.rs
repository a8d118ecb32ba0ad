//! The SOAP 1.1 web service of `soap` sites, at `P/ws`.
//!
//! Ministries exposed their back offices to partners as document/literal
//! SOAP services (`GetStatus` of a dossier, `ListDocuments` of a citizen);
//! the gateway turns them into JSON. This endpoint is strict the way the old
//! stacks were: `text/xml` and a `SOAPAction` header are mandatory, and any
//! error is a `soap:Fault`. Requests are parsed with a real XML parser.

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error_pages;
use crate::html;
use crate::records::{documents_of, status_of, updated_of};
use crate::respond;
use crate::sites::Site;

const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XML_TYPE: &str = "text/xml; charset=utf-8";

/// The target namespace of a site's service.
pub(crate) fn namespace(site: &Site) -> String {
    format!("urn:egov:legacy:{}", site.id)
}

/// Serves `P/ws`: the WSDL on `GET ?wsdl`, calls on `POST`.
pub(crate) fn handle(
    site: &Site,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match *method {
        Method::GET | Method::HEAD => {
            let wants_wsdl = query.unwrap_or("").split('&').any(|pair| {
                pair.split('=')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("wsdl")
            });
            if wants_wsdl {
                respond::with_body(StatusCode::OK, XML_TYPE, wsdl(site))
            } else {
                info_page(site)
            }
        }
        Method::POST => call(site, headers, body),
        _ => error_pages::method_not_allowed(site, "GET, HEAD, POST"),
    }
}

/// A SOAP call: checks the envelope's transport, then dispatches the operation.
fn call(site: &Site, headers: &HeaderMap, body: &[u8]) -> Response {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !mime.eq_ignore_ascii_case("text/xml") {
        return fault(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "soap:Client",
            &format!("Unsupported content type '{mime}': SOAP 1.1 requires text/xml"),
        );
    }
    if !headers.contains_key("soapaction") {
        return fault(
            StatusCode::BAD_REQUEST,
            "soap:Client",
            "Missing SOAPAction header",
        );
    }
    let call = match parse(body) {
        Ok(call) => call,
        Err(reason) => return fault(StatusCode::INTERNAL_SERVER_ERROR, "soap:Client", &reason),
    };
    let field = |name: &str| {
        call.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let ns = namespace(site);
    let payload = match call.operation.as_str() {
        "GetStatus" => {
            let Some(reference) = field("reference") else {
                return missing("reference");
            };
            let status = status_of(&reference);
            format!(
                r#"<GetStatusResponse xmlns="{ns}"><reference>{}</reference><status>{}</status><label>{}</label><updated>{}</updated></GetStatusResponse>"#,
                escape(&reference),
                status.code,
                escape(status.fr),
                updated_of(&reference),
            )
        }
        "ListDocuments" => {
            let Some(cin) = field("cin") else {
                return missing("cin");
            };
            let mut out = format!(
                r#"<ListDocumentsResponse xmlns="{ns}"><cin>{}</cin>"#,
                escape(&cin)
            );
            for doc in documents_of(&cin) {
                out.push_str(&format!(
                    "<document><id>{}</id><title>{}</title><titleAr>{}</titleAr><issued>{}</issued></document>",
                    doc.id,
                    escape(doc.title.0),
                    escape(doc.title.1),
                    doc.issued
                ));
            }
            out.push_str("</ListDocumentsResponse>");
            out
        }
        other => {
            return fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "soap:Client",
                &format!("Unknown operation '{other}'"),
            )
        }
    };
    respond::with_body(StatusCode::OK, XML_TYPE, envelope(&payload))
}

fn missing(element: &str) -> Response {
    fault(
        StatusCode::INTERNAL_SERVER_ERROR,
        "soap:Client",
        &format!("Missing element '{element}'"),
    )
}

/// An operation call found in a SOAP body.
#[derive(Debug, Default, PartialEq)]
struct Call {
    operation: String,
    fields: Vec<(String, String)>,
}

/// Finds `Envelope/Body/<operation>/<field>` text, whatever the prefixes.
fn parse(body: &[u8]) -> Result<Call, String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut call: Option<Call> = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("Malformed XML: {e}"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if stack.is_empty() && name != "Envelope" {
                    return Err(format!("Root element '{name}' is not a SOAP Envelope"));
                }
                if stack.len() == 2 && stack[1] == "Body" && call.is_none() {
                    call = Some(Call {
                        operation: name.clone(),
                        fields: Vec::new(),
                    });
                }
                if stack.len() == 3 && stack[1] == "Body" {
                    if let Some(call) = call.as_mut() {
                        call.fields.push((name.clone(), String::new()));
                    }
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(ref t) if stack.len() == 4 => {
                let text = t.unescape().map_err(|e| format!("Malformed XML: {e}"))?;
                append_field(call.as_mut(), &text);
            }
            Event::CData(ref c) if stack.len() == 4 => {
                append_field(call.as_mut(), &String::from_utf8_lossy(c.as_ref()));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    call.ok_or_else(|| "SOAP Body has no operation element".to_string())
}

fn append_field(call: Option<&mut Call>, text: &str) {
    if let Some((_, value)) = call.and_then(|c| c.fields.last_mut()) {
        value.push_str(text);
    }
}

fn envelope(payload: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="{ENVELOPE_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{payload}</soap:Body></soap:Envelope>
"#
    )
}

/// A `soap:Fault` with `status`.
fn fault(status: StatusCode, code: &str, message: &str) -> Response {
    let payload = format!(
        "<soap:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring><detail/></soap:Fault>",
        escape(message)
    );
    respond::with_body(status, XML_TYPE, envelope(&payload))
}

/// The page an old SOAP stack showed on a plain `GET` of the endpoint.
fn info_page(site: &Site) -> Response {
    let page = format!(
        r#"<html><head><title>{0}</title></head><body>
<h1>Service web {0}</h1><p>Opérations : GetStatus, ListDocuments.</p>
<p>Description du service : <a href="ws?wsdl">WSDL</a></p></body></html>"#,
        html::escape(&site.id)
    );
    respond::html(site, StatusCode::OK, &page)
}

/// The WSDL describing both operations.
fn wsdl(site: &Site) -> String {
    let ns = namespace(site);
    let location = format!("http://{}{}/ws", site.host, site.base());
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{ns}" targetNamespace="{ns}" name="{id}">
  <wsdl:types>
    <xsd:schema targetNamespace="{ns}" elementFormDefault="qualified">
      <xsd:element name="GetStatus"><xsd:complexType><xsd:sequence><xsd:element name="reference" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="GetStatusResponse"><xsd:complexType><xsd:sequence>
        <xsd:element name="reference" type="xsd:string"/><xsd:element name="status" type="xsd:string"/>
        <xsd:element name="label" type="xsd:string"/><xsd:element name="updated" type="xsd:date"/>
      </xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="ListDocuments"><xsd:complexType><xsd:sequence><xsd:element name="cin" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="ListDocumentsResponse"><xsd:complexType><xsd:sequence>
        <xsd:element name="cin" type="xsd:string"/>
        <xsd:element name="document" minOccurs="0" maxOccurs="unbounded"><xsd:complexType><xsd:sequence>
          <xsd:element name="id" type="xsd:string"/><xsd:element name="title" type="xsd:string"/>
          <xsd:element name="titleAr" type="xsd:string"/><xsd:element name="issued" type="xsd:date"/>
        </xsd:sequence></xsd:complexType></xsd:element>
      </xsd:sequence></xsd:complexType></xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="GetStatusRequest"><wsdl:part name="parameters" element="tns:GetStatus"/></wsdl:message>
  <wsdl:message name="GetStatusResponse"><wsdl:part name="parameters" element="tns:GetStatusResponse"/></wsdl:message>
  <wsdl:message name="ListDocumentsRequest"><wsdl:part name="parameters" element="tns:ListDocuments"/></wsdl:message>
  <wsdl:message name="ListDocumentsResponse"><wsdl:part name="parameters" element="tns:ListDocumentsResponse"/></wsdl:message>
  <wsdl:portType name="LegacyServicePortType">
    <wsdl:operation name="GetStatus"><wsdl:input message="tns:GetStatusRequest"/><wsdl:output message="tns:GetStatusResponse"/></wsdl:operation>
    <wsdl:operation name="ListDocuments"><wsdl:input message="tns:ListDocumentsRequest"/><wsdl:output message="tns:ListDocumentsResponse"/></wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="LegacyServiceBinding" type="tns:LegacyServicePortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="GetStatus"><soap:operation soapAction="{ns}#GetStatus"/><wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>
    <wsdl:operation name="ListDocuments"><soap:operation soapAction="{ns}#ListDocuments"/><wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="LegacyService">
    <wsdl:port name="LegacyServicePort" binding="tns:LegacyServiceBinding"><soap:address location="{location}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"#,
        id = site.id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operation_and_fields_with_any_prefix() {
        let body = br#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/>
<s:Body><e:GetStatus xmlns:e="urn:x"><e:reference>A&amp;B</e:reference></e:GetStatus></s:Body></s:Envelope>"#;
        let call = parse(body).expect("parsed");
        assert_eq!(call.operation, "GetStatus");
        assert_eq!(call.fields, [("reference".to_string(), "A&B".to_string())]);
    }

    #[test]
    fn rejects_non_envelopes_and_broken_xml() {
        assert!(parse(b"<foo/>").is_err());
        assert!(parse(b"<Envelope><Body><Op></Body>").is_err());
    }
}
