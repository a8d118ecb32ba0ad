//! The shared look of a 2008-era ministry site: the page skeleton (XHTML
//! transitional doctype, table layout, header, navigation, footer) and the
//! URL builder that decides whether the site writes relative or absolute
//! links to its own hostname.
//!
//! Every page of every site goes through [`layout`], so the `absolute-links`
//! quirk (absolute stylesheet, script, images, `srcset`, inline `style`,
//! meta refresh) is applied in one place.

use crate::charset::Charset;
use crate::sites::{Quirk, Site};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Builds the URLs a site writes into its pages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links<'a> {
    site: &'a Site,
    absolute: bool,
}

impl<'a> Links<'a> {
    /// The links of `site`: absolute if it has `absolute-links`.
    pub(crate) fn new(site: &'a Site) -> Self {
        Links {
            site,
            absolute: site.has(Quirk::AbsoluteLinks),
        }
    }

    /// A link to `rel` (e.g. `"demande"`, `""` for home) in the site's style:
    /// `http://H/P/rel` or the root-relative `/P/rel`.
    pub(crate) fn href(&self, rel: &str) -> String {
        if self.absolute {
            self.own(rel)
        } else {
            format!("{}/{}", self.site.base(), rel)
        }
    }

    /// Always absolute with the site's own hostname: `http://H/P/rel`.
    pub(crate) fn own(&self, rel: &str) -> String {
        format!("http://{}{}/{}", self.site.host, self.site.base(), rel)
    }

    /// `https://H/P/rel`, as legacy sites wrote for their "secure" pages.
    pub(crate) fn https(&self, rel: &str) -> String {
        format!("https://{}{}/{}", self.site.host, self.site.base(), rel)
    }

    /// The protocol-relative `//H/P/rel`.
    pub(crate) fn protocol_relative(&self, rel: &str) -> String {
        format!("//{}{}/{}", self.site.host, self.site.base(), rel)
    }

    /// Where the site's forms post to.
    pub(crate) fn form_action(&self) -> String {
        if self.site.has(Quirk::AbsoluteForms) {
            self.own("submit")
        } else {
            format!("{}/submit", self.site.base())
        }
    }
}

/// Arabic prose for a page, or nothing if the charset cannot hold it.
pub(crate) fn arabic(charset: Charset, tag: &str, text: &str) -> String {
    if charset.has_arabic() {
        format!(
            r#"<{tag} dir="rtl" lang="ar" class="ar">{}</{tag}>"#,
            escape(text)
        )
    } else {
        String::new()
    }
}

/// The navigation bar shared by all pages.
fn nav(site: &Site, links: &Links<'_>) -> String {
    let mut items = vec![
        (links.href(""), "Accueil"),
        (links.href("demande"), "Déposer une demande"),
        (links.href("suivi"), "Suivi de dossier"),
    ];
    if site.has(Quirk::LargePages) {
        items.push((links.href("releve"), "Relevé complet"));
    }
    if site.has(Quirk::Soap) {
        items.push((links.href("ws?wsdl"), "Service web (WSDL)"));
    }
    if site.has(Quirk::SelfRedirects) {
        items.push((links.href("login"), "Espace membre"));
        items.push((links.href("deconnexion"), "Déconnexion"));
    }
    let mut out = String::from(r#"<ul id="menu">"#);
    for (href, label) in items {
        out.push_str(&format!(
            r#"<li><a href="{}">{}</a></li>"#,
            escape(&href),
            label
        ));
    }
    if site.has(Quirk::AbsoluteLinks) {
        out.push_str(&format!(
            r#"<li><a href="{}">Espace sécurisé</a></li><li><a href="{}">Version imprimable</a></li>"#,
            escape(&links.https("suivi")),
            escape(&links.protocol_relative("demande"))
        ));
    }
    out.push_str("</ul>");
    out
}

/// Wraps `content` in the site's full page skeleton.
///
/// `heading` names the page (e.g. "Accueil"); the result still has to be
/// encoded in the site's charset.
pub(crate) fn layout(site: &Site, heading: &str, content: &str) -> String {
    let charset = Charset::of(site);
    let links = Links::new(site);
    let title = if charset.has_arabic() {
        format!("{} - {} | {}", heading, site.title.fr, site.title.ar)
    } else {
        format!("{} - {}", heading, site.title.fr)
    };
    let refresh = if site.has(Quirk::AbsoluteLinks) {
        format!(
            r#"<meta http-equiv="refresh" content="300;url={}">"#,
            escape(&links.own(""))
        )
    } else {
        String::new()
    };
    let owner_ar = arabic(charset, "div", &site.owner.ar);
    format!(
        r#"<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" lang="fr">
<head>
{meta}
<title>{title}</title>
<meta name="generator" content="Joomla! 1.0 - Open Source Content Management">
<meta name="keywords" content="Maroc, administration, e-gov, services en ligne">
{refresh}
<link rel="stylesheet" type="text/css" href="{css}">
<script type="text/javascript" src="{js}"></script>
</head>
<body onload="MM_preloadImages('{logo}')">
<table width="980" border="0" cellpadding="0" cellspacing="0" align="center" id="page">
<tr><td id="bandeau" style="background:url({bg}) repeat-x">
<img src="{logo}" srcset="{logo} 1x, {logo2x} 2x" width="120" height="80" alt="Royaume du Maroc" align="left">
<div class="ministere">{owner_fr}</div>
{owner_ar}
</td></tr>
<tr><td>{nav}</td></tr>
<tr><td id="contenu">
<h1>{heading}</h1>
{content}
</td></tr>
<tr><td id="pied">
&copy; 2008 {owner_fr} - Tous droits réservés - Site optimisé pour Internet Explorer 6 en 1024x768.
<br><a href="{contact}">Contact</a> | <a href="{plan}">Plan du site</a> | <a href="{home}">Accueil</a>
</td></tr>
</table>
</body>
</html>
"#,
        meta = charset.meta(),
        title = escape(&title),
        refresh = refresh,
        css = escape(&links.href("css/style.css")),
        js = escape(&links.href("js/app.js")),
        logo = escape(&links.href("img/logo.gif")),
        logo2x = escape(&links.href("img/logo-2x.gif")),
        bg = escape(&links.href("img/bg.png")),
        owner_fr = escape(&site.owner.fr),
        owner_ar = owner_ar,
        nav = nav(site, &links),
        heading = escape(heading),
        content = content,
        contact = escape(&links.href("contact")),
        plan = escape(&links.href("plan")),
        home = escape(&links.href("")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::site;

    #[test]
    fn relative_links_are_root_relative() {
        let s = site("cnie-first-application").expect("site");
        assert_eq!(Links::new(s).href("suivi"), "/cnie-first-application/suivi");
        let root = site("rsu-registration").expect("site");
        assert_eq!(Links::new(root).href(""), "/");
    }

    #[test]
    fn absolute_links_name_the_site_host() {
        let s = site("cnie-renewal").expect("site");
        assert_eq!(
            Links::new(s).href("suivi"),
            "http://www.cnie.ma/cnie-renewal/suivi"
        );
    }
}
