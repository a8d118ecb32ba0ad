//! The error pages of legacy sites: 404, 401, 403, 405, and the `502 Bad
//! Gateway` that an overloaded front Apache shows for `flaky` sites.
//!
//! They are part of what the gateway must cope with (and rewrite), so they
//! look like the originals: site-styled pages in the site's charset, except
//! the 502, which comes from the front web server and not from the site.

use axum::http::StatusCode;
use axum::response::Response;

use crate::charset::Charset;
use crate::html::{arabic, escape, layout, Links};
use crate::respond;
use crate::sites::Site;

/// A legacy 404 page for `path`.
pub(crate) fn not_found(site: &Site, path: &str) -> Response {
    let charset = Charset::of(site);
    let content = format!(
        r#"<p class="erreur">La page demandée <tt>{}</tt> est introuvable sur ce serveur.</p>
{}
<p>Elle a peut-être été déplacée ou supprimée lors de la refonte du portail.
<a href="{}">Retour à l'accueil</a></p>"#,
        escape(path),
        arabic(charset, "p", "الصفحة المطلوبة غير موجودة."),
        escape(&Links::new(site).href("")),
    );
    respond::html(
        site,
        StatusCode::NOT_FOUND,
        &layout(site, "Erreur 404 - Page introuvable", &content),
    )
}

/// The 401 of `basic-auth` sites; the caller adds `WWW-Authenticate`.
pub(crate) fn unauthorized(site: &Site) -> Response {
    let charset = Charset::of(site);
    let page = format!(
        r#"<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>{}<title>401 Authorization Required</title></head><body>
<h1>Authorization Required</h1>
<p>Accès réservé : ce serveur n'a pas pu vérifier que vous êtes autorisé à accéder à ce document.</p>
{}
<hr><address>{}</address>
</body></html>
"#,
        charset.meta(),
        arabic(charset, "p", "الولوج محصور على المستخدمين المرخص لهم."),
        escape(&site.owner.fr),
    );
    respond::html(site, StatusCode::UNAUTHORIZED, &page)
}

/// A 403 page of `site` with `message` (e.g. "Accès direct interdit").
pub(crate) fn forbidden(site: &Site, message: &str, detail: &str) -> Response {
    let charset = Charset::of(site);
    let content = format!(
        r#"<p class="erreur"><b>{}</b></p><p>{}</p>{}"#,
        escape(message),
        escape(detail),
        arabic(charset, "p", "الولوج ممنوع."),
    );
    respond::html(
        site,
        StatusCode::FORBIDDEN,
        &layout(site, &format!("Erreur 403 - {message}"), &content),
    )
}

/// A 405 page for methods a page does not accept.
pub(crate) fn method_not_allowed(site: &Site, allow: &str) -> Response {
    let content = format!(
        "<p>La méthode demandée n'est pas autorisée pour cette adresse (méthodes acceptées : {}).</p>",
        escape(allow)
    );
    let mut response = respond::html(
        site,
        StatusCode::METHOD_NOT_ALLOWED,
        &layout(site, "Erreur 405", &content),
    );
    respond::add_header(&mut response, "allow", allow);
    response
}

/// The front Apache's `502 Bad Gateway`, in ISO-8859-1 like Apache's own pages.
pub(crate) fn bad_gateway(site: &Site) -> Response {
    let page = format!(
        r#"<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>502 Proxy Error</title>
</head><body>
<h1>Proxy Error</h1>
<p>The proxy server received an invalid
response from an upstream server.<br />
The proxy server could not handle the request <em><a href="/">GET&nbsp;/</a></em>.<p>
Reason: <strong>Error reading from remote server</strong></p></p>
<hr>
<address>Apache/2.2.3 (CentOS) Server at {} Port 80</address>
</body></html>
"#,
        escape(&site.host)
    );
    let mut response = respond::with_body(
        StatusCode::BAD_GATEWAY,
        "text/html; charset=iso-8859-1",
        page,
    );
    respond::add_header(&mut response, "server", "Apache/2.2.3 (CentOS)");
    response
}
