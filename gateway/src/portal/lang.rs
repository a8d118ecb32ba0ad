//! Which of the portal's four languages a page is written in: Arabic (the default,
//! right-to-left), Amazigh in Tifinagh (Morocco's second official language), French and
//! English.
//!
//! Chosen per request from the `egov_lang` cookie the switcher on every page sets, else the
//! browser's `Accept-Language`, else Arabic. Nothing here allocates: the choice is made on
//! every portal page.

use pingora::http::RequestHeader;

/// The cookie the language switcher sets.
pub const COOKIE: &str = "egov_lang";

/// One of the portal's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Ar,
    Zgh,
    Fr,
    En,
}

impl Lang {
    /// Every language, in the switcher's order.
    pub const ALL: [Lang; 4] = [Lang::Ar, Lang::Zgh, Lang::Fr, Lang::En];

    /// The BCP 47 tag written into `lang` attributes.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::Zgh => "zgh",
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The writing direction, for `dir` attributes.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    /// The language's own name, for the switcher.
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::Ar => "العربية",
            Lang::Zgh => "ⵜⴰⵎⴰⵣⵉⵖⵜ",
            Lang::Fr => "Français",
            Lang::En => "English",
        }
    }

    /// The language a cookie value or a tag's primary subtag names, if one of ours.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next().unwrap_or("");
        Some(match primary.to_ascii_lowercase().as_str() {
            "ar" | "ary" => Lang::Ar,
            // Standard Moroccan Amazigh, and the tags browsers send for its varieties
            // (Tamazight, Tachelhit, Tarifit, the Berber collective tag).
            "zgh" | "tzm" | "shi" | "rif" | "ber" => Lang::Zgh,
            "fr" => Lang::Fr,
            "en" => Lang::En,
            _ => return None,
        })
    }

    /// The language of a request: its cookie, else its best `Accept-Language` entry that is
    /// one of ours, else Arabic.
    pub fn of_request(req: &RequestHeader) -> Lang {
        if let Some(lang) = cookie_lang(req) {
            return lang;
        }
        req.headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::Ar)
    }
}

/// The language the `egov_lang` cookie names, if any (a value we do not know is ignored).
fn cookie_lang(req: &RequestHeader) -> Option<Lang> {
    crate::sso::cookie::find(req, COOKIE).and_then(Lang::from_code)
}

/// The highest-weighted language of ours in an `Accept-Language` value (RFC 9110 §12.5.4);
/// among equal weights, the first listed. `q=0` means "not this one".
pub fn from_accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u16)> = None;
    for item in value.split(',').take(32) {
        let mut parts = item.split(';');
        let Some(lang) = Lang::from_code(parts.next().unwrap_or("").trim()) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map(quality)
            .unwrap_or(1000);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

/// A `q` value in thousandths; anything unreadable counts as 0.
fn quality(q: &str) -> u16 {
    q.trim()
        .parse::<f32>()
        .ok()
        .filter(|q| (0.0..=1.0).contains(q))
        .map_or(0, |q| (q * 1000.0).round() as u16)
}

/// The `Set-Cookie` value that remembers `lang` for a year. Not `HttpOnly`-sensitive (it
/// is only a preference) but still `HttpOnly` and `SameSite=Lax`: no script needs it.
pub fn set_cookie(lang: Lang, secure: bool) -> http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    http::HeaderValue::from_str(&format!(
        "{COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}",
        lang.code()
    ))
    .unwrap_or_else(|_| http::HeaderValue::from_static("egov_lang=ar; Path=/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).expect("header");
        }
        req
    }

    #[test]
    fn arabic_is_the_default() {
        assert_eq!(Lang::of_request(&request(&[])), Lang::Ar);
        assert_eq!(
            Lang::of_request(&request(&[("accept-language", "de-DE, es")])),
            Lang::Ar
        );
    }

    #[test]
    fn the_cookie_wins_over_accept_language() {
        let req = request(&[
            ("accept-language", "en"),
            ("cookie", "a=b; egov_lang=zgh; c=d"),
        ]);
        assert_eq!(Lang::of_request(&req), Lang::Zgh);
    }

    #[test]
    fn an_unknown_cookie_value_falls_back_to_accept_language() {
        let req = request(&[("accept-language", "fr-MA"), ("cookie", "egov_lang=xx")]);
        assert_eq!(Lang::of_request(&req), Lang::Fr);
    }

    #[test]
    fn accept_language_weights_are_honoured() {
        assert_eq!(
            from_accept_language("de;q=0.9, en;q=0.5, fr;q=0.8"),
            Some(Lang::Fr)
        );
        assert_eq!(from_accept_language("fr;q=0, en"), Some(Lang::En));
        assert_eq!(from_accept_language("tzm-MA, ar"), Some(Lang::Zgh));
        assert_eq!(from_accept_language("fr;q=abc"), None);
    }

    #[test]
    fn directions_follow_the_script() {
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::Zgh.dir(), "ltr");
        assert_eq!(Lang::Zgh.code(), "zgh");
    }
}
