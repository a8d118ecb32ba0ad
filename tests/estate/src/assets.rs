//! The static assets every legacy page references: stylesheet, script, logo
//! (with its `2x` variant for `srcset`) and banner background.
//!
//! They exist so that the links the gateway rewrites lead somewhere real; the
//! stylesheet of an `absolute-links` site also points at its own hostname.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

use crate::html::Links;
use crate::respond;
use crate::sites::Site;

/// A 1x1 transparent GIF.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const SCRIPT: &str = r##"// Dreamweaver MX 2004
function MM_preloadImages() {
  var d = document; if (d.images) { if (!d.MM_p) d.MM_p = new Array();
    var i, j = d.MM_p.length, a = MM_preloadImages.arguments;
    for (i = 0; i < a.length; i++) if (a[i].indexOf("#") != 0) { d.MM_p[j] = new Image; d.MM_p[j++].src = a[i]; } }
}
function verifierFormulaire(f) {
  if (f.nom && f.nom.value == "") { alert("Veuillez saisir votre nom."); return false; }
  if (f.cin && f.cin.value == "") { alert("Veuillez saisir votre CIN."); return false; }
  return true;
}
"##;

/// The asset at `rel` (path below the site's base), if it is one.
pub(crate) fn asset(site: &Site, rel: &str) -> Option<Response> {
    let response = match rel {
        "/css/style.css" => respond::with_body(StatusCode::OK, "text/css", stylesheet(site)),
        "/js/app.js" => respond::with_body(StatusCode::OK, "application/x-javascript", SCRIPT),
        "/img/logo.gif" | "/img/logo-2x.gif" => {
            respond::with_body(StatusCode::OK, "image/gif", Bytes::from_static(GIF))
        }
        "/img/bg.png" => respond::with_body(StatusCode::OK, "image/png", Bytes::from_static(PNG)),
        _ => return None,
    };
    Some(response)
}

fn stylesheet(site: &Site) -> String {
    let links = Links::new(site);
    format!(
        r#"body {{ margin: 0; font-family: Verdana, Tahoma, Arial, sans-serif; font-size: 11px; background: #e8e4d8 url({bg}) repeat-x; }}
#page {{ background: #ffffff; border: 1px solid #8c7b4f; }}
#bandeau {{ height: 90px; background: #006233 url({bg}) repeat-x; color: #ffffff; }}
#menu {{ list-style: none; margin: 0; padding: 4px; background: #c1272d; }}
#menu li {{ display: inline; padding: 0 8px; }}
#menu a {{ color: #ffffff; font-weight: bold; text-decoration: none; }}
.ar {{ font-family: "Traditional Arabic", Tahoma, serif; font-size: 14px; }}
.releve td {{ font-size: 10px; }} .l1 {{ background: #f4f0e4; }}
#pied {{ font-size: 9px; color: #666666; text-align: center; background: url({logo}) no-repeat; }}
"#,
        bg = links.href("img/bg.png"),
        logo = links.href("img/logo.gif"),
    )
}
