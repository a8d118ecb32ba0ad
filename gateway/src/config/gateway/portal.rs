//! `[portal]`: the citizen-facing listeners and origin; `[admin]` and `[metrics]` listeners.

use crate::config::error::Problems;
use crate::config::fields::{key_file, opt_listen, written_file};
use crate::config::raw::RawPortal;
use crate::config::values;
use crate::config::{PortalSettings, PublicUrl, ServiceOrigins, TlsListener};

pub(super) fn validate(raw: &RawPortal, p: &mut Problems<'_>) -> Option<PortalSettings> {
    let file = p.file().to_path_buf();
    let public_url = p.check("portal.public_url", public_url(&raw.public_url));
    let service_origins = match raw.service_origin.as_deref() {
        None => Some(None),
        Some(t) => p
            .check(
                "portal.service_origin",
                service_origin(t, public_url.as_ref()),
            )
            .map(Some),
    };
    let mut listen = Vec::new();
    for (i, a) in raw.listen.iter().enumerate() {
        if let Some(addr) = p.check(format!("portal.listen[{i}]"), values::listen_addr(a)) {
            listen.push(addr);
        }
    }
    let mut tls = Vec::new();
    for (i, t) in raw.tls.iter().enumerate() {
        let addr = p
            .check(
                format!("portal.tls[{i}].listen"),
                values::listen_addr(&t.listen),
            )
            .filter(|a| {
                // The gateway knows a connection is TLS by the port it arrives on.
                let numbered = a.port() != 0;
                if !numbered {
                    p.add(
                        format!("portal.tls[{i}].listen"),
                        "a TLS listener needs a port of its own, not 0".to_string(),
                    );
                }
                numbered
            });
        let mut path_of = |field: &str, written: &str| {
            let field = format!("portal.tls[{i}].{field}");
            let path = key_file(&file, &field, written, p)?;
            if !path.is_file() {
                p.add(field, format!("file {} does not exist", path.display()));
                return None;
            }
            Some(path)
        };
        let (Some(cert), Some(key)) = (path_of("cert", &t.cert), path_of("key", &t.key)) else {
            continue;
        };
        if let Err(e) = certificate_and_key(&cert, &key) {
            p.add(format!("portal.tls[{i}]"), e);
        }
        if let Some(listen) = addr {
            tls.push(TlsListener {
                listen,
                cert,
                key,
                h2: t.h2.unwrap_or(true),
            });
        }
    }
    if raw.listen.is_empty() && raw.tls.is_empty() {
        p.add(
            "portal.listen",
            "at least one plain or TLS listener is required",
        );
    }
    let mut trusted = Vec::new();
    for (i, cidr) in raw.trusted_proxies.iter().enumerate() {
        let parsed = cidr
            .parse::<ipnet::IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("{cidr:?} is not an IP address or CIDR block"));
        if let Some(net) = p.check(format!("portal.trusted_proxies[{i}]"), parsed) {
            trusted.push(net);
        }
    }
    let max_header_bytes = match raw.max_header_bytes {
        None => Some(32 * 1024),
        Some(v) => p.check(
            "portal.max_header_bytes",
            values::bounded(v, 1024, 1024 * 1024),
        ),
    };
    let mut hosts = Vec::new();
    let mut hosts_ok = true;
    for (i, h) in raw.hosts.iter().enumerate() {
        let name = h.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if valid {
            hosts.push(name);
        } else {
            hosts_ok = false;
            p.add(
                format!("portal.hosts[{i}]"),
                format!("{h:?} is not a host name (letters, digits, dots and dashes, no port)"),
            );
        }
    }
    let feedback_log = match raw
        .feedback_log
        .as_deref()
        .unwrap_or("file:routing-feedback.jsonl")
    {
        "off" | "" => Some(None),
        other => match other.strip_prefix("file:") {
            Some(path) if !path.is_empty() => {
                written_file(p, "portal.feedback_log", &file, path).map(Some)
            }
            _ => {
                p.add(
                    "portal.feedback_log",
                    format!("{other:?} is not one of: off, file:<path>"),
                );
                None
            }
        },
    };
    let service_origins = match (service_origins, &public_url) {
        (Some(Some(origins)), Some(url)) => {
            let mut portals = std::iter::once(&url.host).chain(&hosts);
            match portals.find_map(|h| Some((h, origins.service_of(h)?))) {
                Some((host, id)) => {
                    p.add(
                        "portal.service_origin",
                        portal_host_taken(host, id, &origins),
                    );
                    None
                }
                None => Some(Some(origins)),
            }
        }
        (origins, _) => origins,
    };
    Some(PortalSettings {
        feedback_log: feedback_log?,
        public_url: public_url?,
        service_origins: service_origins?,
        listen,
        h2c: raw.h2c.unwrap_or(true),
        tls,
        trusted_proxies: crate::client_address::TrustedProxies::new(trusted),
        max_header_bytes: max_header_bytes?,
        hosts: hosts_ok.then_some(hosts)?,
    })
}

/// Why the portal's host (or an alias) cannot be `{id}.<domain>` under the services'
/// domain: it would be the origin of service `id`. Found in a probe: with
/// `https://www.egov.ma` and `https://{id}.egov.ma`, every request to the portal was read as
/// one for a service `www` (404, no login), and a ministry that registered `www` through the
/// admin API was served on the portal's own origin, its login and callback included.
fn portal_host_taken(host: &str, id: &str, origins: &ServiceOrigins) -> String {
    format!(
        "the portal's host {host:?} would be the origin of a service with the id {id:?}: \
         put the services under a domain of their own, e.g. \"{}://{{id}}.services.{}\"",
        if origins.https { "https" } else { "http" },
        origins.domain
    )
}

/// `[metrics] listen`: absent or `""` disables it.
pub(super) fn side_listener(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
) -> Option<Option<std::net::SocketAddr>> {
    opt_listen(p, field, value)
}

fn public_url(s: &str) -> Result<PublicUrl, String> {
    let url = url::Url::parse(s).map_err(|e| {
        format!(
            "{:?} is not a URL: {e}",
            crate::config::values::url_shown(s)
        )
    })?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("scheme must be http or https, not {other:?}")),
    };
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only, like \"https://portail.gov.ma\" (no path)".into());
    }
    // Written as requests' hosts are read (`crate::host::normalize`): lower case, without
    // a DNS root's trailing dot. Found in a bypass probe: `http://www.svc.localhost.:18730`
    // beside `http://{id}.svc.localhost:18730` passed the check that the portal's host is
    // no service's origin, and service `www` answered on it.
    let host = url
        .host_str()
        .ok_or_else(|| "must name a host".to_string())?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    Ok(PublicUrl {
        https,
        host: host.trim_matches(['[', ']']).to_string(),
        authority,
    })
}

/// `portal.service_origin`: `<scheme>://{id}.<domain>[:port]`, no path, the same scheme as
/// the portal (the session cookies' `Secure` and `__Host-` rules follow the scheme), and a
/// domain that is not the portal's host itself.
fn service_origin(template: &str, portal: Option<&PublicUrl>) -> Result<ServiceOrigins, String> {
    let shape = || {
        format!(
            "{template:?} must look like \"https://{{id}}.services.gov.ma\": a scheme, then \
             {{id}} as the first label of a domain, an optional port, and no path"
        )
    };
    let (scheme, rest) = template.split_once("://").ok_or_else(shape)?;
    let https = match scheme {
        "https" => true,
        "http" => false,
        _ => return Err(shape()),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let after_id = authority.strip_prefix("{id}.").ok_or_else(shape)?;
    if after_id.contains(['/', '?', '#', '{', '}', '@']) {
        return Err(shape());
    }
    let (domain, port) = match after_id.rsplit_once(':') {
        Some((d, p)) => (
            d,
            Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{p:?} is not a port (1-65535)"))?,
            ),
        ),
        None => (after_id, None),
    };
    let domain = domain.to_ascii_lowercase();
    values::hostname(&domain)?;
    // Found when tried: without TLS the session and hop cookies have no `__Host-` prefix,
    // so a page on one service's origin can set them for the whole domain, and a citizen
    // following a link was signed in on another service as its planter.
    if !https && domain != "localhost" && !domain.ends_with(".localhost") {
        return Err(format!(
            "plain http is only for a development domain under localhost, not {domain:?}: \
             without TLS, a page on one service's origin can set the session cookies of \
             every other (https lets them carry the __Host- prefix)"
        ));
    }
    let port = port.filter(|p| *p != if https { 443 } else { 80 });
    if let Some(portal) = portal {
        if portal.https != https {
            return Err(format!(
                "must use the portal's scheme ({}): session cookies follow it",
                if portal.https { "https" } else { "http" }
            ));
        }
        if portal.host == domain {
            return Err(format!(
                "the services' domain must not be the portal's host {:?} itself",
                portal.host
            ));
        }
    }
    Ok(ServiceOrigins {
        https,
        domain,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;

    fn with(origin: &str) -> (Option<crate::config::GatewaySettings>, Vec<String>) {
        validate_text(&format!(
            "[portal]\npublic_url = \"https://portail.gov.ma\"\nlisten = [\"127.0.0.1:8080\"]\n\
             service_origin = \"{origin}\"\n"
        ))
    }

    #[test]
    fn portal_aliases_are_lowercase_host_names_and_anything_else_is_refused_by_index() {
        let (settings, errors) = validate_text(
            "[portal]\npublic_url = \"https://portail.gov.ma\"\nlisten = [\"127.0.0.1:8080\"]\n\
             hosts = [\"WWW.Portail.gov.ma.\", \"evil.example/x\", \"a.ma:443\"]\n",
        );
        assert!(settings.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("portal.hosts[1]") && errors[1].contains("portal.hosts[2]"));
        let (settings, errors) = validate_text(
            "[portal]\npublic_url = \"https://portail.gov.ma\"\nlisten = [\"127.0.0.1:8080\"]\n\
             hosts = [\"WWW.Portail.gov.ma.\"]\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            settings.expect("valid").portal.hosts,
            ["www.portail.gov.ma"]
        );
    }

    #[test]
    fn the_portals_host_cannot_be_a_services_origin() {
        let (settings, errors) = validate_text(
            "[portal]\npublic_url = \"https://www.egov.ma\"\nlisten = [\"127.0.0.1:8080\"]\n\
             service_origin = \"https://{id}.egov.ma\"\n",
        );
        assert!(settings.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (settings, dotted) = validate_text(
            "[portal]\npublic_url = \"https://WWW.egov.ma.\"\nlisten = [\"127.0.0.1:8080\"]\n\
             service_origin = \"https://{id}.egov.ma\"\n",
        );
        assert!(settings.is_none(), "a trailing dot got past the check");
        assert_eq!(dotted, errors);
        assert!(
            errors[0].contains("portal.service_origin")
                && errors[0].contains(
                    "\"www.egov.ma\" would be the origin of a service with the id \"www\""
                ),
            "{errors:?}"
        );
        // An alias the portal answers to counts as its host.
        let (settings, errors) = validate_text(
            "[portal]\npublic_url = \"https://portail.gov.ma\"\nlisten = [\"127.0.0.1:8080\"]\n\
             hosts = [\"portail.services.gov.ma\"]\nservice_origin = \"https://{id}.services.gov.ma\"\n",
        );
        assert!(settings.is_none());
        assert!(errors[0].contains("\"portail\""), "{errors:?}");
    }

    #[test]
    fn a_service_origin_template_names_each_services_origin_and_host() {
        let (settings, errors) = with("https://{id}.services.gov.ma");
        assert!(errors.is_empty(), "{errors:?}");
        let origins = settings
            .expect("valid")
            .portal
            .service_origins
            .expect("origin mode");
        assert_eq!(
            origins.origin("cnie-renewal"),
            "https://cnie-renewal.services.gov.ma"
        );
        assert_eq!(
            origins.service_of("cnie-renewal.services.gov.ma"),
            Some("cnie-renewal")
        );
        assert_eq!(origins.service_of("a.b.services.gov.ma"), None);
        assert_eq!(origins.service_of("services.gov.ma"), None);
        assert_eq!(origins.service_of("evilservices.gov.ma"), None);
    }

    #[test]
    fn a_service_origin_keeps_a_non_default_port() {
        let (settings, errors) = validate_text(
            "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n\
             service_origin = \"http://{id}.localhost:8080\"\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let origins = settings
            .expect("valid")
            .portal
            .service_origins
            .expect("set");
        assert_eq!(origins.origin("x"), "http://x.localhost:8080");
    }

    /// Found when tried: over plain http a sibling service's page could plant the hop and
    /// session cookies (no `__Host-` prefix) and sign a citizen in as someone else.
    #[test]
    fn service_origins_over_plain_http_are_only_for_localhost() {
        let text = |origin: &str| {
            format!(
                "[portal]\npublic_url = \"http://portail.gov.ma\"\nlisten = [\"127.0.0.1:8080\"]\n\
                 service_origin = \"{origin}\"\n"
            )
        };
        let (settings, errors) = validate_text(&text("http://{id}.services.gov.ma"));
        assert!(settings.is_none());
        assert!(
            errors.iter().any(|e| e.contains("portal.service_origin")
                && e.contains("only for a development domain under localhost")
                && !e.contains("  ")),
            "{errors:?}"
        );
        for dev in ["http://{id}.localhost:8080", "http://{id}.gw.localhost"] {
            let (settings, errors) = validate_text(&text(dev));
            assert!(settings.is_some(), "{dev}: {errors:?}");
        }
    }

    #[test]
    fn malformed_service_origins_are_refused_with_the_key() {
        for bad in [
            "https://services.gov.ma",
            "https://www.{id}.gov.ma",
            "https://{id}.services.gov.ma/path",
            "ftp://{id}.services.gov.ma",
            "http://{id}.services.gov.ma",
            "https://{id}.services.gov.ma:99999",
            "https://{id}.portail.gov.ma:x",
        ] {
            let (settings, errors) = with(bad);
            assert!(settings.is_none(), "{bad} accepted");
            assert!(
                errors.iter().any(|e| e.contains("portal.service_origin")),
                "{bad}: {errors:?}"
            );
        }
    }
}

/// Whether `cert` and `key` make a TLS server's identity: PEM certificates, a PEM private
/// key, and the key the certificate's. Found when tried: a key of another certificate (or a
/// file of junk) passed `check`, and then every portal worker thread panicked building its
/// listener, the plain one too, while `/readyz` said ready.
fn certificate_and_key(cert: &std::path::Path, key: &std::path::Path) -> Result<(), String> {
    crate::certificates::load(cert, key)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tls_tests {
    use super::certificate_and_key;
    use crate::config::gateway::validate_text;
    use std::path::PathBuf;

    /// A file of the test's own in the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl std::ops::Deref for TempFile {
        type Target = std::path::Path;
        fn deref(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Writes `text` to a file of its own in the temporary directory.
    fn file(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("egov-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        TempFile(path)
    }

    #[test]
    fn a_tls_listener_on_port_0_is_refused_with_its_field_named() {
        let (_, errors) = validate_text(
            "[portal]\npublic_url = \"https://127.0.0.1:8443\"\n\
             [[portal.tls]]\nlisten = \"127.0.0.1:0\"\ncert = \"a.crt\"\nkey = \"a.key\"\n",
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("portal.tls[0].listen") && e.contains("not 0")),
            "{errors:?}"
        );
    }

    #[test]
    fn key_text_written_where_a_path_belongs_is_refused_without_being_repeated() {
        let pem =
            "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B\\n-----END PRIVATE KEY-----";
        let (settings, errors) = validate_text(&format!(
            "[portal]\npublic_url = \"https://127.0.0.1:8443\"\n\
             [[portal.tls]]\nlisten = \"127.0.0.1:8443\"\ncert = \"a.crt\"\nkey = \"{pem}\"\n\
             [identity]\nsigning_keys = [\"{pem}\"]\n\
             [sso]\nissuer = \"http://127.0.0.1:9500\"\nclient_id = \"c\"\n\
             client_secret = {{ file = \"{pem}\" }}\n"
        ));
        assert!(settings.is_none());
        for field in [
            "portal.tls[0].key",
            "identity.signing_keys[0]",
            "sso.client_secret.file",
        ] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains(field) && e.contains("not a path")),
                "{field}: {errors:?}"
            );
        }
        assert!(errors.iter().all(|e| !e.contains("MIIEvQ")), "{errors:?}");
        // Without its armour, as a bypass probe wrote it.
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4";
        let (_, errors) = validate_text(&format!(
            "[portal]\npublic_url = \"https://127.0.0.1:8443\"\n\
             [[portal.tls]]\nlisten = \"127.0.0.1:8443\"\ncert = \"a.crt\"\nkey = \"{body}\"\n"
        ));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("portal.tls[0].key") && e.contains("not a path")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| !e.contains("MIIEvQ")), "{errors:?}");
    }

    #[test]
    fn a_secret_written_as_an_environment_variables_name_is_not_repeated() {
        let (_, errors) = validate_text(
            "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n\
             [sso]\nissuer = \"http://127.0.0.1:9500\"\nclient_id = \"c\"\n\
             client_secret = { env = \"s3cr3t-Value\" }\n",
        );
        assert!(
            errors.iter().any(|e| e.contains("sso.client_secret.env")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| !e.contains("s3cr3t")), "{errors:?}");
        let (errors, hex) = (
            validate_text(
                "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n\
                 [sso]\nissuer = \"http://127.0.0.1:9500\"\nclient_id = \"c\"\n\
                 client_secret = { env = \"9F86D081884C7D659A2FEAA0C55AD015\" }\n",
            )
            .1,
            "9F86D081",
        );
        // A token written as a variable's name is refused, and not quoted.
        assert!(
            errors.iter().any(|e| e.contains("sso.client_secret.env")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| !e.contains(hex)), "{errors:?}");
    }

    #[test]
    fn a_certificate_and_its_own_key_make_an_identity() {
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let cert = file("own.crt", &a.cert.pem());
        let key = file("own.key", &a.key_pair.serialize_pem());
        assert_eq!(certificate_and_key(&cert, &key), Ok(()));
    }

    #[test]
    fn another_certificates_key_or_junk_is_refused_with_the_files_named() {
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let cert = file("a.crt", &a.cert.pem());
        let other_key = file("b.key", &b.key_pair.serialize_pem());
        let mismatch = certificate_and_key(&cert, &other_key).expect_err("another's key");
        assert!(mismatch.contains("is not the certificate"), "{mismatch}");
        assert!(mismatch.contains("b.key"), "{mismatch}");
        let junk = file("junk.key", "garbage\n");
        let none = certificate_and_key(&cert, &junk).expect_err("junk");
        assert!(none.contains("no PEM private key"), "{none}");
    }
}
